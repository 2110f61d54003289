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

/// A tenant's messages of one channel to one recipient, newest first (a webhook endpoint's
/// delivery log).
pub(crate) async fn list_for(
    store: &PgStore,
    tenant: &str,
    channel: &str,
    recipient: &str,
    limit: i64,
) -> Result<Vec<OutboxRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        &format!(
            "SELECT {COLUMNS} FROM outbox WHERE tenant = $1 AND channel = $2 AND recipient = $3
             ORDER BY id DESC LIMIT $4"
        ),
        &[&tenant, &channel, &recipient, &limit],
    )
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(row).collect())
}

// ---------------------------------------------------------------- commission / payout emails

use clicktrail_app::program::NotifyRows;
use clicktrail_app::testmode::Counted;
use clicktrail_store::program::{Notice, ProgramSettings};
use clicktrail_store::StoreError;

use crate::ops::q_opt;

/// The notices use case in one transaction; the cursor rows are locked (`FOR UPDATE`), so
/// collectors sharing the database take turns. Ids are not in commit order here, hence the
/// `settled_before` bound the caller gives.
pub(crate) async fn queue_notices(
    store: &PgStore,
    settled_before: i64,
    now: i64,
    limit: i64,
) -> Result<usize, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let n = clicktrail_app::program::notify(&mut Notify(&tx), settled_before, now, limit).await?;
    tx.commit().await?;
    Ok(n)
}

pub(crate) struct Notify<'t, 'c>(pub(crate) &'t Tx<'c>);

fn notice(r: &Row) -> Notice {
    Notice {
        id: r.get(0),
        tenant: r.get(1),
        affiliate: r.get(2),
        amount_cents: r.get(3),
        currency: r.get(4),
        email: r.get(5),
        payout_to: r.get(6),
    }
}

/// The tenant's `count_test_payments` (false for an unknown tenant).
const COUNTS_TEST: &str =
    "coalesce((SELECT count_test_payments FROM tenants WHERE id = x.tenant), false)";

const EMAIL: &str = "(SELECT a.email FROM applications a WHERE a.tenant = x.tenant
    AND a.affiliate = x.affiliate AND a.status = 'approved' ORDER BY a.id DESC LIMIT 1)";

impl NotifyRows for Notify<'_, '_> {
    type Error = Fail;

    async fn cursor(&mut self, name: &str) -> Result<i64, Fail> {
        exec(
            self.0,
            "INSERT INTO outbox_cursors (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING",
            &[&name],
        )
        .await?;
        let r = q_opt(
            self.0,
            "SELECT position FROM outbox_cursors WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await?;
        Ok(r.map(|r| r.get(0)).unwrap_or(0))
    }

    async fn set_cursor(&mut self, name: &str, at: i64) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE outbox_cursors SET position = $2 WHERE name = $1",
            &[&name, &at],
        )
        .await?;
        Ok(())
    }

    async fn accruals_after(
        &mut self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Counted<Notice>>, Fail> {
        let rows = q(
            self.0,
            &format!(
                "SELECT x.id, x.tenant, x.affiliate, x.amount_cents, x.currency, {EMAIL}, NULL::text,
                        c.livemode, {COUNTS_TEST}
                 FROM ledger x JOIN conversions c ON c.id = x.conversion_id
                 WHERE x.id > $1 AND x.created_at < $2 AND x.kind = 'accrual' AND x.amount_cents > 0
                 ORDER BY x.id LIMIT $3"
            ),
            &[&after, &before, &limit],
        )
        .await?;
        let counted = |r: &Row| Counted {
            row: notice(r),
            livemode: r.get(7),
            count_test_payments: r.get(8),
        };
        Ok(rows.iter().map(counted).collect())
    }

    async fn payouts_after(
        &mut self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Notice>, Fail> {
        let rows = q(
            self.0,
            &format!(
                "SELECT x.id, x.tenant, x.affiliate, x.amount_cents, x.currency, {EMAIL},
                        (SELECT d.method || ': ' || d.address FROM payout_details d
                          WHERE d.tenant = x.tenant AND d.affiliate = x.affiliate)
                 FROM payouts x WHERE x.id > $1 AND x.created_at < $2 ORDER BY x.id LIMIT $3"
            ),
            &[&after, &before, &limit],
        )
        .await?;
        Ok(rows.iter().map(notice).collect())
    }

    async fn settings(&mut self, tenant: &str) -> Result<ProgramSettings, Fail> {
        let r = q_opt(
            self.0,
            "SELECT settings FROM program_settings WHERE tenant = $1",
            &[&tenant],
        )
        .await?;
        match r {
            None => Ok(ProgramSettings::default()),
            Some(r) => serde_json::from_str(r.get::<_, &str>(0)).map_err(|e| {
                Fail::Store(StoreError::Internal(format!(
                    "stored program settings: {e}"
                )))
            }),
        }
    }

    async fn enqueue(&mut self, m: &OutboxIn) -> Result<bool, Fail> {
        enqueue_tx(self.0, m).await
    }
}
