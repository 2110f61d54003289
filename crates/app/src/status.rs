//! An operator's status change of a conversion or sale (`PATCH /api/v1/conversions/{id}`,
//! billing providers' cancellations): the domain decides the change; a decline reverses what
//! is left of the commission, only when the conversion was attributed.

use std::future::Future;

use clicktrail_domain::conversion::{decline_reversal, status_change, Status, StatusChange};
use clicktrail_domain::ledger::{balance, reversal_available_at};
use clicktrail_store::{conversion_declined, unknown_conversion, StatusOut, StoreError};

use crate::ledger::{LedgerRows, ReversalRow};

/// A conversion as a status change sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionRow {
    pub id: i64,
    pub public_id: String,
    pub affiliate: Option<String>,
    pub currency: String,
    /// As stored.
    pub status: String,
}

/// What a status change reads and writes, inside one transaction of the backend.
pub trait StatusRows: LedgerRows {
    /// The conversion named by `id` (a sale's numeric `sale_id` or a conversion's public id),
    /// locked until the transaction ends.
    fn lock_conversion(
        &mut self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<ConversionRow>, Self::Error>>;

    fn set_status(
        &mut self,
        conversion_id: i64,
        to: Status,
    ) -> impl Future<Output = Result<(), Self::Error>>;
}

/// The status change use case.
pub async fn set_status<R: StatusRows>(
    rows: &mut R,
    tenant: &str,
    id: &str,
    to: Status,
    now: i64,
) -> Result<StatusOut, R::Error> {
    let Some(c) = rows.lock_conversion(tenant, id).await? else {
        return Err(unknown_conversion(id).into());
    };
    let from = Status::parse(&c.status)
        .ok_or_else(|| StoreError::Internal(format!("stored status `{}`", c.status)))?;
    let mut reversed_now = 0;
    match status_change(from, to) {
        StatusChange::Unchanged => {}
        StatusChange::Refused => return Err(conversion_declined(id).into()),
        StatusChange::Set => rows.set_status(c.id, to).await?,
        StatusChange::Decline => {
            let b = balance(rows.ledger(c.id).await?)?;
            let rev = decline_reversal(b.accrued_cents, b.reversed_cents)?;
            if let (Some(aff), true) = (&c.affiliate, rev > 0) {
                let e = ReversalRow {
                    tenant,
                    affiliate: aff,
                    conversion_id: c.id,
                    cents: rev,
                    currency: &c.currency,
                    available_at: reversal_available_at(now, b.accrual_available_at),
                    reason: "declined",
                    now,
                };
                rows.append_reversal(&e).await?;
                reversed_now = rev;
            }
            rows.set_status(c.id, to).await?;
        }
    }
    Ok(StatusOut {
        conversion_id: c.public_id,
        status: to.as_str().to_string(),
        commission_reversed_cents: reversed_now,
    })
}
