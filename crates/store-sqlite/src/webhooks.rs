//! Outgoing webhooks on SQLite: endpoints, the facts the event feed reads (on the writer's
//! connection, where ids are in commit order), the endpoints' health and delivery logs.

use async_trait::async_trait;
use clicktrail_app::testmode::Counted;
use clicktrail_app::webhooks::WebhookRows;
use clicktrail_domain::webhooks::{EventKind, Fact};
use clicktrail_store::program::OutboxRow;
use clicktrail_store::webhooks::{
    unknown_endpoint, EndpointIn, EndpointPatch, EndpointRow, Outcome, WebhookStore, CHANNEL,
};
use clicktrail_store::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::outbox::Notify;
use crate::SqliteStore;

const COLUMNS: &str = "id, tenant, url, events, secret, enabled, disabled_reason, failing_since,
    created_at, updated_at";

fn endpoint(r: &Row<'_>) -> rusqlite::Result<EndpointRow> {
    let events: String = r.get(3)?;
    Ok(EndpointRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        url: r.get(2)?,
        events: events.split(',').map(str::to_string).collect(),
        secret: r.get(4)?,
        enabled: r.get(5)?,
        disabled_reason: r.get(6)?,
        failing_since: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

fn get(conn: &Connection, tenant: Option<&str>, id: i64) -> StoreResult<Option<EndpointRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)"
        ))?
        .query_row(params![id, tenant], endpoint)
        .optional()?)
}

fn create(conn: &Connection, e: &EndpointIn) -> StoreResult<EndpointRow> {
    conn.prepare_cached(
        "INSERT INTO webhook_endpoints (tenant, url, events, secret, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![
        e.tenant,
        e.url,
        e.events.join(","),
        e.secret,
        e.now
    ])?;
    let id = conn.last_insert_rowid();
    get(conn, None, id)?.ok_or_else(|| StoreError::Internal("endpoint not stored".into()))
}

fn update(
    conn: &Connection,
    tenant: &str,
    id: i64,
    p: &EndpointPatch,
    now: i64,
) -> StoreResult<EndpointRow> {
    let mut e = get(conn, Some(tenant), id)?.ok_or_else(|| unknown_endpoint(id))?;
    if p.apply(&mut e) {
        // what waited while it was disabled is tried at once
        conn.prepare_cached(
            "UPDATE outbox SET next_attempt_at = ?3 WHERE channel = ?1 AND recipient = ?2
             AND delivered_at IS NULL",
        )?
        .execute(params![CHANNEL, id.to_string(), now])?;
    }
    conn.prepare_cached(
        "UPDATE webhook_endpoints SET url = ?2, events = ?3, enabled = ?4, disabled_reason = ?5,
             failing_since = ?6, updated_at = ?7 WHERE id = ?1",
    )?
    .execute(params![
        id,
        e.url,
        e.events.join(","),
        e.enabled,
        e.disabled_reason,
        e.failing_since,
        now
    ])?;
    e.updated_at = now;
    Ok(e)
}

fn delete(conn: &Connection, tenant: &str, id: i64) -> StoreResult<()> {
    let n = conn
        .prepare_cached("DELETE FROM webhook_endpoints WHERE id = ?1 AND tenant = ?2")?
        .execute(params![id, tenant])?;
    if n == 0 {
        return Err(unknown_endpoint(id));
    }
    conn.prepare_cached(
        "DELETE FROM outbox WHERE channel = ?1 AND recipient = ?2 AND delivered_at IS NULL",
    )?
    .execute(params![CHANNEL, id.to_string()])?;
    Ok(())
}

fn outcome(conn: &Connection, id: i64, o: &Outcome, now: i64) -> StoreResult<()> {
    let sql = match o {
        Outcome::Delivered => "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?1",
        Outcome::Failed => {
            "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, ?2) WHERE id = ?1"
        }
        Outcome::Disable(_) => {
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?3, updated_at = ?2
             WHERE id = ?1"
        }
    };
    let reason = match o {
        Outcome::Disable(r) => Some(r.as_str()),
        _ => None,
    };
    let mut st = conn.prepare_cached(sql)?;
    match o {
        Outcome::Delivered => st.execute(params![id])?,
        Outcome::Failed => st.execute(params![id, now])?,
        Outcome::Disable(_) => st.execute(params![id, now, reason])?,
    };
    Ok(())
}

fn deliveries(
    conn: &Connection,
    tenant: &str,
    endpoint: i64,
    limit: i64,
) -> StoreResult<Vec<OutboxRow>> {
    crate::outbox::list_for(conn, tenant, CHANNEL, &endpoint.to_string(), limit)
}

