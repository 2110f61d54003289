//! A file's sales and refunds (the CSV import), all or nothing: every row runs its use case in
//! order inside the backend's one transaction; a row the store answers with a 404, 409 or 422
//! is listed with its line and the import goes on, to report every bad row at once; a database
//! failure stops it at once. The backend commits only when no row was listed.

use clicktrail_store::{ImportItem, ImportItemRow, StoreError};

use crate::commission::CommissionRows;
use crate::ledger::LedgerRows;
use crate::ops::OpsRows;
use crate::refund::RefundRows;

/// A backend's error told apart: a store answer about one row, or a failure that aborts.
pub trait RowAnswer: Sized {
    /// The store answer (404, 409, 422...) this error is; the error itself when the database
    /// failed (the transaction is no longer usable).
    fn into_answer(self) -> Result<StoreError, Self>;
}

impl RowAnswer for StoreError {
    fn into_answer(self) -> Result<StoreError, Self> {
        match self {
            StoreError::Internal(_) => Err(self),
            answer => Ok(answer),
        }
    }
}

/// The import: how many rows were recorded, or every bad row as `(line, message)` (then the
/// backend rolls back what the good ones wrote).
pub async fn import_items<R, E>(
    rows: &mut R,
    items: &[ImportItemRow],
) -> Result<Result<usize, Vec<(u64, String)>>, E>
where
    R: OpsRows + RefundRows + CommissionRows<Error = E> + LedgerRows<Error = E>,
    E: RowAnswer,
{
    let mut bad = Vec::new();
    for row in items {
        let r = match &row.item {
            ImportItem::Sale(s) => crate::sale::sale(rows, s).await.map(|_| ()),
            ImportItem::Refund(r) => crate::refund::refund(rows, r).await.map(|_| ()),
        };
        if let Err(e) = r {
            bad.push((row.line, e.into_answer()?.to_string()));
        }
    }
    Ok(if bad.is_empty() {
        Ok(items.len())
    } else {
        Err(bad)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_answers_are_listed_and_internal_errors_abort() {
        for answer in [
            StoreError::NotFound("unknown_cid", "m".into()),
            StoreError::Conflict("duplicate_transaction", "m".into()),
            StoreError::Invalid("amount".into(), "m".into()),
        ] {
            assert_eq!(answer.clone().into_answer(), Ok(answer));
        }
        let failed = StoreError::Internal("sqlite: disk I/O error".into());
        assert_eq!(failed.clone().into_answer(), Err(failed));
    }
}
