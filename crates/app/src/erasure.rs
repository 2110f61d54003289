//! Erasing one customer or visitor, written once over [`ErasureRows`]. Money rows are never
//! touched (amounts, commissions, the ledger, refunds, payouts): only the fields that name the
//! person. A customer key, a CID, a merchant's customer id, an external CID and a billing
//! customer id are replaced by their pseudonym (`clicktrail_domain::erasure::pseudonym`), so
//! that the rows which shared them still do; emails, a conversion's free-form details and a
//! click's URL and referrer are removed. Event ids are kept (a retried event is still
//! recognised); their stored answers get the CID's pseudonym.
//!
//! Who is erased: the subject, and what links to it one step away: a customer key's CIDs
//! (its links and leads), a CID's customer keys, an email's leads with their keys and CIDs
//! (and the email itself as a customer key: imports key customers by email), and the CIDs of
//! the customer keys' conversions.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use clicktrail_domain::erasure::{pseudonym, Erased, Subject, PSEUDONYM_PREFIX};
use clicktrail_store::{AuditIn, EraseIn, StoreError};

/// A lead as an erasure sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadRow {
    pub id: i64,
    pub customer_key: Option<String>,
    pub cid: Option<String>,
    pub has_email: bool,
}

/// A conversion or sale as an erasure sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionRow {
    pub id: i64,
    pub cid: Option<String>,
    pub customer_id: Option<String>,
    pub billing_customer: Option<String>,
}

