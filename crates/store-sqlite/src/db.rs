//! The SQLite side of `clicktrail_sql::Db`: the shared row operations run on the writer's
//! connection (statements prepared once and cached, `$N` read as `?N`).

use clicktrail_sql::{sqlite_text, Arg, Args, Cell, Db, Dialect, Row};
use clicktrail_store::{StoreError, StoreResult};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection};

/// A connection the shared row operations run on (`clicktrail_sql::Sql(Lite(conn))`).
#[derive(Clone, Copy)]
pub(crate) struct Lite<'c>(pub(crate) &'c Connection);

/// An argument as rusqlite binds it (booleans as 0/1).
struct Bind<'a>(Arg<'a>);

impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Arg::Null => ValueRef::Null,
            Arg::Int(n) => ValueRef::Integer(n),
            Arg::Bool(b) => ValueRef::Integer(i64::from(b)),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Ints(_) | Arg::Texts(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "arrays are bound on PostgreSQL only".into(),
                ))
            }
        }))
    }
}

fn cell(v: ValueRef<'_>) -> rusqlite::Result<Cell> {
    Ok(match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Int(n),
        ValueRef::Real(x) => Cell::Real(x),
        ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(
            std::str::from_utf8(t)
                .map_err(|e| rusqlite::Error::Utf8Error(0, e))?
                .to_owned(),
        ),
    })
}

impl Db for Lite<'_> {
    type Error = StoreError;
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn query(&self, sql: &str, args: Args<'_>) -> StoreResult<Vec<Row>> {
        let mut st = self.0.prepare_cached(&sqlite_text(sql))?;
        let n = st.column_count();
        let mut rows = st.query(params_from_iter(args.iter().map(|a| Bind(a.arg()))))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let cells = (0..n)
                .map(|i| cell(r.get_ref(i)?))
                .collect::<rusqlite::Result<_>>()?;
            out.push(Row(cells));
        }
        Ok(out)
    }

    async fn execute(&self, sql: &str, args: Args<'_>) -> StoreResult<u64> {
        let mut st = self.0.prepare_cached(&sqlite_text(sql))?;
        let n = st.execute(params_from_iter(args.iter().map(|a| Bind(a.arg()))))?;
        Ok(n as u64)
    }

    /// rusqlite's constraint errors reach here as the store's internal error, worded by
    /// SQLite (`From<rusqlite::Error> for StoreError`).
    fn is_unique_violation(e: &StoreError) -> bool {
        matches!(e, StoreError::Internal(m) if m.starts_with("sqlite: UNIQUE constraint failed"))
    }

    fn store_error(e: &StoreError) -> Option<&StoreError> {
        Some(e)
    }

    async fn serialize(&self, _key: &str) -> StoreResult<()> {
        Ok(())
    }
}
