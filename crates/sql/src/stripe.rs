//! The rows of a Stripe event (`clicktrail_app::stripe`): its claimed id, the links and facts
//! it keeps, the sale it settles. Two collectors handling events of one payment at once
//! serialize on every Stripe id the event names (in order), and the sale's and the fact's rows
//! are locked before they are settled; a second delivery of one event waits on its claim.

use clicktrail_app::stripe::{StoredFact, StripeRows, StripeSale};
use clicktrail_domain::attribution::Resolved;
use clicktrail_domain::money::Overflow;
use clicktrail_domain::stripe::Fact;
use clicktrail_store::{
    SaleIn, SaleOut, StripeEventIn, StripeFactIn, StripeIds, StripeOutcome, Target,
};

use crate::{Args, Db, Row, Sql};

/// Every Stripe id the event names (payment intent, charge, invoice, the sale's transaction
/// id), sorted: the locks two events of one payment share, always taken in this order.
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

const FACT_COLUMNS: &str = "kind, key, amount_cents, state, event_created, object_created";

fn stored_fact(r: &Row) -> Result<StoredFact, clicktrail_store::StoreError> {
    Ok(StoredFact {
        kind: r.get(0)?,
        key: r.get(1)?,
        amount_cents: r.get(2)?,
        state: r.get(3)?,
        event_created: r.get(4)?,
        object_created: r.get(5)?,
    })
}

/// The first row's id, if any.
async fn first_id<D: Db>(db: &D, sql: &str, args: Args<'_>) -> Result<Option<i64>, D::Error> {
    Ok(db
        .query_opt(sql, args)
        .await?
        .map(|r| r.get(0))
        .transpose()?)
}

impl<D: Db> StripeRows for Sql<D> {
    async fn claim_event(&mut self, e: &StripeEventIn) -> Result<bool, D::Error> {
        // a concurrent delivery of the same event waits here until the first one commits
        let fresh = self
            .0
            .query_opt(
                "INSERT INTO stripe_events (tenant, event_id, type, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING RETURNING 1",
                &[&e.tenant, &e.event_id, &e.event_type, &e.now],
            )
            .await?;
        Ok(fresh.is_some())
    }

    async fn lock_payment(&mut self, e: &StripeEventIn) -> Result<(), D::Error> {
        for k in lock_keys(e) {
            self.0
                .serialize(&format!("stripe:{}:{k}", e.tenant))
                .await?;
        }
        Ok(())
    }

    async fn resolve(
        &mut self,
        tenant: &str,
        target: &Target,
    ) -> Result<Option<Resolved>, D::Error> {
        crate::ops::resolve(&self.0, tenant, target).await
    }

