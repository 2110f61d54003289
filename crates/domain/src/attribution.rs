//! Clicks and the attribution window: which CID a click gets, and whether a CID still
//! attributes a conversion.

use crate::ids::Cid;

/// What the store knows about a CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidRecord {
    pub affiliate: String,
    pub expires_at: i64,
}

/// A CID resolved from a click id, a customer key, an external CID or a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub cid: Cid,
    pub affiliate: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickDecision {
    /// The proposed CID already belongs to this affiliate: a repeat click, expiry refreshed.
    Refresh { cid: Cid, expires_at: i64 },
    /// A CID that does not exist yet, for this affiliate.
    New { cid: Cid, expires_at: i64 },
}

impl ClickDecision {
    pub fn cid(&self) -> &Cid {
        match self {
            ClickDecision::Refresh { cid, .. } | ClickDecision::New { cid, .. } => cid,
        }
    }
    pub fn expires_at(&self) -> i64 {
        match self {
            ClickDecision::Refresh { expires_at, .. } | ClickDecision::New { expires_at, .. } => {
                *expires_at
            }
        }
    }
}

/// The click rule: a CID never changes affiliate. The tracker proposes the CID it already wrote
/// to the cookie; the same affiliate again refreshes it, another affiliate gets a new CID, an
/// unknown proposal is taken as it is, no proposal gets a new one.
pub fn decide_click(
    proposed: Option<&Cid>,
    existing: Option<&CidRecord>,
    affiliate: &str,
    now: i64,
    lifetime_secs: i64,
) -> ClickDecision {
    let expires_at = now.saturating_add(lifetime_secs);
    match (proposed, existing) {
        (Some(cid), Some(rec)) if rec.affiliate == affiliate => ClickDecision::Refresh {
            cid: cid.clone(),
            expires_at,
        },
        (Some(cid), None) => ClickDecision::New {
            cid: cid.clone(),
            expires_at,
        },
        _ => ClickDecision::New {
            cid: Cid::generate(),
            expires_at,
        },
    }
}

/// A click attributes conversions until its expiry (inclusive).
pub fn attributes(expires_at: i64, now: i64) -> bool {
    expires_at >= now
}

/// RFC 3339 UTC, seconds precision (`2027-01-18T07:06:40Z`).
pub fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The inverse of [`rfc3339`]: unix seconds, `None` when `s` is not RFC 3339.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn a_cid_never_changes_affiliate() {
        let c = Cid::parse("0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f").unwrap();
        let alice = CidRecord {
            affiliate: "alice".into(),
            expires_at: 10,
        };
        assert_eq!(
            decide_click(Some(&c), Some(&alice), "alice", 100, 60 * DAY),
            ClickDecision::Refresh {
                cid: c.clone(),
                expires_at: 100 + 60 * DAY
            }
        );
        let bob = decide_click(Some(&c), Some(&alice), "bob", 100, DAY);
        assert!(matches!(bob, ClickDecision::New { .. }));
        assert_ne!(bob.cid(), &c);
        assert_eq!(
            decide_click(Some(&c), None, "bob", 0, DAY),
            ClickDecision::New {
                cid: c.clone(),
                expires_at: DAY
            }
        );
        assert!(matches!(
            decide_click(None, None, "bob", 0, DAY),
            ClickDecision::New { .. }
        ));
    }

    #[test]
    fn window_is_inclusive() {
        assert!(attributes(100, 100));
        assert!(!attributes(100, 101));
        assert_eq!(rfc3339(1795072000), "2026-11-19T07:06:40Z");
    }
}
