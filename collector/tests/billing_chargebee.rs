//! Chargebee's refunds as they really arrive, through the real router on SQLite and
//! PostgreSQL, replaying the events kept in `<repo>/tests/fixtures/chargebee/` (see
//! `tests/fixtures/SOURCES.md`): a refund delivered before its payment is kept and applied
//! with the payment; a direct-debit refund (no `refunded_txn_id`) finds its sale through its
//! credit note's `reference_invoice_id`.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clicktrail_collector::config::Config;
use clicktrail_domain::ledger::EntryKind;
use common::{Harness, Resp};
use serde_json::{json, Value};

const USER: &str = "cb_hook";
const PASS: &str = "cb_pass_123";

fn config() -> Config {
    Config::from_toml(&format!(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
currency = "EUR"
hold_days = 0
allowed_origins = ["*"]
affiliates = ["alice", "bob"]
chargebee_webhook_username = "{USER}"
chargebee_webhook_password = "{PASS}"
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[tenants.rules.coupons]
alice20 = "alice"
"#
    ))
    .expect("config")
}

/// A kept Chargebee event, its customer's CID custom field set to `cid`.
fn event(name: &str, cid: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/chargebee/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    let text = text.replace("REPLACED_BY_THE_TEST", cid);
    serde_json::from_str(&text).expect("fixture is JSON")
}

async fn click(t: &Harness) -> String {
    click_of(t, "alice").await
}

async fn click_of(t: &Harness, aff: &str) -> String {
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId": "acme", "eventId": uuid::Uuid::new_v4().to_string(), "aff": aff})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r.body["cid"].as_str().expect("cid").to_string()
}

async fn send(t: &Harness, ev: &Value) -> Resp {
    let req = Request::post("/webhooks/chargebee/acme")
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{USER}:{PASS}"))),
        )
        .body(Body::from(ev.to_string()))
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r
}

async fn entries(t: &Harness) -> Vec<(EntryKind, i64)> {
    t.store
        .ledger_entries("acme")
        .await
        .expect("entries")
        .into_iter()
        .map(|e| (e.kind, e.amount_cents))
        .collect()
}

/// (affiliate, amount) of each accrual.
async fn accruals(t: &Harness) -> Vec<(String, i64)> {
    t.store
        .ledger_entries("acme")
        .await
        .expect("entries")
        .into_iter()
        .filter(|e| e.kind == EntryKind::Accrual)
        .map(|e| (e.affiliate, e.amount_cents))
        .collect()
}

#[tokio::test]
async fn a_payment_with_a_coupon_and_no_click_credits_the_coupons_affiliate() {
    for t in Harness::all_with(config()).await {
        // the invoice's document-level coupon ALICE20 (the tenant lists `alice20`), no CID
        let pay = event("payment_succeeded-coupon.json", "");
        let r = send(&t, &pay).await;
        assert_eq!(r.body["transactionId"], "chargebee:txn_coupon_pay_1");
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        // 30 % of the 39.20 paid
        assert_eq!(r.body["commissionCents"], 1176, "{}: {}", t.backend, r.body);
        assert_eq!(accruals(&t).await, vec![("alice".to_string(), 1176)]);
        let r = send(&t, &pay).await;
        assert_eq!(r.body["duplicate"], true, "{}: {}", t.backend, r.body);

        // the coupon only on the subscription (`subscription.coupons[].coupon_id`) credits too
        let mut sub_only = event("payment_succeeded-coupon.json", "");
        sub_only["content"]["transaction"]["id"] = json!("txn_coupon_pay_2");
        sub_only["content"]["invoice"]["discounts"] = json!([]);
        let r = send(&t, &sub_only).await;
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);

        // another customer's subscription with a coupon nobody owns, or credits that are no
        // coupon: recorded, nobody credited
        let mut other = event("payment_succeeded-coupon.json", "");
        other["content"]["transaction"]["id"] = json!("txn_coupon_pay_3");
        for (obj, field) in [("subscription", "id"), ("transaction", "subscription_id")] {
            other["content"][obj][field] = json!("sub_other_1");
        }
        for (obj, field) in [("customer", "id"), ("transaction", "customer_id")] {
            other["content"][obj][field] = json!("cust_other_1");
        }
        other["content"]["subscription"]["coupons"] = json!([]);
        other["content"]["invoice"]["discounts"] = json!([
            {"amount": 980, "entity_type": "document_level_coupon", "entity_id": "SUMMER"},
            {"amount": 100, "entity_type": "promotional_credits", "entity_id": "alice20"}
        ]);
        let r = send(&t, &other).await;
        assert_eq!(r.body["attributed"], false, "{}: {}", t.backend, r.body);
        assert_eq!(accruals(&t).await.len(), 2, "{}", t.backend);
    }
}

