//! Outgoing webhook events: the same cursor feed as the program's emails
//! ([`crate::program::NotifyRows`]: cursors in `outbox_cursors`, facts read past a cursor and
//! older than a settle bound, messages queued in the one outbox under dedupe keys), one cursor
//! per event kind, one delivery per subscribed endpoint.

use std::future::Future;

use clicktrail_domain::webhooks::{event_body, EventKind, Fact};
use clicktrail_store::program::OutboxIn;
use clicktrail_store::webhooks::CHANNEL;

use crate::program::NotifyRows;
use crate::testmode::Counted;

/// What queueing webhook events reads, beside the cursors and the outbox of the feed.
pub trait WebhookRows: NotifyRows {
    /// Facts of `kind` with a row id above `after`, created before `before`, oldest first,
    /// with their sale's `livemode` (sales; true for the other kinds) and the tenant's
    /// `count_test_payments`.
    fn facts_after(
        &mut self,
        kind: EventKind,
        after: i64,
        before: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Counted<Fact>>, Self::Error>>;

    /// Ids of the tenant's enabled endpoints subscribed to `kind`.
    fn subscribers(
        &mut self,
        tenant: &str,
        kind: EventKind,
    ) -> impl Future<Output = Result<Vec<i64>, Self::Error>>;
}

/// The cursor of one event kind.
pub fn cursor_name(kind: EventKind) -> String {
    format!("webhook:{}", kind.as_str())
}

/// For every fact recorded since its kind's cursor, queues one delivery per endpoint
/// subscribed at that moment (dedupe key `<endpoint>:<event id>`: a second run queues
/// nothing), then moves the cursor past what it read; how many deliveries were queued.
pub async fn queue_events<R: WebhookRows>(
    rows: &mut R,
    settled_before: i64,
    now: i64,
    limit: i64,
) -> Result<usize, R::Error> {
    let mut queued = 0;
    for kind in EventKind::ALL {
        let cursor = cursor_name(kind);
        let after = rows.cursor(&cursor).await?;
        let facts = rows.facts_after(kind, after, settled_before, limit).await?;
        let Some(last) = facts.last().map(|f| f.row.id) else {
            continue;
        };
        // a test-mode sale is sent only when the tenant counts it
        for f in facts.iter().filter(|f| f.counts()).map(|f| &f.row) {
            let endpoints = rows.subscribers(&f.tenant, kind).await?;
            if endpoints.is_empty() {
                continue;
            }
            let (id, body) = (kind.event_id(f.id), event_body(kind, f));
            for e in endpoints {
                let m = OutboxIn {
                    channel: CHANNEL.into(),
                    dedupe_key: format!("{e}:{id}"),
                    tenant: f.tenant.clone(),
                    recipient: e.to_string(),
                    subject: id.clone(),
                    body: body.clone(),
                    now,
                };
                if rows.enqueue(&m).await? {
                    queued += 1;
                }
            }
        }
        rows.set_cursor(&cursor, last).await?;
    }
    Ok(queued)
}
