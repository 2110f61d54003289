//! Affitor compatibility mode: `window.affitor`, `window.affitorQueue`.

use super::*;

pub(super) fn install_affitor(w: &JsValue, tenant: &str) {
    let a: JsValue = js::obj();
    let t = tenant.to_string();
    js::set(
        &a,
        "signup",
        &js::func_m(
            Box::new(move |k, e, _, _| Ok(signup_promise(Some(t.clone()), k, e))),
            js::PROMISE,
        ),
    );
    let t = tenant.to_string();
    js::set(
        &a,
        "getClickId",
        &js::func(Box::new(move |_, _, _, _| {
            Ok(current(&t, true)
                .map(|c| JsValue::from(c.cid))
                .unwrap_or(JsValue::NULL))
        })),
    );
    let t = tenant.to_string();
    let track = js::func(Box::new(move |_, _, _, _| {
        submit_click(t.clone());
        Ok(JsValue::UNDEFINED)
    }));
    js::set(&a, "trackClick", &track);
    let old_queue = js::get(w, "affitorQueue");
    js::set(w, "affitor", &a);
    submit_click(tenant.to_string());

    // affitorQueue entries: ["method", ...args]; later pushes run at once
    let aa = a.clone();
    let run_entry = move |entry: JsValue| -> JsValue {
        let Some(name) = js::get_i(&entry, 0).as_string() else {
            return JsValue::UNDEFINED;
        };
        match js::as_function(&js::get(&aa, &name)) {
            Some(f) if matches!(name.as_str(), "signup" | "getClickId" | "trackClick") => f
                .call2(&aa, &js::get_i(&entry, 1), &js::get_i(&entry, 2))
                .unwrap_or(JsValue::UNDEFINED),
            _ => {
                js::logs(&["affitorQueue: unknown ", &name]);
                JsValue::UNDEFINED
            }
        }
    };
    for i in 0..js::len(&old_queue) {
        run_entry(js::get_i(&old_queue, i));
    }
    let q: JsValue = js::obj();
    js::set(
        &q,
        "push",
        &js::func(Box::new(move |e, _, _, _| Ok(run_entry(e)))),
    );
    js::set(w, "affitorQueue", &q);
}
