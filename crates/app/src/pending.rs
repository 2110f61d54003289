//! A billing provider's refund that arrives before its payment (Chargebee and Recurly deliver
//! out of order): it is kept, and applied when the payment's sale is recorded, so that an
//! acknowledged refund is never lost and an affiliate is never credited in full on a refunded
//! sale. Keeping and applying run under the same per-transaction lock, so a refund kept while
//! its sale is being recorded is seen by the apply that follows the sale.

use std::future::Future;

use clicktrail_store::{PendingApplied, RefundIn, RefundOrKept};

use crate::refund::{refund, RefundRows};

/// What keeping and applying early refunds reads and writes, inside one backend transaction.
pub trait PendingRows: RefundRows {
    /// Serializes the keep/apply of one transaction id until the transaction ends
    /// (PostgreSQL: an advisory lock; a single writer needs nothing).
    fn serialize(
        &mut self,
        tenant: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Keeps a refund (a refund id kept before is left as it is).
    fn keep(&mut self, r: &RefundIn) -> impl Future<Output = Result<(), Self::Error>>;

    /// The refunds kept for a transaction, oldest first (`now` of each is when it arrived).
    fn kept(
        &mut self,
        tenant: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Vec<RefundIn>, Self::Error>>;

    /// The sale's transaction id `alias` names, if linked.
    fn alias(
        &mut self,
        tenant: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>>;

    /// Links `alias` to the sale `transaction_id` (a link made before is left as it is).
    fn link_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Removes a kept refund (applied or dropped).
    fn forget(
        &mut self,
        tenant: &str,
        refund_id: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The message when `e` is the refund rules refusing the amount (422 `amount_cents`,
    /// decided before anything is written); `None` for any other error.
    fn refused(e: &Self::Error) -> Option<String>;
}

/// A provider's refund: applied when its sale exists (or the refund id was applied before,
/// replayed), else kept until the sale is recorded. `r.transaction_id` may be an alias of the
/// sale (linked by [`apply_kept`]), read under the same lock as the link is written.
pub async fn refund_or_keep<R: PendingRows>(
    rows: &mut R,
    r: &RefundIn,
) -> Result<RefundOrKept, R::Error> {
    rows.serialize(&r.tenant, &r.transaction_id).await?;
    let resolved;
    let r = match rows.alias(&r.tenant, &r.transaction_id).await? {
        Some(transaction_id) => {
            resolved = RefundIn {
                transaction_id,
                ..r.clone()
            };
            &resolved
        }
        None => r,
    };
    if rows
        .lock_sale(&r.tenant, &r.transaction_id)
        .await?
        .is_none()
        && rows.prior_refund(r).await?.is_none()
    {
        rows.keep(r).await?;
        return Ok(RefundOrKept::Kept);
    }
    Ok(RefundOrKept::Refunded(refund(rows, r).await?))
}

/// Links the sale's `aliases` (other names a refund may give it) and applies the refunds kept
/// for the sale or any alias: a sale just recorded, or recorded before (a redelivered payment
/// applies what an earlier failure left). A kept refund the rules refuse (more than is left of
/// the sale) is dropped and reported, so that it cannot block the payment forever.
pub async fn apply_kept<R: PendingRows>(
    rows: &mut R,
    tenant: &str,
    transaction_id: &str,
    aliases: &[String],
    now: i64,
) -> Result<PendingApplied, R::Error> {
    rows.serialize(tenant, transaction_id).await?;
    let mut out = PendingApplied::default();
    if rows.lock_sale(tenant, transaction_id).await?.is_none() {
        return Ok(out);
    }
    let mut kept = rows.kept(tenant, transaction_id).await?;
    for alias in aliases.iter().filter(|a| a.as_str() != transaction_id) {
        rows.serialize(tenant, alias).await?;
        rows.link_alias(tenant, alias, transaction_id).await?;
        kept.extend(rows.kept(tenant, alias).await?);
    }
    for kept in kept {
        // the reversal is dated when the refund is applied, the refund row when it arrived
        let r = RefundIn {
            now,
            transaction_id: transaction_id.to_string(),
            ..kept
        };
        match refund(rows, &r).await {
            Ok(done) => out.applied.push(done),
            Err(e) => match R::refused(&e) {
                Some(why) => out.dropped.push((r.refund_id.clone(), why)),
                None => return Err(e),
            },
        }
        rows.forget(tenant, &r.refund_id).await?;
    }
    Ok(out)
}
