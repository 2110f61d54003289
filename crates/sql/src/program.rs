//! The affiliate program: applications (the rows the use cases `clicktrail_app::program` run
//! on; an application is locked with `FOR UPDATE`, and submissions of one address are
//! serialized), settings, payout details. The outbox is in `outbox.rs`.

use clicktrail_app::program::ProgramRows;
use clicktrail_domain::program::ApplicationStatus;
use clicktrail_store::program::{
    ApplicationRow, DecideIn, OutboxIn, PayoutDetails, ProgramSettings, SubmitIn, Submitted,
};
use clicktrail_store::{ChangeIn, StoreError};

use crate::{Db, Row, Sql};

const COLUMNS: &str = "id, status, name, email, website, promotion, wished_code, affiliate, reason,
    created_at, decided_at";

fn application(r: &Row) -> Result<ApplicationRow, StoreError> {
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

/// The tenant's settings (the defaults until some are stored).
pub async fn settings<D: Db>(db: &D, tenant: &str) -> Result<ProgramSettings, D::Error> {
    let row = db
        .query_opt(
            "SELECT settings FROM program_settings WHERE tenant = $1",
            &[&tenant],
        )
        .await?;
    match row {
        None => Ok(ProgramSettings::default()),
        Some(r) => Ok(serde_json::from_str(&r.get::<String>(0)?)
            .map_err(|e| StoreError::Internal(format!("stored program settings: {e}")))?),
    }
}

pub async fn set_settings<D: Db>(
    db: &D,
    tenant: &str,
    s: &ProgramSettings,
    now: i64,
) -> Result<(), D::Error> {
    let text = serde_json::to_string(s).map_err(|e| StoreError::Internal(e.to_string()))?;
    db.execute(
        "INSERT INTO program_settings (tenant, settings, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant) DO UPDATE SET settings = excluded.settings,
             updated_at = excluded.updated_at",
        &[&tenant, &text, &now],
    )
    .await?;
    Ok(())
}

/// An application arrives; two submissions of one address at once: the second sees the first.
pub async fn submit<D: Db>(db: D, s: &SubmitIn) -> Result<Submitted, D::Error> {
    db.serialize(&format!("application:{}:{}", s.tenant, s.application.email))
        .await?;
    clicktrail_app::program::submit(&mut Sql(db), s).await
}

/// An operator approves or rejects an application.
pub async fn decide<D: Db>(db: D, d: &DecideIn) -> Result<ApplicationRow, D::Error> {
    clicktrail_app::program::decide(&mut Sql(db), d).await
}

/// The tenant's applications (of one status, if given), newest first.
pub async fn list<D: Db>(
    db: &D,
    tenant: &str,
    status: Option<&str>,
) -> Result<Vec<ApplicationRow>, D::Error> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM applications WHERE tenant = $1
                 AND (CAST($2 AS TEXT) IS NULL OR status = $2) ORDER BY id DESC LIMIT 1000"
            ),
            &[&tenant, &status],
        )
        .await?;
    Ok(rows.iter().map(application).collect::<Result<_, _>>()?)
}

/// The address of the affiliate's newest approved application.
pub async fn affiliate_email<D: Db>(
    db: &D,
    tenant: &str,
    affiliate: &str,
) -> Result<Option<String>, D::Error> {
    let row = db
        .query_opt(
            "SELECT email FROM applications WHERE tenant = $1 AND affiliate = $2
             AND status = 'approved' ORDER BY id DESC LIMIT 1",
            &[&tenant, &affiliate],
        )
        .await?;
    Ok(row.map(|r| r.get(0)).transpose()?)
}

/// The payout details of one affiliate, or of all the tenant's, by affiliate.
pub async fn payout_details<D: Db>(
    db: &D,
    tenant: &str,
    affiliate: Option<&str>,
) -> Result<Vec<(String, PayoutDetails)>, D::Error> {
    let rows = db
        .query(
            "SELECT affiliate, method, address, updated_at FROM payout_details
             WHERE tenant = $1 AND (CAST($2 AS TEXT) IS NULL OR affiliate = $2) ORDER BY affiliate",
            &[&tenant, &affiliate],
        )
        .await?;
    let details = |r: &Row| -> Result<(String, PayoutDetails), StoreError> {
        let d = PayoutDetails {
            method: r.get(1)?,
            address: r.get(2)?,
            updated_at: r.get(3)?,
        };
        Ok((r.get(0)?, d))
    };
    Ok(rows.iter().map(details).collect::<Result<_, _>>()?)
}

pub async fn set_payout_details<D: Db>(
    db: &D,
    tenant: &str,
    affiliate: &str,
    d: &PayoutDetails,
) -> Result<(), D::Error> {
    db.execute(
        "INSERT INTO payout_details (tenant, affiliate, method, address, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant, affiliate) DO UPDATE SET method = excluded.method,
             address = excluded.address, updated_at = excluded.updated_at",
        &[&tenant, &affiliate, &d.method, &d.address, &d.updated_at],
    )
    .await?;
    Ok(())
}

impl<D: Db> ProgramRows for Sql<D> {
    type Error = D::Error;

    async fn active_application(
        &mut self,
        tenant: &str,
        email: &str,
    ) -> Result<Option<ApplicationRow>, D::Error> {
        let row = self
            .0
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM applications WHERE tenant = $1 AND email = $2
                     AND status IN ('pending', 'approved') LIMIT 1"
                ),
                &[&tenant, &email],
            )
            .await?;
        Ok(row.as_ref().map(application).transpose()?)
    }

    async fn insert_application(&mut self, s: &SubmitIn) -> Result<ApplicationRow, D::Error> {
        let a = &s.application;
        let row = self
            .0
            .query_one(
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
        Ok(application(&row)?)
    }

    async fn lock_application(
        &mut self,
        tenant: &str,
        id: i64,
    ) -> Result<Option<ApplicationRow>, D::Error> {
        let row = self
            .0
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM applications WHERE tenant = $1 AND id = $2 FOR UPDATE"
                ),
                &[&tenant, &id],
            )
            .await?;
        Ok(row.as_ref().map(application).transpose()?)
    }

    async fn code_taken(&mut self, tenant: &str, code: &str) -> Result<bool, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT 1 FROM affiliates WHERE tenant = $1 AND code = $2
                 UNION ALL SELECT 1 FROM affiliate_aliases WHERE tenant = $1 AND alias = $2
                 LIMIT 1",
                &[&tenant, &code],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn change_catalog(&mut self, c: &ChangeIn) -> Result<(), D::Error> {
        clicktrail_app::catalog::change(self, c).await
    }

    async fn portal_link(
        &mut self,
        tenant: &str,
        affiliate: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<(), D::Error> {
        clicktrail_app::portal::link(self, tenant, affiliate, token_hash, now).await
    }

    async fn set_decision(
        &mut self,
        tenant: &str,
        id: i64,
        status: ApplicationStatus,
        affiliate: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), D::Error> {
        self.0
            .execute(
                "UPDATE applications SET status = $3, affiliate = $4, reason = $5,
                     decided_at = $6
                 WHERE tenant = $1 AND id = $2",
                &[&tenant, &id, &status.as_str(), &affiliate, &reason, &now],
            )
            .await?;
        Ok(())
    }

    async fn enqueue(&mut self, m: &OutboxIn) -> Result<bool, D::Error> {
        crate::outbox::enqueue(&self.0, m).await
    }
}
