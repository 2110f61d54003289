//! The outbox: messages queued in the transaction of the fact they announce (unique
//! `dedupe_key`), leased to one worker at a time, then marked delivered or failed; and the
//! commission and payout notices it is fed from (cursors over the ledger and the payouts).

use clicktrail_app::program::NotifyRows;
use clicktrail_app::testmode::Counted;
use clicktrail_store::program::{Notice, OutboxIn, OutboxRow, ProgramSettings};
use clicktrail_store::StoreError;

use crate::{Db, Dialect, Row, Sql};

const COLUMNS: &str = "id, channel, dedupe_key, tenant, recipient, subject, body, attempts,
    next_attempt_at, last_error, delivered_at, created_at";

fn outbox_row(r: &Row) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.get(0)?,
        channel: r.get(1)?,
        dedupe_key: r.get(2)?,
        tenant: r.get(3)?,
        recipient: r.get(4)?,
        subject: r.get(5)?,
        body: r.get(6)?,
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
        delivered_at: r.get(10)?,
        created_at: r.get(11)?,
    })
}

fn outbox_rows(rows: Vec<Row>) -> Result<Vec<OutboxRow>, StoreError> {
    rows.iter().map(outbox_row).collect()
}

/// Queues a message; `false` when the dedupe key is already queued (delivered or not).
pub async fn enqueue<D: Db>(db: &D, m: &OutboxIn) -> Result<bool, D::Error> {
    let n = db
        .execute(
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

/// Due messages of `channel`, leased until `now + lease_secs`, oldest first. PostgreSQL
/// skips the rows another collector is leasing (`FOR UPDATE SKIP LOCKED`: two collectors
/// never take one message); SQLite's single writer runs one claim at a time.
pub async fn claim<D: Db>(
    db: &D,
    channel: &str,
    now: i64,
    lease_secs: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, D::Error> {
    let skip_locked = match D::DIALECT {
        Dialect::Sqlite => "",
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
    };
    let until = now.saturating_add(lease_secs);
    let rows = db
        .query(
            &format!(
                "UPDATE outbox SET next_attempt_at = $3 WHERE id IN (
                     SELECT id FROM outbox WHERE channel = $1 AND delivered_at IS NULL
                     AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $4
                     {skip_locked})
                 RETURNING {COLUMNS}"
            ),
            &[&channel, &now, &until, &limit],
        )
        .await?;
    let mut out = outbox_rows(rows)?;
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// The message was delivered.
pub async fn delivered<D: Db>(db: &D, id: i64, now: i64) -> Result<(), D::Error> {
    db.execute(
        "UPDATE outbox SET delivered_at = $2, attempts = attempts + 1, last_error = NULL
         WHERE id = $1",
        &[&id, &now],
    )
    .await?;
    Ok(())
}

/// The attempt failed: counted, its error kept, tried again at `next`.
pub async fn failed<D: Db>(db: &D, id: i64, error: &str, next: i64) -> Result<(), D::Error> {
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3
         WHERE id = $1 AND delivered_at IS NULL",
        &[&id, &error, &next],
    )
    .await?;
    Ok(())
}

/// A tenant's messages, newest first.
pub async fn list<D: Db>(db: &D, tenant: &str, limit: i64) -> Result<Vec<OutboxRow>, D::Error> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM outbox WHERE tenant = $1 ORDER BY id DESC LIMIT $2"),
            &[&tenant, &limit],
        )
        .await?;
    Ok(outbox_rows(rows)?)
}

/// A tenant's messages of one channel to one recipient, newest first (a webhook endpoint's
/// delivery log).
pub async fn list_for<D: Db>(
    db: &D,
    tenant: &str,
    channel: &str,
    recipient: &str,
    limit: i64,
) -> Result<Vec<OutboxRow>, D::Error> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM outbox WHERE tenant = $1 AND channel = $2
                 AND recipient = $3 ORDER BY id DESC LIMIT $4"
            ),
            &[&tenant, &channel, &recipient, &limit],
        )
        .await?;
    Ok(outbox_rows(rows)?)
}

