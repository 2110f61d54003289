//! Field types of the request bodies: each checks its value while the body is deserialized, so
//! a wrong field is a 422 that names it (the path comes from `serde_path_to_error`, see
//! [`super::extract`]) and a handler only ever sees valid values.
//!
//! Optional text fields are read with `#[serde(default, deserialize_with = "nonempty")]`:
//! absent, `null` and `""` are all `None` (what the tracker sends for "no value").

use std::fmt;

use clicktrail_domain::{money, Cid};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::AppError;

/// Ids, codes, keys.
pub const MAX_ID: usize = clicktrail_domain::ids::MAX_ID;
/// URLs, referrers, free text.
pub const MAX_URL: usize = 2048;
pub const MAX_EMAIL: usize = 254;
/// External CIDs are often emails (Tito registrations).
pub const MAX_EXTERNAL_CID: usize = MAX_EMAIL;
/// A DNS name.
pub const MAX_DOMAIN: usize = 253;

/// A value read from a non-empty JSON string.
pub trait FromText: Sized {
    /// The check; the error is the message shown after the field name.
    fn from_text(s: String) -> Result<Self, String>;
}

/// `deserialize_with` for optional text fields: absent, `null` and `""` are `None`; a string is
/// checked by `T`; anything else is a 422 ("must be a string").
pub fn nonempty<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromText,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => T::from_text(s).map(Some).map_err(de::Error::custom),
    }
}

/// Text of at most `MAX` characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Bounded<const MAX: usize>(String);

impl<const MAX: usize> Bounded<MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The checks of [`Bounded`], for values that do not come from a body.
pub fn check_text(s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if s.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

impl<const MAX: usize> FromText for Bounded<MAX> {
    fn from_text(s: String) -> Result<Self, String> {
        check_text(&s, MAX)?;
        Ok(Bounded(s))
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Bounded<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Bounded::from_text(String::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl<const MAX: usize> std::ops::Deref for Bounded<MAX> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A CID field as the client sent it: a UUID, or some other (bounded) text. What a non-UUID
/// means depends on the route: a click ignores it (the collector makes a CID), a conversion or
/// a lead answers 404 like any unknown CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidText {
    Uuid(Cid),
    Other(String),
}

impl CidText {
    /// The CID if the text is a UUID.
    pub fn valid(self) -> Option<Cid> {
        match self {
            CidText::Uuid(c) => Some(c),
            CidText::Other(_) => None,
        }
    }

    /// The CID, or the 404 every unknown CID gets.
    pub fn known(self) -> Result<Cid, AppError> {
        match self {
            CidText::Uuid(c) => Ok(c),
            CidText::Other(s) => Err(AppError::not_found(
                "unknown_cid",
                format!("unknown cid `{s}`"),
            )),
        }
    }
}

impl FromText for CidText {
    fn from_text(s: String) -> Result<Self, String> {
        check_text(&s, MAX_ID)?;
        Ok(match Cid::parse(&s) {
            Some(c) => CidText::Uuid(c),
            None => CidText::Other(s),
        })
    }
}

/// An email address (loosely: `local@domain`, no spaces, at most 254 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromText for Email {
    fn from_text(s: String) -> Result<Self, String> {
        check_text(&s, MAX_EMAIL)?;
        let ok = s
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
            && !s.contains(' ');
        if !ok {
            return Err("must be an email address".into());
        }
        Ok(Email(s))
    }
}

/// A decimal amount sent as a string (`"100"`, `"100.50"`), parsed exactly into cents. A JSON
/// number is refused: it may already have lost its cents in the sender's floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub i64);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal amount as a string, such as \"100.50\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Amount, E> {
                money::parse_amount(s).map(Amount).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Amount, E> {
                Err(E::custom(NUMBER_AMOUNT))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Amount, E> {
                Err(E::custom(NUMBER_AMOUNT))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Amount, E> {
                Err(E::custom(NUMBER_AMOUNT))
            }
        }
        d.deserialize_any(V)
    }
}

const NUMBER_AMOUNT: &str =
    "must be a string such as \"100.50\", not a JSON number (numbers lose cents)";

/// `amount: {"value": "100.50"}` (Trackdesk's shape); a missing or null value is 0. Only a
/// JSON object is one: a derived struct would also read an array (`"amount": []` as 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct AmountObject {
    pub value: Option<Amount>,
}

impl<'de> Deserialize<'de> for AmountObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            value: Option<Amount>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AmountObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object such as {\"value\": \"100.50\"}")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<AmountObject, A::Error> {
                let f = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(AmountObject { value: f.value })
            }
        }
        d.deserialize_map(V)
    }
}

