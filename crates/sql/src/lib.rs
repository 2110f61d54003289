//! The row operations every use case of `clicktrail_app` runs on, written once: one SQL text
//! per statement, which SQLite and PostgreSQL both accept, over [`Db`], the executor each
//! backend implements once (rusqlite on the SQLite writer's connection, tokio-postgres in a
//! pooled transaction).
//!
//! The SQL both accept: `$1`, `$2`... placeholders (SQLite's executor reads them as `?1`,
//! `?2`), `CAST(x AS TEXT)` rather than `::text`, `ON CONFLICT`, `RETURNING`, `coalesce`.
//! Row locks are written `FOR UPDATE`: PostgreSQL takes them; SQLite's executor drops the
//! clause, its single writer thread already runs one transaction at a time. The few statements
//! only one dialect can say (arrays, advisory locks) branch on [`Db::DIALECT`] beside each
//! other, in the same function.
//!
//! ```text
//! lib.rs     the executor trait, arguments and rows
//! refund.rs  refunds, operator status changes and the ledger rows they share
//! pending.rs refunds kept until their payment arrives, and the ids that name a payment
//! catalog.rs the catalog's changes (admin, configuration file) and the snapshot collectors serve
//! admin.rs   the admin API's tenant listings, the event log and the audit lines
//! stripe.rs  a Stripe event's claim, locks, links, facts and the sale it settles
//! erase.rs   the rows an erasure finds and rewrites; retention settings and pruning
//! payouts.rs ledger entries as payouts read them, payouts and their lines
//! ops.rs     the tracking rows (events, links, leads, conversions, sales, diagnostics)
//! commission.rs a subscription's earlier payments, under the subscription's lock
//! report.rs  the report's grouped rows, money summed exactly in two halves
//! portal.rs  the affiliate portal's links and reads
//! program.rs applications, program settings, payout details
//! outbox.rs  the outbox (queue, lease, outcome) and the commission/payout notices' cursors
//! webhooks.rs outgoing webhook endpoints and the facts the event feed reads
//! ```

use std::future::Future;

use clicktrail_store::StoreError;

pub mod admin;
pub mod catalog;
pub mod commission;
pub mod erase;
pub mod ops;
pub mod outbox;
pub mod payouts;
pub mod pending;
pub mod portal;
pub mod program;
pub mod refund;
pub mod report;
pub mod stripe;
pub mod webhooks;

/// Which SQL the backend speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One statement argument, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bool(bool),
    /// PostgreSQL only (`= ANY($1)`, `unnest`).
    Ints(&'a [i64]),
    /// PostgreSQL only.
    Texts(&'a [String]),
}

/// A value that can be bound to a placeholder.
pub trait ToArg: Sync {
    fn arg(&self) -> Arg<'_>;
}

impl ToArg for i64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}

impl ToArg for i32 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for bool {
    fn arg(&self) -> Arg<'_> {
        Arg::Bool(*self)
    }
}

impl ToArg for str {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for String {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for [i64] {
    fn arg(&self) -> Arg<'_> {
        Arg::Ints(self)
    }
}

impl ToArg for Vec<i64> {
    fn arg(&self) -> Arg<'_> {
        Arg::Ints(self)
    }
}

impl ToArg for Vec<String> {
    fn arg(&self) -> Arg<'_> {
        Arg::Texts(self)
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn arg(&self) -> Arg<'_> {
        match self {
            Some(v) => v.arg(),
            None => Arg::Null,
        }
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn arg(&self) -> Arg<'_> {
        (**self).arg()
    }
}

