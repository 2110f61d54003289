//! The parts of Stripe's objects the collector reads, as typed structs that accept both the
//! current API shape and the one before 2025-03-31 ("basil"):
//!
//! | what | before basil | basil and later |
//! |---|---|---|
//! | an invoice's subscription | `invoice.subscription` (id, or the object when expanded) | `invoice.parent.subscription_details.subscription` |
//! | the subscription's metadata on an invoice | `invoice.subscription_details.metadata` | `invoice.parent.subscription_details.metadata` |
//! | a line's subscription | `line.subscription` | `line.parent.subscription_item_details.subscription` |
//!
//! Every field is optional and unknown fields are ignored: Stripe adds fields in every version,
//! and an event is only refused (422, naming the field's path) when a field we read has the
//! wrong type or a money amount is negative. What only the commission rules read (discounts,
//! prices, the customer's email) is [`Lenient`]: a field of an unexpected shape is absent.
//!
//! An event's `data.object` is read once, as its `type` says ([`Event::object`]); the sale and
//! the money facts are made from that one reading.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;

use clicktrail_store::PaymentResult;

use crate::http::error::AppError;

/// Stripe metadata: string keys and values (set by the merchant's integration).
pub type Metadata = BTreeMap<String, String>;

/// An event envelope; `data.object` is read according to `type`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub livemode: Option<bool>,
    /// When Stripe created the event (unix seconds): a newer event about an object wins.
    pub created: Option<i64>,
    pub api_version: Option<String>,
    pub data: Option<EventData>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EventData {
    pub object: Value,
}

/// A handled event's object, by the event's type.
#[derive(Debug, Clone)]
pub enum Object {
    /// `checkout.session.completed` (no result), `checkout.session.async_payment_succeeded` /
    /// `_failed` (the result).
    Checkout(Box<CheckoutSession>, Option<PaymentResult>),
    /// `invoice.paid`, `invoice.payment_succeeded`.
    Invoice(Box<Invoice>),
    /// `charge.refunded`.
    Charge(Charge),
    /// `refund.created`, `refund.updated`, `charge.refund.updated`.
    Refund(Refund),
    /// `charge.dispute.created`, `.updated`, `.closed`.
    Dispute(Dispute),
    /// `invoice_payment.paid` (basil).
    InvoicePayment(InvoicePaymentObject),
}

impl Event {
    /// `data.object`, read as the event's type says; `None` for a type that is not handled
    /// (docs/stripe.md lists the handled ones).
    pub fn object(&self) -> Result<Option<Object>, AppError> {
        Ok(Some(match self.kind.as_deref().unwrap_or_default() {
            "checkout.session.completed" => Object::Checkout(self.read()?, None),
            "checkout.session.async_payment_succeeded" => {
                Object::Checkout(self.read()?, Some(PaymentResult::Succeeded))
            }
            "checkout.session.async_payment_failed" => {
                Object::Checkout(self.read()?, Some(PaymentResult::Failed))
            }
            "invoice.paid" | "invoice.payment_succeeded" => Object::Invoice(self.read()?),
            "charge.refunded" => Object::Charge(self.read()?),
            "refund.created" | "refund.updated" | "charge.refund.updated" => {
                Object::Refund(self.read()?)
            }
            "charge.dispute.created" | "charge.dispute.updated" | "charge.dispute.closed" => {
                Object::Dispute(self.read()?)
            }
            "invoice_payment.paid" => Object::InvoicePayment(self.read()?),
            _ => return Ok(None),
        }))
    }

    /// `data.object` as `T`; a wrong field is a 422 naming its path in the event.
    fn read<T: DeserializeOwned>(&self) -> Result<T, AppError> {
        let obj = self.data.as_ref().map_or(&Value::Null, |d| &d.object);
        serde_path_to_error::deserialize(obj).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "data.object".to_string()
            } else {
                format!("data.object.{path}")
            };
            AppError::invalid(&field, e.inner().to_string())
        })
    }
}

/// A field only the commission rules read: one of an unexpected shape reads as absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Lenient(serde_json::from_value(Value::deserialize(d)?).ok()))
    }
}

/// A money amount in cents: a negative one is a 422.
fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        Some(a) if a < 0 => Err(D::Error::custom("must not be negative")),
        a => Ok(a),
    }
}

/// A discount (a checkout session's `discounts[]`, an invoice's `discounts[]` when expanded,
/// its `discount` before basil).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Discount {
    pub promotion_code: Lenient<CodeRef>,
    pub coupon: Lenient<CodeRef>,
}

/// A promotion code or coupon: its id, or (expanded) the object with its customer-facing
/// `code` and its `id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CodeRef {
    Id(String),
    Object {
        #[serde(default)]
        code: Lenient<String>,
        #[serde(default)]
        id: Lenient<String>,
    },
}

