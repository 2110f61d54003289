//! Stripe's own example objects (`<repo>/tests/fixtures/stripe/stripe-fixtures.json`: the current
//! API shape and the one before 2025-03-31, "basil") read by the collector's typed events; then
//! events built from them, changing only ids, amounts, currencies, metadata,
//! client_reference_id and state fields, through the real webhook route on every backend.

use axum::http::StatusCode;
use clicktrail_collector::config::Config;
use clicktrail_collector::http::webhooks::stripe_sale::sale;
use clicktrail_collector::http::webhooks::stripe_types::{CheckoutSession, Event, Invoice};
use clicktrail_domain::catalog::Tenant;
use clicktrail_domain::conversion::Status;
use clicktrail_store::Target;
use serde_json::{json, Value};

mod common;
use common::{signature_header, Harness, NOW};

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
    let v = fixtures()[era][kind].clone();
    assert!(v.is_object(), "no {era} {kind} in the fixtures");
    v
}

/// Strict parse with the failing path in the panic message.
fn parse<T: serde::de::DeserializeOwned>(what: &str, v: &Value) -> T {
    serde_path_to_error::deserialize(v)
        .unwrap_or_else(|e| panic!("{what}: `{}`: {}", e.path(), e.inner()))
}

/// The fixture's event envelope around `object`.
fn event(era: &str, id: &str, kind: &str, object: Value) -> Value {
    let mut ev = fixture(era, "event");
    ev["id"] = json!(id);
    ev["type"] = json!(kind);
    ev["data"]["object"] = object;
    ev
}

fn demo_tenant() -> Tenant {
    Config::demo()
        .tenants
        .into_iter()
        .map(|s| s.tenant)
        .find(|t| t.id == "demo")
        .expect("the demo tenant")
}

const CID: &str = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";

#[test]
fn every_fixture_object_of_a_handled_type_parses() {
    for era in ERAS {
        let cs: CheckoutSession = parse(era, &fixture(era, "checkout.session"));
        assert_eq!(
            cs.id(),
            Some("cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY"),
            "{era}"
        );
        assert_eq!(cs.amount_total, None, "{era}");
        assert_eq!(cs.client_reference_id(), None, "{era}");
        assert_eq!(cs.payment_status.as_deref(), Some("unpaid"), "{era}");
        assert_eq!(cs.mode.as_deref(), Some("payment"), "{era}");
        assert_eq!(
            cs.payment_intent.as_ref().map(|p| p.id()),
            Some("pi_1PgafyB7WZ01zgkWSjxsAJo3"),
            "{era}"
        );
        assert_eq!(
            cs.customer_details
                .as_ref()
                .and_then(|d| d.email.as_deref()),
            Some("example@example.com")
        );
        assert_eq!(cs.subscription_id(), None, "{era}");
        assert!(cs.metadata.is_some_and(|m| m.is_empty()), "{era}");

        let inv: Invoice = parse(era, &fixture(era, "invoice"));
        assert_eq!(inv.id(), Some("in_1Pgc6tB7WZ01zgkWu9fdqL6I"), "{era}");
        assert_eq!(inv.amount_paid, Some(0), "{era}");
        assert_eq!(inv.currency.as_deref(), Some("usd"), "{era}");
        assert_eq!(inv.billing_reason.as_deref(), Some("manual"), "{era}");
        assert_eq!(
            inv.customer.as_ref().map(|c| c.id()),
            Some("cus_QXg1o8vcGmoR32"),
            "{era}"
        );
        assert_eq!(inv.lines.as_ref().map(|l| l.data.len()), Some(1), "{era}");
        assert!(inv.visitor_metadata().is_none(), "{era}");
        assert!(!inv.is_subscription_start(), "{era}");
    }
    // where each shape keeps the subscription
    let current: Invoice = parse("current", &fixture("current", "invoice"));
    assert!(current.subscription.is_none());
    assert_eq!(current.subscription_id(), Some("subscription"));
    let old: Invoice = parse("pre_basil", &fixture("pre_basil", "invoice"));
    assert!(old.parent.is_none());
    assert!(old.subscription_details.is_some());
    assert_eq!(old.subscription_id(), None);

    // and the envelopes
    for era in ERAS {
        let ev: Event = parse(era, &fixture(era, "event"));
        assert_eq!(ev.id.as_deref(), Some("evt_1Pgc76B7WZ01zgkWwyRHS12y"));
        assert_eq!(ev.kind.as_deref(), Some("plan.created"));
        assert_eq!(ev.livemode, Some(false));
    }
}

