//! The affiliate portal's links and reads. A link is written by the single writer;
//! the partial unique index keeps one live link per affiliate.

use clicktrail_store::{PortalActivity, PortalConversion, PortalPayout, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) fn link(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    token_hash: &str,
    now: i64,
) -> StoreResult<()> {
    revoke(conn, tenant, affiliate, now)?;
    conn.prepare_cached(
        "INSERT INTO portal_links (token_hash, tenant, affiliate, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![token_hash, tenant, affiliate, now])?;
    Ok(())
}

pub(crate) fn revoke(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE portal_links SET revoked_at = ?3
             WHERE tenant = ?1 AND affiliate = ?2 AND revoked_at IS NULL",
        )?
        .execute(params![tenant, affiliate, now])?;
    Ok(n > 0)
}

pub(crate) fn lookup(conn: &Connection, token_hash: &str) -> StoreResult<Option<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT tenant, affiliate FROM portal_links WHERE token_hash = ?1 AND revoked_at IS NULL",
        )?
        .query_row(params![token_hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub(crate) fn activity(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    limit: i64,
) -> StoreResult<PortalActivity> {
    let mut st = conn.prepare_cached(
        "SELECT c.public_id, c.kind, c.conversion_type, c.status, c.amount_cents, c.currency,
                (SELECT coalesce(sum(l.amount_cents), 0) FROM ledger l
                  WHERE l.conversion_id = c.id AND l.affiliate = c.affiliate),
                c.created_at,
                (SELECT l.rule FROM ledger l WHERE l.conversion_id = c.id AND l.kind = 'accrual'
                  AND l.affiliate = c.affiliate ORDER BY l.id DESC LIMIT 1)
         FROM conversions c WHERE c.tenant = ?1 AND c.affiliate = ?2
           AND (c.livemode = 1
                OR coalesce((SELECT count_test_payments FROM tenants WHERE id = ?1), 0) = 1)
         ORDER BY c.id DESC LIMIT ?3",
    )?;
    let conversions = st
        .query_map(params![tenant, affiliate, limit], |r| {
            Ok(PortalConversion {
                id: r.get(0)?,
                kind: r.get(1)?,
                conversion_type: r.get(2)?,
                status: r.get(3)?,
                amount_cents: r.get(4)?,
                currency: r.get(5)?,
                commission_cents: r.get(6)?,
                created_at: r.get(7)?,
                rule: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare_cached(
        "SELECT id, amount_cents, currency, through, created_at FROM payouts
         WHERE tenant = ?1 AND affiliate = ?2 ORDER BY id DESC",
    )?;
    let payouts = st
        .query_map(params![tenant, affiliate], |r| {
            Ok(PortalPayout {
                payout_id: r.get(0)?,
                amount_cents: r.get(1)?,
                currency: r.get(2)?,
                through: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(PortalActivity {
        conversions,
        payouts,
    })
}
