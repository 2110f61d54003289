//! Retention: how long a tenant's raw data is kept before a background task prunes it. Only
//! raw data goes (event ids with their answers, the URL and referrer of a click, tracker
//! diagnostics); the rows that reports and money are made of (clicks themselves, leads,
//! conversions, the ledger, payouts) are kept, so a report over an older period is unchanged.

use serde::{Deserialize, Serialize};

use crate::dedupe::EVENT_RETENTION_SECS;

/// Fewest days of event ids: the tracker's outbox retries an event for 7 days, and a retry
/// must still be recognised.
pub const MIN_EVENT_DAYS: u32 = 7;
/// Most days any setting takes (ten years).
pub const MAX_DAYS: u32 = 3650;
/// Days a delivered message (email, outgoing webhook) is kept in the outbox, for every
/// tenant: long enough to answer "was it sent?", not a second copy of its personal data forever.
pub const DELIVERED_MESSAGE_DAYS: i64 = 30;

/// Delivered messages sent before this time (unix seconds) are pruned.
pub fn delivered_messages_before(now: i64) -> i64 {
    now.saturating_sub(DELIVERED_MESSAGE_DAYS * 86_400)
}

/// A tenant's retention; `None` keeps that data as without a setting (event ids 30 days,
/// click URLs until erased, the newest 10,000 diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days to keep browser event ids and their stored answers (at most the global 30 days).
    pub event_days: Option<u32>,
    /// Days to keep a click's landing URL and referrer (the click row itself stays).
    pub click_url_days: Option<u32>,
    /// Days to keep tracker diagnostics.
    pub diagnostic_days: Option<u32>,
}

impl Retention {
    /// Checks every setting; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (name, v, min) in [
            ("event_days", self.event_days, MIN_EVENT_DAYS),
            ("click_url_days", self.click_url_days, 1),
            ("diagnostic_days", self.diagnostic_days, 1),
        ] {
            if let Some(d) = v {
                if !(min..=MAX_DAYS).contains(&d) {
                    return Err((name, format!("must be between {min} and {MAX_DAYS} days")));
                }
            }
        }
        Ok(())
    }

    /// What to prune at `now` (unix seconds).
    pub fn cutoffs(&self, now: i64) -> Cutoffs {
        let before = |d: Option<u32>| d.map(|d| now.saturating_sub(i64::from(d) * 86_400));
        Cutoffs {
            // never longer than the global window, which the writer prunes anyway
            events_before: before(self.event_days)
                .map(|c| c.max(now.saturating_sub(EVENT_RETENTION_SECS))),
            click_urls_before: before(self.click_url_days),
            diagnostics_before: before(self.diagnostic_days),
        }
    }
}

/// Rows created before these times (unix seconds) are pruned; `None`: nothing of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cutoffs {
    /// `events` rows are deleted.
    pub events_before: Option<i64>,
    /// `clicks.url` and `clicks.referrer` are set to NULL.
    pub click_urls_before: Option<i64>,
    /// `diagnostics` rows are deleted.
    pub diagnostics_before: Option<i64>,
}

/// How many rows one pruning pass changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub events: u64,
    pub click_urls: u64,
    pub diagnostics: u64,
    /// Delivered outbox messages past [`DELIVERED_MESSAGE_DAYS`].
    pub messages: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_072_000;

    #[test]
    fn bounds_are_checked_by_field() {
        assert_eq!(Retention::default().validate(), Ok(()));
        let r = Retention {
            event_days: Some(6),
            ..Retention::default()
        };
        assert_eq!(r.validate().map_err(|e| e.0), Err("event_days"));
        let r = Retention {
            click_url_days: Some(0),
            ..Retention::default()
        };
        assert_eq!(r.validate().map_err(|e| e.0), Err("click_url_days"));
        let r = Retention {
            diagnostic_days: Some(MAX_DAYS + 1),
            ..Retention::default()
        };
        assert_eq!(r.validate().map_err(|e| e.0), Err("diagnostic_days"));
        let r = Retention {
            event_days: Some(7),
            click_url_days: Some(1),
            diagnostic_days: Some(MAX_DAYS),
        };
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn cutoffs_are_days_before_now_and_events_never_outlive_the_global_window() {
        assert_eq!(Retention::default().cutoffs(NOW), Cutoffs::default());
        let c = Retention {
            event_days: Some(10),
            click_url_days: Some(90),
            diagnostic_days: Some(1),
        }
        .cutoffs(NOW);
        assert_eq!(c.events_before, Some(NOW - 10 * 86_400));
        assert_eq!(c.click_urls_before, Some(NOW - 90 * 86_400));
        assert_eq!(c.diagnostics_before, Some(NOW - 86_400));
        let long = Retention {
            event_days: Some(365),
            ..Retention::default()
        }
        .cutoffs(NOW);
        assert_eq!(long.events_before, Some(NOW - EVENT_RETENTION_SECS));
    }

    #[test]
    fn settings_read_from_json_and_refuse_unknown_fields() {
        let r: Retention = serde_json::from_str(r#"{"click_url_days": 30}"#).expect("json");
        assert_eq!(r.click_url_days, Some(30));
        assert!(serde_json::from_str::<Retention>(r#"{"clicks": 30}"#).is_err());
    }
}
