//! Stripe's use case (`clicktrail_app::stripe`) at the store level, the same answers on every
//! backend (SQLite and a throwaway PostgreSQL database): the paths the webhook tests do not
//! reach — a refund before its sale, a refund of an unattributed sale, a subscription's first
//! invoice counted as its checkout's sale, a failed async payment, a free trial of an unknown
//! visitor, Stripe's refunds beside the API's.

use clicktrail_domain::catalog::Payout;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ledger::EntryKind;
use clicktrail_domain::stripe::{Fact, FactKind, FactState};
use clicktrail_domain::Cid;
use clicktrail_store::{
    ClickIn, PaymentResult, RefundIn, SaleIn, Store, StoreError, StripeEventIn, StripeFactIn,
    StripeIds, StripeLinkIn, StripeMoney, StripeMoneyOut, StripeOutcome, Target,
};

mod common;

const T0: i64 = 1_795_072_000;
const C1: &str = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";
const UNKNOWN: &str = "99999999-9999-4999-8999-999999999999";

fn cid(s: &str) -> Target {
    Target::Cid(Cid::parse(s).expect("cid"))
}

async fn click(s: &dyn Store) {
    s.click(ClickIn {
        tenant: "t".into(),
        event_id: None,
        cid: Cid::parse(C1),
        affiliate: "alice".into(),
        url: None,
        referrer: None,
        cookie_secs: 86_400,
        now: T0,
    })
    .await
    .expect("click");
}

/// A sale of 10,000 cents earning 30 %.
fn sale(tx: &str, target: Target) -> SaleIn {
    SaleIn {
        tenant: "t".into(),
        transaction_id: tx.into(),
        amount_cents: 10_000,
        currency: "USD".into(),
        target,
        allow_unresolved: true,
        conversion_type: "sale".into(),
        payout: Some(Payout::RevenueShare(3000)),
        customer_key: None,
        is_recurring: false,
        subscription_id: None,
        source: "stripe",
        details: None,
        status: Status::Approved,
        hold_days: 0,
        now: T0 + 60,
        rules: Default::default(),
        coupon_codes: Vec::new(),
        products: Vec::new(),
        customer_email: None,
    }
}

fn sale_event(id: &str, s: SaleIn, pi: &str) -> StripeEventIn {
    StripeEventIn {
        tenant: "t".into(),
        event_id: id.into(),
        event_type: "checkout.session.completed".into(),
        sale: Some(s),
        first_payment: false,
        now: T0 + 60,
        money: StripeMoney {
            ids: StripeIds {
                payment_intent: Some(pi.into()),
                ..StripeIds::default()
            },
            ..StripeMoney::default()
        },
    }
}

fn money_event(
    id: &str,
    kind: FactKind,
    key: &str,
    amount: i64,
    state: FactState,
    pi: &str,
) -> StripeEventIn {
    StripeEventIn {
        tenant: "t".into(),
        event_id: id.into(),
        event_type: "refund.created".into(),
        sale: None,
        first_payment: false,
        now: T0 + 500,
        money: StripeMoney {
            facts: vec![StripeFactIn {
                fact: Fact {
                    kind,
                    key: key.into(),
                    amount_cents: amount,
                    state,
                    event_created: T0 + 100,
                    object_created: T0 + 100,
                },
                payment_intent: Some(pi.into()),
                charge: None,
                invoice: None,
            }],
            ..StripeMoney::default()
        },
    }
}

fn refund_event(id: &str, key: &str, amount: i64, pi: &str) -> StripeEventIn {
    money_event(id, FactKind::Refund, key, amount, FactState::Counted, pi)
}

fn settled(o: StripeOutcome) -> StripeMoneyOut {
    match o {
        StripeOutcome::Settled(m) => m,
        other => panic!("not settled: {other:?}"),
    }
}

fn recorded(o: StripeOutcome) -> i64 {
    match o {
        StripeOutcome::Recorded { sale: Some(s) } => s.sale_id,
        other => panic!("no sale recorded: {other:?}"),
    }
}

