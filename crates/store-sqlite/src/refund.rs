//! Refunds and operator status changes: read what the domain needs about a sale,
//! ask `clicktrail_domain::refund` / `conversion::status_change`, append the reversal. They run
//! on the writer thread, so two refunds of one sale never interleave.

use clicktrail_domain::conversion::{decline_reversal, status_change, Status, StatusChange};
use clicktrail_domain::ledger::{balance, reversal_available_at, EntryKind};
use clicktrail_domain::refund::{refund_amount, reversal, SaleState};
use clicktrail_store::{
    conversion_declined, refund_error, replay_refund, unknown_conversion, unknown_transaction,
    ImportItem, ImportItemRow, RefundIn, RefundOut, StatusOut, StoreError, StoreResult,
    StoredRefund,
};
use rusqlite::{params, Connection, OptionalExtension};

/// What the ledger holds for one conversion (domain `ledger::balance`): accrued, reversed
/// (positive), the accruals' latest `available_at`.
pub(crate) fn ledger_of(
    conn: &Connection,
    conversion_id: i64,
) -> StoreResult<(i64, i64, Option<i64>)> {
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
    let b = balance(
        rows.iter()
            .filter_map(|(k, amount, at)| Some((EntryKind::parse(k)?, *amount, *at))),
    )?;
    Ok((b.accrued_cents, b.reversed_cents, b.accrual_available_at))
}

/// Appends a reversal of `cents` (positive) for `conversion_id`; its entry id.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_reversal(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    conversion_id: i64,
    cents: i64,
    currency: &str,
    available_at: i64,
    reason: &str,
    now: i64,
) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, reason, created_at)
         VALUES (?1, ?2, ?3, 'reversal', ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![tenant, affiliate, conversion_id, -cents, currency, available_at, reason, now])?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn refund(conn: &Connection, r: &RefundIn) -> StoreResult<RefundOut> {
    let prior = conn
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
        .optional()?;
    if let Some(p) = prior {
        return replay_refund(p, r);
    }
    let sale: Option<(i64, Option<String>, i64, String)> = conn
        .prepare_cached(
            "SELECT id, affiliate, amount_cents, currency FROM conversions
             WHERE tenant = ?1 AND transaction_id = ?2",
        )?
        .query_row(params![r.tenant, r.transaction_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .optional()?;
    let Some((sale_id, affiliate, amount, currency)) = sale else {
        return Err(unknown_transaction(&r.transaction_id));
    };
    let refunded: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE conversion_id = ?1",
        )?
        .query_row([sale_id], |row| row.get(0))?;
    let (accrued, reversed, accrual_at) = ledger_of(conn, sale_id)?;
    let state = SaleState {
        amount_cents: amount,
        accrued_cents: accrued,
        refunded_cents: refunded,
        reversed_cents: reversed,
    };
    let cents = refund_amount(&state, r.amount_cents).map_err(refund_error)?;
    let mut rev = reversal(&state, cents).map_err(refund_error)?;
    let mut entry = None;
    match &affiliate {
        Some(aff) if rev > 0 => {
            let at = reversal_available_at(r.now, accrual_at);
            let reason = format!("refund {}", r.refund_id);
            entry = Some(append_reversal(
                conn, &r.tenant, aff, sale_id, rev, &currency, at, &reason, r.now,
            )?);
        }
        _ => rev = 0,
    }
    conn.prepare_cached(
        "INSERT INTO refunds (tenant, refund_id, conversion_id, transaction_id, requested_cents, amount_cents,
            reason, commission_reversed_cents, ledger_entry_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        r.tenant,
        r.refund_id,
        sale_id,
        r.transaction_id,
        r.amount_cents,
        cents,
        r.reason,
        rev,
        entry,
        r.now
    ])?;
    Ok(RefundOut {
        refund_id: r.refund_id.clone(),
        transaction_id: r.transaction_id.clone(),
        amount_cents: cents,
        commission_reversed_cents: rev,
    })
}

pub(crate) fn set_status(
    conn: &Connection,
    tenant: &str,
    id: &str,
    to: Status,
    now: i64,
) -> StoreResult<StatusOut> {
    // a sale's numeric `sale_id`, or a conversion's public id
    let sql = if id.parse::<i64>().is_ok() {
        "SELECT id, public_id, affiliate, currency, status FROM conversions WHERE tenant = ?1 AND id = ?2"
    } else {
        "SELECT id, public_id, affiliate, currency, status FROM conversions WHERE tenant = ?1 AND public_id = ?2"
    };
    let row: Option<(i64, String, Option<String>, String, String)> = conn
        .prepare_cached(sql)?
        .query_row(params![tenant, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((row_id, public_id, affiliate, currency, status)) = row else {
        return Err(unknown_conversion(id));
    };
    let from = Status::parse(&status)
        .ok_or_else(|| StoreError::Internal(format!("stored status `{status}`")))?;
    let mut reversed_now = 0;
    match status_change(from, to) {
        StatusChange::Unchanged => {}
        StatusChange::Refused => return Err(conversion_declined(id)),
        StatusChange::Set => {
            conn.prepare_cached("UPDATE conversions SET status = ?2 WHERE id = ?1")?
                .execute(params![row_id, to.as_str()])?;
        }
        StatusChange::Decline => {
            let (accrued, reversed, accrual_at) = ledger_of(conn, row_id)?;
            let rev = decline_reversal(accrued, reversed)?;
            if let (Some(aff), true) = (&affiliate, rev > 0) {
                let at = reversal_available_at(now, accrual_at);
                append_reversal(
                    conn, tenant, aff, row_id, rev, &currency, at, "declined", now,
                )?;
                reversed_now = rev;
            }
            conn.prepare_cached("UPDATE conversions SET status = ?2 WHERE id = ?1")?
                .execute(params![row_id, to.as_str()])?;
        }
    }
    Ok(StatusOut {
        conversion_id: public_id,
        status: to.as_str().to_string(),
        commission_reversed_cents: reversed_now,
    })
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
