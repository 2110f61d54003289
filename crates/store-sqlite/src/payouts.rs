//! Ledger reads and payouts (the use case `clicktrail_app::payout` over these rows); a payout
//! and its lines are written in one job of the single writer, and
//! `payout_lines.entry_id` is the primary key, so an entry is never paid twice.

use clicktrail_app::payout::{LedgerRow, PayRows};
use clicktrail_app::run_ready;
use clicktrail_app::testmode::counted;
use clicktrail_domain::attribution::{parse_rfc3339, rfc3339};
use clicktrail_domain::ledger::EntryKind;
use clicktrail_domain::payout::{Due, EntryView};
use clicktrail_store::{PayIn, PayoutLine, PayoutOut, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

const ENTRY_COLUMNS: &str = "l.id, l.affiliate, l.currency, l.kind, l.amount_cents, l.available_at,
    (p.entry_id IS NOT NULL), l.conversion_id, (c.held_payment OR c.held_dispute), l.rule,
    c.livemode, coalesce(t.count_test_payments, 0)";

/// Joins an entry's conversion (`c`: its holds, its `livemode`) and its tenant (`t`: whether
/// test-mode sales count, decided by `clicktrail_app::testmode::counted`).
const JOINS: &str = "JOIN conversions c ON c.id = l.conversion_id
    LEFT JOIN tenants t ON t.id = l.tenant";

fn entry(r: &Row<'_>) -> rusqlite::Result<(LedgerRow, String)> {
    let kind: String = r.get(3)?;
    let entry = EntryView {
        id: r.get(0)?,
        conversion_id: r.get(7)?,
        affiliate: r.get(1)?,
        currency: r.get(2)?,
        kind: EntryKind::parse(&kind).unwrap_or(EntryKind::Adjustment),
        amount_cents: r.get(4)?,
        available_at: r.get(5)?,
        paid: r.get(6)?,
        held: r.get(8)?,
        rule: r.get(9)?,
    };
    let row = LedgerRow {
        row: entry,
        livemode: r.get(10)?,
        count_test_payments: r.get(11)?,
    };
    Ok((row, kind))
}

fn collect(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> StoreResult<Vec<LedgerRow>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(p, entry)?;
    let mut out = Vec::new();
    for r in rows {
        let (e, kind) = r?;
        if EntryKind::parse(&kind).is_none() {
            return Err(StoreError::Internal(format!("ledger kind `{kind}`")));
        }
        out.push(e);
    }
    Ok(out)
}

/// Every entry of the tenant that counts, oldest first.
pub(crate) fn entries(conn: &Connection, tenant: &str) -> StoreResult<Vec<EntryView>> {
    let rows = collect(
        conn,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger l {JOINS} LEFT JOIN payout_lines p ON p.entry_id = l.id
             WHERE l.tenant = ?1 ORDER BY l.id"
        ),
        params![tenant],
    )?;
    Ok(counted(rows))
}

/// The entries of the conversions created in `[from, to)` (the report's `ledger` object).
pub(crate) fn period_entries(
    conn: &Connection,
    tenant: &str,
    from: i64,
    to: i64,
) -> StoreResult<Vec<LedgerRow>> {
    collect(
        conn,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger l {JOINS}
             LEFT JOIN payout_lines p ON p.entry_id = l.id
             WHERE l.tenant = ?1 AND c.created_at >= ?2 AND c.created_at < ?3
             ORDER BY l.id"
        ),
        params![tenant, from, to],
    )
}

/// A payout: the use case `clicktrail_app::payout` over this connection's rows, on the writer
/// thread (which serializes payouts).
pub(crate) fn pay(conn: &Connection, p: &PayIn) -> StoreResult<PayoutOut> {
    run_ready(clicktrail_app::payout::pay(&mut Rows(conn), p))
}

struct Rows<'c>(&'c Connection);

impl PayRows for Rows<'_> {
    type Error = StoreError;

    async fn lock_affiliate(&mut self, _tenant: &str, _affiliate: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn unpaid_entries(
        &mut self,
        tenant: &str,
        affiliate: &str,
    ) -> StoreResult<Vec<LedgerRow>> {
        collect(
            self.0,
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger l {JOINS} LEFT JOIN payout_lines p ON p.entry_id = l.id
                 WHERE l.tenant = ?1 AND l.affiliate = ?2 AND p.entry_id IS NULL
                 ORDER BY l.id"
            ),
            params![tenant, affiliate],
        )
    }

    async fn insert_payout(&mut self, p: &PayIn, d: &Due) -> StoreResult<i64> {
        let conn = self.0;
        conn.prepare_cached(
            "INSERT INTO payouts (tenant, affiliate, amount_cents, currency, through, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            p.tenant,
            p.affiliate,
            d.amount_cents,
            d.currency,
            rfc3339(p.through),
            p.now
        ])?;
        let payout_id = conn.last_insert_rowid();
        let mut st =
            conn.prepare_cached("INSERT INTO payout_lines (entry_id, payout_id) VALUES (?1, ?2)")?;
        for id in &d.entries {
            st.execute(params![id, payout_id])?;
        }
        Ok(payout_id)
    }

    async fn read_payout(&mut self, tenant: &str, id: i64) -> StoreResult<PayoutOut> {
        payout(self.0, tenant, id)
    }
}

pub(crate) fn payout(conn: &Connection, tenant: &str, id: i64) -> StoreResult<PayoutOut> {
    let head: Option<(String, i64, String, String, i64)> = conn
        .prepare_cached(
            "SELECT affiliate, amount_cents, currency, through, created_at FROM payouts
             WHERE tenant = ?1 AND id = ?2",
        )?
        .query_row(params![tenant, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((affiliate, amount_cents, currency, through, created_at)) = head else {
        return Err(StoreError::NotFound(
            "unknown_payout",
            format!("no payout has id {id}"),
        ));
    };
    let mut st = conn.prepare_cached(
        "SELECT l.id, c.public_id, c.transaction_id, l.kind, l.amount_cents, l.created_at
         FROM payout_lines p JOIN ledger l ON l.id = p.entry_id
         JOIN conversions c ON c.id = l.conversion_id
         WHERE p.payout_id = ?1 ORDER BY l.id",
    )?;
    let lines = st
        .query_map([id], |r| {
            Ok(PayoutLine {
                entry_id: r.get(0)?,
                conversion_id: r.get(1)?,
                transaction_id: r.get(2)?,
                kind: r.get(3)?,
                amount_cents: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PayoutOut {
        payout_id: id,
        affiliate,
        amount_cents,
        currency,
        through: parse_through(&through)?,
        created_at,
        lines,
    })
}

/// The stored `through` (RFC 3339) as unix seconds.
pub(crate) fn parse_through(s: &str) -> StoreResult<i64> {
    parse_rfc3339(s).ok_or_else(|| StoreError::Internal(format!("stored payout through `{s}`")))
}
