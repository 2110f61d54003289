//! Property tests (native) of the PartnerStack link parsing (`clicktrail::partnerstack`):
//! Base64 round trips in both alphabets, with and without padding, and hostile input.
#![cfg(not(target_arch = "wasm32"))]

use clicktrail::partnerstack::{base64_decode, base64_encode, link};
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
        prop_assert_eq!(e, Some(format!("gsxid:{id}")));
        let (k, e) = link(&format!("?ps_partner_key={}&ps_xid={id}", percent_encode(&key))).expect("valid");
        prop_assert_eq!(k, key);
        prop_assert_eq!(e, Some(format!("gsxid:{id}")));
    }

    #[test]
    fn a_hostile_link_is_no_click(v in "\\PC{0,300}") {
        match link(&format!("?gspk={}", percent_encode(&v))) {
            Ok((k, _)) => prop_assert!(clicktrail::url::valid_code(&k)),
            Err(e) => prop_assert!(e == CodeError::Invalid || v.is_empty()),
        }
    }
}
