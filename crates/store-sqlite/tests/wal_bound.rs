//! The write-ahead log stays bounded under sustained writes, and a clean stop empties it.
//!
//! 64 tasks write clicks back to back (each waiting for its commit, like requests) through the
//! real store on a file, with a small truncate bound so that the test writes many times the
//! bound. Without the writer's own checkpoints the WAL grows with every click (about 10 KB a
//! click under group commit), so the figures below fail by far.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktrail_domain::Cid;
use clicktrail_store::{ClickIn, Store};
use clicktrail_store_sqlite::{SqliteStore, WalPolicy};

const BOUND: u64 = 2 << 20;

fn click() -> ClickIn {
    ClickIn {
        tenant: "t".into(),
        event_id: Some(uuid::Uuid::new_v4().to_string()),
        cid: Cid::parse(&uuid::Uuid::new_v4().to_string()),
        affiliate: "alice".into(),
        url: Some("https://shop.example/landing?aff=alice&utm_source=newsletter".into()),
        referrer: Some("https://blog.example/post".into()),
        cookie_secs: 60 * 86_400,
        now: 1_795_072_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_writes_keep_the_wal_bounded_and_a_clean_stop_empties_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wal.db");
    let path = path.to_str().expect("utf-8 path").to_string();
    let policy = WalPolicy {
        truncate_bytes: BOUND,
        ..WalPolicy::default()
    };
    let store = Arc::new(SqliteStore::open_with(&path, policy).expect("open"));
    let wal_file = format!("{path}-wal");
    let written = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, written) = (store.clone(), written.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                store.click(click()).await.expect("a durable click");
                written.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // the file's size as an operator's `ls` sees it, sampled while the load runs
    let mut largest_seen = 0;
    while Instant::now() < deadline {
        let size = std::fs::metadata(&wal_file).map(|m| m.len()).unwrap_or(0);
        largest_seen = largest_seen.max(size);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let clicks = written.load(Ordering::Relaxed);
    let status = store.wal_status().expect("a file database has a WAL");
    let db_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{clicks} clicks; database {db_bytes} B; WAL largest seen {largest_seen} B, peak {} B, \
         {} truncations ({} held up by readers)",
        status.peak_bytes, status.truncations, status.truncations_busy
    );
    assert!(clicks > 5_000, "the load ran: {clicks} clicks");
    assert!(
        status.truncations >= 2,
        "the writer truncated the WAL repeatedly: {status:?}"
    );
    // one group commit (at most 1,024 clicks) may land after the bound is passed
    let limit = 2 * BOUND + (8 << 20);
    assert!(
        largest_seen <= limit && status.peak_bytes <= limit,
        "WAL stayed under {limit} B: seen {largest_seen} B, peak {} B over {clicks} clicks",
        status.peak_bytes
    );
    store.close().await;
    let after = std::fs::metadata(&wal_file).map(|m| m.len()).unwrap_or(0);
    assert_eq!(after, 0, "a clean stop leaves an empty WAL");
    let read_back = {
        let conn = rusqlite::Connection::open(&path).expect("reopen");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM clicks", [], |r| r.get(0))
            .expect("count");
        n
    };
    assert_eq!(
        read_back as u64, clicks,
        "every acknowledged click is in the database after the stop"
    );
    assert!(
        store.click(click()).await.is_err(),
        "a closed store refuses writes instead of losing them"
    );
}