impl AmountObject {
    pub fn cents(&self) -> i64 {
        self.value.map_or(0, |a| a.0)
    }
}

/// A positive whole number of cents sent as a JSON integer (`4900`), at most
/// [`money::MAX_CENTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositiveCents(pub i64);

impl<'de> Deserialize<'de> for PositiveCents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const NOT_POSITIVE: &str = "must be a positive integer number of cents";
        impl Visitor<'_> for V {
            type Value = PositiveCents;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive integer number of cents")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PositiveCents, E> {
                if v > 0 && v <= money::MAX_CENTS {
                    Ok(PositiveCents(v))
                } else {
                    Err(E::custom(NOT_POSITIVE))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PositiveCents, E> {
                match i64::try_from(v) {
                    Ok(v) => self.visit_i64(v),
                    Err(_) => Err(E::custom(NOT_POSITIVE)),
                }
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<PositiveCents, E> {
                Err(E::custom(
                    "must be an integer number of cents (no decimals)",
                ))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<PositiveCents, E> {
                Err(E::custom("must be a JSON integer (cents), not a string"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Free text kept for operators (diagnostics): never refused, cut to `MAX` characters; a
/// non-string value is kept as its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated<const MAX: usize>(pub String);

impl<'de, const MAX: usize> Deserialize<'de> for Truncated<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match Value::deserialize(d)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        Ok(Truncated(text.chars().take(MAX).collect()))
    }
}

/// `couponCodes`: an array of at most 50 codes (a single string is taken as one code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CouponCodes(pub Vec<Bounded<MAX_ID>>);

pub const MAX_COUPONS: usize = 50;

impl<'de> Deserialize<'de> for CouponCodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CouponCodes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<CouponCodes, E> {
                Bounded::from_text(s.to_string())
                    .map(|c| CouponCodes(vec![c]))
                    .map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CouponCodes, A::Error> {
                let mut codes = Vec::new();
                while let Some(code) = seq.next_element::<Bounded<MAX_ID>>()? {
                    if codes.len() == MAX_COUPONS {
                        return Err(de::Error::custom(format!(
                            "must have at most {MAX_COUPONS} codes"
                        )));
                    }
                    codes.push(code);
                }
                Ok(CouponCodes(codes))
            }
        }
        d.deserialize_any(V)
    }
}

/// `customParams`: an object of at most 20 entries, each value at most 2048 characters
/// (normally strings: the tracker resolves `{queryParam}` entries; other JSON values are kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct CustomParams(pub Map<String, Value>);

pub const MAX_CUSTOM_PARAMS: usize = 20;

/// One `customParams` value, checked where it stands (so the error names `customParams.KEY`).
struct ParamValue(Value);

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let size = match &v {
            Value::String(s) => s.chars().count(),
            other => other.to_string().len(),
        };
        if size > MAX_URL {
            return Err(de::Error::custom(format!(
                "must be at most {MAX_URL} characters"
            )));
        }
        Ok(ParamValue(v))
    }
}

