//! Stripe events on PostgreSQL, the same rules as on SQLite: the
//! event id is claimed, then the event is a sale (`ops::stripe_sale`, matched against the same
//! payment seen through another event), an async payment result, a free-trial link, or a
//! money fact (refund, charge refunded total, dispute) kept by object id and settled against
//! its sale (domain `stripe::settle`). Two collectors handling events of one payment at once
//! take the same advisory locks (one per Stripe id the event names, in order), and the sale
//! row is locked before it is settled.

use clicktrail_app::ledger::ReversalRow;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ledger::reversal_available_at;
use clicktrail_domain::stripe::{merge, settle, Books, Fact, FactKind, FactState};
use clicktrail_store::{
    PaymentResult, StoreError, StripeEventIn, StripeFactIn, StripeIds, StripeLinkIn,
    StripeMoneyOut, StripeOutcome,
};
use tokio_postgres::Row;

use crate::ops::{attribute_existing, exec, q, q_opt, resolve, stripe_sale, Tx};
use crate::refund::{append_reversal, ledger_of, set_status_body};
use crate::{Fail, PgStore};

pub(crate) async fn stripe_event(
    store: &PgStore,
    e: &StripeEventIn,
) -> Result<StripeOutcome, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = body(&tx, e).await?;
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

async fn body(tx: &Tx<'_>, e: &StripeEventIn) -> Result<StripeOutcome, Fail> {
    // a concurrent delivery of the same event waits here until the first one commits
    let fresh = q_opt(
        tx,
        "INSERT INTO stripe_events (tenant, event_id, type, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING RETURNING 1",
        &[&e.tenant, &e.event_id, &e.event_type, &e.now],
    )
    .await?;
    if fresh.is_none() {
        return Ok(StripeOutcome::Duplicate);
    }
    for k in lock_keys(e) {
        exec(
            tx,
            "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
            &[&e.tenant, &format!("stripe:{k}")],
        )
        .await?;
    }
    let m = &e.money;
    if let Some(link) = &m.link {
        trial_link(tx, &e.tenant, link, e.now).await?;
        return Ok(StripeOutcome::Settled(StripeMoneyOut::default()));
    }
    if !m.facts.is_empty() {
        for f in &m.facts {
            keep_fact(tx, e, f).await?;
        }
        return Ok(StripeOutcome::Settled(settle_facts(tx, e).await?));
    }
    let Some(s) = &e.sale else {
        return Ok(StripeOutcome::Recorded { sale: None });
    };
    if let Some(p) = m.payment {
        if let Some(id) = by_transaction(tx, &s.tenant, &s.transaction_id).await? {
            merge_ids(tx, id, &m.ids).await?;
            match p {
                PaymentResult::Succeeded => {
                    exec(
                        tx,
                        "UPDATE conversions SET held_payment = false,
                            status = CASE WHEN status = 'pending' THEN 'approved' ELSE status END
                         WHERE id = $1",
                        &[&id],
                    )
                    .await?;
                }
                PaymentResult::Failed => {
                    set_status_body(tx, &s.tenant, &id.to_string(), Status::Declined, e.now)
                        .await?;
                    exec(
                        tx,
                        "UPDATE conversions SET held_payment = false WHERE id = $1",
                        &[&id],
                    )
                    .await?;
                }
            }
            return Ok(StripeOutcome::Settled(settle_sale(tx, e, id).await?));
        }
    }
    // the same payment told by another event (a checkout with `invoice_creation` and its
    // invoice, in either order): one sale, credited to the visitor if it was not yet
    if let Some((id, attributed)) = same_payment(tx, &s.tenant, &m.ids).await? {
        merge_ids(tx, id, &m.ids).await?;
        if paid(e) {
            // the invoice of a checkout that completed unpaid: the money is in
            exec(
                tx,
                "UPDATE conversions SET held_payment = false, status = 'approved'
                 WHERE id = $1 AND held_payment AND status = 'pending'",
                &[&id],
            )
            .await?;
        }
        let would = resolve(tx, &s.tenant, &s.target)
            .await?
            .is_some_and(|r| clicktrail_domain::attribution::attributes(r.expires_at, s.now));
        if !attributed && would {
            let out = attribute_existing(tx, id, s).await?;
            settle_sale(tx, e, id).await?;
            return Ok(StripeOutcome::Recorded { sale: Some(out) });
        }
        return Ok(StripeOutcome::Recorded { sale: None });
    }
    let out = stripe_sale(tx, e).await?;
    let id = match &out {
        StripeOutcome::Recorded { sale: Some(o) } => Some(o.sale_id),
        _ => counted_sale(tx, e).await?,
    };
    if let Some(id) = id {
        merge_ids(tx, id, &m.ids).await?;
        if matches!(&out, StripeOutcome::Recorded { sale: Some(_) }) {
            exec(
                tx,
                "UPDATE conversions SET livemode = $2, held_payment = $3 WHERE id = $1",
                &[&id, &!m.test_mode, &m.hold_payment],
            )
            .await?;
        }
        // money facts that arrived before the sale
        settle_sale(tx, e, id).await?;
    }
    Ok(out)
}

