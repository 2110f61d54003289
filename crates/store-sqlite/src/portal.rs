//! The affiliate portal's links and reads on SQLite: the use cases `clicktrail_app::portal`
//! over these rows (links on the single writer; the partial unique index keeps one live link
//! per affiliate).

use clicktrail_app::portal::PortalRows;
use clicktrail_app::run_ready;
use clicktrail_store::{PortalActivity, PortalConversion, PortalPayout, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};

use crate::report::wide;

pub(crate) fn link(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    token_hash: &str,
    now: i64,
) -> StoreResult<()> {
    let rows = &mut Rows(conn);
    run_ready(clicktrail_app::portal::link(
        rows, tenant, affiliate, token_hash, now,
    ))
}

pub(crate) fn revoke(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    now: i64,
) -> StoreResult<bool> {
    let rows = &mut Rows(conn);
    run_ready(clicktrail_app::portal::revoke(rows, tenant, affiliate, now))
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
    let rows = &mut Rows(conn);
    run_ready(clicktrail_app::portal::activity(
        rows, tenant, affiliate, limit,
    ))
}

struct Rows<'c>(&'c Connection);

impl PortalRows for Rows<'_> {
    type Error = StoreError;

    async fn lock_links(&mut self, _tenant: &str, _affiliate: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn revoke_links(&mut self, tenant: &str, affiliate: &str, now: i64) -> StoreResult<bool> {
        let n = self
            .0
            .prepare_cached(
                "UPDATE portal_links SET revoked_at = ?3
                 WHERE tenant = ?1 AND affiliate = ?2 AND revoked_at IS NULL",
            )?
            .execute(params![tenant, affiliate, now])?;
        Ok(n > 0)
    }

    async fn insert_link(
        &mut self,
        token_hash: &str,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO portal_links (token_hash, tenant, affiliate, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![token_hash, tenant, affiliate, now])?;
        Ok(())
    }

    async fn count_test_payments(&mut self, tenant: &str) -> StoreResult<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT count_test_payments FROM tenants WHERE id = ?1")?
            .query_row([tenant], |r| r.get(0))
            .optional()?
            .unwrap_or(false))
    }

    async fn conversions(
        &mut self,
        tenant: &str,
        affiliate: &str,
        with_test: bool,
        limit: i64,
    ) -> StoreResult<Vec<(PortalConversion, i128)>> {
        let mut st = self.0.prepare_cached(
            "SELECT c.public_id, c.kind, c.conversion_type, c.status, c.amount_cents, c.currency,
                    c.created_at,
                    (SELECT l.rule FROM ledger l WHERE l.conversion_id = c.id AND l.kind = 'accrual'
                      AND l.affiliate = c.affiliate ORDER BY l.id DESC LIMIT 1),
                    (SELECT coalesce(sum(l.amount_cents >> 32), 0) FROM ledger l
                      WHERE l.conversion_id = c.id AND l.affiliate = c.affiliate),
                    (SELECT coalesce(sum(l.amount_cents & 4294967295), 0) FROM ledger l
                      WHERE l.conversion_id = c.id AND l.affiliate = c.affiliate)
             FROM conversions c WHERE c.tenant = ?1 AND c.affiliate = ?2 AND (c.livemode OR ?3)
             ORDER BY c.id DESC LIMIT ?4",
        )?;
        let rows = st.query_map(params![tenant, affiliate, with_test, limit], |r| {
            let c = PortalConversion {
                id: r.get(0)?,
                kind: r.get(1)?,
                conversion_type: r.get(2)?,
                status: r.get(3)?,
                amount_cents: r.get(4)?,
                currency: r.get(5)?,
                commission_cents: 0,
                created_at: r.get(6)?,
                rule: r.get(7)?,
            };
            Ok((c, wide(r, 8)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn payouts(&mut self, tenant: &str, affiliate: &str) -> StoreResult<Vec<PortalPayout>> {
        let mut st = self.0.prepare_cached(
            "SELECT id, amount_cents, currency, through, created_at FROM payouts
             WHERE tenant = ?1 AND affiliate = ?2 ORDER BY id DESC",
        )?;
        let rows = st.query_map(params![tenant, affiliate], |r| {
            Ok(PortalPayout {
                payout_id: r.get(0)?,
                amount_cents: r.get(1)?,
                currency: r.get(2)?,
                through: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
