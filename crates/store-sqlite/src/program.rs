//! The affiliate program and its outbox on SQLite: the shared statements of
//! `clicktrail_sql::program` and `clicktrail_sql::outbox`, run on the writer's connection
//! (one job each: the single writer is the lock) or on a reader.

use async_trait::async_trait;
use clicktrail_app::run_ready;
use clicktrail_sql::outbox;
use clicktrail_sql::program;
use clicktrail_sql::Sql;
use clicktrail_store::program::{
    ApplicationRow, DecideIn, OutboxIn, OutboxRow, PayoutDetails, ProgramSettings, ProgramStore,
    SubmitIn, Submitted,
};
use clicktrail_store::StoreResult;

use crate::db::Lite;
use crate::SqliteStore;

#[async_trait]
impl ProgramStore for SqliteStore {
    async fn program_settings(&self, tenant: &str) -> StoreResult<ProgramSettings> {
        let t = tenant.to_string();
        self.read(move |c| run_ready(program::settings(&Lite(c), &t)))
            .await
    }

    async fn set_program_settings(
        &self,
        tenant: &str,
        s: &ProgramSettings,
        now: i64,
    ) -> StoreResult<()> {
        let (t, s) = (tenant.to_string(), s.clone());
        self.exec(move |c| run_ready(program::set_settings(&Lite(c), &t, &s, now)))
            .await
    }

    async fn submit_application(&self, s: SubmitIn) -> StoreResult<Submitted> {
        self.exec(move |c| run_ready(program::submit(Lite(c), &s)))
            .await
    }

    async fn applications(
        &self,
        tenant: &str,
        status: Option<&str>,
    ) -> StoreResult<Vec<ApplicationRow>> {
        let (t, s) = (tenant.to_string(), status.map(str::to_string));
        self.read(move |c| run_ready(program::list(&Lite(c), &t, s.as_deref())))
            .await
    }

    async fn decide_application(&self, d: DecideIn) -> StoreResult<ApplicationRow> {
        self.exec(move |c| run_ready(program::decide(Lite(c), &d)))
            .await
    }

    async fn payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
    ) -> StoreResult<Option<PayoutDetails>> {
        let (t, a) = (tenant.to_string(), affiliate.to_string());
        let all = self
            .read(move |c| run_ready(program::payout_details(&Lite(c), &t, Some(&a))))
            .await?;
        Ok(all.into_iter().next().map(|(_, d)| d))
    }

    async fn all_payout_details(&self, tenant: &str) -> StoreResult<Vec<(String, PayoutDetails)>> {
        let t = tenant.to_string();
        self.read(move |c| run_ready(program::payout_details(&Lite(c), &t, None)))
            .await
    }

    async fn set_payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
        d: &PayoutDetails,
    ) -> StoreResult<()> {
        let (t, a, d) = (tenant.to_string(), affiliate.to_string(), d.clone());
        self.exec(move |c| run_ready(program::set_payout_details(&Lite(c), &t, &a, &d)))
            .await
    }

    async fn affiliate_email(&self, tenant: &str, affiliate: &str) -> StoreResult<Option<String>> {
        let (t, a) = (tenant.to_string(), affiliate.to_string());
        self.read(move |c| run_ready(program::affiliate_email(&Lite(c), &t, &a)))
            .await
    }

    async fn enqueue(&self, m: OutboxIn) -> StoreResult<bool> {
        self.exec(move |c| run_ready(outbox::enqueue(&Lite(c), &m)))
            .await
    }

    async fn outbox_claim(
        &self,
        channel: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        let ch = channel.to_string();
        self.exec(move |c| run_ready(outbox::claim(&Lite(c), &ch, now, lease_secs, limit)))
            .await
    }

    async fn outbox_delivered(&self, id: i64, now: i64) -> StoreResult<()> {
        self.exec(move |c| run_ready(outbox::delivered(&Lite(c), id, now)))
            .await
    }

    async fn outbox_failed(&self, id: i64, error: &str, next_attempt_at: i64) -> StoreResult<()> {
        let e = error.to_string();
        self.exec(move |c| run_ready(outbox::failed(&Lite(c), id, &e, next_attempt_at)))
            .await
    }

    /// The notices use case on the writer's connection (ids are in commit order here).
    async fn queue_notices(&self, settled_before: i64, now: i64, limit: i64) -> StoreResult<usize> {
        self.exec(move |c| {
            run_ready(clicktrail_app::program::notify(
                &mut Sql(Lite(c)),
                settled_before,
                now,
                limit,
            ))
        })
        .await
    }

    async fn outbox(&self, tenant: &str, limit: i64) -> StoreResult<Vec<OutboxRow>> {
        let t = tenant.to_string();
        self.read(move |c| run_ready(outbox::list(&Lite(c), &t, limit)))
            .await
    }
}
