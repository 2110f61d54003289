//! The affiliate program through the real router on SQLite and PostgreSQL: the join page
//! and its applications (checked fields, honeypot, no enumeration, per-IP limit, closed page),
//! approval (the code asked for, or a derived free one; the portal link in the email), rejection
//! with a reason, automatic approval, tenant isolation; and the outbox (dedupe after a restart,
//! retry with backoff while the SMTP server is down, delivery to a real SMTP server).

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use clicktrail_collector::mail::{worker, SmtpConfig, TlsMode};
use clicktrail_store::program::OutboxIn;
use clicktrail_store::Store;
use common::{Harness, Resp};
use serde_json::{json, Value};
use tower::ServiceExt;

const ADMIN: &str = "acme_admin_123";

fn config() -> Config {
    Config::from_toml(
        r#"
[server]
rate_limit_per_second = 0
public_url = "https://track.example"
[[tenants]]
id = "acme"
api_key = "acme_key_123"
admin_key = "acme_admin_123"
allowed_origins = ["https://shop.example"]
affiliates = ["taken"]
hold_days = 0
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[[tenants]]
id = "other"
api_key = "other_key_123"
admin_key = "other_admin_123"
"#,
    )
    .expect("config")
}

/// A request from the client address `ip`.
async fn from(t: &Harness, ip: [u8; 4], req: Request<Body>) -> Resp {
    let mut req = req;
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 4444))));
    let resp = t.router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        raw,
    }
}

async fn apply(t: &Harness, ip: u8, body: Value) -> Resp {
    let req = Request::post("/join/acme/apply")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    from(t, [10, 1, 0, ip], req).await
}

async fn admin(t: &Harness, key: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .expect("request");
    t.send(req).await
}

fn form(email: &str, code: &str) -> Value {
    json!({"name": "Ana Lima", "email": email, "website": "https://ana.example",
           "promotion": "A newsletter about tea", "code": code})
}

