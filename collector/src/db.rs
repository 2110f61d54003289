//! `--db`: which backend a database string names, and opening it.
//!
//! A file path or `sqlite://PATH` is the embedded SQLite (the default `./clicktrail.db`);
//! `postgres://…` / `postgresql://…` is PostgreSQL (≥ 15).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use clicktrail_store::Store;
use clicktrail_store_sqlite::SqliteStore;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    Sqlite(String),
    Postgres(String),
}

/// The database every command uses, and where that came from (for messages).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub db: Db,
    pub source: &'static str,
}

/// The default SQLite file when neither `--db`/`CLICKTRAIL_DB` nor the config file names one.
pub const DEFAULT_DB: &str = "./clicktrail.db";

/// One resolution for every command: `--db` (or `CLICKTRAIL_DB`), else the config file's
/// `[server] database`, else `./clicktrail.db`. A PostgreSQL password in
/// `[server] database_password_file` is added to the URL, percent-encoded.
pub fn resolve(flag: Option<&str>, config: Option<&crate::Config>) -> anyhow::Result<Resolved> {
    // an empty CLICKTRAIL_DB (`Environment=CLICKTRAIL_DB=`) names nothing
    let flag = flag.filter(|f| !f.trim().is_empty());
    let (text, source) = match (flag, config.and_then(|c| c.database.as_deref())) {
        (Some(f), _) => (f.to_string(), "--db / CLICKTRAIL_DB"),
        (None, Some(d)) => (d.to_string(), "the config file's [server] database"),
        (None, None) => (
            DEFAULT_DB.to_string(),
            "the default (no --db, no [server] database)",
        ),
    };
    let mut db = Db::parse(&text);
    if let (Db::Postgres(url), Some(file)) = (
        &db,
        config.and_then(|c| c.database_password_file.as_deref()),
    ) {
        let password = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read database_password_file {}", file.display()))?;
        let password = password.trim_end_matches(['\n', '\r']);
        db = Db::Postgres(with_password(url, password)?);
    }
    Ok(Resolved { db, source })
}

/// `postgres://user@host/db` + `p@ss/w:rd` -> `postgres://user:p%40ss%2Fw%3Ard@host/db`.
pub fn with_password(url: &str, password: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .context("the database URL has no scheme")?;
    let (userinfo, host) = rest
        .split_once('@')
        .context("the database URL names no user (postgres://USER@HOST/DB)")?;
    if userinfo.contains(':') {
        anyhow::bail!(
            "the database URL already holds a password: remove it or the database_password_file"
        );
    }
    let enc = percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC);
    Ok(format!("{scheme}://{userinfo}:{enc}@{host}"))
}

impl Resolved {
    /// Opens a database that must already exist: commands other than `serve` never create one.
    pub async fn open_existing(&self) -> anyhow::Result<Arc<dyn Store>> {
        if let Db::Sqlite(path) = &self.db {
            if path != ":memory:" && !Path::new(path).exists() {
                anyhow::bail!(
                    "no database at {path} (from {}): start `serve` once to create it, or name \
                     the right one with --db or [server] database",
                    self.source
                );
            }
        }
        self.db.open().await
    }

    /// Opens the database, creating an SQLite file that does not exist yet (`serve` only),
    /// with a log line saying so.
    pub async fn open_or_create(&self) -> anyhow::Result<Arc<dyn Store>> {
        if let Db::Sqlite(path) = &self.db {
            if path != ":memory:" && !Path::new(path).exists() {
                tracing::warn!(
                    db = %self.db.display(),
                    from = self.source,
                    "no database there: creating a new, empty one"
                );
            }
        }
        self.db.open().await
    }
}

impl Db {
    pub fn parse(s: &str) -> Db {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Db::Postgres(s.to_string())
        } else {
            Db::Sqlite(s.strip_prefix("sqlite://").unwrap_or(s).to_string())
        }
    }

    /// For logs: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Db::Sqlite(p) => format!("sqlite://{p}"),
            Db::Postgres(url) => redact_password(url),
        }
    }

    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        match self {
            Db::Sqlite(path) => Ok(Arc::new(
                SqliteStore::open(path).with_context(|| format!("cannot open database {path}"))?,
            )),
            Db::Postgres(url) => Ok(Arc::new(
                clicktrail_store_postgres::PgStore::connect(url)
                    .await
                    .with_context(|| format!("cannot open database {}", redact_password(url)))?,
            )),
        }
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_strings() {
        assert_eq!(
            Db::parse("./clicktrail.db"),
            Db::Sqlite("./clicktrail.db".into())
        );
        assert_eq!(
            Db::parse("sqlite:///var/x.db"),
            Db::Sqlite("/var/x.db".into())
        );
        assert!(matches!(Db::parse("postgres://u@h/db"), Db::Postgres(_)));
        assert!(matches!(Db::parse("postgresql://u@h/db"), Db::Postgres(_)));
        assert_eq!(
            Db::parse("postgres://u:secret@h:5432/db").display(),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            with_password("postgres://ct@127.0.0.1:5432/ct", "p@ss/w:rd+?").unwrap(),
            "postgres://ct:p%40ss%2Fw%3Ard%2B%3F@127.0.0.1:5432/ct"
        );
        assert!(with_password("postgres://ct:x@h/ct", "y").is_err());
    }

    #[test]
    fn resolution_order() {
        let mut c = crate::Config::demo();
        assert_eq!(
            resolve(None, Some(&c)).unwrap().db,
            Db::Sqlite(DEFAULT_DB.into())
        );
        c.database = Some("/srv/ct.db".into());
        let r = resolve(None, Some(&c)).unwrap();
        assert_eq!(r.db, Db::Sqlite("/srv/ct.db".into()));
        assert!(r.source.contains("[server] database"));
        // an empty CLICKTRAIL_DB names nothing
        assert_eq!(resolve(Some(" "), Some(&c)).unwrap().db, r.db);
        assert_eq!(
            resolve(Some("sqlite:///x.db"), Some(&c)).unwrap().db,
            Db::Sqlite("/x.db".into())
        );
        // the password file is added percent-encoded
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "a/b+c@d:e\n").unwrap();
        c.database = Some("postgres://ct@127.0.0.1:5432/ct".into());
        c.database_password_file = Some(pw);
        assert_eq!(
            resolve(None, Some(&c)).unwrap().db,
            Db::Postgres("postgres://ct:a%2Fb%2Bc%40d%3Ae@127.0.0.1:5432/ct".into())
        );
    }
}
