//! The affiliate program's rules: what a valid application is, which affiliate code an
//! approved applicant gets, when an undelivered message is tried again, and the plain-text
//! emails the program sends. Pure functions: the use cases (`clicktrail_app::program`) call
//! them inside a backend's transaction.

use serde::{Deserialize, Serialize};

/// Longest name, website or "how they promote" text kept from an application.
pub const MAX_NAME: usize = 200;
pub const MAX_WEBSITE: usize = 500;
pub const MAX_PROMOTION: usize = 2000;
/// Longest affiliate code derived from an application (it travels in `?aff=`).
pub const MAX_CODE: usize = 32;
/// Longest reason for a rejection.
pub const MAX_REASON: usize = 1000;

/// What someone typed on the join page, as it arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ApplicationForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub promotion: String,
    #[serde(default)]
    pub code: String,
}

/// A checked application (trimmed; the email lowercased).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Application {
    pub name: String,
    pub email: String,
    pub website: Option<String>,
    pub promotion: String,
    /// The code asked for, already in code form ([`code_form`]); `None` when none was.
    pub code: Option<String>,
}

/// A field that is wrong, and why (the HTTP layer answers 422 naming it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

fn text(field: &'static str, s: &str, max: usize, required: bool) -> Result<String, FieldError> {
    let s = s.trim();
    if required && s.is_empty() {
        return Err(err(field, "is required"));
    }
    if s.chars().count() > max {
        return Err(err(field, format!("must be at most {max} characters")));
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(err(field, "must not contain control characters"));
    }
    Ok(s.to_string())
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no spaces.
/// Delivery is the real check; this keeps typos and header injection out.
pub fn email_ok(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && e.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | ',' | ';' | '"'))
}

/// Checks the join page's form; the first wrong field is the error.
pub fn validate(f: &ApplicationForm) -> Result<Application, FieldError> {
    let name = text("name", &f.name, MAX_NAME, true)?;
    if name.contains(['\n', '\r']) {
        return Err(err("name", "must be one line"));
    }
    let email = f.email.trim().to_ascii_lowercase();
    if email.is_empty() {
        return Err(err("email", "is required"));
    }
    if !email_ok(&email) {
        return Err(err(
            "email",
            "is not an email address such as ana@example.com",
        ));
    }
    let website = text("website", &f.website, MAX_WEBSITE, false)?;
    let website = if website.is_empty() {
        None
    } else {
        let rest = website
            .strip_prefix("https://")
            .or_else(|| website.strip_prefix("http://"));
        match rest {
            Some(h) if !h.is_empty() && !h.contains([' ', '\n', '\r', '\t']) => Some(website),
            _ => {
                return Err(err(
                    "website",
                    "must be an http(s) address such as https://example.com",
                ))
            }
        }
    };
    let promotion = text("promotion", &f.promotion, MAX_PROMOTION, true)?;
    let wished = f.code.trim();
    let code = if wished.is_empty() {
        None
    } else {
        let c = code_form(wished);
        if c.is_empty() {
            return Err(err(
                "code",
                "must contain letters or digits (a-z, 0-9, '-' and '_' are kept)",
            ));
        }
        Some(c)
    };
    Ok(Application {
        name,
        email,
        website,
        promotion,
        code,
    })
}

/// A text in code form: lowercase ASCII letters and digits, other characters as single `-`,
/// none at either end, at most [`MAX_CODE`] characters. It is safe in a URL as it is.
pub fn code_form(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= MAX_CODE {
            break;
        }
    }
    out.trim_matches('-').to_string()
}

/// The codes to try for an approved applicant, in order: the one they asked for (else one made
/// from their name, else `partner`), then it with `-2`, `-3`, ... The first free one is theirs.
pub fn code_candidates(a: &Application) -> impl Iterator<Item = String> {
    let base = a
        .code
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| Some(code_form(&a.name)).filter(|c| !c.is_empty()))
        .unwrap_or_else(|| "partner".into());
    let first = std::iter::once(base.clone());
    let numbered = (2..).map(move |n| {
        let suffix = format!("-{n}");
        let keep = MAX_CODE.saturating_sub(suffix.len()).min(base.len());
        format!("{}{suffix}", base[..keep].trim_end_matches('-'))
    });
    // A long code that already ends in `-2` is cut to make room for the suffix and can come
    // back as itself: each candidate is offered once.
    let mut offered = std::collections::HashSet::new();
    first
        .chain(numbered)
        .filter(move |c| offered.insert(c.clone()))
}

