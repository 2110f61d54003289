//! A payout (`POST /api/v1/payouts`): what is due to one affiliate through a day (domain
//! `payout::due`, in one currency), recorded with the entries it takes, so that paying twice
//! pays nothing more.

use std::future::Future;

use clicktrail_domain::payout::{due, Due, EntryView};
use clicktrail_store::{pick_due, PayIn, PayoutOut, StoreError};

use crate::testmode::{counted, Counted};

/// A ledger entry with its sale's `livemode` and the tenant's `count_test_payments`.
pub type LedgerRow = Counted<EntryView>;

/// What a payout reads and writes, inside one transaction of the backend.
pub trait PayRows {
    /// The backend's error: a store answer, or its own database error.
    type Error: From<StoreError>;

    /// Serializes payouts of one affiliate until the transaction ends (a single writer
    /// needs nothing).
    fn lock_affiliate(
        &mut self,
        tenant: &str,
        affiliate: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The affiliate's unpaid entries, test-mode ones included, oldest first.
    fn unpaid_entries(
        &mut self,
        tenant: &str,
        affiliate: &str,
    ) -> impl Future<Output = Result<Vec<LedgerRow>, Self::Error>>;

    /// Records the payout and its lines (an entry is paid at most once: the lines' key);
    /// its id.
    fn insert_payout(
        &mut self,
        p: &PayIn,
        d: &Due,
    ) -> impl Future<Output = Result<i64, Self::Error>>;

    /// A recorded payout with its lines.
    fn read_payout(
        &mut self,
        tenant: &str,
        id: i64,
    ) -> impl Future<Output = Result<PayoutOut, Self::Error>>;
}

/// The payout use case: a 422 `nothing_due` when nothing is, another when the affiliate is
/// due amounts in several currencies and none was named.
pub async fn pay<R: PayRows>(rows: &mut R, p: &PayIn) -> Result<PayoutOut, R::Error> {
    rows.lock_affiliate(&p.tenant, &p.affiliate).await?;
    let mine = counted(rows.unpaid_entries(&p.tenant, &p.affiliate).await?);
    let d = pick_due(due(&mine, p.through), &p.affiliate, p.currency.as_deref())?;
    let id = rows.insert_payout(p, &d).await?;
    rows.read_payout(&p.tenant, id).await
}
