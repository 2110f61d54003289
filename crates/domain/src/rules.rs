//! Commission rules beyond a conversion type's rate: per-affiliate overrides, per-product
//! (Stripe price / product id) rates, a limit on recurring commission, coupon codes that
//! attribute a sale to their affiliate, and what happens to self-referrals.
//!
//! A tenant's rules are one document ([`Rules`]), the same shape in the configuration file
//! (TOML) and the admin API (JSON); it is validated when it is read ([`Rules`] deserializes
//! through [`RulesDoc`]). Which rule pays a sale is [`decide`]; who a sale is credited to when
//! there is no click is [`with_coupon`].
//!
//! Precedence (first that applies):
//! 1. a self-referral earns nothing (`self_referral`);
//! 2. a subscription payment past the recurring limit earns nothing (`recurring_limit`);
//! 3. a product or price rate (`product:<id>`);
//! 4. the affiliate's override of the conversion type's rate (`affiliate`);
//! 5. the conversion type's rate (`type`).

use std::collections::BTreeMap;

use chrono::{DateTime, Months};
use serde::{Deserialize, Serialize};

use crate::catalog::Payout;
use crate::conversion::Attribution;
use crate::money;

/// Longest code, product id or email kept in the rules.
pub const MAX_KEY: usize = 128;

/// Recurring commission is paid for a subscription's first N months or first N payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RecurringLimit {
    /// Payments made before the first payment's time plus N calendar months earn.
    Months(u32),
    /// The first N payments earn (the first payment is payment 1).
    Payments(u32),
}

/// What a sale whose customer is the credited affiliate becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfReferral {
    /// Recorded and credited like any sale.
    Allow,
    /// Recorded, attributed, earning nothing (the accrual's rule is `self_referral`).
    #[default]
    NoCommission,
    /// Recorded as a declined conversion, earning nothing.
    Decline,
}

/// A rate as written: exactly one of a fixed amount ("10.00") or a percentage ("30", "12.5").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_share_percent: Option<String>,
}

impl RateDoc {
    pub fn parse(&self) -> Result<Payout, String> {
        match (&self.fixed, &self.revenue_share_percent) {
            (Some(f), None) => Ok(Payout::Fixed(
                money::parse_amount(f).map_err(|e| format!("fixed: {e}"))?,
            )),
            (None, Some(p)) => Ok(Payout::RevenueShare(
                money::parse_percent_bp(p).map_err(|e| format!("revenue_share_percent: {e}"))?,
            )),
            _ => Err("set exactly one of `fixed` or `revenue_share_percent`".into()),
        }
    }

    pub fn of(p: Payout) -> RateDoc {
        match p {
            Payout::Fixed(c) => RateDoc {
                fixed: Some(money::format_cents(c)),
                revenue_share_percent: None,
            },
            Payout::RevenueShare(bp) => RateDoc {
                fixed: None,
                revenue_share_percent: Some(money::format_cents(bp)),
            },
        }
    }
}

/// The rules document as written (configuration file, admin API, database).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesDoc {
    /// affiliate -> conversion type -> rate.
    #[serde(default)]
    pub affiliate_rates: BTreeMap<String, BTreeMap<String, RateDoc>>,
    /// Stripe price or product id (or the sale API's `product_id`) -> rate.
    #[serde(default)]
    pub product_rates: BTreeMap<String, RateDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring_limit: Option<RecurringLimit>,
    /// coupon code -> affiliate.
    #[serde(default)]
    pub coupons: BTreeMap<String, String>,
    /// affiliate -> email (self-referral detection).
    #[serde(default)]
    pub affiliate_emails: BTreeMap<String, String>,
    #[serde(default)]
    pub self_referral: SelfReferral,
}

/// A tenant's rules, validated. Coupon codes and emails are kept lower-cased (they compare
/// case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RulesDoc", into = "RulesDoc")]
pub struct Rules {
    pub affiliate_rates: BTreeMap<(String, String), Payout>,
    pub product_rates: BTreeMap<String, Payout>,
    pub recurring_limit: Option<RecurringLimit>,
    /// lower-cased code -> affiliate.
    pub coupons: BTreeMap<String, String>,
    /// affiliate -> lower-cased email.
    pub affiliate_emails: BTreeMap<String, String>,
    pub self_referral: SelfReferral,
}

