//! Stripe events: the event id is claimed, then the event is a
//! sale (`ops::stripe_sale`, matched against the same payment seen through another event), an
//! async payment result, a free-trial link, or a money fact (refund, charge refunded total,
//! dispute) kept by object id and settled against its sale (domain `stripe::settle`).

use clicktrail_app::ledger::ReversalRow;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ledger::reversal_available_at;
use clicktrail_domain::stripe::{merge, settle, Books, Fact, FactKind, FactState};
use clicktrail_store::{
    PaymentResult, StoreError, StoreResult, StripeEventIn, StripeFactIn, StripeIds, StripeLinkIn,
    StripeMoneyOut, StripeOutcome,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::ops::{attribute_existing, resolve, stripe_sale};
use crate::refund::{append_reversal, ledger_of, set_status};

pub(crate) fn stripe_event(conn: &Connection, e: &StripeEventIn) -> StoreResult<StripeOutcome> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO stripe_events (tenant, event_id, type, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![e.tenant, e.event_id, e.event_type, e.now])?;
    if inserted == 0 {
        return Ok(StripeOutcome::Duplicate);
    }
    let m = &e.money;
    if let Some(link) = &m.link {
        trial_link(conn, &e.tenant, link, e.now)?;
        return Ok(StripeOutcome::Settled(StripeMoneyOut::default()));
    }
    if !m.facts.is_empty() {
        for f in &m.facts {
            keep_fact(conn, e, f)?;
        }
        return Ok(StripeOutcome::Settled(settle_facts(conn, e)?));
    }
    let Some(s) = &e.sale else {
        return Ok(StripeOutcome::Recorded { sale: None });
    };
    if let Some(p) = m.payment {
        if let Some(id) = by_transaction(conn, &s.tenant, &s.transaction_id)? {
            merge_ids(conn, id, &m.ids)?;
            match p {
                PaymentResult::Succeeded => {
                    conn.prepare_cached(
                        "UPDATE conversions SET held_payment = 0,
                            status = CASE WHEN status = 'pending' THEN 'approved' ELSE status END
                         WHERE id = ?1",
                    )?
                    .execute([id])?;
                }
                PaymentResult::Failed => {
                    set_status(conn, &s.tenant, &id.to_string(), Status::Declined, e.now)?;
                    conn.prepare_cached("UPDATE conversions SET held_payment = 0 WHERE id = ?1")?
                        .execute([id])?;
                }
            }
            return Ok(StripeOutcome::Settled(settle_sale(conn, e, id)?));
        }
        // the result came before the checkout: recorded from it (the handler made the sale
        // approved or declined)
    }
    // the same payment told by another event (a checkout with `invoice_creation` and its
    // invoice, in either order): one sale, credited to the visitor if it was not yet
    if let Some((id, attributed)) = same_payment(conn, &s.tenant, &m.ids)? {
        merge_ids(conn, id, &m.ids)?;
        if paid(e) {
            // the invoice of a checkout that completed unpaid: the money is in
            conn.prepare_cached(
                "UPDATE conversions SET held_payment = 0, status = 'approved'
                 WHERE id = ?1 AND held_payment = 1 AND status = 'pending'",
            )?
            .execute([id])?;
        }
        let would = resolve(conn, &s.tenant, &s.target)?
            .is_some_and(|r| clicktrail_domain::attribution::attributes(r.expires_at, s.now));
        if !attributed && would {
            let out = attribute_existing(conn, id, s)?;
            settle_sale(conn, e, id)?;
            return Ok(StripeOutcome::Recorded { sale: Some(out) });
        }
        return Ok(StripeOutcome::Recorded { sale: None });
    }
    let out = stripe_sale(conn, e)?;
    let id = match &out {
        StripeOutcome::Recorded { sale: Some(o) } => Some(o.sale_id),
        _ => counted_sale(conn, e)?,
    };
    if let Some(id) = id {
        merge_ids(conn, id, &m.ids)?;
        if matches!(&out, StripeOutcome::Recorded { sale: Some(_) }) {
            conn.prepare_cached(
                "UPDATE conversions SET livemode = ?2, held_payment = ?3 WHERE id = ?1",
            )?
            .execute(params![id, !m.test_mode, m.hold_payment])?;
        }
        // money facts that arrived before the sale
        settle_sale(conn, e, id)?;
    }
    Ok(out)
}

/// The event tells a payment that went through (not one waiting for an async method).
fn paid(e: &StripeEventIn) -> bool {
    e.sale
        .as_ref()
        .is_some_and(|s| s.status == Status::Approved && !e.money.hold_payment)
}

fn by_transaction(conn: &Connection, tenant: &str, tx: &str) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM conversions WHERE tenant = ?1 AND transaction_id = ?2")?
        .query_row(params![tenant, tx], |r| r.get(0))
        .optional()?)
}

