//! The Stripe part of an event beyond its sale, from the event's one typed reading
//! ([`super::stripe_types::Object`]): the ids a sale keeps, test mode, async payment results,
//! free-trial links, and the money facts (refunds, a charge's refunded total, disputes, an
//! invoice's payment) that the store keeps by object id and settles against the sale (domain
//! `stripe::settle`).

use clicktrail_domain::ids::capped;
use clicktrail_domain::stripe::{Fact, FactKind, FactState};
use clicktrail_store::{SaleIn, StripeFactIn, StripeIds, StripeLinkIn, StripeMoney, Target};

use super::stripe_sale::target_from_metadata;
use super::stripe_types::{ref_id, Event, Object, Refund};

/// What `event` tells beyond its `sale` (made by [`super::stripe_sale::sale`]).
pub fn money(event: &Event, object: &Object, sale: Option<&SaleIn>, now: i64) -> StripeMoney {
    let created = event.created.unwrap_or(now);
    let fact = |kind, key, amount: Option<i64>, state, object_created: Option<i64>| Fact {
        kind,
        key,
        amount_cents: amount.unwrap_or(0),
        state,
        event_created: created,
        object_created: object_created.unwrap_or(created),
    };
    let mut m = StripeMoney {
        test_mode: event.livemode == Some(false),
        ..StripeMoney::default()
    };
    match object {
        Object::Checkout(cs, result) => {
            m.ids = StripeIds {
                payment_intent: capped(ref_id(&cs.payment_intent)),
                charge: None,
                invoice: capped(ref_id(&cs.invoice)),
                customer: capped(ref_id(&cs.customer)),
            };
            m.payment = *result;
            if result.is_none() {
                m.hold_payment = sale.is_some() && cs.payment_status.as_deref() == Some("unpaid");
                // a free trial: nothing paid, but the subscription and the customer are the
                // visitor's, so the first paid invoice is attributed
                let sub = capped(cs.subscription_id());
                if sale.is_none() && cs.amount_total.unwrap_or(0) == 0 && sub.is_some() {
                    let (target, _) =
                        target_from_metadata(cs.metadata.as_ref(), cs.client_reference_id());
                    if !matches!(target, Target::None) {
                        m.link = Some(StripeLinkIn {
                            target,
                            subscription: sub,
                            customer: m.ids.customer.clone(),
                        });
                    }
                }
            }
        }
        Object::Invoice(inv) => {
            m.ids = StripeIds {
                payment_intent: capped(inv.payment_intent_id()),
                charge: capped(inv.charge_id()),
                invoice: capped(inv.id()),
                customer: capped(ref_id(&inv.customer)),
            };
        }
        Object::Charge(ch) => {
            let Some(key) = capped(ch.id.as_deref()) else {
                return m;
            };
            let pi = capped(ref_id(&ch.payment_intent));
            let invoice = capped(ref_id(&ch.invoice));
            m.facts.push(StripeFactIn {
                fact: fact(
                    FactKind::ChargeRefunded,
                    key.clone(),
                    ch.amount_refunded,
                    FactState::Counted,
                    None,
                ),
                payment_intent: pi.clone(),
                charge: Some(key.clone()),
                invoice: invoice.clone(),
            });
            for r in ch.refunds.iter().flat_map(|l| &l.data) {
                if let Some(mut f) = refund_fact(r, created) {
                    f.payment_intent = f.payment_intent.or_else(|| pi.clone());
                    f.charge = Some(key.clone());
                    f.invoice = invoice.clone();
                    m.facts.push(f);
                }
            }
        }
        Object::InvoicePayment(ip) => {
            let pay = ip.payment.clone().unwrap_or_default();
            if let (Some(key), Some(invoice)) =
                (capped(ip.id.as_deref()), capped(ref_id(&ip.invoice)))
            {
                m.facts.push(StripeFactIn {
                    fact: fact(
                        FactKind::InvoicePayment,
                        key,
                        ip.amount_paid,
                        FactState::Counted,
                        None,
                    ),
                    payment_intent: capped(ref_id(&pay.payment_intent)),
                    charge: capped(ref_id(&pay.charge)),
                    invoice: Some(invoice),
                });
            }
        }
        Object::Refund(r) => m.facts.extend(refund_fact(r, created)),
        Object::Dispute(d) => {
            if let Some(key) = capped(d.id.as_deref()) {
                m.facts.push(StripeFactIn {
                    fact: fact(
                        FactKind::Dispute,
                        key,
                        d.amount,
                        FactState::of_dispute(d.status.as_deref()),
                        d.created,
                    ),
                    payment_intent: capped(ref_id(&d.payment_intent)),
                    charge: capped(ref_id(&d.charge)),
                    invoice: None,
                });
            }
        }
    }
    m
}

fn refund_fact(r: &Refund, created: i64) -> Option<StripeFactIn> {
    Some(StripeFactIn {
        fact: Fact {
            kind: FactKind::Refund,
            key: capped(r.id.as_deref())?,
            amount_cents: r.amount.unwrap_or(0),
            state: FactState::of_refund(r.status.as_deref()),
            event_created: created,
            object_created: r.created.unwrap_or(created),
        },
        payment_intent: capped(ref_id(&r.payment_intent)),
        charge: capped(ref_id(&r.charge)),
        invoice: None,
    })
}
