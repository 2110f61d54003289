//! The real binary on each backend (a temp SQLite file; a fresh PostgreSQL database): send events over real HTTP, SIGKILL the process right
//! after the acknowledgements (with more requests still in flight), restart on the same file and
//! show every acknowledged event is there.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod http_client;
use http_client::request;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_clicktrail-collector");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(db: &str) -> (Child, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--demo", "--rate-limit", "0", "--db"])
        .arg(db)
        .args([
            "--listen",
            &addr.to_string(),
            "--dist",
            "/nonexistent",
            "--www",
            "/nonexistent",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the collector");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = request(addr, "GET", "/healthz", &[], b"").await {
            if r.status == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "collector did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, addr)
}

async fn post(addr: SocketAddr, path: &str, body: &Value, auth: bool) -> Option<(u16, Value)> {
    let headers: &[(&str, &str)] = if auth {
        &[
            ("Authorization", "Bearer demo_secret_key"),
            ("Content-Type", "application/json"),
        ]
    } else {
        &[("Content-Type", "text/plain;charset=UTF-8")]
    };
    request(addr, "POST", path, headers, body.to_string().as_bytes())
        .await
        .ok()
        .map(|r| (r.status, r.json()))
}

async fn report(addr: SocketAddr) -> Value {
    let r = request(
        addr,
        "GET",
        "/api/v1/report",
        &[("Authorization", "Bearer demo_secret_key")],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_sigkill_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("durable.db");
    survives_sigkill(db.to_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_sigkill_postgres() {
    let db = clicktrail_store_postgres::test_cluster::fresh_database().await;
    survives_sigkill(&db).await;
}

/// Runs the scenario on `db` (a SQLite path or a PostgreSQL URL).
async fn survives_sigkill(db: &str) {
    let (mut child, addr) = start(db).await;

    // 1. clicks, conversions and sales from 8 concurrent clients; remember every acknowledgement
    let mut tasks = Vec::new();
    for w in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut acked_clicks = Vec::new(); // (eventId, body, cid)
            let mut acked_conversions = 0i64;
            let mut acked_sales = 0i64;
            for i in 0..40 {
                let aff = if i % 2 == 0 { "alice" } else { "bob" };
                let body = json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":aff,"url":"http://shop/?aff=x"});
                let Some((200, ans)) = post(addr, "/tracking/click/v1", &body, false).await else { continue };
                let cid = ans["cid"].as_str().unwrap().to_string();
                if i % 4 == 0 {
                    let conv = json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"cid":cid,
                                      "conversionTypeCode":"sale","amount":{"value":"10.00"}});
                    if let Some((200, _)) = post(addr, "/tracking/conversion/v1", &conv, false).await {
                        acked_conversions += 1;
                    }
                }
                if i % 8 == 1 {
                    let sale = json!({"transaction_id":format!("txn-{w}-{i}"),"amount_cents":2500,"click_id":cid});
                    if let Some((200, _)) = post(addr, "/api/v1/track/sale", &sale, true).await {
                        acked_sales += 1;
                    }
                }
                acked_clicks.push((body, cid));
            }
            (acked_clicks, acked_conversions, acked_sales)
        }));
    }
    // 2. meanwhile a flood of clicks that is still running when the process is killed
    let stop = Arc::new(AtomicBool::new(false));
    let flood_acked = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..4 {
        let (stop, flood_acked) = (stop.clone(), flood_acked.clone());
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let body = json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":"alice"});
                if let Some((200, _)) = post(addr, "/tracking/click/v1", &body, false).await {
                    if !stop.load(Ordering::SeqCst) {
                        flood_acked.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    let mut clicks = Vec::new();
    let (mut conversions, mut sales) = (0, 0);
    for t in tasks {
        let (c, conv, s) = t.await.unwrap();
        clicks.extend(c);
        conversions += conv;
        sales += s;
    }
    // 3. SIGKILL right after the last acknowledgement, with flood requests in flight
    stop.store(true, Ordering::SeqCst);
    let flood_count = flood_acked.load(Ordering::SeqCst);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    for f in flood {
        let _ = f.await;
    }
    assert_eq!(
        clicks.len(),
        320,
        "every click of the workers was acknowledged"
    );
    assert!(conversions > 0 && sales > 0);

    // 4. restart on the same file: every acknowledged event is there
    let (mut child, addr) = start(db).await;
    let rep = report(addr).await;
    let stored_clicks = rep["totals"]["clicks"].as_i64().unwrap();
    let acked_clicks = (clicks.len() + flood_count) as i64;
    assert!(
        stored_clicks >= acked_clicks,
        "stored {stored_clicks} clicks < acknowledged {acked_clicks}"
    );
    assert_eq!(
        rep["totals"]["conversions"].as_i64().unwrap(),
        conversions + sales
    );
    assert_eq!(
        rep["totals"]["revenueCents"].as_i64().unwrap(),
        conversions * 1000 + sales * 2500
    );
    assert_eq!(
        rep["totals"]["commissionCents"].as_i64().unwrap(),
        conversions * 300 + sales * 750
    );

    // every acknowledged click's eventId is known after the restart: a replay returns the same
    // CID and does not add a click
    for (body, cid) in &clicks {
        let (status, ans) = post(addr, "/tracking/click/v1", body, false).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(ans["cid"].as_str().unwrap(), cid);
    }
    let rep2 = report(addr).await;
    assert_eq!(rep2["totals"]["clicks"].as_i64().unwrap(), stored_clicks);
    // and a reused transaction id is still a 409
    let (status, _) = post(
        addr,
        "/api/v1/track/sale",
        &json!({"transaction_id":"txn-0-1","amount_cents":1,"click_id":clicks[1].1}),
        true,
    )
    .await
    .unwrap();
    assert_eq!(status, 409);
    child.kill().unwrap();
    let _ = child.wait();
}