/// The sale an event's sale was counted as when it recorded none (a retry by transaction id,
/// or a subscription's first payment).
fn counted_sale(conn: &Connection, e: &StripeEventIn) -> StoreResult<Option<i64>> {
    let Some(s) = &e.sale else { return Ok(None) };
    if let Some(id) = by_transaction(conn, &s.tenant, &s.transaction_id)? {
        return Ok(Some(id));
    }
    match (&s.subscription_id, e.first_payment) {
        (Some(sub), true) => Ok(conn
            .prepare_cached(
                "SELECT id FROM conversions WHERE tenant = ?1 AND subscription_id = ?2
                 ORDER BY id LIMIT 1",
            )?
            .query_row(params![s.tenant, sub], |r| r.get(0))
            .optional()?),
        _ => Ok(None),
    }
}

/// A sale already recorded for the same invoice or payment intent.
fn same_payment(
    conn: &Connection,
    tenant: &str,
    ids: &StripeIds,
) -> StoreResult<Option<(i64, bool)>> {
    if ids.invoice.is_none() && ids.payment_intent.is_none() {
        return Ok(None);
    }
    Ok(conn
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

/// Keeps the ids a sale did not have yet.
fn merge_ids(conn: &Connection, id: i64, ids: &StripeIds) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE conversions SET stripe_payment_intent = COALESCE(stripe_payment_intent, ?2),
            stripe_charge = COALESCE(stripe_charge, ?3), stripe_invoice = COALESCE(stripe_invoice, ?4),
            stripe_customer = COALESCE(stripe_customer, ?5)
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        ids.payment_intent,
        ids.charge,
        ids.invoice,
        ids.customer
    ])?;
    Ok(())
}

fn trial_link(conn: &Connection, tenant: &str, l: &StripeLinkIn, now: i64) -> StoreResult<()> {
    let Some(r) = resolve(conn, tenant, &l.target)? else {
        return Ok(());
    };
    let mut st = conn.prepare_cached(
        "INSERT INTO stripe_links (tenant, kind, stripe_id, cid, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO NOTHING",
    )?;
    for (kind, id) in [("subscription", &l.subscription), ("customer", &l.customer)] {
        if let Some(id) = id {
            st.execute(params![tenant, kind, id, r.cid.as_str(), now])?;
        }
    }
    Ok(())
}

fn read_fact(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, Fact)> {
    let kind: String = r.get(0)?;
    let state: String = r.get(3)?;
    Ok((
        kind.clone(),
        state.clone(),
        Fact {
            kind: FactKind::parse(&kind).unwrap_or(FactKind::Refund),
            key: r.get(1)?,
            amount_cents: r.get(2)?,
            state: FactState::parse(&state).unwrap_or(FactState::Counted),
            event_created: r.get(4)?,
            object_created: r.get(5)?,
        },
    ))
}

fn checked(rows: Vec<(String, String, Fact)>) -> StoreResult<Vec<Fact>> {
    rows.into_iter()
        .map(|(k, s, f)| {
            if FactKind::parse(&k).is_none() || FactState::parse(&s).is_none() {
                Err(StoreError::Internal(format!("stripe fact `{k}` `{s}`")))
            } else {
                Ok(f)
            }
        })
        .collect()
}

/// Keeps the fact (the newer event wins).
fn keep_fact(conn: &Connection, e: &StripeEventIn, f: &StripeFactIn) -> StoreResult<()> {
    let prior = conn
        .prepare_cached(
            "SELECT kind, key, amount_cents, state, event_created, object_created FROM stripe_facts
             WHERE tenant = ?1 AND kind = ?2 AND key = ?3",
        )?
        .query_row(
            params![e.tenant, f.fact.kind.as_str(), f.fact.key],
            read_fact,
        )
        .optional()?;
    let mut known = checked(prior.into_iter().collect())?;
    let had = !known.is_empty();
    if merge(&mut known, f.fact.clone()) || !had {
        let n = &f.fact;
        conn.prepare_cached(
            "INSERT INTO stripe_facts (tenant, kind, key, payment_intent, charge, invoice, amount_cents,
                state, event_created, object_created, event_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (tenant, kind, key) DO UPDATE SET amount_cents = excluded.amount_cents,
                state = excluded.state, event_created = excluded.event_created,
                object_created = excluded.object_created, event_id = excluded.event_id",
        )?
        .execute(params![
            e.tenant,
            n.kind.as_str(),
            n.key,
            f.payment_intent,
            f.charge,
            f.invoice,
            n.amount_cents,
            n.state.as_str(),
            n.event_created,
            n.object_created,
            e.event_id
        ])?;
    }
    // the ids any event tells about the object are kept, whichever event is newer
    conn.prepare_cached(
        "UPDATE stripe_facts SET payment_intent = COALESCE(payment_intent, ?4),
            charge = COALESCE(charge, ?5), invoice = COALESCE(invoice, ?6)
         WHERE tenant = ?1 AND kind = ?2 AND key = ?3",
    )?
    .execute(params![
        e.tenant,
        f.fact.kind.as_str(),
        f.fact.key,
        f.payment_intent,
        f.charge,
        f.invoice
    ])?;
    Ok(())
}

