//! Attribution decisions (docs/wire.md click rules), free of browser calls.

use alloc::string::String;

/// Which click wins when a visitor already has a CID from another affiliate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Last,
    First,
}

impl Model {
    /// `"first"` selects first-click; anything else (wrong type, typo) is last-click.
    pub fn parse(s: Option<&str>) -> Model {
        match s {
            Some(s) if s.eq_ignore_ascii_case("first") => Model::First,
            _ => Model::Last,
        }
    }
}

/// What to do on a page view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// No (acceptable) affiliate code, or this landing URL was already counted:
    /// report the existing CID, if any.
    NoClick,
    /// No valid cookie: generate `cid`, write the cookie, call back at once, send the click.
    Fresh,
    /// A valid cookie: send the click proposing its CID. `wait` = hold the callback until the
    /// collector answers (last-click model and the cookie may belong to another affiliate).
    Repeat { wait: bool },
}

/// `code`: the URL's affiliate code; `cookie_aff`: the affiliate the cookie was set for
/// (from the localStorage mirror; `None` if unknown); `counted`: this landing URL was
/// already counted in this tab session.
pub fn plan(
    model: Model,
    code: Option<&str>,
    has_cookie: bool,
    cookie_aff: Option<&str>,
    counted: bool,
) -> Plan {
    match code {
        None => Plan::NoClick,
        Some(_) if counted => Plan::NoClick,
        Some(_) if !has_cookie => Plan::Fresh,
        Some(code) => Plan::Repeat {
            wait: model == Model::Last && cookie_aff != Some(code),
        },
    }
}

/// First-party mode (docs/wire.md): whether a click asks the collector to set the cookie
/// with `Set-Cookie`. Only when its answer may become the visitor's cookie: always in the
/// last-click model; in the first-click model for a fresh visit or the same affiliate as
/// the cookie's (a first-click visitor's cookie must not be replaced by the collector).
pub fn server_cookie(
    first_party: bool,
    model: Model,
    plan: &Plan,
    code: &str,
    cookie_aff: Option<&str>,
) -> bool {
    first_party
        && match plan {
            Plan::Fresh => true,
            Plan::Repeat { .. } => model == Model::Last || cookie_aff == Some(code),
            Plan::NoClick => false,
        }
}

/// The collector's answer to a click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok {
        cid: String,
        expired_at: Option<String>,
    },
    UnknownAffiliate,
    /// Any other 4xx: the click was dropped.
    Rejected,
}

/// What the answer does to the cookie (which must still hold `sent_cid` for any change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Leave the cookie alone.
    Keep,
    /// Same CID: refresh Max-Age / expiry (and record the affiliate in the mirror).
    Refresh,
    /// Put this CID in the cookie (another affiliate won in the last-click model,
    /// or the collector chose another CID for a fresh visit).
    Replace,
    /// The fresh CID was for an unknown affiliate: remove the cookie.
    Remove,
}

/// `fresh`: the tracker generated `sent_cid` for this click (no earlier attribution).
pub fn outcome(model: Model, sent_cid: &str, fresh: bool, answer: &Answer) -> Outcome {
    match answer {
        Answer::Ok { cid, .. } if cid == sent_cid => Outcome::Refresh,
        Answer::Ok { .. } if fresh || model == Model::Last => Outcome::Replace,
        Answer::Ok { .. } => Outcome::Keep,
        Answer::UnknownAffiliate if fresh => Outcome::Remove,
        Answer::UnknownAffiliate | Answer::Rejected => Outcome::Keep,
    }
}

/// Everything [`settle`] needs to know about a click whose answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent<'a> {
    pub model: Model,
    /// The CID the click proposed.
    pub cid: &'a str,
    /// The tracker generated `cid` for this click (no earlier attribution).
    pub fresh: bool,
    /// No later click's answer has been applied for this tenant (on this page or an
    /// earlier one). A stale click's answer never changes the attribution, so the later
    /// click wins whatever the delivery order (a rejected later click does not count).
    pub latest: bool,
    /// The CID the visitor held when the answer arrived, as the tracker last recorded it
    /// (before any `Set-Cookie` of this answer); `None`: none (removed meanwhile).
    pub held: Option<&'a str>,
    /// Seconds the held CID has left (for a restore), if known.
    pub held_left: Option<i64>,
    /// First-party mode: the request asked the collector to set the cookie, so a 200
    /// answer already put `trakdesk_cid` = its CID with `Set-Cookie`.
    pub server_cookie: bool,
}

