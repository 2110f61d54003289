//! A verified Stripe event (`POST /webhooks/stripe`): its id is claimed once, then it is a
//! free-trial link, money facts (refunds, a charge's refunded total, disputes, an invoice's
//! payment) kept by object id and settled against their sale, an async payment's result, or a
//! sale, matched against the same payment told by another event. A sale's books are settled
//! by `clicktrail_domain::stripe::settle` against every fact known about its payment.

use std::future::Future;

use clicktrail_domain::attribution::{attributes, Resolved};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ledger::{balance, reversal_available_at};
use clicktrail_domain::money::Overflow;
use clicktrail_domain::stripe::{merge, settle, Books, Fact, FactKind, FactState};
use clicktrail_store::{
    PaymentResult, RefundIn, SaleIn, SaleOut, StoreError, StripeEventIn, StripeFactIn, StripeIds,
    StripeMoneyOut, StripeOutcome, Target,
};

use crate::ledger::ReversalRow;
use crate::refund::{RefundRow, RefundRows};
use crate::status::StatusRows;

pub use clicktrail_domain::stripe::REFUND_PREFIX;

/// A sale as a Stripe settlement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSale {
    pub transaction_id: Option<String>,
    pub affiliate: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    /// As stored.
    pub status: String,
    /// An async payment not yet succeeded holds the commission.
    pub held_payment: bool,
}

/// A fact as stored (kind and state as text, read by [`StoredFact::fact`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFact {
    pub kind: String,
    pub key: String,
    pub amount_cents: i64,
    pub state: String,
    pub event_created: i64,
    pub object_created: i64,
}

impl StoredFact {
    /// The fact; a kind or state this version does not know is an internal error.
    pub fn fact(self) -> Result<Fact, StoreError> {
        let (Some(kind), Some(state)) =
            (FactKind::parse(&self.kind), FactState::parse(&self.state))
        else {
            return Err(StoreError::Internal(format!(
                "stripe fact `{}` `{}`",
                self.kind, self.state
            )));
        };
        Ok(Fact {
            kind,
            key: self.key,
            amount_cents: self.amount_cents,
            state,
            event_created: self.event_created,
            object_created: self.object_created,
        })
    }
}

/// What a Stripe event reads and writes, inside one transaction of the backend.
pub trait StripeRows: RefundRows + StatusRows {
    /// Claims the event id; `false` when it was claimed before (a concurrent delivery of the
    /// same event waits until the first one ends).
    fn claim_event(&mut self, e: &StripeEventIn)
        -> impl Future<Output = Result<bool, Self::Error>>;

    /// Serializes the events of one payment until the transaction ends (PostgreSQL: a lock
    /// per Stripe id the event names; a single writer needs nothing).
    fn lock_payment(&mut self, e: &StripeEventIn) -> impl Future<Output = Result<(), Self::Error>>;

    /// The CID `target` names, with its affiliate and expiry.
    fn resolve(
        &mut self,
        tenant: &str,
        target: &Target,
    ) -> impl Future<Output = Result<Option<Resolved>, Self::Error>>;