fn key_ok(what: &str, k: &str) -> Result<(), String> {
    if k.trim().is_empty() || k.chars().count() > MAX_KEY || k.chars().any(char::is_control) {
        return Err(format!(
            "{what} `{k}` must be 1-{MAX_KEY} characters without control characters"
        ));
    }
    Ok(())
}

impl TryFrom<RulesDoc> for Rules {
    type Error = String;

    fn try_from(d: RulesDoc) -> Result<Rules, String> {
        let mut r = Rules {
            recurring_limit: d.recurring_limit,
            self_referral: d.self_referral,
            ..Rules::default()
        };
        if let Some(RecurringLimit::Months(0) | RecurringLimit::Payments(0)) = d.recurring_limit {
            return Err("recurring_limit: must be at least 1".into());
        }
        for (aff, types) in d.affiliate_rates {
            key_ok("affiliate_rates: affiliate", &aff)?;
            for (ty, rate) in types {
                let p = rate
                    .parse()
                    .map_err(|e| format!("affiliate_rates.{aff}.{ty}: {e}"))?;
                r.affiliate_rates.insert((aff.clone(), ty), p);
            }
        }
        for (id, rate) in d.product_rates {
            key_ok("product_rates: id", &id)?;
            let p = rate
                .parse()
                .map_err(|e| format!("product_rates.{id}: {e}"))?;
            r.product_rates.insert(id, p);
        }
        for (code, aff) in d.coupons {
            key_ok("coupons: code", &code)?;
            key_ok("coupons: affiliate", &aff)?;
            if r.coupons.insert(code.to_lowercase(), aff).is_some() {
                return Err(format!(
                    "coupons: code `{code}` is listed twice (codes compare case-insensitively)"
                ));
            }
        }
        for (aff, email) in d.affiliate_emails {
            key_ok("affiliate_emails: affiliate", &aff)?;
            if !email.contains('@') || email.chars().count() > 254 {
                return Err(format!(
                    "affiliate_emails.{aff}: `{email}` is not an email address"
                ));
            }
            r.affiliate_emails.insert(aff, email.trim().to_lowercase());
        }
        Ok(r)
    }
}

impl From<Rules> for RulesDoc {
    fn from(r: Rules) -> RulesDoc {
        let mut affiliate_rates: BTreeMap<String, BTreeMap<String, RateDoc>> = BTreeMap::new();
        for ((aff, ty), p) in r.affiliate_rates {
            affiliate_rates
                .entry(aff)
                .or_default()
                .insert(ty, RateDoc::of(p));
        }
        RulesDoc {
            affiliate_rates,
            product_rates: r
                .product_rates
                .into_iter()
                .map(|(k, p)| (k, RateDoc::of(p)))
                .collect(),
            recurring_limit: r.recurring_limit,
            coupons: r.coupons,
            affiliate_emails: r.affiliate_emails,
            self_referral: r.self_referral,
        }
    }
}

impl Rules {
    /// The rules as the database keeps them (JSON text of the document).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Rules read back from the database (validated again).
    pub fn from_stored(text: &str) -> Result<Rules, String> {
        serde_json::from_str(text).map_err(|e| format!("stored rules: {e}"))
    }

    /// The rules as a catalog snapshot uses them: a code of an affiliate that is not enabled
    /// (disabled, or unknown) names no one.
    pub fn for_enabled(mut self, affiliates: &[String]) -> Rules {
        self.coupons.retain(|_, a| affiliates.contains(a));
        self
    }

    /// Affiliates the rules name that are not in `known` (a configuration error).
    pub fn unknown_affiliates<'a>(&'a self, known: &[String]) -> Vec<&'a str> {
        let mut out: Vec<&str> = self
            .affiliate_rates
            .keys()
            .map(|(a, _)| a.as_str())
            .chain(self.coupons.values().map(String::as_str))
            .chain(self.affiliate_emails.keys().map(String::as_str))
            .filter(|a| !known.iter().any(|k| k == a))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The affiliate of the first of `codes` that is a coupon code (case-insensitive).
    pub fn coupon_affiliate<S: AsRef<str>>(&self, codes: &[S]) -> Option<&str> {
        codes
            .iter()
            .find_map(|c| self.coupons.get(&c.as_ref().trim().to_lowercase()))
            .map(String::as_str)
    }

    /// Whether `email` is the affiliate's own (case-insensitive).
    pub fn is_self_referral(&self, affiliate: &str, email: Option<&str>) -> bool {
        match (self.affiliate_emails.get(affiliate), email) {
            (Some(own), Some(e)) => own == &e.trim().to_lowercase(),
            _ => false,
        }
    }
}