/// What to do to the cookie after a click's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieOp {
    /// Nothing (unchanged, or already set by the collector's `Set-Cookie`).
    None,
    /// Write `cid` from script with this Max-Age (seconds).
    Write(String, i64),
    /// Expire it.
    Remove,
}

/// The effects of a click's answer; executed by the browser layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub cookie: CookieOp,
    /// Put `{cid, aff, expiredAt}` in the localStorage mirror.
    pub mirror: Option<(String, Option<String>)>,
    /// Remove the mirror (it held the removed CID).
    pub drop_mirror: bool,
    /// The CID to show in hidden inputs / Stripe links.
    pub note: Option<String>,
    /// A CID to take out of hidden inputs / Stripe links.
    pub clear: Option<String>,
    /// This answer decided the attribution: record the click's creation time as the
    /// latest applied (see [`Sent::latest`]).
    pub applied: bool,
}

impl Settled {
    fn nothing() -> Self {
        Settled {
            cookie: CookieOp::None,
            mirror: None,
            drop_mirror: false,
            note: None,
            clear: None,
            applied: false,
        }
    }
}

/// Applies the collector's answer to a click (docs/wire.md). `now` and the
/// answer's `expiredAt` in Unix seconds (`expires`: parsed `expiredAt`, if any);
/// `default_left`: the lifetime when the answer gives none.
pub fn settle(
    s: &Sent,
    answer: &Answer,
    expires: Option<i64>,
    now: i64,
    default_left: i64,
) -> Settled {
    let mut out = Settled::nothing();
    let answered_cid = match answer {
        Answer::Ok { cid, .. } => Some(cid.as_str()),
        _ => None,
    };
    // What the collector's Set-Cookie did, if anything.
    let server_set = if s.server_cookie { answered_cid } else { None };
    let restore = |out: &mut Settled| {
        // the collector's Set-Cookie replaced what the visitor holds: put it back (a
        // script write, the exception) or remove what it set
        if let Some(set) = server_set {
            if s.held != Some(set) {
                out.cookie = match (s.held, s.held_left) {
                    (Some(h), Some(left)) if left > 0 => CookieOp::Write(h.into(), left),
                    (Some(h), _) => CookieOp::Write(h.into(), default_left),
                    (None, _) => CookieOp::Remove,
                };
            }
        }
    };
    // The first-click model never moves an attribution that changed meanwhile; in the
    // last-click model the latest applied click decides (`latest`).
    if !s.latest || (s.model == Model::First && s.held != Some(s.cid)) {
        restore(&mut out);
        return out;
    }
    match (outcome(s.model, s.cid, s.fresh, answer), answer) {
        (Outcome::Refresh | Outcome::Replace, Answer::Ok { cid, expired_at }) => {
            out.applied = true;
            let left = expires.map(|t| t - now).unwrap_or(default_left);
            if left <= 0 {
                // an expiredAt already past (a wrong clock, a zero lifetime): the click is
                // dead on arrival; keep no cookie that is already expired
                out.cookie = CookieOp::Remove;
                out.drop_mirror = true;
                out.clear = Some(s.cid.into());
                return out;
            }
            if !s.server_cookie {
                out.cookie = CookieOp::Write(cid.clone(), left);
            }
            out.mirror = Some((cid.clone(), expired_at.clone()));
            if cid != s.cid {
                out.clear = Some(s.cid.into());
            }
            out.note = Some(cid.clone());
        }
        // only the click that generated a CID may remove it, and only while it is held; a
        // rejected click does not count as applied, so an earlier valid click answered after it
        // still wins (the latest *valid* click decides)
        (Outcome::Remove, _) if s.held == Some(s.cid) => {
            out.cookie = CookieOp::Remove;
            out.drop_mirror = true;
            out.clear = Some(s.cid.into());
        }
        _ => restore(&mut out),
    }
    out
}

