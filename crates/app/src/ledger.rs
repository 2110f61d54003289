//! The ledger's row operations every money use case shares: read one conversion's entries,
//! append a reversal.

use std::future::Future;

use clicktrail_domain::ledger::EntryKind;
use clicktrail_domain::money::Overflow;
use clicktrail_store::StoreError;

/// A reversal to append to the ledger (`cents` positive; the entry is negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalRow<'a> {
    pub tenant: &'a str,
    pub affiliate: &'a str,
    pub conversion_id: i64,
    pub cents: i64,
    pub currency: &'a str,
    pub available_at: i64,
    pub reason: &'a str,
    pub now: i64,
}

/// The ledger's rows, inside one transaction of the backend.
pub trait LedgerRows {
    /// The backend's error: a store answer, or its own database error (kept whole so that
    /// it can retry a transaction).
    type Error: From<StoreError> + From<Overflow>;

    /// One conversion's entries: (kind, amount, available_at).
    fn ledger(
        &mut self,
        conversion_id: i64,
    ) -> impl Future<Output = Result<Vec<(EntryKind, i64, i64)>, Self::Error>>;

    /// Appends a reversal; its entry id.
    fn append_reversal(
        &mut self,
        e: &ReversalRow<'_>,
    ) -> impl Future<Output = Result<i64, Self::Error>>;
}
