//! The `trackdesk` dispatcher: queue replay, argument checks, the consent gate, running commands.

use super::*;

pub(super) fn install_dispatcher(w: &JsValue) {
    let f = js::func_m(
        Box::new(|t, c, p, cb| {
            page_call(t, c, p, cb);
            Ok(JsValue::UNDEFINED)
        }),
        js::QUEUE,
    );
    js::set(
        &f,
        "signup",
        &js::func_m(
            Box::new(|k, e, _, _| Ok(signup_promise(None, k, e))),
            js::PROMISE,
        ),
    );
    js::set(
        &f,
        "getCid",
        &js::func(Box::new(|_, _, _, _| Ok(get_cid_js()))),
    );
    js::set(&f, "__clicktrail", &JsValue::TRUE);

    let mut to = js::get(w, "TrackdeskObject");
    if !js::is_array(&to) {
        to = js::array(&[&"trackdesk".into()]).into();
        js::set(w, "TrackdeskObject", &to);
    }
    let mut names: Vec<String> = Vec::new();
    for i in 0..js::len(&to).min(16) {
        if let Some(n) = js::get_i(&to, i).as_string() {
            let ident = !n.is_empty()
                && n.len() <= 64
                && n != "__proto__"
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
                && !n.as_bytes().first().is_some_and(u8::is_ascii_digit);
            if ident && !names.contains(&n) {
                names.push(n);
            }
        }
    }
    if names.is_empty() {
        names.push("trackdesk".into());
    }
    let mut queues = Vec::new();
    for n in &names {
        let old = js::get(w, n);
        // Only replace the stub (a function) or nothing: never a page object such as `location`.
        if old.is_undefined() || old.is_null() || old.is_function() {
            queues.push(js::get(&old, "q"));
            js::set(w, n, &f);
        } else {
            js::logs(&["TrackdeskObject: not a stub, skipped: ", n]);
        }
    }
    js::set(&to, "f", &f);
    // Replayed in order: up to the last `click` / `consent` now (the cookie and the click
    // first), the rest in a later task.
    let mut calls = Vec::new();
    for q in queues {
        for i in 0..js::len(&q) {
            let a = js::get_i(&q, i);
            calls.push([
                js::get_i(&a, 0),
                js::get_i(&a, 1),
                js::get_i(&a, 2),
                js::get_i(&a, 3),
            ]);
        }
    }
    let split = calls
        .iter()
        .rposition(|a| {
            matches!(
                a[1].as_string().as_deref().and_then(Command::parse),
                Some(Command::Click | Command::Consent)
            )
        })
        .map_or(0, |i| i + 1);
    // (no `split_off`/`remove`: their panic paths bring formatting code into the wasm)
    let mut later = Vec::new();
    for (i, [t, c, p, cb]) in calls.into_iter().enumerate() {
        if i < split {
            dispatch(t, c, p, cb);
        } else {
            later.push([t, c, p, cb]);
        }
    }
    if !later.is_empty() {
        with(|s| s.deferred = later);
        history::task(run_deferred);
    }
}

/// The page's `trackdesk(...)`: behind the deferred queue replay while it waits.
pub(super) fn page_call(t: JsValue, c: JsValue, p: JsValue, cb: JsValue) {
    let args = [t, c, p, cb];
    let Some(Some(args)) = with(|s| {
        if s.deferred.is_empty() {
            Some(args)
        } else {
            s.deferred.push(args);
            None
        }
    }) else {
        return;
    };
    let [t, c, p, cb] = args;
    dispatch(t, c, p, cb);
}

/// `trackdesk(tenantId, command, params?, callback?)`.
pub(super) fn dispatch(t: JsValue, c: JsValue, p: JsValue, cb: JsValue) {
    let Some(tenant) = t.as_string().filter(|t| cookie::valid_tenant(t)) else {
        js::log_v("bad tenant id:", &t);
        return;
    };
    let name = c.as_string().unwrap_or_default();
    // A deliberately panicking build (`--features panic-test`, docs/tracker.md) proves
    // that a panic inside the wasm never reaches the page's `trackdesk(...)` call.
    #[cfg(feature = "panic-test")]
    if name == "panic" {
        panic!("clicktrail panic-test");
    }
    let Some(cmd) = Command::parse(&name) else {
        js::log_v("unknown command:", &c);
        return;
    };
    let (params, cb) = match js::as_function(&p) {
        Some(f) => (JsValue::UNDEFINED, Some(f)),
        None => (p, js::as_function(&cb)),
    };
    js::log_v(&crate::json::cat(&[&tenant, " ", &name]), &params);
    submit(Job {
        tenant,
        cmd,
        params,
        cb,
        waiter: None,
    });
}

/// A `click` without callback (SPA navigation, Affitor).
pub(super) fn submit_click(tenant: String) {
    submit(Job {
        tenant,
        cmd: Command::Click,
        params: JsValue::UNDEFINED,
        cb: None,
        waiter: None,
    });
}

/// Runs a job now, or holds it until consent.
pub(super) fn submit(job: Job) {
    let at = (job.cmd == Command::Click).then(href);
    let job = with(|s| {
        if job.cmd != Command::Consent {
            s.tenant = Some(job.tenant.clone());
        }
        if !job.cmd.needs_consent() {
            return Some(job);
        }
        let job = s.gate.submit((job, at.clone())).map(|(j, _)| j);
        if job.is_none() {
            js::log("held until consent");
        }
        job
    })
    .flatten();
    if let Some(job) = job {
        run(job, at);
    }
}

pub(super) fn run(job: Job, at: Option<String>) {
    let Job {
        tenant,
        cmd,
        params,
        cb,
        waiter,
    } = job;
    match cmd {
        Command::Click => click(&tenant, cb, at),
        Command::Ready => {
            let cid = current(&tenant, true).map(|c| c.cid);
            if let Some(c) = &cid {
                note_cid(c);
            }
            if let Some(f) = cb {
                js::call(&f, &js::cid_object(cid.as_deref(), None, false));
            }
        }
        Command::Conversion => conversion(&tenant, &params, cb),
        Command::ExternalCid => match params::external_cid(&params) {
            Some((x, r)) => {
                let Some(cid) = current(&tenant, true).map(|c| c.cid) else {
                    js::log("externalCid: no CID");
                    return;
                };
                let id = web::new_uuid();
                let body = cmd::external_cid_body(&tenant, &id, &cid, &x, &r);
                send(cmd::EXTERNAL_CID, body, id, cb.map(Waiter::Answer), false);
            }
            None => js::log("externalCid: externalCid + revenueOriginId required"),
        },
        Command::Signup => lead(&tenant, &params, waiter.or(cb.map(Waiter::Answer))),
        #[cfg(feature = "tito")]
        Command::Tito => tito(&tenant, &params),
        Command::Consent => {
            let granted = params::consent_granted(&params);
            let held = with(|s| s.gate.decide(granted)).unwrap_or_default();
            if granted {
                for (j, at) in held {
                    run(j, at);
                }
                flush_due();
            }
        }
    }
}
