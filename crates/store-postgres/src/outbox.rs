//! The outbox on PostgreSQL: messages queued in the transaction of the fact they announce
//! (unique `dedupe_key`), leased to one worker at a time (`FOR UPDATE SKIP LOCKED`: collectors
//! sharing the database never take the same message), then marked delivered or failed.

use clicktrail_store::program::{OutboxIn, OutboxRow};
use tokio_postgres::Row;

use crate::ops::{exec, q, Tx};
use crate::{Fail, PgStore};

const COLUMNS: &str = "id, channel, dedupe_key, tenant, recipient, subject, body, attempts,
    next_attempt_at, last_error, delivered_at, created_at";

fn row(r: &Row) -> OutboxRow {
    OutboxRow {
        id: r.get(0),
        channel: r.get(1),
        dedupe_key: r.get(2),
        tenant: r.get(3),
        recipient: r.get(4),
        subject: r.get(5),
        body: r.get(6),
        attempts: r.get(7),
        next_attempt_at: r.get(8),
        last_error: r.get(9),
        delivered_at: r.get(10),
        created_at: r.get(11),
    }
}

/// `false` when the dedupe key is already queued (delivered or not).
pub(crate) async fn enqueue_tx(tx: &Tx<'_>, m: &OutboxIn) -> Result<bool, Fail> {
    let n = exec(
        tx,
        "INSERT INTO outbox (channel, dedupe_key, tenant, recipient, subject, body,
             next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (dedupe_key) DO NOTHING",
        &[
            &m.channel,
            &m.dedupe_key,
            &m.tenant,
            &m.recipient,
            &m.subject,
            &m.body,
            &m.now,
        ],
    )
    .await?;
    Ok(n == 1)
}

pub(crate) async fn enqueue(store: &PgStore, m: &OutboxIn) -> Result<bool, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let new = enqueue_tx(&tx, m).await?;
    tx.commit().await?;
    Ok(new)
}

pub(crate) async fn claim(
    store: &PgStore,
    channel: &str,
    now: i64,
    lease_secs: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let until = now.saturating_add(lease_secs);
    let rows = q(
        &tx,
        &format!(
            "UPDATE outbox SET next_attempt_at = $3 WHERE id IN (
                 SELECT id FROM outbox WHERE channel = $1 AND delivered_at IS NULL
                 AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             RETURNING {COLUMNS}"
        ),
        &[&channel, &now, &until, &limit],
    )
    .await?;
    tx.commit().await?;
    let mut out: Vec<OutboxRow> = rows.iter().map(row).collect();
    out.sort_by_key(|r| r.id);
    Ok(out)
}

pub(crate) async fn delivered(store: &PgStore, id: i64, now: i64) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    exec(
        &tx,
        "UPDATE outbox SET delivered_at = $2, attempts = attempts + 1, last_error = NULL
         WHERE id = $1",
        &[&id, &now],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn failed(store: &PgStore, id: i64, error: &str, next: i64) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    exec(
        &tx,
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3
         WHERE id = $1 AND delivered_at IS NULL",
        &[&id, &error, &next],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn list(
    store: &PgStore,
    tenant: &str,
    limit: i64,
) -> Result<Vec<OutboxRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        &format!("SELECT {COLUMNS} FROM outbox WHERE tenant = $1 ORDER BY id DESC LIMIT $2"),
        &[&tenant, &limit],
    )
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(row).collect())
}
