//! Erasure and retention end to end, through the real router on an SQLite file and on
//! PostgreSQL (and the real binary's `erase` command on SQLite): after clicks, a lead, a
//! signed Stripe sale (built from Stripe's own example objects in `tests/fixtures/stripe/`,
//! signed by Stripe's Node library), a refund and a payout, the customer is erased; their
//! email, customer key, Stripe customer id and CID are then nowhere in the database (SQLite:
//! the raw bytes of the database file and of its WAL; PostgreSQL: every table's text), while
//! the report, the ledger, the payouts due and the payout CSV are byte-identical, and retried
//! events are still recognised. Retention prunes old raw data without changing a report.

use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use clicktrail_store::Store;
use clicktrail_store_sqlite::SqliteStore;
use serde_json::{json, Value};

mod common;
use common::{Harness, Resp};

const SECRET: &str = "whsec_demo";
const BIN: &str = env!("CARGO_BIN_EXE_clicktrail-collector");
const DAY: i64 = 86_400;

/// A database the test can also read beside the collector.
enum Db {
    Sqlite(tempfile::TempDir, String),
    Postgres(String),
}

impl Db {
    async fn new(backend: &str) -> (Db, Arc<dyn Store>) {
        if backend == "sqlite" {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("ct.db").to_string_lossy().into_owned();
            let store = SqliteStore::open(&path).expect("sqlite store");
            (Db::Sqlite(dir, path), Arc::new(store))
        } else {
            let url = clicktrail_store_postgres::test_cluster::fresh_database().await;
            let store = clicktrail_store_postgres::PgStore::connect(&url)
                .await
                .expect("postgres store");
            (Db::Postgres(url), Arc::new(store))
        }
    }

    /// Every place a value could be left: the SQLite file and WAL bytes, or every row of
    /// every PostgreSQL table as text.
    async fn everything(&self) -> Vec<(String, Vec<u8>)> {
        match self {
            Db::Sqlite(_, path) => [path.clone(), format!("{path}-wal")]
                .into_iter()
                .map(|p| (p.clone(), std::fs::read(&p).unwrap_or_default()))
                .collect(),
            Db::Postgres(url) => {
                let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(conn);
                let tables = c
                    .query(
                        "SELECT table_name::text FROM information_schema.tables
                         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                        &[],
                    )
                    .await
                    .expect("tables");
                assert!(tables.len() > 20, "{} tables", tables.len());
                let mut out = Vec::new();
                for t in tables {
                    let name: String = t.get(0);
                    let rows = c
                        .query(&format!("SELECT t::text FROM \"{name}\" t"), &[])
                        .await
                        .expect("rows");
                    let text: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
                    out.push((name, text.join("\n").into_bytes()));
                }
                out
            }
        }
    }

    /// Where `needle` is (file or table names).
    async fn holding(&self, needle: &str) -> Vec<String> {
        self.everything()
            .await
            .into_iter()
            .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .map(|(name, _)| name)
            .collect()
    }

    /// Runs SQL that returns nothing (both dialects' common form).
    async fn sql(&self, sql: &str) {
        match self {
            Db::Sqlite(_, path) => {
                let c = rusqlite::Connection::open(path).expect("open");
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .expect("busy timeout");
                c.execute_batch(sql).expect("sql");
            }
            Db::Postgres(url) => {
                let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(conn);
                c.batch_execute(sql).await.expect("sql");
            }
        }
    }

    /// The outbox's dedupe keys, in order.
    async fn outbox_keys(&self) -> Vec<String> {
        let sql = "SELECT dedupe_key FROM outbox ORDER BY dedupe_key";
        match self {
            Db::Sqlite(_, path) => {
                let c = rusqlite::Connection::open(path).expect("open");
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .expect("busy timeout");
                let mut st = c.prepare(sql).expect("select");
                let rows = st.query_map([], |r| r.get::<_, String>(0)).expect("rows");
                rows.collect::<Result<_, _>>().expect("keys")
            }
            Db::Postgres(url) => {
                let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(conn);
                let rows = c.query(sql, &[]).await.expect("rows");
                rows.iter().map(|r| r.get(0)).collect()
            }
        }
    }

