//! What crosses the store for erasure and retention (the rules are `clicktrail_domain::erasure`
//! and `::retention`; the use case is `clicktrail_app::erasure`).

use clicktrail_domain::erasure::Subject;

/// Erase one customer or visitor of `tenant`; `actor` is the audit log's "who".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseIn {
    pub tenant: String,
    pub subject: Subject,
    pub actor: String,
    pub now: i64,
}
