//! The real binary's command line: --help, import-csv (all-or-nothing, bad rows by line), where
//! every command finds the database, placeholder keys, backups, and what the configuration
//! file manages (on both backends).

mod http_client;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

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
    // only `serve` creates a database: make it here
    drop(SqliteStore::open(&db_s).unwrap());
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

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn run(args: &[&str], cwd: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("CLICKTRAIL_DB")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config file for tenant `shop` (plus `extra` TOML), with `database` when given.
fn config_text(database: Option<&str>, affiliates: &[&str], extra: &str) -> String {
    let db = database
        .map(|d| format!("database = \"{d}\"\n"))
        .unwrap_or_default();
    let affs: Vec<String> = affiliates.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[server]\n{db}\n[[tenants]]\nid = \"shop\"\nallowed_origins = [\"https://shop.example\"]\n\
         api_key = \"sk_shop_0123456789abcdef\"\nadmin_key = \"sk_shop_admin_0123456789\"\n\
         affiliates = [{}]\n[tenants.conversion_types.sale]\nrevenue_share_percent = \"10\"\n{extra}",
        affs.join(", ")
    )
}

#[tokio::test]
async fn every_command_finds_the_database_as_serve_does_and_none_creates_one() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let db = dir.path().join("data/clicktrail.db");
    let cfg = dir.path().join("clicktrail.toml");
    write(
        &cfg,
        &config_text(Some(db.to_str().unwrap()), &["alice"], ""),
    );
    let cfg_s = cfg.to_str().unwrap();

    // the database does not exist yet: apply-config, import-csv and backup refuse, naming it
    let (ok, _, err) = run(&["apply-config", "--config", cfg_s], &cwd);
    assert!(!ok);
    assert!(
        err.contains(&format!("no database at {}", db.display())),
        "{err}"
    );
    assert!(err.contains("[server] database"), "{err}");
    let csv = dir.path().join("t.csv");
    write(&csv, "transaction_id,amount_cents\nt1,100\n");
    let (ok, _, err) = run(
        &["import-csv", "--config", cfg_s, csv.to_str().unwrap()],
        &cwd,
    );
    assert!(!ok && err.contains("no database at"), "{err}");
    let (ok, _, err) = run(&["backup", "--config", cfg_s, "--dir", "b"], &cwd);
    assert!(!ok && err.contains("no database at"), "{err}");
    // nor without any database named: the default is looked for, not made
    let bare = dir.path().join("bare.toml");
    write(&bare, &config_text(None, &["alice"], ""));
    let (ok, _, err) = run(&["apply-config", "--config", bare.to_str().unwrap()], &cwd);
    assert!(!ok);
    assert!(err.contains("no database at ./clicktrail.db"), "{err}");
    assert!(err.contains("the default"), "{err}");
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "nothing created"
    );
    assert!(!db.exists());

    // serve with the same file creates it where the file says (and says so)
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let (mut child, addr, log) = serve(&["--config", cfg_s], &cwd);
    assert!(db.exists(), "serve created the configured database");
    let ready = http_client::request(addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    assert_eq!(ready.status, 200);
    stop(&mut child);
    let log = log.join().unwrap();
    assert!(log.contains("creating a new, empty one"), "{log}");
    assert!(
        log.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            || log.contains(&format!("version={}", env!("CARGO_PKG_VERSION"))),
        "the start-up line names the version: {log}"
    );
    for f in ["", "-wal"] {
        let p = format!("{}{f}", db.display());
        if let Ok(m) = std::fs::metadata(&p) {
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{p}");
        }
    }

    // now apply-config (no --db) reaches that very database
    write(
        &cfg,
        &config_text(Some(db.to_str().unwrap()), &["alice", "carol"], ""),
    );
    let (ok, out, err) = run(&["apply-config", "--config", cfg_s], &cwd);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("to sqlite://{}", db.display())),
        "{out}"
    );
    assert!(out.contains("[server] database"), "{out}");
    let c = SqliteStore::open(db.to_str().unwrap())
        .unwrap()
        .load_catalog()
        .await
        .unwrap();
    assert_eq!(c.tenant("shop").unwrap().affiliates, ["alice", "carol"]);
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);

    // --db wins over the file
    let other = dir.path().join("other.db");
    drop(SqliteStore::open(other.to_str().unwrap()).unwrap());
    let (ok, out, err) = run(
        &[
            "apply-config",
            "--config",
            cfg_s,
            "--db",
            other.to_str().unwrap(),
        ],
        &cwd,
    );
    assert!(ok, "{err}");
    assert!(out.contains("other.db") && out.contains("--db"), "{out}");
}

