//! The real binary's command line: --help, import-csv (all-or-nothing, bad rows by line).

use std::process::Command;

use clicktrail_store::Store;
use clicktrail_store_sqlite::SqliteStore;

const BIN: &str = env!("CARGO_BIN_EXE_clicktrail-collector");

#[test]
fn help_explains_the_commands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "serve",
        "import-csv",
        "serve --demo",
        "/dashboard",
        "RUST_LOG",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}: {text}");
    }
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--config",
        "--demo",
        "--db",
        "--listen",
        "--dist",
        "--www",
        "127.0.0.1:8080",
        "./clicktrail.db",
    ] {
        assert!(text.contains(needle), "serve --help lacks {needle}: {text}");
    }
    // neither --config nor --demo on an empty database: a clear error
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    let out = Command::new(BIN)
        .args(["serve", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no tenant"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn totals(db: &str) -> (i64, i128, i128, i64) {
    let store = SqliteStore::open(db).unwrap();
    let rows = store.report("demo", 0, i64::MAX / 2).await.unwrap();
    let mut t = (0, 0, 0, 0);
    for (aff, _, _, n, rev, com) in rows.conversions {
        t.0 += n;
        t.1 += rev;
        t.2 += com;
        if aff.is_none() {
            t.3 += n;
        }
    }
    t
}

#[tokio::test]
async fn import_csv_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("import.db");
    let db_s = db.to_str().unwrap().to_string();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "transaction_id,amount,currency,created_at\n\
         t1,49.00,USD,2026-11-01\n\
         t2,4.999,USD,2026-11-01\n\
         t3,10,usd,yesterday\n\
         t1,5.00,USD,2026-11-02\n\
         t5,1.00,USD,2026-11-02T10:00:00Z\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["import-csv", "--demo", "--db", &db_s])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing imported: 3 bad row(s)"), "{err}");
    assert!(err.contains("line 3: amount"), "{err}");
    assert!(err.contains("line 4: created_at"), "{err}");
    assert!(
        err.contains("line 5: transaction_id `t1` appears twice"),
        "{err}"
    );
    assert_eq!(
        totals(&db_s).await.0,
        0,
        "nothing of a bad file is imported"
    );

    // an unknown click id is caught by the database pass: still nothing imported
    let unknown = dir.path().join("unknown.csv");
    std::fs::write(
        &unknown,
        "transaction_id,amount_cents,click_id\nu1,100,\nu2,100,00000000-0000-4000-8000-000000000000\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["import-csv", "--demo", "--db", &db_s])
        .arg(&unknown)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3: unknown_cid"));
    assert_eq!(totals(&db_s).await.0, 0);

    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "Transaction_ID,amount_cents,currency,status\n\
         g1,4900,USD,approved\n\
         g2,100,EUR,pending\n\
         g3,2550,,\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["import-csv", "--demo", "--db", &db_s])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 transactions"));
    let (n, rev, com, unattributed) = totals(&db_s).await;
    assert_eq!((n, rev, com, unattributed), (3, 4900 + 100 + 2550, 0, 3));
    // importing the same file again: every row is a duplicate, nothing changes
    let out = Command::new(BIN)
        .args(["import-csv", "--demo", "--db", &db_s])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate_transaction"));
    assert_eq!(totals(&db_s).await.0, 3);
}
