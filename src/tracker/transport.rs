//! Transport: every event goes to the outbox first, then `fetch`; retries, `pagehide`.

use super::*;

pub(super) fn load(s: &State) -> Vec<Entry> {
    if s.use_mem {
        s.mem.clone()
    } else {
        outbox::decode(&storage::get(Area::Local, outbox::KEY).unwrap_or_default())
    }
}

pub(super) fn store(s: &mut State, v: Vec<Entry>) {
    if s.use_mem {
        s.mem = v;
    } else if v.is_empty() {
        storage::remove(Area::Local, outbox::KEY);
    } else if !storage::set(Area::Local, outbox::KEY, &outbox::encode(&v)) {
        js::log("localStorage unavailable or full: outbox in memory");
        s.use_mem = true;
        s.mem = v;
    }
}

pub(super) fn update_outbox(f: impl FnOnce(&mut Vec<Entry>)) {
    with(|s| {
        let mut v = load(s);
        f(&mut v);
        store(s, v);
    });
}

/// Hands an event to the transport: written to the outbox first, then sent.
pub(super) fn send(path: &str, body: String, id: String, waiter: Option<Waiter>, fresh: bool) {
    let now = web::now_ms();
    let e = Entry {
        id: id.clone(),
        path: path.into(),
        body,
        created: now,
        attempts: 0,
        next: now,
        fresh,
    };
    let stored = e.clone();
    with(move |s| {
        if let Some(w) = waiter {
            s.waiters.push((id, w));
        }
        let mut v = load(s);
        outbox::put(&mut v, stored, now);
        store(s, v);
    });
    attempt(e);
}

pub(super) fn attempt(e: Entry) {
    attempt_as(e, false);
}

/// Sends `e` now. Events other than clicks wait while a click is in flight (a lead or a
/// conversion sent with a CID the collector has not recorded yet would be a 404
/// `unknown_cid`); they go once the click settles. `now`: no waiting (`pagehide`).
pub(super) fn attempt_as(e: Entry, now: bool) {
    let is_click = e.path == cmd::CLICK;
    let url = with(|s| {
        if s.inflight.contains(&e.id) {
            None
        } else if !is_click && !now && s.clicks_inflight > 0 {
            if !s.after_click.iter().any(|x| x.id == e.id) {
                s.after_click.push(e.clone());
            }
            None
        } else {
            s.inflight.push(e.id.clone());
            if is_click {
                s.clicks_inflight += 1;
            }
            Some(crate::json::cat(&[
                s.cfg.endpoint.as_str(),
                e.path.as_str(),
            ]))
        }
    })
    .flatten();
    let Some(url) = url else {
        return;
    };
    js::logs(&["POST ", &url, " ", &e.body]);
    http::post(&url, &e.body.clone(), move |status, text| {
        answered(e, is_click, status, text)
    });
}

/// The collector's answer to an attempt of `e` (status 0: no answer): the outbox entry is
/// removed or rescheduled, the answer applied, the events held behind a click released.
fn answered(e: Entry, is_click: bool, status: u16, text: String) {
    let d = cmd::classify(status);
    let waiting = with(|s| {
        s.inflight.retain(|x| *x != e.id);
        if is_click {
            s.clicks_inflight = s.clicks_inflight.saturating_sub(1);
        }
        if s.clicks_inflight == 0 {
            core::mem::take(&mut s.after_click)
        } else {
            Vec::new()
        }
    })
    .unwrap_or_default();
    let now = web::now_ms();
    match d {
        Delivery::Retry => update_outbox(|v| outbox::failed(v, &e.id, now)),
        _ => update_outbox(|v| v.retain(|x| x.id != e.id)),
    }
    let why = cmd::error_text(status, &text);
    match d {
        Delivery::Done => {}
        Delivery::Drop => js::logs(&["dropped ", &e.path, ": ", &why]),
        Delivery::Retry => js::logs(&["will retry ", &e.path, ": ", &why]),
    }
    settle(&e, status, d, &text, &why);
    for w in waiting {
        attempt(w);
    }
    if d == Delivery::Retry {
        schedule();
    }
}

pub(super) fn settle(e: &Entry, status: u16, d: Delivery, text: &str, why: &str) {
    if e.path == cmd::CLICK {
        click_answer(e, status, d, text);
    }
    let waiter = with(|s| {
        s.waiters
            .iter()
            .position(|(id, _)| *id == e.id)
            .map(|i| s.waiters.swap_remove(i).1)
    })
    .flatten();
    match (waiter, d) {
        (Some(Waiter::Click(tenant, cb)), _) => {
            if let Some(c) = current(&tenant, true) {
                note_cid(&c.cid);
                click_callback(cb, &c.cid, c.expired_at.as_deref());
            }
        }
        (Some(Waiter::Promise(res, _)), Delivery::Done) => js::call(&res, &http::parse_json(text)),
        (Some(Waiter::Promise(_, rej)), Delivery::Drop) => reject(&rej, why),
        (Some(Waiter::Promise(_, rej)), Delivery::Retry) => reject(
            &rej,
            &crate::json::cat(&["not acknowledged (", why, "); queued and retried later"]),
        ),
        (Some(Waiter::Answer(f)), Delivery::Done) => js::call(&f, &http::parse_json(text)),
        _ => {}
    }
}