/// An application's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationStatus {
    Pending,
    Approved,
    Rejected,
}

impl ApplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Pending => "pending",
            ApplicationStatus::Approved => "approved",
            ApplicationStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ApplicationStatus::Pending),
            "approved" => Some(ApplicationStatus::Approved),
            "rejected" => Some(ApplicationStatus::Rejected),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- outbox

/// First retry after this many seconds; each failure doubles it up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: i64 = 30;
pub const MAX_BACKOFF_SECS: i64 = 6 * 3600;

/// When a message that failed `attempts` times (1 = once) is tried again: exponential
/// backoff, capped; a message is never given up (the operator sees its last error).
pub fn next_attempt(now: i64, attempts: i64) -> i64 {
    let shift = attempts.clamp(1, 20) - 1;
    let wait = FIRST_BACKOFF_SECS
        .checked_shl(shift as u32)
        .unwrap_or(MAX_BACKOFF_SECS)
        .min(MAX_BACKOFF_SECS);
    now.saturating_add(wait)
}

// ---------------------------------------------------------------- emails

/// One email as the outbox stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// To the operator: someone applied.
pub fn application_received(
    operator: &str,
    program: &str,
    a: &Application,
    dashboard_url: &str,
) -> Email {
    Email {
        to: operator.to_string(),
        subject: format!("New affiliate application: {}", a.name),
        body: format!(
            "{name} <{email}> applied to the {program} affiliate program.\n\n\
             Website: {website}\n\
             Code asked for: {code}\n\
             How they promote:\n{promotion}\n\n\
             Approve or reject it in the dashboard: {dashboard_url}\n",
            name = a.name,
            email = a.email,
            website = a.website.as_deref().unwrap_or("(none)"),
            code = a.code.as_deref().unwrap_or("(none)"),
            promotion = a.promotion,
        ),
    }
}

/// To the applicant: approved, with their portal link.
pub fn approved(a: &Application, program: &str, code: &str, portal_url: &str) -> Email {
    Email {
        to: a.email.clone(),
        subject: format!("You are in: the {program} affiliate program"),
        body: format!(
            "Hello {name},\n\n\
             your application to the {program} affiliate program was approved.\n\
             Your affiliate code is: {code}\n\n\
             Your portal (your link to share, a link builder, your clicks, conversions and\n\
             commissions, and where to enter your payout details):\n\n\
             {portal_url}\n\n\
             Keep this link to yourself: anyone who has it sees your portal.\n",
            name = a.name,
        ),
    }
}

/// To the applicant: rejected, with the operator's reason.
pub fn rejected(a: &Application, program: &str, reason: &str) -> Email {
    Email {
        to: a.email.clone(),
        subject: format!("Your application to the {program} affiliate program"),
        body: format!(
            "Hello {name},\n\n\
             thank you for applying to the {program} affiliate program. We are not able to\n\
             accept your application.\n\n\
             Reason: {reason}\n",
            name = a.name,
        ),
    }
}

/// To an affiliate: a commission was recorded (`amount`: already formatted, with currency).
pub fn new_commission(to: &str, program: &str, amount: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: format!("New commission: {amount} ({program})"),
        body: format!(
            "A new commission of {amount} was recorded for you in the {program} affiliate\n\
             program. It becomes payable after the program's holding period.\n\n\
             Your portal (the link in your welcome email) shows it with all your figures.\n"
        ),
    }
}

