//! The report's grouped rows on SQLite, in one read transaction; what counts is decided by
//! `clicktrail_app::report`. Commissions are the net sum of each conversion's ledger entries.
//!
//! SQLite's `sum()` fails beyond i64, so money is summed as two exact halves, the high bits
//! (`x >> 32`, arithmetic) and the low 32 bits (`x & 0xFFFFFFFF`), joined in i128: each half's
//! sum fits i64 for up to 2^31 rows.

use clicktrail_app::report::{ConversionGroup, ReportSnapshot};
use clicktrail_domain::report::ReportRows;
use clicktrail_store::StoreResult;
use rusqlite::types::FromSql;
use rusqlite::{params, Connection, OptionalExtension, Row};

pub(crate) fn rows(conn: &Connection, tenant: &str, from: i64, to: i64) -> StoreResult<ReportRows> {
    let own = conn.is_autocommit();
    if own {
        conn.execute_batch("BEGIN")?;
    }
    let s = snapshot(conn, tenant, from, to);
    if own {
        conn.execute_batch("COMMIT")?;
    }
    Ok(clicktrail_app::report::rows(s?)?)
}

fn snapshot(conn: &Connection, tenant: &str, from: i64, to: i64) -> StoreResult<ReportSnapshot> {
    let p = params![tenant, from, to];
    let conversions = format!(
        "SELECT c.affiliate, date(c.created_at, 'unixepoch'), c.currency, c.livemode, c.status,
            count(*), {}, {}
         FROM conversions c
         LEFT JOIN (SELECT conversion_id, sum(amount_cents) AS net FROM ledger
                    WHERE tenant = ?1 GROUP BY conversion_id) l ON l.conversion_id = c.id
         WHERE c.tenant = ?1 AND c.created_at >= ?2 AND c.created_at < ?3
         GROUP BY 1, 2, 3, 4, 5",
        wide_sum("c.amount_cents"),
        wide_sum("coalesce(l.net, 0)")
    );
    Ok(ReportSnapshot {
        count_test_payments: conn
            .prepare_cached("SELECT count_test_payments FROM tenants WHERE id = ?1")?
            .query_row([tenant], |r| r.get(0))
            .optional()?
            .unwrap_or(false),
        clicks: conn
            .prepare_cached(
                "SELECT affiliate, date(created_at, 'unixepoch'), count(*) FROM clicks
                 WHERE tenant = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY 1, 2",
            )?
            .query_map(p, day_count)?
            .collect::<Result<_, _>>()?,
        leads: conn
            .prepare_cached(
                "SELECT affiliate, date(created_at, 'unixepoch'), count(*) FROM leads
                 WHERE tenant = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY 1, 2",
            )?
            .query_map(p, day_count)?
            .collect::<Result<_, _>>()?,
        conversions: conn
            .prepare_cached(&conversions)?
            .query_map(p, |r| {
                Ok(ConversionGroup {
                    affiliate: r.get(0)?,
                    day: r.get(1)?,
                    currency: r.get(2)?,
                    livemode: r.get(3)?,
                    status: r.get(4)?,
                    count: r.get(5)?,
                    revenue_cents: wide(r, 6)?,
                    commission_cents: wide(r, 8)?,
                })
            })?
            .collect::<Result<_, _>>()?,
        ledger: crate::payouts::period_entries(conn, tenant, from, to)?,
    })
}

/// (affiliate, day, count).
fn day_count<A: FromSql>(r: &Row<'_>) -> rusqlite::Result<(A, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// Two columns: the sums of `expr`'s high and low halves (read back with [`wide`]).
pub(crate) fn wide_sum(expr: &str) -> String {
    format!("coalesce(sum(({expr}) >> 32), 0), coalesce(sum(({expr}) & 4294967295), 0)")
}

/// The exact sum from the two columns of [`wide_sum`] at `i`, `i + 1`.
pub(crate) fn wide(r: &Row<'_>, i: usize) -> rusqlite::Result<i128> {
    let high: i64 = r.get(i)?;
    let low: i64 = r.get(i + 1)?;
    Ok((i128::from(high) << 32) + i128::from(low))
}