/// How a sale was credited: by a click, or by a coupon code when there was no open click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credit {
    Click,
    Coupon,
    /// A subscription's later payment: the affiliate credited with its first payment.
    Subscription,
    None,
}

/// A click wins over a coupon: the coupon's affiliate is credited only when no click's window
/// is open (no CID, or its window closed). The CID stays recorded either way.
pub fn with_coupon(who: Attribution, coupon_affiliate: Option<&str>) -> (Attribution, Credit) {
    credit(who, coupon_affiliate, None)
}

/// Who a payment is credited to: an open click's affiliate, else the affiliate of this
/// payment's coupon code, else (a subscription's later payment) the affiliate credited with the
/// subscription's first payment, whose click window may have closed since: recurring
/// commission follows the subscription (the recurring limit bounds it).
pub fn credit(
    mut who: Attribution,
    coupon_affiliate: Option<&str>,
    subscription_affiliate: Option<&str>,
) -> (Attribution, Credit) {
    if who.affiliate.is_some() {
        return (who, Credit::Click);
    }
    let (aff, how) = match (coupon_affiliate, subscription_affiliate) {
        (Some(a), _) => (a, Credit::Coupon),
        (None, Some(a)) => (a, Credit::Subscription),
        (None, None) => return (who, Credit::None),
    };
    who.affiliate = Some(aff.to_string());
    (who, how)
}

/// A subscription's payments recorded before this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// Payments already recorded.
    pub prior_payments: i64,
    /// When the first of them was recorded (unix seconds).
    pub first_at: i64,
    /// The affiliate credited with the subscription's first payment (by a click or a code):
    /// its later payments are theirs when they carry neither an open click nor a code.
    pub first_affiliate: Option<String>,
}

/// What [`decide`] needs to know of a sale.
#[derive(Debug, Clone)]
pub struct SaleFacts<'a> {
    pub affiliate: &'a str,
    pub conversion_type: &'a str,
    /// The conversion type's rate.
    pub type_payout: Option<Payout>,
    /// Price and product ids, most specific first.
    pub products: &'a [String],
    /// `Some` for a subscription's payment (history empty for its first).
    pub subscription: Option<History>,
    pub self_referral: bool,
    pub now: i64,
}

/// The rule that decided an accrual, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Type,
    Affiliate,
    Product(String),
    RecurringLimit,
    SelfReferral,
}

impl Rule {
    /// `type`, `affiliate`, `product:<id>`, `recurring_limit`, `self_referral`.
    pub fn label(&self) -> String {
        match self {
            Rule::Type => "type".into(),
            Rule::Affiliate => "affiliate".into(),
            Rule::Product(id) => format!("product:{id}"),
            Rule::RecurringLimit => "recurring_limit".into(),
            Rule::SelfReferral => "self_referral".into(),
        }
    }
}

/// The rate a sale earns (`None`: nothing) and the rule that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub payout: Option<Payout>,
    pub rule: Rule,
}

/// Whether a subscription payment is within the recurring limit.
pub fn within_limit(limit: Option<RecurringLimit>, h: &History, now: i64) -> bool {
    match limit {
        None => true,
        Some(RecurringLimit::Payments(n)) => h.prior_payments < i64::from(n),
        Some(RecurringLimit::Months(n)) => {
            if h.prior_payments == 0 {
                return true;
            }
            let end = DateTime::from_timestamp(h.first_at, 0)
                .and_then(|d| d.checked_add_months(Months::new(n)))
                .map(|d| d.timestamp());
            // an end past chrono's range is no end
            end.is_none_or(|end| now < end)
        }
    }
}

