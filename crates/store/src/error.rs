//! The one error type of every backend.

use clicktrail_domain::money::Overflow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// (code, message): unknown CID, customer, subscription...
    NotFound(&'static str, String),
    /// (code, message): a duplicate.
    Conflict(&'static str, String),
    /// (field, message): a value the domain refuses (e.g. an amount that overflows).
    Invalid(String, String),
    /// Bad rows of an import, `(line, message)`; nothing of the import was stored.
    Rows(Vec<(u64, String)>),
    /// The database failed; the write was not stored.
    Internal(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound(c, m) | StoreError::Conflict(c, m) => write!(f, "{c}: {m}"),
            StoreError::Invalid(field, m) => write!(f, "{field}: {m}"),
            StoreError::Internal(m) => write!(f, "{m}"),
            StoreError::Rows(rows) => write!(f, "{} bad rows", rows.len()),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<Overflow> for StoreError {
    fn from(_: Overflow) -> Self {
        StoreError::Invalid(
            "amount".into(),
            "the amount is too large: a total would not be representable".into(),
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(feature = "rusqlite")]
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Internal(format!("sqlite: {e}"))
    }
}
