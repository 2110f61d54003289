//! Outgoing webhooks on SQLite: the shared statements of `clicktrail_sql::webhooks`, changes
//! and the event feed on the writer's connection (where ids are in commit order), reads on a
//! reader.

use async_trait::async_trait;
use clicktrail_app::run_ready;
use clicktrail_sql::webhooks::{self as sql, deliveries};
use clicktrail_sql::Sql;
use clicktrail_store::program::OutboxRow;
use clicktrail_store::webhooks::{EndpointIn, EndpointPatch, EndpointRow, Outcome, WebhookStore};
use clicktrail_store::StoreResult;

use crate::db::Lite;
use crate::SqliteStore;

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_endpoint(&self, e: EndpointIn) -> StoreResult<EndpointRow> {
        self.exec(move |c| run_ready(sql::create(&Lite(c), &e)))
            .await
    }

    async fn endpoints(&self, tenant: &str) -> StoreResult<Vec<EndpointRow>> {
        let t = tenant.to_string();
        self.read(move |c| run_ready(sql::list(&Lite(c), &t))).await
    }

    async fn endpoint(&self, tenant: Option<&str>, id: i64) -> StoreResult<Option<EndpointRow>> {
        let t = tenant.map(str::to_string);
        self.read(move |c| run_ready(sql::get(&Lite(c), t.as_deref(), id)))
            .await
    }

    async fn update_endpoint(
        &self,
        tenant: &str,
        id: i64,
        p: EndpointPatch,
        now: i64,
    ) -> StoreResult<EndpointRow> {
        let t = tenant.to_string();
        self.exec(move |c| run_ready(sql::update(&Lite(c), &t, id, &p, now)))
            .await
    }

    async fn delete_endpoint(&self, tenant: &str, id: i64) -> StoreResult<()> {
        let t = tenant.to_string();
        self.exec(move |c| run_ready(sql::delete(&Lite(c), &t, id)))
            .await
    }

    async fn endpoint_outcome(&self, id: i64, o: Outcome, now: i64) -> StoreResult<()> {
        self.exec(move |c| run_ready(sql::outcome(&Lite(c), id, &o, now)))
            .await
    }

    async fn queue_webhook_events(
        &self,
        settled_before: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<usize> {
        self.exec(move |c| {
            run_ready(clicktrail_app::webhooks::queue_events(
                &mut Sql(Lite(c)),
                settled_before,
                now,
                limit,
            ))
        })
        .await
    }

    async fn webhook_deliveries(
        &self,
        tenant: &str,
        endpoint: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        let t = tenant.to_string();
        self.read(move |c| run_ready(deliveries(&Lite(c), &t, endpoint, limit)))
            .await
    }
}
