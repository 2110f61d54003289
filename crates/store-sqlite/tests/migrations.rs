//! The SQLite schema's versioned files (`migrations/V<n>__<what>.sql`, run by refinery), and the
//! adoption of databases made before them, when the version was a position in a list kept in
//! `schema_version`. Old databases are made here by that earlier code path (`old_scheme`, the
//! previous `migrate` loop, over the same SQL: the files are its list, byte for byte), then
//! opened with the real store.

use std::path::Path;

use clicktrail_store::Store;
use clicktrail_store_sqlite::SqliteStore;
use rusqlite::Connection;

/// The migration files, by version: (version, name, SQL).
fn files() -> Vec<(i64, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("migrations folder") {
        let path = entry.expect("entry").path();
        let stem = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        if path.extension().is_some_and(|e| e == "sql") {
            let (version, name) = stem
                .strip_prefix('V')
                .and_then(|s| s.split_once("__"))
                .unwrap_or_else(|| panic!("{stem}: not V<n>__<name>"));
            let sql = std::fs::read_to_string(&path).expect("read");
            all.push((version.parse().expect("version"), name.to_string(), sql));
        }
    }
    all.sort_by_key(|f| f.0);
    all
}

fn last() -> i64 {
    files().last().expect("a migration").0
}

/// A database at version `n` as collectors before the files made it: `schema_version` and each
/// migration in its own transaction with the version written in it.
fn old_scheme(path: &Path, n: i64) -> Connection {
    let mut conn = Connection::open(path).expect("open");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .expect("schema_version");
    for (v, _, sql) in files().into_iter().take_while(|f| f.0 <= n) {
        let tx = conn.transaction().expect("begin");
        tx.execute_batch(&sql).expect("old migration");
        tx.execute("DELETE FROM schema_version", [])
            .expect("delete");
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [v])
            .expect("insert");
        tx.commit().expect("commit");
    }
    conn
}

/// refinery's history: (version, name, applied_on, checksum).
fn history(path: &Path) -> Vec<(i64, String, String, String)> {
    let conn = Connection::open(path).expect("open");
    let mut st = conn
        .prepare(
            "SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version",
        )
        .expect("history table");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn one(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .expect("open")
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every table, index and column definition, to compare two databases' schemas.
fn schema(path: &Path) -> Vec<(String, String, Option<String>)> {
    let conn = Connection::open(path).expect("open");
    let mut st = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn open(path: &Path) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(path.to_str().expect("utf-8 path"))
}

#[test]
fn the_files_are_numbered_from_1_without_gaps() {
    let all = files();
    assert!(all.len() >= 14, "{} files", all.len());
    for (i, (v, name, _)) in all.iter().enumerate() {
        assert_eq!(*v, i as i64 + 1, "V{v}__{name}");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
    }
}

#[test]
fn a_new_database_ends_at_the_last_files_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("new.db");
    drop(open(&p).expect("open"));
    let h = history(&p);
    let expected: Vec<(i64, String)> = files().into_iter().map(|f| (f.0, f.1)).collect();
    let got: Vec<(i64, String)> = h.iter().map(|r| (r.0, r.1.clone())).collect();
    assert_eq!(got, expected);
    assert_eq!(one(&p, "SELECT version FROM schema_version"), last());
    assert_eq!(one(&p, "SELECT count(*) FROM schema_version"), 1);
    let mode: String = rusqlite::Connection::open(&p)
        .and_then(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
        .expect("journal mode");
    assert_eq!(mode, "wal", "a new database is in WAL mode");
}

#[test]
fn opening_twice_runs_nothing_the_second_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("twice.db");
    drop(open(&p).expect("first open"));
    let (h1, s1) = (history(&p), schema(&p));
    drop(open(&p).expect("second open"));
    // the same history lines, applied_on included: nothing ran, nothing was recorded again
    assert_eq!(history(&p), h1);
    assert_eq!(schema(&p), s1);
}

/// Old databases at every version open, end with the same schema as a new database, and have
/// every version recorded once.
#[test]
fn old_scheme_databases_at_every_version_are_adopted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("fresh.db");
    drop(open(&fresh).expect("open"));
    let want = schema(&fresh);
    let versions: Vec<i64> = files().iter().map(|f| f.0).collect();
    for n in 1..=last() {
        let p = dir.path().join(format!("old-v{n}.db"));
        drop(old_scheme(&p, n));
        drop(open(&p).unwrap_or_else(|e| panic!("v{n}: {e:#}")));
        let h: Vec<i64> = history(&p).iter().map(|r| r.0).collect();
        assert_eq!(h, versions, "v{n}: every version recorded once");
        assert_eq!(schema(&p), want, "v{n}: the schema of a new database");
        assert_eq!(one(&p, "SELECT version FROM schema_version"), last());
        // and a second open finds nothing to do
        let before = history(&p);
        drop(open(&p).unwrap_or_else(|e| panic!("v{n} again: {e:#}")));
        assert_eq!(history(&p), before, "v{n}");
    }
}