/// The event tells a payment that went through (not one waiting for an async method).
fn paid(e: &StripeEventIn) -> bool {
    e.sale
        .as_ref()
        .is_some_and(|s| s.status == Status::Approved && !e.money.hold_payment)
}

async fn by_transaction(tx: &Tx<'_>, tenant: &str, t: &str) -> Result<Option<i64>, Fail> {
    Ok(q_opt(
        tx,
        "SELECT id FROM conversions WHERE tenant = $1 AND transaction_id = $2",
        &[&tenant, &t],
    )
    .await?
    .map(|r| r.get(0)))
}

/// The sale an event's sale was counted as when it recorded none (a retry by transaction id,
/// or a subscription's first payment).
async fn counted_sale(tx: &Tx<'_>, e: &StripeEventIn) -> Result<Option<i64>, Fail> {
    let Some(s) = &e.sale else { return Ok(None) };
    if let Some(id) = by_transaction(tx, &s.tenant, &s.transaction_id).await? {
        return Ok(Some(id));
    }
    match (&s.subscription_id, e.first_payment) {
        (Some(sub), true) => Ok(q_opt(
            tx,
            "SELECT id FROM conversions WHERE tenant = $1 AND subscription_id = $2
             ORDER BY id LIMIT 1",
            &[&s.tenant, sub],
        )
        .await?
        .map(|r| r.get(0))),
        _ => Ok(None),
    }
}

/// A sale already recorded for the same invoice or payment intent.
async fn same_payment(
    tx: &Tx<'_>,
    tenant: &str,
    ids: &StripeIds,
) -> Result<Option<(i64, bool)>, Fail> {
    if ids.invoice.is_none() && ids.payment_intent.is_none() {
        return Ok(None);
    }
    Ok(q_opt(
        tx,
        "SELECT id, attributed FROM conversions
         WHERE tenant = $1 AND (stripe_invoice = $2 OR stripe_payment_intent = $3)
         ORDER BY id LIMIT 1",
        &[&tenant, &ids.invoice, &ids.payment_intent],
    )
    .await?
    .map(|r| (r.get(0), r.get(1))))
}

/// Keeps the ids a sale did not have yet.
async fn merge_ids(tx: &Tx<'_>, id: i64, ids: &StripeIds) -> Result<(), Fail> {
    if ids.is_empty() {
        return Ok(());
    }
    exec(
        tx,
        "UPDATE conversions SET stripe_payment_intent = COALESCE(stripe_payment_intent, $2),
            stripe_charge = COALESCE(stripe_charge, $3), stripe_invoice = COALESCE(stripe_invoice, $4),
            stripe_customer = COALESCE(stripe_customer, $5)
         WHERE id = $1",
        &[
            &id,
            &ids.payment_intent,
            &ids.charge,
            &ids.invoice,
            &ids.customer,
        ],
    )
    .await?;
    Ok(())
}