#[tokio::test]
async fn a_click_wins_over_a_chargebee_coupon() {
    for t in Harness::all_with(config()).await {
        let cid = click_of(&t, "bob").await;
        let r = send(&t, &event("payment_succeeded-coupon.json", &cid)).await;
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(accruals(&t).await, vec![("bob".to_string(), 1176)]);
    }
}

#[tokio::test]
async fn a_refund_before_its_payment_is_kept_and_applied_with_the_payment() {
    for t in Harness::all_with(config()).await {
        let cid = click(&t).await;
        let refund = event("payment_refunded-card.json", &cid);
        for _ in 0..2 {
            let r = send(&t, &refund).await;
            assert_eq!(r.body["kept"], true, "{}: {}", t.backend, r.body);
            assert_eq!(r.body["transactionId"], "chargebee:txn_card_pay_1");
        }
        assert!(entries(&t).await.is_empty(), "{}", t.backend);

        let pay = event("payment_succeeded-card.json", &cid);
        let r = send(&t, &pay).await;
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["commissionCents"], 1470, "{}", t.backend);
        let applied = r.body["refundsApplied"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(applied.len(), 1, "{}: {}", t.backend, r.body);
        assert_eq!(applied[0]["refundId"], "chargebee:txn_card_ref_1");
        assert_eq!(applied[0]["refundedCents"], 4900);
        assert_eq!(applied[0]["commissionReversedCents"], 1470);
        // the full refund leaves the affiliate nothing, and redeliveries change nothing
        let r = send(&t, &pay).await;
        assert_eq!(r.body["duplicate"], true, "{}: {}", t.backend, r.body);
        let r = send(&t, &refund).await;
        assert_eq!(r.body["refundedCents"], 4900, "{}: {}", t.backend, r.body);
        assert_eq!(
            entries(&t).await,
            vec![(EntryKind::Accrual, 1470), (EntryKind::Reversal, -1470)],
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_direct_debit_refund_finds_its_payment_through_the_credit_note() {
    for t in Harness::all_with(config()).await {
        let cid = click(&t).await;
        let r = send(&t, &event("payment_succeeded-direct_debit.json", &cid)).await;
        assert_eq!(r.body["transactionId"], "chargebee:txn_dd_pay_1");
        assert_eq!(r.body["commissionCents"], 1470, "{}: {}", t.backend, r.body);

        // refund_initiated (in progress), then payment_refunded (success) of the same refund:
        // 20.00 of 49.00 reversed once
        for name in [
            "refund_initiated-direct_debit.json",
            "payment_refunded-direct_debit.json",
            "refund_initiated-direct_debit.json",
        ] {
            let r = send(&t, &event(name, &cid)).await;
            assert_eq!(
                r.body["transactionId"], "chargebee:txn_dd_pay_1",
                "{name}: {}",
                r.body
            );
            assert_eq!(r.body["refundId"], "chargebee:txn_dd_ref_1");
            assert_eq!(r.body["refundedCents"], 2000, "{}: {name}", t.backend);
            assert_eq!(
                r.body["commissionReversedCents"], 600,
                "{}: {name}",
                t.backend
            );
        }
        assert_eq!(
            entries(&t).await,
            vec![(EntryKind::Accrual, 1470), (EntryKind::Reversal, -600)],
            "{}",
            t.backend
        );
        // a refund that failed at the bank is not one
        let mut failed = event("payment_refunded-direct_debit.json", &cid);
        failed["content"]["transaction"]["id"] = json!("txn_dd_ref_failed");
        failed["content"]["transaction"]["status"] = json!("failure");
        let r = send(&t, &failed).await;
        assert_eq!(r.body["ignored"], true, "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t).await.len(), 2, "{}", t.backend);
    }
}

#[tokio::test]
async fn a_direct_debit_refund_before_its_payment_is_applied_with_it() {
    for t in Harness::all_with(config()).await {
        let cid = click(&t).await;
        let r = send(&t, &event("refund_initiated-direct_debit.json", &cid)).await;
        assert_eq!(r.body["kept"], true, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["transactionId"], "chargebee:invoice:inv_dd_1");
        let r = send(&t, &event("payment_succeeded-direct_debit.json", &cid)).await;
        let applied = r.body["refundsApplied"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(applied.len(), 1, "{}: {}", t.backend, r.body);
        assert_eq!(applied[0]["commissionReversedCents"], 600);
        // the refund's later events find the sale through the linked invoice
        let r = send(&t, &event("payment_refunded-direct_debit.json", &cid)).await;
        assert_eq!(
            r.body["transactionId"], "chargebee:txn_dd_pay_1",
            "{}",
            r.body
        );
        assert_eq!(r.body["refundedCents"], 2000, "{}: {}", t.backend, r.body);
        assert_eq!(
            entries(&t).await,
            vec![(EntryKind::Accrual, 1470), (EntryKind::Reversal, -600)],
            "{}",
            t.backend
        );
    }
}

/// The payment and its refund delivered at the same moment, many times over, by concurrent
/// requests (on PostgreSQL they run in parallel transactions): every refund is applied exactly
/// once, whichever arrives first, never lost between "kept" and "applied".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_and_its_refund_racing_are_applied_once() {
    use std::net::SocketAddr;
    use tower::ServiceExt;

    async fn race_send(router: axum::Router, ev: Value) -> StatusCode {
        let mut req = Request::post("/webhooks/chargebee/acme")
            .header("content-type", "application/json")
            .header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{USER}:{PASS}"))),
            )
            .body(Body::from(ev.to_string()))
            .expect("request");
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from((
                [10, 0, 0, 1],
                5555,
            ))));
        router.oneshot(req).await.expect("infallible").status()
    }

    const ROUNDS: usize = 12;
    for t in Harness::all_with(config()).await {
        let cid = click(&t).await;
        let mut tasks = Vec::new();
        for i in 0..ROUNDS {
            let mut pay = event("payment_succeeded-card.json", &cid);
            pay["id"] = json!(format!("ev_pay_{i}"));
            pay["content"]["transaction"]["id"] = json!(format!("txn_pay_{i}"));
            let mut refund = event("payment_refunded-card.json", &cid);
            refund["id"] = json!(format!("ev_ref_{i}"));
            refund["content"]["transaction"]["id"] = json!(format!("txn_ref_{i}"));
            refund["content"]["transaction"]["refunded_txn_id"] = json!(format!("txn_pay_{i}"));
            refund["content"]["transaction"]["amount"] = json!(1000);
            tasks.push(tokio::spawn(race_send(t.router.clone(), pay)));
            tasks.push(tokio::spawn(race_send(t.router.clone(), refund)));
        }
        for task in tasks {
            assert_eq!(task.await.expect("task"), StatusCode::OK, "{}", t.backend);
        }
        // 49.00 at 30 % = 14.70 each; 10.00 of it refunded reverses 3.00 each, once
        let all = entries(&t).await;
        let accruals = all.iter().filter(|e| **e == (EntryKind::Accrual, 1470));
        let reversals = all.iter().filter(|e| **e == (EntryKind::Reversal, -300));
        assert_eq!(accruals.count(), ROUNDS, "{}: {all:?}", t.backend);
        assert_eq!(reversals.count(), ROUNDS, "{}: {all:?}", t.backend);
        assert_eq!(all.len(), 2 * ROUNDS, "{}: {all:?}", t.backend);
    }
}
