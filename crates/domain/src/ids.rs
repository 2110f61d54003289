//! Typed identifiers.

use serde::{Deserialize, Serialize};

/// A click id: a UUID, always stored and compared in its lowercase hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cid(String);

impl Cid {
    /// A CID if `s` is a UUID (any case); `None` otherwise.
    pub fn parse(s: &str) -> Option<Cid> {
        if s.len() != 36 {
            return None;
        }
        uuid::Uuid::parse_str(s)
            .ok()
            .map(|u| Cid(u.hyphenated().to_string()))
    }

    /// A new random (v4) CID.
    pub fn generate() -> Cid {
        Cid(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    /// A CID read back from storage (already normalized when it was written).
    pub fn from_stored(s: String) -> Cid {
        Cid(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The longest id kept from outside (an event id, a billing provider's object id, a code).
pub const MAX_ID: usize = 128;

/// An id a billing provider sends, as kept: without surrounding white space, 1 to
/// [`MAX_ID`] characters; `None` otherwise (absent, blank or too long: not an id to match on).
pub fn capped(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|x| !x.is_empty() && x.chars().count() <= MAX_ID)
        .map(str::to_string)
}

impl std::fmt::Display for Cid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_rejects_non_uuids() {
        let c = Cid::parse("0B6F7C1E-3C1D-4E7A-9B1F-2A3B4C5D6E7F").unwrap();
        assert_eq!(c.as_str(), "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f");
        assert!(Cid::parse("not-a-uuid").is_none());
        assert!(Cid::parse("0b6f7c1e3c1d4e7a9b1f2a3b4c5d6e7f").is_none());
        assert_eq!(Cid::generate().as_str().len(), 36);
    }

    #[test]
    fn a_provider_id_is_trimmed_and_kept_up_to_128_characters() {
        assert_eq!(capped(Some("in_1")).as_deref(), Some("in_1"));
        assert_eq!(capped(Some(" \tch_1 \n")).as_deref(), Some("ch_1"));
        assert_eq!(capped(None), None);
        assert_eq!(capped(Some("")), None);
        assert_eq!(capped(Some("   ")), None);
        let max = "é".repeat(MAX_ID);
        assert_eq!(
            capped(Some(&max)).as_deref(),
            Some(max.as_str()),
            "characters, not bytes"
        );
        assert_eq!(
            capped(Some(&format!(" {max} "))).as_deref(),
            Some(max.as_str())
        );
        assert_eq!(capped(Some(&"x".repeat(MAX_ID + 1))), None);
    }
}
