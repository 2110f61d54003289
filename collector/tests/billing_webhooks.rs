//! Chargebee webhooks (issues 11, 20) through the real router on SQLite and PostgreSQL:
//! a click, then the provider's event in its published shape, then the sale, the commission
//! and the refund in the ledger; redeliveries, wrong credentials and signatures, unknown events.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clicktrail_collector::config::Config;
use clicktrail_domain::ledger::EntryKind;
use common::{Harness, Resp};
use serde_json::{json, Value};

const CB_USER: &str = "cb_hook";
const CB_PASS: &str = "cb_pass_123";

/// `acme` has both webhooks configured; `bare` has neither.
fn config() -> Config {
    Config::from_toml(&format!(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
hold_days = 0
allowed_origins = ["*"]
affiliates = ["alice"]
chargebee_webhook_username = "{CB_USER}"
chargebee_webhook_password = "{CB_PASS}"
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[[tenants]]
id = "bare"
api_key = "bare_key_123"
hold_days = 0
allowed_origins = ["*"]
affiliates = ["alice"]
[tenants.conversion_types.sale]
revenue_share_percent = "30"
"#
    ))
    .expect("config")
}

async fn click(t: &Harness, tenant: &str) -> String {
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId": tenant, "eventId": uuid::Uuid::new_v4().to_string(), "aff": "alice"})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r.body["cid"].as_str().expect("cid").to_string()
}

async fn chargebee(t: &Harness, tenant: &str, auth: Option<(&str, &str)>, event: &Value) -> Resp {
    let mut req = Request::post(format!("/webhooks/chargebee/{tenant}"))
        .header("content-type", "application/json");
    if let Some((u, p)) = auth {
        req = req.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))),
        );
    }
    t.send(req.body(Body::from(event.to_string())).expect("request"))
        .await
}

async fn cb(t: &Harness, event: &Value) -> Resp {
    chargebee(t, "acme", Some((CB_USER, CB_PASS)), event).await
}

/// Chargebee's webhook event envelope with `content`.
fn cb_event(id: &str, kind: &str, content: Value) -> Value {
    json!({
        "id": id,
        "occurred_at": 1_764_000_000,
        "source": "scheduled_job",
        "object": "event",
        "api_version": "v2",
        "event_type": kind,
        "webhook_status": "not_configured",
        "content": content
    })
}

fn cb_customer(id: &str, cid: Option<&str>) -> Value {
    let mut c = json!({
        "id": id, "email": "buyer@example.com", "auto_collection": "on",
        "object": "customer", "deleted": false
    });
    if let Some(cid) = cid {
        c["cf_clicktrail_cid"] = json!(cid);
    }
    c
}

fn cb_payment(txn: &str, cents: i64, customer: Value) -> Value {
    json!({
        "transaction": {
            "id": txn, "customer_id": customer["id"], "subscription_id": "sub_cb_1",
            "gateway": "stripe", "type": "payment", "date": 1_764_000_000,
            "currency_code": "USD", "amount": cents, "status": "success", "object": "transaction",
            "linked_invoices": [{"invoice_id": "inv_1", "applied_amount": cents}]
        },
        "invoice": {
            "id": "inv_1", "customer_id": customer["id"], "subscription_id": "sub_cb_1",
            "recurring": true, "status": "paid", "currency_code": "USD",
            "total": cents, "amount_paid": cents, "object": "invoice"
        },
        "customer": customer,
        "subscription": {"id": "sub_cb_1", "customer_id": "cust_1", "status": "active", "object": "subscription"}
    })
}