    /// Links a Stripe `subscription` or `customer` to a CID (a link made before is kept).
    fn link(
        &mut self,
        tenant: &str,
        kind: &str,
        stripe_id: &str,
        cid: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The sale recorded under `transaction_id`.
    fn sale_by_transaction(
        &mut self,
        tenant: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<i64>, Self::Error>>;

    /// The subscription's first sale.
    fn first_sale_of_subscription(
        &mut self,
        tenant: &str,
        subscription: &str,
    ) -> impl Future<Output = Result<Option<i64>, Self::Error>>;

    /// The first sale with this invoice or payment intent, and whether it is attributed.
    fn sale_by_payment(
        &mut self,
        tenant: &str,
        ids: &StripeIds,
    ) -> impl Future<Output = Result<Option<(i64, bool)>, Self::Error>>;

    /// The first sale with the fact's payment intent, charge or invoice.
    fn sale_by_fact(
        &mut self,
        tenant: &str,
        f: &StripeFactIn,
    ) -> impl Future<Output = Result<Option<i64>, Self::Error>>;

    /// Keeps each of `ids` the sale does not have yet.
    fn merge_ids(
        &mut self,
        sale_id: i64,
        ids: &StripeIds,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The payment intent and charge a sale without them learns from its invoice's
    /// `invoice_payment` facts (basil API versions tell them only there).
    fn learn_invoice_payment(
        &mut self,
        sale_id: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The sale, locked until the transaction ends.
    fn stripe_sale(
        &mut self,
        sale_id: i64,
    ) -> impl Future<Output = Result<Option<StripeSale>, Self::Error>>;

    /// A new sale's mode: `live`, and whether its async payment holds it.
    fn set_mode(
        &mut self,
        sale_id: i64,
        live: bool,
        held_payment: bool,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    fn set_held_payment(
        &mut self,
        sale_id: i64,
        held: bool,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    fn set_held_dispute(
        &mut self,
        sale_id: i64,
        held: bool,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The fact stored for (kind, key), locked until the transaction ends.
    fn fact(
        &mut self,
        tenant: &str,
        f: &Fact,
    ) -> impl Future<Output = Result<Option<StoredFact>, Self::Error>>;

    /// Stores the fact (replacing the one of its kind and key), told by `event_id`.
    fn put_fact(
        &mut self,
        tenant: &str,
        event_id: &str,
        f: &StripeFactIn,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Keeps each of the fact's ids its stored row does not have yet.
    fn merge_fact_ids(
        &mut self,
        tenant: &str,
        f: &StripeFactIn,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Every fact about the sale's payment intent, charge or invoice.
    fn sale_facts(
        &mut self,
        sale_id: i64,
    ) -> impl Future<Output = Result<Vec<StoredFact>, Self::Error>>;

    /// The sale's refunds whose id starts with `prefix`.
    fn refunded_cents_under(
        &mut self,
        sale_id: i64,
        prefix: &str,
    ) -> impl Future<Output = Result<i64, Self::Error>>;

    /// Records the event's sale (the backend's sale use case, with the first-payment rule).
    fn record_sale(
        &mut self,
        e: &StripeEventIn,
    ) -> impl Future<Output = Result<StripeOutcome, Self::Error>>;

    /// Credits the unattributed sale `sale_id` as `s` would be.
    fn attribute_existing(
        &mut self,
        sale_id: i64,
        s: &SaleIn,
    ) -> impl Future<Output = Result<SaleOut, Self::Error>>;
}

/// The Stripe event use case.
pub async fn stripe_event<R: StripeRows>(
    rows: &mut R,
    e: &StripeEventIn,
) -> Result<StripeOutcome, R::Error> {
    if !rows.claim_event(e).await? {
        return Ok(StripeOutcome::Duplicate);
    }
    rows.lock_payment(e).await?;
    let m = &e.money;
    if let Some(link) = &m.link {
        if let Some(r) = rows.resolve(&e.tenant, &link.target).await? {
            for (kind, id) in [
                ("subscription", &link.subscription),
                ("customer", &link.customer),
            ] {
                if let Some(id) = id {
                    rows.link(&e.tenant, kind, id, r.cid.as_str(), e.now)
                        .await?;
                }
            }
        }
        return Ok(StripeOutcome::Settled(StripeMoneyOut::default()));
    }
    if !m.facts.is_empty() {
        for f in &m.facts {
            keep_fact(rows, e, f).await?;
        }
        return Ok(StripeOutcome::Settled(settle_facts(rows, e).await?));
    }
    let Some(s) = &e.sale else {
        return Ok(StripeOutcome::Recorded { sale: None });
    };
    if let Some(p) = m.payment {
        if let Some(id) = rows
            .sale_by_transaction(&s.tenant, &s.transaction_id)
            .await?
        {
            payment_result(rows, e, id, p).await?;
            return Ok(StripeOutcome::Settled(settle_sale(rows, e, id).await?));
        }
        // the result came before the checkout: recorded from it (the handler made the sale
        // approved or declined)
    }
    // the same payment told by another event (a checkout with `invoice_creation` and its
    // invoice, in either order): one sale, credited to the visitor if it was not yet
    if m.ids.invoice.is_some() || m.ids.payment_intent.is_some() {
        if let Some((id, attributed)) = rows.sale_by_payment(&s.tenant, &m.ids).await? {
            return same_payment(rows, e, s, id, attributed).await;
        }
    }
    let out = rows.record_sale(e).await?;
    let id = match &out {
        StripeOutcome::Recorded { sale: Some(o) } => {
            rows.set_mode(o.sale_id, !m.test_mode, m.hold_payment)
                .await?;
            Some(o.sale_id)
        }
        _ => counted_sale(rows, e, s).await?,
    };
    if let Some(id) = id {
        rows.merge_ids(id, &m.ids).await?;
        // money facts that arrived before the sale
        settle_sale(rows, e, id).await?;
    }
    Ok(out)
}

/// An async payment's result for its recorded sale: a success approves a pending sale, a
/// failure declines it (its commission reversed); either way the payment holds it no more.
async fn payment_result<R: StripeRows>(
    rows: &mut R,
    e: &StripeEventIn,
    id: i64,
    p: PaymentResult,
) -> Result<(), R::Error> {
    rows.merge_ids(id, &e.money.ids).await?;
    match p {
        PaymentResult::Succeeded => {
            if sale(rows, id).await?.status == Status::Pending.as_str() {
                rows.set_status(id, Status::Approved).await?;
            }
        }
        PaymentResult::Failed => {
            crate::status::set_status(rows, &e.tenant, &id.to_string(), Status::Declined, e.now)
                .await?;
        }
    }
    rows.set_held_payment(id, false).await
}

/// The sale `id` already recorded for the event's payment: it keeps the event's ids, is paid
/// when the event says the money is in, and is credited to the visitor if it was not yet.
async fn same_payment<R: StripeRows>(
    rows: &mut R,
    e: &StripeEventIn,
    s: &SaleIn,
    id: i64,
    attributed: bool,
) -> Result<StripeOutcome, R::Error> {
    rows.merge_ids(id, &e.money.ids).await?;
    let paid = s.status == Status::Approved && !e.money.hold_payment;
    let held = sale(rows, id).await?;
    if paid && held.held_payment && held.status == Status::Pending.as_str() {
        // the invoice of a checkout that completed unpaid: the money is in
        rows.set_status(id, Status::Approved).await?;
        rows.set_held_payment(id, false).await?;
    }
    let would = rows
        .resolve(&s.tenant, &s.target)
        .await?
        .is_some_and(|r| attributes(r.expires_at, s.now));
    if attributed || !would {
        return Ok(StripeOutcome::Recorded { sale: None });
    }
    let out = rows.attribute_existing(id, s).await?;
    settle_sale(rows, e, id).await?;
    Ok(StripeOutcome::Recorded { sale: Some(out) })
}

/// The sale an event's sale was counted as when it recorded none (a retry by transaction id,
/// or a subscription's first payment).
async fn counted_sale<R: StripeRows>(
    rows: &mut R,
    e: &StripeEventIn,
    s: &SaleIn,
) -> Result<Option<i64>, R::Error> {
    if let Some(id) = rows
        .sale_by_transaction(&s.tenant, &s.transaction_id)
        .await?
    {
        return Ok(Some(id));
    }
    match (&s.subscription_id, e.first_payment) {
        (Some(sub), true) => rows.first_sale_of_subscription(&s.tenant, sub).await,
        _ => Ok(None),
    }
}

async fn sale<R: StripeRows>(rows: &mut R, id: i64) -> Result<StripeSale, R::Error> {
    Ok(rows
        .stripe_sale(id)
        .await?
        .ok_or_else(|| StoreError::Internal(format!("sale {id} vanished")))?)
}

/// Keeps the fact (the newer event wins, domain `stripe::merge`) and every id any event
/// tells about its object.
async fn keep_fact<R: StripeRows>(
    rows: &mut R,
    e: &StripeEventIn,
    f: &StripeFactIn,
) -> Result<(), R::Error> {
    let mut known = match rows.fact(&e.tenant, &f.fact).await? {
        Some(prior) => vec![prior.fact()?],
        None => Vec::new(),
    };
    if merge(&mut known, f.fact.clone()) {
        rows.put_fact(&e.tenant, &e.event_id, f).await?;
    }
    rows.merge_fact_ids(&e.tenant, f).await
}

/// Settles the sale the event's facts belong to, if it is known yet.
async fn settle_facts<R: StripeRows>(
    rows: &mut R,
    e: &StripeEventIn,
) -> Result<StripeMoneyOut, R::Error> {
    for f in &e.money.facts {
        let Some(id) = rows.sale_by_fact(&e.tenant, f).await? else {
            continue;
        };
        let ids = StripeIds {
            payment_intent: f.payment_intent.clone(),
            charge: f.charge.clone(),
            ..StripeIds::default()
        };
        rows.merge_ids(id, &ids).await?;
        return settle_sale(rows, e, id).await;
    }
    Ok(StripeMoneyOut::default())
}

/// Settles sale `id` against every fact known about its payment: records the refunded amount
/// and the reversal (or give-back) the facts call for, and the dispute hold.
async fn settle_sale<R: StripeRows>(
    rows: &mut R,
    e: &StripeEventIn,
    id: i64,
) -> Result<StripeMoneyOut, R::Error> {
    rows.learn_invoice_payment(id).await?;
    let sale = sale(rows, id).await?;
    let facts = rows
        .sale_facts(id)
        .await?
        .into_iter()
        .map(StoredFact::fact)
        .collect::<Result<Vec<_>, _>>()?;
    let b = balance(rows.ledger(id).await?)?;
    let refunded = rows.refunded_cents(id).await?;
    let books = Books {
        amount_cents: sale.amount_cents,
        accrued_cents: b.accrued_cents,
        reversed_cents: b.reversed_cents,
        refunded_cents: refunded,
        stripe_applied_cents: rows.refunded_cents_under(id, REFUND_PREFIX).await?,
        declined: sale.status == Status::Declined.as_str(),
    };
    let s = settle(&books, &facts)?;
    let mut entry = None;
    if let (Some(aff), true) = (&sale.affiliate, s.reversal_delta_cents != 0) {
        let reason = format!("stripe {} {}", e.event_type, e.event_id);
        let r = ReversalRow {
            tenant: &e.tenant,
            affiliate: aff,
            conversion_id: id,
            cents: s.reversal_delta_cents,
            currency: &sale.currency,
            available_at: reversal_available_at(e.now, b.accrual_available_at),
            reason: &reason,
            now: e.now,
        };
        entry = Some(rows.append_reversal(&r).await?);
    }
    let reversed_now = entry.map_or(0, |_| s.reversal_delta_cents);
    if s.refund_delta_cents != 0 || entry.is_some() {
        let refund = RefundIn {
            tenant: e.tenant.clone(),
            transaction_id: sale.transaction_id.unwrap_or_default(),
            refund_id: format!("{REFUND_PREFIX}{}", e.event_id),
            amount_cents: None,
            reason: Some(e.event_type.clone()),
            now: e.now,
        };
        let row = RefundRow {
            refund: &refund,
            sale_id: id,
            amount_cents: s.refund_delta_cents,
            commission_reversed_cents: reversed_now,
            ledger_entry_id: entry,
        };
        if !rows.insert_refund(&row).await? {
            let m = format!("refund id `{}` already taken", refund.refund_id);
            return Err(StoreError::Internal(m).into());
        }
    }
    rows.set_held_dispute(id, s.held).await?;
    Ok(StripeMoneyOut {
        sale_id: Some(id),
        refunded_cents: refunded.checked_add(s.refund_delta_cents).ok_or(Overflow)?,
        reversed_cents: reversed_now,
        held: s.held || sale.held_payment,
    })
}