async fn trial_link(tx: &Tx<'_>, tenant: &str, l: &StripeLinkIn, now: i64) -> Result<(), Fail> {
    let Some(r) = resolve(tx, tenant, &l.target).await? else {
        return Ok(());
    };
    for (kind, id) in [("subscription", &l.subscription), ("customer", &l.customer)] {
        if let Some(id) = id {
            exec(
                tx,
                "INSERT INTO stripe_links (tenant, kind, stripe_id, cid, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&tenant, &kind, id, &r.cid.as_str(), &now],
            )
            .await?;
        }
    }
    Ok(())
}

fn read_fact(r: &Row) -> Result<Fact, Fail> {
    let kind: String = r.get(0);
    let state: String = r.get(3);
    let (Some(k), Some(st)) = (FactKind::parse(&kind), FactState::parse(&state)) else {
        return Err(StoreError::Internal(format!("stripe fact `{kind}` `{state}`")).into());
    };
    Ok(Fact {
        kind: k,
        key: r.get(1),
        amount_cents: r.get(2),
        state: st,
        event_created: r.get(4),
        object_created: r.get(5),
    })
}

/// Keeps the fact (the newer event wins).
async fn keep_fact(tx: &Tx<'_>, e: &StripeEventIn, f: &StripeFactIn) -> Result<(), Fail> {
    let n = &f.fact;
    let prior = q_opt(
        tx,
        "SELECT kind, key, amount_cents, state, event_created, object_created FROM stripe_facts
         WHERE tenant = $1 AND kind = $2 AND key = $3 FOR UPDATE",
        &[&e.tenant, &n.kind.as_str(), &n.key],
    )
    .await?;
    let mut known = prior
        .as_ref()
        .map(read_fact)
        .transpose()?
        .into_iter()
        .collect();
    let had = prior.is_some();
    if merge(&mut known, n.clone()) || !had {
        exec(
            tx,
            "INSERT INTO stripe_facts (tenant, kind, key, payment_intent, charge, invoice, amount_cents,
                state, event_created, object_created, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (tenant, kind, key) DO UPDATE SET amount_cents = excluded.amount_cents,
                state = excluded.state, event_created = excluded.event_created,
                object_created = excluded.object_created, event_id = excluded.event_id",
            &[
                &e.tenant,
                &n.kind.as_str(),
                &n.key,
                &f.payment_intent,
                &f.charge,
                &f.invoice,
                &n.amount_cents,
                &n.state.as_str(),
                &n.event_created,
                &n.object_created,
                &e.event_id,
            ],
        )
        .await?;
    }
    // the ids any event tells about the object are kept, whichever event is newer
    exec(
        tx,
        "UPDATE stripe_facts SET payment_intent = COALESCE(payment_intent, $4),
            charge = COALESCE(charge, $5), invoice = COALESCE(invoice, $6)
         WHERE tenant = $1 AND kind = $2 AND key = $3",
        &[
            &e.tenant,
            &n.kind.as_str(),
            &n.key,
            &f.payment_intent,
            &f.charge,
            &f.invoice,
        ],
    )
    .await?;
    Ok(())
}

/// Settles the sale the event's facts belong to, if it is known yet.
async fn settle_facts(tx: &Tx<'_>, e: &StripeEventIn) -> Result<StripeMoneyOut, Fail> {
    for f in &e.money.facts {
        let sale = q_opt(
            tx,
            "SELECT id FROM conversions WHERE tenant = $1
                AND (stripe_payment_intent = $2 OR stripe_charge = $3 OR stripe_invoice = $4)
             ORDER BY id LIMIT 1",
            &[&e.tenant, &f.payment_intent, &f.charge, &f.invoice],
        )
        .await?;
        let Some(row) = sale else { continue };
        let id: i64 = row.get(0);
        merge_ids(
            tx,
            id,
            &StripeIds {
                payment_intent: f.payment_intent.clone(),
                charge: f.charge.clone(),
                ..StripeIds::default()
            },
        )
        .await?;
        return settle_sale(tx, e, id).await;
    }
    Ok(StripeMoneyOut::default())
}

