//! The admin API's tenant-scoped listings (shaped by `clicktrail_app::admin`) and its audit
//! lines. Every query names the tenant. Catalog changes are `catalog.rs`'s.

use clicktrail_app::admin::{key_row, with_aliases, EventRows, EventSource};
use clicktrail_store::{
    AffiliateRow, AuditIn, AuditRow, DiagnosticRow, EventFilter, EventRow, KeyRow,
};

use crate::{Db, Dialect, Row, Sql};

/// Reads every row with `f`; a column a reader does not expect is an internal error.
fn each<T, E>(rows: Vec<Row>, f: impl Fn(&Row) -> Result<T, E>) -> Result<Vec<T>, E> {
    rows.iter().map(f).collect()
}

/// The tenant's affiliates in creation order, each with its aliases.
pub async fn affiliates<D: Db>(db: &D, tenant: &str) -> Result<Vec<AffiliateRow>, D::Error> {
    let rows = db
        .query(
            "SELECT code, name, disabled, created_at FROM affiliates WHERE tenant = $1 ORDER BY seq",
            &[&tenant],
        )
        .await?;
    let aliases = db
        .query(
            "SELECT alias, code FROM affiliate_aliases WHERE tenant = $1 ORDER BY alias",
            &[&tenant],
        )
        .await?;
    let rows = each(rows, |r| {
        Ok::<_, D::Error>(AffiliateRow {
            code: r.get(0)?,
            aliases: Vec::new(),
            name: r.get(1)?,
            disabled: r.get(2)?,
            created_at: r.get(3)?,
        })
    })?;
    let aliases = each(aliases, |r| Ok::<_, D::Error>((r.get(0)?, r.get(1)?)))?;
    Ok(with_aliases(rows, aliases))
}

/// The tenant's API keys, revoked ones included, oldest first.
pub async fn keys<D: Db>(db: &D, tenant: &str) -> Result<Vec<KeyRow>, D::Error> {
    let rows = db
        .query(
            "SELECT key_hash, scopes, label, created_at, revoked_at FROM api_keys WHERE tenant = $1
             ORDER BY created_at, key_hash",
            &[&tenant],
        )
        .await?;
    each(rows, |r| {
        let (hash, scopes): (String, String) = (r.get(0)?, r.get(1)?);
        Ok(key_row(&hash, &scopes, r.get(2)?, r.get(3)?, r.get(4)?))
    })
}

/// One page of the tenant's diagnostics, newest first. The kind filter is a list: an array
/// on PostgreSQL, a comma-separated text SQLite searches.
pub async fn diagnostics<D: Db>(db: &D, f: &EventFilter) -> Result<Vec<DiagnosticRow>, D::Error> {
    let since = f.since.unwrap_or(i64::MIN);
    let rows = match D::DIALECT {
        Dialect::Sqlite => {
            let kinds = (!f.kinds.is_empty()).then(|| f.kinds.join(","));
            db.query(
                "SELECT id, kind, message, url, user_agent, created_at FROM diagnostics
                 WHERE tenant = $1 AND created_at >= $2
                   AND ($3 IS NULL OR instr(',' || $3 || ',', ',' || coalesce(kind, '') || ',') > 0)
                 ORDER BY id DESC LIMIT $4 OFFSET $5",
                &[&f.tenant, &since, &kinds, &f.limit, &f.offset],
            )
            .await?
        }
        Dialect::Postgres => {
            let kinds = (!f.kinds.is_empty()).then(|| f.kinds.clone());
            db.query(
                "SELECT id, kind, message, url, user_agent, created_at FROM diagnostics
                 WHERE tenant = $1 AND created_at >= $2
                   AND ($3::text[] IS NULL OR coalesce(kind, '') = ANY($3))
                 ORDER BY id DESC LIMIT $4 OFFSET $5",
                &[&f.tenant, &since, &kinds, &f.limit, &f.offset],
            )
            .await?
        }
    };
    each(rows, |r| {
        Ok(DiagnosticRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            message: r.get(2)?,
            url: r.get(3)?,
            user_agent: r.get(4)?,
            created_at: r.get(5)?,
        })
    })
}

