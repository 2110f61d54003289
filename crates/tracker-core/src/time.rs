//! RFC 3339 (UTC) formatting and parsing, integer arithmetic only.

use crate::json::{push_u64, Out};
use alloc::string::String;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[inline(always)]
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn push2(out: &mut (impl Out + ?Sized), v: i64) {
    if v < 10 {
        out.push('0');
    }
    push_u64(out, v.max(0) as u64);
}

/// The last second [`format`] writes: 9999-12-31T23:59:59Z.
pub const LAST: u64 = 253_402_300_799;

/// `2027-01-21T02:08:35Z` for Unix seconds `secs` (clamped to years 1970..9999).
pub fn format(secs: i64) -> String {
    let mut s = String::with_capacity(20);
    push_format(&mut s, secs);
    s
}

/// [`format`] appended to `s`.
#[inline(always)]
pub fn push_format(s: &mut (impl Out + ?Sized), secs: i64) {
    let secs = secs.clamp(0, LAST as i64);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    push_u64(s, y as u64);
    s.push('-');
    push2(s, m);
    s.push('-');
    push2(s, d);
    s.push('T');
    push2(s, t / 3600);
    s.push(':');
    push2(s, t / 60 % 60);
    s.push(':');
    push2(s, t % 60);
    s.push('Z');
}

/// 28–31 (Gregorian leap years).
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn num(b: &[u8], from: usize, len: usize) -> Option<i64> {
    let mut v = 0i64;
    for c in b.get(from..from + len)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into Unix seconds.
pub fn parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (y, mo, d) = (num(b, 0, 4)?, num(b, 5, 2)?, num(b, 8, 2)?);
    let (h, mi, se) = (num(b, 11, 2)?, num(b, 14, 2)?, num(b, 17, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None; // `.` needs a digit
        }
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let (oh, om) = (num(b, i + 1, 2)?, num(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(parse("2027-01-15T08:00:00Z"), Some(1_800_000_000));
        assert_eq!(parse("2027-01-15T09:00:00.123+01:00"), Some(1_800_000_000));
        assert_eq!(
            parse("2024-02-29T00:00:00Z").map(format).as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        assert!(parse("2000-02-29T00:00:00Z").is_some());
        assert!(parse("2028-02-29T23:59:59-23:59").is_some());
        for s in [0i64, 951_782_400, 4_102_444_800, 1_234_567_890] {
            assert_eq!(parse(&format(s)), Some(s));
        }
    }

    #[test]
    fn rejects_bad() {
        for bad in [
            "",
            "2027-01-15",
            "2027-13-15T08:00:00Z",
            "2027-01-15T08:00:00",
            "2027-01-15T08:00:00Zjunk",
            "２０２７-01-15T08:00:00Z",
            "2027-01-15T08:00:00+0100",
            "2027-02-31T00:00:00Z",
            "2027-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2027-04-31T00:00:00Z",
            "2027-01-00T00:00:00Z",
            "2027-01-15T08:00:00.Z",
            "2027-01-15T08:00:00+24:00",
            "2027-01-15T08:00:00+01:60",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
