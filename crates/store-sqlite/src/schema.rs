//! The schema, versioned the way the PostgreSQL backend is: one file per migration in
//! `migrations/` (`V<n>__<what>.sql`), embedded in the binary and run by refinery at start,
//! each in its own transaction together with its line in `refinery_schema_history` (version,
//! name, checksum). A database newer than this build is refused; an applied file that changed
//! is refused (refinery compares checksums).
//!
//! Databases made before the files (the versions were positions in a list, the version in
//! `schema_version`) are adopted: with no history and `schema_version` = N, versions 1..=N are
//! recorded as applied (refinery's "fake" target, one transaction), never run again, and the
//! versions after N run as usual. `schema_version` is still kept equal to the latest applied
//! version, so that collectors released before the files refuse a newer database.

use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use refinery::{Migration, Runner, SchemaVersion, Target};
use rusqlite::{Connection, OptionalExtension};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This build's migrations, by version.
static EMBEDDED: LazyLock<Vec<Migration>> = LazyLock::new(|| {
    let mut all = embedded::migrations::runner().get_migrations().clone();
    all.sort_by_key(|m| m.version());
    all
});

/// The SQL of each migration, in version order (version n at index n - 1: the files are
/// numbered without gaps, checked by `tests/migrations.rs`); tests build older databases from it.
pub(crate) static MIGRATIONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    EMBEDDED
        .iter()
        .map(|m| m.sql().unwrap_or_default())
        .collect()
});

/// How long a connection waits for a lock before it answers "busy".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn configure(conn: &Connection, memory: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if !memory {
        // WAL + synchronous=FULL: every COMMIT is fsync'd to the WAL before it returns.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidQuery);
        }
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
    )?;
    Ok(())
}

/// Brings the database to this build's latest version and answers the version it is at: a
/// version above this build's is answered without touching anything (the caller refuses it).
pub(crate) fn migrate(conn: &mut Connection) -> anyhow::Result<i64> {
    let latest = EMBEDDED.last().map_or(0, |m| i64::from(m.version()));
    let recorded = recorded_version(conn)?;
    let legacy = legacy_version(conn)?;
    let current = recorded.unwrap_or(legacy);
    if current > latest {
        return Ok(current);
    }
    if recorded.is_none() && legacy > 0 {
        let upto = SchemaVersion::try_from(legacy).context("schema_version out of range")?;
        runner()
            .set_target(Target::FakeVersion(upto))
            .run(conn)
            .context("recording the versions of a database made before migration files")?;
        tracing::info!(
            version = legacy,
            "adopted the database's schema_version: versions up to it recorded as applied"
        );
    }
    let pending: Vec<SchemaVersion> = EMBEDDED
        .iter()
        .map(Migration::version)
        .filter(|v| i64::from(*v) > current)
        .collect();
    if pending.is_empty() {
        // nothing to run; refinery still checks the applied files' checksums
        runner()
            .run(conn)
            .context("database migration check failed")?;
    }
    for v in pending {
        // one version per run: its SQL and its history line in one transaction
        runner()
            .set_target(Target::Version(v))
            .run(conn)
            .with_context(|| format!("database migration {v} failed"))?;
        tracing::info!(version = v, "applied schema migration");
    }
    if legacy != latest {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL); DELETE FROM schema_version;",
        )?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [latest])?;
        tx.commit()?;
    }
    Ok(latest)
}

/// A runner over this build's migrations, grouped (a run's migrations and their history lines
/// in one transaction: with one version per run, each migration in its own), refusing a
/// database with an unknown or changed applied migration.
fn runner() -> Runner {
    Runner::new(&EMBEDDED)
        .set_grouped(true)
        .set_abort_divergent(true)
        .set_abort_missing(true)
}

/// The last version in refinery's history, `None` without one (a new database or one made
/// before migration files).
fn recorded_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    if !table_exists(conn, "refinery_schema_history")? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT max(version) FROM refinery_schema_history",
        [],
        |r| r.get(0),
    )
}

/// The version kept in `schema_version` (the only record before migration files), 0 without.
fn legacy_version(conn: &Connection) -> rusqlite::Result<i64> {
    if !table_exists(conn, "schema_version")? {
        return Ok(0);
    }
    Ok(conn
        .query_row("SELECT max(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0))
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}
