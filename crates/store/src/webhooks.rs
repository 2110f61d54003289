//! What outgoing webhooks ask of a store: each tenant's endpoints, the events queued for them
//! in the outbox (channel `webhook`, recipient = the endpoint id, subject = the event id) from
//! the durable facts through cursors, and each endpoint's delivery health.

use async_trait::async_trait;
use serde::Serialize;

use crate::program::OutboxRow;
use crate::StoreResult;

/// The outbox channel of webhook deliveries.
pub const CHANNEL: &str = "webhook";

/// An endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointRow {
    pub id: i64,
    #[serde(skip)]
    pub tenant: String,
    pub url: String,
    /// Event kinds (`domain::webhooks::EventKind` names).
    pub events: Vec<String>,
    /// The signing secret: never serialized (shown once, in the creation's answer).
    #[serde(skip)]
    pub secret: String,
    pub enabled: bool,
    /// Why it is disabled (by an operator, or by the worker after days of failures).
    pub disabled_reason: Option<String>,
    /// The first failed delivery since the last success (none: healthy).
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new endpoint (URL and events already checked by the domain).
#[derive(Debug, Clone)]
pub struct EndpointIn {
    pub tenant: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub now: i64,
}

/// A change to an endpoint; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// `Some(true)` enables (clears the reason and the failure streak, and makes its waiting
    /// deliveries due at once); `Some(false)` disables with `reason`.
    pub enabled: Option<bool>,
    pub reason: Option<String>,
}

impl EndpointPatch {
    /// Applies the patch to `e`; `true` when it enables the endpoint, whose waiting deliveries
    /// are then made due at once by the backend.
    pub fn apply(&self, e: &mut EndpointRow) -> bool {
        if let Some(u) = &self.url {
            e.url = u.clone();
        }
        if let Some(ev) = &self.events {
            e.events = ev.clone();
        }
        match self.enabled {
            Some(true) => {
                e.enabled = true;
                e.disabled_reason = None;
                e.failing_since = None;
                true
            }
            Some(false) => {
                e.enabled = false;
                e.disabled_reason = self.reason.clone();
                false
            }
            None => false,
        }
    }
}

/// The outcome of one delivery, for the endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Failed,
    /// Failed, and the endpoint is now disabled for this reason.
    Disable(String),
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_endpoint(&self, e: EndpointIn) -> StoreResult<EndpointRow>;

    /// The tenant's endpoints, oldest first.
    async fn endpoints(&self, tenant: &str) -> StoreResult<Vec<EndpointRow>>;

    /// One endpoint of the tenant (`None` for another tenant's or none); `tenant = None`
    /// for the worker.
    async fn endpoint(&self, tenant: Option<&str>, id: i64) -> StoreResult<Option<EndpointRow>>;

    /// 404 `unknown_endpoint` for another tenant's or none.
    async fn update_endpoint(
        &self,
        tenant: &str,
        id: i64,
        p: EndpointPatch,
        now: i64,
    ) -> StoreResult<EndpointRow>;

    /// Deletes the endpoint and its undelivered deliveries (delivered ones stay in the log);
    /// 404 `unknown_endpoint` for another tenant's or none.
    async fn delete_endpoint(&self, tenant: &str, id: i64) -> StoreResult<()>;

    /// Records a delivery's outcome on its endpoint (failure streak, disable).
    async fn endpoint_outcome(&self, id: i64, outcome: Outcome, now: i64) -> StoreResult<()>;

    /// Queues one delivery per subscribed, enabled endpoint for every fact recorded since the
    /// cursors (use case `clicktrail_app::webhooks::queue_events`), facts older than
    /// `settled_before` only, up to `limit` facts of each kind; how many were queued.
    async fn queue_webhook_events(
        &self,
        settled_before: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<usize>;

    /// The endpoint's deliveries, newest first (its delivery log).
    async fn webhook_deliveries(
        &self,
        tenant: &str,
        endpoint: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>>;
}

/// 404 for an endpoint of another tenant or none.
pub fn unknown_endpoint(id: i64) -> crate::StoreError {
    crate::StoreError::NotFound(
        "unknown_endpoint",
        format!("no webhook endpoint has id {id}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disabled() -> EndpointRow {
        EndpointRow {
            id: 1,
            tenant: "t".into(),
            url: "https://a.example/h".into(),
            events: vec!["sale.created".into()],
            secret: "s".into(),
            enabled: false,
            disabled_reason: Some("failing for 3 days".into()),
            failing_since: Some(10),
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn enabling_clears_the_reason_and_the_streak_and_says_so() {
        let mut e = disabled();
        let p = EndpointPatch {
            enabled: Some(true),
            ..Default::default()
        };
        assert!(p.apply(&mut e));
        assert_eq!(
            (e.enabled, e.disabled_reason, e.failing_since),
            (true, None, None)
        );
    }

    #[test]
    fn other_changes_keep_the_state_and_disabling_keeps_its_reason() {
        let mut e = disabled();
        let p = EndpointPatch {
            url: Some("https://b.example/h".into()),
            ..Default::default()
        };
        assert!(!p.apply(&mut e));
        assert_eq!((e.url.as_str(), e.enabled), ("https://b.example/h", false));
        e.enabled = true;
        let off = EndpointPatch {
            enabled: Some(false),
            reason: Some("maintenance".into()),
            ..Default::default()
        };
        assert!(!off.apply(&mut e));
        assert_eq!(
            (e.enabled, e.disabled_reason.as_deref()),
            (false, Some("maintenance"))
        );
    }
}