fn cb_refund(refund_txn: &str, paid_txn: &str, cents: i64) -> Value {
    json!({
        "transaction": {
            "id": refund_txn, "customer_id": "cust_1", "subscription_id": "sub_cb_1",
            "gateway": "stripe", "type": "refund", "date": 1_764_000_100,
            "currency_code": "USD", "amount": cents, "status": "success", "object": "transaction",
            "refunded_txn_id": paid_txn
        },
        "credit_note": {"id": "cn_1", "type": "refundable", "amount_refunded": cents, "object": "credit_note"},
        "customer": cb_customer("cust_1", None)
    })
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

#[tokio::test]
async fn chargebee_payment_is_a_sale_once_and_refunds_reverse() {
    for t in Harness::all_with(config()).await {
        let cid = click(&t, "acme").await;
        let ev = cb_event(
            "ev_1",
            "payment_succeeded",
            cb_payment("txn_1", 10_000, cb_customer("cust_1", Some(&cid))),
        );
        let r = cb(&t, &ev).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["attributed"], true, "{}", t.backend);
        assert_eq!(r.body["transactionId"], "chargebee:txn_1");
        assert_eq!(r.body["commissionCents"], 3000, "{}", t.backend);
        // redelivered: one sale
        let r = cb(&t, &ev).await;
        assert_eq!(r.status, StatusCode::OK, "{}", t.backend);
        assert_eq!(r.body["duplicate"], true, "{}: {}", t.backend, r.body);
        assert_eq!(
            entries(&t).await,
            vec![(EntryKind::Accrual, 3000)],
            "{}",
            t.backend
        );

        // partial refund: 25 % of the sale, 25 % of the commission reversed; twice = once
        let ev = cb_event(
            "ev_2",
            "payment_refunded",
            cb_refund("txn_r1", "txn_1", 2_500),
        );
        for _ in 0..2 {
            let r = cb(&t, &ev).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
            assert_eq!(r.body["refundedCents"], 2500, "{}", t.backend);
            assert_eq!(r.body["commissionReversedCents"], 750, "{}", t.backend);
        }
        assert_eq!(
            entries(&t).await,
            vec![(EntryKind::Accrual, 3000), (EntryKind::Reversal, -750)],
            "{}",
            t.backend
        );
        // a refund of a payment not recorded (yet): acknowledged and kept, no ledger entry
        let ev = cb_event(
            "ev_3",
            "payment_refunded",
            cb_refund("txn_r2", "txn_unknown", 100),
        );
        let r = cb(&t, &ev).await;
        assert_eq!(r.status, StatusCode::OK, "{}", t.backend);
        assert_eq!(r.body["kept"], true, "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t).await.len(), 2, "{}", t.backend);
    }
}

#[tokio::test]
async fn chargebee_subscription_created_links_the_customer_for_later_payments() {
    for t in Harness::all_with(config()).await {
        let cid = click(&t, "acme").await;
        let sub = json!({
            "subscription": {"id": "sub_9", "customer_id": "cust_9", "status": "in_trial",
                "cf_clicktrail_cid": cid, "object": "subscription"},
            "customer": cb_customer("cust_9", None)
        });
        let r = cb(&t, &cb_event("ev_s", "subscription_created", sub)).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["linked"], "cust_9", "{}: {}", t.backend, r.body);
        // the payment names only the customer: attributed through the link
        let mut pay = cb_payment("txn_9", 4_000, cb_customer("cust_9", None));
        pay["subscription"] =
            json!({"id": "sub_9", "customer_id": "cust_9", "object": "subscription"});
        let r = cb(&t, &cb_event("ev_p", "payment_succeeded", pay)).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["commissionCents"], 1200, "{}", t.backend);
        // a customer nobody linked: recorded, unattributed
        let pay = cb_payment("txn_10", 4_000, cb_customer("cust_other", None));
        let r = cb(&t, &cb_event("ev_q", "payment_succeeded", pay)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", t.backend);
        assert_eq!(r.body["attributed"], false, "{}: {}", t.backend, r.body);
        assert_eq!(
            entries(&t).await,
            vec![(EntryKind::Accrual, 1200)],
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn chargebee_auth_configuration_and_unknown_events() {
    for t in Harness::all_with(config()).await {
        let cid = click(&t, "acme").await;
        let ev = cb_event(
            "ev_1",
            "payment_succeeded",
            cb_payment("txn_1", 10_000, cb_customer("cust_1", Some(&cid))),
        );
        for auth in [None, Some((CB_USER, "wrong")), Some(("other", CB_PASS))] {
            let r = chargebee(&t, "acme", auth, &ev).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{}: {auth:?}",
                t.backend
            );
        }
        // no credentials configured, or no such tenant: 404
        for tenant in ["bare", "nope"] {
            let r = chargebee(&t, tenant, Some((CB_USER, CB_PASS)), &ev).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}: {tenant}", t.backend);
        }
        assert!(entries(&t).await.is_empty(), "{}", t.backend);
        let r = cb(
            &t,
            &cb_event(
                "ev_u",
                "customer_changed",
                json!({"customer": cb_customer("c", None)}),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", t.backend);
        assert_eq!(r.body["ignored"], true, "{}", t.backend);
        // not JSON: 400; no event id: 422
        let r = chargebee(&t, "acme", Some((CB_USER, CB_PASS)), &json!("x")).await;
        assert!(r.status.is_client_error(), "{}: {}", t.backend, r.status);
        let r = cb(&t, &json!({"event_type": "payment_succeeded"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", t.backend);
        assert!(entries(&t).await.is_empty(), "{}", t.backend);
    }
}