/// Settles sale `id` against every fact known about its payment: records the refunded amount
/// and the reversal (or give-back) the facts call for, and the dispute hold.
async fn settle_sale(tx: &Tx<'_>, e: &StripeEventIn, id: i64) -> Result<StripeMoneyOut, Fail> {
    // an invoice's payment intent and charge, told by `invoice_payment.paid` (basil)
    exec(
        tx,
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
    let row = q_opt(
        tx,
        "SELECT transaction_id, affiliate, amount_cents, currency, status, held_payment
         FROM conversions WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .ok_or_else(|| StoreError::Internal(format!("sale {id} vanished")))?;
    let txn: Option<String> = row.get(0);
    let affiliate: Option<String> = row.get(1);
    let amount: i64 = row.get(2);
    let currency: String = row.get(3);
    let status: String = row.get(4);
    let held_payment: bool = row.get(5);
    let facts = q(
        tx,
        "SELECT f.kind, f.key, f.amount_cents, f.state, f.event_created, f.object_created
         FROM stripe_facts f, conversions c
         WHERE c.id = $1 AND f.tenant = c.tenant
           AND (f.payment_intent = c.stripe_payment_intent OR f.charge = c.stripe_charge
                OR f.invoice = c.stripe_invoice)",
        &[&id],
    )
    .await?
    .iter()
    .map(read_fact)
    .collect::<Result<Vec<_>, _>>()?;
    let (accrued, reversed, accrual_at) = ledger_of(tx, id).await?;
    let sums = q_opt(
        tx,
        "SELECT coalesce(sum(amount_cents), 0)::bigint,
            coalesce(sum(CASE WHEN refund_id LIKE 'stripe:%' THEN amount_cents ELSE 0 END), 0)::bigint
         FROM refunds WHERE conversion_id = $1",
        &[&id],
    )
    .await?
    .ok_or_else(|| StoreError::Internal("refund sums returned nothing".into()))?;
    let refunded: i64 = sums.get(0);
    let applied: i64 = sums.get(1);
    let books = Books {
        amount_cents: amount,
        accrued_cents: accrued,
        reversed_cents: reversed,
        refunded_cents: refunded,
        stripe_applied_cents: applied,
        declined: status == Status::Declined.as_str(),
    };
    let s = settle(&books, &facts)?;
    let mut entry: Option<i64> = None;
    if s.reversal_delta_cents != 0 {
        if let Some(aff) = &affiliate {
            let at = reversal_available_at(e.now, accrual_at);
            let reason = format!("stripe {} {}", e.event_type, e.event_id);
            entry = Some(
                append_reversal(
                    tx,
                    &ReversalRow {
                        tenant: &e.tenant,
                        affiliate: aff,
                        conversion_id: id,
                        cents: s.reversal_delta_cents,
                        currency: &currency,
                        available_at: at,
                        reason: &reason,
                        now: e.now,
                    },
                )
                .await?,
            );
        }
    }
    let reversed_now = if entry.is_some() {
        s.reversal_delta_cents
    } else {
        0
    };
    if s.refund_delta_cents != 0 || entry.is_some() {
        exec(
            tx,
            "INSERT INTO refunds (tenant, refund_id, conversion_id, transaction_id, requested_cents,
                amount_cents, reason, commission_reversed_cents, ledger_entry_id, created_at)
             VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $9)",
            &[
                &e.tenant,
                &format!("stripe:{}", e.event_id),
                &id,
                &txn.unwrap_or_default(),
                &s.refund_delta_cents,
                &e.event_type,
                &reversed_now,
                &entry,
                &e.now,
            ],
        )
        .await?;
    }
    exec(
        tx,
        "UPDATE conversions SET held_dispute = $2 WHERE id = $1",
        &[&id, &s.held],
    )
    .await?;
    Ok(StripeMoneyOut {
        sale_id: Some(id),
        refunded_cents: refunded + s.refund_delta_cents,
        reversed_cents: reversed_now,
        held: s.held || held_payment,
    })
}
