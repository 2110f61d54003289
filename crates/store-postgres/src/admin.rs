//! The admin API's tenant-scoped listings on PostgreSQL (shaped by `clicktrail_app::admin`)
//! and its audit lines. Every query names the tenant. Catalog changes are `catalog.rs`'s.

use clicktrail_app::admin::{key_row, with_aliases, EventRows, EventSource};
use clicktrail_store::{
    AffiliateRow, AuditIn, AuditRow, DiagnosticRow, EventFilter, EventRow, KeyRow,
};
use tokio_postgres::Row;

use crate::ops::{exec, q, Tx};
use crate::{Fail, PgStore};

pub(crate) async fn affiliates(store: &PgStore, tenant: &str) -> Result<Vec<AffiliateRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        "SELECT code, name, disabled, created_at FROM affiliates WHERE tenant = $1 ORDER BY seq",
        &[&tenant],
    )
    .await?;
    let aliases = q(
        &tx,
        "SELECT alias, code FROM affiliate_aliases WHERE tenant = $1 ORDER BY alias",
        &[&tenant],
    )
    .await?;
    tx.commit().await?;
    let rows = rows
        .iter()
        .map(|r| AffiliateRow {
            code: r.get(0),
            aliases: Vec::new(),
            name: r.get(1),
            disabled: r.get(2),
            created_at: r.get(3),
        })
        .collect();
    Ok(with_aliases(
        rows,
        aliases.iter().map(|a| (a.get(0), a.get(1))).collect(),
    ))
}

pub(crate) async fn keys(store: &PgStore, tenant: &str) -> Result<Vec<KeyRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        "SELECT key_hash, scopes, label, created_at, revoked_at FROM api_keys WHERE tenant = $1
         ORDER BY created_at, key_hash",
        &[&tenant],
    )
    .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| key_row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

pub(crate) async fn diagnostics(
    store: &PgStore,
    f: &EventFilter,
) -> Result<Vec<DiagnosticRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let kinds: Option<Vec<String>> = (!f.kinds.is_empty()).then(|| f.kinds.clone());
    let since = f.since.unwrap_or(i64::MIN);
    let rows = q(
        &tx,
        "SELECT id, kind, message, url, user_agent, created_at FROM diagnostics
         WHERE tenant = $1 AND created_at >= $2
           AND ($3::text[] IS NULL OR coalesce(kind, '') = ANY($3))
         ORDER BY id DESC LIMIT $4 OFFSET $5",
        &[&f.tenant, &since, &kinds, &f.limit, &f.offset],
    )
    .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| DiagnosticRow {
            id: r.get(0),
            kind: r.get(1),
            message: r.get(2),
            url: r.get(3),
            user_agent: r.get(4),
            created_at: r.get(5),
        })
        .collect())
}

fn event(r: &Row) -> EventRow {
    EventRow {
        kind: r.get(0),
        id: r.get(1),
        created_at: r.get(2),
        affiliate: r.get(3),
        reference: r.get(4),
        amount_cents: r.get(5),
        currency: r.get(6),
        detail: r.get(7),
    }
}

pub(crate) async fn recent_events(store: &PgStore, f: &EventFilter) -> Result<Vec<EventRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::admin::recent_events(&mut Events(&tx), f).await?;
    tx.commit().await?;
    Ok(out)
}

/// The event log's sources inside one transaction.
struct Events<'t, 'c>(&'t Tx<'c>);

impl EventRows for Events<'_, '_> {
    type Error = Fail;

    async fn events(
        &mut self,
        source: EventSource,
        f: &EventFilter,
        kinds: &[&'static str],
    ) -> Result<Vec<EventRow>, Fail> {
        let sql = match source {
            EventSource::Clicks => {
                "SELECT 'click'::text, id, created_at, affiliate, cid, NULL::bigint, NULL::text, url
                 FROM clicks
                 WHERE tenant = $1 AND created_at >= $2 AND ($3::text IS NULL OR affiliate = $3)
                   AND $5::text[] IS NOT NULL
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            }
            EventSource::Leads => {
                "SELECT 'lead'::text, id, created_at, affiliate, coalesce(customer_key, cid),
                    NULL::bigint, NULL::text, source
                 FROM leads WHERE tenant = $1 AND created_at >= $2 AND ($3::text IS NULL OR affiliate = $3)
                   AND $5::text[] IS NOT NULL
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            }
            EventSource::Conversions => {
                "SELECT kind, id, created_at, affiliate, coalesce(transaction_id, public_id),
                    amount_cents, currency, conversion_type || ' (' || status || ')'
                 FROM conversions WHERE tenant = $1 AND created_at >= $2
                    AND ($3::text IS NULL OR affiliate = $3) AND kind = ANY($5)
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            }
            EventSource::Refunds => {
                "SELECT 'refund'::text, r.id, r.created_at, c.affiliate, r.refund_id, r.amount_cents,
                    c.currency, 'transaction ' || r.transaction_id
                 FROM refunds r JOIN conversions c ON c.id = r.conversion_id
                 WHERE r.tenant = $1 AND r.created_at >= $2 AND ($3::text IS NULL OR c.affiliate = $3)
                   AND $5::text[] IS NOT NULL
                 ORDER BY r.created_at DESC, r.id DESC LIMIT $4"
            }
            EventSource::Diagnostics => {
                "SELECT k, id, created_at, NULL::text, kind, NULL::bigint, NULL::text, message
                 FROM (SELECT (CASE WHEN kind = 'rejected' THEN 'rejected' ELSE 'diagnostic' END) AS k,
                          id, created_at, kind, message FROM diagnostics
                       WHERE tenant = $1 AND created_at >= $2 AND $3::text IS NULL) d
                 WHERE k = ANY($5)
                 ORDER BY id DESC LIMIT $4"
            }
        };
        let since = f.since.unwrap_or(i64::MIN);
        let kinds: Vec<&str> = kinds.to_vec();
        let rows = q(
            self.0,
            sql,
            &[&f.tenant, &since, &f.affiliate, &f.window(), &kinds],
        )
        .await?;
        Ok(rows.iter().map(event).collect())
    }
}

pub(crate) async fn audit(store: &PgStore, a: &AuditIn) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    audit_tx(&tx, a).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn audit_tx(tx: &Tx<'_>, a: &AuditIn) -> Result<(), Fail> {
    exec(
        tx,
        "INSERT INTO audit_log (tenant, actor, action, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&a.tenant, &a.actor, &a.action, &a.summary, &a.now],
    )
    .await?;
    Ok(())
}

pub(crate) async fn audit_log(
    store: &PgStore,
    tenant: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        "SELECT id, actor, action, detail, created_at FROM audit_log WHERE tenant = $1
         ORDER BY id DESC LIMIT $2 OFFSET $3",
        &[&tenant, &limit, &offset],
    )
    .await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| AuditRow {
            id: r.get(0),
            actor: r.get(1),
            action: r.get(2),
            summary: r.get(3),
            created_at: r.get(4),
        })
        .collect())
}