/// The discounts of a session or an invoice: one entry may be an unexpanded discount id.
pub type Discounts = Lenient<Vec<Lenient<Discount>>>;

/// A line's price before basil (`price{id, product}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Price {
    pub id: Lenient<String>,
    pub product: Lenient<String>,
}

/// A line's price from basil on (`pricing.price_details{price, product}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pricing {
    pub price_details: Lenient<PriceDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PriceDetails {
    pub price: Lenient<String>,
    pub product: Lenient<String>,
}

/// A reference to another Stripe object: its id, or the object itself when the webhook
/// endpoint expands it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Expandable<T> {
    Id(String),
    Object(T),
}

/// The expanded form of any object, when only its id (and metadata) matter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ObjectRef {
    pub id: String,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

impl Expandable<ObjectRef> {
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(o) => &o.id,
        }
    }

    /// The object's metadata when it was expanded.
    pub fn metadata(&self) -> Option<&Metadata> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(o) => o.metadata.as_ref(),
        }
    }
}

/// `checkout.session` (the same in both API shapes for what is read here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckoutSession {
    pub id: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    /// The CID, when the merchant's checkout passes it (`client_reference_id`).
    pub client_reference_id: Option<String>,
    pub metadata: Option<Metadata>,
    pub mode: Option<String>,
    /// `paid`, `unpaid` (async payment methods: settles later), `no_payment_required`.
    pub payment_status: Option<String>,
    pub subscription: Option<Expandable<ObjectRef>>,
    pub customer: Option<Expandable<ObjectRef>>,
    pub payment_intent: Option<Expandable<ObjectRef>>,
    pub invoice: Option<Expandable<ObjectRef>>,
    pub customer_details: Option<CustomerDetails>,
    pub customer_email: Lenient<String>,
    pub discounts: Discounts,
    pub livemode: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CustomerDetails {
    pub email: Option<String>,
}

/// `invoice`, both shapes (see the module doc).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Invoice {
    pub id: Option<String>,
    pub amount_paid: Option<i64>,
    pub currency: Option<String>,
    /// `subscription_create` (a subscription's first invoice), `subscription_cycle` (a renewal),
    /// `manual`, ...
    pub billing_reason: Option<String>,
    pub customer: Option<Expandable<ObjectRef>>,
    pub metadata: Option<Metadata>,
    /// Before basil.
    pub subscription: Option<Expandable<ObjectRef>>,
    /// Before basil.
    pub subscription_details: Option<SubscriptionDetails>,
    /// Basil and later.
    pub parent: Option<InvoiceParent>,
    pub lines: Option<List<InvoiceLine>>,
    pub livemode: Option<bool>,
    /// Before basil.
    pub payment_intent: Option<Expandable<ObjectRef>>,
    /// Before basil.
    pub charge: Option<Expandable<ObjectRef>>,
    /// Basil and later, when the endpoint expands it.
    pub payments: Option<List<InvoicePayment>>,
    pub customer_email: Lenient<String>,
    pub discounts: Discounts,
    /// Before basil.
    pub discount: Lenient<Discount>,
}

/// An invoice payment (basil): the payment intent or charge that paid the invoice.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InvoicePayment {
    pub payment: Option<PaymentRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PaymentRef {
    pub payment_intent: Option<Expandable<ObjectRef>>,
    pub charge: Option<Expandable<ObjectRef>>,
}

/// `charge` (`charge.refunded`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Charge {
    pub id: Option<String>,
    pub amount: Option<i64>,
    /// Cumulative: every refund of the charge that did not fail.
    #[serde(deserialize_with = "non_negative")]
    pub amount_refunded: Option<i64>,
    pub payment_intent: Option<Expandable<ObjectRef>>,
    /// Before basil.
    pub invoice: Option<Expandable<ObjectRef>>,
    /// Included by older API versions (and when expanded).
    pub refunds: Option<List<Refund>>,
}

/// `invoice_payment` (basil: `invoice_payment.paid`), the link from an invoice to the payment
/// intent or charge that paid it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InvoicePaymentObject {
    pub id: Option<String>,
    pub invoice: Option<Expandable<ObjectRef>>,
    #[serde(deserialize_with = "non_negative")]
    pub amount_paid: Option<i64>,
    pub payment: Option<PaymentRef>,
}

/// `refund` (`refund.created`, `refund.updated`, `charge.refund.updated`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Refund {
    pub id: Option<String>,
    #[serde(deserialize_with = "non_negative")]
    pub amount: Option<i64>,
    pub charge: Option<Expandable<ObjectRef>>,
    pub payment_intent: Option<Expandable<ObjectRef>>,
    /// `pending`, `requires_action`, `succeeded`, `failed`, `canceled`.
    pub status: Option<String>,
    pub created: Option<i64>,
}