    /// Click URLs still stored.
    async fn click_urls(&self) -> Vec<String> {
        match self {
            Db::Sqlite(_, path) => {
                let c = rusqlite::Connection::open(path).expect("open");
                // a serving collector may hold the write lock for a moment (its checkpoints)
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .expect("busy timeout");
                let mut st = c
                    .prepare("SELECT coalesce(url, referrer) FROM clicks WHERE url IS NOT NULL OR referrer IS NOT NULL")
                    .expect("select");
                let rows = st.query_map([], |r| r.get::<_, String>(0)).expect("rows");
                rows.collect::<Result<_, _>>().expect("urls")
            }
            Db::Postgres(url) => {
                let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(conn);
                c.query(
                    "SELECT coalesce(url, referrer) FROM clicks WHERE url IS NOT NULL OR referrer IS NOT NULL",
                    &[],
                )
                .await
                .expect("rows")
                .iter()
                .map(|r| r.get(0))
                .collect()
            }
        }
    }
}

fn config() -> Config {
    let mut c = Config::demo();
    c.server.rate_limit_per_second = 0;
    c
}

async fn harnesses() -> Vec<(Harness, Db)> {
    let mut out = Vec::new();
    for b in ["sqlite", "postgres"] {
        let (db, store) = Db::new(b).await;
        out.push((Harness::new(config(), store).await, db));
    }
    out
}

async fn admin(h: &Harness, method: &str, path: &str, body: Option<Value>) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer demo_admin_key")
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    h.send(req).await
}

