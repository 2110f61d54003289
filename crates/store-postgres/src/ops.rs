//! The tracking use cases on PostgreSQL: `clicktrail_app`'s leads, links, conversions, sales
//! and diagnostics over the shared rows (`clicktrail_sql::ops`), each awaited in one pooled
//! transaction, and the query helpers every module shares.

use clicktrail_app::{conversion as conv, diagnostic as diag, lead as leads, sale as sales};
use clicktrail_sql::Sql;
use clicktrail_store::{
    ConversionIn, ConversionOut, DiagnosticIn, ExternalLinkIn, LeadIn, OkOut, SaleIn, SaleOut,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

pub(crate) use clicktrail_app::events::replay;

use crate::db::Pg;
use crate::{Fail, PgStore};

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

/// One transaction from the pool around a use case.
macro_rules! in_tx {
    ($store:expr, |$rows:ident| $body:expr) => {{
        let mut client = $store.pool().get().await?;
        let tx = client.transaction().await?;
        let $rows = &mut Sql(Pg(&tx));
        let out = $body.await?;
        tx.commit().await?;
        Ok(out)
    }};
}

pub(crate) async fn conversion(store: &PgStore, c: &ConversionIn) -> Result<ConversionOut, Fail> {
    in_tx!(store, |rows| conv::conversion(rows, c))
}

pub(crate) async fn link_external(store: &PgStore, l: &ExternalLinkIn) -> Result<OkOut, Fail> {
    in_tx!(store, |rows| leads::link_external(rows, l))
}

pub(crate) async fn lead(store: &PgStore, l: &LeadIn) -> Result<OkOut, Fail> {
    in_tx!(store, |rows| leads::lead(rows, l))
}

pub(crate) async fn diagnostic(store: &PgStore, d: &DiagnosticIn) -> Result<(), Fail> {
    in_tx!(store, |rows| diag::diagnostic(rows, d))
}

pub(crate) async fn sale_request(store: &PgStore, s: &SaleIn) -> Result<SaleOut, Fail> {
    in_tx!(store, |rows| sales::sale(rows, s))
}

/// A sale inside an open transaction (CSV imports).
pub(crate) async fn sale_body(tx: &Tx<'_>, s: &SaleIn) -> Result<SaleOut, Fail> {
    sales::sale(&mut Sql(Pg(tx)), s).await
}
