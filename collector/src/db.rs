//! `--db`: which backend a database string names, and opening it.
//!
//! A file path or `sqlite://PATH` is the embedded SQLite (the default `./clicktrail.db`);
//! `postgres://…` / `postgresql://…` is PostgreSQL (≥ 15).

use std::sync::Arc;

use anyhow::Context;
use clicktrail_store::Store;
use clicktrail_store_sqlite::SqliteStore;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    Sqlite(String),
    Postgres(String),
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
    }
}
