//! Erasing one person: who is named ([`Subject`]), and the keyed hash ([`pseudonym`]) that
//! replaces an identifier that rows must keep (a customer key or CID still ties a sale to its
//! lead and affiliate, a unique index still holds) without it being readable or guessable
//! from the value: an HMAC-SHA256 under a secret kept in the database, never shown.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Every pseudonym starts with this (so an erased value is told from a live one).
pub const PSEUDONYM_PREFIX: &str = "erased:";

/// Longest identifier an erasure names (as the collector's other ids).
pub const MAX_SUBJECT_LEN: usize = 512;

/// Whom an erasure names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A customer by the merchant's customer key.
    CustomerKey(String),
    /// A customer by email (every lead with that email, compared case-insensitively).
    Email(String),
    /// A visitor by the CID in their cookie.
    Cid(String),
}

impl Subject {
    /// Exactly one of the three must be given; the error names the field.
    pub fn parse(
        customer_key: Option<&str>,
        email: Option<&str>,
        cid: Option<&str>,
    ) -> Result<Subject, (&'static str, String)> {
        let given: Vec<(&'static str, &str)> = [
            ("customer_key", customer_key),
            ("email", email),
            ("cid", cid),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect();
        let [(name, value)] = given[..] else {
            return Err((
                "customer_key",
                "give exactly one of customer_key, email, cid".into(),
            ));
        };
        let value = value.trim();
        if value.is_empty() || value.len() > MAX_SUBJECT_LEN {
            return Err((name, format!("must be 1-{MAX_SUBJECT_LEN} characters")));
        }
        if value.starts_with(PSEUDONYM_PREFIX) {
            return Err((name, "is already an erased value".into()));
        }
        Ok(match name {
            "customer_key" => Subject::CustomerKey(value.to_string()),
            "email" if !value.contains('@') => {
                return Err(("email", "is not an email address".into()))
            }
            "email" => Subject::Email(value.to_string()),
            _ => Subject::Cid(value.to_string()),
        })
    }

    /// `customer_key`, `email` or `cid` (the audit line names the kind, never the value).
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::CustomerKey(_) => "customer_key",
            Subject::Email(_) => "email",
            Subject::Cid(_) => "cid",
        }
    }
}

/// The keyed hash that replaces `value` of `tenant`: `erased:` and 32 hex digits (128 bits of
/// HMAC-SHA256). The same value of the same tenant always gives the same pseudonym, so rows
/// that shared an identifier still share it after erasure, and erasing twice changes nothing.
pub fn pseudonym(secret: &[u8], tenant: &str, value: &str) -> String {
    if value.starts_with(PSEUDONYM_PREFIX) {
        return value.to_string();
    }
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length: unreachable, and still keyed by the tenant
        Err(_) => return format!("{PSEUDONYM_PREFIX}{}", hex::encode(tenant.as_bytes())),
    };
    mac.update(tenant.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("{PSEUDONYM_PREFIX}{}", hex::encode(&tag[..16]))
}

/// A new installation secret: 256 random bits, hex (from two v4 UUIDs' random bits plus two
/// more; uuid uses the OS random source).
pub fn new_secret() -> String {
    (0..3)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect()
}

/// What an erasure changed, by kind of row (the audit line and the API answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    /// Customer keys replaced by pseudonyms.
    pub customer_keys: u64,
    /// CIDs replaced by pseudonyms (with their clicks' URLs and referrers removed).
    pub cids: u64,
    /// Leads whose email was removed.
    pub emails: u64,
    /// Conversions and sales whose personal fields were removed or replaced.
    pub conversions: u64,
    /// Billing-provider customer ids (Stripe `cus_…`) replaced by pseudonyms.
    pub billing_customers: u64,
}

impl Erased {
    /// The audit line: what kind of subject and how many rows, never a value.
    pub fn summary(&self, subject: &Subject) -> String {
        format!(
            "erased a {}: {} customer keys, {} CIDs, {} emails, {} conversions, {} billing customers",
            subject.kind(),
            self.customer_keys,
            self.cids,
            self.emails,
            self.conversions,
            self.billing_customers
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_field_names_the_subject() {
        assert_eq!(
            Subject::parse(Some(" k1 "), None, None),
            Ok(Subject::CustomerKey("k1".into()))
        );
        assert_eq!(
            Subject::parse(None, Some("a@b.c"), None),
            Ok(Subject::Email("a@b.c".into()))
        );
        assert_eq!(
            Subject::parse(None, None, Some("c")),
            Ok(Subject::Cid("c".into()))
        );
        assert_eq!(
            Subject::parse(None, None, None).map_err(|e| e.0),
            Err("customer_key")
        );
        assert!(Subject::parse(Some("k"), Some("a@b.c"), None).is_err());
        assert_eq!(
            Subject::parse(None, Some("nope"), None).map_err(|e| e.0),
            Err("email")
        );
        assert_eq!(
            Subject::parse(None, None, Some(" ")).map_err(|e| e.0),
            Err("cid")
        );
        let long = "x".repeat(MAX_SUBJECT_LEN + 1);
        assert!(Subject::parse(Some(&long), None, None).is_err());
        assert!(Subject::parse(Some("erased:00"), None, None).is_err());
    }

    #[test]
    fn pseudonyms_are_keyed_stable_and_idempotent() {
        let a = pseudonym(b"s1", "t", "alice@example.com");
        assert!(a.starts_with(PSEUDONYM_PREFIX) && a.len() == PSEUDONYM_PREFIX.len() + 32);
        assert_eq!(a, pseudonym(b"s1", "t", "alice@example.com"));
        assert_ne!(a, pseudonym(b"s2", "t", "alice@example.com"));
        assert_ne!(a, pseudonym(b"s1", "u", "alice@example.com"));
        assert_ne!(a, pseudonym(b"s1", "t", "alice@example.org"));
        assert!(!a.contains("alice"));
        assert_eq!(pseudonym(b"s1", "t", &a), a);
    }

    #[test]
    fn secrets_are_long_and_fresh() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 96);
        assert_ne!(a, b);
    }

    #[test]
    fn the_summary_names_no_value() {
        let s = Subject::Email("alice@example.com".into());
        let line = Erased {
            emails: 1,
            ..Erased::default()
        }
        .summary(&s);
        assert!(
            line.starts_with("erased a email: 0 customer keys"),
            "{line}"
        );
        assert!(!line.contains("alice"));
    }
}