/// A fixture event as the sale it makes for the demo tenant.
fn sale_of(ev: &Value) -> Option<(clicktrail_store::SaleIn, bool)> {
    let ev: Event = parse("event", ev);
    let object = ev.object().expect("a valid event").expect("a handled type");
    sale(&demo_tenant(), &object, NOW)
}

#[test]
fn checkout_sessions_of_both_shapes_make_the_same_sale() {
    for era in ERAS {
        let mut cs = fixture(era, "checkout.session");
        // Stripe's example is an open, unpaid session without an amount: no sale
        let ev = event(era, "evt_a", "checkout.session.completed", cs.clone());
        assert!(sale_of(&ev).is_none(), "{era}");

        cs["amount_total"] = json!(4900);
        cs["currency"] = json!("eur");
        cs["client_reference_id"] = json!(CID.to_uppercase());
        cs["payment_status"] = json!("paid");
        cs["status"] = json!("complete");
        let (sale, first) = sale_of(&event(
            era,
            "evt_b",
            "checkout.session.completed",
            cs.clone(),
        ))
        .expect(era);
        assert_eq!(
            sale.transaction_id,
            "stripe:cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY"
        );
        assert_eq!(sale.amount_cents, 4900);
        assert_eq!(sale.currency, "EUR");
        assert_eq!(sale.status, Status::Approved);
        assert!(
            matches!(&sale.target, Target::Cid(c) if c.as_str() == CID),
            "{era}"
        );
        assert!(!first && !sale.is_recurring && sale.allow_unresolved);

        // Affitor's metadata instead of client_reference_id; a subscription; settles later
        cs["client_reference_id"] = Value::Null;
        cs["metadata"] = json!({"affitor_customer_key": "cus_9", "program_id": "demo"});
        cs["subscription"] = json!("sub_1");
        cs["payment_status"] = json!("unpaid");
        let (sale, first) = sale_of(&event(
            era,
            "evt_c",
            "checkout.session.completed",
            cs.clone(),
        ))
        .expect(era);
        assert_eq!(sale.target, Target::CustomerKey("cus_9".into()), "{era}");
        assert_eq!(sale.customer_key.as_deref(), Some("cus_9"));
        assert_eq!(sale.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!(sale.status, Status::Pending);
        assert!(first, "a subscription's checkout is its first payment");

        // an expanded subscription object is read as its id
        cs["subscription"] = json!({"id": "sub_2", "object": "subscription", "metadata": {}});
        let (sale, _) = sale_of(&event(era, "evt_d", "checkout.session.completed", cs)).expect(era);
        assert_eq!(sale.subscription_id.as_deref(), Some("sub_2"));
    }
}

/// A renewal invoice for `sub` carrying `metadata` where each API shape puts it.
fn renewal(era: &str, sub: &str, metadata: Value, reason: &str) -> Value {
    let mut inv = fixture(era, "invoice");
    inv["id"] = json!(format!("in_{era}_{reason}"));
    inv["amount_paid"] = json!(2000);
    inv["status"] = json!("paid");
    inv["billing_reason"] = json!(reason);
    if era == "current" {
        inv["parent"] = json!({"type": "subscription_details", "quote_details": null,
            "subscription_details": {"subscription": sub, "metadata": metadata}});
    } else {
        inv["subscription"] = json!(sub);
        inv["subscription_details"] = json!({"metadata": metadata});
    }
    inv
}

#[test]
fn invoices_of_both_shapes_name_the_subscription_and_the_visitor() {
    for era in ERAS {
        // the fixture as it is: a manual draft invoice, nothing paid: no sale
        let ev = event(
            era,
            "evt_0",
            "invoice.payment_succeeded",
            fixture(era, "invoice"),
        );
        assert!(sale_of(&ev).is_none(), "{era}");

        for kind in ["invoice.payment_succeeded", "invoice.paid"] {
            let inv = renewal(
                era,
                "sub_7",
                json!({"affitor_click_id": CID}),
                "subscription_cycle",
            );
            let (sale, first) = sale_of(&event(era, "evt_1", kind, inv)).expect(era);
            assert_eq!(
                sale.transaction_id,
                format!("stripe:in_{era}_subscription_cycle")
            );
            assert_eq!(sale.amount_cents, 2000);
            assert_eq!(sale.currency, "USD");
            assert_eq!(sale.subscription_id.as_deref(), Some("sub_7"), "{era}");
            assert!(
                matches!(&sale.target, Target::Cid(c) if c.as_str() == CID),
                "{era}"
            );
            assert!(sale.is_recurring && !first, "{era}: a renewal");
        }

        // the first invoice of a subscription, metadata with a customer key
        let inv = renewal(
            era,
            "sub_8",
            json!({"affitor_customer_key": "cus_1"}),
            "subscription_create",
        );
        let (sale, first) = sale_of(&event(era, "evt_2", "invoice.paid", inv)).expect(era);
        assert_eq!(sale.target, Target::CustomerKey("cus_1".into()), "{era}");
        assert!(first && !sale.is_recurring, "{era}");

        // no metadata: resolved through the subscription's earlier sale
        let inv = renewal(era, "sub_9", json!({}), "subscription_cycle");
        let (sale, _) = sale_of(&event(era, "evt_3", "invoice.paid", inv)).expect(era);
        assert_eq!(sale.target, Target::Subscription("sub_9".into()), "{era}");
    }

    // before basil the subscription may be expanded, with its own metadata
    let mut inv = renewal("pre_basil", "x", Value::Null, "subscription_cycle");
    inv["subscription"] = json!({"id": "sub_x", "object": "subscription",
        "metadata": {"affitor_click_id": CID}});
    let (sale, _) = sale_of(&event("pre_basil", "evt_4", "invoice.paid", inv)).expect("expanded");
    assert_eq!(sale.subscription_id.as_deref(), Some("sub_x"));
    assert!(matches!(&sale.target, Target::Cid(c) if c.as_str() == CID));

    // basil: only a line names the subscription
    let mut inv = fixture("current", "invoice");
    inv["amount_paid"] = json!(500);
    inv["parent"] = Value::Null;
    inv["lines"]["data"][0]["parent"]["subscription_item_details"]["subscription"] =
        json!("sub_line");
    let (sale, _) = sale_of(&event("current", "evt_5", "invoice.paid", inv)).expect("line");
    assert_eq!(sale.subscription_id.as_deref(), Some("sub_line"));
}

#[test]
fn a_field_of_the_wrong_type_is_a_422_naming_its_path() {
    let mut cs = fixture("current", "checkout.session");
    cs["amount_total"] = json!("4900");
    let ev: Event = parse(
        "event",
        &event("current", "evt_x", "checkout.session.completed", cs),
    );
    let err = ev.object().unwrap_err();
    assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err.body()["error"]["field"], "data.object.amount_total");
}

