//! Throwaway PostgreSQL for tests: [`fresh_database`] gives the URL of a new, empty database.
//!
//! With `CLICKTRAIL_TEST_PG` set (a base URL such as `postgres://postgres@127.0.0.1:PORT/postgres`,
//! e.g. from `scripts/pg-test-cluster.sh start`) the databases are created there. Otherwise the
//! first call starts one cluster for this process in a temporary directory (`initdb` as the
//! `postgres` user when running as root, since `initdb` refuses root; a free loopback port), and
//! an `atexit` handler stops and removes it when the process exits. Nothing is installed here:
//! without PostgreSQL's server binaries the call panics with what to do.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The base URL of this process's cluster (or why it could not start).
static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();
/// What the exit handler stops and removes.
static RUNNING: OnceLock<Running> = OnceLock::new();

struct Running {
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
}

/// A new empty database (unique name) on the test cluster; its URL.
///
/// Panics when no cluster is available (the message says how to get one): this is test code.
pub async fn fresh_database() -> String {
    let base = match std::env::var("CLICKTRAIL_TEST_PG") {
        Ok(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => match CLUSTER.get_or_init(start_cluster) {
            Ok(u) => u.clone(),
            Err(e) => panic!("no PostgreSQL for tests: {e}"),
        },
    };
    let name = format!("ct_{}", uuid::Uuid::new_v4().simple());
    let mut last = String::new();
    for attempt in 0..5 {
        match create_database(&base, &name).await {
            Ok(()) => return with_database(&base, &name),
            Err(e) => {
                last = e;
                tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
            }
        }
    }
    panic!("could not create a test database on {base}: {last}")
}

async fn create_database(base: &str, name: &str) -> Result<(), String> {
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(conn);
    let r = client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| e.to_string());
    drop(client);
    let _ = task.await;
    r
}

/// `base` with its database name replaced by `name` (URL form only).
fn with_database(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let authority_start = head.find("://").map(|i| i + 3).unwrap_or(0);
    let prefix = match head[authority_start..].find('/') {
        Some(i) => &head[..authority_start + i],
        None => head,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(b) = std::env::var("CLICKTRAIL_PG_BIN") {
        return Ok(PathBuf::from(b));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    Err(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` \
         package (`apt-get install -y postgresql`, as scripts/pg-test-cluster.sh does), or set \
         CLICKTRAIL_TEST_PG to a base URL, or CLICKTRAIL_PG_BIN to the directory of initdb"
            .into(),
    )
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `program` as the `postgres` user when we are root (initdb and postgres refuse root).
fn pg_command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn start_cluster() -> Result<String, String> {
    let bin = bin_dir()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_postgres = unsafe { libc::geteuid() } == 0;
    let dir = std::env::temp_dir().join(format!(
        "clicktrail-pg-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let data = dir.join("data");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if as_postgres {
        run(Command::new("chown").arg("postgres:").arg(&dir))?;
    }
    run(pg_command(&bin, "initdb", as_postgres)
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]))?;
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400",
            dir.display()
        );
        let started = run(pg_command(&bin, "pg_ctl", as_postgres)
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(&opts)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "start"]));
        match started {
            Ok(()) => {
                let _ = RUNNING.set(Running {
                    bin,
                    data,
                    dir,
                    as_postgres,
                });
                // SAFETY: registers a plain `extern "C" fn()` with no arguments.
                unsafe {
                    libc::atexit(stop_cluster);
                }
                return Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"));
            }
            Err(e) => last = e,
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Err(format!("could not start a test cluster: {last}"))
}

extern "C" fn stop_cluster() {
    if let Some(r) = RUNNING.get() {
        let _ = pg_command(&r.bin, "pg_ctl", r.as_postgres)
            .arg("-D")
            .arg(&r.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&r.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/db?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
