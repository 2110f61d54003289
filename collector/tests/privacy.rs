//! What the collector keeps of a page address: click URLs, referrers and diagnostic URLs are
//! stored without the query parameters the product does not use, on every backend. Read back
//! from the tables themselves (SQLite file, PostgreSQL database), not through the store's API.

use std::sync::Arc;

use axum::http::StatusCode;
use clicktrail_collector::config::Config;
use clicktrail_store::Store;
use clicktrail_store_postgres::PgStore;
use clicktrail_store_sqlite::SqliteStore;
use serde_json::json;

mod common;
use common::Harness;

/// One table read on either backend.
enum Db {
    Sqlite(std::path::PathBuf),
    Pg(String),
}

impl Db {
    /// Every value of `column` in `table` (NULLs as `None`), in insertion order.
    async fn column(&self, table: &str, column: &str) -> Vec<Option<String>> {
        let sql = format!("SELECT {column} FROM {table} ORDER BY created_at, {column}");
        match self {
            Db::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open the sqlite file");
                let mut st = conn.prepare(&sql).expect("prepare");
                let rows = st
                    .query_map([], |r| r.get::<_, Option<String>>(0))
                    .expect("query");
                rows.collect::<Result<_, _>>().expect("rows")
            }
            Db::Pg(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to postgres");
                tokio::spawn(conn);
                client
                    .query(&sql, &[])
                    .await
                    .expect("query")
                    .iter()
                    .map(|r| r.get::<_, Option<String>>(0))
                    .collect()
            }
        }
    }
}

/// The demo tenant on a SQLite file and on a fresh PostgreSQL database, each with a handle on
/// its tables.
async fn harnesses(config: Config) -> (Vec<(Harness, Db)>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("privacy.db");
    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open(path.to_str().expect("path")).expect("sqlite"));
    let url = clicktrail_store_postgres::test_cluster::fresh_database().await;
    let pg: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.expect("postgres store"));
    let out = vec![
        (Harness::new(config.clone(), sqlite).await, Db::Sqlite(path)),
        (Harness::new(config, pg).await, Db::Pg(url)),
    ];
    (out, dir)
}

fn config() -> Config {
    let mut c = Config::demo();
    c.server.rate_limit_per_second = 0;
    c
}

const URL: &str = "https://shop.example/pricing?aff=alice&email=a@b.c&token=xyz&utm_source=n#frag";
const REFERRER: &str = "https://mail.example/inbox?user=a%40b.c&utm_medium=email&gspk=YWxp#msg-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_url_and_referrer_keep_only_the_product_parameters() {
    let (hs, _dir) = harnesses(config()).await;
    for (t, db) in &hs {
        let backend = t.backend;
        let event = uuid::Uuid::new_v4().to_string();
        let body =
            json!({"tenantId":"demo","eventId":event,"aff":"alice","url":URL,"referrer":REFERRER})
                .to_string();
        let first = t.post("/tracking/click/v1", body.clone()).await;
        assert_eq!(first.status, StatusCode::OK, "{backend}: {}", first.body);
        assert!(first.body["cid"].is_string(), "{backend}: {}", first.body);

        // a replay of the same eventId answers the same and records nothing more
        let again = t.post("/tracking/click/v1", body).await;
        assert_eq!(again.status, StatusCode::OK, "{backend}: {}", again.body);
        assert_eq!(again.body, first.body, "{backend}");

        assert_eq!(
            db.column("clicks", "url").await,
            vec![Some(
                "https://shop.example/pricing?aff=alice&utm_source=n".to_string()
            )],
            "{backend}"
        );
        assert_eq!(
            db.column("clicks", "referrer").await,
            vec![Some(
                "https://mail.example/inbox?utm_medium=email&gspk=YWxp".to_string()
            )],
            "{backend}"
        );
        let bodies = db.column("events", "body").await;
        assert_eq!(bodies.len(), 1, "{backend}: {bodies:?}");
        for b in bodies.iter().flatten() {
            for secret in [
                "a@b.c", "a%40b.c", "xyz", "frag", "msg-1", "email=", "token",
            ] {
                assert!(
                    !b.contains(secret),
                    "{backend}: event body {b} keeps {secret}"
                );
            }
        }
        assert_eq!(t.report("").await["totals"]["clicks"], 1, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_url_is_not_stored_and_configured_parameters_are_kept() {
    let mut c = config();
    c.server.keep_url_params = vec!["ref".into()];
    let (hs, _dir) = harnesses(c).await;
    for (t, db) in &hs {
        let backend = t.backend;
        let body = json!({"tenantId":"demo","aff":"alice",
            "url":"https://shop.example/?ref=alice&name=Jo%20Doe&aff=alice",
            "referrer":"email a@b.c"})
        .to_string();
        let r = t.post("/tracking/click/v1", body).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(
            db.column("clicks", "url").await,
            vec![Some(
                "https://shop.example/?ref=alice&aff=alice".to_string()
            )],
            "{backend}"
        );
        assert_eq!(
            db.column("clicks", "referrer").await,
            vec![None],
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostic_url_keeps_only_the_product_parameters() {
    let (hs, _dir) = harnesses(config()).await;
    for (t, db) in &hs {
        let backend = t.backend;
        let r = t
            .post(
                "/tracking/diagnostic/v1",
                json!({"tenantId":"demo","kind":"init","message":"x",
                    "url":"https://shop.example/checkout?aff=bob&email=a@b.c#step2","userAgent":"UA"})
                .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{backend}");
        assert_eq!(
            db.column("diagnostics", "url").await,
            vec![Some("https://shop.example/checkout?aff=bob".to_string())],
            "{backend}"
        );
    }
}
