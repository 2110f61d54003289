//! Stripe events: the use case `clicktrail_app::stripe` over the writer's connection (the
//! single writer serializes the events of one payment: no lock is needed).

use clicktrail_app::run_ready;
use clicktrail_app::stripe::{StoredFact, StripeRows, StripeSale};
use clicktrail_domain::attribution::Resolved;
use clicktrail_domain::stripe::Fact;
use clicktrail_store::{
    SaleIn, SaleOut, StoreResult, StripeEventIn, StripeFactIn, StripeIds, StripeOutcome, Target,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::ops;
use crate::refund::Rows;

pub(crate) fn stripe_event(conn: &Connection, e: &StripeEventIn) -> StoreResult<StripeOutcome> {
    run_ready(clicktrail_app::stripe::stripe_event(&mut Rows(conn), e))
}

fn stored_fact(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFact> {
    Ok(StoredFact {
        kind: r.get(0)?,
        key: r.get(1)?,
        amount_cents: r.get(2)?,
        state: r.get(3)?,
        event_created: r.get(4)?,
        object_created: r.get(5)?,
    })
}

impl Rows<'_> {
    fn first_id(&self, sql: &str, p: impl rusqlite::Params) -> StoreResult<Option<i64>> {
        Ok(self
            .0
            .prepare_cached(sql)?
            .query_row(p, |r| r.get(0))
            .optional()?)
    }

    fn update(&self, sql: &str, p: impl rusqlite::Params) -> StoreResult<()> {
        self.0.prepare_cached(sql)?.execute(p)?;
        Ok(())
    }
}

impl StripeRows for Rows<'_> {
    async fn claim_event(&mut self, e: &StripeEventIn) -> StoreResult<bool> {
        let inserted = self
            .0
            .prepare_cached(
                "INSERT INTO stripe_events (tenant, event_id, type, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![e.tenant, e.event_id, e.event_type, e.now])?;
        Ok(inserted > 0)
    }

    async fn lock_payment(&mut self, _e: &StripeEventIn) -> StoreResult<()> {
        Ok(())
    }

    async fn resolve(&mut self, tenant: &str, target: &Target) -> StoreResult<Option<Resolved>> {
        ops::resolve(self.0, tenant, target)
    }

    async fn link(
        &mut self,
        tenant: &str,
        kind: &str,
        stripe_id: &str,
        cid: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.update(
            "INSERT INTO stripe_links (tenant, kind, stripe_id, cid, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
            params![tenant, kind, stripe_id, cid, now],
        )
    }

    async fn sale_by_transaction(&mut self, tenant: &str, tx: &str) -> StoreResult<Option<i64>> {
        self.first_id(
            "SELECT id FROM conversions WHERE tenant = ?1 AND transaction_id = ?2",
            params![tenant, tx],
        )
    }

    async fn first_sale_of_subscription(
        &mut self,
        tenant: &str,
        sub: &str,
    ) -> StoreResult<Option<i64>> {
        self.first_id(
            "SELECT id FROM conversions WHERE tenant = ?1 AND subscription_id = ?2 ORDER BY id LIMIT 1",
            params![tenant, sub],
        )
    }

    async fn sale_by_payment(
        &mut self,
        tenant: &str,
        ids: &StripeIds,
    ) -> StoreResult<Option<(i64, bool)>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT id, attributed FROM conversions
                 WHERE tenant = ?1 AND (stripe_invoice = ?2 OR stripe_payment_intent = ?3)
                 ORDER BY id LIMIT 1",
            )?
            .query_row(params![tenant, ids.invoice, ids.payment_intent], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    async fn sale_by_fact(&mut self, tenant: &str, f: &StripeFactIn) -> StoreResult<Option<i64>> {
        self.first_id(
            "SELECT id FROM conversions WHERE tenant = ?1
                AND (stripe_payment_intent = ?2 OR stripe_charge = ?3 OR stripe_invoice = ?4)
             ORDER BY id LIMIT 1",
            params![tenant, f.payment_intent, f.charge, f.invoice],
        )
    }

    async fn merge_ids(&mut self, id: i64, ids: &StripeIds) -> StoreResult<()> {
        self.update(
            "UPDATE conversions SET stripe_payment_intent = COALESCE(stripe_payment_intent, ?2),
                stripe_charge = COALESCE(stripe_charge, ?3), stripe_invoice = COALESCE(stripe_invoice, ?4),
                stripe_customer = COALESCE(stripe_customer, ?5)
             WHERE id = ?1",
            params![id, ids.payment_intent, ids.charge, ids.invoice, ids.customer],
        )
    }

    async fn learn_invoice_payment(&mut self, id: i64) -> StoreResult<()> {
        self.update(
            "UPDATE conversions SET
                stripe_payment_intent = COALESCE(stripe_payment_intent,
                    (SELECT f.payment_intent FROM stripe_facts f WHERE f.tenant = conversions.tenant
                        AND f.kind = 'invoice_payment' AND f.invoice = conversions.stripe_invoice
                        AND f.payment_intent IS NOT NULL ORDER BY f.key LIMIT 1)),
                stripe_charge = COALESCE(stripe_charge,
                    (SELECT f.charge FROM stripe_facts f WHERE f.tenant = conversions.tenant
                        AND f.kind = 'invoice_payment' AND f.invoice = conversions.stripe_invoice
                        AND f.charge IS NOT NULL ORDER BY f.key LIMIT 1))
             WHERE id = ?1 AND stripe_invoice IS NOT NULL",
            [id],
        )
    }

    async fn stripe_sale(&mut self, id: i64) -> StoreResult<Option<StripeSale>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT transaction_id, affiliate, amount_cents, currency, status, held_payment
                 FROM conversions WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok(StripeSale {
                    transaction_id: r.get(0)?,
                    affiliate: r.get(1)?,
                    amount_cents: r.get(2)?,
                    currency: r.get(3)?,
                    status: r.get(4)?,
                    held_payment: r.get(5)?,
                })
            })
            .optional()?)
    }

    async fn set_mode(&mut self, id: i64, live: bool, held_payment: bool) -> StoreResult<()> {
        self.update(
            "UPDATE conversions SET livemode = ?2, held_payment = ?3 WHERE id = ?1",
            params![id, live, held_payment],
        )
    }

    async fn set_held_payment(&mut self, id: i64, held: bool) -> StoreResult<()> {
        self.update(
            "UPDATE conversions SET held_payment = ?2 WHERE id = ?1",
            params![id, held],
        )
    }

    async fn set_held_dispute(&mut self, id: i64, held: bool) -> StoreResult<()> {
        self.update(
            "UPDATE conversions SET held_dispute = ?2 WHERE id = ?1",
            params![id, held],
        )
    }

    async fn fact(&mut self, tenant: &str, f: &Fact) -> StoreResult<Option<StoredFact>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT kind, key, amount_cents, state, event_created, object_created FROM stripe_facts
                 WHERE tenant = ?1 AND kind = ?2 AND key = ?3",
            )?
            .query_row(params![tenant, f.kind.as_str(), f.key], stored_fact)
            .optional()?)
    }

    async fn put_fact(
        &mut self,
        tenant: &str,
        event_id: &str,
        f: &StripeFactIn,
    ) -> StoreResult<()> {
        let n = &f.fact;
        self.update(
            "INSERT INTO stripe_facts (tenant, kind, key, payment_intent, charge, invoice, amount_cents,
                state, event_created, object_created, event_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (tenant, kind, key) DO UPDATE SET amount_cents = excluded.amount_cents,
                state = excluded.state, event_created = excluded.event_created,
                object_created = excluded.object_created, event_id = excluded.event_id",
            params![
                tenant,
                n.kind.as_str(),
                n.key,
                f.payment_intent,
                f.charge,
                f.invoice,
                n.amount_cents,
                n.state.as_str(),
                n.event_created,
                n.object_created,
                event_id
            ],
        )
    }

    async fn merge_fact_ids(&mut self, tenant: &str, f: &StripeFactIn) -> StoreResult<()> {
        self.update(
            "UPDATE stripe_facts SET payment_intent = COALESCE(payment_intent, ?4),
                charge = COALESCE(charge, ?5), invoice = COALESCE(invoice, ?6)
             WHERE tenant = ?1 AND kind = ?2 AND key = ?3",
            params![
                tenant,
                f.fact.kind.as_str(),
                f.fact.key,
                f.payment_intent,
                f.charge,
                f.invoice
            ],
        )
    }

    async fn sale_facts(&mut self, id: i64) -> StoreResult<Vec<StoredFact>> {
        let mut st = self.0.prepare_cached(
            "SELECT f.kind, f.key, f.amount_cents, f.state, f.event_created, f.object_created
             FROM stripe_facts f, conversions c
             WHERE c.id = ?1 AND f.tenant = c.tenant
               AND (f.payment_intent = c.stripe_payment_intent OR f.charge = c.stripe_charge
                    OR f.invoice = c.stripe_invoice)",
        )?;
        let facts = st.query_map([id], stored_fact)?.collect::<Result<_, _>>()?;
        Ok(facts)
    }

    async fn refunded_cents_under(&mut self, id: i64, prefix: &str) -> StoreResult<i64> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT coalesce(sum(amount_cents), 0) FROM refunds
                 WHERE conversion_id = ?1 AND substr(refund_id, 1, length(?2)) = ?2",
            )?
            .query_row(params![id, prefix], |r| r.get(0))?)
    }

    async fn record_sale(&mut self, e: &StripeEventIn) -> StoreResult<StripeOutcome> {
        ops::stripe_sale(self.0, e)
    }

    async fn attribute_existing(&mut self, id: i64, s: &SaleIn) -> StoreResult<SaleOut> {
        ops::attribute_existing(self.0, id, s)
    }
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
