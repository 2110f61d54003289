//! Refunds kept until their payment arrives: the use case `clicktrail_app::pending` over the
//! writer's connection (the single writer serializes keeping and applying).

use clicktrail_app::pending::PendingRows;
use clicktrail_app::run_ready;
use clicktrail_store::{PendingApplied, RefundIn, RefundOrKept, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};

use crate::refund::Rows;

pub(crate) fn refund_or_keep(conn: &Connection, r: &RefundIn) -> StoreResult<RefundOrKept> {
    run_ready(clicktrail_app::pending::refund_or_keep(&mut Rows(conn), r))
}

pub(crate) fn apply_kept(
    conn: &Connection,
    tenant: &str,
    transaction_id: &str,
    aliases: &[String],
    now: i64,
) -> StoreResult<PendingApplied> {
    run_ready(clicktrail_app::pending::apply_kept(
        &mut Rows(conn),
        tenant,
        transaction_id,
        aliases,
        now,
    ))
}

impl PendingRows for Rows<'_> {
    async fn serialize(&mut self, _tenant: &str, _transaction_id: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn keep(&mut self, r: &RefundIn) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO pending_refunds (tenant, refund_id, transaction_id, amount_cents, reason, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant, refund_id) DO NOTHING",
            )?
            .execute(params![
                r.tenant,
                r.refund_id,
                r.transaction_id,
                r.amount_cents,
                r.reason,
                r.now
            ])?;
        Ok(())
    }

    async fn kept(&mut self, tenant: &str, transaction_id: &str) -> StoreResult<Vec<RefundIn>> {
        let mut st = self.0.prepare_cached(
            "SELECT refund_id, amount_cents, reason, created_at FROM pending_refunds
             WHERE tenant = ?1 AND transaction_id = ?2 ORDER BY created_at, refund_id",
        )?;
        let rows = st
            .query_map(params![tenant, transaction_id], |row| {
                Ok(RefundIn {
                    tenant: tenant.to_string(),
                    transaction_id: transaction_id.to_string(),
                    refund_id: row.get(0)?,
                    amount_cents: row.get(1)?,
                    reason: row.get(2)?,
                    now: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    async fn alias(&mut self, tenant: &str, alias: &str) -> StoreResult<Option<String>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT transaction_id FROM refund_aliases WHERE tenant = ?1 AND alias = ?2",
            )?
            .query_row(params![tenant, alias], |r| r.get(0))
            .optional()?)
    }

    async fn link_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        transaction_id: &str,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO refund_aliases (tenant, alias, transaction_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, alias) DO NOTHING",
            )?
            .execute(params![tenant, alias, transaction_id])?;
        Ok(())
    }

    async fn forget(&mut self, tenant: &str, refund_id: &str) -> StoreResult<()> {
        self.0
            .prepare_cached("DELETE FROM pending_refunds WHERE tenant = ?1 AND refund_id = ?2")?
            .execute(params![tenant, refund_id])?;
        Ok(())
    }

    fn refused(e: &StoreError) -> Option<String> {
        match e {
            StoreError::Invalid(field, m) if field == "amount_cents" => Some(m.clone()),
            _ => None,
        }
    }
}