async fn applications(t: &Harness) -> Vec<Value> {
    let r = admin(t, ADMIN, "GET", "/api/v1/applications", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["applications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn outbox(t: &Harness) -> Vec<Value> {
    let r = admin(t, ADMIN, "GET", "/api/v1/outbox", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["messages"].as_array().cloned().unwrap_or_default()
}

fn id_of(apps: &[Value], email: &str) -> i64 {
    apps.iter()
        .find(|a| a["email"] == email)
        .and_then(|a| a["id"].as_i64())
        .unwrap_or_else(|| panic!("no application of {email} in {apps:?}"))
}

#[tokio::test]
async fn applications_are_checked_deduplicated_and_decided() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        let s = admin(
            &t,
            ADMIN,
            "PATCH",
            "/api/v1/program/settings",
            Some(json!({"operatorEmail": "ops@acme.example", "programName": "Acme Partners"})),
        )
        .await;
        assert_eq!(s.status, StatusCode::OK, "{b}: {}", s.body);

        // the page: the dashboard's headers
        let page = t
            .send(Request::get("/join/acme").body(Body::empty()).unwrap())
            .await;
        assert_eq!(page.status, StatusCode::OK, "{b}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        let info = t
            .send(
                Request::get("/join/acme/program.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(info.body["name"], "Acme Partners", "{b}");

        // every bad field is a 422 naming it
        for (field, body) in [
            ("email", form("not-an-address", "")),
            ("name", json!({"email": "a@b.example", "promotion": "x"})),
            ("promotion", json!({"name": "A", "email": "a@b.example"})),
            (
                "website",
                json!({"name": "A", "email": "a@b.example", "promotion": "x", "website": "ftp://x"}),
            ),
            ("code", form("a@b.example", "!!!")),
        ] {
            let r = apply(&t, 1, body).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b} {field}: {}",
                r.body
            );
            assert_eq!(r.body["error"]["field"], field, "{b}: {}", r.body);
        }

        // a new address, the same address again, and a robot: the same answer
        let first = apply(&t, 1, form("Ana@Example.com", "Ana's Deals")).await;
        assert_eq!(first.status, StatusCode::ACCEPTED, "{b}: {}", first.body);
        let again = apply(&t, 2, form("ana@example.com", "other")).await;
        assert_eq!(again.status, StatusCode::ACCEPTED);
        assert_eq!(
            again.raw, first.raw,
            "{b}: a known address is not told apart"
        );
        let mut robot = form("robot@spam.example", "");
        robot["fax"] = json!("+1 555 0100");
        let r = apply(&t, 3, robot).await;
        assert_eq!(r.raw, first.raw, "{b}: the honeypot answers as a success");
        let apps = applications(&t).await;
        assert_eq!(
            apps.len(),
            1,
            "{b}: one stored, no duplicate, no robot: {apps:?}"
        );
        assert_eq!(apps[0]["status"], "pending");
        assert_eq!(apps[0]["wishedCode"], "ana-s-deals");

        // per-IP limit: the 6th application from one address in a row is refused
        for n in 0..5 {
            let r = apply(&t, 9, form(&format!("p{n}@x.example"), "")).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{b} #{n}");
        }
        let r = apply(&t, 9, form("p5@x.example", "")).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{b}: {}", r.body);

        // the operator was told about the first application
        let mail = outbox(&t).await;
        assert!(
            mail.iter().any(|m| m["recipient"] == "ops@acme.example"
                && m["body"].as_str().unwrap().contains("ana@example.com")),
            "{b}: {mail:?}"
        );

        // another tenant's admin key does not see or decide acme's applications
        let ana = id_of(&apps, "ana@example.com");
        let r = admin(
            &t,
            "other_admin_123",
            "POST",
            &format!("/api/v1/applications/{ana}/approve"),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {}", r.body);
        let r = admin(&t, "other_admin_123", "GET", "/api/v1/applications", None).await;
        assert_eq!(r.body["applications"], json!([]), "{b}");

        // approval: the affiliate gets the code asked for, and a portal link by email
        let r = admin(
            &t,
            ADMIN,
            "POST",
            &format!("/api/v1/applications/{ana}/approve"),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["affiliate"], "ana-s-deals");
        assert!(t
            .catalog
            .get()
            .tenant("acme")
            .unwrap()
            .has_affiliate("ana-s-deals"));
        let r = admin(
            &t,
            ADMIN,
            "POST",
            &format!("/api/v1/applications/{ana}/approve"),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}: decided once");
        let mail = outbox(&t).await;
        let approved = mail
            .iter()
            .find(|m| m["recipient"] == "ana@example.com")
            .unwrap_or_else(|| panic!("{b}: no approval email in {mail:?}"));
        let body = approved["body"].as_str().unwrap();
        let url = body
            .split_whitespace()
            .find(|w| w.starts_with("https://track.example/portal/"))
            .unwrap_or_else(|| panic!("{b}: no absolute portal link in {body}"));
        let path = url.trim_start_matches("https://track.example");
        let portal = t
            .send(
                Request::get(format!("{path}.json"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(portal.status, StatusCode::OK, "{b}: {}", portal.body);
        assert_eq!(portal.body["affiliate"], "ana-s-deals");
        assert_eq!(
            portal.body["shareLink"],
            "https://shop.example/?aff=ana-s-deals"
        );

        // a wish that is taken: a derived free code
        let r = apply(&t, 4, form("bo@example.com", "taken")).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        let bo = id_of(&applications(&t).await, "bo@example.com");
        let r = admin(
            &t,
            ADMIN,
            "POST",
            &format!("/api/v1/applications/{bo}/approve"),
            None,
        )
        .await;
        assert_eq!(r.body["affiliate"], "taken-2", "{b}: {}", r.body);

        // rejection needs a reason, which the applicant reads
        let p0 = id_of(&applications(&t).await, "p0@x.example");
        let path = format!("/api/v1/applications/{p0}/reject");
        let r = admin(&t, ADMIN, "POST", &path, Some(json!({"reason": " "}))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["error"]["field"], "reason");
        let r = admin(
            &t,
            ADMIN,
            "POST",
            &path,
            Some(json!({"reason": "No website yet"})),
        )
        .await;
        assert_eq!(r.body["status"], "rejected", "{b}: {}", r.body);
        let mail = outbox(&t).await;
        assert!(mail.iter().any(|m| m["recipient"] == "p0@x.example"
            && m["body"].as_str().unwrap().contains("No website yet")));
        // every message once: the keys are unique
        let mut keys: Vec<_> = mail.iter().map(|m| m["dedupeKey"].to_string()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), mail.len(), "{b}");

        // automatic approval
        let r = admin(
            &t,
            ADMIN,
            "PATCH",
            "/api/v1/program/settings",
            Some(json!({"autoApprove": true})),
        )
        .await;
        assert_eq!(r.body["autoApprove"], true);
        apply(&t, 5, form("cy@example.com", "cy")).await;
        let apps = applications(&t).await;
        let cy = apps
            .iter()
            .find(|a| a["email"] == "cy@example.com")
            .unwrap();
        assert_eq!(cy["status"], "approved", "{b}");
        assert!(t.catalog.get().tenant("acme").unwrap().has_affiliate("cy"));

        // a closed page takes nothing
        admin(
            &t,
            ADMIN,
            "PATCH",
            "/api/v1/program/settings",
            Some(json!({"joinEnabled": false})),
        )
        .await;
        let r = apply(&t, 6, form("late@example.com", "")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        let r = t
            .send(
                Request::get("/join/nobody/program.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn payout_details_are_the_affiliates_own_and_reach_the_operator() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        let r = admin(
            &t,
            ADMIN,
            "POST",
            "/api/v1/affiliates/taken/portal-link",
            None,
        )
        .await;
        let token = r.body["token"].as_str().unwrap().to_string();
        let put = |body: Value| {
            Request::put(format!("/portal/{token}/payout-details"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let r = t
            .send(put(json!({"method": "paypal", "address": "nope"})))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(r.body["error"]["field"], "address");
        let r = t
            .send(put(json!({"method": "pigeon", "address": "x"})))
            .await;
        assert_eq!(r.body["error"]["field"], "method");
        let r = t
            .send(put(
                json!({"method": "paypal", "address": "taken@pay.example"}),
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.headers["cache-control"], "no-store");
        let bad = Request::put(format!("/portal/{}/payout-details", "0".repeat(64)))
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"method": "paypal", "address": "a@b.example"}).to_string(),
            ))
            .unwrap();
        assert_eq!(t.send(bad).await.status, StatusCode::NOT_FOUND);
        let r = admin(&t, ADMIN, "GET", "/api/v1/payout-details", None).await;
        assert_eq!(
            r.body["payoutDetails"][0]["address"], "taken@pay.example",
            "{b}: {}",
            r.body
        );
        let r = admin(&t, "other_admin_123", "GET", "/api/v1/payout-details", None).await;
        assert_eq!(
            r.body["payoutDetails"],
            json!([]),
            "{b}: not another tenant's"
        );
    }
}

#[tokio::test]
async fn affiliates_from_the_join_page_are_told_of_commissions_and_payouts_once() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        apply(&t, 1, form("ana@example.com", "ana")).await;
        let id = id_of(&applications(&t).await, "ana@example.com");
        let r = admin(
            &t,
            ADMIN,
            "POST",
            &format!("/api/v1/applications/{id}/approve"),
            None,
        )
        .await;
        assert_eq!(r.body["affiliate"], "ana", "{b}: {}", r.body);
        // a click through ana's link and a sale of 100.00: 30.00 commission
        let r = t
            .post(
                "/tracking/click/v1",
                json!({"tenantId": "acme", "eventId": uuid::Uuid::new_v4().to_string(), "aff": "ana"})
                    .to_string(),
            )
            .await;
        let cid = r.body["cid"].as_str().expect("cid").to_string();
        let r = admin(&t, "acme_key_123", "POST", "/api/v1/track/sale",
            Some(json!({"click_id": cid, "transaction_id": "t-1", "amount_cents": 10000, "currency": "USD"}))).await;
        assert!(r.status.is_success(), "{b}: {}", r.body);
        // an affiliate the operator typed in has no address: nobody to tell
        let r = admin(
            &t,
            ADMIN,
            "POST",
            "/api/v1/affiliates/taken/portal-link",
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);

        let p = t.store.program();
        let later = t.now() + 3600;
        // not yet settled: nothing
        assert_eq!(
            p.queue_notices(t.now() - 60, t.now(), 100).await.unwrap(),
            0,
            "{b}"
        );
        assert_eq!(p.queue_notices(later, later, 100).await.unwrap(), 1, "{b}");
        assert_eq!(
            p.queue_notices(later, later, 100).await.unwrap(),
            0,
            "{b}: once"
        );
        let mail = outbox(&t).await;
        let c = mail
            .iter()
            .find(|m| m["dedupeKey"].as_str().unwrap().contains(":commission:"))
            .unwrap_or_else(|| panic!("{b}: {mail:?}"));
        assert_eq!(c["recipient"], "ana@example.com");
        assert!(c["subject"].as_str().unwrap().contains("30.00 USD"), "{c}");

        // ana gives her PayPal address, the operator pays her
        let r = admin(&t, ADMIN, "GET", "/api/v1/payout-details", None).await;
        assert_eq!(r.body["payoutDetails"], json!([]));
        let path = mail
            .iter()
            .find_map(|m| {
                m["body"]
                    .as_str()
                    .unwrap()
                    .split_whitespace()
                    .find(|w| w.starts_with("https://track.example/portal/"))
                    .map(str::to_string)
            })
            .expect("portal link")
            .replace("https://track.example", "");
        let r = t
            .send(
                Request::put(format!("{path}/payout-details"))
                    .header("content-type", "application/json")
                    .body(Body::from(
                        json!({"method": "paypal", "address": "ana@pay.example"}).to_string(),
                    ))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let day = chrono::DateTime::from_timestamp(t.now(), 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        let r = admin(
            &t,
            ADMIN,
            "POST",
            "/api/v1/payouts",
            Some(json!({"affiliate": "ana", "through": day})),
        )
        .await;
        assert!(r.status.is_success(), "{b}: {}", r.body);
        let payout = r.body["payoutId"].as_i64().unwrap();
        let csv = admin(
            &t,
            ADMIN,
            "GET",
            &format!("/api/v1/payouts/{payout}.csv"),
            None,
        )
        .await;
        let csv = String::from_utf8(csv.raw).unwrap();
        assert!(
            csv.lines()
                .next()
                .unwrap()
                .ends_with("payout_method,payout_address"),
            "{csv}"
        );
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .ends_with("paypal,ana@pay.example"),
            "{b}: {csv}"
        );
        assert_eq!(p.queue_notices(later, later, 100).await.unwrap(), 1, "{b}");
        let mail = outbox(&t).await;
        let paid = mail
            .iter()
            .find(|m| m["dedupeKey"].as_str().unwrap().contains(":payout:"))
            .unwrap_or_else(|| panic!("{b}: {mail:?}"));
        assert!(
            paid["body"]
                .as_str()
                .unwrap()
                .contains("30.00 USD to paypal: ana@pay.example"),
            "{paid}"
        );

        // the tenant's switch off: no more commission emails
        admin(
            &t,
            ADMIN,
            "PATCH",
            "/api/v1/program/settings",
            Some(json!({"notifyCommissions": false})),
        )
        .await;
        let r = admin(&t, "acme_key_123", "POST", "/api/v1/track/sale",
            Some(json!({"click_id": cid, "transaction_id": "t-2", "amount_cents": 5000, "currency": "USD"}))).await;
        assert!(r.status.is_success(), "{}", r.body);
        assert_eq!(
            p.queue_notices(later, later, 100).await.unwrap(),
            0,
            "{b}: switched off"
        );
    }
}

// ---------------------------------------------------------------- the outbox

/// The SMTP stand-in (`tests/smtp/sink.py`, Debian's python3-aiosmtpd), killed on drop.
struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sink {
    fn start(port: u16) -> Sink {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tempdir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/smtp/sink.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(dir.path())
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3-aiosmtpd (scripts/setup.sh installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("sink started");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("sink said {line:?}"));
        Sink { child, port, dir }
    }

    fn messages(&self) -> Vec<String> {
        let mut out: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| std::fs::read_to_string(e.path()).expect("read"))
            .collect();
        out.sort();
        out
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        username: None,
        password: None,
        from: "Acme Partners <partners@acme.example>".into(),
    }
}

fn message(key: &str, now: i64) -> OutboxIn {
    OutboxIn {
        channel: "email".into(),
        dedupe_key: key.into(),
        tenant: "acme".into(),
        recipient: "ana@example.com".into(),
        subject: "You are in".into(),
        body: "Hello Ana,\nyour portal: https://track.example/portal/x\n".into(),
        now,
    }
}

/// Opens the same database again, as a restarted collector does.
async fn reopen(backend: &str, at: &str) -> Arc<dyn Store> {
    match backend {
        "sqlite" => Arc::new(clicktrail_store_sqlite::SqliteStore::open(at).expect("sqlite")),
        _ => Arc::new(
            clicktrail_store_postgres::PgStore::connect(at)
                .await
                .expect("postgres"),
        ),
    }
}

#[tokio::test]
async fn the_outbox_keeps_retries_and_never_duplicates_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = dir.path().join("outbox.db").to_string_lossy().into_owned();
    let pg = clicktrail_store_postgres::test_cluster::fresh_database().await;
    for (backend, at) in [("sqlite", sqlite.as_str()), ("postgres", pg.as_str())] {
        let now = 1_795_072_000;
        // a port nobody listens on: the SMTP server is down
        let down = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let store = reopen(backend, at).await;
        let p = store.program();
        assert!(p.enqueue(message("acme:welcome:1", now)).await.unwrap());
        assert!(
            !p.enqueue(message("acme:welcome:1", now)).await.unwrap(),
            "{backend}"
        );
        let from: lettre::message::Mailbox = smtp(down).from.parse().unwrap();
        let t = worker::transport(&smtp(down)).unwrap();
        let sent = worker::deliver_due(store.as_ref(), &t, &from, now)
            .await
            .unwrap();
        assert_eq!(sent, 0, "{backend}");
        let rows = p.outbox("acme", 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].attempts, 1, "{backend}");
        assert!(rows[0].last_error.is_some() && rows[0].delivered_at.is_none());
        let retry_at = rows[0].next_attempt_at;
        assert!(retry_at > now, "{backend}: tried again later");
        // before its time it is not taken again
        assert!(p
            .outbox_claim("email", now, 60, 10)
            .await
            .unwrap()
            .is_empty());
        store.close().await;
        drop(store);

        // a restart: the same fact queued again is not a second message
        let store = reopen(backend, at).await;
        let p = store.program();
        assert!(
            !p.enqueue(message("acme:welcome:1", now)).await.unwrap(),
            "{backend}"
        );
        assert_eq!(p.outbox("acme", 10).await.unwrap().len(), 1);

        // the server is back: delivered once, and not again
        let sink = Sink::start(0);
        let t = worker::transport(&smtp(sink.port)).unwrap();
        let sent = worker::deliver_due(store.as_ref(), &t, &from, retry_at)
            .await
            .unwrap();
        assert_eq!(sent, 1, "{backend}");
        let sent = worker::deliver_due(store.as_ref(), &t, &from, retry_at + 3600)
            .await
            .unwrap();
        assert_eq!(sent, 0, "{backend}: delivered is done");
        let got = sink.messages();
        assert_eq!(got.len(), 1, "{backend}: {got:?}");
        assert!(got[0].contains("Subject: You are in"), "{}", got[0]);
        assert!(got[0].contains("X-Envelope-To: ana@example.com"));
        let rows = p.outbox("acme", 10).await.unwrap();
        assert_eq!(rows[0].attempts, 2);
        assert!(rows[0].delivered_at.is_some() && rows[0].last_error.is_none());
        store.close().await;
    }
}

#[test]
fn the_config_file_declares_smtp_and_each_tenants_program() {
    let tenant = "[[tenants]]\nid = \"x\"\napi_key = \"12345678\"\n";
    let cfg = Config::from_toml(&format!(
        "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"X <x@example.com>\"\n{tenant}\
         [tenants.program]\nauto_approve = true\noperator_email = \"ops@example.com\"\n"
    ))
    .expect("config");
    let smtp = cfg.smtp.expect("smtp");
    assert_eq!(
        (smtp.port, smtp.tls),
        (587, TlsMode::Starttls),
        "STARTTLS by default"
    );
    let (id, p) = &cfg.programs[0];
    assert_eq!(id, "x");
    assert!(p.auto_approve && p.join_enabled && p.notify_commissions);
    assert_eq!(p.operator_email.as_deref(), Some("ops@example.com"));
    for (bad, says) in [
        ("[smtp]\nhost = \"h\"\nfrom = \"not an address\"\n", "from"),
        (
            "[smtp]\nhost = \"h\"\nfrom = \"a@b.example\"\nusername = \"u\"\n",
            "username",
        ),
        (
            "[smtp]\nhost = \"h\"\nfrom = \"a@b.example\"\ntls = \"ssl3\"\n",
            "tls",
        ),
    ] {
        let e = Config::from_toml(&format!("{bad}{tenant}")).expect_err(bad);
        assert!(format!("{e:#}").contains(says), "{bad}: {e:#}");
    }
    for (bad, says) in [
        ("operator_email = \"nope\"", "operator_email"),
        ("shop_url = \"shop.example\"", "shop_url"),
        ("approve = true", "approve"),
    ] {
        let e = Config::from_toml(&format!("{tenant}[tenants.program]\n{bad}\n")).expect_err(bad);
        assert!(format!("{e:#}").contains(says), "{bad}: {e:#}");
    }
}
