//! The visitor's CID: cookie attributes, writing and removing the cookie, the
//! localStorage mirror, and the page's hidden inputs / Stripe links that show it.

use super::*;

pub(super) fn now_secs() -> i64 {
    (web::now_ms() / 1000) as i64
}

pub(super) fn href() -> String {
    web::location(Part::Href)
}

/// The landing page of `href`: without its fragment (an in-page `#anchor` link or a
/// router's hash is the same landing, not another click).
pub(super) fn landing(href: &str) -> &str {
    url::split_ascii(href, b'#').next().unwrap_or(href)
}

pub(super) fn mirror() -> Option<Mirror> {
    Mirror::parse(&storage::get(Area::Local, MIRROR_KEY)?)
}

/// Cookie attributes: Domain (configured or probed, cached) and Secure.
pub(super) fn cookie_attrs() -> (Option<String>, bool) {
    let secure = web::location(Part::Protocol) == "https:";
    let (configured, cached) =
        with(|s| (s.cfg.cookie_domain.clone(), s.domain.clone())).unwrap_or_default();
    if configured.is_some() {
        return (configured, secure);
    }
    if let Some(d) = cached {
        return (d, secure);
    }
    let mut found = None;
    for cand in cookie::domain_candidates(&web::location(Part::Hostname)) {
        let _ = cookies::write(&cookie::set_string(
            "clicktrail_probe",
            "1",
            60,
            Some(&cand),
            secure,
        ));
        if cookies::get("clicktrail_probe").is_some() {
            let _ = cookies::write(&cookie::set_string(
                "clicktrail_probe",
                "",
                0,
                Some(&cand),
                secure,
            ));
            found = Some(cand);
            break;
        }
    }
    with(|s| s.domain = Some(found.clone()));
    (found, secure)
}

/// (Always false without the `affitor` feature: what only Affitor mode does is compiled out.)
pub(super) fn is_affitor(tenant: &str) -> bool {
    cfg!(feature = "affitor") && is_mode(tenant, false)
}

/// (Always false without the `partnerstack` feature: the partner link's parsing and
/// PartnerStackJS's cookies are compiled out.)
pub(super) fn is_partnerstack(tenant: &str) -> bool {
    cfg!(feature = "partnerstack") && is_mode(tenant, true)
}

/// `tenant` is the tenant of PartnerStack mode (`ps`) or of Affitor mode.
#[inline(never)]
fn is_mode(tenant: &str, ps: bool) -> bool {
    with(|s| {
        let t = if ps {
            &s.cfg.partnerstack
        } else {
            &s.cfg.affitor
        };
        t.as_deref() == Some(tenant)
    })
    .unwrap_or(false)
}

/// The cookies of the click of `cid` as `(name, value)`: `trakdesk_cid` (and
/// `affitor_click_id` in Affitor mode; in PartnerStack mode, with the affiliate code `aff` =
/// the partner key, the cookies PartnerStackJS keeps: `partnerstack::cookies`, whose names do
/// not depend on the key).
fn click_cookies(tenant: &str, cid: &str, aff: Option<&str>) -> Vec<(String, String)> {
    let mut all = vec![(String::from(cookie::NAME), cookie::encode(tenant, cid))];
    if is_affitor(tenant) {
        all.push((String::from(cookie::AFFITOR_NAME), cid.to_string()));
    }
    if let (true, Some(key)) = (is_partnerstack(tenant), aff) {
        crate::partnerstack::push_cookies(&mut all, tenant, key, cid);
    }
    all
}

/// Writes [`click_cookies`], all with the same attributes.
pub(super) fn write_cookie(tenant: &str, cid: &str, max_age: i64, aff: Option<&str>) {
    let (domain, secure) = cookie_attrs();
    let max_age = max_age.clamp(0, MAX_LIFETIME) as u64;
    for (name, value) in &click_cookies(tenant, cid, aff) {
        if domain.is_some() {
            // a host-only cookie of the same name would shadow ours: expire it
            let _ = cookies::write(&cookie::set_string(name, "", 0, None, secure));
        }
        if let Err(e) = cookies::write(&cookie::set_string(
            name,
            value,
            max_age,
            domain.as_deref(),
            secure,
        )) {
            js::log_v("cookie write failed:", &e.into());
        }
    }
}

/// Removes what [`write_cookie`] wrote for the click of `cid`.
pub(super) fn remove_cookie(tenant: &str, cid: &str) {
    let (domain, secure) = cookie_attrs();
    for (name, _) in &click_cookies(tenant, cid, Some("")) {
        let _ = cookies::write(&cookie::set_string(name, "", 0, domain.as_deref(), secure));
        let _ = cookies::write(&cookie::set_string(name, "", 0, None, secure));
    }
}

/// The visitor's valid CID for `tenant`; with `restore`, a cookie lost before its
/// expiry is rewritten from the localStorage mirror.
pub(super) fn current(tenant: &str, restore: bool) -> Option<Current> {
    let all = cookies::all();
    let m = mirror().filter(|m| m.tenant == tenant);
    if let Some(cid) = cookie::cid_for(&all, tenant) {
        let m = m.filter(|m| m.cid == cid);
        return Some(Current {
            cid,
            expired_at: m.as_ref().and_then(|m| m.expired_at.clone()),
            aff: m.and_then(|m| m.aff),
        });
    }
    let consent = with(|s| s.gate.open()).unwrap_or(false);
    if restore && consent && cookie::find(&all, cookie::NAME).is_none() {
        let m = m?;
        let left = m.seconds_left(now_secs())?;
        js::log("CID cookie restored from localStorage");
        write_cookie(tenant, &m.cid, left, m.aff.as_deref());
        return Some(Current {
            cid: m.cid,
            expired_at: m.expired_at,
            aff: m.aff,
        });
    }
    None
}

/// A CID is known: fill hidden inputs, decorate Stripe links, watch for new elements.
/// (The DOM work runs in a later task, not on the click's path.)
pub(super) fn note_cid(cid: &str) {
    let first = with(|s| {
        s.known_cid = Some(cid.to_string());
        !core::mem::replace(&mut s.observing, true)
    })
    .unwrap_or(false);
    if first {
        history::task(start_dom);
    } else {
        refresh_dom();
    }
}

/// Later task: fill the page, then watch for elements added later.
pub(super) fn start_dom() {
    refresh_dom();
    let f: Function = js::func0(refresh_dom).unchecked_into();
    if let Err(e) = dom::observe(&f) {
        js::log_v("MutationObserver failed:", &e.into());
    }
}

/// A CID was removed (unknown affiliate, expired, replaced): take it out of hidden inputs
/// and Stripe links, and stop filling it into elements added later.
pub(super) fn forget_cid(cid: &str) {
    let stripe = with(|s| {
        if s.known_cid.as_deref() == Some(cid) {
            s.known_cid = None;
        }
        s.cfg.stripe
    })
    .unwrap_or(false);
    dom::clear_cid(cid, stripe);
}

pub(super) fn refresh_dom() {
    if let Some((Some(cid), stripe)) = with(|s| (s.known_cid.clone(), s.cfg.stripe)) {
        dom::fill_cid(&cid);
        if stripe {
            dom::decorate_stripe(&cid);
        }
    }
}
