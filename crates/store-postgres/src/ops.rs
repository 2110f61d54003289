//! The query helpers of the click writer and the erasure (`q`, `exec`), the transaction type,
//! and the sale inside an open transaction (the CSV import). Every other tracking use case runs
//! from the `Store` impl in its own transaction (`db::in_tx`).

use clicktrail_app::sale as sales;
use clicktrail_sql::Sql;
use clicktrail_store::{SaleIn, SaleOut};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

pub(crate) use clicktrail_app::events::replay;

use crate::db::Pg;
use crate::Fail;

pub(crate) type Tx<'a> = deadpool_postgres::Transaction<'a>;
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(crate) async fn q(tx: &Tx<'_>, sql: &str, p: Params<'_>) -> Result<Vec<Row>, Fail> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query(&st, p).await?)
}

pub(crate) async fn exec(tx: &Tx<'_>, sql: &str, p: Params<'_>) -> Result<u64, Fail> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&st, p).await?)
}

/// A sale inside an open transaction (CSV imports).
pub(crate) async fn sale_body(tx: &Tx<'_>, s: &SaleIn) -> Result<SaleOut, Fail> {
    sales::sale(&mut Sql(Pg(tx)), s).await
}
