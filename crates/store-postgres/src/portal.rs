//! The affiliate portal's links and reads on PostgreSQL: the use cases
//! `clicktrail_app::portal` over these rows, in one transaction. Link changes of one affiliate
//! are serialized by an advisory lock, so two collectors rotating at once end with one live
//! link (the partial unique index guards the same rule).

use clicktrail_app::portal::PortalRows;
use clicktrail_store::{PortalActivity, PortalConversion, PortalPayout};

use crate::ops::{exec, q, q_opt, Tx};
use crate::{numeric_i128, Fail, PgStore};

pub(crate) async fn link(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
    token_hash: &str,
    now: i64,
) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    clicktrail_app::portal::link(&mut Rows(&tx), tenant, affiliate, token_hash, now).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn revoke(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
    now: i64,
) -> Result<bool, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::portal::revoke(&mut Rows(&tx), tenant, affiliate, now).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn lookup(
    store: &PgStore,
    token_hash: &str,
) -> Result<Option<(String, String)>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let row = q_opt(
        &tx,
        "SELECT tenant, affiliate FROM portal_links WHERE token_hash = $1 AND revoked_at IS NULL",
        &[&token_hash],
    )
    .await?;
    tx.commit().await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

pub(crate) async fn activity(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
    limit: i64,
) -> Result<PortalActivity, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::portal::activity(&mut Rows(&tx), tenant, affiliate, limit).await?;
    tx.commit().await?;
    Ok(out)
}

/// The portal's row operations inside one transaction.
pub(crate) struct Rows<'t, 'c>(pub(crate) &'t Tx<'c>);

impl PortalRows for Rows<'_, '_> {
    type Error = Fail;

    async fn lock_links(&mut self, tenant: &str, affiliate: &str) -> Result<(), Fail> {
        exec(
            self.0,
            "SELECT pg_advisory_xact_lock(hashtext($1), hashtext('portal:' || $2))",
            &[&tenant, &affiliate],
        )
        .await?;
        Ok(())
    }

    async fn revoke_links(
        &mut self,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> Result<bool, Fail> {
        let n = exec(
            self.0,
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
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "INSERT INTO portal_links (token_hash, tenant, affiliate, created_at) VALUES ($1, $2, $3, $4)",
            &[&token_hash, &tenant, &affiliate, &now],
        )
        .await?;
        Ok(())
    }

    async fn count_test_payments(&mut self, tenant: &str) -> Result<bool, Fail> {
        let r = q_opt(
            self.0,
            "SELECT count_test_payments FROM tenants WHERE id = $1",
            &[&tenant],
        )
        .await?;
        Ok(r.is_some_and(|r| r.get(0)))
    }

    async fn conversions(
        &mut self,
        tenant: &str,
        affiliate: &str,
        with_test: bool,
        limit: i64,
    ) -> Result<Vec<(PortalConversion, i128)>, Fail> {
        let rows = q(
            self.0,
            "SELECT c.public_id, c.kind, c.conversion_type, c.status, c.amount_cents, c.currency,
                    c.created_at,
                    (SELECT l.rule FROM ledger l WHERE l.conversion_id = c.id AND l.kind = 'accrual'
                      AND l.affiliate = c.affiliate ORDER BY l.id DESC LIMIT 1),
                    (SELECT sum(l.amount_cents) FROM ledger l
                      WHERE l.conversion_id = c.id AND l.affiliate = c.affiliate)::text
             FROM conversions c WHERE c.tenant = $1 AND c.affiliate = $2 AND (c.livemode OR $3)
             ORDER BY c.id DESC LIMIT $4",
            &[&tenant, &affiliate, &with_test, &limit],
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let c = PortalConversion {
                id: r.get(0),
                kind: r.get(1),
                conversion_type: r.get(2),
                status: r.get(3),
                amount_cents: r.get(4),
                currency: r.get(5),
                commission_cents: 0,
                created_at: r.get(6),
                rule: r.get(7),
            };
            out.push((c, numeric_i128(r.get(8))?));
        }
        Ok(out)
    }

    async fn payouts(&mut self, tenant: &str, affiliate: &str) -> Result<Vec<PortalPayout>, Fail> {
        let rows = q(
            self.0,
            "SELECT id, amount_cents, currency, through, created_at FROM payouts
             WHERE tenant = $1 AND affiliate = $2 ORDER BY id DESC",
            &[&tenant, &affiliate],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| PortalPayout {
                payout_id: r.get(0),
                amount_cents: r.get(1),
                currency: r.get(2),
                through: r.get(3),
                created_at: r.get(4),
            })
            .collect())
    }
}
