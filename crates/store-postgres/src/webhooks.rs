//! Outgoing webhooks on PostgreSQL: endpoints, the facts the event feed reads (in the feed's
//! transaction, cursors locked; ids are not in commit order here, hence the caller's settle
//! bound), the endpoints' health and delivery logs.

use async_trait::async_trait;
use clicktrail_app::testmode::Counted;
use clicktrail_app::webhooks::WebhookRows;
use clicktrail_domain::webhooks::{EventKind, Fact};
use clicktrail_store::program::OutboxRow;
use clicktrail_store::webhooks::{
    unknown_endpoint, EndpointIn, EndpointPatch, EndpointRow, Outcome, WebhookStore, CHANNEL,
};
use clicktrail_store::StoreResult;
use tokio_postgres::Row;

use crate::ops::{exec, q, q_opt, Tx};
use crate::outbox::Notify;
use crate::{retry, Fail, PgStore};

const COLUMNS: &str = "id, tenant, url, events, secret, enabled, disabled_reason, failing_since,
    created_at, updated_at";

fn endpoint(r: &Row) -> EndpointRow {
    let events: String = r.get(3);
    EndpointRow {
        id: r.get(0),
        tenant: r.get(1),
        url: r.get(2),
        events: events.split(',').map(str::to_string).collect(),
        secret: r.get(4),
        enabled: r.get(5),
        disabled_reason: r.get(6),
        failing_since: r.get(7),
        created_at: r.get(8),
        updated_at: r.get(9),
    }
}

async fn get_tx(tx: &Tx<'_>, tenant: Option<&str>, id: i64) -> Result<Option<EndpointRow>, Fail> {
    let r = q_opt(
        tx,
        &format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1
             AND ($2::text IS NULL OR tenant = $2) FOR UPDATE"
        ),
        &[&id, &tenant],
    )
    .await?;
    Ok(r.as_ref().map(endpoint))
}

async fn get(store: &PgStore, tenant: Option<&str>, id: i64) -> Result<Option<EndpointRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let e = get_tx(&tx, tenant, id).await?;
    tx.commit().await?;
    Ok(e)
}

async fn create(store: &PgStore, e: &EndpointIn) -> Result<EndpointRow, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let r = q(
        &tx,
        &format!(
            "INSERT INTO webhook_endpoints (tenant, url, events, secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
        ),
        &[&e.tenant, &e.url, &e.events.join(","), &e.secret, &e.now],
    )
    .await?;
    tx.commit().await?;
    Ok(endpoint(&r[0]))
}

async fn list(store: &PgStore, tenant: &str) -> Result<Vec<EndpointRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        &format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant = $1 ORDER BY id"),
        &[&tenant],
    )
    .await?;
    tx.commit().await?;
    Ok(rows.iter().map(endpoint).collect())
}

async fn update(
    store: &PgStore,
    tenant: &str,
    id: i64,
    p: &EndpointPatch,
    now: i64,
) -> Result<EndpointRow, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let mut e = get_tx(&tx, Some(tenant), id)
        .await?
        .ok_or_else(|| unknown_endpoint(id))?;
    if p.apply(&mut e) {
        // what waited while it was disabled is tried at once
        exec(
            &tx,
            "UPDATE outbox SET next_attempt_at = $3 WHERE channel = $1 AND recipient = $2
             AND delivered_at IS NULL",
            &[&CHANNEL, &id.to_string(), &now],
        )
        .await?;
    }
    exec(
        &tx,
        "UPDATE webhook_endpoints SET url = $2, events = $3, enabled = $4, disabled_reason = $5,
             failing_since = $6, updated_at = $7 WHERE id = $1",
        &[
            &id,
            &e.url,
            &e.events.join(","),
            &e.enabled,
            &e.disabled_reason,
            &e.failing_since,
            &now,
        ],
    )
    .await?;
    tx.commit().await?;
    e.updated_at = now;
    Ok(e)
}

async fn delete(store: &PgStore, tenant: &str, id: i64) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let n = exec(
        &tx,
        "DELETE FROM webhook_endpoints WHERE id = $1 AND tenant = $2",
        &[&id, &tenant],
    )
    .await?;
    if n == 0 {
        return Err(unknown_endpoint(id).into());
    }
    exec(
        &tx,
        "DELETE FROM outbox WHERE channel = $1 AND recipient = $2 AND delivered_at IS NULL",
        &[&CHANNEL, &id.to_string()],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn outcome(store: &PgStore, id: i64, o: &Outcome, now: i64) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    match o {
        Outcome::Delivered => {
            exec(
                &tx,
                "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1",
                &[&id],
            )
            .await?
        }
        Outcome::Failed => {
            exec(
                &tx,
                "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
                 WHERE id = $1",
                &[&id, &now],
            )
            .await?
        }
        Outcome::Disable(reason) => {
            exec(
                &tx,
                "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3,
                     updated_at = $2 WHERE id = $1",
                &[&id, &now, reason],
            )
            .await?
        }
    };
    tx.commit().await?;
    Ok(())
}

