//! The PostgreSQL side of `clicktrail_sql::Db`: the shared row operations run in one pooled
//! transaction (statements prepared once per connection), arguments converted to the type
//! PostgreSQL inferred for each placeholder, cells read by the column's type.

use std::error::Error;

use bytes::BytesMut;
use clicktrail_sql::{Arg, Args, Cell, Db, Dialect, Row};
use clicktrail_store::StoreError;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use crate::ops::Tx;
use crate::{Fail, PgStore};

/// A transaction the shared row operations run in (`clicktrail_sql::Sql(Pg(&tx))`).
#[derive(Clone, Copy)]
pub(crate) struct Pg<'t, 'c>(pub(crate) &'t Tx<'c>);

/// An argument as the placeholder's inferred type takes it.
#[derive(Debug)]
struct Bind<'a>(Arg<'a>);

type BoxError = Box<dyn Error + Sync + Send>;

fn put<T: ToSql>(v: T, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    if T::accepts(ty) {
        v.to_sql(ty, out)
    } else {
        Err(format!(
            "a {} placeholder does not take {}",
            ty,
            std::any::type_name::<T>()
        )
        .into())
    }
}

impl ToSql for Bind<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(n) => match *ty {
                Type::INT4 => put(i32::try_from(n)?, ty, out),
                Type::INT2 => put(i16::try_from(n)?, ty, out),
                _ => put(n, ty, out),
            },
            Arg::Bool(b) => put(b, ty, out),
            Arg::Text(s) => put(s, ty, out),
            Arg::Ints(v) => put(v, ty, out),
            Arg::Texts(v) => put(v, ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn cell(r: &tokio_postgres::Row, i: usize) -> Result<Cell, tokio_postgres::Error> {
    let int = |n: Option<i64>| n.map_or(Cell::Null, Cell::Int);
    Ok(match *r.columns()[i].type_() {
        Type::INT8 => int(r.try_get(i)?),
        Type::INT4 => int(r.try_get::<_, Option<i32>>(i)?.map(i64::from)),
        Type::INT2 => int(r.try_get::<_, Option<i16>>(i)?.map(i64::from)),
        Type::BOOL => int(r.try_get::<_, Option<bool>>(i)?.map(i64::from)),
        Type::FLOAT8 => r
            .try_get::<_, Option<f64>>(i)?
            .map_or(Cell::Null, Cell::Real),
        _ => r
            .try_get::<_, Option<String>>(i)?
            .map_or(Cell::Null, Cell::Text),
    })
}

fn binds<'a>(args: Args<'a>) -> Vec<Bind<'a>> {
    args.iter().map(|a| Bind(a.arg())).collect()
}

impl Db for Pg<'_, '_> {
    type Error = Fail;
    const DIALECT: Dialect = Dialect::Postgres;

    async fn query(&self, sql: &str, args: Args<'_>) -> Result<Vec<Row>, Fail> {
        let st = self.0.prepare_cached(sql).await?;
        let binds = binds(args);
        let refs: Vec<&(dyn ToSql + Sync)> = binds.iter().map(|b| b as _).collect();
        let rows = self.0.query(&st, &refs).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let cells = (0..r.len()).map(|i| cell(r, i)).collect::<Result<_, _>>()?;
            out.push(Row(cells));
        }
        Ok(out)
    }

    async fn execute(&self, sql: &str, args: Args<'_>) -> Result<u64, Fail> {
        let st = self.0.prepare_cached(sql).await?;
        let binds = binds(args);
        let refs: Vec<&(dyn ToSql + Sync)> = binds.iter().map(|b| b as _).collect();
        Ok(self.0.execute(&st, &refs).await?)
    }

    fn is_unique_violation(e: &Fail) -> bool {
        matches!(e, Fail::Db(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION))
    }

    fn store_error(e: &Fail) -> Option<&StoreError> {
        match e {
            Fail::Store(e) => Some(e),
            Fail::Db(_) => None,
        }
    }

    async fn serialize(&self, key: &str) -> Result<(), Fail> {
        // `execute`: the function returns `void`, which no cell reads
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .await?;
        Ok(())
    }
}

/// Runs `f` in one transaction of the pool, committed when it succeeds.
pub(crate) async fn in_tx<T>(
    store: &PgStore,
    f: impl for<'t, 'c> AsyncFnOnce(Pg<'t, 'c>) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = f(Pg(&tx)).await?;
    tx.commit().await?;
    Ok(out)
}
