//! Stripe's money events end to end, on SQLite and PostgreSQL:
//! events built from Stripe's own example objects (`<repo>/tests/fixtures/stripe/`, changing only
//! the ids, amounts, metadata and state fields that link them), signed by Stripe's official
//! Node library (`stripe.webhooks.generateTestHeaderString`, via `tests/stripe/sign.cjs`), sent
//! through the real `/webhooks/stripe` route, each delivered twice and out of order; then the
//! ledger, the report and the payouts read back.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use serde_json::{json, Value};

mod common;
use common::{Harness, NOW};

const SECRET: &str = "whsec_demo";
const ERAS: [&str; 2] = ["current", "pre_basil"];

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/stripe/stripe-fixtures.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixtures are JSON")
}

fn fixture(era: &str, kind: &str) -> Value {
    // the charge, refund and dispute exist in the current shape only (unchanged by basil)
    let f = fixtures();
    let v = if f[era][kind].is_object() {
        f[era][kind].clone()
    } else {
        f["current"][kind].clone()
    };
    assert!(v.is_object(), "no {era} {kind} in the fixtures");
    v
}

/// `Stripe-Signature` headers for `payloads` at `timestamp`, made by Stripe's Node library.
fn sign_all(payloads: &[String], timestamp: i64) -> Vec<String> {
    common::stripe_signatures(SECRET, payloads, timestamp)
}

/// The fixture's event envelope around `object`: a live event created at `created`.
fn event(era: &str, id: &str, kind: &str, object: Value, created: i64) -> String {
    let mut ev = fixture(era, "event");
    ev["id"] = json!(id);
    ev["type"] = json!(kind);
    ev["created"] = json!(created);
    ev["livemode"] = json!(true);
    ev["data"]["object"] = object;
    ev.to_string()
}

fn test_mode(payload: &str) -> String {
    let mut v: Value = serde_json::from_str(payload).expect("json");
    v["livemode"] = json!(false);
    v.to_string()
}

/// Delivers `events` in the order of `order` (indices; repeats are redeliveries), each
/// answered 200; the answers.
async fn deliver(t: &Harness, events: &[String], order: &[usize]) -> Vec<Value> {
    let payloads: Vec<String> = order.iter().map(|i| events[*i].clone()).collect();
    let sigs = sign_all(&payloads, t.now());
    let mut out = Vec::new();
    for (p, s) in payloads.iter().zip(&sigs) {
        let r = t.stripe(p, s).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}: {} for {p}",
            t.backend,
            r.body
        );
        out.push(r.body);
    }
    out
}

/// Each event twice: in order, then in reverse.
fn twice(n: usize) -> Vec<usize> {
    (0..n).chain((0..n).rev()).collect()
}

async fn click(t: &Harness, aff: &str) -> String {
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":aff})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["cid"].as_str().expect("cid").to_string()
}

fn checkout(era: &str, id: &str, cid: Option<&str>, amount: i64, pi: Option<&str>) -> Value {
    let mut cs = fixture(era, "checkout.session");
    cs["id"] = json!(id);
    cs["amount_total"] = json!(amount);
    cs["currency"] = json!("usd");
    cs["client_reference_id"] = json!(cid);
    cs["payment_status"] = json!("paid");
    cs["status"] = json!("complete");
    cs["payment_intent"] = json!(pi);
    cs
}

fn charge(id: &str, pi: &str, amount: i64, refunded: i64) -> Value {
    let mut ch = fixture("current", "charge");
    ch["id"] = json!(id);
    ch["payment_intent"] = json!(pi);
    ch["amount"] = json!(amount);
    ch["amount_captured"] = json!(amount);
    ch["captured"] = json!(true);
    ch["amount_refunded"] = json!(refunded);
    ch["refunded"] = json!(refunded == amount);
    ch
}

fn refund(id: &str, ch: &str, pi: &str, amount: i64, status: &str, created: i64) -> Value {
    let mut r = fixture("current", "refund");
    r["id"] = json!(id);
    r["charge"] = json!(ch);
    r["payment_intent"] = json!(pi);
    r["amount"] = json!(amount);
    r["status"] = json!(status);
    r["created"] = json!(created);
    r
}

fn dispute(id: &str, ch: &str, pi: &str, amount: i64, status: &str) -> Value {
    let mut d = fixture("current", "dispute");
    d["id"] = json!(id);
    d["charge"] = json!(ch);
    d["payment_intent"] = json!(pi);
    d["amount"] = json!(amount);
    d["status"] = json!(status);
    d
}