/// The adopted versions carry the files' checksums: a changed file is noticed later.
#[test]
fn adopted_versions_carry_the_same_checksums_as_applied_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("fresh.db");
    let old = dir.path().join("old.db");
    drop(open(&fresh).expect("open"));
    drop(old_scheme(&old, 7));
    drop(open(&old).expect("open old"));
    let sums = |p: &Path| -> Vec<(i64, String, String)> {
        history(p)
            .into_iter()
            .map(|(v, n, _, c)| (v, n, c))
            .collect()
    };
    assert_eq!(sums(&old), sums(&fresh));
}

#[tokio::test]
async fn a_v5_database_keeps_its_rows_and_gets_the_later_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("v5.db");
    old_scheme(&p, 5)
        .execute_batch(
            "INSERT INTO tenants (id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
                created_at, updated_at) VALUES ('t', 60, 'USD', 'sale', 'whsec_x', 1, 1);
             INSERT INTO affiliates (tenant, code, created_at) VALUES ('t', 'alice', 1);
             INSERT INTO cids VALUES ('t', 'c1', 'alice', 1, 999999);
             INSERT INTO clicks (tenant, cid, affiliate, created_at) VALUES ('t', 'c1', 'alice', 10);
             INSERT INTO conversions (id, public_id, tenant, kind, conversion_type, transaction_id, cid,
                affiliate, attributed, amount_cents, currency, commission_cents, status, source, created_at)
                VALUES (5, 'p5', 't', 'sale', 'sale', 'tx5', 'c1', 'alice', 1, 10000, 'USD', 3000, 'approved', 'api', 20);
             INSERT INTO ledger (id, tenant, affiliate, conversion_id, kind, amount_cents, currency,
                available_at, created_at) VALUES (7, 't', 'alice', 5, 'accrual', 3000, 'USD', 20, 20);
             INSERT INTO portal_links VALUES ('hash1', 't', 'alice', 30, NULL);",
        )
        .expect("v5 rows");
    let s = open(&p).expect("open v5");
    let rows = s.report("t", 0, 100).await.expect("report");
    assert_eq!(rows.clicks, vec![("alice".into(), "1970-01-01".into(), 1)]);
    assert_eq!(
        rows.conversions,
        vec![(
            Some("alice".into()),
            "1970-01-01".into(),
            "USD".into(),
            1,
            10000,
            3000
        )]
    );
    drop(s);
    assert_eq!(
        one(
            &p,
            "SELECT count(*) FROM portal_links WHERE affiliate = 'alice'"
        ),
        1
    );
    // columns of v6, v9, v12 with their defaults; tables of v11, v14
    assert_eq!(
        one(
            &p,
            "SELECT count(*) FROM affiliates WHERE name IS NULL AND config_state = 0"
        ),
        1
    );
    assert_eq!(
        one(
            &p,
            "SELECT count(*) FROM tenants WHERE disabled = 0 AND rules = '{}'"
        ),
        1
    );
    assert_eq!(
        one(
            &p,
            "SELECT count(*) FROM ledger WHERE rule IS NULL AND id = 7"
        ),
        1
    );
    assert_eq!(
        one(&p, "SELECT count(*) FROM outbox") + one(&p, "SELECT count(*) FROM webhook_endpoints"),
        0
    );
    assert_eq!(
        one(&p, "SELECT max(version) FROM refinery_schema_history"),
        last()
    );
}