/// The facts of one kind, as the feed reads them (ids in commit order: one writer).
fn facts(
    conn: &Connection,
    kind: EventKind,
    after: i64,
    before: i64,
    limit: i64,
) -> StoreResult<Vec<Counted<Fact>>> {
    let sql = match kind {
        EventKind::Lead => {
            "SELECT id, tenant, affiliate, NULL, NULL, NULL, customer_key, created_at, 1, 0
             FROM leads WHERE id > ?1 AND created_at < ?2 ORDER BY id LIMIT ?3"
        }
        EventKind::Sale => {
            "SELECT c.id, c.tenant, c.affiliate, c.amount_cents, c.commission_cents, c.currency,
                    c.public_id, c.created_at,
                    c.livemode, coalesce((SELECT count_test_payments FROM tenants WHERE id = c.tenant), 0)
             FROM conversions c WHERE c.id > ?1 AND c.created_at < ?2 AND c.kind = 'sale'
             ORDER BY c.id LIMIT ?3"
        }
        EventKind::Refund => {
            "SELECT x.id, x.tenant, x.affiliate, NULL, x.amount_cents, x.currency, c.public_id,
                    x.created_at, 1, 0
             FROM ledger x JOIN conversions c ON c.id = x.conversion_id
             WHERE x.id > ?1 AND x.created_at < ?2 AND x.kind = 'reversal' ORDER BY x.id LIMIT ?3"
        }
        EventKind::Payout => {
            "SELECT id, tenant, affiliate, amount_cents, NULL, currency, through, created_at, 1, 0
             FROM payouts WHERE id > ?1 AND created_at < ?2 ORDER BY id LIMIT ?3"
        }
        EventKind::AffiliateApproved => {
            "SELECT f.seq, f.tenant, f.code, NULL, NULL, NULL, f.name, f.created_at, 1, 0
             FROM affiliates f WHERE f.seq > ?1 AND f.created_at < ?2
               AND EXISTS (SELECT 1 FROM applications a WHERE a.tenant = f.tenant
                           AND a.affiliate = f.code AND a.status = 'approved')
             ORDER BY f.seq LIMIT ?3"
        }
    };
    let mut st = conn.prepare_cached(sql)?;
    let out = st
        .query_map(params![after, before, limit], |r| {
            let row = Fact {
                id: r.get(0)?,
                tenant: r.get(1)?,
                affiliate: r.get(2)?,
                amount_cents: r.get(3)?,
                commission_cents: r.get(4)?,
                currency: r.get(5)?,
                reference: r.get(6)?,
                created_at: r.get(7)?,
            };
            Ok(Counted {
                row,
                livemode: r.get(8)?,
                count_test_payments: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

impl WebhookRows for Notify<'_> {
    async fn facts_after(
        &mut self,
        kind: EventKind,
        after: i64,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Counted<Fact>>> {
        facts(self.0, kind, after, before, limit)
    }

    async fn subscribers(&mut self, tenant: &str, kind: EventKind) -> StoreResult<Vec<i64>> {
        let mut st = self.0.prepare_cached(
            "SELECT id FROM webhook_endpoints WHERE tenant = ?1 AND enabled = 1
               AND instr(',' || events || ',', ',' || ?2 || ',') > 0 ORDER BY id",
        )?;
        let out = st
            .query_map(params![tenant, kind.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(out)
    }
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_endpoint(&self, e: EndpointIn) -> StoreResult<EndpointRow> {
        self.exec(move |c| create(c, &e)).await
    }

    async fn endpoints(&self, tenant: &str) -> StoreResult<Vec<EndpointRow>> {
        let t = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant = ?1 ORDER BY id"
            ))?;
            let out = st
                .query_map([t], endpoint)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(out)
        })
        .await
    }

    async fn endpoint(&self, tenant: Option<&str>, id: i64) -> StoreResult<Option<EndpointRow>> {
        let t = tenant.map(str::to_string);
        self.read(move |c| get(c, t.as_deref(), id)).await
    }

    async fn update_endpoint(
        &self,
        tenant: &str,
        id: i64,
        p: EndpointPatch,
        now: i64,
    ) -> StoreResult<EndpointRow> {
        let t = tenant.to_string();
        self.exec(move |c| update(c, &t, id, &p, now)).await
    }

    async fn delete_endpoint(&self, tenant: &str, id: i64) -> StoreResult<()> {
        let t = tenant.to_string();
        self.exec(move |c| delete(c, &t, id)).await
    }

    async fn endpoint_outcome(&self, id: i64, o: Outcome, now: i64) -> StoreResult<()> {
        self.exec(move |c| outcome(c, id, &o, now)).await
    }

    async fn queue_webhook_events(
        &self,
        settled_before: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<usize> {
        self.exec(move |c| {
            clicktrail_app::run_ready(clicktrail_app::webhooks::queue_events(
                &mut Notify(c),
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
        self.read(move |c| deliveries(c, &t, endpoint, limit)).await
    }
}