/// Which leads to read.
#[derive(Debug, Clone, Copy)]
pub enum LeadsBy<'a> {
    CustomerKey(&'a str),
    Cid(&'a str),
    /// Compared case-insensitively.
    Email(&'a str),
}

/// What an erasure reads and writes, inside one transaction of the backend; every call names
/// the tenant (or a row id read under it).
pub trait ErasureRows {
    type Error: From<StoreError>;

    /// The installation's pseudonym secret, made and stored on first use.
    fn secret(&mut self) -> impl Future<Output = Result<String, Self::Error>>;

    fn leads(
        &mut self,
        tenant: &str,
        by: LeadsBy<'_>,
    ) -> impl Future<Output = Result<Vec<LeadRow>, Self::Error>>;

    /// The CIDs `customer_links` ties to a customer key.
    fn cids_of_key(
        &mut self,
        tenant: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<String>, Self::Error>>;

    /// The customer keys `customer_links` ties to a CID.
    fn keys_of_cid(
        &mut self,
        tenant: &str,
        cid: &str,
    ) -> impl Future<Output = Result<Vec<String>, Self::Error>>;

    /// Conversions and sales with this customer key or this CID.
    fn conversions(
        &mut self,
        tenant: &str,
        key: Option<&str>,
        cid: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ConversionRow>, Self::Error>>;

    /// The external CIDs (revenue origin, external CID) linked to a CID.
    fn external_cids(
        &mut self,
        tenant: &str,
        cid: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Self::Error>>;

    fn remove_lead_email(&mut self, lead_id: i64) -> impl Future<Output = Result<(), Self::Error>>;

    /// Sets a conversion's customer id (its pseudonym) and removes its details.
    fn set_conversion_personal(
        &mut self,
        conversion_id: i64,
        customer_id: Option<&str>,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Replaces a customer key in leads, customer links and conversions; the rows changed.
    fn rename_customer_key(
        &mut self,
        tenant: &str,
        key: &str,
        to: &str,
    ) -> impl Future<Output = Result<u64, Self::Error>>;

    /// Replaces a CID everywhere (CIDs, clicks, links, leads, conversions, stored event
    /// answers) and removes its clicks' URLs and referrers.
    fn rename_cid(
        &mut self,
        tenant: &str,
        cid: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    fn rename_external_cid(
        &mut self,
        tenant: &str,
        revenue_origin: &str,
        external_cid: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Replaces a billing customer id (Stripe `cus_…`) in conversions and billing links.
    fn rename_billing_customer(
        &mut self,
        tenant: &str,
        id: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Replaces `from` by `to` in the bodies of the tenant's outbox messages, delivered or
    /// waiting (a webhook event names a lead's customer key); the messages changed.
    fn scrub_outbox(
        &mut self,
        tenant: &str,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<u64, Self::Error>>;

    fn audit(&mut self, line: &AuditIn) -> impl Future<Output = Result<(), Self::Error>>;
}

/// A value as a JSON string (quoted and escaped), the form an outbox body holds it in.
fn json_string(v: &str) -> String {
    serde_json::Value::from(v).to_string()
}

fn live(v: &str) -> bool {
    !v.starts_with(PSEUDONYM_PREFIX)
}

/// The erasure use case.
pub async fn erase<R: ErasureRows>(rows: &mut R, e: &EraseIn) -> Result<Erased, R::Error> {
    let tenant = e.tenant.as_str();
    let secret = rows.secret().await?;
    let p = |v: &str| pseudonym(secret.as_bytes(), tenant, v);

    // who: the subject and what is one step away from it
    let mut keys = BTreeSet::new();
    let mut cids = BTreeSet::new();
    let mut leads = BTreeMap::new();
    match &e.subject {
        Subject::CustomerKey(k) => {
            keys.insert(k.clone());
        }
        Subject::Cid(c) => {
            cids.insert(c.clone());
        }
        Subject::Email(m) => {
            // an email can itself be the customer key (imports key customers by email)
            keys.insert(m.clone());
            for l in rows.leads(tenant, LeadsBy::Email(m)).await? {
                keys.extend(l.customer_key.clone());
                cids.extend(l.cid.clone());
                leads.insert(l.id, l);
            }
        }
    }
    for k in keys.clone() {
        cids.extend(rows.cids_of_key(tenant, &k).await?);
        for l in rows.leads(tenant, LeadsBy::CustomerKey(&k)).await? {
            cids.extend(l.cid.clone());
            leads.insert(l.id, l);
        }
    }
    for c in cids.clone() {
        keys.extend(rows.keys_of_cid(tenant, &c).await?);
        for l in rows.leads(tenant, LeadsBy::Cid(&c)).await? {
            keys.extend(l.customer_key.clone());
            leads.insert(l.id, l);
        }
    }
    keys.retain(|k| live(k));
    let mut conversions = BTreeMap::new();
    for k in &keys {
        for c in rows.conversions(tenant, Some(k), None).await? {
            // the visitor who bought is the customer too
            cids.extend(c.cid.clone());
            conversions.insert(c.id, c);
        }
    }
    cids.retain(|c| live(c));
    for cid in &cids {
        for c in rows.conversions(tenant, None, Some(cid)).await? {
            conversions.insert(c.id, c);
        }
    }

    // what: every field that names them
    let mut out = Erased::default();
    for l in leads.values().filter(|l| l.has_email) {
        rows.remove_lead_email(l.id).await?;
        out.emails += 1;
    }
    let mut billing = BTreeSet::new();
    for c in conversions.values() {
        let id = c.customer_id.as_deref().map(p);
        rows.set_conversion_personal(c.id, id.as_deref()).await?;
        billing.extend(c.billing_customer.clone().filter(|b| live(b)));
        out.conversions += 1;
    }
    for b in &billing {
        rows.rename_billing_customer(tenant, b, &p(b)).await?;
        out.billing_customers += 1;
    }
    for k in &keys {
        if rows.rename_customer_key(tenant, k, &p(k)).await? > 0 {
            out.customer_keys += 1;
        }
    }
    for c in &cids {
        for (origin, ext) in rows.external_cids(tenant, c).await? {
            if live(&ext) {
                rows.rename_external_cid(tenant, &origin, &ext, &p(&ext))
                    .await?;
            }
        }
        rows.rename_cid(tenant, c, &p(c)).await?;
        out.cids += 1;
    }
    for v in keys.iter().chain(&cids) {
        rows.scrub_outbox(tenant, &json_string(v), &json_string(&p(v)))
            .await?;
    }
    rows.audit(&AuditIn {
        tenant: tenant.to_string(),
        actor: e.actor.clone(),
        action: "erase".into(),
        summary: out.summary(&e.subject),
        now: e.now,
    })
    .await?;
    Ok(out)
}
