//! The report's grouped rows, read in the caller's snapshot; what counts is decided by
//! `clicktrail_app::report`. Commissions are the net sum of each conversion's ledger entries.
//!
//! Money is summed exactly in SQL both databases run alike: SQLite's `sum()` fails beyond
//! i64 and PostgreSQL's is `numeric`, so each amount is summed as two halves, the high bits
//! (`x >> 32`, arithmetic) and the low 32 bits (`x & 4294967295`), each of which fits i64 for
//! up to 2^31 rows, joined in i128 ([`wide`]).

use clicktrail_app::report::{ConversionGroup, ReportSnapshot};
use futures_util::future::try_join4;

use clicktrail_store::StoreError;

use crate::{Db, Dialect, FromCell, Row};

/// Two columns: the sums of `expr`'s high and low halves (read back with [`wide`]).
pub(crate) fn wide_sum(expr: &str) -> String {
    format!(
        "CAST(coalesce(sum(({expr}) >> 32), 0) AS BIGINT), \
         CAST(coalesce(sum(({expr}) & 4294967295), 0) AS BIGINT)"
    )
}

/// The exact sum from the two columns of [`wide_sum`] at `i`, `i + 1`.
pub(crate) fn wide(r: &Row, i: usize) -> Result<i128, StoreError> {
    let high: i64 = r.get(i)?;
    let low: i64 = r.get(i + 1)?;
    Ok((i128::from(high) << 32) + i128::from(low))
}

/// The UTC day (`YYYY-MM-DD`) of a unix time column.
fn day<D: Db>(column: &str) -> String {
    match D::DIALECT {
        Dialect::Sqlite => format!("date({column}, 'unixepoch')"),
        Dialect::Postgres => {
            format!("to_char(to_timestamp({column}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
        }
    }
}

/// The tenant's `count_test_payments` (false for an unknown tenant).
pub async fn count_test_payments<D: Db>(db: &D, tenant: &str) -> Result<bool, D::Error> {
    let row = db
        .query_opt(
            "SELECT count_test_payments FROM tenants WHERE id = $1",
            &[&tenant],
        )
        .await?;
    Ok(row.map(|r| r.get(0)).transpose()?.unwrap_or(false))
}

/// What a report of `[from, to)` reads, but its `ledger` (left empty: the payouts module's
/// `period_entries`, which the caller reads in the same snapshot). The queries run at once
/// (pipelined on PostgreSQL).
pub async fn snapshot<D: Db>(
    db: &D,
    tenant: &str,
    from: i64,
    to: i64,
) -> Result<ReportSnapshot, D::Error> {
    let day = day::<D>("created_at");
    let clicks = format!(
        "SELECT affiliate, {day}, count(*) FROM clicks
         WHERE tenant = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2"
    );
    let leads = format!(
        "SELECT affiliate, {day}, count(*) FROM leads
         WHERE tenant = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2"
    );
    // each conversion's net as two halves, so that no sum of a conversion's entries can fail
    let net_half = |half: &str| {
        format!(
            "CAST(coalesce((SELECT sum(l.amount_cents {half}) FROM ledger l
                             WHERE l.conversion_id = c.id), 0) AS BIGINT)"
        )
    };
    let conversions = format!(
        "SELECT affiliate, {day}, currency, livemode, status, count(*), {}, \
            CAST(coalesce(sum(net_high), 0) AS BIGINT), CAST(coalesce(sum(net_low), 0) AS BIGINT)
         FROM (SELECT c.affiliate, c.created_at, c.currency, c.livemode, c.status, c.amount_cents,
                      {} AS net_high, {} AS net_low
               FROM conversions c
               WHERE c.tenant = $1 AND c.created_at >= $2 AND c.created_at < $3) x
         GROUP BY 1, 2, 3, 4, 5",
        wide_sum("amount_cents"),
        net_half(">> 32"),
        net_half("& 4294967295"),
    );
    let p: [&dyn crate::ToArg; 3] = [&tenant, &from, &to];
    let (counted, clicks, leads, conversions) = try_join4(
        count_test_payments(db, tenant),
        db.query(&clicks, &p),
        db.query(&leads, &p),
        db.query(&conversions, &p),
    )
    .await?;
    let mut groups = Vec::with_capacity(conversions.len());
    for r in &conversions {
        groups.push(ConversionGroup {
            affiliate: r.get(0)?,
            day: r.get(1)?,
            currency: r.get(2)?,
            livemode: r.get(3)?,
            status: r.get(4)?,
            count: r.get(5)?,
            revenue_cents: wide(r, 6)?,
            commission_cents: wide(r, 8)?,
        });
    }
    Ok(ReportSnapshot {
        count_test_payments: counted,
        clicks: day_counts(clicks)?,
        leads: day_counts(leads)?,
        conversions: groups,
        ledger: Vec::new(),
    })
}

/// (affiliate, day, count).
fn day_counts<A: FromCell>(rows: Vec<Row>) -> Result<Vec<(A, String, i64)>, StoreError> {
    rows.iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .collect()
}