async fn click(h: &Harness, event_id: &str, aff: &str, url: &str) -> Resp {
    let r = h
        .post(
            "/tracking/click/v1",
            json!({"tenantId": "demo", "eventId": event_id, "aff": aff, "url": url,
                   "referrer": "https://news.example/post?reader=someone"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

fn fixture(kind: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/stripe/stripe-fixtures.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("fixtures are JSON");
    v["current"][kind].clone()
}

/// `Stripe-Signature` headers for `payloads` at `timestamp`, made by Stripe's Node library.
fn sign_all(payloads: &[String], timestamp: i64) -> Vec<String> {
    common::stripe_signatures(SECRET, payloads, timestamp)
}

/// A `checkout.session.completed` event from the fixtures: paid by Stripe customer `cus`
/// (email `email`) for visitor `cid`, with the merchant's customer key in the metadata.
fn checkout_event(id: &str, cid: &str, key: &str, cus: &str, email: &str, now: i64) -> String {
    let mut cs = fixture("checkout.session");
    cs["id"] = json!(id);
    cs["amount_total"] = json!(10000);
    cs["currency"] = json!("usd");
    cs["client_reference_id"] = json!(cid);
    cs["payment_status"] = json!("paid");
    cs["status"] = json!("complete");
    cs["payment_intent"] = json!(format!("pi_{id}"));
    cs["customer"] = json!(cus);
    cs["customer_details"]["email"] = json!(email);
    cs["metadata"] = json!({"affitor_customer_key": key});
    let mut ev = fixture("event");
    ev["id"] = json!(format!("evt_{id}"));
    ev["type"] = json!("checkout.session.completed");
    ev["created"] = json!(now);
    ev["livemode"] = json!(true);
    ev["data"]["object"] = cs;
    ev.to_string()
}

/// One customer's whole story: clicks, a lead, a signed Stripe sale; the sale's transaction
/// id and the click's answer and event id.
struct Story {
    cid: String,
    click_event: String,
    click_answer: Value,
    stripe_payload: String,
}

async fn story(h: &Harness, n: u32, key: &str, email: &str, cus: &str) -> Story {
    let click_event = uuid::Uuid::new_v4().to_string();
    let first = click(
        h,
        &click_event,
        "alice",
        &format!("https://shop.example/p?aff=alice&utm_source=n{n}"),
    )
    .await;
    let cid = first.body["cid"].as_str().expect("cid").to_string();
    let lead = h
        .api(
            "/api/v1/track/lead",
            json!({"click_id": cid, "customer_key": key, "email": email}),
        )
        .await;
    assert_eq!(lead.status, StatusCode::OK, "{}", lead.body);
    let payload = checkout_event(&format!("cs_story_{n}"), &cid, key, cus, email, h.now());
    let sig = sign_all(std::slice::from_ref(&payload), h.now());
    let r = h.stripe(&payload, &sig[0]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    Story {
        cid,
        click_event,
        click_answer: first.body,
        stripe_payload: payload,
    }
}

/// Everything about money and reports that must not change, as raw answers.
async fn money_view(h: &Harness, payout_id: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/report?from=2000-01-01&to=2099-12-31".to_string(),
        "/api/v1/payouts/due?through=2099-12-31".to_string(),
        format!("/api/v1/payouts/{payout_id}"),
        format!("/api/v1/payouts/{payout_id}.csv"),
    ] {
        let r = admin(h, "GET", &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        out.push(r.raw);
    }
    let ledger = h.store.ledger_entries("demo").await.expect("ledger");
    out.push(format!("{ledger:?}").into_bytes());
    out
}

#[tokio::test]
async fn erasing_a_customer_leaves_no_trace_and_no_money_changed() {
    for (h, db) in harnesses().await {
        let b = h.backend;
        let (key, email, cus) = ("cust-erase-4711", "erase.me@example.com", "cus_EraseMe4711");
        let gone = story(&h, 1, key, email, cus).await;
        click(
            &h,
            &uuid::Uuid::new_v4().to_string(),
            "bob",
            "https://shop.example/",
        )
        .await;
        let kept = story(
            &h,
            2,
            "cust-keep-0815",
            "keep.me@example.com",
            "cus_KeepMe0815",
        )
        .await;
        // a refund of the erased customer's sale, then a payout of what is due
        let r = h
            .api(
                "/api/v1/track/refund",
                json!({"transaction_id": "stripe:cs_story_1", "refund_id": "re_e1", "amount_cents": 2500}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let p = admin(
            &h,
            "POST",
            "/api/v1/payouts",
            Some(json!({"affiliate": "alice", "through": "2026-11-19"})),
        )
        .await;
        assert_eq!(p.status, StatusCode::OK, "{b}: {}", p.body);
        let payout_id = p.body["payoutId"].as_i64().expect("payoutId");
        // an outgoing webhook endpoint for leads: the lead event in the outbox names the key
        let r = admin(
            &h,
            "POST",
            "/api/v1/webhook-endpoints",
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["lead"]})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        h.advance(120);
        let queued = h
            .store
            .webhooks()
            .queue_webhook_events(h.now(), h.now(), 100)
            .await
            .expect("queue");
        assert_eq!(queued, 2, "{b}: the two leads' events");
        let before = money_view(&h, payout_id).await;
        for v in [key, email, cus, gone.cid.as_str()] {
            assert!(!db.holding(v).await.is_empty(), "{b}: {v} is stored before");
        }
        let in_outbox = |rows: Vec<String>| rows.iter().any(|t| t == "outbox");
        if let Db::Postgres(_) = db {
            assert!(
                in_outbox(db.holding(key).await),
                "{b}: the lead event names the key"
            );
        }

        let r = admin(
            &h,
            "POST",
            "/api/v1/erasures",
            Some(json!({"customer_key": key})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(
            r.body["erased"],
            json!({"customer_keys": 1, "cids": 1, "emails": 1, "conversions": 1, "billing_customers": 1}),
            "{b}"
        );
        // nowhere: neither in a table nor in the SQLite file's free pages or its WAL
        for v in [key, email, cus, gone.cid.as_str()] {
            assert_eq!(
                db.holding(v).await,
                Vec::<String>::new(),
                "{b}: {v} is left"
            );
        }
        if let Db::Postgres(_) = db {
            assert!(
                in_outbox(db.holding("cust-keep-0815").await),
                "{b}: the other lead's event is untouched"
            );
        }
        // the other customer is untouched
        for v in [
            "cust-keep-0815",
            "keep.me@example.com",
            "cus_KeepMe0815",
            &kept.cid,
        ] {
            assert!(!db.holding(v).await.is_empty(), "{b}: {v} was erased too");
        }
        assert_eq!(
            money_view(&h, payout_id).await,
            before,
            "{b}: money changed"
        );

        // retried events are still recognised: the click answered as stored (with the CID's
        // pseudonym), the Stripe event a duplicate; nothing is counted twice
        let again = click(&h, &gone.click_event, "alice", "https://shop.example/").await;
        assert_ne!(again.body, gone.click_answer, "{b}");
        assert_eq!(
            again.body["expiredAt"], gone.click_answer["expiredAt"],
            "{b}"
        );
        assert!(
            again.body["cid"]
                .as_str()
                .is_some_and(|c| c.starts_with("erased:")),
            "{b}: {}",
            again.body
        );
        let sig = sign_all(std::slice::from_ref(&gone.stripe_payload), h.now());
        let r = h.stripe(&gone.stripe_payload, &sig[0]).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(
            money_view(&h, payout_id).await,
            before,
            "{b}: a retry counted"
        );

        // the audit log says who erased what kind of subject, not the value
        let audit = admin(&h, "GET", "/api/v1/audit", None).await;
        let line = &audit.body["audit"][0];
        assert_eq!(line["action"], "erase", "{b}: {}", audit.body);
        assert!(
            line["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("erased a customer_key:")),
            "{b}: {line}"
        );
        assert!(!audit.raw.windows(key.len()).any(|w| w == key.as_bytes()));

        // erasing again finds nothing left; bad requests name the field
        let r = admin(
            &h,
            "POST",
            "/api/v1/erasures",
            Some(json!({"customer_key": key})),
        )
        .await;
        assert_eq!(r.body["erased"]["conversions"], 0, "{b}: {}", r.body);
        for (bad, field) in [
            (json!({}), "customer_key"),
            (json!({"email": "a@b.c", "cid": "x"}), "customer_key"),
            (json!({"email": "nope"}), "email"),
            (json!({"cid": ""}), "cid"),
        ] {
            let r = admin(&h, "POST", "/api/v1/erasures", Some(bad.clone())).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {bad}");
            assert_eq!(r.body["error"]["field"], field, "{b}: {bad}: {}", r.body);
        }
        // an ingest key may not erase
        let r = h
            .api(
                "/api/v1/erasures",
                json!({"customer_key": "cust-keep-0815"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}: {}", r.body);
    }
}

#[tokio::test]
async fn erasing_by_email_and_by_cid() {
    for (h, db) in harnesses().await {
        let b = h.backend;
        let s = story(&h, 3, "cust-mail-1", "Mail.Person@example.com", "cus_Mail1").await;
        // by email, whatever its case: the lead's key, its CID and its sale go too
        let r = admin(
            &h,
            "POST",
            "/api/v1/erasures",
            Some(json!({"email": "mail.person@EXAMPLE.com"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["erased"]["emails"], 1, "{b}: {}", r.body);
        for v in [
            "cust-mail-1",
            "Mail.Person@example.com",
            "cus_Mail1",
            s.cid.as_str(),
        ] {
            assert_eq!(
                db.holding(v).await,
                Vec::<String>::new(),
                "{b}: {v} is left"
            );
        }
        // an email that is only a customer key (as an import keys customers by email)
        let c = click(
            &h,
            &uuid::Uuid::new_v4().to_string(),
            "alice",
            "https://shop.example/",
        )
        .await;
        let sale = h
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id": "imp-1", "amount_cents": 5000, "customer_key": "Imported.Buyer@example.com",
                       "click_id": c.body["cid"]}),
            )
            .await;
        assert_eq!(sale.status, StatusCode::OK, "{b}: {}", sale.body);
        let r = admin(
            &h,
            "POST",
            "/api/v1/erasures",
            Some(json!({"email": "Imported.Buyer@example.com"})),
        )
        .await;
        assert_eq!(r.body["erased"]["customer_keys"], 1, "{b}: {}", r.body);
        assert_eq!(r.body["erased"]["conversions"], 1, "{b}: {}", r.body);
        assert_eq!(r.body["erased"]["cids"], 1, "{b}: {}", r.body);
        for v in ["Imported.Buyer", c.body["cid"].as_str().expect("cid")] {
            assert_eq!(
                db.holding(v).await,
                Vec::<String>::new(),
                "{b}: {v} is left"
            );
        }
        // a visitor by CID: their click's URL and referrer go, the click still counts
        let report = admin(
            &h,
            "GET",
            "/api/v1/report?from=2000-01-01&to=2099-12-31",
            None,
        )
        .await;
        let c = click(
            &h,
            &uuid::Uuid::new_v4().to_string(),
            "bob",
            "https://shop.example/visitor-page",
        )
        .await;
        let cid = c.body["cid"].as_str().expect("cid").to_string();
        let r = admin(&h, "POST", "/api/v1/erasures", Some(json!({"cid": cid}))).await;
        assert_eq!(r.body["erased"]["cids"], 1, "{b}: {}", r.body);
        for v in [cid.as_str(), "visitor-page"] {
            assert_eq!(
                db.holding(v).await,
                Vec::<String>::new(),
                "{b}: {v} is left"
            );
        }
        let after = admin(
            &h,
            "GET",
            "/api/v1/report?from=2000-01-01&to=2099-12-31",
            None,
        )
        .await;
        assert_eq!(
            after.body["totals"]["clicks"].as_i64(),
            report.body["totals"]["clicks"].as_i64().map(|n| n + 1),
            "{b}: {}",
            after.body
        );
    }
}

#[tokio::test]
async fn the_erase_command_erases_on_an_sqlite_file() {
    let (db, store) = Db::new("sqlite").await;
    let h = Harness::new(config(), store).await;
    let s = story(&h, 4, "cust-cli-9", "cli.person@example.com", "cus_Cli9").await;
    let Db::Sqlite(_, path) = &db else {
        unreachable!()
    };
    let out = Command::new(BIN)
        .args(["erase", "--db", path, "--email", "cli.person@example.com"])
        .output()
        .expect("run the binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("tenant `demo`: 1 customer keys, 1 CIDs, 1 emails"),
        "{said}"
    );
    for v in [
        "cust-cli-9",
        "cli.person@example.com",
        "cus_Cli9",
        s.cid.as_str(),
    ] {
        assert_eq!(db.holding(v).await, Vec::<String>::new(), "{v} is left");
    }
    let bad = Command::new(BIN)
        .args(["erase", "--db", path, "--email", "x@y.z", "--cid", "c"])
        .output()
        .expect("run the binary");
    assert!(!bad.status.success());
}

#[tokio::test]
async fn retention_prunes_old_raw_data_and_keeps_reports() {
    for (h, db) in harnesses().await {
        let b = h.backend;
        let old = story(&h, 5, "cust-old", "old@example.com", "cus_Old").await;
        h.advance(100 * DAY);
        click(
            &h,
            &uuid::Uuid::new_v4().to_string(),
            "bob",
            "https://shop.example/new-page",
        )
        .await;
        let period = "/api/v1/report?from=2026-11-01&to=2026-12-01";
        let report = admin(&h, "GET", period, None).await;
        assert_eq!(report.body["totals"]["clicks"], 1, "{b}: {}", report.body);

        let bad = admin(
            &h,
            "PUT",
            "/api/v1/retention",
            Some(json!({"event_days": 3})),
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(
            bad.body["error"]["field"], "event_days",
            "{b}: {}",
            bad.body
        );
        let setting = json!({"event_days": 7, "click_url_days": 30, "diagnostic_days": 30});
        let r = admin(&h, "PUT", "/api/v1/retention", Some(setting.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(
            admin(&h, "GET", "/api/v1/retention", None).await.body,
            setting,
            "{b}"
        );

        // messages: one delivered 31 days ago goes; one delivered yesterday and one never
        // delivered (still being retried) stay
        let day = |d: i64| h.now() - d * DAY;
        db.sql(&format!(
            "INSERT INTO outbox (channel, dedupe_key, tenant, recipient, subject, body,
                next_attempt_at, delivered_at, created_at) VALUES
             ('email', 'old-sent', 'demo', 'a@example.com', 's', 'b', {o}, {o}, {o}),
             ('email', 'new-sent', 'demo', 'a@example.com', 's', 'b', {n}, {n}, {n}),
             ('email', 'unsent', 'demo', 'a@example.com', 's', 'b', {o}, NULL, {o})",
            o = day(31),
            n = day(1)
        ))
        .await;
        let pruned = h.store.prune(h.now()).await.expect("prune");
        assert_eq!(
            (pruned.events, pruned.click_urls, pruned.messages),
            (1, 1, 1),
            "{b}: {pruned:?}"
        );
        let kept = db.outbox_keys().await;
        assert!(!kept.contains(&"old-sent".to_string()), "{b}: {kept:?}");
        assert!(kept.contains(&"new-sent".to_string()), "{b}: {kept:?}");
        assert!(kept.contains(&"unsent".to_string()), "{b}: {kept:?}");
        assert_eq!(
            db.click_urls().await,
            ["https://shop.example/new-page"],
            "{b}"
        );
        assert_eq!(admin(&h, "GET", period, None).await.raw, report.raw, "{b}");
        // the old click's event id is forgotten: a replay now is a new click
        let again = click(&h, &old.click_event, "alice", "https://shop.example/").await;
        assert_ne!(again.body["cid"], old.click_answer["cid"], "{b}");
        assert_eq!(admin(&h, "GET", period, None).await.raw, report.raw, "{b}");
        // a second pass finds nothing more
        let twice = h.store.prune(h.now()).await.expect("prune");
        assert_eq!(
            (twice.events, twice.click_urls, twice.messages),
            (0, 0, 0),
            "{b}"
        );
    }
}

#[tokio::test]
async fn the_configuration_file_sets_a_tenants_retention() {
    let toml = |r: &str| {
        format!(
            "[[tenants]]\nid = \"acme\"\napi_key = \"acme_key_0123456789\"\naffiliates = [\"alice\"]\n{r}\n"
        )
    };
    let bad = Config::from_toml(&toml("retention = { click_url_days = 0 }"));
    let msg = format!("{:#}", bad.expect_err("refused"));
    assert!(msg.contains("retention.click_url_days"), "{msg}");
    let unknown = Config::from_toml(&toml("retention = { clicks = 3 }"));
    assert!(unknown.is_err());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ct.db").to_string_lossy().into_owned();
    let file = dir.path().join("clicktrail.toml");
    std::fs::write(
        &file,
        toml("retention = { event_days = 14, click_url_days = 90 }"),
    )
    .expect("write");
    SqliteStore::open(&path).expect("create").close().await;
    let out = Command::new(BIN)
        .args(["apply-config", "--db", &path, "--config"])
        .arg(&file)
        .output()
        .expect("run the binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = SqliteStore::open(&path).expect("open");
    let r = store.retention("acme").await.expect("retention");
    assert_eq!(
        (r.event_days, r.click_url_days, r.diagnostic_days),
        (Some(14), Some(90), None)
    );
}

/// The background task of a running collector applies the configuration file's retention
/// (its first pass runs at start, on the real clock: the harness's clicks are weeks old).
#[tokio::test]
async fn a_serving_collector_prunes_in_the_background() {
    let (db, store) = Db::new("sqlite").await;
    let h = Harness::new(config(), store).await;
    assert!(h.now() < chrono::Utc::now().timestamp() - 2 * DAY);
    click(&h, "bg-click-1", "alice", "https://shop.example/old-page").await;
    h.store.close().await;
    drop(h);
    assert_eq!(db.click_urls().await.len(), 1);
    let Db::Sqlite(dir, path) = &db else {
        unreachable!()
    };
    let file = dir.path().join("clicktrail.toml");
    std::fs::write(
        &file,
        "[[tenants]]\nid = \"demo\"\napi_key = \"demo_key_0123456789\"\naffiliates = [\"alice\"]\n\
         retention = { click_url_days = 1 }\n",
    )
    .expect("write");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--db",
            path,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--config")
        .arg(&file)
        .args(["--dist", "/nonexistent", "--www", "/nonexistent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the collector");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut urls = db.click_urls().await;
    while !urls.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        urls = db.click_urls().await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        urls,
        Vec::<String>::new(),
        "the old click's URL was not pruned"
    );
    let c = rusqlite::Connection::open(path).expect("open");
    let clicks: i64 = c
        .query_row("SELECT count(*) FROM clicks", [], |r| r.get(0))
        .expect("count");
    assert_eq!(clicks, 1, "the click itself stays");
}
