//! Refunds kept until their payment arrives: the use case `clicktrail_app::pending` over one
//! transaction. A transaction-level advisory lock on (tenant, transaction id) serializes
//! keeping and applying across collectors: a refund kept while the sale commits is seen by
//! the apply that follows the sale.

use clicktrail_app::pending::PendingRows;
use clicktrail_store::{PendingApplied, RefundIn, RefundOrKept, StoreError};

use crate::ops::{exec, q, q_opt, Tx};
use crate::refund::Rows;
use crate::{Fail, PgStore};

pub(crate) async fn refund_or_keep(store: &PgStore, r: &RefundIn) -> Result<RefundOrKept, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::pending::refund_or_keep(&mut Rows(&tx), r).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn apply_kept(
    store: &PgStore,
    tenant: &str,
    transaction_id: &str,
    aliases: &[String],
    now: i64,
) -> Result<PendingApplied, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out =
        clicktrail_app::pending::apply_kept(&mut Rows(&tx), tenant, transaction_id, aliases, now)
            .await?;
    tx.commit().await?;
    Ok(out)
}

async fn lock(tx: &Tx<'_>, tenant: &str, transaction_id: &str) -> Result<(), Fail> {
    let key = format!("pending_refunds:{tenant}:{transaction_id}");
    q(
        tx,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&key],
    )
    .await?;
    Ok(())
}

impl PendingRows for Rows<'_, '_> {
    async fn serialize(&mut self, tenant: &str, transaction_id: &str) -> Result<(), Fail> {
        lock(self.0, tenant, transaction_id).await
    }

    async fn keep(&mut self, r: &RefundIn) -> Result<(), Fail> {
        exec(
            self.0,
            "INSERT INTO pending_refunds (tenant, refund_id, transaction_id, amount_cents, reason, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, refund_id) DO NOTHING",
            &[&r.tenant, &r.refund_id, &r.transaction_id, &r.amount_cents, &r.reason, &r.now],
        )
        .await?;
        Ok(())
    }

    async fn kept(&mut self, tenant: &str, transaction_id: &str) -> Result<Vec<RefundIn>, Fail> {
        let rows = q(
            self.0,
            "SELECT refund_id, amount_cents, reason, created_at FROM pending_refunds
             WHERE tenant = $1 AND transaction_id = $2 ORDER BY created_at, refund_id",
            &[&tenant, &transaction_id],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|row| RefundIn {
                tenant: tenant.to_string(),
                transaction_id: transaction_id.to_string(),
                refund_id: row.get(0),
                amount_cents: row.get(1),
                reason: row.get(2),
                now: row.get(3),
            })
            .collect())
    }

    async fn alias(&mut self, tenant: &str, alias: &str) -> Result<Option<String>, Fail> {
        Ok(q_opt(
            self.0,
            "SELECT transaction_id FROM refund_aliases WHERE tenant = $1 AND alias = $2",
            &[&tenant, &alias],
        )
        .await?
        .map(|r| r.get(0)))
    }

    async fn link_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        transaction_id: &str,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "INSERT INTO refund_aliases (tenant, alias, transaction_id) VALUES ($1, $2, $3)
             ON CONFLICT (tenant, alias) DO NOTHING",
            &[&tenant, &alias, &transaction_id],
        )
        .await?;
        Ok(())
    }

    async fn forget(&mut self, tenant: &str, refund_id: &str) -> Result<(), Fail> {
        exec(
            self.0,
            "DELETE FROM pending_refunds WHERE tenant = $1 AND refund_id = $2",
            &[&tenant, &refund_id],
        )
        .await?;
        Ok(())
    }

    fn refused(e: &Fail) -> Option<String> {
        match e {
            Fail::Store(StoreError::Invalid(field, m)) if field == "amount_cents" => {
                Some(m.clone())
            }
            _ => None,
        }
    }
}
