//! Payment providers calling in: Stripe.

pub mod stripe;
pub mod stripe_money;
pub mod stripe_types;
