//! The admin API's transactions (`clicktrail_store::admin`): one catalog change with
//! its audit line and a version bump per job; tenant-scoped listings. Every query names the
//! tenant.

use clicktrail_store::admin::{errors, key_id, merge_events};
use clicktrail_store::{
    AffiliateRow, AuditIn, AuditRow, CatalogChange, ChangeIn, DiagnosticRow, EventFilter, EventRow,
    KeyRow, StoreError, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::catalog::bump_version;

fn exists(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(p, |_| Ok(()))
        .optional()?
        .is_some())
}

/// The tenant has an affiliate `code` (disabled or not).
fn affiliate_exists(conn: &Connection, tenant: &str, code: &str) -> StoreResult<bool> {
    exists(
        conn,
        "SELECT 1 FROM affiliates WHERE tenant = ?1 AND code = ?2",
        params![tenant, code],
    )
}

pub(crate) fn change(conn: &Connection, c: &ChangeIn) -> StoreResult<()> {
    let t = c.tenant.as_str();
    match &c.change {
        CatalogChange::CreateAffiliate { code, name } => {
            if affiliate_exists(conn, t, code)? {
                return Err(errors::duplicate("duplicate_affiliate", "affiliate", code));
            }
            if exists(
                conn,
                "SELECT 1 FROM affiliate_aliases WHERE tenant = ?1 AND alias = ?2",
                params![t, code],
            )? {
                return Err(errors::code_taken(code));
            }
            conn.prepare_cached(
                "INSERT INTO affiliates (tenant, code, name, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![t, code, name, c.now])?;
        }
        CatalogChange::UpdateAffiliate {
            code,
            name,
            disabled,
        } => {
            if !affiliate_exists(conn, t, code)? {
                return Err(errors::unknown("unknown_affiliate", "affiliate", code));
            }
            if let Some(name) = name {
                conn.prepare_cached(
                    "UPDATE affiliates SET name = ?3 WHERE tenant = ?1 AND code = ?2",
                )?
                .execute(params![t, code, name])?;
            }
            if let Some(d) = disabled {
                conn.prepare_cached(
                    "UPDATE affiliates SET disabled = ?3 WHERE tenant = ?1 AND code = ?2",
                )?
                .execute(params![t, code, d])?;
            }
        }
        CatalogChange::AddAlias { code, alias } => {
            if !affiliate_exists(conn, t, code)? {
                return Err(errors::unknown("unknown_affiliate", "affiliate", code));
            }
            if exists(
                conn,
                "SELECT 1 FROM affiliates WHERE tenant = ?1 AND code = ?2
                 UNION ALL SELECT 1 FROM affiliate_aliases WHERE tenant = ?1 AND alias = ?2",
                params![t, alias],
            )? {
                return Err(errors::code_taken(alias));
            }
            conn.prepare_cached(
                "INSERT INTO affiliate_aliases (tenant, alias, code, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![t, alias, code, c.now])?;
        }
        CatalogChange::RemoveAlias { code, alias } => {
            let n = conn
                .prepare_cached(
                    "DELETE FROM affiliate_aliases WHERE tenant = ?1 AND alias = ?2 AND code = ?3",
                )?
                .execute(params![t, alias, code])?;
            if n == 0 {
                return Err(errors::unknown("unknown_alias", "alias", alias));
            }
        }
        CatalogChange::CreateConversionType { code, payout } => {
            let (kind, value) = payout.to_parts();
            let n = conn
                .prepare_cached(
                    "INSERT INTO conversion_types (tenant, code, payout_kind, payout_value)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )?
                .execute(params![t, code, kind, value])?;
            if n == 0 {
                return Err(errors::duplicate(
                    "duplicate_conversion_type",
                    "conversion type",
                    code,
                ));
            }
        }
        CatalogChange::UpdateConversionType { code, payout } => {
            let (kind, value) = payout.to_parts();
            let n = conn
                .prepare_cached(
                    "UPDATE conversion_types SET payout_kind = ?3, payout_value = ?4
                     WHERE tenant = ?1 AND code = ?2",
                )?
                .execute(params![t, code, kind, value])?;
            if n == 0 {
                return Err(errors::unknown(
                    "unknown_conversion_type",
                    "conversion type",
                    code,
                ));
            }
        }
        CatalogChange::AddRevenueOrigin { id } => {
            let n = conn
                .prepare_cached(
                    "INSERT INTO revenue_origins (tenant, id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )?
                .execute(params![t, id])?;
            if n == 0 {
                return Err(errors::duplicate(
                    "duplicate_revenue_origin",
                    "revenue origin",
                    id,
                ));
            }
        }
        CatalogChange::RemoveRevenueOrigin { id } => {
            let n = conn
                .prepare_cached("DELETE FROM revenue_origins WHERE tenant = ?1 AND id = ?2")?
                .execute(params![t, id])?;
            if n == 0 {
                return Err(errors::unknown(
                    "unknown_revenue_origin",
                    "revenue origin",
                    id,
                ));
            }
        }
        CatalogChange::AddAllowedOrigin { origin } => {
            let n = conn
                .prepare_cached(
                    "INSERT INTO allowed_origins (tenant, origin) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )?
                .execute(params![t, origin])?;
            if n == 0 {
                return Err(errors::duplicate("duplicate_origin", "origin", origin));
            }
        }
        CatalogChange::RemoveAllowedOrigin { origin } => {
            let n = conn
                .prepare_cached("DELETE FROM allowed_origins WHERE tenant = ?1 AND origin = ?2")?
                .execute(params![t, origin])?;
            if n == 0 {
                return Err(errors::unknown("unknown_origin", "origin", origin));
            }
        }
        CatalogChange::CreateKey {
            key_hash,
            scopes,
            label,
        } => {
            let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let n = conn
                .prepare_cached(
                    "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )?
                .execute(params![key_hash, t, scopes.join(" "), label, c.now])?;
            if n == 0 {
                return Err(StoreError::Internal("a new key collided".into()));
            }
        }
        CatalogChange::RevokeKey { key_id: id } => {
            let row: Option<(String, Option<i64>)> = conn
                .prepare_cached(
                    "SELECT key_hash, revoked_at FROM api_keys WHERE tenant = ?1 AND substr(key_hash, 1, 16) = ?2",
                )?
                .query_row(
                    params![t, id.strip_prefix("key_").unwrap_or("-")],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match row {
                None => return Err(errors::unknown("unknown_key", "key", id)),
                Some((_, Some(_))) => {
                    return Err(StoreError::Conflict(
                        "key_revoked",
                        format!("key `{id}` is already revoked"),
                    ))
                }
                Some((hash, None)) => {
                    conn.prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE key_hash = ?1")?
                        .execute(params![hash, c.now])?;
                }
            }
        }
        CatalogChange::CreateTenant {
            tenant,
            admin_key_hash,
        } => {
            if exists(conn, "SELECT 1 FROM tenants WHERE id = ?1", [&tenant.id])? {
                return Err(errors::duplicate("duplicate_tenant", "tenant", &tenant.id));
            }
            let tc = tenant.clone();
            crate::catalog::apply(
                conn,
                &[clicktrail_store::TenantSpec {
                    tenant: tc,
                    keys: Vec::new(),
                }],
                c.now,
            )?;
            conn.prepare_cached(
                "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at)
                 VALUES (?1, ?2, 'admin', 'first admin key', ?3)",
            )?
            .execute(params![admin_key_hash, tenant.id, c.now])?;
        }
        CatalogChange::SetRules { rules } => crate::catalog::set_rules(conn, t, rules)?,
    }
    conn.prepare_cached(
        "INSERT INTO audit_log (tenant, actor, action, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![t, c.actor, c.action, c.summary, c.now])?;
    bump_version(conn)
}

pub(crate) fn affiliates(conn: &Connection, tenant: &str) -> StoreResult<Vec<AffiliateRow>> {
    let mut st = conn.prepare_cached(
        "SELECT code, name, disabled, created_at FROM affiliates WHERE tenant = ?1 ORDER BY seq",
    )?;
    let rows = st.query_map([tenant], |r| {
        Ok(AffiliateRow {
            code: r.get(0)?,
            aliases: Vec::new(),
            name: r.get(1)?,
            disabled: r.get(2)?,
            created_at: r.get(3)?,
        })
    })?;
    let mut rows: Vec<AffiliateRow> = rows.collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(
        "SELECT alias, code FROM affiliate_aliases WHERE tenant = ?1 ORDER BY alias",
    )?;
    for a in st.query_map([tenant], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })? {
        let (alias, code) = a?;
        if let Some(row) = rows.iter_mut().find(|row| row.code == code) {
            row.aliases.push(alias);
        }
    }
    Ok(rows)
}

pub(crate) fn keys(conn: &Connection, tenant: &str) -> StoreResult<Vec<KeyRow>> {
    let mut st = conn.prepare_cached(
        "SELECT key_hash, scopes, label, created_at, revoked_at FROM api_keys WHERE tenant = ?1
         ORDER BY created_at, key_hash",
    )?;
    let rows = st.query_map([tenant], |r| {
        let hash: String = r.get(0)?;
        let scopes: String = r.get(1)?;
        Ok(KeyRow {
            id: key_id(&hash),
            scopes: scopes.split_whitespace().map(str::to_string).collect(),
            label: r.get(2)?,
            created_at: r.get(3)?,
            revoked_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `kind` = 'rejected' rows are the rejected-request log; the rest are loader diagnostics.
const DIAG_KIND: &str = "(CASE WHEN kind = 'rejected' THEN 'rejected' ELSE 'diagnostic' END)";

pub(crate) fn diagnostics(conn: &Connection, f: &EventFilter) -> StoreResult<Vec<DiagnosticRow>> {
    let kinds = if f.kinds.is_empty() {
        None
    } else {
        Some(f.kinds.join(","))
    };
    let mut st = conn.prepare_cached(
        "SELECT id, kind, message, url, user_agent, created_at FROM diagnostics
         WHERE tenant = ?1 AND created_at >= ?2
           AND (?3 IS NULL OR instr(',' || ?3 || ',', ',' || coalesce(kind, '') || ',') > 0)
         ORDER BY id DESC LIMIT ?4 OFFSET ?5",
    )?;
    let rows = st.query_map(
        params![
            f.tenant,
            f.since.unwrap_or(i64::MIN),
            kinds,
            f.limit,
            f.offset
        ],
        |r| {
            Ok(DiagnosticRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                message: r.get(2)?,
                url: r.get(3)?,
                user_agent: r.get(4)?,
                created_at: r.get(5)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn event(r: &Row) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        kind: r.get(0)?,
        id: r.get(1)?,
        created_at: r.get(2)?,
        affiliate: r.get(3)?,
        reference: r.get(4)?,
        amount_cents: r.get(5)?,
        currency: r.get(6)?,
        detail: r.get(7)?,
    })
}

pub(crate) fn recent_events(conn: &Connection, f: &EventFilter) -> StoreResult<Vec<EventRow>> {
    let since = f.since.unwrap_or(i64::MIN);
    let n = f.window();
    let aff = f.affiliate.as_deref();
    let mut out = Vec::new();
    let queries: [(&str, String); 5] = [
        (
            "click",
            "SELECT 'click', id, created_at, affiliate, cid, NULL, NULL, url FROM clicks
             WHERE tenant = ?1 AND created_at >= ?2 AND (?3 IS NULL OR affiliate = ?3)
             ORDER BY created_at DESC, id DESC LIMIT ?4"
                .into(),
        ),
        (
            "lead",
            "SELECT 'lead', id, created_at, affiliate, coalesce(customer_key, cid), NULL, NULL, source
             FROM leads WHERE tenant = ?1 AND created_at >= ?2 AND (?3 IS NULL OR affiliate = ?3)
             ORDER BY created_at DESC, id DESC LIMIT ?4"
                .into(),
        ),
        (
            "conversion",
            "SELECT kind, id, created_at, affiliate, coalesce(transaction_id, public_id), amount_cents,
                currency, conversion_type || ' (' || status || ')'
             FROM conversions WHERE tenant = ?1 AND created_at >= ?2 AND (?3 IS NULL OR affiliate = ?3)
                AND kind IN (?5, ?6)
             ORDER BY created_at DESC, id DESC LIMIT ?4"
                .into(),
        ),
        (
            "refund",
            "SELECT 'refund', r.id, r.created_at, c.affiliate, r.refund_id, r.amount_cents, c.currency,
                'transaction ' || r.transaction_id
             FROM refunds r JOIN conversions c ON c.id = r.conversion_id
             WHERE r.tenant = ?1 AND r.created_at >= ?2 AND (?3 IS NULL OR c.affiliate = ?3)
             ORDER BY r.created_at DESC, r.id DESC LIMIT ?4"
                .into(),
        ),
        (
            "diagnostic",
            format!(
                "SELECT {DIAG_KIND}, id, created_at, NULL, kind, NULL, NULL, message FROM diagnostics
                 WHERE tenant = ?1 AND created_at >= ?2 AND ?3 IS NULL AND {DIAG_KIND} IN (?5, ?6)
                 ORDER BY id DESC LIMIT ?4"
            ),
        ),
    ];
    for (group, sql) in queries {
        // the two kinds a query may answer, when wanted
        let (a, b) = match group {
            "conversion" => ("conversion", "sale"),
            "diagnostic" => ("diagnostic", "rejected"),
            k => (k, k),
        };
        let a = if f.wants(a) { a } else { "-" };
        let b = if f.wants(b) { b } else { "-" };
        if a == "-" && b == "-" {
            continue;
        }
        let mut st = conn.prepare_cached(&sql)?;
        let rows = if matches!(group, "conversion" | "diagnostic") {
            st.query_map(params![f.tenant, since, aff, n, a, b], event)?
                .collect::<Result<Vec<_>, _>>()?
        } else {
            st.query_map(params![f.tenant, since, aff, n], event)?
                .collect::<Result<Vec<_>, _>>()?
        };
        out.extend(rows);
    }
    Ok(merge_events(out, f))
}

pub(crate) fn audit(conn: &Connection, a: &AuditIn) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (tenant, actor, action, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![a.tenant, a.actor, a.action, a.summary, a.now])?;
    Ok(())
}

pub(crate) fn audit_log(
    conn: &Connection,
    tenant: &str,
    limit: i64,
    offset: i64,
) -> StoreResult<Vec<AuditRow>> {
    let mut st = conn.prepare_cached(
        "SELECT id, actor, action, detail, created_at FROM audit_log WHERE tenant = ?1
         ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = st.query_map(params![tenant, limit, offset], |r| {
        Ok(AuditRow {
            id: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            summary: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
