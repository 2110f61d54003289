//! The affiliate portal: an affiliate's one live link (made or revoked one at a time), and
//! what the portal shows (its newest conversions with their net commission, Stripe test-mode
//! sales only when the tenant counts them, as in the report; its payouts).

use std::future::Future;

use clicktrail_domain::money::Overflow;
use clicktrail_domain::payout::counts;
use clicktrail_store::{PortalActivity, PortalConversion, PortalPayout, StoreError};

/// What the portal reads and writes, inside one transaction of the backend.
pub trait PortalRows {
    type Error: From<StoreError>;

    /// Serializes link changes of one affiliate until the transaction ends (a single writer
    /// needs nothing).
    fn lock_links(
        &mut self,
        tenant: &str,
        affiliate: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;
    /// Revokes the affiliate's live link; `false` when there was none.
    fn revoke_links(
        &mut self,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
    fn insert_link(
        &mut self,
        token_hash: &str,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The tenant's `count_test_payments` (false for an unknown tenant).
    fn count_test_payments(
        &mut self,
        tenant: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
    /// The affiliate's newest conversions (test-mode ones too when `with_test`: a selection,
    /// decided by [`activity`] with domain `payout::counts`), newest first, each
    /// with the exact sum of its ledger entries credited to the affiliate (`commission_cents`
    /// is left 0).
    fn conversions(
        &mut self,
        tenant: &str,
        affiliate: &str,
        with_test: bool,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(PortalConversion, i128)>, Self::Error>>;
    /// The affiliate's payouts, newest first.
    fn payouts(
        &mut self,
        tenant: &str,
        affiliate: &str,
    ) -> impl Future<Output = Result<Vec<PortalPayout>, Self::Error>>;
}

/// Makes `token_hash` the affiliate's one portal link: earlier links stop working.
pub async fn link<R: PortalRows>(
    rows: &mut R,
    tenant: &str,
    affiliate: &str,
    token_hash: &str,
    now: i64,
) -> Result<(), R::Error> {
    rows.lock_links(tenant, affiliate).await?;
    rows.revoke_links(tenant, affiliate, now).await?;
    rows.insert_link(token_hash, tenant, affiliate, now).await
}

/// Revokes the affiliate's portal link; `false` when there was none.
pub async fn revoke<R: PortalRows>(
    rows: &mut R,
    tenant: &str,
    affiliate: &str,
    now: i64,
) -> Result<bool, R::Error> {
    rows.lock_links(tenant, affiliate).await?;
    rows.revoke_links(tenant, affiliate, now).await
}

/// What the portal shows. A commission beyond i64 is an [`Overflow`], never a wrapped number.
pub async fn activity<R: PortalRows>(
    rows: &mut R,
    tenant: &str,
    affiliate: &str,
    limit: i64,
) -> Result<PortalActivity, R::Error> {
    // test-mode rows are selected in SQL (the newest `limit` that count), but whether they
    // count is the one rule of the ledger listing, the report and payouts
    let with_test = counts(false, rows.count_test_payments(tenant).await?);
    let mut conversions = Vec::new();
    for (mut c, net) in rows
        .conversions(tenant, affiliate, with_test, limit)
        .await?
    {
        c.commission_cents = i64::try_from(net).map_err(|_| StoreError::from(Overflow))?;
        conversions.push(c);
    }
    Ok(PortalActivity {
        conversions,
        payouts: rows.payouts(tenant, affiliate).await?,
    })
}
