//! Stripe money events on PostgreSQL from two collectors at once (Stripe's retries overlap, and
//! a refund is told by two event types): each refund and dispute counts once, whatever the
//! interleaving.

use clicktrail_domain::catalog::Payout;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ledger::EntryKind;
use clicktrail_domain::stripe::{Fact, FactKind, FactState};
use clicktrail_domain::Cid;
use clicktrail_store::{
    ClickIn, SaleIn, Store, StripeEventIn, StripeFactIn, StripeIds, StripeMoney, Target,
};
use clicktrail_store_postgres::test_cluster::fresh_database;
use clicktrail_store_postgres::PgStore;

const T0: i64 = 1_795_072_000;
const C1: &str = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";

fn fact(kind: FactKind, key: &str, amount: i64, state: FactState, at: i64) -> StripeFactIn {
    StripeFactIn {
        fact: Fact {
            kind,
            key: key.into(),
            amount_cents: amount,
            state,
            event_created: at,
            object_created: at,
        },
        payment_intent: Some("pi_1".into()),
        charge: Some("ch_1".into()),
        invoice: None,
    }
}

fn money_event(id: &str, kind: &str, facts: Vec<StripeFactIn>) -> StripeEventIn {
    StripeEventIn {
        tenant: "t".into(),
        event_id: id.into(),
        event_type: kind.into(),
        sale: None,
        first_payment: false,
        now: T0 + 500,
        money: StripeMoney {
            facts,
            ..StripeMoney::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stripe_refunds_and_a_dispute_from_two_collectors_count_once() {
    let url = fresh_database().await;
    let a = PgStore::connect(&url).await.expect("connect");
    let b = PgStore::connect(&url).await.expect("connect");
    a.click(ClickIn {
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
    a.stripe_event(StripeEventIn {
        tenant: "t".into(),
        event_id: "evt_sale".into(),
        event_type: "checkout.session.completed".into(),
        sale: Some(SaleIn {
            tenant: "t".into(),
            transaction_id: "stripe:cs_1".into(),
            amount_cents: 10_050,
            currency: "USD".into(),
            target: Target::Cid(Cid::parse(C1).expect("cid")),
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
        }),
        first_payment: false,
        now: T0 + 60,
        money: StripeMoney {
            ids: StripeIds {
                payment_intent: Some("pi_1".into()),
                ..StripeIds::default()
            },
            ..StripeMoney::default()
        },
    })
    .await
    .expect("sale");
    // two refunds, each told twice (refund.created and the charge's total), and a dispute
    // opened then won; every event sent 4 times, half through each collector, all at once
    let events = [
        money_event(
            "evt_re1",
            "refund.created",
            vec![fact(
                FactKind::Refund,
                "re_1",
                2010,
                FactState::Counted,
                T0 + 100,
            )],
        ),
        money_event(
            "evt_ch1",
            "charge.refunded",
            vec![fact(
                FactKind::ChargeRefunded,
                "ch_1",
                2010,
                FactState::Counted,
                T0 + 100,
            )],
        ),
        money_event(
            "evt_re2",
            "refund.created",
            vec![fact(
                FactKind::Refund,
                "re_2",
                2010,
                FactState::Counted,
                T0 + 200,
            )],
        ),
        money_event(
            "evt_ch2",
            "charge.refunded",
            vec![fact(
                FactKind::ChargeRefunded,
                "ch_1",
                4020,
                FactState::Counted,
                T0 + 200,
            )],
        ),
        money_event(
            "evt_dp1",
            "charge.dispute.created",
            vec![fact(
                FactKind::Dispute,
                "dp_1",
                0,
                FactState::Open,
                T0 + 150,
            )],
        ),
        money_event(
            "evt_dp2",
            "charge.dispute.closed",
            vec![fact(FactKind::Dispute, "dp_1", 0, FactState::Won, T0 + 250)],
        ),
    ];
    let mut tasks = Vec::new();
    for round in 0..4 {
        for (i, e) in events.iter().enumerate() {
            let s = if (round + i) % 2 == 0 {
                a.clone()
            } else {
                b.clone()
            };
            let e = e.clone();
            tasks.push(tokio::spawn(async move { s.stripe_event(e).await }));
        }
    }
    for t in tasks {
        t.await.expect("task").expect("stripe event");
    }
    let entries = a.ledger_entries("t").await.expect("entries");
    let sum = |k: EntryKind| -> i64 {
        entries
            .iter()
            .filter(|e| e.kind == k)
            .map(|e| e.amount_cents)
            .sum()
    };
    // 4020 of 10050 refunded: 40% of the 3015 commission, once
    assert_eq!(sum(EntryKind::Accrual), 3015);
    assert_eq!(sum(EntryKind::Reversal), -1206);
    assert!(entries.iter().all(|e| !e.held), "the dispute was won");
}
