//! A refund of a sale (`POST /api/v1/track/refund`, CSV imports, billing providers): a refund
//! id seen before is replayed (or a 409); the amount is what is left of the sale; the
//! commission is reversed in proportion, only when the sale was attributed.

use std::future::Future;

use clicktrail_domain::ledger::{balance, reversal_available_at};
use clicktrail_domain::refund::{refund_amount, reversal, SaleState};
use clicktrail_domain::stripe::REFUND_PREFIX;
use clicktrail_store::{
    refund_error, refund_id_reused, replay_refund, unknown_transaction, RefundIn, RefundOut,
    StoreError, StoredRefund,
};

use crate::ledger::{LedgerRows, ReversalRow};

/// A sale as a refund sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    pub id: i64,
    pub affiliate: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
}

/// A refund row to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRow<'a> {
    pub refund: &'a RefundIn,
    pub sale_id: i64,
    pub amount_cents: i64,
    pub commission_reversed_cents: i64,
    pub ledger_entry_id: Option<i64>,
}

/// What a refund reads and writes, inside one transaction of the backend.
pub trait RefundRows: LedgerRows {
    /// The sale with `transaction_id`, locked until the transaction ends against other
    /// refunds and status changes of it.
    fn lock_sale(
        &mut self,
        tenant: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<SaleRow>, Self::Error>>;

    /// The refund already stored under `r.refund_id`.
    fn prior_refund(
        &mut self,
        r: &RefundIn,
    ) -> impl Future<Output = Result<Option<StoredRefund>, Self::Error>>;

    /// The sale's refunds so far.
    fn refunded_cents(&mut self, sale_id: i64) -> impl Future<Output = Result<i64, Self::Error>>;

    /// Inserts the refund; `false` when its id was taken meanwhile (by a refund of another
    /// sale, which the sale's lock does not serialize).
    fn insert_refund(
        &mut self,
        row: &RefundRow<'_>,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
}

/// The refund use case. The sale is locked first, so that two refunds of one sale (or a
/// refund racing its own retry) run one after the other and the second sees the first.
pub async fn refund<R: RefundRows>(rows: &mut R, r: &RefundIn) -> Result<RefundOut, R::Error> {
    let sale = rows.lock_sale(&r.tenant, &r.transaction_id).await?;
    if let Some(p) = rows.prior_refund(r).await? {
        return Ok(replay_refund(p, r)?);
    }
    if r.refund_id.starts_with(REFUND_PREFIX) {
        // a Stripe settlement's id: taken here, its event would later fail on every retry
        return Err(StoreError::Invalid(
            "refund_id".into(),
            format!("must not start with `{REFUND_PREFIX}` (kept for the refunds Stripe reports)"),
        )
        .into());
    }
    let Some(sale) = sale else {
        return Err(unknown_transaction(&r.transaction_id).into());
    };
    let refunded = rows.refunded_cents(sale.id).await?;
    let b = balance(rows.ledger(sale.id).await?)?;
    let state = SaleState {
        amount_cents: sale.amount_cents,
        accrued_cents: b.accrued_cents,
        refunded_cents: refunded,
        reversed_cents: b.reversed_cents,
    };
    let cents = refund_amount(&state, r.amount_cents).map_err(refund_error)?;
    let mut rev = reversal(&state, cents).map_err(refund_error)?;
    let mut entry = None;
    match &sale.affiliate {
        // only an attributed sale earned a commission to reverse
        Some(aff) if rev > 0 => {
            let reason = format!("refund {}", r.refund_id);
            let e = ReversalRow {
                tenant: &r.tenant,
                affiliate: aff,
                conversion_id: sale.id,
                cents: rev,
                currency: &sale.currency,
                available_at: reversal_available_at(r.now, b.accrual_available_at),
                reason: &reason,
                now: r.now,
            };
            entry = Some(rows.append_reversal(&e).await?);
        }
        _ => rev = 0,
    }
    let row = RefundRow {
        refund: r,
        sale_id: sale.id,
        amount_cents: cents,
        commission_reversed_cents: rev,
        ledger_entry_id: entry,
    };
    if !rows.insert_refund(&row).await? {
        let prior = rows.prior_refund(r).await?;
        let prior_tx = prior.map_or_else(|| r.transaction_id.clone(), |p| p.transaction_id);
        return Err(refund_id_reused(&r.refund_id, &prior_tx).into());
    }
    Ok(RefundOut {
        refund_id: r.refund_id.clone(),
        transaction_id: r.transaction_id.clone(),
        amount_cents: cents,
        commission_reversed_cents: rev,
    })
}