/// A negative money amount is a 422 naming its path, also inside a list; a field only the
/// commission rules read is skipped when its shape is unexpected; an unhandled type is not read.
#[test]
fn money_amounts_are_checked_and_rule_fields_are_lenient() {
    let mut ch = fixture("current", "charge");
    ch["refunds"] = json!({"object": "list", "data": [{"id": "re_1", "amount": -5}]});
    let ev: Event = parse("event", &event("current", "evt_n", "charge.refunded", ch));
    let err = ev.object().unwrap_err();
    assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err.body()["error"]["field"],
        "data.object.refunds.data[0].amount"
    );
    let mut d = fixture("current", "dispute");
    d["amount"] = json!(-1);
    let ev: Event = parse(
        "event",
        &event("current", "evt_d", "charge.dispute.created", d),
    );
    assert_eq!(
        ev.object().unwrap_err().body()["error"]["field"],
        "data.object.amount"
    );

    let mut cs = fixture("current", "checkout.session");
    cs["amount_total"] = json!(4900);
    cs["discounts"] =
        json!([{"coupon": 7, "promotion_code": ["x"]}, "di_1", {"promotion_code": "promo_ok"}]);
    cs["customer_email"] = json!({"not": "a string"});
    let (s, _) =
        sale_of(&event("current", "evt_l", "checkout.session.completed", cs)).expect("a sale");
    assert_eq!(s.coupon_codes, ["promo_ok"]);

    let mut other = event("current", "evt_o", "customer.created", json!({"id": 5}));
    other["data"]["object"] = json!("not an object");
    let ev: Event = parse("event", &other);
    assert!(ev.object().expect("not read").is_none());
}

