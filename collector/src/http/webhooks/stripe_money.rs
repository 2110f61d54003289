//! The Stripe part of an event beyond its sale: the ids a sale
//! keeps, test mode, async payment results, free-trial links, and the money facts (refunds, a
//! charge's refunded total, disputes) that the store keeps by object id and settles against
//! the sale (domain `stripe::settle`).

use clicktrail_domain::conversion::Status;
use clicktrail_domain::stripe::{Fact, FactKind, FactState};
use clicktrail_store::{
    PaymentResult, SaleIn, StripeFactIn, StripeIds, StripeLinkIn, StripeMoney, Target,
};

use super::stripe_object::{capped, object, target_from_metadata};
use super::stripe_types::{
    ref_id, Charge, CheckoutSession, Dispute, Event, Invoice, InvoicePaymentObject, Refund,
};
use crate::http::error::AppError;

/// A non-negative amount, or a 422 naming the field.
fn amount(v: Option<i64>, field: &str) -> Result<i64, AppError> {
    match v {
        Some(a) if a < 0 => Err(AppError::invalid(
            &format!("data.object.{field}"),
            "must not be negative",
        )),
        Some(a) => Ok(a),
        None => Ok(0),
    }
}

fn refund_fact(r: &Refund, created: i64) -> Result<Option<StripeFactIn>, AppError> {
    let Some(key) = capped(r.id.as_deref()) else {
        return Ok(None);
    };
    Ok(Some(StripeFactIn {
        fact: Fact {
            kind: FactKind::Refund,
            key,
            amount_cents: amount(r.amount, "amount")?,
            state: FactState::of_refund(r.status.as_deref()),
            event_created: created,
            object_created: r.created.unwrap_or(created),
        },
        payment_intent: capped(ref_id(&r.payment_intent)),
        charge: capped(ref_id(&r.charge)),
        invoice: None,
    }))
}

/// What `event` tells beyond its sale; `sale` (made by `sale_from_event`) is adjusted for an
/// async payment's result.
pub fn money_from_event(
    event: &Event,
    sale: &mut Option<SaleIn>,
    now: i64,
) -> Result<StripeMoney, AppError> {
    let created = event.created.unwrap_or(now);
    let mut m = StripeMoney {
        test_mode: event.livemode == Some(false),
        ..StripeMoney::default()
    };
    let kind = event.kind.as_deref().unwrap_or_default();
    match kind {
        "checkout.session.completed"
        | "checkout.session.async_payment_succeeded"
        | "checkout.session.async_payment_failed" => {
            let cs: CheckoutSession = object(event)?;
            m.ids = StripeIds {
                payment_intent: capped(ref_id(&cs.payment_intent)),
                charge: None,
                invoice: capped(ref_id(&cs.invoice)),
                customer: capped(ref_id(&cs.customer)),
            };
            match kind {
                "checkout.session.completed" => {
                    m.hold_payment =
                        sale.is_some() && cs.payment_status.as_deref() == Some("unpaid");
                    // a free trial: nothing paid, but the subscription and the customer are
                    // the visitor's, so the first paid invoice is attributed
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
                "checkout.session.async_payment_succeeded" => {
                    m.payment = Some(PaymentResult::Succeeded);
                    if let Some(s) = sale.as_mut() {
                        s.status = Status::Approved;
                    }
                }
                _ => {
                    m.payment = Some(PaymentResult::Failed);
                    if let Some(s) = sale.as_mut() {
                        s.status = Status::Declined;
                    }
                }
            }
        }
        "invoice.paid" | "invoice.payment_succeeded" => {
            let inv: Invoice = object(event)?;
            m.ids = StripeIds {
                payment_intent: capped(inv.payment_intent_id()),
                charge: capped(inv.charge_id()),
                invoice: capped(inv.id()),
                customer: capped(ref_id(&inv.customer)),
            };
        }
        "charge.refunded" => {
            let ch: Charge = object(event)?;
            let Some(key) = capped(ch.id.as_deref()) else {
                return Ok(m);
            };
            let pi = capped(ref_id(&ch.payment_intent));
            let invoice = capped(ref_id(&ch.invoice));
            m.facts.push(StripeFactIn {
                fact: Fact {
                    kind: FactKind::ChargeRefunded,
                    key: key.clone(),
                    amount_cents: amount(ch.amount_refunded, "amount_refunded")?,
                    state: FactState::Counted,
                    event_created: created,
                    object_created: created,
                },
                payment_intent: pi.clone(),
                charge: Some(key.clone()),
                invoice: invoice.clone(),
            });
            for r in ch.refunds.iter().flat_map(|l| &l.data) {
                if let Some(mut f) = refund_fact(r, created)? {
                    f.payment_intent = f.payment_intent.or_else(|| pi.clone());
                    f.charge = Some(key.clone());
                    f.invoice = invoice.clone();
                    m.facts.push(f);
                }
            }
        }
        "invoice_payment.paid" => {
            let ip: InvoicePaymentObject = object(event)?;
            let pay = ip.payment.unwrap_or_default();
            let (Some(key), Some(invoice)) =
                (capped(ip.id.as_deref()), capped(ref_id(&ip.invoice)))
            else {
                return Ok(m);
            };
            m.facts.push(StripeFactIn {
                fact: Fact {
                    kind: FactKind::InvoicePayment,
                    key,
                    amount_cents: amount(ip.amount_paid, "amount_paid")?,
                    state: FactState::Counted,
                    event_created: created,
                    object_created: created,
                },
                payment_intent: capped(ref_id(&pay.payment_intent)),
                charge: capped(ref_id(&pay.charge)),
                invoice: Some(invoice),
            });
        }
        "refund.created" | "refund.updated" | "charge.refund.updated" => {
            let r: Refund = object(event)?;
            m.facts.extend(refund_fact(&r, created)?);
        }
        "charge.dispute.created" | "charge.dispute.updated" | "charge.dispute.closed" => {
            let d: Dispute = object(event)?;
            if let Some(key) = capped(d.id.as_deref()) {
                m.facts.push(StripeFactIn {
                    fact: Fact {
                        kind: FactKind::Dispute,
                        key,
                        amount_cents: amount(d.amount, "amount")?,
                        state: FactState::of_dispute(d.status.as_deref()),
                        event_created: created,
                        object_created: d.created.unwrap_or(created),
                    },
                    payment_intent: capped(ref_id(&d.payment_intent)),
                    charge: capped(ref_id(&d.charge)),
                    invoice: None,
                });
            }
        }
        _ => {}
    }
    Ok(m)
}
