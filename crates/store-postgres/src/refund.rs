//! Refunds (the use case `clicktrail_app::refund` over this backend's rows) and operator
//! status changes on PostgreSQL. The sale's row is locked (`SELECT ... FOR UPDATE`) before
//! anything is read, so two refunds of one sale (or a refund and a decline) from two
//! collectors run one after the other: both cannot pass the "left" check, and the cumulative
//! reversal is computed on what the other committed. The refund id is checked after the lock
//! and is unique in the table: a retry racing its original is answered as before, another
//! body is a 409.

use clicktrail_app::ledger::{LedgerRows, ReversalRow};
use clicktrail_app::refund::{RefundRow, RefundRows, SaleRow};
use clicktrail_app::status::{ConversionRow, StatusRows};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ledger::EntryKind;
use clicktrail_sql::Sql;
use clicktrail_store::{
    ImportItem, ImportItemRow, RefundIn, RefundOut, StatusOut, StoreError, StoredRefund,
};
use tokio_postgres::error::SqlState;

use crate::db::Pg;

use crate::ops::{q, q_opt, Tx};
use crate::{Fail, PgStore};

/// One conversion's ledger entries: (kind, amount, available_at).
async fn ledger_rows(tx: &Tx<'_>, conversion_id: i64) -> Result<Vec<(EntryKind, i64, i64)>, Fail> {
    let rows = q(
        tx,
        "SELECT kind, amount_cents, available_at FROM ledger WHERE conversion_id = $1",
        &[&conversion_id],
    )
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let kind = EntryKind::parse(r.get::<_, &str>(0))?;
            Some((kind, r.get::<_, i64>(1), r.get::<_, i64>(2)))
        })
        .collect())
}

/// Appends a reversal (`e.cents` positive, stored negative); its entry id.
pub(crate) async fn append_reversal(tx: &Tx<'_>, e: &ReversalRow<'_>) -> Result<i64, Fail> {
    let neg = -e.cents;
    let row = q_opt(
        tx,
        "INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, reason, created_at)
         VALUES ($1, $2, $3, 'reversal', $4, $5, $6, $7, $8) RETURNING id",
        &[&e.tenant, &e.affiliate, &e.conversion_id, &neg, &e.currency, &e.available_at, &e.reason, &e.now],
    )
    .await?
    .ok_or_else(|| StoreError::Internal("ledger insert returned nothing".into()))?;
    Ok(row.get(0))
}

/// A refund inside an open transaction: the use case `clicktrail_app::refund` over this
/// transaction's rows.
async fn refund_body(tx: &Tx<'_>, r: &RefundIn) -> Result<RefundOut, Fail> {
    clicktrail_app::refund::refund(&mut Sql(Pg(tx)), r).await
}

/// The refund's row operations in one transaction. The sale's row is locked
/// (`SELECT ... FOR UPDATE`), so refunds of one sale from two collectors run one after the
/// other; the refund id is unique in the table, which decides a race between two sales.
pub(crate) struct Rows<'t, 'c>(pub(crate) &'t Tx<'c>);

impl LedgerRows for Rows<'_, '_> {
    type Error = Fail;

    async fn ledger(&mut self, conversion_id: i64) -> Result<Vec<(EntryKind, i64, i64)>, Fail> {
        ledger_rows(self.0, conversion_id).await
    }

    async fn append_reversal(&mut self, e: &ReversalRow<'_>) -> Result<i64, Fail> {
        append_reversal(self.0, e).await
    }
}

impl StatusRows for Rows<'_, '_> {
    async fn lock_conversion(
        &mut self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ConversionRow>, Fail> {
        // a sale's numeric `sale_id`, or a conversion's public id
        let row = match id.parse::<i64>() {
            Ok(n) => {
                q_opt(
                    self.0,
                    "SELECT id, public_id, affiliate, currency, status FROM conversions
                     WHERE tenant = $1 AND id = $2 FOR UPDATE",
                    &[&tenant, &n],
                )
                .await?
            }
            Err(_) => {
                q_opt(
                    self.0,
                    "SELECT id, public_id, affiliate, currency, status FROM conversions
                     WHERE tenant = $1 AND public_id = $2 FOR UPDATE",
                    &[&tenant, &id],
                )
                .await?
            }
        };
        Ok(row.map(|r| ConversionRow {
            id: r.get(0),
            public_id: r.get(1),
            affiliate: r.get(2),
            currency: r.get(3),
            status: r.get(4),
        }))
    }

    async fn set_status(&mut self, conversion_id: i64, to: Status) -> Result<(), Fail> {
        crate::ops::exec(
            self.0,
            "UPDATE conversions SET status = $2 WHERE id = $1",
            &[&conversion_id, &to.as_str()],
        )
        .await?;
        Ok(())
    }
}

impl RefundRows for Rows<'_, '_> {
    async fn lock_sale(
        &mut self,
        tenant: &str,
        transaction_id: &str,
    ) -> Result<Option<SaleRow>, Fail> {
        Ok(q_opt(
            self.0,
            "SELECT id, affiliate, amount_cents, currency FROM conversions
             WHERE tenant = $1 AND transaction_id = $2 FOR UPDATE",
            &[&tenant, &transaction_id],
        )
        .await?
        .map(|row| SaleRow {
            id: row.get(0),
            affiliate: row.get(1),
            amount_cents: row.get(2),
            currency: row.get(3),
        }))
    }

