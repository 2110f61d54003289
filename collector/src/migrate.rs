//! `migrate --from … --to …`: copies a whole database into an empty one of the other backend
//! (SQLite -> PostgreSQL or back), row for row (ids, timestamps and amounts as stored), in
//! one transaction on the target; then checks that every table has as many rows on both
//! sides and the same sum in every `*_cents` column (the ledger, payouts, refunds…).
//!
//! Both databases are first brought to this build's schema (as `serve` would), so the two
//! schemas have the same tables and columns; a difference is an error, never a silent loss.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use rusqlite::types::Value as SqlValue;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use crate::db::Db;

/// Bookkeeping tables of each backend's migration tool: not data.
const SKIP: [&str; 3] = [
    "schema_version",
    "refinery_schema_history",
    "sqlite_sequence",
];
/// Rows read and written per round.
const BATCH: usize = 2000;
/// A progress line every this many rows of a table.
const PROGRESS: i64 = 50_000;

#[derive(Clone, Copy, Debug)]
enum Kind {
    I64,
    I32,
    I16,
    Bool,
    Text,
}

#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<(String, Kind)>,
    /// bigserial columns: their sequences continue after the copied ids
    serial: Vec<String>,
}

impl Table {
    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(c, _)| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn cents(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|(c, _)| c.ends_with("_cents"))
            .map(|(c, _)| c.as_str())
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
enum V {
    Null,
    Int(i64),
    Text(String),
}

/// Per table: rows, and the sum of each `*_cents` column.
pub type Tally = BTreeMap<String, (i64, Vec<(String, i128)>)>;

/// Copies `from` into `to` (which must be empty); returns the verified tally.
pub async fn migrate(from: &Db, to: &Db, say: &mut dyn FnMut(String)) -> anyhow::Result<Tally> {
    match (from, to) {
        (Db::Sqlite(src), Db::Postgres(dst)) => {
            let sqlite = open_sqlite(src, false)?;
            let (pg, tables) = open_pg(dst).await?;
            check_columns(&sqlite, &tables)?;
            refuse_non_empty_pg(&pg, &tables).await?;
            sqlite_to_pg(&sqlite, pg, &tables, say).await?;
            let (pg, _) = open_pg(dst).await?;
            verify(
                tally_sqlite(&sqlite, &tables)?,
                tally_pg(&pg, &tables).await?,
                say,
            )
        }
        (Db::Postgres(src), Db::Sqlite(dst)) => {
            let (pg, tables) = open_pg(src).await?;
            let mut sqlite = open_sqlite(dst, true)?;
            check_columns(&sqlite, &tables)?;
            refuse_non_empty_sqlite(&sqlite, &tables)?;
            pg_to_sqlite(pg, &mut sqlite, &tables, say).await?;
            let (pg, _) = open_pg(src).await?;
            verify(
                tally_pg(&pg, &tables).await?,
                tally_sqlite(&sqlite, &tables)?,
                say,
            )
        }
        _ => bail!("migrate copies between SQLite and PostgreSQL: give one of each"),
    }
}

/// The SQLite database at this build's schema (`create`: a missing file is made).
fn open_sqlite(path: &str, create: bool) -> anyhow::Result<rusqlite::Connection> {
    if !create && !std::path::Path::new(path).exists() {
        bail!("no database at {path}");
    }
    // opening through the store applies the schema migrations, as `serve` does
    drop(
        clicktrail_store_sqlite::SqliteStore::open(path)
            .with_context(|| format!("cannot open database {path}"))?,
    );
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// The PostgreSQL database at this build's schema, and its tables.
async fn open_pg(url: &str) -> anyhow::Result<(tokio_postgres::Client, Vec<Table>)> {
    let shown = Db::Postgres(url.to_string()).display();
    drop(
        clicktrail_store_postgres::PgStore::connect(url)
            .await
            .with_context(|| format!("cannot open database {shown}"))?,
    );
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to {shown}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    let rows = client
        .query(
            "SELECT c.table_name::text, c.column_name::text, c.data_type::text,
                coalesce(c.column_default, '')::text
             FROM information_schema.columns c JOIN information_schema.tables t
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await?;
    let mut tables: Vec<Table> = Vec::new();
    for r in rows {
        let (table, column, ty, default): (String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        if SKIP.contains(&table.as_str()) {
            continue;
        }
        let kind = match ty.as_str() {
            "bigint" => Kind::I64,
            "integer" => Kind::I32,
            "smallint" => Kind::I16,
            "boolean" => Kind::Bool,
            "text" => Kind::Text,
            other => bail!("{table}.{column}: type {other} is not copied by migrate"),
        };
        if tables.last().map(|t| &t.name) != Some(&table) {
            tables.push(Table {
                name: table.clone(),
                columns: Vec::new(),
                serial: Vec::new(),
            });
        }
        if let Some(t) = tables.last_mut() {
            if default.starts_with("nextval(") {
                t.serial.push(column.clone());
            }
            t.columns.push((column, kind));
        }
    }
    Ok((client, tables))
}

/// Both backends must have the same tables with the same columns.
fn check_columns(sqlite: &rusqlite::Connection, tables: &[Table]) -> anyhow::Result<()> {
    let names: Vec<String> = sqlite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for n in names.iter().filter(|n| !SKIP.contains(&n.as_str())) {
        if !tables.iter().any(|t| &t.name == n) {
            bail!("table {n} exists in SQLite only: the two schemas differ");
        }
    }
    for t in tables {
        if !names.contains(&t.name) {
            bail!(
                "table {} exists in PostgreSQL only: the two schemas differ",
                t.name
            );
        }
        let cols: Vec<String> = sqlite
            .prepare(&format!("SELECT name FROM pragma_table_info('{}')", t.name))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut pg: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
        let mut lite: Vec<&str> = cols.iter().map(String::as_str).collect();
        pg.sort_unstable();
        lite.sort_unstable();
        if pg != lite {
            bail!(
                "table {}: columns differ (SQLite {lite:?}, PostgreSQL {pg:?})",
                t.name
            );
        }
    }
    Ok(())
}

/// catalog_version always holds its one row; every other table must be empty.
fn data_tables(tables: &[Table]) -> impl Iterator<Item = &Table> {
    tables.iter().filter(|t| t.name != "catalog_version")
}

async fn refuse_non_empty_pg(pg: &tokio_postgres::Client, tables: &[Table]) -> anyhow::Result<()> {
    for t in data_tables(tables) {
        let q = format!("SELECT EXISTS (SELECT 1 FROM \"{}\")", t.name);
        if pg.query_one(&q, &[]).await?.get::<_, bool>(0) {
            bail!(
                "the target database is not empty (table {} has rows): migrate copies into an empty database only",
                t.name
            );
        }
    }
    Ok(())
}

fn refuse_non_empty_sqlite(s: &rusqlite::Connection, tables: &[Table]) -> anyhow::Result<()> {
    for t in data_tables(tables) {
        let q = format!("SELECT EXISTS (SELECT 1 FROM \"{}\")", t.name);
        if s.query_row(&q, [], |r| r.get::<_, bool>(0))? {
            bail!(
                "the target database is not empty (table {} has rows): migrate copies into an empty database only",
                t.name
            );
        }
    }
    Ok(())
}

fn from_sqlite(v: SqlValue, table: &str, column: &str) -> anyhow::Result<V> {
    Ok(match v {
        SqlValue::Null => V::Null,
        SqlValue::Integer(i) => V::Int(i),
        SqlValue::Text(s) => V::Text(s),
        other => bail!(
            "{table}.{column}: a {:?} value is not copied",
            other.data_type()
        ),
    })
}

fn to_pg(v: &V, kind: Kind) -> anyhow::Result<Box<dyn ToSql + Sync + Send>> {
    Ok(match (v, kind) {
        (V::Null, Kind::I64) => Box::new(None::<i64>),
        (V::Null, Kind::I32) => Box::new(None::<i32>),
        (V::Null, Kind::I16) => Box::new(None::<i16>),
        (V::Null, Kind::Bool) => Box::new(None::<bool>),
        (V::Null, Kind::Text) => Box::new(None::<String>),
        (V::Int(i), Kind::I64) => Box::new(*i),
        (V::Int(i), Kind::I32) => Box::new(i32::try_from(*i)?),
        (V::Int(i), Kind::I16) => Box::new(i16::try_from(*i)?),
        (V::Int(i), Kind::Bool) => Box::new(*i != 0),
        (V::Text(s), Kind::Text) => Box::new(s.clone()),
        (v, k) => bail!("value {v:?} does not fit a {k:?} column"),
    })
}

fn from_pg(row: &tokio_postgres::Row, i: usize, kind: Kind) -> anyhow::Result<SqlValue> {
    Ok(match kind {
        Kind::I64 => row.try_get::<_, Option<i64>>(i)?.map(SqlValue::Integer),
        Kind::I32 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| SqlValue::Integer(v.into())),
        Kind::I16 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| SqlValue::Integer(v.into())),
        Kind::Bool => row
            .try_get::<_, Option<bool>>(i)?
            .map(|v| SqlValue::Integer(v.into())),
        Kind::Text => row.try_get::<_, Option<String>>(i)?.map(SqlValue::Text),
    }
    .unwrap_or(SqlValue::Null))
}

async fn sqlite_to_pg(
    sqlite: &rusqlite::Connection,
    mut pg: tokio_postgres::Client,
    tables: &[Table],
    say: &mut dyn FnMut(String),
) -> anyhow::Result<()> {
    let tx = pg.transaction().await?;
    tx.execute("DELETE FROM catalog_version", &[]).await?;
    // one consistent snapshot of the source
    sqlite.execute_batch("BEGIN")?;
    for t in tables {
        let total: i64 =
            sqlite.query_row(&format!("SELECT count(*) FROM \"{}\"", t.name), [], |r| {
                r.get(0)
            })?;
        let mut st = sqlite.prepare(&format!("SELECT {} FROM \"{}\"", t.column_list(), t.name))?;
        let mut rows = st.query([])?;
        let mut batch: Vec<Vec<V>> = Vec::new();
        let mut done = 0i64;
        loop {
            let row = rows.next()?;
            if let Some(r) = row {
                let mut vals = Vec::with_capacity(t.columns.len());
                for (i, (c, _)) in t.columns.iter().enumerate() {
                    vals.push(from_sqlite(r.get::<_, SqlValue>(i)?, &t.name, c)?);
                }
                batch.push(vals);
            }
            let last = row.is_none();
            if batch.len() >= BATCH || (last && !batch.is_empty()) {
                insert_pg(&tx, t, &batch).await?;
                let before = done;
                done += batch.len() as i64;
                batch.clear();
                if !last && done / PROGRESS > before / PROGRESS {
                    say(format!("  {}: {done}/{total} rows", t.name));
                }
            }
            if last {
                break;
            }
        }
        say(format!("copied {}: {done} rows", t.name));
    }
    sqlite.execute_batch("COMMIT")?;
    for t in tables {
        for c in &t.serial {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', '{1}'),
                        (SELECT coalesce(max(\"{1}\"), 0) FROM \"{0}\") + 1, false)",
                    t.name, c
                ),
                &[],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn insert_pg(
    tx: &tokio_postgres::Transaction<'_>,
    t: &Table,
    batch: &[Vec<V>],
) -> anyhow::Result<()> {
    // at most 65535 parameters per statement
    let per = (65_000 / t.columns.len().max(1)).max(1);
    for chunk in batch.chunks(per) {
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut groups = Vec::new();
        for row in chunk {
            let mut marks = Vec::new();
            for (v, (_, kind)) in row.iter().zip(&t.columns) {
                params.push(to_pg(v, *kind)?);
                marks.push(format!("${}", params.len()));
            }
            groups.push(format!("({})", marks.join(", ")));
        }
        let sql = format!(
            "INSERT INTO \"{}\" ({}) VALUES {}",
            t.name,
            t.column_list(),
            groups.join(", ")
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        tx.execute(&sql, &refs)
            .await
            .with_context(|| format!("cannot insert into {}", t.name))?;
    }
    Ok(())
}

async fn pg_to_sqlite(
    mut pg: tokio_postgres::Client,
    sqlite: &mut rusqlite::Connection,
    tables: &[Table],
    say: &mut dyn FnMut(String),
) -> anyhow::Result<()> {
    // one consistent snapshot of the source
    let src = pg
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let tx = sqlite.transaction()?;
    tx.execute("DELETE FROM catalog_version", [])?;
    for t in tables {
        let total: i64 = src
            .query_one(&format!("SELECT count(*) FROM \"{}\"", t.name), &[])
            .await?
            .get(0);
        src.execute(
            &format!(
                "DECLARE migrate_cursor NO SCROLL CURSOR FOR SELECT {} FROM \"{}\"",
                t.column_list(),
                t.name
            ),
            &[],
        )
        .await?;
        let marks = vec!["?"; t.columns.len()].join(", ");
        let mut insert = tx.prepare(&format!(
            "INSERT INTO \"{}\" ({}) VALUES ({marks})",
            t.name,
            t.column_list()
        ))?;
        let mut done = 0i64;
        loop {
            let rows = src
                .query(&format!("FETCH {BATCH} FROM migrate_cursor"), &[])
                .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let mut vals = Vec::with_capacity(t.columns.len());
                for (i, (_, kind)) in t.columns.iter().enumerate() {
                    vals.push(from_pg(r, i, *kind)?);
                }
                insert
                    .execute(rusqlite::params_from_iter(vals))
                    .with_context(|| format!("cannot insert into {}", t.name))?;
            }
            let before = done;
            done += rows.len() as i64;
            if done < total && done / PROGRESS > before / PROGRESS {
                say(format!("  {}: {done}/{total} rows", t.name));
            }
        }
        drop(insert);
        src.execute("CLOSE migrate_cursor", &[]).await?;
        say(format!("copied {}: {done} rows", t.name));
    }
    tx.commit()?;
    src.commit().await?;
    Ok(())
}

fn tally_sqlite(s: &rusqlite::Connection, tables: &[Table]) -> anyhow::Result<Tally> {
    let mut out = Tally::new();
    for t in tables {
        let n: i64 = s.query_row(&format!("SELECT count(*) FROM \"{}\"", t.name), [], |r| {
            r.get(0)
        })?;
        let mut sums = Vec::new();
        for c in t.cents() {
            // exact: summed row by row in i128
            let mut st = s.prepare(&format!("SELECT \"{c}\" FROM \"{}\"", t.name))?;
            let mut total: i128 = 0;
            for v in st.query_map([], |r| r.get::<_, Option<i64>>(0))? {
                total += i128::from(v?.unwrap_or(0));
            }
            sums.push((c.to_string(), total));
        }
        out.insert(t.name.clone(), (n, sums));
    }
    Ok(out)
}

async fn tally_pg(pg: &tokio_postgres::Client, tables: &[Table]) -> anyhow::Result<Tally> {
    let mut out = Tally::new();
    for t in tables {
        let n: i64 = pg
            .query_one(&format!("SELECT count(*) FROM \"{}\"", t.name), &[])
            .await?
            .get(0);
        let mut sums = Vec::new();
        for c in t.cents() {
            let text: String = pg
                .query_one(
                    &format!(
                        "SELECT coalesce(sum(\"{c}\"::numeric), 0)::text FROM \"{}\"",
                        t.name
                    ),
                    &[],
                )
                .await?
                .get(0);
            sums.push((c.to_string(), text.parse::<i128>()?));
        }
        out.insert(t.name.clone(), (n, sums));
    }
    Ok(out)
}

fn verify(source: Tally, target: Tally, say: &mut dyn FnMut(String)) -> anyhow::Result<Tally> {
    for (table, (n, sums)) in &source {
        let Some((m, other)) = target.get(table) else {
            bail!("verification failed: table {table} missing from the target");
        };
        if n != m {
            bail!("verification failed: {table} has {n} rows in the source, {m} in the target");
        }
        if sums != other {
            bail!("verification failed: {table}: sums {sums:?} in the source, {other:?} in the target");
        }
    }
    let rows: i64 = source.values().map(|(n, _)| n).sum();
    let ledger = source
        .get("ledger")
        .and_then(|(_, s)| s.iter().find(|(c, _)| c == "amount_cents"))
        .map(|(_, v)| *v)
        .unwrap_or(0);
    say(format!(
        "verified: {} tables, {rows} rows, every row count and *_cents sum equal (ledger amount_cents {ledger})",
        source.len()
    ));
    Ok(source)
}
