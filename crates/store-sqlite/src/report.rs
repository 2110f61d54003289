//! The report's grouped rows. Commissions are the net sum of each conversion's ledger entries.

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
    // sum() raises "integer overflow" instead of wrapping: a 500, never a wrong total
    let mut st = conn.prepare_cached(
        "SELECT c.affiliate, date(c.created_at, 'unixepoch'), c.currency, count(*),
                sum(c.amount_cents), sum(coalesce(l.net, 0))
         FROM conversions c
         LEFT JOIN (SELECT conversion_id, sum(amount_cents) AS net FROM ledger
                    WHERE tenant = ?1 GROUP BY conversion_id) l ON l.conversion_id = c.id
         WHERE c.tenant = ?1 AND c.status <> 'declined' AND c.created_at >= ?2 AND c.created_at < ?3
           AND (c.livemode = 1
                OR coalesce((SELECT count_test_payments FROM tenants WHERE id = ?1), 0) = 1)
         GROUP BY 1, 2, 3",
    )?;
    rows.conversions = st
        .query_map(params![tenant, from, to], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
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
        .prepare_cached(
            "SELECT coalesce((SELECT count_test_payments FROM tenants WHERE id = ?1), 0),
                count(*), coalesce(sum(c.amount_cents), 0), coalesce(sum(l.net), 0)
             FROM conversions c
             LEFT JOIN (SELECT conversion_id, sum(amount_cents) AS net FROM ledger
                        WHERE tenant = ?1 GROUP BY conversion_id) l ON l.conversion_id = c.id
             WHERE c.tenant = ?1 AND c.livemode = 0 AND c.status <> 'declined'
               AND c.created_at >= ?2 AND c.created_at < ?3",
        )?
        .query_row(params![tenant, from, to], |r| {
            Ok(TestMode {
                counted: r.get(0)?,
                sales: r.get(1)?,
                revenue_cents: r.get(2)?,
                commission_cents: r.get(3)?,
            })
        })?)
}
