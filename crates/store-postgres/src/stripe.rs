//! Stripe events on PostgreSQL: the use case `clicktrail_app::stripe` over one transaction.
//! Two collectors handling events of one payment at once take the same advisory locks (one
//! per Stripe id the event names, in order), and the sale row is locked before it is settled.

use clicktrail_app::stripe::{StoredFact, StripeRows, StripeSale};
use clicktrail_domain::attribution::Resolved;
use clicktrail_domain::stripe::Fact;
use clicktrail_store::{
    SaleIn, SaleOut, StoreError, StripeEventIn, StripeFactIn, StripeIds, StripeOutcome, Target,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::ops::{self, exec, q, q_opt, Tx};
use crate::refund::Rows;
use crate::{Fail, PgStore};

pub(crate) async fn stripe_event(
    store: &PgStore,
    e: &StripeEventIn,
) -> Result<StripeOutcome, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::stripe::stripe_event(&mut Rows(&tx), e).await?;
    tx.commit().await?;
    Ok(out)
}

/// Every Stripe id the event names (payment intent, charge, invoice), sorted: the advisory
/// locks two events of one payment share.
fn lock_keys(e: &StripeEventIn) -> Vec<String> {
    let m = &e.money;
    let mut keys: Vec<String> = [&m.ids.payment_intent, &m.ids.charge, &m.ids.invoice]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    for f in &m.facts {
        keys.extend(
            [&f.payment_intent, &f.charge, &f.invoice]
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    if let Some(s) = &e.sale {
        keys.push(s.transaction_id.clone());
    }
    keys.sort();
    keys.dedup();
    keys
}

fn stored_fact(r: &Row) -> StoredFact {
    StoredFact {
        kind: r.get(0),
        key: r.get(1),
        amount_cents: r.get(2),
        state: r.get(3),
        event_created: r.get(4),
        object_created: r.get(5),
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn first_id(tx: &Tx<'_>, sql: &str, p: Params<'_>) -> Result<Option<i64>, Fail> {
    Ok(q_opt(tx, sql, p).await?.map(|r| r.get(0)))
}

impl StripeRows for Rows<'_, '_> {
    async fn claim_event(&mut self, e: &StripeEventIn) -> Result<bool, Fail> {
        // a concurrent delivery of the same event waits here until the first one commits
        let fresh = q_opt(
            self.0,
            "INSERT INTO stripe_events (tenant, event_id, type, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING 1",
            &[&e.tenant, &e.event_id, &e.event_type, &e.now],
        )
        .await?;
        Ok(fresh.is_some())
    }

    async fn lock_payment(&mut self, e: &StripeEventIn) -> Result<(), Fail> {
        for k in lock_keys(e) {
            exec(
                self.0,
                "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
                &[&e.tenant, &format!("stripe:{k}")],
            )
            .await?;
        }
        Ok(())
    }

    async fn resolve(&mut self, tenant: &str, target: &Target) -> Result<Option<Resolved>, Fail> {
        ops::resolve(self.0, tenant, target).await
    }

    async fn link(
        &mut self,
        tenant: &str,
        kind: &str,
        stripe_id: &str,
        cid: &str,
        now: i64,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "INSERT INTO stripe_links (tenant, kind, stripe_id, cid, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&tenant, &kind, &stripe_id, &cid, &now],
        )
        .await?;
        Ok(())
    }

    async fn sale_by_transaction(&mut self, tenant: &str, t: &str) -> Result<Option<i64>, Fail> {
        first_id(
            self.0,
            "SELECT id FROM conversions WHERE tenant = $1 AND transaction_id = $2",
            &[&tenant, &t],
        )
        .await
    }

    async fn first_sale_of_subscription(
        &mut self,
        tenant: &str,
        sub: &str,
    ) -> Result<Option<i64>, Fail> {
        first_id(
            self.0,
            "SELECT id FROM conversions WHERE tenant = $1 AND subscription_id = $2 ORDER BY id LIMIT 1",
            &[&tenant, &sub],
        )
        .await
    }

    async fn sale_by_payment(
        &mut self,
        tenant: &str,
        ids: &StripeIds,
    ) -> Result<Option<(i64, bool)>, Fail> {
        Ok(q_opt(
            self.0,
            "SELECT id, attributed FROM conversions
             WHERE tenant = $1 AND (stripe_invoice = $2 OR stripe_payment_intent = $3)
             ORDER BY id LIMIT 1",
            &[&tenant, &ids.invoice, &ids.payment_intent],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
    }

    async fn sale_by_fact(&mut self, tenant: &str, f: &StripeFactIn) -> Result<Option<i64>, Fail> {
        first_id(
            self.0,
            "SELECT id FROM conversions WHERE tenant = $1
                AND (stripe_payment_intent = $2 OR stripe_charge = $3 OR stripe_invoice = $4)
             ORDER BY id LIMIT 1",
            &[&tenant, &f.payment_intent, &f.charge, &f.invoice],
        )
        .await
    }

    async fn merge_ids(&mut self, id: i64, ids: &StripeIds) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE conversions SET stripe_payment_intent = COALESCE(stripe_payment_intent, $2),
                stripe_charge = COALESCE(stripe_charge, $3), stripe_invoice = COALESCE(stripe_invoice, $4),
                stripe_customer = COALESCE(stripe_customer, $5)
             WHERE id = $1",
            &[&id, &ids.payment_intent, &ids.charge, &ids.invoice, &ids.customer],
        )
        .await?;
        Ok(())
    }

    async fn learn_invoice_payment(&mut self, id: i64) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE conversions SET
                stripe_payment_intent = COALESCE(stripe_payment_intent,
                    (SELECT f.payment_intent FROM stripe_facts f WHERE f.tenant = conversions.tenant
                        AND f.kind = 'invoice_payment' AND f.invoice = conversions.stripe_invoice
                        AND f.payment_intent IS NOT NULL ORDER BY f.key LIMIT 1)),
                stripe_charge = COALESCE(stripe_charge,
                    (SELECT f.charge FROM stripe_facts f WHERE f.tenant = conversions.tenant
                        AND f.kind = 'invoice_payment' AND f.invoice = conversions.stripe_invoice
                        AND f.charge IS NOT NULL ORDER BY f.key LIMIT 1))
             WHERE id = $1 AND stripe_invoice IS NOT NULL",
            &[&id],
        )
        .await?;
        Ok(())
    }

    async fn stripe_sale(&mut self, id: i64) -> Result<Option<StripeSale>, Fail> {
        Ok(q_opt(
            self.0,
            "SELECT transaction_id, affiliate, amount_cents, currency, status, held_payment
             FROM conversions WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .map(|r| StripeSale {
            transaction_id: r.get(0),
            affiliate: r.get(1),
            amount_cents: r.get(2),
            currency: r.get(3),
            status: r.get(4),
            held_payment: r.get(5),
        }))
    }

    async fn set_mode(&mut self, id: i64, live: bool, held_payment: bool) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE conversions SET livemode = $2, held_payment = $3 WHERE id = $1",
            &[&id, &live, &held_payment],
        )
        .await?;
        Ok(())
    }

    async fn set_held_payment(&mut self, id: i64, held: bool) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE conversions SET held_payment = $2 WHERE id = $1",
            &[&id, &held],
        )
        .await?;
        Ok(())
    }

    async fn set_held_dispute(&mut self, id: i64, held: bool) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE conversions SET held_dispute = $2 WHERE id = $1",
            &[&id, &held],
        )
        .await?;
        Ok(())
    }

    async fn fact(&mut self, tenant: &str, f: &Fact) -> Result<Option<StoredFact>, Fail> {
        Ok(q_opt(
            self.0,
            "SELECT kind, key, amount_cents, state, event_created, object_created FROM stripe_facts
             WHERE tenant = $1 AND kind = $2 AND key = $3 FOR UPDATE",
            &[&tenant, &f.kind.as_str(), &f.key],
        )
        .await?
        .as_ref()
        .map(stored_fact))
    }

    async fn put_fact(
        &mut self,
        tenant: &str,
        event_id: &str,
        f: &StripeFactIn,
    ) -> Result<(), Fail> {
        let n = &f.fact;
        exec(
            self.0,
            "INSERT INTO stripe_facts (tenant, kind, key, payment_intent, charge, invoice, amount_cents,
                state, event_created, object_created, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (tenant, kind, key) DO UPDATE SET amount_cents = excluded.amount_cents,
                state = excluded.state, event_created = excluded.event_created,
                object_created = excluded.object_created, event_id = excluded.event_id",
            &[
                &tenant,
                &n.kind.as_str(),
                &n.key,
                &f.payment_intent,
                &f.charge,
                &f.invoice,
                &n.amount_cents,
                &n.state.as_str(),
                &n.event_created,
                &n.object_created,
                &event_id,
            ],
        )
        .await?;
        Ok(())
    }

    async fn merge_fact_ids(&mut self, tenant: &str, f: &StripeFactIn) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE stripe_facts SET payment_intent = COALESCE(payment_intent, $4),
                charge = COALESCE(charge, $5), invoice = COALESCE(invoice, $6)
             WHERE tenant = $1 AND kind = $2 AND key = $3",
            &[
                &tenant,
                &f.fact.kind.as_str(),
                &f.fact.key,
                &f.payment_intent,
                &f.charge,
                &f.invoice,
            ],
        )
        .await?;
        Ok(())
    }

    async fn sale_facts(&mut self, id: i64) -> Result<Vec<StoredFact>, Fail> {
        let rows = q(
            self.0,
            "SELECT f.kind, f.key, f.amount_cents, f.state, f.event_created, f.object_created
             FROM stripe_facts f, conversions c
             WHERE c.id = $1 AND f.tenant = c.tenant
               AND (f.payment_intent = c.stripe_payment_intent OR f.charge = c.stripe_charge
                    OR f.invoice = c.stripe_invoice)",
            &[&id],
        )
        .await?;
        Ok(rows.iter().map(stored_fact).collect())
    }

    async fn refunded_cents_under(&mut self, id: i64, prefix: &str) -> Result<i64, Fail> {
        let row = q_opt(
            self.0,
            "SELECT coalesce(sum(amount_cents), 0)::bigint FROM refunds
             WHERE conversion_id = $1 AND starts_with(refund_id, $2)",
            &[&id, &prefix],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("refund sum returned nothing".into()))?;
        Ok(row.get(0))
    }

    async fn record_sale(&mut self, e: &StripeEventIn) -> Result<StripeOutcome, Fail> {
        ops::stripe_sale(self.0, e).await
    }

    async fn attribute_existing(&mut self, id: i64, s: &SaleIn) -> Result<SaleOut, Fail> {
        ops::attribute_existing(self.0, id, s).await
    }
}
