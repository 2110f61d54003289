//! The catalog: tenants with their affiliates, conversion types and payouts, revenue origins,
//! allowed origins and keys. It lives in the database; every collector holds a snapshot that
//! it refreshes when the database's catalog version changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::money;
use crate::rules::Rules;

/// How a conversion type pays the affiliate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payout {
    /// A fixed amount in cents of the conversion's currency.
    Fixed(i64),
    /// A share of the amount in basis points (30 % = 3000), rounded half-up to the cent.
    RevenueShare(i64),
}

impl Payout {
    /// The commission on `amount_cents`; `None` when it cannot be represented.
    pub fn commission(&self, amount_cents: i64) -> Option<i64> {
        match *self {
            Payout::Fixed(c) => Some(c),
            Payout::RevenueShare(bp) => money::share_half_up(amount_cents, bp),
        }
    }

    /// `("fixed", cents)` or `("percent", basis points)`: how stores persist it.
    pub fn to_parts(self) -> (&'static str, i64) {
        match self {
            Payout::Fixed(c) => ("fixed", c),
            Payout::RevenueShare(bp) => ("percent", bp),
        }
    }

    pub fn from_parts(kind: &str, value: i64) -> Option<Payout> {
        match kind {
            "fixed" => Some(Payout::Fixed(value)),
            "percent" => Some(Payout::RevenueShare(value)),
            _ => None,
        }
    }
}

/// What a key may do. A tenant's classic `api_key` has `ingest` and `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyScope {
    /// Server-to-server tracking and refunds.
    Ingest,
    /// Reports.
    Read,
    /// Everything, the catalog and payouts included.
    Admin,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Ingest => "ingest",
            KeyScope::Read => "read",
            KeyScope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<KeyScope> {
        match s {
            "ingest" => Some(KeyScope::Ingest),
            "read" => Some(KeyScope::Read),
            "admin" => Some(KeyScope::Admin),
            _ => None,
        }
    }
}

/// The hash a key is stored under (keys are random secrets: a plain SHA-256 is enough, and a
/// lookup by hash needs no per-key comparison).
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The prefix of a stored secret that is only ever compared (a webhook's Basic-auth
/// password): the collector keeps `sha256:<hex>`, never the secret.
pub const SECRET_HASH_PREFIX: &str = "sha256:";

/// How a compare-only secret is stored. Empty stays empty (not configured).
pub fn secret_hash(secret: &str) -> String {
    if secret.is_empty() || secret.starts_with(SECRET_HASH_PREFIX) {
        return secret.to_string();
    }
    format!("{SECRET_HASH_PREFIX}{}", key_hash(secret))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub cookie_days: i64,
    pub allowed_origins: Vec<String>,
    pub stripe_webhook_secret: String,
    pub currency: String,
    pub sale_conversion_type: String,
    /// Affiliate codes accepted in `?aff=` (disabled ones are not listed).
    pub affiliates: Vec<String>,
    /// Further codes of an affiliate (alias -> affiliate code), e.g. PartnerStack partner keys.
    /// A click through an alias is the affiliate's click.
    pub aliases: BTreeMap<String, String>,
    pub conversion_types: BTreeMap<String, Payout>,
    pub revenue_origins: Vec<String>,
    /// Days an accrual stays pending before it is approved.
    pub hold_days: i64,
    /// Whether Stripe test-mode payments count in live reports.
    pub count_test_payments: bool,
    /// HTTP Basic credentials Chargebee sends with its webhooks (empty: route not configured).
    pub chargebee_webhook_username: String,
    pub chargebee_webhook_password: String,
    /// The key Recurly signs its webhooks with (empty: route not configured).
    pub recurly_webhook_key: String,
    /// The Recurly site's private API key: a Recurly notification carries only ids, the
    /// payment it names is read from Recurly's API v3 with this key.
    pub recurly_api_key: String,
    /// Recurly's API base URL (empty: `https://v3.recurly.com`; EU sites `https://v3.eu.recurly.com`).
    pub recurly_api_url: String,
    /// The Chargify (Maxio Advanced Billing) site's shared key its webhooks are signed with
    /// (HMAC-SHA256; kept readable to compute the signature; empty: route not configured).
    pub chargify_webhook_key: String,
    /// Commission rules, coupon codes and the self-referral setting (domain `rules`).
    pub rules: Arc<Rules>,
}

impl Tenant {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
    pub fn has_affiliate(&self, code: &str) -> bool {
        self.affiliates.iter().any(|a| a == code)
    }
    /// The enabled affiliate a code names: the code itself or the affiliate it is an alias
    /// of (`None` for an unknown code or a disabled affiliate).
    pub fn resolve_affiliate<'a>(&'a self, code: &'a str) -> Option<&'a str> {
        if self.has_affiliate(code) {
            return Some(code);
        }
        self.aliases
            .get(code)
            .map(String::as_str)
            .filter(|a| self.has_affiliate(a))
    }
    pub fn has_revenue_origin(&self, id: &str) -> bool {
        self.revenue_origins
            .iter()
            .any(|r| r.eq_ignore_ascii_case(id))
    }
    pub fn cookie_secs(&self) -> i64 {
        self.cookie_days * 86_400
    }
    pub fn sale_payout(&self) -> Option<Payout> {
        self.conversion_types
            .get(&self.sale_conversion_type)
            .copied()
    }
}

/// A key as the catalog knows it: its tenant and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub tenant: String,
    pub scopes: Vec<KeyScope>,
}

