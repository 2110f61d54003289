//! The use cases, written once. Each is an `async fn` over a small trait of row-level
//! operations (lock a sale, read its ledger, append a reversal...) that every backend implements
//! with its own SQL inside its own transaction; the rules themselves are `clicktrail_domain`'s.
//!
//! A backend runs a use case inside its transaction: PostgreSQL awaits it on a pooled
//! connection; SQLite's writer thread runs it to completion with [`run_ready`] inside its
//! batch (its row operations never wait, so the future is ready at the first poll).
//!
//! ```text
//! admin.rs    the admin API's listings: how rows are shaped, the event log's sources
//! catalog.rs  the catalog: an admin change, the config file's apply
//! commission.rs who a sale is credited to and what it earns (rules, coupons)
//! erasure.rs  erasing one customer or visitor: pseudonyms and removals, money untouched
//! conversion.rs a browser conversion: 409 on a known external id, 404 when nobody is credited
//! diagnostic.rs the tracker's diagnostics, capped per tenant
//! events.rs   one answer per event id (replay, or a 409 for another kind of event)
//! lead.rs     leads and external-CID links: 404 on an unknown CID, one lead per customer
//! ledger.rs   the ledger rows every money use case shares (entries, reversals)
//! ops.rs      the row operations of the tracking use cases (events, leads, conversions, sales)
//! payout.rs   a payout: what is due to one affiliate, recorded with its entries
//! pending.rs  a provider's refund that arrived before its payment: kept, applied with the sale
//! portal.rs   an affiliate's one portal link; what the portal shows
//! program.rs  applications: submitted, approved (the affiliate created) or rejected
//! refund.rs   a refund of a sale: replay, the amount left, the reversal if attributed
//! report.rs   what a report counts: declined never, test-mode sales apart
//! sale.rs     a sale: 409 on a known transaction id, a first payment counted once, accrual
//! snapshot.rs the catalog a collector serves (disabled tenants, affiliates, keys left out)
//! status.rs   an operator's status change; a decline reverses what is left
//! stripe.rs   a Stripe event: its sale matched to the same payment, its money facts settled
//! testmode.rs whether a test-mode sale's rows count (the tenant's `count_test_payments`)
//! import.rs   a file's sales and refunds, all or nothing: bad rows listed, a failure aborts
//! ```

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use clicktrail_store::StoreError;

pub mod admin;
pub mod catalog;
pub mod commission;
pub mod conversion;
pub mod diagnostic;
pub mod erasure;
pub mod events;
pub mod import;
pub mod lead;
pub mod ledger;
pub mod ops;
pub mod payout;
pub mod pending;
pub mod portal;
pub mod program;
pub mod refund;
pub mod report;
pub mod sale;
pub mod snapshot;
pub mod status;
pub mod stripe;
pub mod testmode;
pub mod webhooks;

/// Runs a future whose every await is already ready (a synchronous backend's row
/// operations) to its output, on the calling thread. A future that would wait is an internal
/// error, never a hang.
pub fn run_ready<T, E: From<StoreError>>(f: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => {
            Err(StoreError::Internal("a synchronous backend's use case waited".into()).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_future_runs_and_a_waiting_one_is_an_error() {
        assert_eq!(run_ready(async { Ok::<_, StoreError>(5) }), Ok(5));
        let waited = run_ready(std::future::pending::<Result<(), StoreError>>());
        assert!(matches!(waited, Err(StoreError::Internal(_))), "{waited:?}");
    }
}
