//! Outgoing webhooks on PostgreSQL: the shared statements of `clicktrail_sql::webhooks`, each
//! call in one pooled transaction (the event feed's cursors are locked in it; ids are not in
//! commit order here, hence the caller's settle bound).

use async_trait::async_trait;
use clicktrail_sql::webhooks::{self as sql, deliveries};
use clicktrail_sql::Sql;
use clicktrail_store::program::OutboxRow;
use clicktrail_store::webhooks::{EndpointIn, EndpointPatch, EndpointRow, Outcome, WebhookStore};
use clicktrail_store::StoreResult;

use crate::db::in_tx;
use crate::db::Pg;
use crate::{retry, PgStore};

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_endpoint(&self, e: EndpointIn) -> StoreResult<EndpointRow> {
        retry(|| in_tx(self, async |db| sql::create(&db, &e).await)).await
    }

    async fn endpoints(&self, tenant: &str) -> StoreResult<Vec<EndpointRow>> {
        retry(|| in_tx(self, async |db| sql::list(&db, tenant).await)).await
    }

    async fn endpoint(&self, tenant: Option<&str>, id: i64) -> StoreResult<Option<EndpointRow>> {
        retry(|| in_tx(self, async |db| sql::get(&db, tenant, id).await)).await
    }

    async fn update_endpoint(
        &self,
        tenant: &str,
        id: i64,
        p: EndpointPatch,
        now: i64,
    ) -> StoreResult<EndpointRow> {
        retry(|| in_tx(self, async |db| sql::update(&db, tenant, id, &p, now).await)).await
    }

    async fn delete_endpoint(&self, tenant: &str, id: i64) -> StoreResult<()> {
        retry(|| in_tx(self, async |db| sql::delete(&db, tenant, id).await)).await
    }

    async fn endpoint_outcome(&self, id: i64, o: Outcome, now: i64) -> StoreResult<()> {
        retry(|| in_tx(self, async |db| sql::outcome(&db, id, &o, now).await)).await
    }

    async fn queue_webhook_events(
        &self,
        settled_before: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<usize> {
        let queue = async |db: Pg<'_, '_>| {
            clicktrail_app::webhooks::queue_events(&mut Sql(db), settled_before, now, limit).await
        };
        retry(|| in_tx(self, queue)).await
    }

    async fn webhook_deliveries(
        &self,
        tenant: &str,
        endpoint: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        retry(|| {
            in_tx(self, async |db| {
                deliveries(&db, tenant, endpoint, limit).await
            })
        })
        .await
    }
}