impl<'de> Deserialize<'de> for CustomParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CustomParams;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object such as {\"advS1\": \"...\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CustomParams, A::Error> {
                let mut out = Map::new();
                while let Some(k) = map.next_key::<String>()? {
                    let ParamValue(v) = map.next_value()?;
                    if out.len() == MAX_CUSTOM_PARAMS {
                        return Err(de::Error::custom(format!(
                            "must have at most {MAX_CUSTOM_PARAMS} entries"
                        )));
                    }
                    out.insert(k, v);
                }
                Ok(CustomParams(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::extract::parse_json;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default, deserialize_with = "nonempty")]
        name: Option<Bounded<5>>,
        #[serde(default, deserialize_with = "nonempty")]
        cid: Option<CidText>,
        #[serde(default, deserialize_with = "nonempty")]
        email: Option<Email>,
        #[serde(default)]
        amount: Option<AmountObject>,
        #[serde(default)]
        cents: Option<PositiveCents>,
        #[serde(default)]
        note: Option<Truncated<4>>,
        #[serde(default)]
        coupon_codes: Option<CouponCodes>,
        #[serde(default)]
        custom_params: Option<CustomParams>,
    }

    fn probe(json: &str) -> Result<Probe, AppError> {
        parse_json::<Probe>(json.as_bytes())
    }

    fn field_of(json: &str) -> (String, String) {
        match probe(json) {
            Err(AppError::Invalid { field, message }) => (field, message),
            other => panic!("{json}: expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn empty_and_null_text_are_absent() {
        for j in [r#"{}"#, r#"{"name":null}"#, r#"{"name":""}"#] {
            assert_eq!(probe(j).unwrap().name, None, "{j}");
        }
        assert_eq!(
            probe(r#"{"name":"abcde"}"#).unwrap().name.unwrap().as_str(),
            "abcde"
        );
        assert_eq!(
            field_of(r#"{"name":"abcdef"}"#),
            ("name".into(), "must be at most 5 characters".into())
        );
        assert_eq!(
            field_of(r#"{"name":"a\u0007"}"#),
            ("name".into(), "must not contain control characters".into())
        );
        let (f, m) = field_of(r#"{"name":5}"#);
        assert_eq!(f, "name");
        assert!(m.starts_with("must be a string"), "{m}");
    }

    #[test]
    fn cids_emails_and_amounts() {
        let p = probe(r#"{"cid":"0B6F7C1E-3C1D-4E7A-9B1F-2A3B4C5D6E7F"}"#).unwrap();
        assert_eq!(
            p.cid.unwrap().valid().unwrap().as_str(),
            "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f"
        );
        let p = probe(r#"{"cid":"not-a-uuid"}"#).unwrap();
        assert_eq!(p.cid.clone().unwrap().valid(), None);
        assert_eq!(p.cid.unwrap().known().unwrap_err().code(), "unknown_cid");
        assert_eq!(
            field_of(&format!(r#"{{"cid":"{}"}}"#, "c".repeat(129))).0,
            "cid"
        );

        assert!(probe(r#"{"email":"a@b.c"}"#).unwrap().email.is_some());
        assert_eq!(field_of(r#"{"email":"nope"}"#).0, "email");

        assert_eq!(
            probe(r#"{"amount":{"value":"100.50"}}"#)
                .unwrap()
                .amount
                .unwrap()
                .cents(),
            10050
        );
        assert_eq!(
            probe(r#"{"amount":{}}"#).unwrap().amount.unwrap().cents(),
            0
        );
        assert_eq!(
            probe(r#"{"amount":{"value":null}}"#)
                .unwrap()
                .amount
                .unwrap()
                .cents(),
            0
        );
        let (f, m) = field_of(r#"{"amount":{"value":100.5}}"#);
        assert_eq!(f, "amount.value");
        assert!(m.contains("not a JSON number"), "{m}");
        assert_eq!(field_of(r#"{"amount":{"value":""}}"#).0, "amount.value");
        for j in [
            r#"{"amount":"100"}"#,
            r#"{"amount":[]}"#,
            r#"{"amount":["100.50"]}"#,
        ] {
            let (f, m) = field_of(j);
            assert_eq!(f, "amount", "{j}");
            assert!(m.contains("{\"value\": \"100.50\"}"), "{j}: {m}");
        }
    }

    #[test]
    fn positive_cents() {
        assert_eq!(
            probe(r#"{"cents":4900}"#).unwrap().cents,
            Some(PositiveCents(4900))
        );
        for (j, msg) in [
            (r#"{"cents":0}"#, "positive"),
            (r#"{"cents":-5}"#, "positive"),
            (r#"{"cents":10.5}"#, "no decimals"),
            (r#"{"cents":"100"}"#, "not a string"),
            (r#"{"cents":18446744073709551615}"#, "positive"),
            (r#"{"cents":100000000000000}"#, "positive"),
        ] {
            let (f, m) = field_of(j);
            assert_eq!(f, "cents", "{j}");
            assert!(m.contains(msg), "{j}: {m}");
        }
    }

    #[test]
    fn truncated_coupons_and_params() {
        assert_eq!(
            probe(r#"{"note":"abcdefgh"}"#).unwrap().note.unwrap().0,
            "abcd"
        );
        assert_eq!(
            probe(r#"{"note":{"a":1}}"#).unwrap().note.unwrap().0,
            "{\"a\""
        );
        let p = probe(r#"{"couponCodes":"SPRING"}"#).unwrap();
        assert_eq!(p.coupon_codes.unwrap().0[0].as_str(), "SPRING");
        assert_eq!(field_of(r#"{"couponCodes":["a",5]}"#).0, "couponCodes[1]");
        let many = serde_json::to_string(&vec!["c"; 51]).unwrap();
        assert_eq!(
            field_of(&format!(r#"{{"couponCodes":{many}}}"#)).0,
            "couponCodes"
        );
        let p = probe(r#"{"customParams":{"advS1":"x","n":5}}"#).unwrap();
        assert_eq!(p.custom_params.unwrap().0.len(), 2);
        let long = "x".repeat(2049);
        assert_eq!(
            field_of(&format!(r#"{{"customParams":{{"advS1":"{long}"}}}}"#)).0,
            "customParams.advS1"
        );
        assert_eq!(field_of(r#"{"customParams":[1]}"#).0, "customParams");
    }
}
