//! The admin API's tenant-scoped listings on SQLite (shaped by `clicktrail_app::admin`) and
//! its audit lines. Every query names the tenant. Catalog changes are `catalog.rs`'s.

use clicktrail_app::admin::{key_row, with_aliases, EventRows, EventSource};
use clicktrail_app::run_ready;
use clicktrail_store::{
    AffiliateRow, AuditIn, AuditRow, DiagnosticRow, EventFilter, EventRow, KeyRow, StoreError,
    StoreResult,
};
use rusqlite::{params, Connection, Row};

pub(crate) fn affiliates(conn: &Connection, tenant: &str) -> StoreResult<Vec<AffiliateRow>> {
    let mut st = conn.prepare_cached(
        "SELECT code, name, disabled, created_at FROM affiliates WHERE tenant = ?1 ORDER BY seq",
    )?;
    let rows = st
        .query_map([tenant], |r| {
            Ok(AffiliateRow {
                code: r.get(0)?,
                aliases: Vec::new(),
                name: r.get(1)?,
                disabled: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(
        "SELECT alias, code FROM affiliate_aliases WHERE tenant = ?1 ORDER BY alias",
    )?;
    let aliases = st
        .query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(with_aliases(rows, aliases))
}

pub(crate) fn keys(conn: &Connection, tenant: &str) -> StoreResult<Vec<KeyRow>> {
    let mut st = conn.prepare_cached(
        "SELECT key_hash, scopes, label, created_at, revoked_at FROM api_keys WHERE tenant = ?1
         ORDER BY created_at, key_hash",
    )?;
    let rows = st.query_map([tenant], |r| {
        let (hash, scopes): (String, String) = (r.get(0)?, r.get(1)?);
        Ok(key_row(&hash, &scopes, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

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
    run_ready(clicktrail_app::admin::recent_events(&mut Events(conn), f))
}

/// The event log's sources on the reader connection.
struct Events<'c>(&'c Connection);

impl EventRows for Events<'_> {
    type Error = StoreError;

    async fn events(
        &mut self,
        source: EventSource,
        f: &EventFilter,
        kinds: &[&'static str],
    ) -> StoreResult<Vec<EventRow>> {
        let sql = match source {
            EventSource::Clicks => {
                "SELECT 'click', id, created_at, affiliate, cid, NULL, NULL, url FROM clicks
                 WHERE tenant = ?1 AND created_at >= ?2 AND (?3 IS NULL OR affiliate = ?3)
                 ORDER BY created_at DESC, id DESC LIMIT ?4"
            }
            EventSource::Leads => {
                "SELECT 'lead', id, created_at, affiliate, coalesce(customer_key, cid), NULL, NULL,
                    source
                 FROM leads WHERE tenant = ?1 AND created_at >= ?2 AND (?3 IS NULL OR affiliate = ?3)
                 ORDER BY created_at DESC, id DESC LIMIT ?4"
            }
            EventSource::Conversions => {
                "SELECT kind, id, created_at, affiliate, coalesce(transaction_id, public_id),
                    amount_cents, currency, conversion_type || ' (' || status || ')'
                 FROM conversions WHERE tenant = ?1 AND created_at >= ?2
                    AND (?3 IS NULL OR affiliate = ?3) AND kind IN (?5, ?6)
                 ORDER BY created_at DESC, id DESC LIMIT ?4"
            }
            EventSource::Refunds => {
                "SELECT 'refund', r.id, r.created_at, c.affiliate, r.refund_id, r.amount_cents,
                    c.currency, 'transaction ' || r.transaction_id
                 FROM refunds r JOIN conversions c ON c.id = r.conversion_id
                 WHERE r.tenant = ?1 AND r.created_at >= ?2 AND (?3 IS NULL OR c.affiliate = ?3)
                 ORDER BY r.created_at DESC, r.id DESC LIMIT ?4"
            }
            EventSource::Diagnostics => {
                "SELECT (CASE WHEN kind = 'rejected' THEN 'rejected' ELSE 'diagnostic' END) AS k,
                    id, created_at, NULL, kind, NULL, NULL, message FROM diagnostics
                 WHERE tenant = ?1 AND created_at >= ?2 AND ?3 IS NULL AND k IN (?5, ?6)
                 ORDER BY id DESC LIMIT ?4"
            }
        };
        let mut st = self.0.prepare_cached(sql)?;
        let since = f.since.unwrap_or(i64::MIN);
        let (a, b) = (kinds[0], kinds.get(1).copied().unwrap_or(kinds[0]));
        let p = params![f.tenant, since, f.affiliate, f.window(), a, b];
        // the single-kind sources bind five and six to nothing
        let n = st.parameter_count();
        let rows = st.query_map(&p[..n], event)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
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
