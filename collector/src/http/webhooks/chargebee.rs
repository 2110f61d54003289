//! `POST /webhooks/chargebee/{tenant}` (issue 11, PartnerStack compatibility): Chargebee's
//! webhook events, authenticated with the tenant's HTTP Basic credentials, recorded with the
//! sale API's own store methods (`Store::sale`, `Store::refund`, `Store::lead`), so the ledger,
//! the attribution and the refund rules are those of `/api/v1/track/sale` and `/track/refund`.
//!
//! | event | what is recorded |
//! |---|---|
//! | `payment_succeeded` | a sale `chargebee:<transaction.id>` (else `chargebee:<invoice.id>`), amount and currency of the transaction |
//! | `payment_refunded` | a refund `chargebee:<refund transaction id>` of the sale `chargebee:<transaction.refunded_txn_id>` |
//! | `subscription_created` | a lead linking the Chargebee customer id (as customer key) to the CID |
//! | anything else | nothing (200, `ignored`) |
//!
//! Coupons: a sale carries the coupons of its invoice (`invoice.discounts[]` of type
//! `item_level_coupon` / `document_level_coupon`: the coupon code `coupon_set_code` when the
//! customer entered one, then the coupon id `entity_id`) and of its subscription
//! (`subscription.coupons[]`: `coupon_code`, then `coupon_id`), in that order, as its coupon
//! codes: one of the tenant's codes credits its affiliate when no click does.
//!
//! Deduplication: a sale's transaction id and a refund's id are unique per tenant, so a
//! redelivered event is answered `duplicate` and changes nothing; a lead is idempotent by the
//! event id. The helpers at the bottom are shared with [`super::recurly`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use clicktrail_domain::catalog::{key_hash, Tenant, SECRET_HASH_PREFIX};
use clicktrail_domain::ids::capped;
use clicktrail_domain::Cid;
use clicktrail_store::{LeadIn, RefundIn, RefundOrKept, SaleIn, StoreError, Target};

use crate::http::error::AppError;
use crate::http::extract::{parse_json, read_body};
use crate::http::types::MAX_COUPONS;
use crate::http::webhooks::stripe::WEBHOOK_BODY_LIMIT;
use crate::state::AppState;

/// The Chargebee custom field (on the customer or the subscription) that carries the CID.
pub const CID_FIELD: &str = "cf_clicktrail_cid";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub id: Option<String>,
    pub event_type: Option<String>,
    pub occurred_at: Option<i64>,
    pub content: Content,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Content {
    pub transaction: Option<Transaction>,
    pub invoice: Option<Invoice>,
    pub customer: Option<Customer>,
    pub subscription: Option<Subscription>,
    pub credit_note: Option<CreditNote>,
}

/// `credit_note`: a refund's credit note names the invoice it credits.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreditNote {
    pub id: Option<String>,
    pub reference_invoice_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkedInvoice {
    pub invoice_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkedCreditNote {
    pub cn_id: Option<String>,
    pub cn_reference_invoice_id: Option<String>,
}

/// `transaction` (amounts in the currency's minor unit).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Transaction {
    pub id: Option<String>,
    pub amount: Option<i64>,
    pub currency_code: Option<String>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    /// `payment`, `refund`, `authorization`, `payment_reversal`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    /// On a refund: the payment transaction it refunds (absent on direct-debit refunds).
    pub refunded_txn_id: Option<String>,
    /// On a payment: the invoices it paid.
    pub linked_invoices: Vec<LinkedInvoice>,
    /// On a refund: its credit notes and the invoices they credit.
    pub linked_credit_notes: Vec<LinkedCreditNote>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Invoice {
    pub id: Option<String>,
    pub amount_paid: Option<i64>,
    pub currency_code: Option<String>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    /// Deductions: coupons, discounts, credits (`null` or absent: none).
    pub discounts: Option<Vec<InvoiceDiscount>>,
}

/// `invoice.discounts[]`: for a coupon, `entity_id` is the coupon id and `coupon_set_code`
/// the coupon code the customer entered (codes of a coupon set).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvoiceDiscount {
    /// `item_level_coupon`, `document_level_coupon`, `promotional_credits`, `prorated_credits`,
    /// `item_level_discount`, `document_level_discount`.
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub coupon_set_code: Option<String>,
}