/// `dispute` (`charge.dispute.*`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Dispute {
    pub id: Option<String>,
    #[serde(deserialize_with = "non_negative")]
    pub amount: Option<i64>,
    pub charge: Option<Expandable<ObjectRef>>,
    pub payment_intent: Option<Expandable<ObjectRef>>,
    /// `warning_needs_response`, `needs_response`, `under_review`, ..., `won`, `lost`,
    /// `warning_closed`.
    pub status: Option<String>,
    pub created: Option<i64>,
}

/// The id of a reference, when present and not empty.
pub fn ref_id(r: &Option<Expandable<ObjectRef>>) -> Option<&str> {
    r.as_ref().map(|x| x.id()).filter(|s| !s.is_empty())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SubscriptionDetails {
    /// Basil's `parent.subscription_details` carries the subscription here.
    pub subscription: Option<Expandable<ObjectRef>>,
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InvoiceParent {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InvoiceLine {
    pub metadata: Option<Metadata>,
    /// Before basil.
    pub subscription: Option<Expandable<ObjectRef>>,
    /// Basil and later.
    pub parent: Option<LineParent>,
    /// Before basil.
    pub price: Lenient<Price>,
    /// Basil and later.
    pub pricing: Lenient<Pricing>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LineParent {
    pub subscription_item_details: Option<SubscriptionItemDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SubscriptionItemDetails {
    pub subscription: Option<String>,
}

/// A non-empty string.
fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// The metadata keys that name the visitor (Affitor's integration sets them).
pub const AFFITOR_CLICK_ID: &str = "affitor_click_id";
pub const AFFITOR_CUSTOMER_KEY: &str = "affitor_customer_key";

fn names_visitor(m: &Metadata) -> bool {
    m.contains_key(AFFITOR_CLICK_ID) || m.contains_key(AFFITOR_CUSTOMER_KEY)
}

impl CheckoutSession {
    pub fn id(&self) -> Option<&str> {
        present(&self.id)
    }
    pub fn client_reference_id(&self) -> Option<&str> {
        present(&self.client_reference_id)
    }
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription
            .as_ref()
            .map(|s| s.id())
            .filter(|s| !s.is_empty())
    }
}

impl Invoice {
    pub fn id(&self) -> Option<&str> {
        present(&self.id)
    }

    fn subscription_details(&self) -> impl Iterator<Item = &SubscriptionDetails> {
        let parent = self
            .parent
            .as_ref()
            .and_then(|p| p.subscription_details.as_ref());
        parent.into_iter().chain(self.subscription_details.as_ref())
    }

    /// The subscription this invoice bills, in either API shape (the invoice's own field
    /// first, then its lines').
    pub fn subscription_id(&self) -> Option<&str> {
        let own = self
            .subscription
            .iter()
            .chain(
                self.subscription_details()
                    .filter_map(|d| d.subscription.as_ref()),
            )
            .map(|s| s.id())
            .find(|s| !s.is_empty());
        own.or_else(|| {
            self.lines.iter().flat_map(|l| &l.data).find_map(|line| {
                line.subscription
                    .as_ref()
                    .map(|s| s.id())
                    .or_else(|| {
                        line.parent
                            .as_ref()?
                            .subscription_item_details
                            .as_ref()?
                            .subscription
                            .as_deref()
                    })
                    .filter(|s| !s.is_empty())
            })
        })
    }

    /// The first metadata that names the visitor: the subscription's (either shape, or the
    /// expanded subscription), the first line's, the invoice's own.
    pub fn visitor_metadata(&self) -> Option<&Metadata> {
        let subscription = self
            .subscription_details()
            .filter_map(|d| d.metadata.as_ref())
            .chain(self.subscription.as_ref().and_then(|s| s.metadata()));
        let first_line = self
            .lines
            .as_ref()
            .and_then(|l| l.data.first())
            .and_then(|l| l.metadata.as_ref());
        subscription
            .chain(first_line)
            .chain(self.metadata.as_ref())
            .find(|m| names_visitor(m))
    }

    /// The payment intent that paid it: its own field before basil, its payments' after.
    pub fn payment_intent_id(&self) -> Option<&str> {
        ref_id(&self.payment_intent).or_else(|| {
            self.payments
                .iter()
                .flat_map(|l| &l.data)
                .find_map(|p| ref_id(&p.payment.as_ref()?.payment_intent))
        })
    }

    /// The charge that paid it: its own field before basil, its payments' after.
    pub fn charge_id(&self) -> Option<&str> {
        ref_id(&self.charge).or_else(|| {
            self.payments
                .iter()
                .flat_map(|l| &l.data)
                .find_map(|p| ref_id(&p.payment.as_ref()?.charge))
        })
    }

    /// A subscription's first invoice (its checkout session reports the same payment).
    pub fn is_subscription_start(&self) -> bool {
        self.billing_reason.as_deref() == Some("subscription_create")
    }
}
