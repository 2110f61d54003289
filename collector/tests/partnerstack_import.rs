//! `import-csv` with PartnerStack's transactions layout, on SQLite and PostgreSQL:
//! the columns as PartnerStack's importer takes them (`key`, `amount` in cents, the customer
//! by key, external key or email, `category_key`, `product_key`), attributed through the
//! customer's lead like any sale, all-or-nothing, and a file mixing layouts refused.

use axum::http::StatusCode;
use clicktrail_collector::import::import_file;
use serde_json::json;

mod common;
use common::{Harness, NOW};

/// A click for `aff` and a lead linking `customer_key` (and `email`) to it.
async fn referred_customer(t: &Harness, aff: &str, customer_key: &str, email: &str) {
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId": "demo", "aff": aff, "eventId": uuid::Uuid::new_v4().to_string()})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cid = r.body["cid"].as_str().expect("cid").to_string();
    let r = t
        .api(
            "/api/v1/track/lead",
            json!({"click_id": cid, "customer_key": customer_key, "email": email}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

fn affiliate(rep: &serde_json::Value, code: &str) -> serde_json::Value {
    rep["affiliates"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["affiliate"] == code).cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partnerstack_transactions_are_imported_as_they_are() {
    for t in Harness::all().await {
        let b = t.backend;
        let tenant = t.catalog.get().tenant("demo").expect("demo").clone();
        referred_customer(&t, "alice", "cus_100", "ann@example.com").await;
        // PartnerStackJS without a customer id: the email is the customer key
        referred_customer(&t, "bob", "bo@example.com", "bo@example.com").await;

        // PartnerStack's column names, its order and case; amount in cents; created_at in
        // Unix milliseconds or ISO; a customer by key, by email
        let file =
            "Key,Customer_Key,Customer_Email,Amount,Currency,Created_At,Category_Key,Product_Key\n\
            txn_0001,cus_100,,4900,usd,1794528000000,sale,pro-monthly\n\
            txn_0002,,bo@example.com,1000,USD,2026-11-02T10:00:00Z,signup,\n\
            txn_0003,cus_unknown_to_clicktrail,,700,USD,,,\n";
        // a customer clicktrail never saw fails the whole file, by line
        let r = import_file(t.store.as_ref(), &tenant, file.as_bytes(), NOW)
            .await
            .expect(b);
        let errs = r.expect_err("a bad row");
        assert_eq!(errs.len(), 1, "{b}: {errs:?}");
        assert_eq!(errs[0].0, 4, "{b}: {errs:?}");
        assert!(
            errs[0].1.contains("cus_unknown_to_clicktrail"),
            "{b}: {errs:?}"
        );
        assert_eq!(t.report("").await["totals"]["conversions"], 0, "{b}");

        let file = file.replace("txn_0003,cus_unknown_to_clicktrail,,700,USD,,,\n", "");
        let n = import_file(t.store.as_ref(), &tenant, file.as_bytes(), NOW)
            .await
            .expect(b);
        assert_eq!(n, Ok(2), "{b}");
        let rep = t.report("?from=2026-11-01&to=2026-11-30").await;
        // alice: 30 % of 49.00 (the demo's sale type); bob: the fixed 5.00 of `signup`
        let alice = affiliate(&rep, "alice");
        assert_eq!(alice["revenueCents"], 4900, "{b}: {rep}");
        assert_eq!(alice["commissionCents"], 1470, "{b}: {rep}");
        let bob = affiliate(&rep, "bob");
        assert_eq!(bob["commissionCents"], 500, "{b}: {rep}");

        // the same file again: every key is taken, nothing imported twice
        let again = import_file(t.store.as_ref(), &tenant, file.as_bytes(), NOW)
            .await
            .expect(b);
        assert_eq!(again.map_err(|e| e.len()), Err(2), "{b}");
    }
}

#[tokio::test]
async fn partnerstack_headers_are_checked_before_any_row() {
    let tenant = clicktrail_collector::config::Config::demo().tenants[0]
        .tenant
        .clone();
    let check = |csv: &str| {
        clicktrail_collector::import::parse_csv(&tenant, csv.as_bytes(), NOW)
            .expect_err("refused")
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join(" | ")
    };
    // mixing layouts: clicktrail's click_id in a PartnerStack file
    let m = check("key,customer_key,amount,click_id\nk1,c,1,\n");
    assert!(m.contains("unknown column `click_id`"), "{m}");
    assert!(m.contains("PartnerStack"), "{m}");
    // no key: refused (re-importing would double the money)
    let m = check("customer_email,amount\na@b.c,100\n");
    assert!(m.contains("missing column `key`"), "{m}");
    // no customer column at all
    let m = check("key,amount,product_key\nk1,100,p\n");
    assert!(m.contains("missing column `customer_key`"), "{m}");
    // an amount that is not whole cents or is missing, an unknown category, named by the
    // file's columns
    let m = check("key,customer_key,amount,category_key\nk1,c,49.00,\nk2,c,100,gold\nk3,c,,\n");
    assert!(m.contains("amount (cents)"), "{m}");
    assert!(m.contains("amount: is required"), "{m}");
    assert!(
        m.contains("category_key: unknown conversion type `gold`"),
        "{m}"
    );
    // clicktrail's own layout still reads `amount` as a decimal
    let rows = clicktrail_collector::import::parse_csv(
        &tenant,
        "transaction_id,amount\nt1,49.00\n".as_bytes(),
        NOW,
    )
    .expect("own layout");
    assert_eq!(rows.len(), 1);
}
