//! In-process click load through two `PgStore`s on one database (as two collectors would be):
//! `cargo run --release -p clicktrail-store-postgres --example click_load -- [CLICKS] [CONCURRENCY]`
//! (default 50000 clicks, 128 concurrent clicks per store). Uses `CLICKTRAIL_TEST_PG` when set
//! (e.g. from scripts/pg-test-cluster.sh), else starts a throwaway cluster. Prints acknowledged
//! clicks/s, latency percentiles and the batching counters. No HTTP: this measures the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clicktrail_domain::Cid;
use clicktrail_store::{ClickIn, Store};
use clicktrail_store_postgres::test_cluster::fresh_database;
use clicktrail_store_postgres::PgStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let total: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let conc: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(128);
    let url = fresh_database().await;
    let stores = [PgStore::connect(&url).await?, PgStore::connect(&url).await?];
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (n, s) in stores.iter().enumerate() {
        for w in 0..conc {
            let (s, next) = (s.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return lat;
                    }
                    // like the tracker: half the clicks propose the CID already in the cookie
                    let cid = (i % 2 == 0).then(Cid::generate);
                    let c = ClickIn {
                        tenant: "demo".into(),
                        event_id: Some(format!("ev-{n}-{w}-{i}")),
                        cid,
                        affiliate: format!("aff{}", i % 10),
                        url: Some(format!("https://shop.example/p/{i}?aff=aff{}", i % 10)),
                        referrer: Some("https://blog.example/".into()),
                        cookie_secs: 60 * 86_400,
                        now: 1_795_072_000 + (i as i64 / 1000),
                    };
                    let t = Instant::now();
                    s.click(c).await.expect("click");
                    lat.push(t.elapsed().as_micros() as u64);
                }
            }));
        }
    }
    let mut lat: Vec<u64> = Vec::with_capacity(total);
    for t in tasks {
        lat.extend(t.await?);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0;
    println!(
        "{} clicks through 2 stores x {conc} concurrent: {:.0} clicks/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    for (n, s) in stores.iter().enumerate() {
        let w = s.write_stats();
        println!(
            "store {n}: {} clicks in {} commits (mean batch {:.1}, max {})",
            w.jobs,
            w.commits,
            w.jobs as f64 / w.commits.max(1) as f64,
            w.max_batch
        );
    }
    let rows = stores[0].report("demo", 0, i64::MAX).await?;
    let stored: i64 = rows.clicks.iter().map(|r| r.2).sum();
    println!("stored clicks: {stored} (acknowledged {})", lat.len());
    assert!(stored >= lat.len() as i64);
    Ok(())
}