/// To an affiliate: a payout was sent (`to_where`: their payout details, when given).
pub fn payout_sent(to: &str, program: &str, amount: &str, to_where: Option<&str>) -> Email {
    let dest = to_where.map(|w| format!(" to {w}")).unwrap_or_default();
    Email {
        to: to.to_string(),
        subject: format!("Payout sent: {amount} ({program})"),
        body: format!(
            "The {program} affiliate program sent you a payout of {amount}{dest}.\n\n\
             Your portal (the link in your welcome email) lists it under Payouts.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ApplicationForm {
        ApplicationForm {
            name: " Ana Lima ".into(),
            email: "Ana@Example.COM".into(),
            website: "https://ana.example".into(),
            promotion: "newsletter".into(),
            code: "Ana Lima!".into(),
        }
    }

    #[test]
    fn a_full_length_code_ending_in_a_number_is_offered_once() {
        // 32 characters ending in `-2`: cutting it for the `-2` suffix gives it back.
        let code = format!("{}-2", "a".repeat(MAX_CODE - 2));
        let a = Application {
            code: Some(code.clone()),
            ..validate(&form()).unwrap()
        };
        let list: Vec<String> = code_candidates(&a).take(3).collect();
        assert_eq!(list[0], code);
        assert_eq!(list[1], format!("{}-3", "a".repeat(MAX_CODE - 2)));
        assert_eq!(list.iter().filter(|c| **c == code).count(), 1);
    }

    #[test]
    fn a_good_form_is_trimmed_and_lowercased() {
        let a = validate(&form()).unwrap();
        assert_eq!(a.name, "Ana Lima");
        assert_eq!(a.email, "ana@example.com");
        assert_eq!(a.code.as_deref(), Some("ana-lima"));
    }

    #[test]
    fn every_bad_field_is_named() {
        type Change = fn(&mut ApplicationForm);
        let cases: [(Change, &str); 7] = [
            (|f| f.name = "  ".into(), "name"),
            (|f| f.name = "a\nb".into(), "name"),
            (|f| f.email = "ana".into(), "email"),
            (|f| f.email = "ana@x.com\r\nBcc: b@x.com".into(), "email"),
            (|f| f.website = "javascript:alert(1)".into(), "website"),
            (|f| f.promotion = String::new(), "promotion"),
            (|f| f.code = "!!!".into(), "code"),
        ];
        for (change, field) in cases {
            let mut f = form();
            change(&mut f);
            assert_eq!(validate(&f).unwrap_err().field, field, "{f:?}");
        }
    }

    #[test]
    fn codes_are_url_safe_and_bounded() {
        assert_eq!(code_form("  Bob's Deals!! "), "bob-s-deals");
        assert_eq!(code_form("ÄÖÜ"), "");
        assert!(code_form(&"x".repeat(100)).len() <= MAX_CODE);
    }

    #[test]
    fn candidates_start_with_the_wish_then_number_it() {
        let a = validate(&form()).unwrap();
        let c: Vec<_> = code_candidates(&a).take(3).collect();
        assert_eq!(c, ["ana-lima", "ana-lima-2", "ana-lima-3"]);
        let mut f = form();
        f.code = String::new();
        f.name = "€€".into();
        let a = validate(&f).unwrap();
        assert_eq!(code_candidates(&a).next().unwrap(), "partner");
        let mut f = form();
        f.code = "y".repeat(40);
        let a = validate(&f).unwrap();
        assert!(code_candidates(&a).take(200).all(|c| c.len() <= MAX_CODE));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(next_attempt(100, 1), 130);
        assert_eq!(next_attempt(100, 2), 160);
        assert_eq!(next_attempt(100, 3), 220);
        assert_eq!(next_attempt(0, 50), MAX_BACKOFF_SECS);
        assert_eq!(next_attempt(i64::MAX, 3), i64::MAX);
    }

    proptest::proptest! {
        #[test]
        fn any_text_gives_a_url_safe_code_and_distinct_candidates(name in ".{0,80}", wish in ".{0,80}") {
            let c = code_form(&wish);
            proptest::prop_assert!(c.len() <= MAX_CODE);
            proptest::prop_assert!(c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
            proptest::prop_assert!(!c.starts_with('-') && !c.ends_with('-'));
            let a = Application { name, email: "a@b.example".into(), website: None,
                promotion: "x".into(), code: Some(c).filter(|c| !c.is_empty()) };
            let list: Vec<String> = code_candidates(&a).take(50).collect();
            let mut unique = list.clone();
            unique.sort();
            unique.dedup();
            proptest::prop_assert_eq!(unique.len(), list.len());
            proptest::prop_assert!(list.iter().all(|c| !c.is_empty() && c.len() <= MAX_CODE && code_form(c) == *c));
        }
    }
}
