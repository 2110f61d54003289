//! The report's grouped rows, in one read-only snapshot. Commissions are the net sum of each
//! conversion's ledger entries. PostgreSQL sums bigints as `numeric` (exact): they are read as
//! text into i128.

use clicktrail_domain::report::{ReportRows, TestMode};
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
    let clicks_sql = format!(
        "SELECT affiliate, {DAY}, count(*) FROM clicks
         WHERE tenant = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2"
    );
    let leads_sql = format!(
        "SELECT affiliate, {DAY}, count(*) FROM leads
         WHERE tenant = $1 AND affiliate IS NOT NULL AND created_at >= $2 AND created_at < $3
         GROUP BY 1, 2"
    );
    let conversions_sql = format!(
        "SELECT affiliate, {DAY}, currency, count(*), sum(amount_cents)::text, sum(net)::text
         FROM (SELECT c.affiliate, c.created_at, c.currency, c.amount_cents,
                      coalesce((SELECT sum(l.amount_cents) FROM ledger l WHERE l.conversion_id = c.id), 0) AS net
               FROM conversions c
               WHERE c.tenant = $1 AND c.status <> 'declined' AND c.created_at >= $2 AND c.created_at < $3
                 AND (c.livemode OR coalesce((SELECT count_test_payments FROM tenants WHERE id = $1), false))) x
         GROUP BY 1, 2, 3"
    );
    // test-mode sales of the period (Stripe `livemode: false`), kept apart
    let test_sql = "SELECT coalesce((SELECT count_test_payments FROM tenants WHERE id = $1), false),
            count(*), coalesce(sum(c.amount_cents), 0)::text,
            coalesce(sum((SELECT sum(l.amount_cents) FROM ledger l WHERE l.conversion_id = c.id)), 0)::text
         FROM conversions c
         WHERE c.tenant = $1 AND NOT c.livemode AND c.status <> 'declined'
           AND c.created_at >= $2 AND c.created_at < $3";
    let p: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&tenant, &from, &to];
    let (clicks, leads, conversions, ledger, test) = tokio::try_join!(
        q(&tx, &clicks_sql, &p),
        q(&tx, &leads_sql, &p),
        q(&tx, &conversions_sql, &p),
        crate::payouts::period_entries(&tx, tenant, from, to),
        q(&tx, test_sql, &p),
    )?;
    tx.commit().await?;
    let mut out = ReportRows {
        clicks: clicks
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        leads: leads
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        conversions: Vec::with_capacity(conversions.len()),
        ledger,
        test_mode: TestMode::default(),
    };
    if let Some(r) = test.first() {
        out.test_mode = TestMode {
            counted: r.get(0),
            sales: r.get(1),
            revenue_cents: numeric_i128(r.get(2))?,
            commission_cents: numeric_i128(r.get(3))?,
        };
    }
    for r in &conversions {
        out.conversions.push((
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            numeric_i128(r.get(4))?,
            numeric_i128(r.get(5))?,
        ));
    }
    Ok(out)
}