/// The statement reading one source of the event log: `$1` tenant, `$2` since, `$3` the
/// affiliate or NULL, `$4` the window; the sources of two kinds filter on `$5`, `$6`.
fn events_sql(source: EventSource) -> &'static str {
    match source {
        EventSource::Clicks => {
            "SELECT CAST('click' AS TEXT), id, created_at, affiliate, cid, CAST(NULL AS BIGINT),
                CAST(NULL AS TEXT), url
             FROM clicks
             WHERE tenant = $1 AND created_at >= $2 AND (CAST($3 AS TEXT) IS NULL OR affiliate = $3)
             ORDER BY created_at DESC, id DESC LIMIT $4"
        }
        EventSource::Leads => {
            "SELECT CAST('lead' AS TEXT), id, created_at, affiliate, coalesce(customer_key, cid),
                CAST(NULL AS BIGINT), CAST(NULL AS TEXT), source
             FROM leads
             WHERE tenant = $1 AND created_at >= $2 AND (CAST($3 AS TEXT) IS NULL OR affiliate = $3)
             ORDER BY created_at DESC, id DESC LIMIT $4"
        }
        EventSource::Conversions => {
            "SELECT kind, id, created_at, affiliate, coalesce(transaction_id, public_id),
                amount_cents, currency, conversion_type || ' (' || status || ')'
             FROM conversions WHERE tenant = $1 AND created_at >= $2
                AND (CAST($3 AS TEXT) IS NULL OR affiliate = $3) AND kind IN ($5, $6)
             ORDER BY created_at DESC, id DESC LIMIT $4"
        }
        EventSource::Refunds => {
            "SELECT CAST('refund' AS TEXT), r.id, r.created_at, c.affiliate, r.refund_id,
                r.amount_cents, c.currency, 'transaction ' || r.transaction_id
             FROM refunds r JOIN conversions c ON c.id = r.conversion_id
             WHERE r.tenant = $1 AND r.created_at >= $2
                AND (CAST($3 AS TEXT) IS NULL OR c.affiliate = $3)
             ORDER BY r.created_at DESC, r.id DESC LIMIT $4"
        }
        EventSource::Diagnostics => {
            "SELECT k, id, created_at, CAST(NULL AS TEXT), kind, CAST(NULL AS BIGINT),
                CAST(NULL AS TEXT), message
             FROM (SELECT (CASE WHEN kind = 'rejected' THEN 'rejected' ELSE 'diagnostic' END) AS k,
                      id, created_at, kind, message FROM diagnostics
                   WHERE tenant = $1 AND created_at >= $2 AND CAST($3 AS TEXT) IS NULL) d
             WHERE k IN ($5, $6)
             ORDER BY id DESC LIMIT $4"
        }
    }
}

impl<D: Db> EventRows for Sql<D> {
    type Error = D::Error;

    async fn events(
        &mut self,
        source: EventSource,
        f: &EventFilter,
        kinds: &[&'static str],
    ) -> Result<Vec<EventRow>, D::Error> {
        let since = f.since.unwrap_or(i64::MIN);
        let window = f.window();
        let (a, b) = match kinds {
            [a, b, ..] => (*a, *b),
            [a] => (*a, *a),
            [] => return Ok(Vec::new()),
        };
        let sql = events_sql(source);
        let args: [&dyn crate::ToArg; 6] = [&f.tenant, &since, &f.affiliate, &window, &a, &b];
        // the sources of one kind take four arguments
        let n = if source.kinds().len() > 1 { 6 } else { 4 };
        let rows = self.0.query(sql, &args[..n]).await?;
        each(rows, |r| {
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
        })
    }
}

/// One line of the tenant's audit log, in the caller's transaction.
pub async fn audit<D: Db>(db: &D, a: &AuditIn) -> Result<(), D::Error> {
    db.execute(
        "INSERT INTO audit_log (tenant, actor, action, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&a.tenant, &a.actor, &a.action, &a.summary, &a.now],
    )
    .await?;
    Ok(())
}

/// One page of the tenant's audit log, newest first.
pub async fn audit_log<D: Db>(
    db: &D,
    tenant: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditRow>, D::Error> {
    let rows = db
        .query(
            "SELECT id, actor, action, detail, created_at FROM audit_log WHERE tenant = $1
             ORDER BY id DESC LIMIT $2 OFFSET $3",
            &[&tenant, &limit, &offset],
        )
        .await?;
    each(rows, |r| {
        Ok(AuditRow {
            id: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            summary: r.get(3)?,
            created_at: r.get(4)?,
        })
    })
}

/// Every diagnostic stored, all tenants (the operator's metric).
pub async fn diagnostics_count<D: Db>(db: &D) -> Result<i64, D::Error> {
    let row = db
        .query_one("SELECT count(*) FROM diagnostics", &[])
        .await?;
    Ok(row.get(0)?)
}
