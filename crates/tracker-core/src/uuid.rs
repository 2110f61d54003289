//! UUID v4 formatting and checking.

use crate::json::Out;
use alloc::string::String;
/// Formats 16 random bytes as a lowercase UUID v4 (version and variant bits set).
pub fn v4_from_bytes(b: [u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    push_v4(&mut s, b);
    s
}

/// [`v4_from_bytes`] appended to `out`.
#[inline(always)]
pub fn push_v4(out: &mut (impl Out + ?Sized), mut b: [u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 15) as usize] as char);
    }
}

/// `8-4-4-4-12` hex digits (any case, any version).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_v4() {
        let u = v4_from_bytes([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&u));
        let z = v4_from_bytes([0; 16]);
        assert_eq!(z, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn checks() {
        assert!(is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
        assert!(!is_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));
        assert!(!is_uuid("0f8fad5bd-9cb-469f-a165-70867728950e"));
        assert!(!is_uuid("0f8fad5b-d9cb-469f-a165-70867728950g"));
        assert!(!is_uuid("é0f8fad5b-d9cb-469f-a165-7086772895"));
        assert!(!is_uuid(""));
    }
}
