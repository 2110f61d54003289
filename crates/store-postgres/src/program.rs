//! The affiliate program on PostgreSQL: applications (the use cases `clicktrail_app::program`
//! over these rows, in one transaction; an application is locked with `FOR UPDATE`, and
//! submissions of one address are serialized by an advisory lock), settings, payout details.
//! The outbox's SQL is in `outbox.rs`.

use async_trait::async_trait;
use clicktrail_app::program::ProgramRows;
use clicktrail_domain::program::ApplicationStatus;
use clicktrail_store::program::{
    ApplicationRow, DecideIn, OutboxIn, OutboxRow, PayoutDetails, ProgramSettings, ProgramStore,
    SubmitIn, Submitted,
};
use clicktrail_store::{ChangeIn, StoreError, StoreResult};
use tokio_postgres::Row;

use crate::ops::{exec, q, q_opt, Tx};
use crate::{outbox, retry, Fail, PgStore};

const COLUMNS: &str = "id, status, name, email, website, promotion, wished_code, affiliate, reason,
    created_at, decided_at";

fn row(r: &Row) -> ApplicationRow {
    ApplicationRow {
        id: r.get(0),
        status: r.get(1),
        name: r.get(2),
        email: r.get(3),
        website: r.get(4),
        promotion: r.get(5),
        wished_code: r.get(6),
        affiliate: r.get(7),
        reason: r.get(8),
        created_at: r.get(9),
        decided_at: r.get(10),
    }
}

async fn settings(store: &PgStore, tenant: &str) -> Result<ProgramSettings, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let r = q_opt(
        &tx,
        "SELECT settings FROM program_settings WHERE tenant = $1",
        &[&tenant],
    )
    .await?;
    tx.commit().await?;
    match r {
        None => Ok(ProgramSettings::default()),
        Some(r) => serde_json::from_str(r.get::<_, &str>(0)).map_err(|e| {
            Fail::Store(StoreError::Internal(format!(
                "stored program settings: {e}"
            )))
        }),
    }
}

async fn set_settings(
    store: &PgStore,
    tenant: &str,
    s: &ProgramSettings,
    now: i64,
) -> Result<(), Fail> {
    let text = serde_json::to_string(s).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    exec(
        &tx,
        "INSERT INTO program_settings (tenant, settings, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        &[&tenant, &text, &now],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn submit(store: &PgStore, s: &SubmitIn) -> Result<Submitted, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    // two submissions of one address at once: the second sees the first
    exec(
        &tx,
        "SELECT pg_advisory_xact_lock(hashtext($1), hashtext('application:' || $2))",
        &[&s.tenant, &s.application.email],
    )
    .await?;
    let out = clicktrail_app::program::submit(&mut Rows(&tx), s).await?;
    tx.commit().await?;
    Ok(out)
}

async fn decide(store: &PgStore, d: &DecideIn) -> Result<ApplicationRow, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::program::decide(&mut Rows(&tx), d).await?;
    tx.commit().await?;
    Ok(out)
}

async fn list(
    store: &PgStore,
    tenant: &str,
    status: Option<&str>,
) -> Result<Vec<ApplicationRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        &format!(
            "SELECT {COLUMNS} FROM applications WHERE tenant = $1
             AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT 1000"
        ),
        &[&tenant, &status],
    )
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(row).collect())
}

async fn affiliate_email(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
) -> Result<Option<String>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let r = q_opt(
        &tx,
        "SELECT email FROM applications WHERE tenant = $1 AND affiliate = $2
         AND status = 'approved' ORDER BY id DESC LIMIT 1",
        &[&tenant, &affiliate],
    )
    .await?;
    tx.commit().await?;
    Ok(r.map(|r| r.get(0)))
}

async fn payout_details(
    store: &PgStore,
    tenant: &str,
    affiliate: Option<&str>,
) -> Result<Vec<(String, PayoutDetails)>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        "SELECT affiliate, method, address, updated_at FROM payout_details
         WHERE tenant = $1 AND ($2::text IS NULL OR affiliate = $2) ORDER BY affiliate",
        &[&tenant, &affiliate],
    )
    .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                PayoutDetails {
                    method: r.get(1),
                    address: r.get(2),
                    updated_at: r.get(3),
                },
            )
        })
        .collect())
}

