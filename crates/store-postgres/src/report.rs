//! The report's grouped rows on PostgreSQL, in one read-only snapshot; what counts is decided
//! by `clicktrail_app::report`. Commissions are the net sum of each conversion's ledger
//! entries. PostgreSQL sums bigints as `numeric` (exact): they are read as text into i128.

use clicktrail_app::report::{ConversionGroup, ReportSnapshot};
use clicktrail_domain::report::ReportRows;
use tokio_postgres::types::ToSql;
use tokio_postgres::IsolationLevel;

use crate::ops::q;
use crate::{numeric_i128, Fail, PgStore};

const DAY: &str = "to_char(to_timestamp(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')";

pub(crate) async fn rows(
    store: &PgStore,
    tenant: &str,
    from: i64,
    to: i64,
) -> Result<ReportRows, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let counted_sql = "SELECT count_test_payments FROM tenants WHERE id = $1";
    let clicks_sql = format!(
        "SELECT affiliate, {DAY}, count(*) FROM clicks
         WHERE tenant = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2"
    );
    let leads_sql = format!(
        "SELECT affiliate, {DAY}, count(*) FROM leads
         WHERE tenant = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2"
    );
    let conversions_sql = format!(
        "SELECT affiliate, {DAY}, currency, livemode, status, count(*), sum(amount_cents)::text,
            sum(net)::text
         FROM (SELECT c.affiliate, c.created_at, c.currency, c.livemode, c.status, c.amount_cents,
                      coalesce((SELECT sum(l.amount_cents) FROM ledger l WHERE l.conversion_id = c.id), 0) AS net
               FROM conversions c
               WHERE c.tenant = $1 AND c.created_at >= $2 AND c.created_at < $3) x
         GROUP BY 1, 2, 3, 4, 5"
    );
    let p: [&(dyn ToSql + Sync); 3] = [&tenant, &from, &to];
    let (counted, clicks, leads, conversions, ledger) = tokio::try_join!(
        q(&tx, counted_sql, &p[..1]),
        q(&tx, &clicks_sql, &p),
        q(&tx, &leads_sql, &p),
        q(&tx, &conversions_sql, &p),
        crate::payouts::period_entries(&tx, tenant, from, to),
    )?;
    tx.commit().await?;
    let mut groups = Vec::with_capacity(conversions.len());
    for r in &conversions {
        groups.push(ConversionGroup {
            affiliate: r.get(0),
            day: r.get(1),
            currency: r.get(2),
            livemode: r.get(3),
            status: r.get(4),
            count: r.get(5),
            revenue_cents: numeric_i128(r.get(6))?,
            commission_cents: numeric_i128(r.get(7))?,
        });
    }
    let s = ReportSnapshot {
        count_test_payments: counted.first().is_some_and(|r| r.get(0)),
        clicks: clicks
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        leads: leads
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        conversions: groups,
        ledger,
    };
    Ok(clicktrail_app::report::rows(s)?)
}
