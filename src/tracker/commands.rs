//! The other commands: `conversion`, `signup` (and the Promise helpers), `getCid`, `tito`.

use super::*;

pub(super) fn conversion(tenant: &str, p: &JsValue, cb: Option<Function>) {
    let c = match params::conversion(p, &web::location(Part::Search)) {
        Ok(c) => c,
        Err(why) => return js::logs(&["conversion skipped: ", why]),
    };
    let cid = current(tenant, true).map(|c| c.cid);
    let id = web::new_uuid();
    match cmd::conversion_body(&c, tenant, &id, cid.as_deref()) {
        Ok(body) => send(cmd::CONVERSION, body, id, cb.map(Waiter::Answer), false),
        Err(why) => js::logs(&["conversion skipped: ", why]),
    }
}

pub(super) fn reject(rej: &Function, msg: &str) {
    js::call(rej, &js::error(msg));
}

pub(super) fn lead(tenant: &str, p: &JsValue, waiter: Option<Waiter>) {
    let fail = |msg: &str| {
        js::logs(&["signup skipped: ", msg]);
        if let Some(Waiter::Promise(_, rej)) = &waiter {
            reject(rej, msg);
        }
    };
    let params::Lead {
        customer_key,
        email,
    } = params::lead(p);
    let Some(key) = customer_key else {
        return fail("customerKey (a non-empty string) is required");
    };
    let cid = current(tenant, true).map(|c| c.cid);
    // Affitor's API takes a lead with the customer key alone (an organic visitor: its
    // documented `await affitor.signup(...)` must not reject), so does PartnerStack's
    // `createSignup`; Trackdesk's needs a CID.
    if cid.is_none() && !is_affitor(tenant) && !is_partnerstack(tenant) {
        return fail("no click ID for this visitor (not referred by an affiliate)");
    }
    let id = web::new_uuid();
    let body = cmd::lead_body(tenant, &id, cid.as_deref(), &key, email.as_deref());
    send(cmd::LEAD, body, id, waiter, false);
}

/// `trackdesk.signup(customerKey, email)` / `affitor.signup(...)`: a Promise.
pub(super) fn signup_promise(tenant: Option<String>, key: JsValue, email: JsValue) -> JsValue {
    // the executor runs synchronously inside `new Promise`: it only keeps resolve/reject
    let mut fns = None;
    let promise = js_sys::Promise::new(&mut |res, rej| fns = Some((res, rej)));
    if let Some((res, rej)) = fns {
        let tenant = tenant.or_else(|| with(|s| s.tenant.clone()).flatten());
        match tenant {
            Some(tenant) => {
                let params: JsValue = js::obj();
                js::set(&params, "customerKey", &key);
                js::set(&params, "email", &email);
                submit(Job {
                    tenant,
                    cmd: Command::Signup,
                    params,
                    cb: None,
                    waiter: Some(Waiter::Promise(res, rej)),
                });
            }
            None => reject(
                &rej,
                "no tenant yet: call trackdesk(tenantId, \"click\") first",
            ),
        }
    }
    promise.into()
}

pub(super) fn get_cid_js() -> JsValue {
    let tenant = with(|s| s.tenant.clone()).flatten();
    let cid = match tenant {
        Some(t) => current(&t, true).map(|c| c.cid),
        None => cookie::find(&cookies::all(), cookie::NAME)
            .and_then(cookie::parse)
            .map(|(_, c)| c),
    };
    cid.map(JsValue::from).unwrap_or(JsValue::NULL)
}

/// The `tito` command (builds with the `tito` feature; without it, `tito` is an unknown
/// command): the email of a Tito registration becomes the visitor's external CID.
#[cfg(feature = "tito")]
pub(super) fn tito(tenant: &str, p: &JsValue) {
    let Some(roi) = params::tito::revenue_origin(p) else {
        js::log("tito: revenueOriginId required");
        return;
    };
    let w = web::global();
    let tenant = tenant.to_string();
    let handler = js::func(Box::new(move |data, _, _, _| {
        match params::tito::email(&data) {
            Some(email) => {
                let params: JsValue = js::obj();
                js::set(&params, "externalCid", &email.into());
                js::set(&params, "revenueOriginId", &JsValue::from_str(&roi));
                submit(Job {
                    tenant: tenant.clone(),
                    cmd: Command::ExternalCid,
                    params,
                    cb: None,
                    waiter: None,
                });
            }
            None => js::log("tito: no email, skipped"),
        }
        Ok(JsValue::UNDEFINED)
    }));
    let f = match js::as_function(&js::get(&w, "tito")) {
        Some(f) => f,
        None => {
            // Tito's own queue stub, so Tito picks the registration up when it loads
            let stub = js::func(Box::new(|a, b, c, _| {
                let t = js::get(&web::global(), "tito");
                let mut q = js::get(&t, "q");
                if !js::is_array(&q) {
                    q = js::array(&[]).into();
                    js::set(&t, "q", &q);
                }
                let args = if c.is_undefined() {
                    js::array(&[&a, &b])
                } else {
                    js::array(&[&a, &b, &c])
                };
                q.unchecked_ref::<js_sys::Array>().push(&args);
                Ok(JsValue::UNDEFINED)
            }));
            js::set(&w, "tito", &stub);
            stub
        }
    };
    if let Err(e) = f.call2(&w, &"on:registration:finished".into(), &handler) {
        js::log_v("tito threw:", &e);
    }
}