/// A paid invoice in `era`'s shape: its payment intent where that shape keeps it, its
/// subscription (if any) likewise.
fn invoice(era: &str, id: &str, amount: i64, reason: &str, pi: &str, sub: Option<&str>) -> Value {
    let mut inv = fixture(era, "invoice");
    inv["id"] = json!(id);
    inv["amount_paid"] = json!(amount);
    inv["status"] = json!("paid");
    inv["billing_reason"] = json!(reason);
    if era == "current" {
        inv["payments"] = json!({"object": "list", "data": [
            {"object": "invoice_payment", "payment": {"type": "payment_intent", "payment_intent": pi}}
        ]});
        if let Some(sub) = sub {
            inv["parent"] = json!({"type": "subscription_details", "quote_details": null,
                "subscription_details": {"subscription": sub, "metadata": {}}});
        }
    } else {
        inv["payment_intent"] = json!(pi);
        if let Some(sub) = sub {
            inv["subscription"] = json!(sub);
            inv["subscription_details"] = json!({"metadata": {}});
        }
    }
    inv
}

/// (net, reversed as a positive number) of one sale's ledger entries.
async fn books(t: &Harness, sale_id: i64) -> (i64, i64) {
    let es = t.store.ledger_entries("demo").await.expect("entries");
    let mine: Vec<_> = es.iter().filter(|e| e.conversion_id == sale_id).collect();
    let net = mine.iter().map(|e| e.amount_cents).sum();
    let reversed = -mine
        .iter()
        .filter(|e| e.kind == clicktrail_domain::ledger::EntryKind::Reversal)
        .map(|e| e.amount_cents)
        .sum::<i64>();
    (net, reversed)
}

/// What is due to `aff` today (0 when nothing).
async fn due(t: &Harness, aff: &str) -> i64 {
    let req = Request::get("/api/v1/payouts/due?through=2026-11-19")
        .header("authorization", "Bearer demo_admin_key")
        .body(Body::empty())
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["affiliates"]
        .as_array()
        .expect("affiliates")
        .iter()
        .filter(|a| a["affiliate"] == aff)
        .map(|a| a["amountCents"].as_i64().expect("amount"))
        .sum()
}

