//! Payment providers calling in: Stripe, Chargebee, Recurly, Chargify.

pub mod chargebee;
pub mod chargify;
pub mod chargify_money;
pub mod recurly;
pub mod recurly_money;
pub mod stripe;
pub mod stripe_money;
pub mod stripe_sale;
pub mod stripe_types;
