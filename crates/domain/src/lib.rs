//! clicktrail's domain: the rules that decide what is recorded and what it is worth, as plain
//! functions over typed values. Storage backends call them inside their transactions and only
//! persist what they decided; the HTTP layer validates input into these types.
//!
//! Nothing here does I/O, so every rule is tested once, natively, whatever the backend.

pub mod attribution;
pub mod catalog;
pub mod conversion;
pub mod dedupe;
pub mod erasure;
pub mod ids;
pub mod ledger;
pub mod managed;
pub mod money;
pub mod payout;
pub mod privacy;
pub mod program;
pub mod refund;
pub mod report;
pub mod retention;
pub mod rules;
pub mod stripe;
pub mod webhooks;

pub use catalog::{Catalog, KeyScope, Payout, Tenant};
pub use ids::Cid;
pub use money::Cents;