fn sale_id(answer: &Value) -> i64 {
    answer["saleId"]
        .as_i64()
        .unwrap_or_else(|| panic!("no saleId in {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_partial_failed_and_full_told_twice_and_out_of_order() {
    for t in Harness::all().await {
        let b = t.backend;
        let cid = click(&t, "alice").await;
        let cs = event(
            "current",
            "evt_cs",
            "checkout.session.completed",
            checkout("current", "cs_r", Some(&cid), 10_000, Some("pi_r")),
            NOW - 1000,
        );
        let first = deliver(&t, &[cs], &[0, 0]).await;
        let id = sale_id(&first[0]);
        assert_eq!(first[1]["duplicate"], true, "{b}");
        assert_eq!(books(&t, id).await, (3000, 0), "{b}");

        // two partial refunds, each told by refund.created and by charge.refunded (the
        // charge's cumulative total), refund.created first, everything twice
        let evs = [
            event(
                "current",
                "evt_re1",
                "refund.created",
                refund("re_1", "ch_r", "pi_r", 2500, "succeeded", NOW - 900),
                NOW - 900,
            ),
            event(
                "current",
                "evt_ch1",
                "charge.refunded",
                charge("ch_r", "pi_r", 10_000, 2500),
                NOW - 900,
            ),
            event(
                "current",
                "evt_ch2",
                "charge.refunded",
                charge("ch_r", "pi_r", 10_000, 4000),
                NOW - 800,
            ),
            event(
                "current",
                "evt_re2",
                "refund.created",
                refund("re_2", "ch_r", "pi_r", 1500, "succeeded", NOW - 800),
                NOW - 800,
            ),
        ];
        deliver(&t, &evs, &[0, 2, 0, 1, 3, 2, 1, 3]).await;
        // 4000 of 10000 refunded: 40% of the 3000 commission
        assert_eq!(books(&t, id).await, (1800, 1200), "{b}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["commissionCents"], 1800, "{b}: {rep}");
        assert_eq!(rep["totals"]["ledger"]["reversedCents"], 1200, "{b}: {rep}");
        // the API knows what Stripe refunded: 6000 is left
        let r = t
            .api(
                "/api/v1/track/refund",
                json!({"transaction_id": "stripe:cs_r", "refund_id": "manual-1", "amount_cents": 6001}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            r.body
        );

        // the second refund fails: given back (an older charge.refunded resent changes nothing)
        let failed = [
            event(
                "current",
                "evt_re2_failed",
                "refund.updated",
                refund("re_2", "ch_r", "pi_r", 1500, "failed", NOW - 800),
                NOW - 700,
            ),
            evs[2].clone(),
        ];
        let answers = deliver(&t, &failed, &[0, 1, 0, 1]).await;
        assert_eq!(answers[0]["reversedCents"], -450, "{b}: {}", answers[0]);
        assert_eq!(books(&t, id).await, (2250, 750), "{b}");

        // then the rest is refunded: everything reversed, never more
        let full = [
            event(
                "current",
                "evt_ch3",
                "charge.refunded",
                charge("ch_r", "pi_r", 10_000, 10_000),
                NOW - 600,
            ),
            event(
                "current",
                "evt_re3",
                "refund.created",
                refund("re_3", "ch_r", "pi_r", 7500, "succeeded", NOW - 600),
                NOW - 600,
            ),
        ];
        deliver(&t, &full, &twice(2)).await;
        assert_eq!(books(&t, id).await, (0, 3000), "{b}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["commissionCents"], 0, "{b}: {rep}");
        assert_eq!(rep["totals"]["ledger"]["reversedCents"], 3000, "{b}: {rep}");
    }
}

/// One dispute story for sale `n`: created, a partial refund, closed with `outcome`.
fn dispute_story(n: &str, outcome: &str) -> Vec<String> {
    let (ch, pi, dp) = (format!("ch_{n}"), format!("pi_{n}"), format!("dp_{n}"));
    vec![
        event(
            "current",
            &format!("evt_{n}_dc"),
            "charge.dispute.created",
            dispute(&dp, &ch, &pi, 10_000, "needs_response"),
            NOW - 900,
        ),
        event(
            "current",
            &format!("evt_{n}_re"),
            "refund.created",
            refund(&format!("re_{n}"), &ch, &pi, 2500, "succeeded", NOW - 800),
            NOW - 800,
        ),
        event(
            "current",
            &format!("evt_{n}_ch"),
            "charge.refunded",
            charge(&ch, &pi, 10_000, 2500),
            NOW - 800,
        ),
        event(
            "current",
            &format!("evt_{n}_dx"),
            "charge.dispute.closed",
            dispute(&dp, &ch, &pi, 10_000, outcome),
            NOW - 700,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disputes_hold_then_release_or_reverse_whatever_the_order() {
    for t in Harness::all().await {
        let b = t.backend;
        let cid = click(&t, "alice").await;
        let mut ids = Vec::new();
        for n in ["won_a", "won_b", "lost_a", "lost_b"] {
            let cs = event(
                "current",
                &format!("evt_cs_{n}"),
                "checkout.session.completed",
                checkout(
                    "current",
                    &format!("cs_{n}"),
                    Some(&cid),
                    10_000,
                    Some(&format!("pi_{n}")),
                ),
                NOW - 1000,
            );
            ids.push(sale_id(&deliver(&t, &[cs], &[0]).await[0]));
        }
        assert_eq!(due(&t, "alice").await, 12_000, "{b}");

        // a dispute opens on the first sale: its commission is held (not due, shown pending)
        let won = dispute_story("won_a", "won");
        let a = deliver(&t, &won[..1], &[0, 0]).await;
        assert_eq!(a[0]["held"], true, "{b}: {}", a[0]);
        assert_eq!(due(&t, "alice").await, 9000, "{b}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["ledger"]["pendingCents"], 3000, "{b}: {rep}");
        // the refund while disputed, then won: released, net of the refund
        deliver(&t, &won, &[1, 2, 3, 0, 3, 2, 1]).await;
        assert_eq!(books(&t, ids[0]).await, (2250, 750), "{b}");
        assert_eq!(due(&t, "alice").await, 9000 + 2250, "{b}");

        // the same story on another sale, closing first, everything twice and reversed
        let won_b = dispute_story("won_b", "won");
        deliver(&t, &won_b, &[3, 2, 0, 1, 0, 3, 1, 2]).await;
        assert_eq!(books(&t, ids[1]).await, (2250, 750), "{b}: same ledger");

        // lost: the whole remaining commission reversed, in order or not
        deliver(&t, &dispute_story("lost_a", "lost"), &[0, 1, 2, 3]).await;
        deliver(
            &t,
            &dispute_story("lost_b", "lost"),
            &[3, 1, 0, 2, 2, 0, 3, 1],
        )
        .await;
        assert_eq!(books(&t, ids[2]).await, (0, 3000), "{b}");
        assert_eq!(books(&t, ids[3]).await, (0, 3000), "{b}");
        assert_eq!(due(&t, "alice").await, 2250 + 2250, "{b}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["ledger"]["pendingCents"], 0, "{b}: {rep}");
        assert_eq!(rep["totals"]["commissionCents"], 4500, "{b}: {rep}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_payments_count_only_once_they_succeed() {
    for t in Harness::all().await {
        let b = t.backend;
        let cid = click(&t, "alice").await;
        let session = |n: &str, status: &str| {
            let mut cs = checkout(
                "current",
                &format!("cs_{n}"),
                Some(&cid),
                5000,
                Some(&format!("pi_{n}")),
            );
            cs["payment_status"] = json!(status);
            cs
        };
        let evs = |n: &str, result: &str| {
            [
                event(
                    "current",
                    &format!("evt_{n}_c"),
                    "checkout.session.completed",
                    session(n, "unpaid"),
                    NOW - 900,
                ),
                event(
                    "current",
                    &format!("evt_{n}_r"),
                    &format!("checkout.session.async_payment_{result}"),
                    session(
                        n,
                        if result == "succeeded" {
                            "paid"
                        } else {
                            "unpaid"
                        },
                    ),
                    NOW - 800,
                ),
            ]
        };
        // unpaid at completion: a pending sale, nothing payable
        let ok = evs("ok", "succeeded");
        let a = deliver(&t, &ok[..1], &[0, 0]).await;
        let ok_id = sale_id(&a[0]);
        assert_eq!(due(&t, "alice").await, 0, "{b}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["ledger"]["pendingCents"], 1500, "{b}: {rep}");
        // succeeded: it counts
        let a = deliver(&t, &ok[1..], &[0, 0]).await;
        assert_eq!(a[0]["held"], false, "{b}: {}", a[0]);
        assert_eq!(due(&t, "alice").await, 1500, "{b}");

        // failed: declined, its commission reversed, out of the report's sales
        let failed = evs("ko", "failed");
        deliver(&t, &failed, &twice(2)).await;
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 1, "{b}: {rep}");
        assert_eq!(due(&t, "alice").await, 1500, "{b}");

        // the result before the completion: one sale, counted, not held
        let early = evs("early", "succeeded");
        deliver(&t, &early, &[1, 0, 1, 0]).await;
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 2, "{b}: {rep}");
        assert_eq!(due(&t, "alice").await, 3000, "{b}");
        assert_eq!(books(&t, ok_id).await, (1500, 0), "{b}");
        // a checkout with `invoice_creation` completed unpaid: its invoice.paid is the money
        let mut held = session("inv", "unpaid");
        held["invoice"] = json!("in_async");
        let inv_evs = [
            event(
                "current",
                "evt_inv_c",
                "checkout.session.completed",
                held,
                NOW - 900,
            ),
            event(
                "current",
                "evt_inv_p",
                "invoice.paid",
                invoice("current", "in_async", 5000, "manual", "pi_inv", None),
                NOW - 800,
            ),
        ];
        deliver(&t, &inv_evs[..1], &[0]).await;
        assert_eq!(due(&t, "alice").await, 3000, "{b}: held until paid");
        deliver(&t, &inv_evs, &[1, 0, 1]).await;
        assert_eq!(due(&t, "alice").await, 4500, "{b}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 3, "{b}: {rep}");
        // a failure told before its completion: one declined sale, nothing accrued
        let late = evs("late", "failed");
        deliver(&t, &late, &[1, 0, 1, 0]).await;
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 3, "{b}: {rep}");
        assert_eq!(rep["totals"]["commissionCents"], 4500, "{b}: {rep}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_with_invoice_creation_and_its_invoice_are_one_sale() {
    for t in Harness::all().await {
        let b = t.backend;
        let cid = click(&t, "alice").await;
        for era in ERAS {
            for invoice_first in [true, false] {
                let n = format!("{era}_{invoice_first}");
                let (inv_id, pi) = (format!("in_{n}"), format!("pi_{n}"));
                let mut cs = checkout(era, &format!("cs_{n}"), Some(&cid), 4000, Some(&pi));
                cs["invoice"] = json!(inv_id);
                let evs = [
                    event(
                        era,
                        &format!("evt_{n}_cs"),
                        "checkout.session.completed",
                        cs,
                        NOW - 900,
                    ),
                    event(
                        era,
                        &format!("evt_{n}_in"),
                        "invoice.paid",
                        invoice(era, &inv_id, 4000, "manual", &pi, None),
                        NOW - 900,
                    ),
                ];
                let order = if invoice_first {
                    [1, 0, 1, 0]
                } else {
                    [0, 1, 0, 1]
                };
                deliver(&t, &evs, &order).await;
            }
        }
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 4, "{b}: {rep}");
        assert_eq!(rep["totals"]["revenueCents"], 16_000, "{b}: {rep}");
        assert_eq!(rep["totals"]["commissionCents"], 4800, "{b}: {rep}");
        assert_eq!(rep["unattributed"]["conversions"], 0, "{b}: {rep}");
        // a refund of one finds it by its payment intent
        let r = event(
            "current",
            "evt_ref_inv",
            "charge.refunded",
            charge("ch_x", "pi_current_true", 4000, 4000),
            NOW - 500,
        );
        let a = deliver(&t, &[r], &[0, 0]).await;
        assert_eq!(a[0]["reversedCents"], 1200, "{b}: {}", a[0]);
        assert_eq!(a[1]["duplicate"], true, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_trial_links_the_subscription_to_the_visitor() {
    for t in Harness::all().await {
        let b = t.backend;
        let cid = click(&t, "bob").await;
        for era in ERAS {
            let (sub, cus) = (format!("sub_{era}"), format!("cus_{era}"));
            let mut cs = checkout(era, &format!("cs_trial_{era}"), Some(&cid), 0, None);
            cs["mode"] = json!("subscription");
            cs["subscription"] = json!(sub);
            cs["customer"] = json!(cus);
            cs["payment_status"] = json!("no_payment_required");
            let trial = event(
                era,
                &format!("evt_trial_{era}"),
                "checkout.session.completed",
                cs,
                NOW - 900,
            );
            // the trial's own invoice (0) and the first paid one, in each shape
            let pi = format!("pi_sub_{era}");
            let zero = invoice(
                era,
                &format!("in_0_{era}"),
                0,
                "subscription_create",
                "",
                Some(&sub),
            );
            let paid = invoice(
                era,
                &format!("in_1_{era}"),
                2000,
                "subscription_cycle",
                &pi,
                Some(&sub),
            );
            let evs = [
                trial,
                event(
                    era,
                    &format!("evt_in0_{era}"),
                    "invoice.paid",
                    zero,
                    NOW - 900,
                ),
                event(
                    era,
                    &format!("evt_in1_{era}"),
                    "invoice.paid",
                    paid,
                    NOW - 800,
                ),
            ];
            let a = deliver(&t, &evs, &[0, 1, 0, 1, 2, 2]).await;
            assert!(
                a[0].get("saleId").is_none_or(Value::is_null),
                "{b}: {}",
                a[0]
            );
            assert_eq!(a[4]["attributed"], true, "{b} {era}: {}", a[4]);
            // and its refund is matched through the invoice's payment intent
            let r = event(
                "current",
                &format!("evt_sub_ref_{era}"),
                "charge.refunded",
                charge(&format!("ch_sub_{era}"), &pi, 2000, 2000),
                NOW - 500,
            );
            let a = deliver(&t, &[r], &[0]).await;
            assert_eq!(a[0]["reversedCents"], 600, "{b} {era}: {}", a[0]);
        }
        let rep = t.report("").await;
        let bob = rep["affiliates"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|a| a["affiliate"] == "bob")
            .cloned()
            .expect("bob");
        assert_eq!(bob["conversions"], 2, "{b}: {rep}");
        assert_eq!(bob["revenueCents"], 4000, "{b}: {rep}");
        assert_eq!(bob["ledger"]["reversedCents"], 1200, "{b}: {rep}");
    }
}

/// Basil's invoices do not name their payment intent (unless expanded): `invoice_payment.paid`
/// does, before or after the invoice, and a refund of that payment finds the invoice's sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basil_invoice_learns_its_payment_from_invoice_payment_paid() {
    for t in Harness::all().await {
        let b = t.backend;
        let cid = click(&t, "alice").await;
        for (n, link_first) in [("a", true), ("b", false)] {
            let (inv_id, pi) = (format!("in_basil_{n}"), format!("pi_basil_{n}"));
            let mut inv = fixture("current", "invoice");
            inv["id"] = json!(inv_id);
            inv["amount_paid"] = json!(3000);
            inv["status"] = json!("paid");
            inv["metadata"] = json!({"affitor_click_id": cid});
            let mut ip = fixture("current", "invoice_payment");
            ip["id"] = json!(format!("inpay_{n}"));
            ip["invoice"] = json!(inv_id);
            ip["amount_paid"] = json!(3000);
            ip["status"] = json!("paid");
            ip["payment"] = json!({"type": "payment_intent", "payment_intent": pi});
            let evs = [
                event(
                    "current",
                    &format!("evt_inv_{n}"),
                    "invoice.paid",
                    inv,
                    NOW - 900,
                ),
                event(
                    "current",
                    &format!("evt_ip_{n}"),
                    "invoice_payment.paid",
                    ip,
                    NOW - 900,
                ),
                event(
                    "current",
                    &format!("evt_ref_{n}"),
                    "refund.created",
                    refund(
                        &format!("re_b{n}"),
                        &format!("ch_b{n}"),
                        &pi,
                        1500,
                        "succeeded",
                        NOW - 800,
                    ),
                    NOW - 800,
                ),
            ];
            let order: &[usize] = if link_first {
                &[1, 2, 0, 1, 2, 0]
            } else {
                &[0, 2, 1, 0, 1, 2]
            };
            let a = deliver(&t, &evs, order).await;
            let sale = a
                .iter()
                .find_map(|x| x["saleId"].as_i64())
                .expect("a sale id");
            // half refunded: half of the 900 commission reversed
            assert_eq!(books(&t, sale).await, (450, 450), "{b} {n}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_mode_payments_are_kept_apart_unless_the_tenant_counts_them() {
    let mut apart = Config::demo();
    apart.server.rate_limit_per_second = 0;
    apart.tenants[0].tenant.count_test_payments = false;
    let mut counted = Config::demo();
    counted.server.rate_limit_per_second = 0;
    for (config, counts) in [(apart, false), (counted, true)] {
        for t in Harness::all_with(config.clone()).await {
            let b = t.backend;
            let cid = click(&t, "alice").await;
            let live = event(
                "current",
                "evt_live",
                "checkout.session.completed",
                checkout("current", "cs_live", Some(&cid), 10_000, Some("pi_live")),
                NOW - 900,
            );
            let test = test_mode(&event(
                "current",
                "evt_test",
                "checkout.session.completed",
                checkout("current", "cs_test", Some(&cid), 5000, Some("pi_test")),
                NOW - 900,
            ));
            deliver(&t, &[live, test], &twice(2)).await;
            let rep = t.report("").await;
            let tm = &rep["testMode"];
            assert_eq!(tm["counted"], counts, "{b}: {rep}");
            assert_eq!(tm["sales"], 1, "{b}: {rep}");
            assert_eq!(tm["revenueCents"], 5000, "{b}: {rep}");
            assert_eq!(tm["commissionCents"], 1500, "{b}: {rep}");
            let (n, revenue, due_now) = if counts {
                (2, 15_000, 4500)
            } else {
                (1, 10_000, 3000)
            };
            assert_eq!(rep["totals"]["conversions"], n, "{b}: {rep}");
            assert_eq!(rep["totals"]["revenueCents"], revenue, "{b}: {rep}");
            assert_eq!(
                rep["totals"]["ledger"]["approvedCents"], due_now,
                "{b}: {rep}"
            );
            assert_eq!(due(&t, "alice").await, due_now, "{b}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhandled_event_types_are_acknowledged_and_ignored() {
    for t in Harness::all().await {
        let b = t.backend;
        // Stripe's example event as it is (plan.created), and types we leave alone
        let mut evs = vec![fixture("current", "event").to_string()];
        for (i, kind) in [
            "customer.created",
            "payment_intent.succeeded",
            "charge.succeeded",
            "charge.dispute.funds_withdrawn",
            "invoice.finalized",
            "customer.subscription.created",
        ]
        .iter()
        .enumerate()
        {
            evs.push(event(
                "current",
                &format!("evt_ignored_{i}"),
                kind,
                fixture("current", "charge"),
                NOW - 10,
            ));
        }
        let answers = deliver(&t, &evs, &(0..evs.len()).collect::<Vec<_>>()).await;
        for a in answers {
            assert_eq!(a["ignored"], true, "{b}: {a}");
        }
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 0, "{b}: {rep}");
    }
}
