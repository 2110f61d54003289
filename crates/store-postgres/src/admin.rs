//! The admin API's transactions (`clicktrail_store::admin`) on PostgreSQL: one
//! catalog change with its audit line and a version bump per transaction (serialized with
//! `apply_catalog` by the version row's lock); tenant-scoped listings. Every query names the
//! tenant.

use clicktrail_store::admin::{errors, key_id, merge_events};
use clicktrail_store::{
    AffiliateRow, AuditIn, AuditRow, CatalogChange, ChangeIn, DiagnosticRow, EventFilter, EventRow,
    KeyRow, StoreError, TenantSpec,
};
use tokio_postgres::Row;

use crate::catalog::apply_tenant;
use crate::ops::{exec, q, q_opt, Tx};
use crate::{Fail, PgStore};

pub(crate) async fn change(store: &PgStore, c: &ChangeIn) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    exec(
        &tx,
        "SELECT version FROM catalog_version WHERE id = 1 FOR UPDATE",
        &[],
    )
    .await?;
    apply_change(&tx, c).await?;
    exec(
        &tx,
        "INSERT INTO audit_log (tenant, actor, action, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&c.tenant, &c.actor, &c.action, &c.summary, &c.now],
    )
    .await?;
    exec(
        &tx,
        "UPDATE catalog_version SET version = version + 1 WHERE id = 1",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn apply_change(tx: &Tx<'_>, c: &ChangeIn) -> Result<(), Fail> {
    let t = &c.tenant;
    match &c.change {
        CatalogChange::CreateAffiliate { code, name } => {
            let n = exec(
                tx,
                "INSERT INTO affiliates (tenant, code, name, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[t, code, name, &c.now],
            )
            .await?;
            if n == 0 {
                return Err(errors::duplicate("duplicate_affiliate", "affiliate", code).into());
            }
            let alias = q_opt(
                tx,
                "SELECT 1 FROM affiliate_aliases WHERE tenant = $1 AND alias = $2",
                &[t, code],
            )
            .await?;
            if alias.is_some() {
                return Err(errors::code_taken(code).into());
            }
        }
        CatalogChange::UpdateAffiliate {
            code,
            name,
            disabled,
        } => {
            let found = q_opt(
                tx,
                "SELECT 1 FROM affiliates WHERE tenant = $1 AND code = $2 FOR UPDATE",
                &[t, code],
            )
            .await?;
            if found.is_none() {
                return Err(errors::unknown("unknown_affiliate", "affiliate", code).into());
            }
            if let Some(name) = name {
                exec(
                    tx,
                    "UPDATE affiliates SET name = $3 WHERE tenant = $1 AND code = $2",
                    &[t, code, name],
                )
                .await?;
            }
            if let Some(d) = disabled {
                exec(
                    tx,
                    "UPDATE affiliates SET disabled = $3 WHERE tenant = $1 AND code = $2",
                    &[t, code, d],
                )
                .await?;
            }
        }
        CatalogChange::AddAlias { code, alias } => {
            // serialized with every other catalog change by the version row's lock
            let found = q_opt(
                tx,
                "SELECT 1 FROM affiliates WHERE tenant = $1 AND code = $2",
                &[t, code],
            )
            .await?;
            if found.is_none() {
                return Err(errors::unknown("unknown_affiliate", "affiliate", code).into());
            }
            let taken = q_opt(
                tx,
                "SELECT 1 FROM affiliates WHERE tenant = $1 AND code = $2
                 UNION ALL SELECT 1 FROM affiliate_aliases WHERE tenant = $1 AND alias = $2",
                &[t, alias],
            )
            .await?;
            if taken.is_some() {
                return Err(errors::code_taken(alias).into());
            }
            exec(
                tx,
                "INSERT INTO affiliate_aliases (tenant, alias, code, created_at) VALUES ($1, $2, $3, $4)",
                &[t, alias, code, &c.now],
            )
            .await?;
        }
        CatalogChange::RemoveAlias { code, alias } => {
            let n = exec(
                tx,
                "DELETE FROM affiliate_aliases WHERE tenant = $1 AND alias = $2 AND code = $3",
                &[t, alias, code],
            )
            .await?;
            if n == 0 {
                return Err(errors::unknown("unknown_alias", "alias", alias).into());
            }
        }
        CatalogChange::CreateConversionType { code, payout } => {
            let (kind, value) = payout.to_parts();
            let n = exec(
                tx,
                "INSERT INTO conversion_types (tenant, code, payout_kind, payout_value)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[t, code, &kind, &value],
            )
            .await?;
            if n == 0 {
                return Err(errors::duplicate(
                    "duplicate_conversion_type",
                    "conversion type",
                    code,
                )
                .into());
            }
        }
        CatalogChange::UpdateConversionType { code, payout } => {
            let (kind, value) = payout.to_parts();
            let n = exec(
                tx,
                "UPDATE conversion_types SET payout_kind = $3, payout_value = $4
                 WHERE tenant = $1 AND code = $2",
                &[t, code, &kind, &value],
            )
            .await?;
            if n == 0 {
                return Err(
                    errors::unknown("unknown_conversion_type", "conversion type", code).into(),
                );
            }
        }
        CatalogChange::AddRevenueOrigin { id } => {
            let n = exec(
                tx,
                "INSERT INTO revenue_origins (tenant, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[t, id],
            )
            .await?;
            if n == 0 {
                return Err(
                    errors::duplicate("duplicate_revenue_origin", "revenue origin", id).into(),
                );
            }
        }
        CatalogChange::RemoveRevenueOrigin { id } => {
            let n = exec(
                tx,
                "DELETE FROM revenue_origins WHERE tenant = $1 AND id = $2",
                &[t, id],
            )
            .await?;
            if n == 0 {
                return Err(errors::unknown("unknown_revenue_origin", "revenue origin", id).into());
            }
        }
        CatalogChange::AddAllowedOrigin { origin } => {
            let n = exec(
                tx,
                "INSERT INTO allowed_origins (tenant, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[t, origin],
            )
            .await?;
            if n == 0 {
                return Err(errors::duplicate("duplicate_origin", "origin", origin).into());
            }
        }
        CatalogChange::RemoveAllowedOrigin { origin } => {
            let n = exec(
                tx,
                "DELETE FROM allowed_origins WHERE tenant = $1 AND origin = $2",
                &[t, origin],
            )
            .await?;
            if n == 0 {
                return Err(errors::unknown("unknown_origin", "origin", origin).into());
            }
        }
        CatalogChange::CreateKey {
            key_hash,
            scopes,
            label,
        } => {
            let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let n = exec(
                tx,
                "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[key_hash, t, &scopes.join(" "), label, &c.now],
            )
            .await?;
            if n == 0 {
                return Err(StoreError::Internal("a new key collided".into()).into());
            }
        }
        CatalogChange::RevokeKey { key_id: id } => {
            let prefix = id.strip_prefix("key_").unwrap_or("-");
            let row = q_opt(
                tx,
                "SELECT key_hash, revoked_at FROM api_keys
                 WHERE tenant = $1 AND substr(key_hash, 1, 16) = $2 FOR UPDATE",
                &[t, &prefix],
            )
            .await?;
            let Some(row) = row else {
                return Err(errors::unknown("unknown_key", "key", id).into());
            };
            let (hash, revoked): (String, Option<i64>) = (row.get(0), row.get(1));
            if revoked.is_some() {
                return Err(StoreError::Conflict(
                    "key_revoked",
                    format!("key `{id}` is already revoked"),
                )
                .into());
            }
            exec(
                tx,
                "UPDATE api_keys SET revoked_at = $2 WHERE key_hash = $1",
                &[&hash, &c.now],
            )
            .await?;
        }
        CatalogChange::CreateTenant {
            tenant,
            admin_key_hash,
        } => {
            let found = q_opt(tx, "SELECT 1 FROM tenants WHERE id = $1", &[&tenant.id]).await?;
            if found.is_some() {
                return Err(errors::duplicate("duplicate_tenant", "tenant", &tenant.id).into());
            }
            let spec = TenantSpec {
                tenant: tenant.clone(),
                keys: Vec::new(),
            };
            apply_tenant(tx, &spec, c.now).await?;
            exec(
                tx,
                "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at)
                 VALUES ($1, $2, 'admin', 'first admin key', $3)",
                &[admin_key_hash, &tenant.id, &c.now],
            )
            .await?;
        }
        CatalogChange::SetRules { rules } => {
            crate::catalog::set_rules(tx, t, rules).await?;
        }
    }
    Ok(())
}

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
    let mut rows: Vec<AffiliateRow> = rows
        .iter()
        .map(|r| AffiliateRow {
            code: r.get(0),
            aliases: Vec::new(),
            name: r.get(1),
            disabled: r.get(2),
            created_at: r.get(3),
        })
        .collect();
    for a in &aliases {
        let code: &str = a.get(1);
        if let Some(row) = rows.iter_mut().find(|row| row.code == code) {
            row.aliases.push(a.get(0));
        }
    }
    Ok(rows)
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
        .map(|r| {
            let hash: String = r.get(0);
            let scopes: String = r.get(1);
            KeyRow {
                id: key_id(&hash),
                scopes: scopes.split_whitespace().map(str::to_string).collect(),
                label: r.get(2),
                created_at: r.get(3),
                revoked_at: r.get(4),
            }
        })
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
         WHERE coalesce(tenant, '') = $1 AND created_at >= $2
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

const DIAG_KIND: &str = "(CASE WHEN kind = 'rejected' THEN 'rejected' ELSE 'diagnostic' END)";

pub(crate) async fn recent_events(store: &PgStore, f: &EventFilter) -> Result<Vec<EventRow>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let since = f.since.unwrap_or(i64::MIN);
    let n = f.window();
    let aff = f.affiliate.clone();
    let mut out = Vec::new();
    let wanted = |a: &'static str, b: &'static str| -> Vec<String> {
        [a, b]
            .into_iter()
            .filter(|k| f.wants(k))
            .map(str::to_string)
            .collect()
    };
    let diag_sql = format!(
        "SELECT {DIAG_KIND}::text, id, created_at, NULL::text, kind, NULL::bigint, NULL::text, message
         FROM diagnostics
         WHERE coalesce(tenant, '') = $1 AND created_at >= $2 AND $3::text IS NULL
           AND {DIAG_KIND} = ANY($5)
         ORDER BY id DESC LIMIT $4"
    );
    let queries: [(&str, &str, &str); 5] = [
        (
            "click",
            "click",
            "SELECT 'click'::text, id, created_at, affiliate, cid, NULL::bigint, NULL::text, url FROM clicks
             WHERE tenant = $1 AND created_at >= $2 AND ($3::text IS NULL OR affiliate = $3)
               AND 'click' = ANY($5)
             ORDER BY created_at DESC, id DESC LIMIT $4",
        ),
        (
            "lead",
            "lead",
            "SELECT 'lead'::text, id, created_at, affiliate, coalesce(customer_key, cid), NULL::bigint,
                NULL::text, source
             FROM leads WHERE tenant = $1 AND created_at >= $2 AND ($3::text IS NULL OR affiliate = $3)
               AND 'lead' = ANY($5)
             ORDER BY created_at DESC, id DESC LIMIT $4",
        ),
        (
            "conversion",
            "sale",
            "SELECT kind, id, created_at, affiliate, coalesce(transaction_id, public_id), amount_cents,
                currency, conversion_type || ' (' || status || ')'
             FROM conversions WHERE tenant = $1 AND created_at >= $2 AND ($3::text IS NULL OR affiliate = $3)
                AND kind = ANY($5)
             ORDER BY created_at DESC, id DESC LIMIT $4",
        ),
        (
            "refund",
            "refund",
            "SELECT 'refund'::text, r.id, r.created_at, c.affiliate, r.refund_id, r.amount_cents, c.currency,
                'transaction ' || r.transaction_id
             FROM refunds r JOIN conversions c ON c.id = r.conversion_id
             WHERE r.tenant = $1 AND r.created_at >= $2 AND ($3::text IS NULL OR c.affiliate = $3)
               AND 'refund' = ANY($5)
             ORDER BY r.created_at DESC, r.id DESC LIMIT $4",
        ),
        ("diagnostic", "rejected", ""),
    ];
    for (a, b, sql) in queries {
        let kinds = wanted(a, b);
        if kinds.is_empty() {
            continue;
        }
        let sql = if sql.is_empty() {
            diag_sql.as_str()
        } else {
            sql
        };
        let rows = q(&tx, sql, &[&f.tenant, &since, &aff, &n, &kinds]).await?;
        out.extend(rows.iter().map(event));
    }
    tx.commit().await?;
    Ok(merge_events(out, f))
}

pub(crate) async fn audit(store: &PgStore, a: &AuditIn) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    exec(
        &tx,
        "INSERT INTO audit_log (tenant, actor, action, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&a.tenant, &a.actor, &a.action, &a.summary, &a.now],
    )
    .await?;
    tx.commit().await?;
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
