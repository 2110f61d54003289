//! Single-page apps: a navigation re-runs attribution for the tenants seen.

use super::*;

pub(super) fn on_navigate() {
    let href = href();
    let href = landing(&href);
    let tenants = with(|s| {
        if s.last_href == href {
            Vec::new()
        } else {
            s.last_href = href.to_string();
            s.click_tenants.clone()
        }
    })
    .unwrap_or_default();
    for tenant in tenants {
        submit_click(tenant);
    }
}
