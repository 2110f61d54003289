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
    });
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
