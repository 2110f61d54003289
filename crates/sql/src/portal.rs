//! The affiliate portal's rows (`clicktrail_app::portal::PortalRows`) and its link lookup.
//! Link changes of one affiliate are serialized, so two collectors rotating at once end with
//! one live link (the partial unique index guards the same rule).

use clicktrail_app::portal::PortalRows;
use clicktrail_store::{PortalConversion, PortalPayout};

use crate::report::wide;
use crate::{Db, Sql};

/// The tenant and affiliate of a live portal link.
pub async fn lookup<D: Db>(db: &D, token_hash: &str) -> Result<Option<(String, String)>, D::Error> {
    let row = db
        .query_opt(
            "SELECT tenant, affiliate FROM portal_links WHERE token_hash = $1 AND revoked_at IS NULL",
            &[&token_hash],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some((r.get(0)?, r.get(1)?)))
}

impl<D: Db> PortalRows for Sql<D> {
    type Error = D::Error;

    async fn lock_links(&mut self, tenant: &str, affiliate: &str) -> Result<(), D::Error> {
        self.0
            .serialize(&format!("portal:{tenant}:{affiliate}"))
            .await
    }

    async fn revoke_links(
        &mut self,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> Result<bool, D::Error> {
        let n = self
            .0
            .execute(
                "UPDATE portal_links SET revoked_at = $3
                 WHERE tenant = $1 AND affiliate = $2 AND revoked_at IS NULL",
                &[&tenant, &affiliate, &now],
            )
            .await?;
        Ok(n > 0)
    }

    async fn insert_link(
        &mut self,
        token_hash: &str,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO portal_links (token_hash, tenant, affiliate, created_at) VALUES ($1, $2, $3, $4)",
                &[&token_hash, &tenant, &affiliate, &now],
            )
            .await?;
        Ok(())
    }

    async fn count_test_payments(&mut self, tenant: &str) -> Result<bool, D::Error> {
        crate::report::count_test_payments(&self.0, tenant).await
    }

    /// The net commission is summed in two exact halves (see `report.rs`).
    async fn conversions(
        &mut self,
        tenant: &str,
        affiliate: &str,
        with_test: bool,
        limit: i64,
    ) -> Result<Vec<(PortalConversion, i128)>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT c.public_id, c.kind, c.conversion_type, c.status, c.amount_cents, c.currency,
                        c.created_at,
                        (SELECT l.rule FROM ledger l WHERE l.conversion_id = c.id AND l.kind = 'accrual'
                          AND l.affiliate = c.affiliate ORDER BY l.id DESC LIMIT 1),
                        (SELECT CAST(coalesce(sum(l.amount_cents >> 32), 0) AS BIGINT) FROM ledger l
                          WHERE l.conversion_id = c.id AND l.affiliate = c.affiliate),
                        (SELECT CAST(coalesce(sum(l.amount_cents & 4294967295), 0) AS BIGINT) FROM ledger l
                          WHERE l.conversion_id = c.id AND l.affiliate = c.affiliate)
                 FROM conversions c WHERE c.tenant = $1 AND c.affiliate = $2 AND (c.livemode OR $3)
                 ORDER BY c.id DESC LIMIT $4",
                &[&tenant, &affiliate, &with_test, &limit],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
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
            out.push((c, wide(r, 8)?));
        }
        Ok(out)
    }

    async fn payouts(
        &mut self,
        tenant: &str,
        affiliate: &str,
    ) -> Result<Vec<PortalPayout>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT id, amount_cents, currency, through, created_at FROM payouts
                 WHERE tenant = $1 AND affiliate = $2 ORDER BY id DESC",
                &[&tenant, &affiliate],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(PortalPayout {
                payout_id: r.get(0)?,
                amount_cents: r.get(1)?,
                currency: r.get(2)?,
                through: r.get(3)?,
                created_at: r.get(4)?,
            });
        }
        Ok(out)
    }
}