/// Starts `serve ARGS --listen 127.0.0.1:0`; returns the child, its address and its stderr.
fn serve(
    args: &[&str],
    cwd: &std::path::Path,
) -> (Child, SocketAddr, std::thread::JoinHandle<String>) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(cwd)
        .env_remove("CLICKTRAIL_DB")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, addr, log)
}

fn stop(child: &mut Child) {
    // SIGTERM: a clean stop
    terminate(child.id());
    child.wait().unwrap();
}

fn terminate(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn serve_refuses_the_examples_placeholder_keys() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/clicktrail.toml");
    let db = dir.path().join("x.db");
    let (ok, _, err) = run(
        &[
            "serve",
            "--config",
            example,
            "--db",
            db.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(err.contains("placeholder"), "{err}");
    assert!(err.contains("tenant `acme`: api_key"), "{err}");
    assert!(
        err.contains("tenant `globex`: stripe_webhook_secret"),
        "{err}"
    );
    assert!(!db.exists(), "refused before touching the database");
}

#[tokio::test]
async fn backup_makes_its_folder_names_by_time_and_prunes_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let db_s = db.to_str().unwrap();
    {
        let s = SqliteStore::open(db_s).unwrap();
        s.apply_catalog(clicktrail_collector::Config::demo().tenants, 1)
            .await
            .unwrap();
    }
    let folder = dir.path().join("backups/daily");
    let f = folder.to_str().unwrap();
    let mut made = Vec::new();
    for _ in 0..2 {
        let (ok, out, err) = run(
            &["backup", "--db", db_s, "--dir", f, "--keep-days", "7"],
            dir.path(),
        );
        assert!(ok, "{err}");
        let path = out.trim().rsplit(" to ").next().unwrap().to_string();
        made.push(path);
    }
    assert_ne!(
        made[0], made[1],
        "two backups the same second get two names"
    );
    let dir_mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    for p in &made {
        assert!(p.contains("/clicktrail-") && p.ends_with(".db"), "{p}");
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{p} holds webhook secrets: owner only");
        // a backup is a database with the catalog (read only: nothing added to the folder)
        let con =
            rusqlite::Connection::open_with_flags(p, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let n: i64 = con
            .query_row("SELECT count(*) FROM tenants WHERE id = 'demo'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1);
    }
    // an old copy is pruned, another file in the folder is not
    let old = folder.join("clicktrail-20200101T000000Z.db");
    let notes = folder.join("README");
    write(&old, "old");
    write(&notes, "keep me");
    let (ok, out, err) = run(
        &["backup", "--db", db_s, "--dir", f, "--keep-days", "7"],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("removed") && out.contains("20200101T000000Z"),
        "{out}"
    );
    assert!(!old.exists() && notes.exists());
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "three copies and the README: {names:?}");
    // --to still works and makes its folder; an existing file is refused
    let to = dir.path().join("one/off.db");
    let (ok, _, err) = run(
        &["backup", "--db", db_s, "--to", to.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok && to.exists(), "{err}");
    let (ok, _, err) = run(
        &["backup", "--db", db_s, "--to", to.to_str().unwrap()],
        dir.path(),
    );
    assert!(!ok && err.contains("exists"), "{err}");
}

/// Polls `probe` for up to 10 s.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if probe().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn click(addr: SocketAddr, tenant: &str, aff: &str) -> u16 {
    let body = format!(
        r#"{{"tenantId":"{tenant}","eventId":"{}","aff":"{aff}"}}"#,
        uuid::Uuid::new_v4()
    );
    http_client::request(
        addr,
        "POST",
        "/tracking/click/v1",
        &[
            ("origin", "https://shop.example"),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
    .unwrap()
    .status
}

async fn get_with_key(addr: SocketAddr, path: &str, key: &str) -> http_client::HttpResponse {
    let auth = format!("Bearer {key}");
    http_client::request(addr, "GET", path, &[("authorization", &auth)], b"")
        .await
        .unwrap()
}

/// The configuration file manages what it declares: an affiliate or a tenant removed from it
/// is disabled at the next `apply-config` (clicks and keys refused, data kept, a log line
/// naming it); what the admin API made is untouched. On both backends, through the binary.
#[tokio::test]
async fn what_the_file_no_longer_declares_is_disabled() {
    let pg = clicktrail_store_postgres::test_cluster::fresh_database().await;
    for backend in ["sqlite", "postgres"] {
        let dir = tempfile::tempdir().unwrap();
        let database = match backend {
            "sqlite" => dir.path().join("ct.db").to_str().unwrap().to_string(),
            _ => pg.clone(),
        };
        let other = "\n[[tenants]]\nid = \"other\"\nallowed_origins = [\"https://shop.example\"]\n\
                     api_key = \"sk_other_0123456789abc\"\naffiliates = [\"olga\"]\n";
        let cfg = dir.path().join("clicktrail.toml");
        write(
            &cfg,
            &config_text(Some(&database), &["alice", "bob"], other),
        );
        let cfg_s = cfg.to_str().unwrap();
        let (mut child, addr, log) = serve(&["--config", cfg_s], dir.path());
        assert_eq!(click(addr, "shop", "bob").await, 200, "{backend}");
        assert_eq!(click(addr, "other", "olga").await, 200, "{backend}");
        // an affiliate made through the admin API (the dashboard does the same)
        let made = http_client::request(
            addr,
            "POST",
            "/api/v1/affiliates",
            &[
                ("authorization", "Bearer sk_shop_admin_0123456789"),
                ("content-type", "application/json"),
            ],
            br#"{"code":"dave"}"#,
        )
        .await
        .unwrap();
        assert_eq!(made.status, 201, "{backend}: {}", made.body);

        // bob and the tenant `other` leave the file
        write(&cfg, &config_text(Some(&database), &["alice"], ""));
        let (ok, _, err) = run(&["apply-config", "--config", cfg_s], dir.path());
        assert!(ok, "{backend}: {err}");
        assert!(
            err.contains("affiliate removed from the config file") && err.contains("bob"),
            "{backend}: {err}"
        );
        assert!(
            err.contains("tenant removed from the config file") && err.contains("other"),
            "{backend}: {err}"
        );
        assert!(!err.contains("dave") && !err.contains("alice"), "{err}");
        // the running collector follows within about a second
        eventually("bob's clicks refused", || async {
            click(addr, "shop", "bob").await == 404
        })
        .await;
        assert_eq!(click(addr, "other", "olga").await, 404, "{backend}");
        assert_eq!(
            click(addr, "shop", "dave").await,
            200,
            "{backend}: API-made, untouched"
        );
        assert_eq!(click(addr, "shop", "alice").await, 200, "{backend}");
        let r = get_with_key(addr, "/api/v1/report", "sk_other_0123456789abc").await;
        assert_eq!(
            r.status, 401,
            "{backend}: a removed tenant's key is refused"
        );
        // data kept: bob's click still counts in the report
        let today = chrono::Utc::now().format("%Y-%m-%d");
        let r = get_with_key(
            addr,
            &format!("/api/v1/report?from={today}&to={today}"),
            "sk_shop_0123456789abcdef",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let bob = r.json()["affiliates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["affiliate"] == "bob")
            .cloned()
            .unwrap_or_default();
        // (the clicks that polled for the change count too)
        assert!(bob["clicks"].as_i64() >= Some(1), "{backend}: {}", r.body);
        stop(&mut child);
        drop(log.join());

        // a restart with the same file keeps them disabled (and says nothing more); declaring
        // them again enables them
        write(
            &cfg,
            &config_text(Some(&database), &["alice", "bob"], other),
        );
        let (mut child, addr, log) = serve(&["--config", cfg_s], dir.path());
        assert_eq!(
            click(addr, "shop", "bob").await,
            200,
            "{backend}: declared again"
        );
        assert_eq!(click(addr, "other", "olga").await, 200, "{backend}");
        let r = get_with_key(addr, "/api/v1/report", "sk_other_0123456789abc").await;
        assert_ne!(r.status, 401, "{backend}: the tenant's key works again");
        stop(&mut child);
        let log = log.join().unwrap();
        assert!(!log.contains("removed from the config file"), "{log}");

        // a key replaced in the file: the old one is revoked, the new one works
        let rotated = config_text(Some(&database), &["alice", "bob"], other)
            .replace("sk_shop_0123456789abcdef", "sk_shop_rotated_9876543210");
        write(&cfg, &rotated);
        let (ok, _, err) = run(&["apply-config", "--config", cfg_s], dir.path());
        assert!(ok, "{backend}: {err}");
        assert!(
            err.contains("key removed from the config file") && err.contains("shop"),
            "{backend}: {err}"
        );
        let (mut child, addr, log) = serve(&["--config", cfg_s], dir.path());
        let old = get_with_key(addr, "/api/v1/report", "sk_shop_0123456789abcdef").await;
        assert_eq!(
            old.status, 401,
            "{backend}: the key removed from the file is revoked"
        );
        let new = get_with_key(addr, "/api/v1/report", "sk_shop_rotated_9876543210").await;
        assert_ne!(new.status, 401, "{backend}: {}", new.body);
        stop(&mut child);
        drop(log.join());
    }
}

/// `migrate` through the binary: progress, verification, and a missing source named.
#[tokio::test]
async fn migrate_command_copies_sqlite_into_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ct.db");
    {
        let s = SqliteStore::open(db.to_str().unwrap()).unwrap();
        s.apply_catalog(clicktrail_collector::Config::demo().tenants, 1)
            .await
            .unwrap();
    }
    let pg = clicktrail_store_postgres::test_cluster::fresh_database().await;
    let from = format!("sqlite://{}", db.display());
    let (ok, out, err) = run(&["migrate", "--from", &from, "--to", &pg], dir.path());
    assert!(ok, "{err}");
    assert!(out.contains("copied affiliates: 2 rows"), "{out}");
    assert!(out.contains("verified:"), "{out}");
    let (ok, _, err) = run(&["migrate", "--from", &from, "--to", &pg], dir.path());
    assert!(!ok && err.contains("not empty"), "{err}");
    let (ok, _, err) = run(
        &["migrate", "--from", "/nonexistent/x.db", "--to", &pg],
        dir.path(),
    );
    assert!(
        !ok && err.contains("no database at /nonexistent/x.db"),
        "{err}"
    );
}

/// A PostgreSQL password with `/+@:` in `database_password_file`: no percent-encoding by hand.
#[tokio::test]
async fn postgres_password_from_a_file_needs_no_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let pg = clicktrail_store_postgres::test_cluster::fresh_database().await;
    let pw = dir.path().join("db-password");
    write(&pw, "p@ss/w:rd+x?\n");
    let cfg = dir.path().join("clicktrail.toml");
    let text = config_text(Some(&pg), &["alice"], "").replace(
        "[server]\n",
        &format!("[server]\ndatabase_password_file = \"{}\"\n", pw.display()),
    );
    write(&cfg, &text);
    let (ok, out, err) = run(
        &["apply-config", "--config", cfg.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(out.contains(":***@"), "the password is not printed: {out}");
    assert!(!out.contains("p%40ss") && !out.contains("p@ss"), "{out}");
}