    async fn prior_refund(&mut self, r: &RefundIn) -> Result<Option<StoredRefund>, Fail> {
        Ok(q_opt(
            self.0,
            "SELECT transaction_id, requested_cents, reason, amount_cents, commission_reversed_cents
             FROM refunds WHERE tenant = $1 AND refund_id = $2",
            &[&r.tenant, &r.refund_id],
        )
        .await?
        .map(|row| StoredRefund {
            transaction_id: row.get(0),
            requested_cents: row.get(1),
            reason: row.get(2),
            out: RefundOut {
                refund_id: r.refund_id.clone(),
                transaction_id: row.get(0),
                amount_cents: row.get(3),
                commission_reversed_cents: row.get(4),
            },
        }))
    }

    async fn refunded_cents(&mut self, sale_id: i64) -> Result<i64, Fail> {
        let refunded = q_opt(
            self.0,
            "SELECT coalesce(sum(amount_cents), 0)::text FROM refunds WHERE conversion_id = $1",
            &[&sale_id],
        )
        .await?
        .and_then(|row| row.get::<_, Option<String>>(0));
        Ok(crate::numeric_i64(refunded.as_deref())?)
    }

    async fn insert_refund(&mut self, row: &RefundRow<'_>) -> Result<bool, Fail> {
        let r = row.refund;
        Ok(q_opt(
            self.0,
            "INSERT INTO refunds (tenant, refund_id, conversion_id, transaction_id, requested_cents, amount_cents,
                reason, commission_reversed_cents, ledger_entry_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (tenant, refund_id) DO NOTHING RETURNING 1",
            &[
                &r.tenant,
                &r.refund_id,
                &row.sale_id,
                &r.transaction_id,
                &r.amount_cents,
                &row.amount_cents,
                &r.reason,
                &row.commission_reversed_cents,
                &row.ledger_entry_id,
                &r.now,
            ],
        )
        .await?
        .is_some())
    }
}

pub(crate) async fn refund(store: &PgStore, r: &RefundIn) -> Result<RefundOut, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = refund_body(&tx, r).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn set_status(
    store: &PgStore,
    tenant: &str,
    id: &str,
    to: Status,
    now: i64,
) -> Result<StatusOut, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = set_status_body(&tx, tenant, id, to, now).await?;
    tx.commit().await?;
    Ok(out)
}

/// A status change inside an open transaction: the use case `clicktrail_app::status` over
/// this transaction's rows (the conversion's row is locked first).
pub(crate) async fn set_status_body(
    tx: &Tx<'_>,
    tenant: &str,
    id: &str,
    to: Status,
    now: i64,
) -> Result<StatusOut, Fail> {
    clicktrail_app::status::set_status(&mut Sql(Pg(tx)), tenant, id, to, now).await
}

/// A unique violation (a concurrent payout took an entry first): recompute.
pub(crate) fn is_unique_violation(f: &Fail) -> bool {
    matches!(f, Fail::Db(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION))
}

/// Sales and refunds of one file in one transaction: every row or none.
pub(crate) async fn import_items(
    store: &PgStore,
    rows: &[ImportItemRow],
) -> Result<Result<usize, Vec<(u64, String)>>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let mut errors = Vec::new();
    for row in rows {
        let r = match &row.item {
            ImportItem::Sale(s) => crate::ops::sale_body(&tx, s).await.map(|_| ()),
            ImportItem::Refund(r) => refund_body(&tx, r).await.map(|_| ()),
        };
        match r {
            Ok(()) => {}
            Err(Fail::Store(StoreError::Internal(m))) => return Err(StoreError::Internal(m).into()),
            Err(Fail::Store(other)) => errors.push((row.line, other.to_string())),
            Err(db) => return Err(db),
        }
    }
    if errors.is_empty() {
        tx.commit().await?;
        Ok(Ok(rows.len()))
    } else {
        tx.rollback().await?;
        Ok(Err(errors))
    }
}