    async fn link(
        &mut self,
        tenant: &str,
        kind: &str,
        stripe_id: &str,
        cid: &str,
        now: i64,
    ) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO stripe_links (tenant, kind, stripe_id, cid, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&tenant, &kind, &stripe_id, &cid, &now],
            )
            .await?;
        Ok(())
    }

    async fn sale_by_transaction(
        &mut self,
        tenant: &str,
        tx: &str,
    ) -> Result<Option<i64>, D::Error> {
        first_id(
            &self.0,
            "SELECT id FROM conversions WHERE tenant = $1 AND transaction_id = $2",
            &[&tenant, &tx],
        )
        .await
    }

    async fn first_sale_of_subscription(
        &mut self,
        tenant: &str,
        sub: &str,
    ) -> Result<Option<i64>, D::Error> {
        first_id(
            &self.0,
            "SELECT id FROM conversions WHERE tenant = $1 AND subscription_id = $2 ORDER BY id LIMIT 1",
            &[&tenant, &sub],
        )
        .await
    }

    async fn sale_by_payment(
        &mut self,
        tenant: &str,
        ids: &StripeIds,
    ) -> Result<Option<(i64, bool)>, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT id, attributed FROM conversions
                 WHERE tenant = $1 AND (stripe_invoice = $2 OR stripe_payment_intent = $3)
                 ORDER BY id LIMIT 1",
                &[&tenant, &ids.invoice, &ids.payment_intent],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some((r.get(0)?, r.get(1)?)))
    }

    async fn sale_by_fact(
        &mut self,
        tenant: &str,
        f: &StripeFactIn,
    ) -> Result<Option<i64>, D::Error> {
        first_id(
            &self.0,
            "SELECT id FROM conversions WHERE tenant = $1
                AND (stripe_payment_intent = $2 OR stripe_charge = $3 OR stripe_invoice = $4)
             ORDER BY id LIMIT 1",
            &[&tenant, &f.payment_intent, &f.charge, &f.invoice],
        )
        .await
    }

    async fn merge_ids(&mut self, id: i64, ids: &StripeIds) -> Result<(), D::Error> {
        self.0
            .execute(
                "UPDATE conversions SET stripe_payment_intent = COALESCE(stripe_payment_intent, $2),
                    stripe_charge = COALESCE(stripe_charge, $3), stripe_invoice = COALESCE(stripe_invoice, $4),
                    stripe_customer = COALESCE(stripe_customer, $5)
                 WHERE id = $1",
                &[&id, &ids.payment_intent, &ids.charge, &ids.invoice, &ids.customer],
            )
            .await?;
        Ok(())
    }

    async fn learn_invoice_payment(&mut self, id: i64) -> Result<(), D::Error> {
        self.0
            .execute(
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

    async fn stripe_sale(&mut self, id: i64) -> Result<Option<StripeSale>, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT transaction_id, affiliate, amount_cents, currency, status, held_payment
                 FROM conversions WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StripeSale {
            transaction_id: r.get(0)?,
            affiliate: r.get(1)?,
            amount_cents: r.get(2)?,
            currency: r.get(3)?,
            status: r.get(4)?,
            held_payment: r.get(5)?,
        }))
    }

    async fn set_mode(&mut self, id: i64, live: bool, held_payment: bool) -> Result<(), D::Error> {
        self.0
            .execute(
                "UPDATE conversions SET livemode = $2, held_payment = $3 WHERE id = $1",
                &[&id, &live, &held_payment],
            )
            .await?;
        Ok(())
    }

    async fn set_held_payment(&mut self, id: i64, held: bool) -> Result<(), D::Error> {
        self.0
            .execute(
                "UPDATE conversions SET held_payment = $2 WHERE id = $1",
                &[&id, &held],
            )
            .await?;
        Ok(())
    }

    async fn set_held_dispute(&mut self, id: i64, held: bool) -> Result<(), D::Error> {
        self.0
            .execute(
                "UPDATE conversions SET held_dispute = $2 WHERE id = $1",
                &[&id, &held],
            )
            .await?;
        Ok(())
    }

    async fn fact(&mut self, tenant: &str, f: &Fact) -> Result<Option<StoredFact>, D::Error> {
        let row = self
            .0
            .query_opt(
                &format!(
                    "SELECT {FACT_COLUMNS} FROM stripe_facts
                     WHERE tenant = $1 AND kind = $2 AND key = $3 FOR UPDATE"
                ),
                &[&tenant, &f.kind.as_str(), &f.key],
            )
            .await?;
        Ok(row.as_ref().map(stored_fact).transpose()?)
    }

    async fn put_fact(
        &mut self,
        tenant: &str,
        event_id: &str,
        f: &StripeFactIn,
    ) -> Result<(), D::Error> {
        let n = &f.fact;
        self.0
            .execute(
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

    async fn merge_fact_ids(&mut self, tenant: &str, f: &StripeFactIn) -> Result<(), D::Error> {
        self.0
            .execute(
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

    async fn sale_facts(&mut self, id: i64) -> Result<Vec<StoredFact>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT f.kind, f.key, f.amount_cents, f.state, f.event_created, f.object_created
                 FROM stripe_facts f, conversions c
                 WHERE c.id = $1 AND f.tenant = c.tenant
                   AND (f.payment_intent = c.stripe_payment_intent OR f.charge = c.stripe_charge
                        OR f.invoice = c.stripe_invoice)",
                &[&id],
            )
            .await?;
        Ok(rows.iter().map(stored_fact).collect::<Result<_, _>>()?)
    }

    /// Summed here, checked, like `refunded_cents` (a sale has few refunds).
    async fn refunded_cents_under(&mut self, id: i64, prefix: &str) -> Result<i64, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT amount_cents FROM refunds
                 WHERE conversion_id = $1 AND substr(refund_id, 1, length(CAST($2 AS TEXT))) = $2",
                &[&id, &prefix],
            )
            .await?;
        let mut total = 0i64;
        for r in rows {
            total = total.checked_add(r.get(0)?).ok_or(Overflow)?;
        }
        Ok(total)
    }

    async fn record_sale(&mut self, e: &StripeEventIn) -> Result<StripeOutcome, D::Error> {
        clicktrail_app::sale::stripe_sale(self, e).await
    }

    async fn attribute_existing(&mut self, id: i64, s: &SaleIn) -> Result<SaleOut, D::Error> {
        clicktrail_app::sale::attribute_existing(self, id, s).await
    }
}