/// Fixture events through `/webhooks/stripe` (signed), every backend: a checkout of the
/// current shape, renewals of both shapes, the first invoice deduplicated against the checkout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_events_through_the_webhook_route() {
    for t in Harness::all().await {
        let b = t.backend;
        let cid = {
            let r = t
                .post(
                    "/tracking/click/v1",
                    json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":"alice"})
                        .to_string(),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
            r.body["cid"].as_str().expect("cid").to_string()
        };
        let send = |ev: Value| {
            let p = ev.to_string();
            let sig = signature_header("whsec_demo", NOW, p.as_bytes());
            (p, sig)
        };
        let mut cs = fixture("current", "checkout.session");
        cs["id"] = json!("cs_fixture_1");
        cs["amount_total"] = json!(2000);
        cs["currency"] = json!("usd");
        cs["client_reference_id"] = json!(cid);
        cs["payment_status"] = json!("paid");
        cs["mode"] = json!("subscription");
        cs["subscription"] = json!("sub_f");
        let (p, s) = send(event("current", "evt_f1", "checkout.session.completed", cs));
        let r = t.stripe(&p, &s).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["attributed"], true, "{b}: {}", r.body);

        // the subscription's first invoice (current shape): the same payment, not a second sale
        let inv = renewal("current", "sub_f", json!({}), "subscription_create");
        let (p, s) = send(event("current", "evt_f2", "invoice.payment_succeeded", inv));
        assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK, "{b}");

        // renewals: one of each shape, resolved through the subscription
        for (era, id) in [("current", "evt_f3"), ("pre_basil", "evt_f4")] {
            let inv = renewal(era, "sub_f", json!({}), "subscription_cycle");
            let (p, s) = send(event(era, id, "invoice.payment_succeeded", inv));
            let r = t.stripe(&p, &s).await;
            assert_eq!(r.status, StatusCode::OK, "{b} {era}: {}", r.body);
            assert_eq!(r.body["attributed"], true, "{b} {era}: {}", r.body);
        }
        // the same delivery again: deduplicated by event id
        let inv = renewal("pre_basil", "sub_f", json!({}), "subscription_cycle");
        let (p, s) = send(event(
            "pre_basil",
            "evt_f4",
            "invoice.payment_succeeded",
            inv,
        ));
        assert_eq!(t.stripe(&p, &s).await.body["duplicate"], true, "{b}");

        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 3, "{b}: {rep}");
        assert_eq!(rep["totals"]["revenueCents"], 6000, "{b}: {rep}");
        assert_eq!(rep["totals"]["commissionCents"], 1800, "{b}: {rep}");
    }
}
