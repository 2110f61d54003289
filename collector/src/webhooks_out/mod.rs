//! Outgoing webhooks' delivery worker (docs/webhooks.md). Every second, in its own task (never
//! on a request's path), it queues the events of the facts recorded since its last round (use
//! case `clicktrail_app::webhooks::queue_events`, one outbox row per subscribed endpoint),
//! leases the due `webhook` rows and POSTs each, signed (`domain::webhooks::sign`), to its
//! endpoint with a timeout. A 2xx marks it delivered; anything else is retried with
//! `domain::webhooks::next_retry`; an endpoint whose deliveries have all failed for
//! `domain::webhooks::DISABLE_AFTER_SECS` is disabled with a reason. Delivery is at least once
//! (a worker that stops between the POST and the mark sends it again after its lease).
//!
//! The clock is injected ([`crate::state::Clock`]), so tests run days of retries at once.

use std::sync::Arc;
use std::time::Duration;

use clicktrail_domain::webhooks::{
    acknowledged, next_retry, should_disable, sign, DISABLE_AFTER_SECS, SIGNATURE_HEADER,
};
use clicktrail_store::program::OutboxRow;
use clicktrail_store::webhooks::{EndpointRow, Outcome, CHANNEL};
use clicktrail_store::Store;

use crate::state::Clock;

/// A leased delivery belongs to this worker for this long (more than a POST can take).
const LEASE_SECS: i64 = 120;
/// Deliveries taken per round.
const BATCH: i64 = 50;
/// Facts are turned into events once they are this old: a PostgreSQL transaction still open
/// with a smaller id is then committed, and not passed by (as the program's emails).
pub const SETTLE_SECS: i64 = 60;
/// Facts of each kind read per round.
const FACTS_PER_ROUND: i64 = 500;
/// How long one POST may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest error text kept in the delivery log.
const MAX_ERROR: usize = 300;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub queued: usize,
    pub delivered: usize,
    pub failed: usize,
    pub disabled: usize,
}

/// What became of one delivery.
enum Done {
    Delivered,
    Failed,
    /// Failed, and its endpoint was disabled.
    Disabled,
    /// Not sent: its endpoint is disabled or gone.
    Skipped,
}

/// The worker: a store, an HTTP client, a clock.
pub struct Worker {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    clock: Clock,
}

impl Worker {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> anyhow::Result<Worker> {
        Worker::with_timeout(store, clock, TIMEOUT)
    }

    /// As [`Worker::new`] with another per-POST timeout (tests of a receiver that hangs).
    pub fn with_timeout(
        store: Arc<dyn Store>,
        clock: Clock,
        timeout: Duration,
    ) -> anyhow::Result<Worker> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // a receiver answers; it does not send us elsewhere
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("clicktrail-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Worker {
            store,
            client,
            clock,
        })
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Queues new events, then delivers what is due, once.
    pub async fn round(&self) -> anyhow::Result<Round> {
        let now = self.now();
        let queued = self
            .store
            .webhooks()
            .queue_webhook_events(now - SETTLE_SECS, now, FACTS_PER_ROUND)
            .await?;
        let due = self
            .store
            .program()
            .outbox_claim(CHANNEL, now, LEASE_SECS, BATCH)
            .await?;
        let mut r = Round {
            queued,
            ..Round::default()
        };
        // concurrently: a receiver that times out holds only its own deliveries
        let done = futures_util::future::join_all(due.iter().map(|m| self.deliver(m))).await;
        for d in done {
            match d? {
                Done::Delivered => r.delivered += 1,
                Done::Failed => r.failed += 1,
                Done::Disabled => {
                    r.failed += 1;
                    r.disabled += 1;
                }
                Done::Skipped => {}
            }
        }
        Ok(r)
    }

    async fn deliver(&self, m: &OutboxRow) -> anyhow::Result<Done> {
        let store = &self.store;
        let endpoint = match m.recipient.parse::<i64>() {
            Ok(id) => store.webhooks().endpoint(None, id).await?,
            Err(_) => None,
        };
        let Some(e) = endpoint else {
            // deleted meanwhile: nothing to send it to (never tried again)
            store
                .program()
                .outbox_failed(m.id, "endpoint deleted", i64::MAX)
                .await?;
            return Ok(Done::Skipped);
        };
        if !e.enabled {
            // waits; enabling the endpoint makes it due at once
            let next = self.now().saturating_add(DISABLE_AFTER_SECS);
            let why = format!(
                "endpoint disabled: {}",
                e.disabled_reason.as_deref().unwrap_or("")
            );
            store.program().outbox_failed(m.id, &why, next).await?;
            return Ok(Done::Skipped);
        }
        match self.post(&e, m).await {
            Ok(()) => {
                let now = self.now();
                store.program().outbox_delivered(m.id, now).await?;
                store
                    .webhooks()
                    .endpoint_outcome(e.id, Outcome::Delivered, now)
                    .await?;
                tracing::info!(endpoint = e.id, event = %m.subject, "webhook delivered");
                Ok(Done::Delivered)
            }
            Err(err) => {
                let now = self.now();
                let next = next_retry(now, m.attempts + 1);
                store.program().outbox_failed(m.id, &err, next).await?;
                let since = e.failing_since.unwrap_or(now);
                let disable = should_disable(Some(since), now);
                let outcome = if disable {
                    Outcome::Disable(format!(
                        "every delivery failed for {} days (last: {err})",
                        DISABLE_AFTER_SECS / 86_400
                    ))
                } else {
                    Outcome::Failed
                };
                tracing::warn!(endpoint = e.id, event = %m.subject, attempts = m.attempts + 1,
                    next_attempt_at = next, error = %err, "webhook not delivered");
                store
                    .webhooks()
                    .endpoint_outcome(e.id, outcome, now)
                    .await?;
                Ok(if disable {
                    Done::Disabled
                } else {
                    Done::Failed
                })
            }
        }
    }

    /// One signed POST; `Err` with the log's text unless the receiver answered 2xx.
    async fn post(&self, e: &EndpointRow, m: &OutboxRow) -> Result<(), String> {
        let t = self.now();
        let resp = self
            .client
            .post(&e.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(&e.secret, t, m.body.as_bytes()))
            .header("Clicktrail-Event-Id", &m.subject)
            .body(m.body.clone())
            .send()
            .await
            .map_err(|err| short(&format!("request failed: {err}")))?;
        let status = resp.status().as_u16();
        if acknowledged(status) {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }
}

fn short(s: &str) -> String {
    s.chars().take(MAX_ERROR).collect()
}

/// Starts the worker on the system clock (runs until the process ends).
pub fn spawn(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let w = Worker::new(store, crate::state::system_clock())?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match w.round().await {
                Ok(Round { queued: 0, .. }) => {}
                Ok(r) => tracing::info!(queued = r.queued, "webhook events queued"),
                Err(e) => tracing::warn!(error = %e, "webhook worker round failed"),
            }
        }
    });
    Ok(())
}
