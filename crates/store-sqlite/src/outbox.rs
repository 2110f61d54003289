//! The outbox on SQLite: messages queued in the transaction of the fact they announce
//! (unique `dedupe_key`), leased to a worker, then marked delivered or failed.

use clicktrail_store::program::{OutboxIn, OutboxRow};
use clicktrail_store::StoreResult;
use rusqlite::{params, Connection, Row};

const COLUMNS: &str = "id, channel, dedupe_key, tenant, recipient, subject, body, attempts,
    next_attempt_at, last_error, delivered_at, created_at";

fn row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
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

/// `false` when the dedupe key is already queued (delivered or not).
pub(crate) fn enqueue(conn: &Connection, m: &OutboxIn) -> StoreResult<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO outbox (channel, dedupe_key, tenant, recipient, subject, body,
                 next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )?
        .execute(params![
            m.channel,
            m.dedupe_key,
            m.tenant,
            m.recipient,
            m.subject,
            m.body,
            m.now
        ])?;
    Ok(n == 1)
}

/// Due messages, leased until `now + lease_secs` (one job of the single writer: no other
/// worker takes them meanwhile).
pub(crate) fn claim(
    conn: &Connection,
    channel: &str,
    now: i64,
    lease_secs: i64,
    limit: i64,
) -> StoreResult<Vec<OutboxRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE channel = ?1 AND delivered_at IS NULL
         AND next_attempt_at <= ?2 ORDER BY next_attempt_at, id LIMIT ?3"
    ))?;
    let rows = st
        .query_map(params![channel, now, limit], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut lease = conn.prepare_cached("UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1")?;
    for r in &rows {
        lease.execute(params![r.id, now.saturating_add(lease_secs)])?;
    }
    Ok(rows)
}

pub(crate) fn delivered(conn: &Connection, id: i64, now: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL
         WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(())
}

pub(crate) fn failed(conn: &Connection, id: i64, error: &str, next: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
         WHERE id = ?1 AND delivered_at IS NULL",
    )?
    .execute(params![id, error, next])?;
    Ok(())
}

pub(crate) fn list(conn: &Connection, tenant: &str, limit: i64) -> StoreResult<Vec<OutboxRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE tenant = ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let out = st
        .query_map(params![tenant, limit], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

/// A tenant's messages of one channel to one recipient, newest first (a webhook endpoint's
/// delivery log).
pub(crate) fn list_for(
    conn: &Connection,
    tenant: &str,
    channel: &str,
    recipient: &str,
    limit: i64,
) -> StoreResult<Vec<OutboxRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE tenant = ?1 AND channel = ?2 AND recipient = ?3
         ORDER BY id DESC LIMIT ?4"
    ))?;
    let out = st
        .query_map(params![tenant, channel, recipient, limit], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

// ---------------------------------------------------------------- commission / payout emails

use clicktrail_app::program::NotifyRows;
use clicktrail_app::testmode::Counted;
use clicktrail_store::program::{Notice, ProgramSettings};
use clicktrail_store::StoreError;
use rusqlite::OptionalExtension;

/// The notices use case on the writer's connection (ids are in commit order here: one writer).
pub(crate) fn queue_notices(
    conn: &Connection,
    settled_before: i64,
    now: i64,
    limit: i64,
) -> StoreResult<usize> {
    clicktrail_app::run_ready(clicktrail_app::program::notify(
        &mut Notify(conn),
        settled_before,
        now,
        limit,
    ))
}

pub(crate) struct Notify<'c>(pub(crate) &'c Connection);

fn notice(r: &Row<'_>) -> rusqlite::Result<Notice> {
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
    "coalesce((SELECT count_test_payments FROM tenants WHERE id = x.tenant), 0)";

/// The affiliate's address from their newest approved application.
const EMAIL: &str = "(SELECT a.email FROM applications a WHERE a.tenant = x.tenant
    AND a.affiliate = x.affiliate AND a.status = 'approved' ORDER BY a.id DESC LIMIT 1)";

impl NotifyRows for Notify<'_> {
    type Error = StoreError;

    async fn cursor(&mut self, name: &str) -> StoreResult<i64> {
        Ok(self
            .0
            .prepare_cached("SELECT position FROM outbox_cursors WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    async fn set_cursor(&mut self, name: &str, at: i64) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO outbox_cursors (name, position) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            )?
            .execute(params![name, at])?;
        Ok(())
    }

    async fn accruals_after(
        &mut self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Counted<Notice>>> {
        let mut st = self.0.prepare_cached(&format!(
            "SELECT x.id, x.tenant, x.affiliate, x.amount_cents, x.currency, {EMAIL}, NULL,
                    c.livemode, {COUNTS_TEST}
             FROM ledger x JOIN conversions c ON c.id = x.conversion_id
             WHERE x.id > ?1 AND x.created_at < ?2 AND x.kind = 'accrual' AND x.amount_cents > 0
             ORDER BY x.id LIMIT ?3"
        ))?;
        let out = st
            .query_map(params![after, before, limit], |r| {
                Ok(Counted {
                    row: notice(r)?,
                    livemode: r.get(7)?,
                    count_test_payments: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(out)
    }

    async fn payouts_after(
        &mut self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Notice>> {
        let mut st = self.0.prepare_cached(&format!(
            "SELECT x.id, x.tenant, x.affiliate, x.amount_cents, x.currency, {EMAIL},
                    (SELECT d.method || ': ' || d.address FROM payout_details d
                      WHERE d.tenant = x.tenant AND d.affiliate = x.affiliate)
             FROM payouts x WHERE x.id > ?1 AND x.created_at < ?2 ORDER BY x.id LIMIT ?3"
        ))?;
        let out = st
            .query_map(params![after, before, limit], notice)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(out)
    }

    async fn settings(&mut self, tenant: &str) -> StoreResult<ProgramSettings> {
        crate::program::settings(self.0, tenant)
    }

    async fn enqueue(&mut self, m: &OutboxIn) -> StoreResult<bool> {
        enqueue(self.0, m)
    }
}
