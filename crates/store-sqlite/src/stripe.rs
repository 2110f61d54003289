//! Stripe events: the use case `clicktrail_app::stripe` over the shared rows
//! (`clicktrail_sql::stripe`) on the writer's connection (the single writer serializes the
//! events of one payment: no lock is needed).

use clicktrail_app::run_ready;
use clicktrail_sql::Sql;
use clicktrail_store::{StoreResult, StripeEventIn, StripeOutcome};
use rusqlite::Connection;

use crate::db::Lite;

pub(crate) fn stripe_event(conn: &Connection, e: &StripeEventIn) -> StoreResult<StripeOutcome> {
    run_ready(clicktrail_app::stripe::stripe_event(
        &mut Sql(Lite(conn)),
        e,
    ))
}

#[cfg(test)]
mod tests {
    use crate::{schema, SqliteStore};
    use clicktrail_store::Store;
    use rusqlite::Connection;

    /// A database of the previous schema (v3) opens with every sale kept: live, not held,
    /// its Stripe invoice id taken from its transaction id.
    #[tokio::test]
    async fn a_v3_database_keeps_its_sales_and_learns_their_invoice_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v3.db");
        {
            let conn = Connection::open(&p).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (3);",
            )
            .unwrap();
            for m in &schema::MIGRATIONS[..3] {
                conn.execute_batch(m).unwrap();
            }
            conn.execute_batch(
                "INSERT INTO conversions (id, public_id, tenant, kind, conversion_type, transaction_id, cid,
                    affiliate, attributed, amount_cents, currency, commission_cents, status, source, created_at)
                 VALUES (1, 'p1', 't', 'sale', 'sale', 'stripe:in_1', 'c1', 'alice', 1, 2000, 'USD', 600, 'approved', 'stripe', 20),
                        (2, 'p2', 't', 'sale', 'sale', 'stripe:cs_2', 'c1', 'alice', 1, 3000, 'USD', 900, 'approved', 'stripe', 20),
                        (3, 'p3', 't', 'sale', 'sale', 'in_3', NULL, NULL, 0, 100, 'USD', 0, 'approved', 'api', 20);
                 INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, created_at)
                 VALUES ('t', 'alice', 1, 'accrual', 600, 'USD', 20, 20), ('t', 'alice', 2, 'accrual', 900, 'USD', 20, 20);",
            )
            .unwrap();
        }
        let s = SqliteStore::open(p.to_str().unwrap()).unwrap();
        let rows: Vec<(i64, Option<String>, bool, bool)> = s
            .read(|conn| {
                let mut st = conn.prepare(
                    "SELECT id, stripe_invoice, livemode, held_payment OR held_dispute FROM conversions ORDER BY id",
                )?;
                let v = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(v)
            })
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, Some("in_1".into()), true, false),
                (2, None, true, false),
                (3, None, true, false)
            ]
        );
        let entries = s.ledger_entries("t").await.unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| !e.held));
        let report = s.report("t", 0, 100).await.unwrap();
        let sales: i64 = report.conversions.iter().map(|c| c.3).sum();
        assert_eq!(sales, 3, "every sale is still live");
    }
}