// ---------------------------------------------------------------- commission / payout emails

fn notice(r: &Row) -> Result<Notice, StoreError> {
    Ok(Notice {
        id: r.get(0)?,
        tenant: r.get(1)?,
        affiliate: r.get(2)?,
        amount_cents: r.get(3)?,
        currency: r.get(4)?,
        email: r.get(5)?,
        payout_to: r.get(6)?,
    })
}

/// The tenant's `count_test_payments` (false for an unknown tenant).
const COUNTS_TEST: &str =
    "coalesce((SELECT count_test_payments FROM tenants WHERE id = x.tenant), FALSE)";

/// The affiliate's address from their newest approved application.
const EMAIL: &str = "(SELECT a.email FROM applications a WHERE a.tenant = x.tenant
    AND a.affiliate = x.affiliate AND a.status = 'approved' ORDER BY a.id DESC LIMIT 1)";

/// The notices' rows, in the transaction of the notices use case. The cursor row is made if
/// missing, then locked (`FOR UPDATE`), so collectors sharing a PostgreSQL database take
/// turns; ids are not in commit order there, hence the `before` bound the caller gives.
impl<D: Db> NotifyRows for Sql<D> {
    type Error = D::Error;

    async fn cursor(&mut self, name: &str) -> Result<i64, D::Error> {
        self.0
            .execute(
                "INSERT INTO outbox_cursors (name, position) VALUES ($1, 0)
                 ON CONFLICT (name) DO NOTHING",
                &[&name],
            )
            .await?;
        let row = self
            .0
            .query_opt(
                "SELECT position FROM outbox_cursors WHERE name = $1 FOR UPDATE",
                &[&name],
            )
            .await?;
        Ok(row.map(|r| r.get(0)).transpose()?.unwrap_or(0))
    }

    async fn set_cursor(&mut self, name: &str, at: i64) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO outbox_cursors (name, position) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position",
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
    ) -> Result<Vec<Counted<Notice>>, D::Error> {
        let rows = self
            .0
            .query(
                &format!(
                    "SELECT x.id, x.tenant, x.affiliate, x.amount_cents, x.currency, {EMAIL},
                            CAST(NULL AS TEXT), c.livemode, {COUNTS_TEST}
                     FROM ledger x JOIN conversions c ON c.id = x.conversion_id
                     WHERE x.id > $1 AND x.created_at < $2 AND x.kind = 'accrual'
                       AND x.amount_cents > 0
                     ORDER BY x.id LIMIT $3"
                ),
                &[&after, &before, &limit],
            )
            .await?;
        let counted = |r: &Row| -> Result<Counted<Notice>, StoreError> {
            Ok(Counted {
                row: notice(r)?,
                livemode: r.get(7)?,
                count_test_payments: r.get(8)?,
            })
        };
        Ok(rows.iter().map(counted).collect::<Result<_, _>>()?)
    }

    async fn payouts_after(
        &mut self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Notice>, D::Error> {
        let rows = self
            .0
            .query(
                &format!(
                    "SELECT x.id, x.tenant, x.affiliate, x.amount_cents, x.currency, {EMAIL},
                            (SELECT d.method || ': ' || d.address FROM payout_details d
                              WHERE d.tenant = x.tenant AND d.affiliate = x.affiliate)
                     FROM payouts x WHERE x.id > $1 AND x.created_at < $2
                     ORDER BY x.id LIMIT $3"
                ),
                &[&after, &before, &limit],
            )
            .await?;
        Ok(rows.iter().map(notice).collect::<Result<_, _>>()?)
    }

    async fn settings(&mut self, tenant: &str) -> Result<ProgramSettings, D::Error> {
        crate::program::settings(&self.0, tenant).await
    }

    async fn enqueue(&mut self, m: &OutboxIn) -> Result<bool, D::Error> {
        enqueue(&self.0, m).await
    }
}
