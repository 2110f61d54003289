//! The row-level operations of the tracking use cases (events, leads, links, conversions,
//! sales, diagnostics), each backend's SQL inside its own transaction. What is decided from
//! them (attribution, 404s and 409s, commissions, one answer per event id) is in
//! [`crate::events`], [`crate::lead`], [`crate::conversion`], [`crate::sale`].

use std::future::Future;

use clicktrail_domain::attribution::{CidRecord, Resolved};
use clicktrail_domain::conversion::{Attribution, Status};
use clicktrail_domain::ledger::NewEntry;
use clicktrail_store::{ConversionIn, DiagnosticIn, ExternalLinkIn, SaleIn, Target};

use crate::commission::CommissionRows;

/// A lead to record (one per customer key, else one per CID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLead<'a> {
    pub tenant: &'a str,
    pub customer_key: Option<&'a str>,
    pub cid: Option<&'a str>,
    /// Only while the click's window was open.
    pub affiliate: Option<&'a str>,
    pub email: Option<&'a str>,
    pub source: &'a str,
    pub now: i64,
}

/// What the rules decided for a conversion or sale row.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub who: &'a Attribution,
    pub status: Status,
    pub commission_cents: i64,
}

/// What the tracking use cases read and write, inside one transaction of the backend.
pub trait OpsRows: CommissionRows {
    /// Claims `(tenant, event_id)` for this transaction, or the kind and stored answer
    /// (`None` while unanswered) of the event that holds it already.
    fn claim_event(
        &mut self,
        tenant: &str,
        event_id: &str,
        kind: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<(String, Option<String>)>, Self::Error>>;

    /// Stores the answer (JSON) of an event id this transaction claimed.
    fn remember_event(
        &mut self,
        tenant: &str,
        event_id: &str,
        kind: &str,
        body: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The click behind a CID.
    fn cid(
        &mut self,
        tenant: &str,
        cid: &str,
    ) -> impl Future<Output = Result<Option<CidRecord>, Self::Error>>;

    /// A target's CID with the CID's affiliate and expiry.
    fn resolve(
        &mut self,
        tenant: &str,
        target: &Target,
    ) -> impl Future<Output = Result<Option<Resolved>, Self::Error>>;

    /// Links (or relinks) a revenue origin's external CID to `l.cid`.
    fn link_external(
        &mut self,
        l: &ExternalLinkIn,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Links (or relinks) a customer key to a CID.
    fn link_customer(
        &mut self,
        tenant: &str,
        customer_key: &str,
        cid: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Inserts the lead, or fills in what the customer's lead was missing (its CID and
    /// affiliate when it had none, a newer email).
    fn upsert_lead(&mut self, l: &NewLead<'_>) -> impl Future<Output = Result<(), Self::Error>>;

    /// Stores a diagnostic and keeps the tenant's newest `keep`.
    fn insert_diagnostic(
        &mut self,
        d: &DiagnosticIn,
        keep: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Whether a conversion of this type has this external id.
    fn conversion_by_external(
        &mut self,
        tenant: &str,
        conversion_type: &str,
        external_id: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>>;

    /// Inserts the conversion; its id, `None` when its external id was taken meanwhile.
    fn insert_conversion(
        &mut self,
        c: &ConversionIn,
        public_id: &str,
        d: &Decided<'_>,
    ) -> impl Future<Output = Result<Option<i64>, Self::Error>>;

    /// Whether a sale has `transaction_id`, and what `target` resolves to (one round trip
    /// where the backend can).
    fn sale_lookup(
        &mut self,
        tenant: &str,
        transaction_id: &str,
        target: &Target,
    ) -> impl Future<Output = Result<(bool, Option<Resolved>), Self::Error>>;

    /// Inserts the sale; its id, `None` when its transaction id was taken meanwhile.
    fn insert_sale(
        &mut self,
        s: &SaleIn,
        public_id: &str,
        d: &Decided<'_>,
    ) -> impl Future<Output = Result<Option<i64>, Self::Error>>;

    /// Sets the credit of the existing sale `id`, its amount and a customer key it had none
    /// of.
    fn update_sale_credit(
        &mut self,
        id: i64,
        s: &SaleIn,
        d: &Decided<'_>,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The subscription's first sale (id, attributed), locked against another first
    /// payment of the same subscription until the transaction ends.
    fn first_subscription_sale(
        &mut self,
        tenant: &str,
        subscription_id: &str,
    ) -> impl Future<Output = Result<Option<(i64, bool)>, Self::Error>>;

    /// Appends an accrual with the rule that decided it; its entry id.
    fn insert_accrual(
        &mut self,
        e: &NewEntry,
        rule: Option<&str>,
    ) -> impl Future<Output = Result<i64, Self::Error>>;
}
