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
}
