//! Version 16: one keyless lead per (tenant, CID), as on PostgreSQL. A database a version-15
//! build made (refinery's history up to 15, over the same files) may hold a CID's keyless lead
//! more than once; opening it with this build merges them into the first made and adds the
//! unique index, leaving every other lead as it was. The lead upsert then meets that index.

use std::path::Path;

use clicktrail_domain::Cid;
use clicktrail_store::{LeadIn, Store};
use clicktrail_store_sqlite::SqliteStore;
use refinery::{Migration, Runner, Target};
use rusqlite::Connection;

const C1: &str = "11111111-1111-4111-8111-111111111111";
const C2: &str = "22222222-2222-4222-8222-222222222222";
const C3: &str = "33333333-3333-4333-8333-333333333333";

/// The migration files up to `upto`, as refinery reads them (name `V<n>__<what>`, the SQL).
fn files(upto: i32) -> Vec<Migration> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("migrations folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let stem = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        let sql = std::fs::read_to_string(&path).expect("read");
        let m = Migration::unapplied(&stem, &sql).expect("a V<n>__<what> name");
        if m.version() <= upto {
            all.push(m);
        }
    }
    all.sort_by_key(Migration::version);
    all
}

/// A database as a version-15 build leaves it: refinery's history and `schema_version` at 15.
fn at_v15(path: &Path) -> Connection {
    let mut conn = Connection::open(path).expect("open");
    let m = files(15);
    assert_eq!(m.len(), 15);
    Runner::new(&m)
        .set_target(Target::Version(15))
        .run(&mut conn)
        .expect("migrate to 15");
    conn.execute_batch(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);
         INSERT INTO schema_version (version) VALUES (15);",
    )
    .expect("schema_version");
    conn
}

type Lead = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
);

fn leads(path: &Path) -> Vec<Lead> {
    let conn = Connection::open(path).expect("open");
    let mut st = conn
        .prepare(
            "SELECT id, tenant, customer_key, cid, affiliate, email, source, created_at
             FROM leads ORDER BY id",
        )
        .expect("prepare");
    st.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

type S<'a> = Option<&'a str>;

/// Rows given as (id, tenant, customer_key, cid, affiliate, email, created_at), source `api`.
fn rows(want: &[(i64, &str, S, S, S, S, i64)]) -> Vec<Lead> {
    let s = |v: S| v.map(String::from);
    want.iter()
        .map(|&(id, t, k, c, a, e, at)| (id, t.into(), s(k), s(c), s(a), s(e), "api".into(), at))
        .collect()
}

#[tokio::test]
async fn a_v15_database_keeps_one_keyless_lead_per_cid_with_the_merged_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("v15.db");
    // C1 of tenant t four times without a key: made at 100 (ids 10 and 12: the lower id is
    // the first), 200 (id 5: a lower id, made later) and 300. C3 twice, its first complete.
    // The rest are not duplicates: C1 under a key and in tenant u, C2 once, two leads with
    // neither key nor CID.
    at_v15(&p)
        .execute_batch(&format!(
            "INSERT INTO leads (id, tenant, customer_key, cid, affiliate, email, source, created_at) VALUES
                (10, 't', NULL, '{C1}', NULL, NULL, 'api', 100),
                (12, 't', NULL, '{C1}', 'alice', 'first@example.com', 'tracker', 100),
                (5, 't', NULL, '{C1}', 'bob', 'latest@example.com', 'api', 200),
                (14, 't', NULL, '{C1}', NULL, NULL, 'api', 300),
                (20, 'u', NULL, '{C1}', NULL, 'u@example.com', 'api', 150),
                (21, 't', 'k1', '{C1}', NULL, NULL, 'api', 90),
                (22, 't', NULL, '{C2}', NULL, 'c2@example.com', 'api', 400),
                (23, 't', NULL, NULL, NULL, NULL, 'api', 500),
                (24, 't', NULL, NULL, NULL, 'none@example.com', 'api', 501),
                (30, 't', NULL, '{C3}', 'carol', 'old@example.com', 'api', 50),
                (31, 't', NULL, '{C3}', 'dave', NULL, 'api', 60);
             INSERT INTO cids VALUES ('t', '{C1}', 'alice', 1, 9999999999);"
        ))
        .expect("v15 rows");

    let s = SqliteStore::open(p.to_str().expect("utf-8 path")).expect("open and migrate");
    let want = rows(&[
        (
            10,
            "t",
            None,
            Some(C1),
            Some("alice"),
            Some("latest@example.com"),
            100,
        ),
        (20, "u", None, Some(C1), None, Some("u@example.com"), 150),
        (21, "t", Some("k1"), Some(C1), None, None, 90),
        (22, "t", None, Some(C2), None, Some("c2@example.com"), 400),
        (23, "t", None, None, None, None, 500),
        (24, "t", None, None, None, Some("none@example.com"), 501),
        (
            30,
            "t",
            None,
            Some(C3),
            Some("carol"),
            Some("old@example.com"),
            50,
        ),
    ]);
    assert_eq!(leads(&p), want);
    let conn = Connection::open(&p).expect("open");
    let version: i64 = conn
        .query_row(
            "SELECT max(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .expect("history");
    assert_eq!(version, 16);
    let temp: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'lead_ranks%'",
            [],
            |r| r.get(0),
        )
        .expect("master");
    assert_eq!(temp, 0, "the merge's work table is gone");
    // the index refuses a second keyless lead of C1; a keyed one and another tenant's pass
    let dup = conn.execute(
        &format!(
            "INSERT INTO leads (tenant, cid, source, created_at) VALUES ('t', '{C1}', 'api', 600)"
        ),
        [],
    );
    assert!(
        matches!(&dup, Err(e) if e.to_string().contains("UNIQUE")),
        "{dup:?}"
    );
    conn.execute_batch(&format!(
        "INSERT INTO leads (tenant, customer_key, cid, source, created_at) VALUES ('t', 'k2', '{C1}', 'api', 600);
         INSERT INTO leads (tenant, cid, source, created_at) VALUES ('v', '{C1}', 'api', 600);
         DELETE FROM leads WHERE created_at = 600;"
    ))
    .expect("not duplicates");
    drop(conn);

    // the store's upsert lands on the kept row: its email replaced, the rest kept
    s.lead(LeadIn {
        tenant: "t".into(),
        event_id: None,
        cid: Cid::parse(C1),
        customer_key: None,
        email: Some("after@example.com".into()),
        source: "api",
        now: 700,
    })
    .await
    .expect("lead");
    let mut after = want.clone();
    after[0].5 = Some("after@example.com".into());
    assert_eq!(leads(&p), after);
}
