//! The affiliate program and its outbox on PostgreSQL: the shared statements of
//! `clicktrail_sql::program` and `clicktrail_sql::outbox`, each call in one pooled
//! transaction (retried on a deadlock).

use async_trait::async_trait;
use clicktrail_sql::outbox;
use clicktrail_sql::program;
use clicktrail_sql::Sql;
use clicktrail_store::program::{
    ApplicationRow, DecideIn, OutboxIn, OutboxRow, PayoutDetails, ProgramSettings, ProgramStore,
    SubmitIn, Submitted,
};
use clicktrail_store::StoreResult;

use crate::db::in_tx;
use crate::db::Pg;
use crate::{retry, PgStore};

#[async_trait]
impl ProgramStore for PgStore {
    async fn program_settings(&self, tenant: &str) -> StoreResult<ProgramSettings> {
        retry(|| in_tx(self, async |db| program::settings(&db, tenant).await)).await
    }

    async fn set_program_settings(
        &self,
        tenant: &str,
        s: &ProgramSettings,
        now: i64,
    ) -> StoreResult<()> {
        retry(|| {
            in_tx(self, async |db| {
                program::set_settings(&db, tenant, s, now).await
            })
        })
        .await
    }

    async fn submit_application(&self, s: SubmitIn) -> StoreResult<Submitted> {
        retry(|| in_tx(self, async |db| program::submit(db, &s).await)).await
    }

    async fn applications(
        &self,
        tenant: &str,
        status: Option<&str>,
    ) -> StoreResult<Vec<ApplicationRow>> {
        retry(|| in_tx(self, async |db| program::list(&db, tenant, status).await)).await
    }

    async fn decide_application(&self, d: DecideIn) -> StoreResult<ApplicationRow> {
        retry(|| in_tx(self, async |db| program::decide(db, &d).await)).await
    }

    async fn payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
    ) -> StoreResult<Option<PayoutDetails>> {
        let one =
            async |db: Pg<'_, '_>| program::payout_details(&db, tenant, Some(affiliate)).await;
        let all = retry(|| in_tx(self, one)).await?;
        Ok(all.into_iter().next().map(|(_, d)| d))
    }

    async fn all_payout_details(&self, tenant: &str) -> StoreResult<Vec<(String, PayoutDetails)>> {
        retry(|| {
            in_tx(self, async |db| {
                program::payout_details(&db, tenant, None).await
            })
        })
        .await
    }

    async fn set_payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
        d: &PayoutDetails,
    ) -> StoreResult<()> {
        let set =
            async |db: Pg<'_, '_>| program::set_payout_details(&db, tenant, affiliate, d).await;
        retry(|| in_tx(self, set)).await
    }

    async fn affiliate_email(&self, tenant: &str, affiliate: &str) -> StoreResult<Option<String>> {
        retry(|| {
            in_tx(self, async |db| {
                program::affiliate_email(&db, tenant, affiliate).await
            })
        })
        .await
    }

    async fn enqueue(&self, m: OutboxIn) -> StoreResult<bool> {
        retry(|| in_tx(self, async |db| outbox::enqueue(&db, &m).await)).await
    }

    async fn outbox_claim(
        &self,
        channel: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        let claim =
            async |db: Pg<'_, '_>| outbox::claim(&db, channel, now, lease_secs, limit).await;
        retry(|| in_tx(self, claim)).await
    }

    async fn outbox_delivered(&self, id: i64, now: i64) -> StoreResult<()> {
        retry(|| in_tx(self, async |db| outbox::delivered(&db, id, now).await)).await
    }

    async fn outbox_failed(&self, id: i64, error: &str, next_attempt_at: i64) -> StoreResult<()> {
        retry(|| {
            in_tx(self, async |db| {
                outbox::failed(&db, id, error, next_attempt_at).await
            })
        })
        .await
    }

    /// The notices use case in one transaction; its cursor rows are locked, so collectors
    /// sharing the database take turns.
    async fn queue_notices(&self, settled_before: i64, now: i64, limit: i64) -> StoreResult<usize> {
        let notify = async |db: Pg<'_, '_>| {
            clicktrail_app::program::notify(&mut Sql(db), settled_before, now, limit).await
        };
        retry(|| in_tx(self, notify)).await
    }

    async fn outbox(&self, tenant: &str, limit: i64) -> StoreResult<Vec<OutboxRow>> {
        retry(|| in_tx(self, async |db| outbox::list(&db, tenant, limit).await)).await
    }
}
