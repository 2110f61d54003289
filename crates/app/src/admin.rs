//! The admin API's listings: the backends read tenant-scoped rows with plain SQL; how they are
//! shaped (an affiliate's aliases, a key's public id and scopes, which of the event log's
//! sources answer which kinds, one merged page) is decided here, once.

use std::future::Future;

use clicktrail_store::admin::{key_id, merge_events};
use clicktrail_store::{AffiliateRow, EventFilter, EventRow, KeyRow, StoreError};

/// Attaches each alias `(alias, code)` to its affiliate (aliases in the order given: sorted).
pub fn with_aliases(
    mut affiliates: Vec<AffiliateRow>,
    aliases: Vec<(String, String)>,
) -> Vec<AffiliateRow> {
    for (alias, code) in aliases {
        if let Some(a) = affiliates.iter_mut().find(|a| a.code == code) {
            a.aliases.push(alias);
        }
    }
    affiliates
}

/// A key as listed: its public id (never its hash) and its scopes.
pub fn key_row(
    hash: &str,
    scopes: &str,
    label: Option<String>,
    created_at: i64,
    revoked_at: Option<i64>,
) -> KeyRow {
    KeyRow {
        id: key_id(hash),
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        label,
        created_at,
        revoked_at,
    }
}

/// The tables the recent-event log reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    Clicks,
    Leads,
    /// Conversions and sales.
    Conversions,
    Refunds,
    /// Loader diagnostics and rejected requests (`kind = 'rejected'`).
    Diagnostics,
}

impl EventSource {
    pub const ALL: [EventSource; 5] = [
        EventSource::Clicks,
        EventSource::Leads,
        EventSource::Conversions,
        EventSource::Refunds,
        EventSource::Diagnostics,
    ];

    /// The event kinds its rows have.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            EventSource::Clicks => &["click"],
            EventSource::Leads => &["lead"],
            EventSource::Conversions => &["conversion", "sale"],
            EventSource::Refunds => &["refund"],
            EventSource::Diagnostics => &["diagnostic", "rejected"],
        }
    }
}

/// What the recent-event log reads.
pub trait EventRows {
    type Error: From<StoreError>;

    /// The source's newest rows of the tenant (of `f.affiliate` when set, since `f.since`)
    /// whose kind is one of `kinds`, newest first, at most `f.window()`.
    fn events(
        &mut self,
        source: EventSource,
        f: &EventFilter,
        kinds: &[&'static str],
    ) -> impl Future<Output = Result<Vec<EventRow>, Self::Error>>;
}

/// One page of the recent-event log: each wanted source read, merged newest first
/// (`merge_events`).
pub async fn recent_events<R: EventRows>(
    rows: &mut R,
    f: &EventFilter,
) -> Result<Vec<EventRow>, R::Error> {
    let mut out = Vec::new();
    for source in EventSource::ALL {
        let kinds: Vec<&'static str> = source
            .kinds()
            .iter()
            .copied()
            .filter(|k| f.wants(k))
            .collect();
        if !kinds.is_empty() {
            out.extend(rows.events(source, f, &kinds).await?);
        }
    }
    Ok(merge_events(out, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aff(code: &str) -> AffiliateRow {
        AffiliateRow {
            code: code.into(),
            aliases: Vec::new(),
            name: None,
            disabled: false,
            created_at: 1,
        }
    }

    #[test]
    fn aliases_go_to_their_affiliate_and_keys_show_no_hash() {
        let got = with_aliases(
            vec![aff("a"), aff("b")],
            vec![
                ("a1".into(), "a".into()),
                ("a2".into(), "a".into()),
                ("x".into(), "gone".into()),
            ],
        );
        assert_eq!(got[0].aliases, ["a1", "a2"]);
        assert!(got[1].aliases.is_empty());
        let k = key_row(&"f".repeat(64), "ingest  read", None, 5, None);
        assert_eq!(k.id, format!("key_{}", "f".repeat(16)));
        assert_eq!(k.scopes, ["ingest", "read"]);
    }
}
