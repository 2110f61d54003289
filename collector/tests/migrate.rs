//! `migrate`: an SQLite database with clicks, leads, sales, a refund, a payout, an affiliate
//! made through the admin API and a portal link is copied into PostgreSQL and back; the
//! reports, the portal link and every count and money sum are the same, new writes continue
//! after the copied ids, and a non-empty target is refused.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::db::Db;
use clicktrail_collector::migrate::migrate;
use clicktrail_collector::Config;
use clicktrail_store::Store;
use clicktrail_store_postgres::PgStore;
use clicktrail_store_sqlite::SqliteStore;
use common::Harness;
use serde_json::{json, Value};

const ADMIN: &str = "Bearer demo_admin_key";

fn demo() -> Config {
    let mut c = Config::demo();
    c.server.rate_limit_per_second = 0;
    c
}

async fn admin(h: &Harness, method: &str, path: &str, body: Value) -> common::Resp {
    h.send(
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", ADMIN)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

async fn click(h: &Harness, aff: &str) -> String {
    let r = h
        .post(
            "/tracking/click/v1",
            json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":aff})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["cid"].as_str().unwrap().to_string()
}

/// What must survive the copy: the report over all time, the audit log, a portal page.
async fn snapshot(h: &Harness, token: &str) -> (Value, Value, Value) {
    let report = h.report("?from=2000-01-01&to=2099-12-31").await;
    let audit = admin(h, "GET", "/api/v1/audit", Value::Null).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert!(!audit.body.to_string().is_empty());
    let audit = audit.body;
    let portal = h
        .send(
            Request::get(format!("/portal/{token}.json"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(portal.status, StatusCode::OK, "{}", portal.body);
    (report, audit, portal.body)
}

#[tokio::test]
async fn sqlite_to_postgres_and_back_copies_everything() {
    let dir = tempfile::tempdir().unwrap();
    let lite = dir.path().join("live.db").to_str().unwrap().to_string();
    let token;
    let before;
    {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&lite).unwrap());
        let h = Harness::new(demo(), store).await;
        let a = click(&h, "alice").await;
        click(&h, "alice").await;
        let b = click(&h, "bob").await;
        let r = h
            .api(
                "/api/v1/track/lead",
                json!({"click_id": a, "customer_key": "cust-a"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for (tx, cents, cid) in [("tx1", 10_000, &a), ("tx2", 4_999, &b)] {
            let r = h
                .api(
                    "/api/v1/track/sale",
                    json!({"transaction_id": tx, "amount_cents": cents, "click_id": cid}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let r = h
            .api(
                "/api/v1/track/refund",
                json!({"transaction_id": "tx1", "refund_id": "re1", "amount_cents": 2_500}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = admin(&h, "POST", "/api/v1/payouts", json!({"affiliate": "bob"})).await;
        assert!(r.status.is_success(), "{}", r.body);
        let r = admin(&h, "POST", "/api/v1/affiliates", json!({"code": "dave"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = admin(
            &h,
            "POST",
            "/api/v1/affiliates/alice/portal-link",
            Value::Null,
        )
        .await;
        token = r.body["token"].as_str().unwrap().to_string();
        before = snapshot(&h, &token).await;
    }
    let alice = before.0["affiliates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["affiliate"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["clicks"], 2, "{}", before.0);

    // SQLite -> PostgreSQL
    let pg = clicktrail_store_postgres::test_cluster::fresh_database().await;
    let mut lines = Vec::new();
    let tally = migrate(
        &Db::Sqlite(lite.clone()),
        &Db::Postgres(pg.clone()),
        &mut |l| lines.push(l),
    )
    .await
    .expect("migrate to postgres");
    assert_eq!(tally["clicks"].0, 3);
    assert!(tally["ledger"].0 >= 3, "{tally:?}");
    assert!(tally["payouts"].0 == 1, "{tally:?}");
    let text = lines.join("\n");
    assert!(text.contains("copied clicks: 3 rows"), "{text}");
    assert!(text.contains("verified:"), "{text}");
    {
        let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg).await.unwrap());
        let h = Harness::new(demo(), store).await;
        let after = snapshot(&h, &token).await;
        assert_eq!(after.0, before.0, "the report is the same on PostgreSQL");
        assert_eq!(after.1, before.1, "the audit log is the same");
        assert_eq!(
            after.2, before.2,
            "the portal link works and shows the same"
        );
        // dave (made through the API) came along; new rows continue after the copied ids
        click(&h, "dave").await;
        let r = h
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id": "tx3", "amount_cents": 100, "click_id": click(&h, "alice").await}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    // a non-empty target is refused, and left as it was
    let err = migrate(
        &Db::Sqlite(lite.clone()),
        &Db::Postgres(pg.clone()),
        &mut |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("not empty"), "{err}");

    // and back: PostgreSQL -> a new SQLite file, the two writes made on PostgreSQL included
    let back = dir.path().join("back.db").to_str().unwrap().to_string();
    let tally = migrate(
        &Db::Postgres(pg.clone()),
        &Db::Sqlite(back.clone()),
        &mut |_| {},
    )
    .await
    .expect("migrate back");
    assert_eq!(tally["clicks"].0, 5);
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg).await.unwrap());
    let on_pg = snapshot(&Harness::new(demo(), store).await, &token).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&back).unwrap());
    let on_lite = snapshot(&Harness::new(demo(), store).await, &token).await;
    assert_eq!(on_lite.0, on_pg.0);
    assert_eq!(on_lite.2, on_pg.2);
    let err = migrate(&Db::Postgres(pg.clone()), &Db::Sqlite(back), &mut |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not empty"), "{err}");
}

/// A table larger than one progress step: progress lines, and every row arrives both ways.
#[tokio::test]
async fn large_tables_report_progress() {
    let dir = tempfile::tempdir().unwrap();
    let lite = dir.path().join("big.db").to_str().unwrap().to_string();
    drop(SqliteStore::open(&lite).unwrap());
    {
        let mut con = rusqlite::Connection::open(&lite).unwrap();
        let tx = con.transaction().unwrap();
        for i in 0..60_001i64 {
            tx.execute(
                "INSERT INTO diagnostics (tenant, kind, message, created_at) VALUES ('demo', 'csp', ?1, ?2)",
                rusqlite::params![format!("m{i}"), i],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let pg = clicktrail_store_postgres::test_cluster::fresh_database().await;
    let mut lines = Vec::new();
    let tally = migrate(&Db::Sqlite(lite), &Db::Postgres(pg.clone()), &mut |l| {
        lines.push(l)
    })
    .await
    .unwrap();
    assert_eq!(tally["diagnostics"].0, 60_001);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("diagnostics: 50000/60001 rows")),
        "{lines:?}"
    );
    let back = dir.path().join("back.db").to_str().unwrap().to_string();
    let mut lines = Vec::new();
    let tally = migrate(&Db::Postgres(pg), &Db::Sqlite(back), &mut |l| lines.push(l))
        .await
        .unwrap();
    assert_eq!(tally["diagnostics"].0, 60_001);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("diagnostics: 50000/60001 rows")),
        "{lines:?}"
    );
}
