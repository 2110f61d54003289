//! The catalog tables: apply declarations (create or update, never delete), load a snapshot,
//! and the version counter every change bumps (collectors poll it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use clicktrail_domain::catalog::{key_hash, Catalog, KeyGrant, KeyScope, Payout, Tenant};
use clicktrail_domain::rules::Rules;
use clicktrail_store::{StoreError, TenantSpec};
use tokio_postgres::IsolationLevel;

use crate::ops::{exec, q, q_opt, Tx};
use crate::{Fail, PgStore};

pub(crate) async fn apply(store: &PgStore, specs: &[TenantSpec], now: i64) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    // one catalog change at a time (collectors starting together apply the same file)
    exec(
        &tx,
        "SELECT version FROM catalog_version WHERE id = 1 FOR UPDATE",
        &[],
    )
    .await?;
    for spec in specs {
        apply_tenant(&tx, spec, now).await?;
    }
    manage(&tx, specs, now).await?;
    exec(
        &tx,
        "UPDATE catalog_version SET version = version + 1 WHERE id = 1",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The configuration file manages what it declares: its tenants and affiliates are marked
/// (`config_state` 1), those it declared before and no longer declares are disabled
/// (`config_state` 2, data kept; declaring them again enables them), and its keys that it no
/// longer lists are revoked. Rows made through the admin API (`config_state` 0, keys with
/// another label) are never touched.
async fn manage(tx: &Tx<'_>, specs: &[TenantSpec], now: i64) -> Result<(), Fail> {
    let ids: Vec<&str> = specs.iter().map(|s| s.tenant.id.as_str()).collect();
    for spec in specs {
        let t = &spec.tenant;
        let codes: Vec<&str> = t.affiliates.iter().map(String::as_str).collect();
        let hashes: Vec<String> = spec.keys.iter().map(|k| key_hash(&k.key)).collect();
        exec(
            tx,
            "UPDATE tenants SET config_state = 1, disabled = false WHERE id = $1",
            &[&t.id],
        )
        .await?;
        exec(
            tx,
            "UPDATE affiliates SET config_state = 1,
                disabled = CASE WHEN config_state = 2 THEN false ELSE disabled END
             WHERE tenant = $1 AND code = ANY($2)",
            &[&t.id, &codes],
        )
        .await?;
        exec(
            tx,
            "UPDATE affiliates SET config_state = 2, disabled = true
             WHERE tenant = $1 AND config_state = 1 AND NOT (code = ANY($2))",
            &[&t.id, &codes],
        )
        .await?;
        exec(
            tx,
            "UPDATE api_keys SET revoked_at = $3
             WHERE tenant = $1 AND label = 'config' AND revoked_at IS NULL
                AND NOT (key_hash = ANY($2))",
            &[&t.id, &hashes, &now],
        )
        .await?;
    }
    exec(
        tx,
        "UPDATE tenants SET config_state = 2, disabled = true
         WHERE config_state = 1 AND NOT (id = ANY($1))",
        &[&ids],
    )
    .await?;
    Ok(())
}

pub(crate) async fn apply_tenant(tx: &Tx<'_>, spec: &TenantSpec, now: i64) -> Result<(), Fail> {
    let t = &spec.tenant;
    exec(
        tx,
        "INSERT INTO tenants (id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
            hold_days, count_test_payments, created_at, updated_at, chargebee_webhook_username,
            chargebee_webhook_password, recurly_webhook_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET cookie_days = excluded.cookie_days, currency = excluded.currency,
            sale_conversion_type = excluded.sale_conversion_type,
            stripe_webhook_secret = excluded.stripe_webhook_secret, hold_days = excluded.hold_days,
            count_test_payments = excluded.count_test_payments, updated_at = excluded.updated_at,
            chargebee_webhook_username = excluded.chargebee_webhook_username,
            chargebee_webhook_password = excluded.chargebee_webhook_password,
            recurly_webhook_key = excluded.recurly_webhook_key",
        &[
            &t.id,
            &t.cookie_days,
            &t.currency,
            &t.sale_conversion_type,
            &t.stripe_webhook_secret,
            &t.hold_days,
            &t.count_test_payments,
            &now,
            &t.chargebee_webhook_username,
            &t.chargebee_webhook_password,
            &t.recurly_webhook_key,
        ],
    )
    .await?;
    exec(
        tx,
        "UPDATE tenants SET recurly_api_key = $2, recurly_api_url = $3 WHERE id = $1",
        &[&t.id, &t.recurly_api_key, &t.recurly_api_url],
    )
    .await?;
    exec(
        tx,
        "UPDATE tenants SET chargify_webhook_key = $2 WHERE id = $1",
        &[&t.id, &t.chargify_webhook_key],
    )
    .await?;
    if *t.rules != Rules::default() {
        set_rules(tx, &t.id, &t.rules).await?;
    }
    // in declaration order: affiliates and allowed origins are listed in `seq` order
    for code in &t.affiliates {
        exec(
            tx,
            "INSERT INTO affiliates (tenant, code, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&t.id, code, &now],
        )
        .await?;
    }
    for (alias, code) in &t.aliases {
        // an alias never shadows an affiliate code (one made through the API included)
        if q_opt(
            tx,
            "SELECT 1 FROM affiliates WHERE tenant = $1 AND code = $2",
            &[&t.id, alias],
        )
        .await?
        .is_some()
        {
            return Err(StoreError::Invalid(
                "affiliate_aliases".into(),
                format!("tenant `{}`: alias `{alias}` is an affiliate code", t.id),
            )
            .into());
        }
        exec(
            tx,
            "INSERT INTO affiliate_aliases (tenant, alias, code, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, alias) DO UPDATE SET code = excluded.code",
            &[&t.id, alias, code, &now],
        )
        .await?;
    }
    for (code, payout) in &t.conversion_types {
        let (kind, value) = payout.to_parts();
        exec(
            tx,
            "INSERT INTO conversion_types (tenant, code, payout_kind, payout_value) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, code) DO UPDATE SET payout_kind = excluded.payout_kind,
                payout_value = excluded.payout_value",
            &[&t.id, code, &kind, &value],
        )
        .await?;
    }
    for id in &t.revenue_origins {
        exec(
            tx,
            "INSERT INTO revenue_origins (tenant, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&t.id, id],
        )
        .await?;
    }
    for origin in &t.allowed_origins {
        exec(
            tx,
            "INSERT INTO allowed_origins (tenant, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&t.id, origin],
        )
        .await?;
    }
    for k in &spec.keys {
        let hash = key_hash(&k.key);
        let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
        let scopes = scopes.join(" ");
        // a key that belongs to another tenant is a configuration error, not an update
        let owner: Option<String> = q_opt(
            tx,
            "SELECT tenant FROM api_keys WHERE key_hash = $1",
            &[&hash],
        )
        .await?
        .map(|r| r.get(0));
        if let Some(owner) = owner.filter(|o| o != &t.id) {
            return Err(StoreError::Invalid(
                "api_key".into(),
                format!(
                    "a key of tenant `{}` is already a key of tenant `{owner}`",
                    t.id
                ),
            )
            .into());
        }
        exec(
            tx,
            "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at) VALUES ($1, $2, $3, 'config', $4)
             ON CONFLICT (key_hash) DO UPDATE SET scopes = excluded.scopes",
            &[&hash, &t.id, &scopes, &now],
        )
        .await?;
    }
    Ok(())
}

/// Replaces a tenant's rules document (validated by the domain when it was read).
pub(crate) async fn set_rules(tx: &Tx<'_>, tenant: &str, rules: &Rules) -> Result<(), Fail> {
    exec(
        tx,
        "UPDATE tenants SET rules = $2 WHERE id = $1",
        &[&tenant, &rules.to_stored()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn version(store: &PgStore) -> Result<i64, Fail> {
    let client = store.pool().get().await?;
    let st = client
        .prepare_cached("SELECT version FROM catalog_version WHERE id = 1")
        .await?;
    Ok(client.query_one(&st, &[]).await?.get(0))
}

pub(crate) async fn load(store: &PgStore) -> Result<Catalog, Fail> {
    let mut client = store.pool().get().await?;
    // one snapshot: the version and the rows it describes
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let (version, tenant_rows, affiliates, aliases, types, revenue, origins, keys) = tokio::try_join!(
        q(&tx, "SELECT version FROM catalog_version WHERE id = 1", &[]),
        q(
            &tx,
            "SELECT id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret, hold_days,
                count_test_payments, chargebee_webhook_username, chargebee_webhook_password,
                recurly_webhook_key, rules FROM tenants WHERE NOT disabled ORDER BY id",
            &[]
        ),
        q(
            &tx,
            "SELECT tenant, code FROM affiliates WHERE NOT disabled ORDER BY seq",
            &[]
        ),
        q(&tx, "SELECT tenant, alias, code FROM affiliate_aliases", &[]),
        q(
            &tx,
            "SELECT tenant, code, payout_kind, payout_value FROM conversion_types",
            &[]
        ),
        q(
            &tx,
            "SELECT tenant, id FROM revenue_origins ORDER BY tenant, id",
            &[]
        ),
        q(
            &tx,
            "SELECT tenant, origin FROM allowed_origins ORDER BY seq",
            &[]
        ),
        q(
            &tx,
            "SELECT key_hash, tenant, scopes FROM api_keys WHERE revoked_at IS NULL",
            &[]
        ),
    )?;
    let recurly = q(
        &tx,
        "SELECT id, recurly_api_key, recurly_api_url FROM tenants",
        &[],
    )
    .await?;
    let chargify = q(&tx, "SELECT id, chargify_webhook_key FROM tenants", &[]).await?;
    tx.commit().await?;
    let version: i64 = version
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::Internal("catalog_version has no row".into()))?;
    let mut tenants: BTreeMap<String, Tenant> = BTreeMap::new();
    for r in &tenant_rows {
        let t = Tenant {
            id: r.get(0),
            cookie_days: r.get(1),
            currency: r.get(2),
            sale_conversion_type: r.get(3),
            stripe_webhook_secret: r.get(4),
            hold_days: r.get(5),
            count_test_payments: r.get(6),
            chargebee_webhook_username: r.get(7),
            chargebee_webhook_password: r.get(8),
            recurly_webhook_key: r.get(9),
            rules: Arc::new(Rules::from_stored(r.get(10)).map_err(StoreError::Internal)?),
            allowed_origins: Vec::new(),
            affiliates: Vec::new(),
            aliases: Default::default(),
            conversion_types: BTreeMap::new(),
            revenue_origins: Vec::new(),
            recurly_api_key: String::new(),
            recurly_api_url: String::new(),
            chargify_webhook_key: String::new(),
        };
        tenants.insert(t.id.clone(), t);
    }
    for r in &recurly {
        if let Some(t) = tenants.get_mut(r.get::<_, &str>(0)) {
            (t.recurly_api_key, t.recurly_api_url) = (r.get(1), r.get(2));
        }
    }
    for r in &chargify {
        if let Some(t) = tenants.get_mut(r.get::<_, &str>(0)) {
            t.chargify_webhook_key = r.get(1);
        }
    }
    for r in &affiliates {
        if let Some(t) = tenants.get_mut(r.get::<_, &str>(0)) {
            t.affiliates.push(r.get(1));
        }
    }
    for r in &aliases {
        if let Some(t) = tenants.get_mut(r.get::<_, &str>(0)) {
            t.aliases.insert(r.get(1), r.get(2));
        }
    }
    for r in &types {
        let kind: &str = r.get(2);
        let payout = Payout::from_parts(kind, r.get(3))
            .ok_or_else(|| StoreError::Internal(format!("unknown payout kind `{kind}`")))?;
        if let Some(t) = tenants.get_mut(r.get::<_, &str>(0)) {
            t.conversion_types.insert(r.get(1), payout);
        }
    }
    for r in &revenue {
        if let Some(t) = tenants.get_mut(r.get::<_, &str>(0)) {
            t.revenue_origins.push(r.get(1));
        }
    }
    for r in &origins {
        if let Some(t) = tenants.get_mut(r.get::<_, &str>(0)) {
            t.allowed_origins.push(r.get(1));
        }
    }
    let mut grants = HashMap::new();
    for r in &keys {
        if !tenants.contains_key(r.get::<_, &str>(1)) {
            continue; // a disabled tenant's keys are refused
        }
        let scopes: &str = r.get(2);
        grants.insert(
            r.get(0),
            KeyGrant {
                tenant: r.get(1),
                scopes: scopes
                    .split_whitespace()
                    .filter_map(KeyScope::parse)
                    .collect(),
            },
        );
    }
    for t in tenants.values_mut() {
        t.rules = Arc::new(Rules::clone(&t.rules).for_enabled(&t.affiliates));
    }
    Ok(Catalog {
        tenants: tenants.into_values().map(Arc::new).collect(),
        keys: grants,
        version,
    })
}
