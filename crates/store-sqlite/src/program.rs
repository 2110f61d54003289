//! The affiliate program on SQLite: applications (the use cases `clicktrail_app::program` over
//! these rows, run by the single writer inside one job), settings, payout details.
//! The outbox's SQL is in `outbox.rs`.

use clicktrail_app::program::ProgramRows;
use clicktrail_app::run_ready;
use clicktrail_domain::program::ApplicationStatus;
use clicktrail_store::program::{
    ApplicationRow, DecideIn, OutboxIn, PayoutDetails, ProgramSettings, SubmitIn, Submitted,
};
use clicktrail_store::{ChangeIn, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{outbox, portal};

const COLUMNS: &str = "id, status, name, email, website, promotion, wished_code, affiliate, reason,
    created_at, decided_at";

fn row(r: &Row<'_>) -> rusqlite::Result<ApplicationRow> {
    Ok(ApplicationRow {
        id: r.get(0)?,
        status: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        website: r.get(4)?,
        promotion: r.get(5)?,
        wished_code: r.get(6)?,
        affiliate: r.get(7)?,
        reason: r.get(8)?,
        created_at: r.get(9)?,
        decided_at: r.get(10)?,
    })
}

pub(crate) fn settings(conn: &Connection, tenant: &str) -> StoreResult<ProgramSettings> {
    let text: Option<String> = conn
        .prepare_cached("SELECT settings FROM program_settings WHERE tenant = ?1")?
        .query_row([tenant], |r| r.get(0))
        .optional()?;
    match text {
        None => Ok(ProgramSettings::default()),
        Some(t) => serde_json::from_str(&t)
            .map_err(|e| StoreError::Internal(format!("stored program settings: {e}"))),
    }
}

pub(crate) fn set_settings(
    conn: &Connection,
    tenant: &str,
    s: &ProgramSettings,
    now: i64,
) -> StoreResult<()> {
    let text = serde_json::to_string(s).map_err(|e| StoreError::Internal(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO program_settings (tenant, settings, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )?
    .execute(params![tenant, text, now])?;
    Ok(())
}

pub(crate) fn submit(conn: &Connection, s: &SubmitIn) -> StoreResult<Submitted> {
    run_ready(clicktrail_app::program::submit(&mut Rows(conn), s))
}

pub(crate) fn decide(conn: &Connection, d: &DecideIn) -> StoreResult<ApplicationRow> {
    run_ready(clicktrail_app::program::decide(&mut Rows(conn), d))
}

pub(crate) fn list(
    conn: &Connection,
    tenant: &str,
    status: Option<&str>,
) -> StoreResult<Vec<ApplicationRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM applications WHERE tenant = ?1 AND (?2 IS NULL OR status = ?2)
         ORDER BY id DESC LIMIT 1000"
    ))?;
    let out = st
        .query_map(params![tenant, status], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

pub(crate) fn affiliate_email(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT email FROM applications WHERE tenant = ?1 AND affiliate = ?2
             AND status = 'approved' ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![tenant, affiliate], |r| r.get(0))
        .optional()?)
}

pub(crate) fn payout_details(
    conn: &Connection,
    tenant: &str,
    affiliate: Option<&str>,
) -> StoreResult<Vec<(String, PayoutDetails)>> {
    let mut st = conn.prepare_cached(
        "SELECT affiliate, method, address, updated_at FROM payout_details
         WHERE tenant = ?1 AND (?2 IS NULL OR affiliate = ?2) ORDER BY affiliate",
    )?;
    let out = st
        .query_map(params![tenant, affiliate], |r| {
            Ok((
                r.get(0)?,
                PayoutDetails {
                    method: r.get(1)?,
                    address: r.get(2)?,
                    updated_at: r.get(3)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

pub(crate) fn set_payout_details(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    d: &PayoutDetails,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO payout_details (tenant, affiliate, method, address, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant, affiliate) DO UPDATE SET method = excluded.method,
             address = excluded.address, updated_at = excluded.updated_at",
    )?
    .execute(params![
        tenant,
        affiliate,
        d.method,
        d.address,
        d.updated_at
    ])?;
    Ok(())
}

/// The program's rows on the writer's connection (one job: the single writer is the lock).
struct Rows<'c>(&'c Connection);

impl ProgramRows for Rows<'_> {
    type Error = StoreError;

    async fn active_application(
        &mut self,
        tenant: &str,
        email: &str,
    ) -> StoreResult<Option<ApplicationRow>> {
        Ok(self
            .0
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM applications WHERE tenant = ?1 AND email = ?2
                 AND status IN ('pending', 'approved') LIMIT 1"
            ))?
            .query_row(params![tenant, email], row)
            .optional()?)
    }

    async fn insert_application(&mut self, s: &SubmitIn) -> StoreResult<ApplicationRow> {
        let a = &s.application;
        self.0
            .prepare_cached(
                "INSERT INTO applications (tenant, status, name, email, website, promotion,
                     wished_code, created_at)
                 VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                s.tenant,
                a.name,
                a.email,
                a.website,
                a.promotion,
                a.code,
                s.now
            ])?;
        let id = self.0.last_insert_rowid();
        self.lock_application(&s.tenant, id)
            .await?
            .ok_or_else(|| StoreError::Internal("inserted application not found".into()))
    }

    async fn lock_application(
        &mut self,
        tenant: &str,
        id: i64,
    ) -> StoreResult<Option<ApplicationRow>> {
        Ok(self
            .0
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM applications WHERE tenant = ?1 AND id = ?2"
            ))?
            .query_row(params![tenant, id], row)
            .optional()?)
    }

    async fn code_taken(&mut self, tenant: &str, code: &str) -> StoreResult<bool> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT 1 FROM affiliates WHERE tenant = ?1 AND code = ?2
                 UNION ALL SELECT 1 FROM affiliate_aliases WHERE tenant = ?1 AND alias = ?2",
            )?
            .query_row(params![tenant, code], |_| Ok(()))
            .optional()?
            .is_some())
    }

    async fn change_catalog(&mut self, c: &ChangeIn) -> StoreResult<()> {
        crate::catalog::change(self.0, c)
    }

    async fn portal_link(
        &mut self,
        tenant: &str,
        affiliate: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        portal::link(self.0, tenant, affiliate, token_hash, now)
    }

    async fn set_decision(
        &mut self,
        tenant: &str,
        id: i64,
        status: ApplicationStatus,
        affiliate: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "UPDATE applications SET status = ?3, affiliate = ?4, reason = ?5, decided_at = ?6
                 WHERE tenant = ?1 AND id = ?2",
            )?
            .execute(params![tenant, id, status.as_str(), affiliate, reason, now])?;
        Ok(())
    }

    async fn enqueue(&mut self, m: &OutboxIn) -> StoreResult<bool> {
        outbox::enqueue(self.0, m)
    }
}

