//! Property tests (native) of the PartnerStack link parsing (`clicktrail::partnerstack`):
//! Base64 round trips in both alphabets, with and without padding, hostile input, and the
//! per-visitor event id and cookie names of a partner-link click.
#![cfg(not(target_arch = "wasm32"))]

use clicktrail::partnerstack::{base64_decode, base64_encode, click_event, cookies, link, MAX_XID};
use clicktrail::url::{percent_encode, CodeError};
use proptest::prelude::*;

proptest! {
    #[test]
    fn round_trips_in_every_spelling(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let std = base64_encode(&bytes);
        prop_assert_eq!(std.len() % 4, 0);
        prop_assert_eq!(base64_decode(&std), Some(bytes.clone()));
        let bare = std.trim_end_matches('=');
        prop_assert_eq!(base64_decode(bare), Some(bytes.clone()));
        let url_safe = bare.replace('+', "-").replace('/', "_");
        prop_assert_eq!(base64_decode(&url_safe), Some(bytes.clone()));
        // an unencoded `+` in a query string arrives as a space
        prop_assert_eq!(base64_decode(&std.replace('+', " ")), Some(bytes));
    }

    #[test]
    fn any_text_decodes_or_is_refused_without_panic(s in "\\PC{0,64}|[A-Za-z0-9+/=_ -]{0,64}") {
        if let Some(out) = base64_decode(&s) {
            // what it accepts is Base64: re-encoding gives the same bytes back
            prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=-_ ".contains(&b)));
            prop_assert_eq!(base64_decode(&base64_encode(&out)), Some(out));
        }
    }

    #[test]
    fn a_link_gives_the_key_it_carries(key in "[^\\p{Cc}]{1,128}", id in "[a-zA-Z0-9-]{1,40}") {
        let gspk = percent_encode(&base64_encode(key.as_bytes()));
        let (k, e) = link(&format!("?x=1&gspk={gspk}&gsxid={id}")).expect("a valid link");
        prop_assert_eq!(k, key.clone());
        prop_assert_eq!(e, Some(id.clone()));
        // `ps_partner_key` carries the key in Base64 as `gspk` does
        let (k, e) = link(&format!("?ps_partner_key={gspk}&ps_xid={id}")).expect("valid");
        prop_assert_eq!(k, key);
        prop_assert_eq!(e, Some(id));
    }

    #[test]
    fn a_hostile_link_is_no_click(v in "\\PC{0,300}") {
        match link(&format!("?gspk={}", percent_encode(&v))) {
            Ok((k, _)) => prop_assert!(clicktrail::url::valid_code(&k)),
            Err(e) => prop_assert!(e == CodeError::Invalid || v.is_empty()),
        }
    }

    #[test]
    fn one_click_id_two_visitors_two_events(
        id in "[^\\p{Cc}]{1,85}",
        a in proptest::array::uniform16(any::<u8>()),
        b in proptest::array::uniform16(any::<u8>()),
    ) {
        prop_assume!(a != b);
        let (ca, cb) = (uuid(a), uuid(b));
        let ea = click_event(&id, &ca).expect("fits");
        prop_assert!(ea.chars().count() <= 128);
        prop_assert_eq!(Some(ea.clone()), click_event(&id, &ca));
        prop_assert_ne!(Some(ea), click_event(&id, &cb));
        prop_assert!(id.chars().count() <= MAX_XID);
        // one character more and it does not fit: a random event id instead
        prop_assert_eq!(click_event(&format!("{id}{}", "x".repeat(MAX_XID + 1 - id.chars().count())), &ca), None);
    }

    #[test]
    fn cookie_names_are_cookie_tokens(tenant in "\\PC{1,64}", key in "[^\\p{Cc}]{1,128}", a in proptest::array::uniform16(any::<u8>())) {
        let cid = uuid(a);
        let all = cookies(&tenant, &key, &cid);
        for (name, value) in &all {
            prop_assert!(name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'), "{}", name);
            prop_assert!(value.bytes().all(|c| c.is_ascii_graphic() && !b";,\\\"".contains(&c)), "{}", value);
        }
        // the names do not depend on the key: the removal (which has no key) finds them
        let names = |c: &[(String, String)]| c.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        prop_assert_eq!(names(&all), names(&cookies(&tenant, "", &cid)));
    }
}

fn uuid(b: [u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