/// Key in sessionStorage marking a landing URL as counted for a tenant.
pub fn landing_key(tenant: &str, href: &str) -> String {
    let mut k = String::new();
    push_landing_key(&mut k, tenant, href);
    k
}

/// [`landing_key`] appended to `k`.
#[inline(always)]
pub fn push_landing_key(k: &mut (impl crate::json::Out + ?Sized), tenant: &str, href: &str) {
    k.push_str("clicktrail_landing:");
    k.push_str(tenant);
    k.push(':');
    k.push_str(href);
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "11111111-1111-4111-8111-111111111111";
    const B: &str = "22222222-2222-4222-8222-222222222222";

    fn ok(cid: &str) -> Answer {
        Answer::Ok {
            cid: cid.into(),
            expired_at: None,
        }
    }

    fn sent<'a>(cid: &'a str, held: Option<&'a str>) -> Sent<'a> {
        Sent {
            model: Model::Last,
            cid,
            fresh: false,
            latest: true,
            held,
            held_left: Some(100),
            server_cookie: false,
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn settles_answers() {
        // same CID: the script refreshes the cookie from expiredAt
        let s = settle(&sent(A, Some(A)), &ok(A), Some(NOW + 50), NOW, 999);
        assert_eq!(s.cookie, CookieOp::Write(A.into(), 50));
        assert_eq!(s.note.as_deref(), Some(A));
        assert_eq!(s.clear, None);
        // first-party: the collector's Set-Cookie did it, no script write
        let fp = Sent {
            server_cookie: true,
            ..sent(A, Some(A))
        };
        let s = settle(&fp, &ok(A), Some(NOW + 50), NOW, 999);
        assert_eq!(s.cookie, CookieOp::None);
        assert_eq!(s.mirror, Some((A.into(), None)));
        // another affiliate won (last click): replace, clear the old CID from the page
        let s = settle(&sent(A, Some(A)), &ok(B), None, NOW, 999);
        assert_eq!(s.cookie, CookieOp::Write(B.into(), 999));
        assert_eq!(s.clear.as_deref(), Some(A));
        // an expiredAt in the past: dead on arrival, nothing kept
        let s = settle(&sent(A, Some(A)), &ok(A), Some(NOW - 1), NOW, 999);
        assert_eq!(s.cookie, CookieOp::Remove);
        assert!(s.drop_mirror && s.mirror.is_none() && s.note.is_none());
        assert_eq!(s.clear.as_deref(), Some(A));
        // unknown affiliate on a fresh visit: removed, and cleared from the page
        let fresh = Sent {
            fresh: true,
            ..sent(A, Some(A))
        };
        let s = settle(&fresh, &Answer::UnknownAffiliate, None, NOW, 999);
        assert_eq!(s.cookie, CookieOp::Remove);
        assert_eq!(s.clear.as_deref(), Some(A));
        // a stale click (a later one was sent) changes nothing ...
        let stale = Sent {
            latest: false,
            ..sent(A, Some(A))
        };
        assert_eq!(settle(&stale, &ok(B), None, NOW, 999), Settled::nothing());
        // ... and in first-party mode puts back what its Set-Cookie overwrote
        let stale_fp = Sent {
            server_cookie: true,
            ..stale
        };
        assert_eq!(
            settle(&stale_fp, &ok(B), None, NOW, 999).cookie,
            CookieOp::Write(A.into(), 100)
        );
        // first click model, first-party, collector moved the visitor: restore
        let first_fp = Sent {
            model: Model::First,
            server_cookie: true,
            ..sent(A, Some(A))
        };
        assert_eq!(
            settle(&first_fp, &ok(B), None, NOW, 999).cookie,
            CookieOp::Write(A.into(), 100)
        );
        // last click, the cookie removed meanwhile (an older fresh click's unknown
        // affiliate): the latest click's answer is adopted
        let s = settle(&sent(A, None), &ok(A), None, NOW, 999);
        assert_eq!(s.cookie, CookieOp::Write(A.into(), 999));
        assert!(s.applied);
        // ... but an unknown affiliate never removes a CID it no longer holds
        let other = Sent {
            fresh: true,
            ..sent(A, Some(B))
        };
        assert_eq!(
            settle(&other, &Answer::UnknownAffiliate, None, NOW, 999),
            Settled::nothing()
        );
        // first click: an attribution that changed meanwhile is left alone; a cookie the
        // collector set over it is removed when there was none
        let first_gone = Sent {
            model: Model::First,
            server_cookie: true,
            ..sent(A, None)
        };
        assert_eq!(
            settle(&first_gone, &ok(A), None, NOW, 999).cookie,
            CookieOp::Remove
        );
    }

    #[test]
    fn server_cookies() {
        use Model::*;
        let rep = Plan::Repeat { wait: false };
        assert!(server_cookie(true, Last, &Plan::Fresh, "a", None));
        assert!(server_cookie(true, First, &Plan::Fresh, "a", None));
        assert!(server_cookie(true, Last, &rep, "b", Some("a")));
        assert!(!server_cookie(true, First, &rep, "b", Some("a")));
        assert!(!server_cookie(true, First, &rep, "b", None));
        assert!(server_cookie(true, First, &rep, "a", Some("a")));
        assert!(!server_cookie(false, Last, &Plan::Fresh, "a", None));
        assert!(!server_cookie(true, Last, &Plan::NoClick, "a", None));
    }

    #[test]
    fn models() {
        assert_eq!(Model::parse(Some("first")), Model::First);
        assert_eq!(Model::parse(Some("FIRST")), Model::First);
        assert_eq!(Model::parse(Some("last")), Model::Last);
        assert_eq!(Model::parse(Some("bogus")), Model::Last);
        assert_eq!(Model::parse(None), Model::Last);
    }

    #[test]
    fn plans() {
        use Model::*;
        assert_eq!(plan(Last, None, true, None, false), Plan::NoClick);
        assert_eq!(plan(Last, Some("a"), false, None, true), Plan::NoClick);
        assert_eq!(plan(Last, Some("a"), false, None, false), Plan::Fresh);
        assert_eq!(
            plan(Last, Some("a"), true, Some("a"), false),
            Plan::Repeat { wait: false }
        );
        assert_eq!(
            plan(Last, Some("b"), true, Some("a"), false),
            Plan::Repeat { wait: true }
        );
        assert_eq!(
            plan(Last, Some("b"), true, None, false),
            Plan::Repeat { wait: true }
        );
        assert_eq!(
            plan(First, Some("b"), true, Some("a"), false),
            Plan::Repeat { wait: false }
        );
    }

    #[test]
    fn outcomes() {
        use Model::*;
        // same affiliate: refresh
        assert_eq!(outcome(Last, A, false, &ok(A)), Outcome::Refresh);
        assert_eq!(outcome(First, A, true, &ok(A)), Outcome::Refresh);
        // another affiliate won the visit
        assert_eq!(outcome(Last, A, false, &ok(B)), Outcome::Replace);
        assert_eq!(outcome(First, A, false, &ok(B)), Outcome::Keep);
        // the collector picked another CID for a fresh visit
        assert_eq!(outcome(First, A, true, &ok(B)), Outcome::Replace);
        // a bogus code never destroys a real attribution
        assert_eq!(
            outcome(Last, A, false, &Answer::UnknownAffiliate),
            Outcome::Keep
        );
        assert_eq!(
            outcome(Last, A, true, &Answer::UnknownAffiliate),
            Outcome::Remove
        );
        assert_eq!(outcome(Last, A, true, &Answer::Rejected), Outcome::Keep);
        assert_eq!(
            landing_key("t", "https://x/?aff=a"),
            "clicktrail_landing:t:https://x/?aff=a"
        );
    }
}
