//! The report's grouped rows. Commissions are the net sum of each conversion's ledger entries.
//!
//! SQLite's `sum()` fails beyond i64, so money is summed as two exact halves, the high bits
//! (`x >> 32`, arithmetic) and the low 32 bits (`x & 0xFFFFFFFF`), joined in i128: each half's
//! sum fits i64 for up to 2^31 rows.

use clicktrail_domain::report::{ReportRows, TestMode};
use clicktrail_store::StoreResult;
use rusqlite::{params, Connection};

pub(crate) fn rows(conn: &Connection, tenant: &str, from: i64, to: i64) -> StoreResult<ReportRows> {
    let mut rows = ReportRows::default();
    let mut st = conn.prepare_cached(
        "SELECT affiliate, date(created_at, 'unixepoch'), count(*) FROM clicks
         WHERE tenant = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY 1, 2",
    )?;
    rows.clicks = st
        .query_map(params![tenant, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(
        "SELECT affiliate, date(created_at, 'unixepoch'), count(*) FROM leads
         WHERE tenant = ?1 AND affiliate IS NOT NULL AND created_at >= ?2 AND created_at < ?3 GROUP BY 1, 2",
    )?;
    rows.leads = st
        .query_map(params![tenant, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT c.affiliate, date(c.created_at, 'unixepoch'), c.currency, count(*),
                {}, {}
         FROM conversions c
         LEFT JOIN (SELECT conversion_id, sum(amount_cents) AS net FROM ledger
                    WHERE tenant = ?1 GROUP BY conversion_id) l ON l.conversion_id = c.id
         WHERE c.tenant = ?1 AND c.status <> 'declined' AND c.created_at >= ?2 AND c.created_at < ?3
           AND (c.livemode = 1
                OR coalesce((SELECT count_test_payments FROM tenants WHERE id = ?1), 0) = 1)
         GROUP BY 1, 2, 3",
        wide_sum("c.amount_cents"),
        wide_sum("coalesce(l.net, 0)")
    ))?;
    rows.conversions = st
        .query_map(params![tenant, from, to], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                wide(r, 4)?,
                wide(r, 6)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    rows.ledger = crate::payouts::period_entries(conn, tenant, from, to)?;
    rows.test_mode = test_mode(conn, tenant, from, to)?;
    Ok(rows)
}

/// Test-mode sales of the period (Stripe `livemode: false`), kept apart.
fn test_mode(conn: &Connection, tenant: &str, from: i64, to: i64) -> StoreResult<TestMode> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT coalesce((SELECT count_test_payments FROM tenants WHERE id = ?1), 0),
                count(*), {}, {}
             FROM conversions c
             LEFT JOIN (SELECT conversion_id, sum(amount_cents) AS net FROM ledger
                        WHERE tenant = ?1 GROUP BY conversion_id) l ON l.conversion_id = c.id
             WHERE c.tenant = ?1 AND c.livemode = 0 AND c.status <> 'declined'
               AND c.created_at >= ?2 AND c.created_at < ?3",
            wide_sum("c.amount_cents"),
            wide_sum("coalesce(l.net, 0)")
        ))?
        .query_row(params![tenant, from, to], |r| {
            Ok(TestMode {
                counted: r.get(0)?,
                sales: r.get(1)?,
                revenue_cents: wide(r, 2)?,
                commission_cents: wide(r, 4)?,
            })
        })?)
}

/// Two columns: the sums of `expr`'s high and low halves (read back with [`wide`]).
fn wide_sum(expr: &str) -> String {
    format!("coalesce(sum(({expr}) >> 32), 0), coalesce(sum(({expr}) & 4294967295), 0)")
}

/// The exact sum from the two columns of [`wide_sum`] at `i`, `i + 1`.
fn wide(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<i128> {
    let high: i64 = r.get(i)?;
    let low: i64 = r.get(i + 1)?;
    Ok((i128::from(high) << 32) + i128::from(low))
}