/// Which rule pays a sale, in the documented precedence.
pub fn decide(rules: &Rules, f: &SaleFacts<'_>) -> Decision {
    if f.self_referral && rules.self_referral != SelfReferral::Allow {
        return Decision {
            payout: None,
            rule: Rule::SelfReferral,
        };
    }
    if let Some(h) = &f.subscription {
        if !within_limit(rules.recurring_limit, h, f.now) {
            return Decision {
                payout: None,
                rule: Rule::RecurringLimit,
            };
        }
    }
    if let Some((id, p)) = f
        .products
        .iter()
        .find_map(|id| rules.product_rates.get(id).map(|p| (id, p)))
    {
        return Decision {
            payout: Some(*p),
            rule: Rule::Product(id.clone()),
        };
    }
    let key = (f.affiliate.to_string(), f.conversion_type.to_string());
    if let Some(p) = rules.affiliate_rates.get(&key) {
        return Decision {
            payout: Some(*p),
            rule: Rule::Affiliate,
        };
    }
    Decision {
        payout: f.type_payout,
        rule: Rule::Type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules() -> Rules {
        let doc: RulesDoc = serde_json::from_value(serde_json::json!({
            "affiliate_rates": {"alice": {"sale": {"revenue_share_percent": "40"}}},
            "product_rates": {"price_pro": {"fixed": "10.00"}},
            "recurring_limit": {"months": 12},
            "coupons": {"ALICE20": "alice"},
            "affiliate_emails": {"bob": "Bob@Example.com"},
        }))
        .expect("doc");
        Rules::try_from(doc).expect("valid")
    }

    fn facts<'a>(aff: &'a str, products: &'a [String]) -> SaleFacts<'a> {
        SaleFacts {
            affiliate: aff,
            conversion_type: "sale",
            type_payout: Some(Payout::RevenueShare(3000)),
            products,
            subscription: None,
            self_referral: false,
            now: 0,
        }
    }

    #[test]
    fn precedence_product_then_affiliate_then_type() {
        let r = rules();
        let d = decide(&r, &facts("alice", &[]));
        assert_eq!(d.rule, Rule::Affiliate);
        assert_eq!(d.payout, Some(Payout::RevenueShare(4000)));
        let d = decide(&r, &facts("bob", &[]));
        assert_eq!(
            (d.rule, d.payout),
            (Rule::Type, Some(Payout::RevenueShare(3000)))
        );
        let p = vec!["price_other".to_string(), "price_pro".to_string()];
        let d = decide(&r, &facts("alice", &p));
        assert_eq!(d.rule, Rule::Product("price_pro".into()));
        assert_eq!(d.payout, Some(Payout::Fixed(1000)));
        assert_eq!(d.rule.label(), "product:price_pro");
    }

    #[test]
    fn twelve_months_pay_twelve_monthly_payments() {
        let r = rules();
        let first = DateTime::parse_from_rfc3339("2026-01-31T10:00:00Z")
            .expect("time")
            .timestamp();
        let mut earned = 0;
        for i in 0..24u32 {
            let now = DateTime::from_timestamp(first, 0)
                .and_then(|d| d.checked_add_months(Months::new(i)))
                .expect("time")
                .timestamp();
            let f = SaleFacts {
                subscription: Some(History {
                    prior_payments: i64::from(i),
                    first_at: first,
                    first_affiliate: None,
                }),
                now,
                ..facts("bob", &[])
            };
            let d = decide(&r, &f);
            if d.payout.is_some() {
                earned += 1;
                assert!(i < 12, "payment {} earned", i + 1);
            } else {
                assert_eq!(d.rule, Rule::RecurringLimit);
            }
        }
        assert_eq!(earned, 12);
    }

    #[test]
    fn coupons_compare_case_insensitively_and_a_click_wins() {
        let r = rules();
        assert_eq!(r.coupon_affiliate(&["nope", "alice20"]), Some("alice"));
        assert_eq!(r.coupon_affiliate(&[" Alice20 "]), Some("alice"));
        assert_eq!(r.coupon_affiliate(&["bob20"]), None);
        let click = Attribution {
            cid: None,
            affiliate: Some("bob".into()),
        };
        let (who, how) = with_coupon(click, Some("alice"));
        assert_eq!(
            (who.affiliate.as_deref(), how),
            (Some("bob"), Credit::Click)
        );
        let (who, how) = with_coupon(Attribution::default(), Some("alice"));
        assert_eq!(
            (who.affiliate.as_deref(), how),
            (Some("alice"), Credit::Coupon)
        );
    }

    #[test]
    fn bad_documents_are_refused_with_the_field() {
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<Rules>(v)
                .expect_err("refused")
                .to_string()
        };
        assert!(bad(serde_json::json!({"coupons": {"A": "x", "a": "y"}})).contains("twice"));
        assert!(bad(serde_json::json!({"recurring_limit": {"months": 0}})).contains("at least 1"));
        assert!(bad(serde_json::json!({"product_rates": {"p": {}}})).contains("product_rates.p"));
        assert!(bad(serde_json::json!({"affiliate_emails": {"a": "no"}})).contains("email"));
        assert!(bad(serde_json::json!({"colour": 1})).contains("colour"));
    }

    #[test]
    fn self_referral_per_setting() {
        let mut r = rules();
        assert!(r.is_self_referral("bob", Some(" BOB@example.COM")));
        assert!(!r.is_self_referral("alice", Some("bob@example.com")));
        let f = SaleFacts {
            self_referral: true,
            ..facts("bob", &[])
        };
        assert_eq!(decide(&r, &f).rule, Rule::SelfReferral);
        r.self_referral = SelfReferral::Allow;
        assert_eq!(decide(&r, &f).rule, Rule::Type);
    }

    fn payout() -> impl Strategy<Value = Payout> {
        prop_oneof![
            (0i64..100_000).prop_map(Payout::Fixed),
            (0i64..10_000).prop_map(Payout::RevenueShare)
        ]
    }

    proptest! {
        /// The document round-trips, and the decision follows the precedence whatever the rules.
        #[test]
        fn decide_follows_precedence(
            aff_rate in proptest::option::of(payout()),
            prod_rate in proptest::option::of(payout()),
            type_rate in proptest::option::of(payout()),
            limit in proptest::option::of(prop_oneof![
                (1u32..36).prop_map(RecurringLimit::Months),
                (1u32..36).prop_map(RecurringLimit::Payments)]),
            sub in proptest::option::of((0i64..48, 0i64..2_000_000_000, 0i64..200_000_000)),
            self_ref in any::<bool>(),
            setting in prop_oneof![Just(SelfReferral::Allow), Just(SelfReferral::NoCommission), Just(SelfReferral::Decline)],
        ) {
            let mut r = Rules { recurring_limit: limit, self_referral: setting, ..Rules::default() };
            if let Some(p) = aff_rate { r.affiliate_rates.insert(("a".into(), "sale".into()), p); }
            if let Some(p) = prod_rate { r.product_rates.insert("price_1".into(), p); }
            let back: Rules = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
            prop_assert_eq!(&back, &r);
            let products = vec!["price_1".to_string()];
            let subscription = sub.map(|(n, first, _)| History { prior_payments: n, first_at: first, first_affiliate: None });
            let now = sub.map_or(0, |(_, first, later)| first + later);
            let f = SaleFacts { affiliate: "a", conversion_type: "sale", type_payout: type_rate,
                products: &products, subscription: subscription.clone(), self_referral: self_ref, now };
            let d = decide(&r, &f);
            let over = subscription.as_ref().is_some_and(|h| !within_limit(limit, h, now));
            let expected = if self_ref && setting != SelfReferral::Allow {
                (None, Rule::SelfReferral)
            } else if over {
                (None, Rule::RecurringLimit)
            } else if prod_rate.is_some() {
                (prod_rate, Rule::Product("price_1".into()))
            } else if aff_rate.is_some() {
                (aff_rate, Rule::Affiliate)
            } else {
                (type_rate, Rule::Type)
            };
            prop_assert_eq!((d.payout, d.rule), expected);
            // a payments limit earns exactly the first N
            if let (Some(RecurringLimit::Payments(n)), Some(h)) = (limit, &subscription) {
                prop_assert_eq!(within_limit(limit, h, now), h.prior_payments < i64::from(n));
            }
        }

        /// Coupon codes match whatever their case; a click always wins.
        #[test]
        fn coupon_case_and_click(code in "[A-Za-z0-9]{1,12}", click in any::<bool>()) {
            let mut doc = RulesDoc::default();
            doc.coupons.insert(code.clone(), "alice".into());
            let r = Rules::try_from(doc).unwrap();
            prop_assert_eq!(r.coupon_affiliate(&[code.to_uppercase()]), Some("alice"));
            prop_assert_eq!(r.coupon_affiliate(&[code.to_lowercase()]), Some("alice"));
            let who = Attribution { cid: None, affiliate: click.then(|| "bob".to_string()) };
            let (who, how) = with_coupon(who, r.coupon_affiliate(&[code]));
            prop_assert_eq!(who.affiliate.as_deref(), Some(if click { "bob" } else { "alice" }));
            prop_assert_eq!(how, if click { Credit::Click } else { Credit::Coupon });
        }
    }
}
