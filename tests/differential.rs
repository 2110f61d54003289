//! Differential tests (native only): the tracker's hand-written JSON reader against
//! serde_json, its RFC 3339 parser against chrono. Both must accept and reject the same
//! inputs (within the documented limits: the reader caps nesting at 16 levels and keeps
//! numbers as text, so numbers too large for an f64 are accepted where serde_json fails).
#![cfg(not(target_arch = "wasm32"))]

use clicktrail::{json, time};
use proptest::prelude::*;

/// serde_json's verdict, ignoring its "number out of range" errors (the reader keeps the
/// number's text and never converts it to a float).
fn serde_accepts(s: &str) -> Option<bool> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(_) => Some(true),
        Err(e) if e.to_string().contains("out of range") => None,
        Err(_) => Some(false),
    }
}

fn same_verdict(s: &str) {
    if let Some(expected) = serde_accepts(s) {
        assert_eq!(
            json::parse(s).is_some(),
            expected,
            "json::parse({s:?}) disagrees with serde_json"
        );
    }
}

#[test]
fn numbers_like_serde_json() {
    for s in [
        "-",
        "01",
        "1e+e-",
        "00",
        "-01",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "1E5",
        "1e-5",
        "-0",
        "0.0",
        "1.5e3",
        "-1.5E-3",
        "--1",
        "1..2",
        "1.2.3",
        "0x10",
        "1e5.5",
        "NaN",
        "Infinity",
        "-Infinity",
        "1 2",
        "[01]",
        "[-]",
        "{\"a\":-}",
        "{\"a\":1e}",
        "[1e+e-]",
        "[0]",
        "[-0.0e0]",
        "123456789012345678901234567890",
        "9007199254740993",
    ] {
        same_verdict(s);
    }
    assert_eq!(json::parse("-"), None);
    assert_eq!(json::parse("01"), None);
    assert_eq!(json::parse("1e+e-"), None);
    assert!(json::parse("-1.5E-3").is_some());
}

#[test]
fn documents_like_serde_json() {
    for s in [
        "",
        " ",
        "{}",
        "[]",
        "{\"a\":[1,{\"b\":null}]}",
        "[1,]",
        "{\"a\":1,}",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"\\x\"",
        "\"\t\"",
        "tru",
        "true ",
        " null",
        "nul",
        "[true,false]",
        "{\"a\" : \"b\" }",
        "{'a':1}",
        "\"a\"\"b\"",
        "[\"\\/\"]",
    ] {
        same_verdict(s);
    }
}

/// Strings built from JSON's alphabet, so random inputs are often near-valid.
fn json_like() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("0"),
            Just("1"),
            Just("9"),
            Just("-"),
            Just("+"),
            Just("."),
            Just("e"),
            Just("E"),
            Just("["),
            Just("]"),
            Just("{"),
            Just("}"),
            Just(","),
            Just(":"),
            Just("\""),
            Just("\"a\""),
            Just("\\"),
            Just("u"),
            Just(" "),
            Just("true"),
            Just("null"),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn json_reader_agrees_with_serde_json(s in json_like()) {
        same_verdict(&s);
    }

    #[test]
    fn numbers_agree_with_serde_json(s in "-?[0-9]{0,3}(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?") {
        same_verdict(&s);
    }

    /// The writer (byte-wise runs and escapes): what serde_json reads back is the text.
    #[test]
    fn written_strings_read_back_by_serde_json(s in "[\\x00-\\x7f\u{80}\u{e9}\u{2027}-\u{2029}\u{1F600}]{0,24}") {
        let mut lit = String::new();
        json::push_str_lit(&mut lit, &s);
        prop_assert_eq!(serde_json::from_str::<String>(&lit).unwrap(), s.clone());
        let raw = lit.contains('\u{2028}') || lit.contains('\u{2029}') || lit.bytes().any(|b| b < 0x20);
        prop_assert!(!raw, "unescaped separator or control character in {:?}", lit);
    }

    #[test]
    fn string_values_round_trip(s in "\\PC{0,20}") {
        let lit = serde_json::to_string(&s).unwrap();
        let v = json::parse(&lit).unwrap();
        prop_assert_eq!(v.as_str(), Some(s.as_str()));
    }
}

fn chrono_secs(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp())
}

#[test]
fn dates_like_chrono() {
    for s in [
        "2027-02-31T00:00:00Z",
        "2027-02-29T00:00:00Z",
        "2028-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "2027-04-31T00:00:00Z",
        "2027-04-30T23:59:59Z",
        "2027-01-00T00:00:00Z",
        "2027-00-10T00:00:00Z",
        "2027-13-10T00:00:00Z",
        "2027-01-15T24:00:00Z",
        "2027-01-15T08:60:00Z",
        "2027-01-15T08:00:00.Z",
        "2027-01-15T08:00:00.5Z",
        "2027-01-15T08:00:00+01:00",
        "2027-01-15T08:00:00-23:59",
        "2027-01-15T08:00:00+24:00",
        "2027-01-15T08:00:00+01:60",
        "2027-01-15t08:00:00z",
        "2027-01-15T08:00:00",
    ] {
        assert_eq!(time::parse(s), chrono_secs(s), "{s}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Every calendar date and time (the tracker's range), valid or not.
    #[test]
    fn date_parser_agrees_with_chrono(
        y in 1970u32..2200, mo in 0u32..14, d in 0u32..33,
        h in 0u32..25, mi in 0u32..61, s in 0u32..60,
        frac in prop_oneof![Just(""), Just(".5"), Just(".123456")],
        zone in prop_oneof![Just("Z".to_string()), (0u32..25, 0u32..61, any::<bool>())
            .prop_map(|(h, m, neg)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' }))],
    ) {
        let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}");
        prop_assert_eq!(time::parse(&text), chrono_secs(&text), "{}", text);
    }

    #[test]
    fn format_round_trips(secs in 0i64..253_402_300_799) {
        let text = time::format(secs);
        prop_assert_eq!(time::parse(&text), Some(secs));
        prop_assert_eq!(chrono_secs(&text), Some(secs));
    }
}