/// (accrued, reversed as a positive number) of one sale.
async fn books(s: &dyn Store, sale_id: i64) -> (i64, i64) {
    let es = s.ledger_entries("t").await.expect("entries");
    let sum = |k: EntryKind| -> i64 {
        es.iter()
            .filter(|e| e.conversion_id == sale_id && e.kind == k)
            .map(|e| e.amount_cents)
            .sum()
    };
    (sum(EntryKind::Accrual), -sum(EntryKind::Reversal))
}

fn api_refund(tx: &str, id: &str, cents: i64) -> RefundIn {
    RefundIn {
        tenant: "t".into(),
        transaction_id: tx.into(),
        refund_id: id.into(),
        amount_cents: Some(cents),
        reason: None,
        now: T0 + 900,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_told_before_its_sale_is_settled_when_the_sale_arrives() {
    for s in common::stores().await {
        let b = s.backend();
        click(&*s).await;
        let early = s
            .stripe_event(refund_event("evt_re", "re_1", 2500, "pi_1"))
            .await;
        assert_eq!(
            settled(early.expect(b)),
            StripeMoneyOut::default(),
            "{b}: kept"
        );
        let out = s
            .stripe_event(sale_event("evt_cs", sale("stripe:cs_1", cid(C1)), "pi_1"))
            .await
            .expect(b);
        let id = recorded(out);
        assert_eq!(books(&*s, id).await, (3000, 750), "{b}: 25 % reversed");
        // the API sees what Stripe refunded: 7500 is left, and the rest of the commission
        let more = s.refund(api_refund("stripe:cs_1", "api-1", 7501)).await;
        assert!(
            matches!(more, Err(StoreError::Invalid(..))),
            "{b}: {more:?}"
        );
        let rest = s
            .refund(api_refund("stripe:cs_1", "api-1", 7500))
            .await
            .expect(b);
        assert_eq!(rest.commission_reversed_cents, 2250, "{b}");
        // Stripe tells the same refund again: nothing more
        let again = s
            .stripe_event(refund_event("evt_re_again", "re_1", 2500, "pi_1"))
            .await;
        let again = settled(again.expect(b));
        assert_eq!(
            (again.refunded_cents, again.reversed_cents),
            (10_000, 0),
            "{b}"
        );
        assert_eq!(books(&*s, id).await, (3000, 3000), "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_of_an_unattributed_sale_is_recorded_without_a_reversal() {
    for s in common::stores().await {
        let b = s.backend();
        let id = recorded(
            s.stripe_event(sale_event(
                "evt_cs",
                sale("stripe:cs_2", Target::None),
                "pi_2",
            ))
            .await
            .expect(b),
        );
        let ch = money_event(
            "evt_ch",
            FactKind::ChargeRefunded,
            "ch_2",
            4000,
            FactState::Counted,
            "pi_2",
        );
        let m = settled(s.stripe_event(ch).await.expect(b));
        assert_eq!(m.sale_id, Some(id), "{b}");
        assert_eq!(
            (m.refunded_cents, m.reversed_cents, m.held),
            (4000, 0, false),
            "{b}"
        );
        assert_eq!(books(&*s, id).await, (0, 0), "{b}");
        let left = s.refund(api_refund("stripe:cs_2", "api-2", 6001)).await;
        assert!(
            matches!(left, Err(StoreError::Invalid(..))),
            "{b}: 6000 left: {left:?}"
        );
        let dup = s.stripe_event(sale_event(
            "evt_cs",
            sale("stripe:cs_2", Target::None),
            "pi_2",
        ));
        assert_eq!(dup.await.expect(b), StripeOutcome::Duplicate, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriptions_first_invoice_lends_its_payment_to_the_checkouts_sale() {
    for s in common::stores().await {
        let b = s.backend();
        click(&*s).await;
        let mut cs = sale("stripe:cs_3", cid(C1));
        cs.subscription_id = Some("sub_3".into());
        let mut checkout = sale_event("evt_cs", cs, "unused");
        checkout.first_payment = true;
        checkout.money.ids = StripeIds {
            customer: Some("cus_3".into()),
            ..StripeIds::default()
        };
        let id = recorded(s.stripe_event(checkout).await.expect(b));
        // the same first payment as the subscription's first invoice: counted once, and the
        // checkout's sale learns the invoice's payment intent
        let mut inv = sale("stripe:in_3", Target::Subscription("sub_3".into()));
        inv.subscription_id = Some("sub_3".into());
        let mut invoice = sale_event("evt_in", inv, "pi_3");
        invoice.event_type = "invoice.paid".into();
        invoice.first_payment = true;
        invoice.money.ids.invoice = Some("in_3".into());
        let out = s.stripe_event(invoice).await.expect(b);
        assert_eq!(out, StripeOutcome::Recorded { sale: None }, "{b}");
        let m = settled(
            s.stripe_event(refund_event("evt_re", "re_3", 10_000, "pi_3"))
                .await
                .expect(b),
        );
        assert_eq!(
            m.sale_id,
            Some(id),
            "{b}: found by the invoice's payment intent"
        );
        assert_eq!(m.reversed_cents, 3000, "{b}");
        let rep = s.report("t", 0, T0 + 1000).await.expect(b);
        let sales: i64 = rep.conversions.iter().map(|c| c.3).sum();
        assert_eq!(sales, 1, "{b}: one sale");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_async_payment_declines_its_sale_for_good() {
    for s in common::stores().await {
        let b = s.backend();
        click(&*s).await;
        let mut pending = sale("stripe:cs_4", cid(C1));
        pending.status = Status::Pending;
        let mut completed = sale_event("evt_cs", pending.clone(), "pi_4");
        completed.money.hold_payment = true;
        let id = recorded(s.stripe_event(completed).await.expect(b));
        let mut failed = sale_event(
            "evt_fail",
            SaleIn {
                status: Status::Declined,
                ..pending
            },
            "pi_4",
        );
        failed.event_type = "checkout.session.async_payment_failed".into();
        failed.money.payment = Some(PaymentResult::Failed);
        let m = settled(s.stripe_event(failed).await.expect(b));
        assert_eq!(m.sale_id, Some(id), "{b}");
        assert!(!m.held, "{b}: the payment holds it no more");
        let (accrued, reversed) = books(&*s, id).await;
        assert_eq!(accrued, reversed, "{b}: the decline reversed everything");
        // a refund that fails later gives nothing back to a declined sale
        s.stripe_event(refund_event("evt_re", "re_4", 5000, "pi_4"))
            .await
            .expect(b);
        let void = money_event(
            "evt_re_void",
            FactKind::Refund,
            "re_4",
            5000,
            FactState::Void,
            "pi_4",
        );
        let mut void = void;
        void.money.facts[0].fact.event_created = T0 + 200;
        s.stripe_event(void).await.expect(b);
        assert_eq!(books(&*s, id).await, (accrued, reversed), "{b}");
        let conv = s
            .set_conversion_status("t", &id.to_string(), Status::Approved, T0 + 900)
            .await;
        assert!(
            matches!(conv, Err(StoreError::Conflict(..))),
            "{b}: {conv:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_trial_links_only_a_known_visitor() {
    for s in common::stores().await {
        let b = s.backend();
        click(&*s).await;
        for (n, visitor) in [("known", C1), ("unknown", UNKNOWN)] {
            let trial = StripeEventIn {
                tenant: "t".into(),
                event_id: format!("evt_trial_{n}"),
                event_type: "checkout.session.completed".into(),
                sale: None,
                first_payment: false,
                now: T0 + 10,
                money: StripeMoney {
                    link: Some(StripeLinkIn {
                        target: cid(visitor),
                        subscription: Some(format!("sub_{n}")),
                        customer: Some(format!("cus_{n}")),
                    }),
                    ..StripeMoney::default()
                },
            };
            let m = settled(s.stripe_event(trial).await.expect(b));
            assert_eq!(m, StripeMoneyOut::default(), "{b}");
            let mut inv = sale(
                &format!("stripe:in_{n}"),
                Target::Subscription(format!("sub_{n}")),
            );
            inv.subscription_id = Some(format!("sub_{n}"));
            let mut invoice = sale_event(&format!("evt_in_{n}"), inv, &format!("pi_{n}"));
            invoice.first_payment = true;
            let out = s.stripe_event(invoice).await.expect(b);
            let StripeOutcome::Recorded { sale: Some(o) } = out else {
                panic!("{b}: {out:?}")
            };
            assert_eq!(o.attributed, n == "known", "{b} {n}");
        }
    }
}
