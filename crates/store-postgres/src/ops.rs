//! The query helpers of the click writer and the erasure (`q`, `exec`) and the transaction
//! type. The tracking use cases run from the `Store` impl in their own transaction
//! (`db::in_tx`).

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

pub(crate) use clicktrail_app::events::replay;

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