#[tokio::test]
async fn a_v14_database_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("v14.db");
    old_scheme(&p, 14)
        .execute_batch(
            "INSERT INTO tenants (id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
                created_at, updated_at, rules) VALUES ('t', 60, 'USD', 'sale', 'whsec_x', 1, 1, '{\"x\":1}');
             INSERT INTO cids VALUES ('t', 'c1', 'bob', 1, 999999);
             INSERT INTO clicks (tenant, cid, affiliate, created_at) VALUES ('t', 'c1', 'bob', 10), ('t', 'c1', 'bob', 11);
             INSERT INTO webhook_endpoints (tenant, url, events, secret, created_at, updated_at)
                VALUES ('t', 'https://hooks.example/x', '[\"sale.created\"]', 's3cret', 5, 5);
             INSERT INTO outbox (channel, dedupe_key, tenant, recipient, subject, body, next_attempt_at, created_at)
                VALUES ('webhook', 'k1', 't', '1', 'sale.created', '{}', 5, 5);",
        )
        .expect("v14 rows");
    let s = open(&p).expect("open v14");
    let rows = s.report("t", 0, 100).await.expect("report");
    assert_eq!(rows.clicks, vec![("bob".into(), "1970-01-01".into(), 2)]);
    drop(s);
    assert_eq!(
        one(
            &p,
            "SELECT count(*) FROM webhook_endpoints WHERE secret = 's3cret' AND enabled = 1"
        ),
        1
    );
    assert_eq!(
        one(&p, "SELECT count(*) FROM outbox WHERE dedupe_key = 'k1'"),
        1
    );
    assert_eq!(
        one(&p, "SELECT count(*) FROM tenants WHERE rules = '{\"x\":1}'"),
        1
    );
    let h: Vec<i64> = history(&p).iter().map(|r| r.0).collect();
    assert_eq!(h, (1..=last()).collect::<Vec<_>>());
}

#[test]
fn an_old_scheme_database_newer_than_this_build_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("future.db");
    old_scheme(&p, last())
        .execute("UPDATE schema_version SET version = version + 1", [])
        .expect("newer");
    let err = open(&p).err().expect("refused");
    assert!(
        format!("{err:#}").contains("newer than this collector"),
        "{err:#}"
    );
    assert_eq!(
        one(
            &p,
            "SELECT count(*) FROM sqlite_master WHERE name = 'refinery_schema_history'"
        ),
        0,
        "nothing recorded"
    );
    assert_eq!(one(&p, "SELECT version FROM schema_version"), last() + 1);
}

#[test]
fn a_database_migrated_by_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("future.db");
    drop(open(&p).expect("open"));
    Connection::open(&p)
        .expect("open")
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (?1, 'future', '2030-01-01T00:00:00Z', '1')",
            [last() + 1],
        )
        .expect("future version");
    let err = open(&p).err().expect("refused");
    assert!(
        format!("{err:#}").contains("newer than this collector"),
        "{err:#}"
    );
}

#[test]
fn a_changed_applied_migration_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("changed.db");
    drop(open(&p).expect("open"));
    Connection::open(&p)
        .expect("open")
        .execute(
            "UPDATE refinery_schema_history SET checksum = '1' WHERE version = 3",
            [],
        )
        .expect("change");
    let err = open(&p).err().expect("refused");
    assert!(format!("{err:#}").contains("refunds"), "{err:#}");
}

/// Each migration runs in its own transaction with its history line: one that fails leaves
/// the versions before it applied and recorded, and nothing of itself; the next start resumes.
#[test]
fn a_failing_migration_leaves_nothing_of_itself_and_the_next_start_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("v5.db");
    // an index of v6's name made by hand: v6's CREATE INDEX fails after its ALTER TABLE
    old_scheme(&p, 5)
        .execute_batch("CREATE INDEX audit_log_tenant ON audit_log (id)")
        .expect("obstacle");
    let err = open(&p).err().expect("v6 fails");
    assert!(format!("{err:#}").contains("audit_log_tenant"), "{err:#}");
    let h: Vec<i64> = history(&p).iter().map(|r| r.0).collect();
    assert_eq!(h, vec![1, 2, 3, 4, 5], "adopted, v6 not recorded");
    assert_eq!(
        one(
            &p,
            "SELECT count(*) FROM pragma_table_info('affiliates') WHERE name = 'name'"
        ),
        0,
        "v6's ALTER TABLE rolled back with it"
    );
    Connection::open(&p)
        .expect("open")
        .execute_batch("DROP INDEX audit_log_tenant")
        .expect("drop");
    drop(open(&p).expect("resumes"));
    let h: Vec<i64> = history(&p).iter().map(|r| r.0).collect();
    assert_eq!(h, (1..=last()).collect::<Vec<_>>());
}