/// Settles the sale the event's facts belong to, if it is known yet.
fn settle_facts(conn: &Connection, e: &StripeEventIn) -> StoreResult<StripeMoneyOut> {
    for f in &e.money.facts {
        let sale: Option<i64> = conn
            .prepare_cached(
                "SELECT id FROM conversions WHERE tenant = ?1
                    AND (stripe_payment_intent = ?2 OR stripe_charge = ?3 OR stripe_invoice = ?4)
                 ORDER BY id LIMIT 1",
            )?
            .query_row(
                params![e.tenant, f.payment_intent, f.charge, f.invoice],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = sale else { continue };
        merge_ids(
            conn,
            id,
            &StripeIds {
                payment_intent: f.payment_intent.clone(),
                charge: f.charge.clone(),
                ..StripeIds::default()
            },
        )?;
        return settle_sale(conn, e, id);
    }
    Ok(StripeMoneyOut::default())
}

const LEARN_FROM_INVOICE_PAYMENT: &str = "UPDATE conversions SET
    stripe_payment_intent = COALESCE(stripe_payment_intent,
        (SELECT f.payment_intent FROM stripe_facts f WHERE f.tenant = conversions.tenant
            AND f.kind = 'invoice_payment' AND f.invoice = conversions.stripe_invoice
            AND f.payment_intent IS NOT NULL ORDER BY f.key LIMIT 1)),
    stripe_charge = COALESCE(stripe_charge,
        (SELECT f.charge FROM stripe_facts f WHERE f.tenant = conversions.tenant
            AND f.kind = 'invoice_payment' AND f.invoice = conversions.stripe_invoice
            AND f.charge IS NOT NULL ORDER BY f.key LIMIT 1))
    WHERE id = ?1 AND stripe_invoice IS NOT NULL";

/// Settles sale `id` against every fact known about its payment: records the refunded amount
/// and the reversal (or give-back) the facts call for, and the dispute hold.
fn settle_sale(conn: &Connection, e: &StripeEventIn, id: i64) -> StoreResult<StripeMoneyOut> {
    type SaleRow = (
        String,
        Option<String>,
        i64,
        String,
        String,
        Option<String>,
        bool,
    );
    // an invoice's payment intent and charge, told by `invoice_payment.paid` (basil)
    conn.prepare_cached(LEARN_FROM_INVOICE_PAYMENT)?
        .execute([id])?;
    let (tx, affiliate, amount, currency, status, _pi, held_payment): SaleRow = conn
        .prepare_cached(
            "SELECT transaction_id, affiliate, amount_cents, currency, status, stripe_payment_intent,
                held_payment
             FROM conversions WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?;
    let mut st = conn.prepare_cached(
        "SELECT f.kind, f.key, f.amount_cents, f.state, f.event_created, f.object_created
         FROM stripe_facts f, conversions c
         WHERE c.id = ?1 AND f.tenant = c.tenant
           AND (f.payment_intent = c.stripe_payment_intent OR f.charge = c.stripe_charge
                OR f.invoice = c.stripe_invoice)",
    )?;
    let facts = checked(st.query_map([id], read_fact)?.collect::<Result<_, _>>()?)?;
    let (accrued, reversed, accrual_at) = ledger_of(conn, id)?;
    let (refunded, applied): (i64, i64) = conn
        .prepare_cached(
            "SELECT coalesce(sum(amount_cents), 0),
                coalesce(sum(CASE WHEN refund_id LIKE 'stripe:%' THEN amount_cents ELSE 0 END), 0)
             FROM refunds WHERE conversion_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let books = Books {
        amount_cents: amount,
        accrued_cents: accrued,
        reversed_cents: reversed,
        refunded_cents: refunded,
        stripe_applied_cents: applied,
        declined: status == Status::Declined.as_str(),
    };
    let s = settle(&books, &facts)?;
    let mut entry = None;
    if s.reversal_delta_cents != 0 {
        if let Some(aff) = &affiliate {
            let at = reversal_available_at(e.now, accrual_at);
            let reason = format!("stripe {} {}", e.event_type, e.event_id);
            entry = Some(append_reversal(
                conn,
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
            )?);
        }
    }
    if s.refund_delta_cents != 0 || entry.is_some() {
        conn.prepare_cached(
            "INSERT INTO refunds (tenant, refund_id, conversion_id, transaction_id, requested_cents,
                amount_cents, reason, commission_reversed_cents, ledger_entry_id, created_at)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            e.tenant,
            format!("stripe:{}", e.event_id),
            id,
            tx,
            s.refund_delta_cents,
            e.event_type,
            if entry.is_some() {
                s.reversal_delta_cents
            } else {
                0
            },
            entry,
            e.now
        ])?;
    }
    conn.prepare_cached("UPDATE conversions SET held_dispute = ?2 WHERE id = ?1")?
        .execute(params![id, s.held])?;
    Ok(StripeMoneyOut {
        sale_id: Some(id),
        refunded_cents: refunded + s.refund_delta_cents,
        reversed_cents: if entry.is_some() {
            s.reversal_delta_cents
        } else {
            0
        },
        held: s.held || held_payment,
    })
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