async fn deliveries(
    store: &PgStore,
    tenant: &str,
    endpoint: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, Fail> {
    crate::outbox::list_for(store, tenant, CHANNEL, &endpoint.to_string(), limit).await
}

async fn queue(store: &PgStore, settled_before: i64, now: i64, limit: i64) -> Result<usize, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let n = clicktrail_app::webhooks::queue_events(&mut Notify(&tx), settled_before, now, limit)
        .await?;
    tx.commit().await?;
    Ok(n)
}

fn fact(r: &Row) -> Counted<Fact> {
    let row = Fact {
        id: r.get(0),
        tenant: r.get(1),
        affiliate: r.get(2),
        amount_cents: r.get(3),
        commission_cents: r.get(4),
        currency: r.get(5),
        reference: r.get(6),
        created_at: r.get(7),
    };
    Counted {
        row,
        livemode: r.get(8),
        count_test_payments: r.get(9),
    }
}

impl WebhookRows for Notify<'_, '_> {
    async fn facts_after(
        &mut self,
        kind: EventKind,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Counted<Fact>>, Fail> {
        let sql = match kind {
            EventKind::Lead => {
                "SELECT id, tenant, affiliate, NULL::bigint, NULL::bigint, NULL::text,
                        customer_key, created_at, true, false
                 FROM leads WHERE id > $1 AND created_at < $2 ORDER BY id LIMIT $3"
            }
            EventKind::Sale => {
                "SELECT c.id, c.tenant, c.affiliate, c.amount_cents, c.commission_cents,
                        c.currency, c.public_id, c.created_at, c.livemode,
                        coalesce((SELECT count_test_payments FROM tenants WHERE id = c.tenant), false)
                 FROM conversions c WHERE c.id > $1 AND c.created_at < $2 AND c.kind = 'sale'
                 ORDER BY c.id LIMIT $3"
            }
            EventKind::Refund => {
                "SELECT x.id, x.tenant, x.affiliate, NULL::bigint, x.amount_cents, x.currency,
                        c.public_id, x.created_at, true, false
                 FROM ledger x JOIN conversions c ON c.id = x.conversion_id
                 WHERE x.id > $1 AND x.created_at < $2 AND x.kind = 'reversal'
                 ORDER BY x.id LIMIT $3"
            }
            EventKind::Payout => {
                "SELECT id, tenant, affiliate, amount_cents, NULL::bigint, currency, through,
                        created_at, true, false
                 FROM payouts WHERE id > $1 AND created_at < $2 ORDER BY id LIMIT $3"
            }
            EventKind::AffiliateApproved => {
                "SELECT f.seq, f.tenant, f.code, NULL::bigint, NULL::bigint, NULL::text, f.name,
                        f.created_at, true, false
                 FROM affiliates f WHERE f.seq > $1 AND f.created_at < $2
                   AND EXISTS (SELECT 1 FROM applications a WHERE a.tenant = f.tenant
                               AND a.affiliate = f.code AND a.status = 'approved')
                 ORDER BY f.seq LIMIT $3"
            }
        };
        let rows = q(self.0, sql, &[&after, &before, &limit]).await?;
        Ok(rows.iter().map(fact).collect())
    }

    async fn subscribers(&mut self, tenant: &str, kind: EventKind) -> Result<Vec<i64>, Fail> {
        let rows = q(
            self.0,
            "SELECT id FROM webhook_endpoints WHERE tenant = $1 AND enabled
               AND strpos(',' || events || ',', ',' || $2 || ',') > 0 ORDER BY id",
            &[&tenant, &kind.as_str()],
        )
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_endpoint(&self, e: EndpointIn) -> StoreResult<EndpointRow> {
        retry(|| create(self, &e)).await
    }

    async fn endpoints(&self, tenant: &str) -> StoreResult<Vec<EndpointRow>> {
        retry(|| list(self, tenant)).await
    }

    async fn endpoint(&self, tenant: Option<&str>, id: i64) -> StoreResult<Option<EndpointRow>> {
        retry(|| get(self, tenant, id)).await
    }

    async fn update_endpoint(
        &self,
        tenant: &str,
        id: i64,
        p: EndpointPatch,
        now: i64,
    ) -> StoreResult<EndpointRow> {
        retry(|| update(self, tenant, id, &p, now)).await
    }

    async fn delete_endpoint(&self, tenant: &str, id: i64) -> StoreResult<()> {
        retry(|| delete(self, tenant, id)).await
    }

    async fn endpoint_outcome(&self, id: i64, o: Outcome, now: i64) -> StoreResult<()> {
        retry(|| outcome(self, id, &o, now)).await
    }

    async fn queue_webhook_events(
        &self,
        settled_before: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<usize> {
        retry(|| queue(self, settled_before, now, limit)).await
    }

    async fn webhook_deliveries(
        &self,
        tenant: &str,
        endpoint: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        retry(|| deliveries(self, tenant, endpoint, limit)).await
    }
}
