//! The affiliate portal's links and reads on PostgreSQL. Linking revokes and
//! inserts in one transaction under an advisory lock per affiliate, so two collectors rotating
//! at once end with one live link (the partial unique index guards the same rule).

use clicktrail_store::{PortalActivity, PortalConversion, PortalPayout};

use crate::ops::{exec, q, q_opt};
use crate::{numeric_i64, Fail, PgStore};

pub(crate) async fn link(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
    token_hash: &str,
    now: i64,
) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    exec(
        &tx,
        "SELECT pg_advisory_xact_lock(hashtext($1), hashtext('portal:' || $2))",
        &[&tenant, &affiliate],
    )
    .await?;
    exec(
        &tx,
        "UPDATE portal_links SET revoked_at = $3
         WHERE tenant = $1 AND affiliate = $2 AND revoked_at IS NULL",
        &[&tenant, &affiliate, &now],
    )
    .await?;
    exec(
        &tx,
        "INSERT INTO portal_links (token_hash, tenant, affiliate, created_at) VALUES ($1, $2, $3, $4)",
        &[&token_hash, &tenant, &affiliate, &now],
    )
    .await?;
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
    let n = exec(
        &tx,
        "UPDATE portal_links SET revoked_at = $3
         WHERE tenant = $1 AND affiliate = $2 AND revoked_at IS NULL",
        &[&tenant, &affiliate, &now],
    )
    .await?;
    tx.commit().await?;
    Ok(n > 0)
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
    let mut conversions = Vec::new();
    for r in q(
        &tx,
        "SELECT c.public_id, c.kind, c.conversion_type, c.status, c.amount_cents, c.currency,
                (SELECT sum(l.amount_cents) FROM ledger l
                  WHERE l.conversion_id = c.id AND l.affiliate = c.affiliate)::text,
                c.created_at,
                (SELECT l.rule FROM ledger l WHERE l.conversion_id = c.id AND l.kind = 'accrual'
                  AND l.affiliate = c.affiliate ORDER BY l.id DESC LIMIT 1)
         FROM conversions c WHERE c.tenant = $1 AND c.affiliate = $2
           AND (c.livemode OR coalesce((SELECT count_test_payments FROM tenants WHERE id = $1), false))
         ORDER BY c.id DESC LIMIT $3",
        &[&tenant, &affiliate, &limit],
    )
    .await?
    {
        let net: Option<String> = r.get(6);
        conversions.push(PortalConversion {
            id: r.get(0),
            kind: r.get(1),
            conversion_type: r.get(2),
            status: r.get(3),
            amount_cents: r.get(4),
            currency: r.get(5),
            commission_cents: numeric_i64(net.as_deref())?,
            created_at: r.get(7),
            rule: r.get(8),
        });
    }
    let payouts = q(
        &tx,
        "SELECT id, amount_cents, currency, through, created_at FROM payouts
         WHERE tenant = $1 AND affiliate = $2 ORDER BY id DESC",
        &[&tenant, &affiliate],
    )
    .await?
    .iter()
    .map(|r| PortalPayout {
        payout_id: r.get(0),
        amount_cents: r.get(1),
        currency: r.get(2),
        through: r.get(3),
        created_at: r.get(4),
    })
    .collect();
    tx.commit().await?;
    Ok(PortalActivity {
        conversions,
        payouts,
    })
}
