//! The `click` command and the collector's answer to it (decisions: `attribution`).

use super::*;

pub(super) fn click_callback(cb: Option<Function>, cid: &str, expired_at: Option<&str>) {
    if let Some(f) = cb {
        js::call(&f, &js::cid_object(Some(cid), expired_at, true));
    }
}

pub(super) fn click(tenant: &str, cb: Option<Function>, at: Option<String>) {
    let href = at.unwrap_or_else(href);
    // `location.search` of that href (query_param stops at a `#`)
    let page = landing(&href);
    let search = page.get(url::find_ascii(page, b'?').unwrap_or(page.len())..);
    let Some((model, params, first_party)) = with(|s| {
        if !s.click_tenants.iter().any(|t| t == tenant) {
            s.click_tenants.push(tenant.to_string());
        }
        s.last_href = landing(&href).to_string();
        (s.cfg.model, s.cfg.params.clone(), s.first_party)
    }) else {
        return;
    };
    let search = search.unwrap_or("");
    // PartnerStack mode: the partner key of `?gspk=` / `?ps_partner_key=` first; its click
    // id (`gsxid`) with the visitor's CID is the click's event id, so the collector records
    // one click per visitor and link click
    let mut xid = None;
    let ps = if is_partnerstack(tenant) {
        crate::partnerstack::link(search)
    } else {
        Err(CodeError::Absent)
    };
    let found = match ps {
        Ok((key, id)) => {
            xid = id;
            Ok(key)
        }
        Err(CodeError::Absent) => url::affiliate_code(search, &params),
        Err(e) => Err(e),
    };
    let code = match found {
        Ok(c) => Some(c),
        Err(CodeError::Invalid) => {
            js::log("invalid affiliate code ignored");
            None
        }
        Err(CodeError::Absent) => None,
    };
    let cur = current(tenant, true);
    let key = attribution::landing_key(tenant, landing(&href));
    let counted = code.is_some() && storage::get(Area::Session, &key).is_some();
    if counted {
        js::log("landing URL already counted");
    }
    let plan = attribution::plan(
        model,
        code.as_deref(),
        cur.is_some(),
        cur.as_ref().and_then(|c| c.aff.as_deref()),
        counted,
    );
    let (Some(code), Plan::Fresh | Plan::Repeat { .. }) = (code, &plan) else {
        if let Some(c) = cur {
            note_cid(&c.cid);
            click_callback(cb, &c.cid, c.expired_at.as_deref());
        }
        return;
    };
    storage::set(Area::Session, &key, "1");
    match (plan, cur) {
        (Plan::Repeat { wait }, Some(c)) => {
            note_cid(&c.cid);
            let waiter = if wait {
                Some(Waiter::Click(tenant.to_string(), cb))
            } else {
                click_callback(cb, &c.cid, c.expired_at.as_deref());
                None
            };
            let server_cookie = attribution::server_cookie(
                first_party,
                model,
                &Plan::Repeat { wait },
                &code,
                c.aff.as_deref(),
            );
            let event = xid.and_then(|x| crate::partnerstack::click_event(&x, &c.cid));
            send_click(
                tenant,
                &code,
                &c.cid,
                &href,
                waiter,
                server_cookie,
                false,
                event,
            );
        }
        _ => {
            let cid = web::new_uuid();
            let exp = time::format(now_secs() + DEFAULT_LIFETIME);
            write_cookie(tenant, &cid, DEFAULT_LIFETIME, Some(&code));
            let m = Mirror {
                tenant: tenant.into(),
                cid: cid.clone(),
                aff: Some(code.clone()),
                expired_at: Some(exp.clone()),
            };
            storage::set(Area::Local, MIRROR_KEY, &m.encode());
            note_cid(&cid);
            click_callback(cb, &cid, Some(&exp));
            let server_cookie =
                attribution::server_cookie(first_party, model, &Plan::Fresh, &code, None);
            let event = xid.and_then(|x| crate::partnerstack::click_event(&x, &cid));
            send_click(tenant, &code, &cid, &href, None, server_cookie, true, event);
        }
    }
}

/// `server_cookie`: the collector may set the cookie for this click (first-party mode,
/// and not a first-click visitor whose cookie may belong to another affiliate). `event`:
/// the event id to use (a PartnerStack click id), else a new UUID.
#[allow(clippy::too_many_arguments)]
pub(super) fn send_click(
    tenant: &str,
    aff: &str,
    cid: &str,
    href: &str,
    waiter: Option<Waiter>,
    server_cookie: bool,
    fresh: bool,
    event: Option<String>,
) {
    let referrer = web::document().map(|d| d.referrer()).unwrap_or_default();
    let id = event.unwrap_or_else(web::new_uuid);
    let spec = server_cookie.then(|| {
        let (domain, secure) = cookie_attrs();
        cmd::CookieSpec {
            domain,
            secure,
            affitor: is_affitor(tenant),
            partnerstack: is_partnerstack(tenant),
        }
    });
    let body = cmd::click_body(tenant, &id, aff, cid, href, &referrer, spec.as_ref());
    send(cmd::CLICK, body, id, waiter, fresh);
}

