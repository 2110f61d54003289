//! localStorage / sessionStorage; unavailable storage (privacy modes, sandboxed
//! iframes, a throwing getter, quota) behaves as empty and writes report failure.

use super::window;
use alloc::string::String;

#[derive(Clone, Copy)]
pub enum Area {
    Local,
    Session,
}

fn area(a: Area) -> Option<web_sys::Storage> {
    let w = window()?;
    match a {
        Area::Local => w.local_storage(),
        Area::Session => w.session_storage(),
    }
    .ok()
    .flatten()
}

pub fn get(a: Area, key: &str) -> Option<String> {
    area(a)?.get_item(key).ok().flatten()
}

pub fn set(a: Area, key: &str, value: &str) -> bool {
    area(a).is_some_and(|s| s.set_item(key, value).is_ok())
}

pub fn remove(a: Area, key: &str) {
    if let Some(s) = area(a) {
        let _ = s.remove_item(key);
    }
}
