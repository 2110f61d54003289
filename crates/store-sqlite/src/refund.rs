//! Refunds and operator status changes: read what the domain needs about a sale,
//! ask `clicktrail_domain::refund` / `conversion::status_change`, append the reversal. They run
//! on the writer thread, so two refunds of one sale never interleave.

use clicktrail_app::ledger::{LedgerRows, ReversalRow};
use clicktrail_app::refund::{RefundRow, RefundRows, SaleRow};
use clicktrail_app::run_ready;
use clicktrail_app::status::{ConversionRow, StatusRows};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ledger::EntryKind;
use clicktrail_sql::Sql;
use clicktrail_store::{
    ImportItem, ImportItemRow, RefundIn, RefundOut, StatusOut, StoreError, StoreResult,
    StoredRefund,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::db::Lite;

/// One conversion's ledger entries: (kind, amount, available_at).
fn ledger_rows(conn: &Connection, conversion_id: i64) -> StoreResult<Vec<(EntryKind, i64, i64)>> {
    let mut st = conn.prepare_cached(
        "SELECT kind, amount_cents, available_at FROM ledger WHERE conversion_id = ?1",
    )?;
    let rows = st
        .query_map([conversion_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, amount, at)| Some((EntryKind::parse(&k)?, amount, at)))
        .collect())
}

/// Appends a reversal (`e.cents` positive, stored negative); its entry id.
pub(crate) fn append_reversal(conn: &Connection, e: &ReversalRow<'_>) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, reason, created_at)
         VALUES (?1, ?2, ?3, 'reversal', ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        e.tenant,
        e.affiliate,
        e.conversion_id,
        -e.cents,
        e.currency,
        e.available_at,
        e.reason,
        e.now
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A refund: the use case `clicktrail_app::refund` over this connection's rows, run to
/// completion on the writer thread.
pub(crate) fn refund(conn: &Connection, r: &RefundIn) -> StoreResult<RefundOut> {
    run_ready(clicktrail_app::refund::refund(&mut Sql(Lite(conn)), r))
}

/// The refund's row operations on the writer's connection (the single writer serializes
/// refunds: no lock is needed).
pub(crate) struct Rows<'c>(pub(crate) &'c Connection);

impl LedgerRows for Rows<'_> {
    type Error = StoreError;

    async fn ledger(&mut self, conversion_id: i64) -> StoreResult<Vec<(EntryKind, i64, i64)>> {
        ledger_rows(self.0, conversion_id)
    }

    async fn append_reversal(&mut self, e: &ReversalRow<'_>) -> StoreResult<i64> {
        append_reversal(self.0, e)
    }
}

impl StatusRows for Rows<'_> {
    async fn lock_conversion(
        &mut self,
        tenant: &str,
        id: &str,
    ) -> StoreResult<Option<ConversionRow>> {
        // a sale's numeric `sale_id`, or a conversion's public id
        let sql = if id.parse::<i64>().is_ok() {
            "SELECT id, public_id, affiliate, currency, status FROM conversions WHERE tenant = ?1 AND id = ?2"
        } else {
            "SELECT id, public_id, affiliate, currency, status FROM conversions WHERE tenant = ?1 AND public_id = ?2"
        };
        Ok(self
            .0
            .prepare_cached(sql)?
            .query_row(params![tenant, id], |r| {
                Ok(ConversionRow {
                    id: r.get(0)?,
                    public_id: r.get(1)?,
                    affiliate: r.get(2)?,
                    currency: r.get(3)?,
                    status: r.get(4)?,
                })
            })
            .optional()?)
    }

    async fn set_status(&mut self, conversion_id: i64, to: Status) -> StoreResult<()> {
        self.0
            .prepare_cached("UPDATE conversions SET status = ?2 WHERE id = ?1")?
            .execute(params![conversion_id, to.as_str()])?;
        Ok(())
    }
}

impl RefundRows for Rows<'_> {
    async fn lock_sale(
        &mut self,
        tenant: &str,
        transaction_id: &str,
    ) -> StoreResult<Option<SaleRow>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT id, affiliate, amount_cents, currency FROM conversions
                 WHERE tenant = ?1 AND transaction_id = ?2",
            )?
            .query_row(params![tenant, transaction_id], |row| {
                Ok(SaleRow {
                    id: row.get(0)?,
                    affiliate: row.get(1)?,
                    amount_cents: row.get(2)?,
                    currency: row.get(3)?,
                })
            })
            .optional()?)
    }

    async fn prior_refund(&mut self, r: &RefundIn) -> StoreResult<Option<StoredRefund>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT transaction_id, requested_cents, reason, amount_cents, commission_reversed_cents
                 FROM refunds WHERE tenant = ?1 AND refund_id = ?2",
            )?
            .query_row(params![r.tenant, r.refund_id], |row| {
                Ok(StoredRefund {
                    transaction_id: row.get(0)?,
                    requested_cents: row.get(1)?,
                    reason: row.get(2)?,
                    out: RefundOut {
                        refund_id: r.refund_id.clone(),
                        transaction_id: row.get(0)?,
                        amount_cents: row.get(3)?,
                        commission_reversed_cents: row.get(4)?,
                    },
                })
            })
            .optional()?)
    }

    async fn refunded_cents(&mut self, sale_id: i64) -> StoreResult<i64> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE conversion_id = ?1",
            )?
            .query_row([sale_id], |row| row.get(0))?)
    }

    async fn insert_refund(&mut self, row: &RefundRow<'_>) -> StoreResult<bool> {
        let r = row.refund;
        self.0
            .prepare_cached(
                "INSERT INTO refunds (tenant, refund_id, conversion_id, transaction_id, requested_cents,
                    amount_cents, reason, commission_reversed_cents, ledger_entry_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                r.tenant,
                r.refund_id,
                row.sale_id,
                r.transaction_id,
                r.amount_cents,
                row.amount_cents,
                r.reason,
                row.commission_reversed_cents,
                row.ledger_entry_id,
                r.now
            ])?;
        Ok(true)
    }
}

/// A status change: the use case `clicktrail_app::status` over this connection's rows.
pub(crate) fn set_status(
    conn: &Connection,
    tenant: &str,
    id: &str,
    to: Status,
    now: i64,
) -> StoreResult<StatusOut> {
    run_ready(clicktrail_app::status::set_status(
        &mut Sql(Lite(conn)),
        tenant,
        id,
        to,
        now,
    ))
}

/// Sales and refunds of one file: every row or none (a bad row fails the job, whose savepoint
/// is rolled back).
pub(crate) fn import_items(conn: &Connection, rows: &[ImportItemRow]) -> StoreResult<usize> {
    let mut errors = Vec::new();
    for row in rows {
        let r = match &row.item {
            ImportItem::Sale(s) => crate::ops::sale(conn, s).map(|_| ()),
            ImportItem::Refund(r) => refund(conn, r).map(|_| ()),
        };
        match r {
            Ok(()) => {}
            Err(StoreError::Internal(m)) => return Err(StoreError::Internal(m)),
            Err(other) => errors.push((row.line, other.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(rows.len())
    } else {
        Err(StoreError::Rows(errors))
    }
}
