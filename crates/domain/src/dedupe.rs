//! Deduplication decisions. The uniqueness itself is a database constraint (so that it holds
//! across collectors); these functions decide what a repeat gets.

/// A browser event id seen before, for endpoint `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repeat {
    /// The same event again (a retry): answer what was answered the first time.
    Replay,
    /// The id was used for another kind of event: a 409, nothing stored.
    Reused { prior_kind: String },
}

pub fn repeat(prior_kind: &str, kind: &str) -> Repeat {
    if prior_kind == kind {
        Repeat::Replay
    } else {
        Repeat::Reused {
            prior_kind: prior_kind.to_string(),
        }
    }
}

/// Browser event ids are remembered this long (the tracker's outbox keeps events 7 days).
pub const EVENT_RETENTION_SECS: i64 = 30 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_kind_replays_other_kind_conflicts() {
        assert_eq!(repeat("click", "click"), Repeat::Replay);
        assert_eq!(
            repeat("click", "lead"),
            Repeat::Reused {
                prior_kind: "click".into()
            }
        );
    }
}
