//! Several collector processes on one PostgreSQL database: every rule that must hold
//! across them holds through the database. Real binaries, a real throwaway cluster.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod http_client;
use http_client::request;

const BIN: &str = env!("CARGO_BIN_EXE_clicktrail-collector");

struct Collector {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(db: &str) -> Collector {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--demo", "--rate-limit", "0", "--db", db])
        .args([
            "--listen",
            &addr.to_string(),
            "--dist",
            "/nonexistent",
            "--www",
            "/nonexistent",
        ])
        .stdout(Stdio::null())
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the collector");
    let c = Collector { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = request(addr, "GET", "/healthz", &[], b"").await {
            if r.status == 200 {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "collector did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(
    addr: SocketAddr,
    path: &str,
    body: String,
    headers: Vec<(&'static str, String)>,
) -> (u16, Value) {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = request(addr, "POST", path, &h, body.as_bytes())
        .await
        .expect("request");
    (r.status, r.json())
}

fn api() -> Vec<(&'static str, String)> {
    vec![
        ("Authorization", "Bearer demo_secret_key".into()),
        ("Content-Type", "application/json".into()),
    ]
}

async fn totals(c: &Collector) -> Value {
    let r = request(
        c.addr,
        "GET",
        "/api/v1/report",
        &[("Authorization", "Bearer demo_secret_key")],
        b"",
    )
    .await
    .expect("report");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["totals"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_collectors_on_one_postgres() {
    let db = clicktrail_store_postgres::test_cluster::fresh_database().await;
    let (a, b) = (start(&db).await, start(&db).await);

    // 1. the same eventId sent to both at once: stored once, both answers carry the same CID
    for i in 0..25 {
        let body = json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),
            "aff": if i % 2 == 0 { "alice" } else { "bob" }, "url":"https://shop.example/"})
        .to_string();
        let (ra, rb) = tokio::join!(
            post(a.addr, "/tracking/click/v1", body.clone(), vec![]),
            post(b.addr, "/tracking/click/v1", body, vec![])
        );
        assert_eq!((ra.0, rb.0), (200, 200), "{ra:?} {rb:?}");
        assert_eq!(ra.1["cid"], rb.1["cid"], "same event, same CID");
    }
    assert_eq!(totals(&a).await["clicks"], 25);
    assert_eq!(totals(&b).await["clicks"], 25);

    // 2. a reused transaction_id sent to both at once: exactly one 200, the rest 409
    let click = json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":"alice"});
    let (_, c) = post(a.addr, "/tracking/click/v1", click.to_string(), vec![]).await;
    let cid = c["cid"].as_str().unwrap().to_string();
    for round in 0..5 {
        let sale =
            json!({"transaction_id": format!("tx-{round}"), "amount_cents": 1000, "click_id": cid})
                .to_string();
        let mut calls = Vec::new();
        for i in 0..6 {
            let target = if i % 2 == 0 { a.addr } else { b.addr };
            calls.push(post(target, "/api/v1/track/sale", sale.clone(), api()));
        }
        let results = futures_join_all(calls).await;
        let ok = results.iter().filter(|r| r.0 == 200).count();
        let conflict = results.iter().filter(|r| r.0 == 409).count();
        assert_eq!((ok, conflict), (1, 5), "round {round}: {results:?}");
    }

    // 3. one Stripe event delivered to both at once: one sale
    let now = chrono::Utc::now().timestamp();
    let ev = json!({"id":"evt_cluster_1","type":"checkout.session.completed","livemode":false,
        "data":{"object":{"id":"cs_cluster_1","object":"checkout.session","amount_total":4900,
        "currency":"usd","client_reference_id":cid,"metadata":{}}}})
    .to_string();
    let sig = clicktrail_collector::http::webhooks::stripe::signature_header(
        "whsec_demo",
        now,
        ev.as_bytes(),
    );
    let hdrs = vec![
        ("Stripe-Signature", sig),
        ("Content-Type", "application/json".to_string()),
    ];
    let (ra, rb) = tokio::join!(
        post(a.addr, "/webhooks/stripe", ev.clone(), hdrs.clone()),
        post(b.addr, "/webhooks/stripe", ev, hdrs)
    );
    assert_eq!((ra.0, rb.0), (200, 200), "{ra:?} {rb:?}");
    let t = totals(&a).await;
    assert_eq!(t["conversions"], 6, "5 API sales + 1 Stripe sale: {t}");
    assert_eq!(t["revenueCents"], 5 * 1000 + 4900);

    // 4. a catalog change applied by a third process reaches both within 5 s
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("change.toml");
    std::fs::write(
        &cfg,
        r#"
[[tenants]]
id = "demo"
api_key = "demo_secret_key"
stripe_webhook_secret = "whsec_demo"
allowed_origins = ["*"]
hold_days = 0
count_test_payments = true
affiliates = ["carol"]
revenue_origins = ["00000000-0000-0000-0000-000000000001"]
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[tenants.conversion_types.signup]
fixed = "5.00"
"#,
    )
    .unwrap();
    let carol = |c: &Collector| {
        let body =
            json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":"carol"})
                .to_string();
        let addr = c.addr;
        async move {
            request(addr, "POST", "/tracking/click/v1", &[], body.as_bytes())
                .await
                .map(|r| r.status)
                .unwrap_or(0)
        }
    };
    assert_eq!(carol(&a).await, 404, "carol is not an affiliate yet");
    let out = Command::new(BIN)
        .args(["apply-config", "--config"])
        .arg(&cfg)
        .args(["--db", &db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied = Instant::now();
    let mut seen = [false, false];
    while seen != [true, true] {
        assert!(
            applied.elapsed() < Duration::from_secs(5),
            "the change did not reach both collectors within 5 s: {seen:?}"
        );
        for (i, c) in [&a, &b].into_iter().enumerate() {
            if !seen[i] && carol(c).await == 200 {
                seen[i] = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "catalog change reached both collectors in {:?}",
        applied.elapsed()
    );
}

async fn futures_join_all<F>(fs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