/// A snapshot of the whole catalog, cheap to share.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Tenants in id order.
    pub tenants: Vec<Arc<Tenant>>,
    /// key hash -> grant (revoked keys are absent).
    pub keys: HashMap<String, KeyGrant>,
    /// The database's catalog version this snapshot was read at.
    pub version: i64,
}

impl Catalog {
    pub fn tenant(&self, id: &str) -> Option<&Arc<Tenant>> {
        self.tenants.iter().find(|t| t.id == id)
    }

    /// Case-insensitive lookup (host names).
    pub fn tenant_ignore_case(&self, id: &str) -> Option<&Arc<Tenant>> {
        self.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// The grant of a presented key, if it exists and is not revoked.
    pub fn key(&self, presented: &str) -> Option<&KeyGrant> {
        self.keys.get(&key_hash(presented))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_only_secrets_are_stored_hashed_once() {
        let h = secret_hash("s3cret");
        assert_eq!(h, format!("sha256:{}", key_hash("s3cret")));
        assert_eq!(secret_hash(&h), h, "a stored hash is not hashed again");
        assert_eq!(secret_hash(""), "", "empty means not configured");
    }

    #[test]
    fn keys_are_found_by_hash() {
        let mut c = Catalog::default();
        c.keys.insert(
            key_hash("sk_live_123"),
            KeyGrant {
                tenant: "t".into(),
                scopes: vec![KeyScope::Ingest],
            },
        );
        assert_eq!(c.key("sk_live_123").map(|g| g.tenant.as_str()), Some("t"));
        assert!(c.key("sk_live_124").is_none());
        assert_eq!(key_hash("a").len(), 64);
    }

    #[test]
    fn aliases_resolve_to_enabled_affiliates_only() {
        let t = Tenant {
            id: "t".into(),
            cookie_days: 60,
            allowed_origins: vec![],
            stripe_webhook_secret: String::new(),
            currency: "USD".into(),
            sale_conversion_type: "sale".into(),
            affiliates: vec!["alice".into()],
            aliases: [
                ("pk-alice".to_string(), "alice".to_string()),
                ("pk-gone".to_string(), "bob".to_string()),
            ]
            .into(),
            conversion_types: BTreeMap::new(),
            revenue_origins: vec![],
            hold_days: 0,
            count_test_payments: false,
            chargebee_webhook_username: String::new(),
            chargebee_webhook_password: String::new(),
            recurly_webhook_key: String::new(),
            recurly_api_key: String::new(),
            recurly_api_url: String::new(),
            chargify_webhook_key: String::new(),
            rules: Default::default(),
        };
        assert_eq!(t.resolve_affiliate("alice"), Some("alice"));
        assert_eq!(t.resolve_affiliate("pk-alice"), Some("alice"));
        // bob is disabled (not listed): its alias names no one
        assert_eq!(t.resolve_affiliate("pk-gone"), None);
        assert_eq!(t.resolve_affiliate("PK-ALICE"), None);
        assert_eq!(t.resolve_affiliate("carol"), None);
    }

    #[test]
    fn payout_parts_round_trip() {
        for p in [Payout::Fixed(500), Payout::RevenueShare(1250)] {
            let (k, v) = p.to_parts();
            assert_eq!(Payout::from_parts(k, v), Some(p));
        }
        assert_eq!(Payout::RevenueShare(3000).commission(10_050), Some(3015));
        assert_eq!(Payout::Fixed(500).commission(0), Some(500));
    }
}