/// Arms one timer for the earliest pending retry.
pub(super) fn schedule() {
    let now = web::now_ms();
    let at = with(|s| {
        let next = outbox::next_time(
            &load(s)
                .into_iter()
                .filter(|e| !s.inflight.contains(&e.id))
                .collect::<Vec<_>>(),
        )?;
        let next = next.max(now);
        if s.timer != 0 && s.timer <= next && s.timer > now {
            return None;
        }
        s.timer = next;
        Some(next)
    })
    .flatten();
    if let Some(at) = at {
        let _ = history::later(at - now + 50, on_timer);
    }
}

pub(super) fn on_timer() {
    with(|s| s.timer = 0);
    flush_due();
}

/// Sends every outbox event whose retry time has come (from this or earlier pages).
pub(super) fn flush_due() {
    let now = web::now_ms();
    let due = with(|s| {
        if !s.gate.open() {
            return Vec::new();
        }
        let v = load(s);
        let ids = outbox::due(&v, now);
        v.into_iter()
            .filter(|e| ids.contains(&e.id) && !s.inflight.contains(&e.id))
            .collect()
    })
    .unwrap_or_default();
    for e in due {
        attempt(e);
    }
    schedule();
}

/// `pagehide`: every pending event leaves now, whatever its retry time, with
/// `fetch(…, {keepalive: true})` (never `sendBeacon`: blockers drop beacons to another
/// site while `sendBeacon` still returns `true`). They stay in the outbox until a fetch is
/// acknowledged (the collector drops duplicates by eventId).
pub(super) fn on_pagehide() {
    let pending = with(|s| {
        if !s.gate.open() {
            return Vec::new();
        }
        load(s)
            .into_iter()
            .filter(|e| !s.inflight.contains(&e.id))
            .collect()
    })
    .unwrap_or_default();
    for e in pending {
        attempt_as(e, true);
    }
}

/// The hand-over from the click-first module (`config.click`: `{id, body, created, tenant,
/// href, done}`, `done` its POST's `fetch` promise): that click becomes this tracker's own,
/// as if [`send`] had sent it. Its outbox entry (written by the click module before the
/// POST; added here if storage failed there) is in flight until the answer, which is
/// applied as any click's; a click not acknowledged is retried with the same event id.
/// Only in the click-first build (`--features handover`; not shipped, docs/tracker.md).
#[cfg(feature = "handover")]
pub(super) fn adopt(c: &JsValue) {
    let (Some(id), Some(body), Some(tenant), Some(href)) = (
        js::get_text(c, "id"),
        js::get_text(c, "body"),
        js::get_text(c, "tenant"),
        js::get_text(c, "href"),
    ) else {
        return;
    };
    let created = js::get(c, "created").as_f64().unwrap_or(0.0) as u64;
    let e = Entry {
        id: id.clone(),
        path: cmd::CLICK.into(),
        body,
        created,
        attempts: 0,
        next: created,
        fresh: true,
    };
    let stored = e.clone();
    with(|s| {
        if !s.click_tenants.contains(&tenant) {
            s.click_tenants.push(tenant);
        }
        s.last_href = landing(&href).to_string();
        let mut v = load(s);
        if !v.iter().any(|x| x.id == id) {
            outbox::put(&mut v, stored, web::now_ms());
            store(s, v);
        }
        s.inflight.push(id);
        s.clicks_inflight += 1;
    });
    // the cookie's localStorage mirror, as a fresh click writes it (the click module leaves
    // it to this module: 0.23 KB br less on the landing)
    if let Some(b) = crate::json::parse(&e.body) {
        if let (Some(cid), Some(aff)) = (b.str_of("cid"), b.str_of("aff")) {
            let m = Mirror {
                tenant: b.str_of("tenantId").unwrap_or_default().into(),
                cid: cid.into(),
                aff: Some(aff.into()),
                expired_at: Some(time::format((created / 1000) as i64 + DEFAULT_LIFETIME)),
            };
            storage::set(Area::Local, MIRROR_KEY, &m.encode());
            note_cid(cid);
        }
    }
    // no promise (the POST could not start) is a status 0: retried after the backoff
    http::answer(&js::get(c, "done"), move |status, text| {
        answered(e, true, status, text)
    });
}
