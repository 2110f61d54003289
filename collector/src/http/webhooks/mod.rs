//! Payment providers calling in: Stripe, Chargebee, Recurly.

pub mod chargebee;
pub mod recurly;
pub mod recurly_money;
pub mod stripe;
pub mod stripe_money;
pub mod stripe_sale;
pub mod stripe_types;
