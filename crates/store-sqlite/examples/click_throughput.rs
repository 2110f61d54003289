//! The SQLite store's own durable click rate, without HTTP: `CONCURRENCY` tasks (default 64, as
//! the HTTP benchmark's connections) each send clicks with a unique event id and proposed CID
//! for `SECONDS` (default 8) to a store on a file in `DIR` (default: a temp dir), each waiting
//! for its commit like a request does. Prints clicks/s and the mean group-commit batch.
//!
//! `cargo run --release -p clicktrail-store-sqlite --example click_throughput`
//! (docs/benchmarks.md compares it with the HTTP benchmark on the same machine).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktrail_domain::Cid;
use clicktrail_store::{ClickIn, Store};
use clicktrail_store_sqlite::SqliteStore;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let concurrency = env("CONCURRENCY", 64);
    let seconds = env("SECONDS", 8);
    let dir = match std::env::var("DIR") {
        Ok(d) => tempfile::tempdir_in(d)?,
        Err(_) => tempfile::tempdir()?,
    };
    let path = dir.path().join("bench.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(path.to_str().unwrap_or("bench.db"))?);
        let done = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (store, done) = (store.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let id = uuid::Uuid::new_v4().to_string();
                    let cid = Cid::parse(&uuid::Uuid::new_v4().to_string());
                    store
                        .click(ClickIn {
                            tenant: "demo".into(),
                            event_id: Some(id),
                            cid,
                            affiliate: "alice".into(),
                            url: Some("https://shop.example/?aff=alice".into()),
                            referrer: None,
                            cookie_secs: 60 * 86_400,
                            now: 1_795_072_000,
                        })
                        .await
                        .expect("click");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let secs = start.elapsed().as_secs_f64();
        let n = done.load(Ordering::Relaxed);
        let w = store.write_stats();
        println!(
            "{n} durable clicks in {secs:.1} s = {:.0} clicks/s; mean batch {:.1}, max {}",
            n as f64 / secs,
            w.jobs as f64 / w.commits.max(1) as f64,
            w.max_batch
        );
        anyhow::Ok(())
    })
}
