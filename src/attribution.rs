//! Attribution decisions (SPEC §5, docs/wire.md click rules), free of browser calls.

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

/// Key in sessionStorage marking a landing URL as counted for a tenant.
pub fn landing_key(tenant: &str, href: &str) -> String {
    let mut k = String::from("clicktrail_landing:");
    k.push_str(tenant);
    k.push(':');
    k.push_str(href);
    k
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