/// A statement's arguments, in placeholder order.
pub type Args<'a> = &'a [&'a dyn ToArg];

/// One column of a result row, as the backend read it (booleans as 0/1).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// A type a [`Cell`] converts to.
pub trait FromCell: Sized {
    fn from_cell(c: &Cell) -> Option<Self>;
}

impl FromCell for i64 {
    fn from_cell(c: &Cell) -> Option<Self> {
        match c {
            Cell::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromCell for bool {
    fn from_cell(c: &Cell) -> Option<Self> {
        match c {
            Cell::Int(n) => Some(*n != 0),
            _ => None,
        }
    }
}

impl FromCell for f64 {
    fn from_cell(c: &Cell) -> Option<Self> {
        match c {
            Cell::Real(x) => Some(*x),
            Cell::Int(n) => Some(*n as f64),
            _ => None,
        }
    }
}

impl FromCell for String {
    fn from_cell(c: &Cell) -> Option<Self> {
        match c {
            Cell::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(c: &Cell) -> Option<Self> {
        match c {
            Cell::Null => Some(None),
            c => T::from_cell(c).map(Some),
        }
    }
}

/// A result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Cell>);

impl Row {
    /// Column `i` as a `T`; a missing column or another type is an internal error (a
    /// statement and its reader disagree), never a panic.
    pub fn get<T: FromCell>(&self, i: usize) -> Result<T, StoreError> {
        self.0
            .get(i)
            .and_then(T::from_cell)
            .ok_or_else(|| StoreError::Internal(format!("column {i}: {:?}", self.0.get(i))))
    }
}

/// The statement runner a backend implements once, inside its own transaction.
pub trait Db {
    /// The backend's error (PostgreSQL keeps its database errors whole to retry deadlocks).
    type Error: From<StoreError> + From<clicktrail_domain::money::Overflow>;

    const DIALECT: Dialect;

    /// Every row the statement returns.
    fn query(
        &self,
        sql: &str,
        args: Args<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, Self::Error>>;

    /// Runs a statement; the number of rows it changed.
    fn execute(&self, sql: &str, args: Args<'_>) -> impl Future<Output = Result<u64, Self::Error>>;

    /// Whether the error is a unique constraint refusing a row (a race another collector won).
    fn is_unique_violation(e: &Self::Error) -> bool;

    /// The store's answer inside the error, if it is one (not a database failure).
    fn store_error(e: &Self::Error) -> Option<&StoreError>;

    /// Serializes this transaction with every other one that names the same key, until it
    /// ends (PostgreSQL: a transaction-level advisory lock; SQLite's single writer already
    /// runs one at a time).
    fn serialize(&self, key: &str) -> impl Future<Output = Result<(), Self::Error>>;

    /// The first row, if any.
    fn query_opt(
        &self,
        sql: &str,
        args: Args<'_>,
    ) -> impl Future<Output = Result<Option<Row>, Self::Error>> {
        async move { Ok(self.query(sql, args).await?.into_iter().next()) }
    }

    /// The first row; none is an internal error (e.g. an `INSERT ... RETURNING`).
    fn query_one(
        &self,
        sql: &str,
        args: Args<'_>,
    ) -> impl Future<Output = Result<Row, Self::Error>> {
        async move {
            self.query_opt(sql, args)
                .await?
                .ok_or_else(|| StoreError::Internal("a statement returned no row".into()).into())
        }
    }
}

/// Replaces PostgreSQL's `$N` placeholders with SQLite's `?N` and drops `FOR UPDATE` (the
/// SQLite writer holds the only write transaction). Placeholders never appear in the
/// project's string literals.
pub fn sqlite_text(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let next = &rest[at + 1..];
        out.push(if next.starts_with(|c: char| c.is_ascii_digit()) {
            '?'
        } else {
            '$'
        });
        rest = next;
    }
    out.push_str(rest);
    if out.contains(" FOR UPDATE") {
        out = out.replace(" FOR UPDATE", "");
    }
    out
}

/// The row operations over one backend's transaction: every `clicktrail_app` row trait is
/// implemented for it in this crate's modules.
pub struct Sql<D>(pub D);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_sqlite_ones_and_locks_go() {
        assert_eq!(
            sqlite_text("SELECT a FROM t WHERE x = $1 AND y = $12 FOR UPDATE"),
            "SELECT a FROM t WHERE x = ?1 AND y = ?12"
        );
        assert_eq!(sqlite_text("SELECT '$' || $2"), "SELECT '$' || ?2");
    }

    #[test]
    fn cells_convert_or_say_which_column() {
        let row = Row(vec![Cell::Int(1), Cell::Null, Cell::Text("x".into())]);
        assert_eq!(row.get::<bool>(0), Ok(true));
        assert_eq!(row.get::<Option<i64>>(1), Ok(None));
        assert_eq!(row.get::<String>(2), Ok("x".into()));
        assert!(row.get::<i64>(2).is_err());
        assert!(row.get::<i64>(3).is_err());
    }
}