/// `subscription.coupons[]`: the coupons applied to the subscription.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SubscriptionCoupon {
    pub coupon_id: Option<String>,
    pub coupon_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Customer {
    pub id: Option<String>,
    pub email: Option<String>,
    pub cf_clicktrail_cid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Subscription {
    pub id: Option<String>,
    pub customer_id: Option<String>,
    pub cf_clicktrail_cid: Option<String>,
    pub coupons: Option<Vec<SubscriptionCoupon>>,
}

/// `POST /webhooks/chargebee/{tenant}`
pub async fn webhook(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, AppError> {
    let tenant = configured(&st, &tenant, |t| !t.chargebee_webhook_username.is_empty())?;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !basic_matches(
        auth,
        &tenant.chargebee_webhook_username,
        &tenant.chargebee_webhook_password,
    ) {
        tracing::warn!(tenant = %tenant.id, "rejected Chargebee webhook: wrong Basic credentials");
        return Err(AppError::Unauthorized(
            "wrong or missing HTTP Basic credentials for this Chargebee webhook".into(),
        ));
    }
    let payload = read_body(body, WEBHOOK_BODY_LIMIT).await?;
    let event: Event = parse_json(&payload)?;
    let event_id = capped(event.id.as_deref())
        .ok_or_else(|| AppError::invalid("id", "the event has no id"))?;
    let kind = event.event_type.clone().unwrap_or_default();
    let now = st.now();
    let answer = match kind.as_str() {
        "payment_succeeded" => match sale_of(&tenant, &event, now) {
            Some(sale) => record_sale_and_kept(&st, sale, invoice_aliases(&event)).await?,
            None => ignored("no transaction or invoice with a positive amount"),
        },
        "payment_refunded" | "refund_initiated" => match refund_of(&tenant, &event, now) {
            Some(refund) => record_refund(&st, refund).await?,
            None => ignored("no refund transaction naming the refunded payment"),
        },
        "subscription_created" => link(&st, &tenant, &event, &event_id, now).await?,
        _ => ignored("event type not handled"),
    };
    tracing::info!(tenant = %tenant.id, event_id = %event_id, event_type = %kind, answer = %answer, "Chargebee event");
    Ok(Json(answer))
}

/// The CID the merchant stored in the custom field of the customer or the subscription.
fn cid_of(c: &Content) -> Option<Cid> {
    let from_customer = c
        .customer
        .as_ref()
        .and_then(|x| x.cf_clicktrail_cid.as_deref());
    let from_sub = c
        .subscription
        .as_ref()
        .and_then(|x| x.cf_clicktrail_cid.as_deref());
    from_customer
        .and_then(Cid::parse)
        .or_else(|| from_sub.and_then(Cid::parse))
}

/// The Chargebee customer id: the customer key a lead links to a CID.
fn customer_of(c: &Content) -> Option<String> {
    let tx = c.transaction.as_ref();
    let inv = c.invoice.as_ref();
    capped(
        c.customer
            .as_ref()
            .and_then(|x| x.id.as_deref())
            .or_else(|| tx.and_then(|t| t.customer_id.as_deref()))
            .or_else(|| inv.and_then(|i| i.customer_id.as_deref()))
            .or_else(|| {
                c.subscription
                    .as_ref()
                    .and_then(|s| s.customer_id.as_deref())
            }),
    )
}

fn subscription_of(c: &Content) -> Option<String> {
    capped(
        c.subscription
            .as_ref()
            .and_then(|s| s.id.as_deref())
            .or_else(|| {
                c.transaction
                    .as_ref()
                    .and_then(|t| t.subscription_id.as_deref())
            })
            .or_else(|| {
                c.invoice
                    .as_ref()
                    .and_then(|i| i.subscription_id.as_deref())
            }),
    )
}

/// The coupon codes and ids of the invoice's coupon discounts, then of the subscription's
/// coupons (see the module doc), without repeats.
pub fn coupon_codes(c: &Content) -> Vec<String> {
    let discounts = c.invoice.iter().flat_map(|i| i.discounts.iter().flatten());
    let coupons = discounts.filter(|d| {
        matches!(
            d.entity_type.as_deref(),
            Some("item_level_coupon" | "document_level_coupon")
        )
    });
    let from_invoice = coupons.flat_map(|d| [&d.coupon_set_code, &d.entity_id]);
    let subs = c
        .subscription
        .iter()
        .flat_map(|s| s.coupons.iter().flatten());
    let from_sub = subs.flat_map(|s| [&s.coupon_code, &s.coupon_id]);
    let mut out: Vec<String> = Vec::new();
    for code in from_invoice.chain(from_sub) {
        if let Some(code) = capped(code.as_deref()) {
            if !out.contains(&code) && out.len() < MAX_COUPONS {
                out.push(code);
            }
        }
    }
    out
}

/// The sale of a `payment_succeeded` event, if it has an id and a positive amount.
pub fn sale_of(tenant: &Tenant, event: &Event, now: i64) -> Option<SaleIn> {
    let c = &event.content;
    let tx = c.transaction.as_ref();
    let inv = c.invoice.as_ref();
    let id = capped(tx.and_then(|t| t.id.as_deref()))
        .or_else(|| capped(inv.and_then(|i| i.id.as_deref())))?;
    let amount = tx
        .and_then(|t| t.amount)
        .or_else(|| inv.and_then(|i| i.amount_paid))
        .filter(|a| *a > 0)?;
    let currency = tx
        .and_then(|t| t.currency_code.as_deref())
        .or_else(|| inv.and_then(|i| i.currency_code.as_deref()));
    let key = customer_of(c);
    let subscription = subscription_of(c);
    let target = target(cid_of(c), key.clone(), subscription.clone());
    let mut sale = sale(
        tenant,
        format!("chargebee:{id}"),
        amount,
        currency,
        target,
        key,
        subscription,
        "chargebee",
        now,
    );
    sale.coupon_codes = coupon_codes(c);
    Some(sale)
}

/// The name a refund gives the sale that paid invoice `id` (linked when the payment arrives).
fn invoice_alias(id: &str) -> String {
    format!("chargebee:invoice:{id}")
}

/// The invoices a `payment_succeeded` paid, as names a direct-debit refund may give its sale.
pub fn invoice_aliases(event: &Event) -> Vec<String> {
    let c = &event.content;
    let linked = c
        .transaction
        .iter()
        .flat_map(|t| &t.linked_invoices)
        .filter_map(|l| capped(l.invoice_id.as_deref()));
    let mut out: Vec<String> = c
        .invoice
        .iter()
        .filter_map(|i| capped(i.id.as_deref()))
        .chain(linked)
        .map(|id| invoice_alias(&id))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The refund of a `payment_refunded` / `refund_initiated` event: the refund transaction and
/// the sale it refunds: the payment `refunded_txn_id` names, else (a direct-debit refund, which
/// has none) the payment of the invoice its credit note credits (`reference_invoice_id`).
/// A refund that failed or was voided is none.
pub fn refund_of(tenant: &Tenant, event: &Event, now: i64) -> Option<RefundIn> {
    let c = &event.content;
    let tx = c.transaction.as_ref()?;
    if !matches!(tx.status.as_deref(), None | Some("success" | "in_progress")) {
        return None;
    }
    let refund_id = capped(tx.id.as_deref())?;
    let sale = match capped(tx.refunded_txn_id.as_deref()) {
        Some(paid) => format!("chargebee:{paid}"),
        None => {
            let from_note = c
                .credit_note
                .as_ref()
                .and_then(|n| n.reference_invoice_id.as_deref());
            let from_link = tx
                .linked_credit_notes
                .iter()
                .find_map(|l| l.cn_reference_invoice_id.as_deref());
            let from_invoice = c.invoice.as_ref().and_then(|i| i.id.as_deref());
            invoice_alias(&capped(from_note.or(from_link).or(from_invoice))?)
        }
    };
    let amount = tx.amount.filter(|a| *a > 0)?;
    Some(RefundIn {
        tenant: tenant.id.clone(),
        transaction_id: sale,
        refund_id: format!("chargebee:{refund_id}"),
        amount_cents: Some(amount),
        reason: Some("chargebee payment_refunded".into()),
        now,
    })
}

/// `subscription_created`: the customer id becomes a customer key linked to the CID (a lead,
/// idempotent by the event id), so that later payments without the custom field are attributed.
async fn link(
    st: &AppState,
    tenant: &Tenant,
    event: &Event,
    event_id: &str,
    now: i64,
) -> Result<Value, AppError> {
    let c = &event.content;
    let (Some(cid), Some(key)) = (cid_of(c), customer_of(c)) else {
        return Ok(ignored("no CID custom field or no customer id"));
    };
    let email = c.customer.as_ref().and_then(|x| capped(x.email.as_deref()));
    let lead = LeadIn {
        tenant: tenant.id.clone(),
        event_id: Some(format!("chargebee:{event_id}")),
        cid: Some(cid),
        customer_key: Some(key.clone()),
        email,
        source: "chargebee",
        now,
    };
    match st.store.lead(lead).await {
        Ok(_) => Ok(json!({"received": true, "linked": key})),
        Err(StoreError::NotFound(code, message)) => {
            tracing::info!(tenant = %tenant.id, code, message, "Chargebee link not made");
            Ok(ignored("the CID is unknown"))
        }
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------ shared with recurly

/// The tenant `id` when `has_secret` says its webhook is configured; 404 otherwise.
pub(crate) fn configured(
    st: &AppState,
    id: &str,
    has_secret: impl Fn(&Tenant) -> bool,
) -> Result<Arc<Tenant>, AppError> {
    st.catalog
        .get()
        .tenant(id)
        .filter(|t| has_secret(t))
        .cloned()
        .ok_or_else(|| {
            AppError::not_found(
                "webhook_not_configured",
                format!("no tenant `{id}` with this billing webhook configured"),
            )
        })
}

/// Whether an `Authorization: Basic ...` header carries `user` and the password whose
/// stored form is `stored` (`sha256:<hex>` as the config is applied; a value stored in clear
/// by an older release is compared as is until the next start rewrites it). Constant time.
pub fn basic_matches(header: &str, user: &str, stored: &str) -> bool {
    let Some((scheme, token)) = header.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") || user.is_empty() || stored.is_empty() {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(token.trim()) else {
        return false;
    };
    let Some((given_user, given_password)) = std::str::from_utf8(&decoded)
        .ok()
        .and_then(|s| s.split_once(':'))
    else {
        return false;
    };
    let user_ok = given_user.as_bytes().ct_eq(user.as_bytes());
    // always hashed here (never `secret_hash`, which passes a `sha256:` value through): a
    // copy of the stored hash is not a password
    let presented = if stored.starts_with(SECRET_HASH_PREFIX) {
        format!("{SECRET_HASH_PREFIX}{}", key_hash(given_password))
    } else {
        given_password.to_string()
    };
    bool::from(user_ok & presented.as_bytes().ct_eq(stored.as_bytes()))
}

/// Who a payment belongs to: the CID, else the customer key (linked by a lead), else the
/// subscription's earlier attributed sale.
pub(crate) fn target(cid: Option<Cid>, key: Option<String>, sub: Option<String>) -> Target {
    match (cid, key, sub) {
        (Some(c), _, _) => Target::Cid(c),
        (None, Some(k), _) => Target::CustomerKey(k),
        (None, None, Some(s)) => Target::Subscription(s),
        (None, None, None) => Target::None,
    }
}

/// A webhook sale: recorded even when nobody is attributed (the provider must not be refused).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sale(
    tenant: &Tenant,
    transaction_id: String,
    amount_cents: i64,
    currency: Option<&str>,
    target: Target,
    customer_key: Option<String>,
    subscription_id: Option<String>,
    source: &'static str,
    now: i64,
) -> SaleIn {
    let currency = currency
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(&tenant.currency)
        .to_ascii_uppercase();
    SaleIn {
        customer_key,
        subscription_id,
        ..SaleIn::for_tenant(
            tenant,
            transaction_id,
            amount_cents,
            currency,
            target,
            source,
            now,
        )
    }
}

/// `Store::sale`; a transaction id seen before (a redelivery) is `duplicate`, not an error.
pub(crate) async fn record_sale(st: &AppState, sale: SaleIn) -> Result<Value, AppError> {
    let tx = sale.transaction_id.clone();
    match st.store.sale(sale).await {
        Ok(out) => Ok(json!({
            "received": true,
            "transactionId": tx,
            "saleId": out.sale_id,
            "attributed": out.attributed,
            "commissionCents": out.commission_cents,
        })),
        Err(StoreError::Conflict("duplicate_transaction", _)) => {
            Ok(json!({"received": true, "transactionId": tx, "duplicate": true}))
        }
        Err(e) => Err(e.into()),
    }
}

/// `Store::refund_or_keep` (idempotent by refund id): a refund of a sale not recorded yet (the
/// provider delivered it before its payment) is kept and applied when the payment arrives.
pub(crate) async fn record_refund(st: &AppState, refund: RefundIn) -> Result<Value, AppError> {
    let tx = refund.transaction_id.clone();
    let refund_id = refund.refund_id.clone();
    match st.store.refund_or_keep(refund).await? {
        RefundOrKept::Refunded(out) => Ok(json!({
            "received": true,
            "transactionId": out.transaction_id,
            "refundId": out.refund_id,
            "refundedCents": out.amount_cents,
            "commissionReversedCents": out.commission_reversed_cents,
        })),
        RefundOrKept::Kept => Ok(json!({
            "received": true,
            "transactionId": tx,
            "refundId": refund_id,
            "kept": true,
            "reason": "no sale has this transaction id yet: the refund is applied when its payment arrives",
        })),
    }
}

/// [`record_sale`], then the refunds kept for it or one of its `aliases` (also on a
/// redelivery, which applies what an earlier failed attempt left).
pub(crate) async fn record_sale_and_kept(
    st: &AppState,
    sale: SaleIn,
    aliases: Vec<String>,
) -> Result<Value, AppError> {
    let (tenant, tx, now) = (sale.tenant.clone(), sale.transaction_id.clone(), sale.now);
    let mut answer = record_sale(st, sale).await?;
    let kept = st
        .store
        .apply_kept_refunds(&tenant, &tx, aliases, now)
        .await?;
    for (refund_id, why) in &kept.dropped {
        tracing::warn!(tenant = %tenant, transaction = %tx, refund = %refund_id, reason = %why, "kept refund dropped");
    }
    if !kept.applied.is_empty() {
        answer["refundsApplied"] = kept
            .applied
            .iter()
            .map(|r| {
                json!({
                    "refundId": r.refund_id,
                    "refundedCents": r.amount_cents,
                    "commissionReversedCents": r.commission_reversed_cents,
                })
            })
            .collect();
    }
    Ok(answer)
}

/// The 200 answer for an event that records nothing.
pub(crate) fn ignored(reason: &str) -> Value {
    json!({"received": true, "ignored": true, "reason": reason})
}

#[cfg(test)]
mod tests {
    use super::*;
    use clicktrail_domain::catalog::secret_hash;

    #[test]
    fn coupons_of_the_invoice_then_the_subscription() {
        let ev: Event = serde_json::from_value(json!({"content": {
            "invoice": {"discounts": [
                {"entity_type": "promotional_credits", "amount": 100},
                {"entity_type": "document_level_discount", "entity_id": "disc_1"},
                {"entity_type": "document_level_coupon", "entity_id": "SUMMER", "coupon_set_code": "ALICE-7QX"},
                {"entity_type": "item_level_coupon", "entity_id": "ALICE20"}]},
            "subscription": {"coupons": [{"coupon_id": "ALICE20", "apply_till": 1}, {"coupon_id": "BF", "coupon_code": "bob-1"}]}
        }}))
        .expect("event");
        assert_eq!(
            coupon_codes(&ev.content),
            ["ALICE-7QX", "SUMMER", "ALICE20", "bob-1", "BF"]
        );
        let none: Event =
            serde_json::from_value(json!({"content": {"invoice": {"discounts": null}}}))
                .expect("event");
        assert!(coupon_codes(&none.content).is_empty());
    }

    #[test]
    fn basic_rules() {
        let h = format!("Basic {}", STANDARD.encode(b"cb_user:s3cret"));
        let stored = secret_hash("s3cret");
        assert!(basic_matches(&h, "cb_user", &stored));
        assert!(basic_matches(
            &h.replace("Basic", "basic"),
            "cb_user",
            &stored
        ));
        assert!(
            basic_matches(&h, "cb_user", "s3cret"),
            "a value an older release stored in clear"
        );
        assert!(!basic_matches(&h, "cb_user", &secret_hash("other")));
        let the_hash = format!("Basic {}", STANDARD.encode(format!("cb_user:{stored}")));
        assert!(
            !basic_matches(&the_hash, "cb_user", &stored),
            "the stored hash is no password"
        );
        assert!(!basic_matches(&h, "cb_other", &stored));
        assert!(
            !basic_matches(&h, "cb_user", &key_hash("s3cret")),
            "a bare hex digest is not the prefixed form"
        );
        assert!(!basic_matches(&h, "", ""));
        assert!(!basic_matches(&h, "cb_user", ""));
        assert!(!basic_matches("Bearer x", "cb_user", &stored));
        assert!(!basic_matches("Basic !!notbase64", "cb_user", &stored));
        assert!(!basic_matches(
            &format!("Basic {}", STANDARD.encode(b"no-colon")),
            "cb_user",
            &stored
        ));
        assert!(!basic_matches("", "cb_user", &stored));
    }
}
