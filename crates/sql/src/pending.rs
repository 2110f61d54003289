//! Refunds kept until their payment arrives, and the other ids a provider names a payment by.
//! Keeping and applying are serialized per (tenant, transaction id), so a refund kept while
//! its sale commits is seen by the apply that follows the sale.

use clicktrail_app::pending::PendingRows;
use clicktrail_store::{RefundIn, StoreError};

use crate::{Db, Sql};

impl<D: Db> PendingRows for Sql<D> {
    async fn serialize(&mut self, tenant: &str, transaction_id: &str) -> Result<(), D::Error> {
        self.0
            .serialize(&format!("pending_refunds:{tenant}:{transaction_id}"))
            .await
    }

    async fn keep(&mut self, r: &RefundIn) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO pending_refunds (tenant, refund_id, transaction_id, amount_cents, reason, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, refund_id) DO NOTHING",
                &[&r.tenant, &r.refund_id, &r.transaction_id, &r.amount_cents, &r.reason, &r.now],
            )
            .await?;
        Ok(())
    }

    async fn kept(
        &mut self,
        tenant: &str,
        transaction_id: &str,
    ) -> Result<Vec<RefundIn>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT refund_id, amount_cents, reason, created_at FROM pending_refunds
                 WHERE tenant = $1 AND transaction_id = $2 ORDER BY created_at, refund_id",
                &[&tenant, &transaction_id],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(RefundIn {
                tenant: tenant.to_string(),
                transaction_id: transaction_id.to_string(),
                refund_id: row.get(0)?,
                amount_cents: row.get(1)?,
                reason: row.get(2)?,
                now: row.get(3)?,
            });
        }
        Ok(out)
    }

    async fn alias(&mut self, tenant: &str, alias: &str) -> Result<Option<String>, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT transaction_id FROM refund_aliases WHERE tenant = $1 AND alias = $2",
                &[&tenant, &alias],
            )
            .await?;
        Ok(row.map(|r| r.get(0)).transpose()?)
    }

    async fn link_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        transaction_id: &str,
    ) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO refund_aliases (tenant, alias, transaction_id) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant, alias) DO NOTHING",
                &[&tenant, &alias, &transaction_id],
            )
            .await?;
        Ok(())
    }

    async fn forget(&mut self, tenant: &str, refund_id: &str) -> Result<(), D::Error> {
        self.0
            .execute(
                "DELETE FROM pending_refunds WHERE tenant = $1 AND refund_id = $2",
                &[&tenant, &refund_id],
            )
            .await?;
        Ok(())
    }

    fn refused(e: &D::Error) -> Option<String> {
        match D::store_error(e) {
            Some(StoreError::Invalid(field, m)) if field == "amount_cents" => Some(m.clone()),
            _ => None,
        }
    }
}