// ---------------------------------------------------------------- the store's interface

use async_trait::async_trait;
use clicktrail_store::program::ProgramStore;

use crate::SqliteStore;

#[async_trait]
impl ProgramStore for SqliteStore {
    async fn program_settings(&self, tenant: &str) -> StoreResult<ProgramSettings> {
        let t = tenant.to_string();
        self.read(move |c| settings(c, &t)).await
    }

    async fn set_program_settings(
        &self,
        tenant: &str,
        s: &ProgramSettings,
        now: i64,
    ) -> StoreResult<()> {
        let (t, s) = (tenant.to_string(), s.clone());
        self.exec(move |c| set_settings(c, &t, &s, now)).await
    }

    async fn submit_application(&self, s: SubmitIn) -> StoreResult<Submitted> {
        self.exec(move |c| submit(c, &s)).await
    }

    async fn applications(
        &self,
        tenant: &str,
        status: Option<&str>,
    ) -> StoreResult<Vec<ApplicationRow>> {
        let (t, s) = (tenant.to_string(), status.map(str::to_string));
        self.read(move |c| list(c, &t, s.as_deref())).await
    }

    async fn decide_application(&self, d: DecideIn) -> StoreResult<ApplicationRow> {
        self.exec(move |c| decide(c, &d)).await
    }

    async fn payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
    ) -> StoreResult<Option<PayoutDetails>> {
        let (t, a) = (tenant.to_string(), affiliate.to_string());
        let all = self.read(move |c| payout_details(c, &t, Some(&a))).await?;
        Ok(all.into_iter().next().map(|(_, d)| d))
    }

    async fn all_payout_details(&self, tenant: &str) -> StoreResult<Vec<(String, PayoutDetails)>> {
        let t = tenant.to_string();
        self.read(move |c| payout_details(c, &t, None)).await
    }

    async fn set_payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
        d: &PayoutDetails,
    ) -> StoreResult<()> {
        let (t, a, d) = (tenant.to_string(), affiliate.to_string(), d.clone());
        self.exec(move |c| set_payout_details(c, &t, &a, &d)).await
    }

    async fn affiliate_email(&self, tenant: &str, affiliate: &str) -> StoreResult<Option<String>> {
        let (t, a) = (tenant.to_string(), affiliate.to_string());
        self.read(move |c| affiliate_email(c, &t, &a)).await
    }

    async fn enqueue(&self, m: OutboxIn) -> StoreResult<bool> {
        self.exec(move |c| outbox::enqueue(c, &m)).await
    }

    async fn outbox_claim(
        &self,
        channel: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
    ) -> StoreResult<Vec<clicktrail_store::program::OutboxRow>> {
        let ch = channel.to_string();
        self.exec(move |c| outbox::claim(c, &ch, now, lease_secs, limit))
            .await
    }

    async fn outbox_delivered(&self, id: i64, now: i64) -> StoreResult<()> {
        self.exec(move |c| outbox::delivered(c, id, now)).await
    }

    async fn outbox_failed(&self, id: i64, error: &str, next_attempt_at: i64) -> StoreResult<()> {
        let e = error.to_string();
        self.exec(move |c| outbox::failed(c, id, &e, next_attempt_at))
            .await
    }

    async fn queue_notices(&self, settled_before: i64, now: i64, limit: i64) -> StoreResult<usize> {
        self.exec(move |c| outbox::queue_notices(c, settled_before, now, limit))
            .await
    }

    async fn outbox(
        &self,
        tenant: &str,
        limit: i64,
    ) -> StoreResult<Vec<clicktrail_store::program::OutboxRow>> {
        let t = tenant.to_string();
        self.read(move |c| outbox::list(c, &t, limit)).await
    }
}