/// Applies the collector's answer to a click (on this page or a later one): the decision
/// is [`attribution::settle`]; this only gathers its inputs and runs its effects.
pub(super) fn click_answer(e: &Entry, status: u16, d: Delivery, text: &str) {
    let Some(req) = json::parse(&e.body) else {
        return;
    };
    let (Some(tenant), Some(sent), Some(aff)) =
        (req.str_of("tenantId"), req.str_of("cid"), req.str_of("aff"))
    else {
        return;
    };
    let answer = match d {
        Delivery::Retry => return,
        Delivery::Done => {
            let Some(v) = json::parse(text) else {
                js::log("click answer not JSON");
                return;
            };
            let Some(cid) = v.str_of("cid").filter(|c| crate::uuid::is_uuid(c)) else {
                return;
            };
            Answer::Ok {
                cid: cid.to_ascii_lowercase(),
                expired_at: v
                    .str_of("expiredAt")
                    .filter(|x| time::parse(x).is_some())
                    .map(String::from),
            }
        }
        Delivery::Drop
            if status == 404 && cmd::error_code(text).as_deref() == Some("unknown_affiliate") =>
        {
            Answer::UnknownAffiliate
        }
        Delivery::Drop => Answer::Rejected,
    };
    let m = mirror().filter(|m| m.tenant == tenant);
    // no cookie is written without consent (an answer arriving after consent was withdrawn)
    let Some(model) = with(|s| s.gate.open().then_some(s.cfg.model)).flatten() else {
        return;
    };
    let server_cookie = req.get("cookie").is_some();
    // What the visitor holds, as recorded before this answer: in first-party mode the
    // answer's Set-Cookie has already replaced the cookie, so the mirror tells.
    let held = if server_cookie {
        match &m {
            Some(m) => Some(m.cid.clone()),
            None => Some(sent.to_string()),
        }
    } else {
        cookie::cid_for(&cookies::all(), tenant)
    };
    let now = now_secs();
    let input = attribution::Sent {
        model,
        cid: sent,
        fresh: e.fresh,
        latest: e.created >= last_applied(tenant),
        held: held.as_deref(),
        held_left: m.as_ref().and_then(|m| m.seconds_left(now)),
        server_cookie,
    };
    let expires = match &answer {
        Answer::Ok { expired_at, .. } => expired_at.as_deref().and_then(time::parse),
        _ => None,
    };
    let out = attribution::settle(&input, &answer, expires, now, DEFAULT_LIFETIME);
    if out.applied {
        set_last_applied(tenant, e.created);
    }
    match out.cookie {
        CookieOp::None => {}
        CookieOp::Write(cid, left) => write_cookie(tenant, &cid, left, Some(aff)),
        CookieOp::Remove => {
            js::log("click not attributed (unknown affiliate or already expired): cookie removed");
            remove_cookie(tenant, sent);
        }
    }
    if out.drop_mirror && m.as_ref().is_some_and(|m| m.cid == sent) {
        storage::remove(Area::Local, MIRROR_KEY);
    }
    if let Some((cid, expired_at)) = out.mirror {
        let m = Mirror {
            tenant: tenant.into(),
            cid,
            aff: Some(aff.into()),
            expired_at,
        };
        storage::set(Area::Local, MIRROR_KEY, &m.encode());
    }
    if let Some(old) = out.clear {
        forget_cid(&old);
    }
    if let Some(cid) = out.note {
        note_cid(&cid);
    }
}

/// Key of the creation time (ms) of the latest click whose answer was applied for a tenant.
pub(super) fn last_key(tenant: &str) -> String {
    crate::json::cat(&["clicktrail_last:", tenant])
}

/// Creation time of the latest click whose answer decided the attribution of `tenant`
/// (this page or an earlier one; kept in memory too when localStorage is unavailable).
pub(super) fn last_applied(tenant: &str) -> u64 {
    let stored = storage::get(Area::Local, &last_key(tenant))
        .and_then(|v| json::parse_u64(&v))
        .unwrap_or(0);
    let here = with(|s| {
        s.last_clicks
            .iter()
            .find(|(t, _)| t == tenant)
            .map(|(_, at)| *at)
    })
    .flatten()
    .unwrap_or(0);
    stored.max(here)
}

pub(super) fn set_last_applied(tenant: &str, at: u64) {
    with(|s| {
        s.last_clicks.retain(|(t, _)| t != tenant);
        s.last_clicks.push((tenant.to_string(), at));
    });
    let mut v = String::new();
    json::push_u64(&mut v, at);
    storage::set(Area::Local, &last_key(tenant), &v);
}