async fn set_payout_details(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
    d: &PayoutDetails,
) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    exec(
        &tx,
        "INSERT INTO payout_details (tenant, affiliate, method, address, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant, affiliate) DO UPDATE SET method = excluded.method,
             address = excluded.address, updated_at = excluded.updated_at",
        &[&tenant, &affiliate, &d.method, &d.address, &d.updated_at],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

struct Rows<'t, 'c>(&'t Tx<'c>);

impl ProgramRows for Rows<'_, '_> {
    type Error = Fail;

    async fn active_application(
        &mut self,
        tenant: &str,
        email: &str,
    ) -> Result<Option<ApplicationRow>, Fail> {
        let r = q_opt(
            self.0,
            &format!(
                "SELECT {COLUMNS} FROM applications WHERE tenant = $1 AND email = $2
                 AND status IN ('pending', 'approved') LIMIT 1"
            ),
            &[&tenant, &email],
        )
        .await?;
        Ok(r.as_ref().map(row))
    }

    async fn insert_application(&mut self, s: &SubmitIn) -> Result<ApplicationRow, Fail> {
        let a = &s.application;
        let r = q(
            self.0,
            &format!(
                "INSERT INTO applications (tenant, status, name, email, website, promotion,
                     wished_code, created_at)
                 VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
            ),
            &[
                &s.tenant,
                &a.name,
                &a.email,
                &a.website,
                &a.promotion,
                &a.code,
                &s.now,
            ],
        )
        .await?;
        r.first()
            .map(row)
            .ok_or_else(|| StoreError::Internal("inserted application not returned".into()).into())
    }

    async fn lock_application(
        &mut self,
        tenant: &str,
        id: i64,
    ) -> Result<Option<ApplicationRow>, Fail> {
        let r = q_opt(
            self.0,
            &format!("SELECT {COLUMNS} FROM applications WHERE tenant = $1 AND id = $2 FOR UPDATE"),
            &[&tenant, &id],
        )
        .await?;
        Ok(r.as_ref().map(row))
    }

    async fn code_taken(&mut self, tenant: &str, code: &str) -> Result<bool, Fail> {
        let r = q_opt(
            self.0,
            "SELECT 1 FROM affiliates WHERE tenant = $1 AND code = $2
             UNION ALL SELECT 1 FROM affiliate_aliases WHERE tenant = $1 AND alias = $2 LIMIT 1",
            &[&tenant, &code],
        )
        .await?;
        Ok(r.is_some())
    }

    async fn change_catalog(&mut self, c: &ChangeIn) -> Result<(), Fail> {
        clicktrail_app::catalog::change(&mut crate::catalog::Rows(self.0), c).await
    }

    async fn portal_link(
        &mut self,
        tenant: &str,
        affiliate: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<(), Fail> {
        let rows = &mut clicktrail_sql::Sql(crate::db::Pg(self.0));
        clicktrail_app::portal::link(rows, tenant, affiliate, token_hash, now).await
    }

    async fn set_decision(
        &mut self,
        tenant: &str,
        id: i64,
        status: ApplicationStatus,
        affiliate: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE applications SET status = $3, affiliate = $4, reason = $5, decided_at = $6
             WHERE tenant = $1 AND id = $2",
            &[&tenant, &id, &status.as_str(), &affiliate, &reason, &now],
        )
        .await?;
        Ok(())
    }

    async fn enqueue(&mut self, m: &OutboxIn) -> Result<bool, Fail> {
        outbox::enqueue_tx(self.0, m).await
    }
}

#[async_trait]
impl ProgramStore for PgStore {
    async fn program_settings(&self, tenant: &str) -> StoreResult<ProgramSettings> {
        retry(|| settings(self, tenant)).await
    }

    async fn set_program_settings(
        &self,
        tenant: &str,
        s: &ProgramSettings,
        now: i64,
    ) -> StoreResult<()> {
        retry(|| set_settings(self, tenant, s, now)).await
    }

    async fn submit_application(&self, s: SubmitIn) -> StoreResult<Submitted> {
        retry(|| submit(self, &s)).await
    }

    async fn applications(
        &self,
        tenant: &str,
        status: Option<&str>,
    ) -> StoreResult<Vec<ApplicationRow>> {
        retry(|| list(self, tenant, status)).await
    }

    async fn decide_application(&self, d: DecideIn) -> StoreResult<ApplicationRow> {
        retry(|| decide(self, &d)).await
    }

    async fn payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
    ) -> StoreResult<Option<PayoutDetails>> {
        let all = retry(|| payout_details(self, tenant, Some(affiliate))).await?;
        Ok(all.into_iter().next().map(|(_, d)| d))
    }

    async fn all_payout_details(&self, tenant: &str) -> StoreResult<Vec<(String, PayoutDetails)>> {
        retry(|| payout_details(self, tenant, None)).await
    }

    async fn set_payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
        d: &PayoutDetails,
    ) -> StoreResult<()> {
        retry(|| set_payout_details(self, tenant, affiliate, d)).await
    }

    async fn affiliate_email(&self, tenant: &str, affiliate: &str) -> StoreResult<Option<String>> {
        retry(|| affiliate_email(self, tenant, affiliate)).await
    }

    async fn enqueue(&self, m: OutboxIn) -> StoreResult<bool> {
        retry(|| outbox::enqueue(self, &m)).await
    }

    async fn outbox_claim(
        &self,
        channel: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        retry(|| outbox::claim(self, channel, now, lease_secs, limit)).await
    }

    async fn outbox_delivered(&self, id: i64, now: i64) -> StoreResult<()> {
        retry(|| outbox::delivered(self, id, now)).await
    }

    async fn outbox_failed(&self, id: i64, error: &str, next_attempt_at: i64) -> StoreResult<()> {
        retry(|| outbox::failed(self, id, error, next_attempt_at)).await
    }

    async fn queue_notices(&self, settled_before: i64, now: i64, limit: i64) -> StoreResult<usize> {
        retry(|| outbox::queue_notices(self, settled_before, now, limit)).await
    }

    async fn outbox(&self, tenant: &str, limit: i64) -> StoreResult<Vec<OutboxRow>> {
        retry(|| outbox::list(self, tenant, limit)).await
    }
}
