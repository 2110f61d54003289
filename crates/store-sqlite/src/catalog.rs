//! The catalog tables: apply declarations (create or update, never delete), load a snapshot,
//! and the version counter every change bumps.

use std::collections::BTreeMap;
use std::sync::Arc;

use clicktrail_domain::catalog::{key_hash, Catalog, KeyGrant, KeyScope, Payout, Tenant};
use clicktrail_domain::rules::Rules;
use clicktrail_store::{StoreError, StoreResult, TenantSpec};
use rusqlite::{params, Connection};

pub(crate) fn apply(conn: &Connection, specs: &[TenantSpec], now: i64) -> StoreResult<()> {
    for spec in specs {
        let t = &spec.tenant;
        conn.prepare_cached(
            "INSERT INTO tenants (id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
                hold_days, count_test_payments, created_at, updated_at, chargebee_webhook_username,
                chargebee_webhook_password, recurly_webhook_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)
             ON CONFLICT (id) DO UPDATE SET cookie_days = excluded.cookie_days, currency = excluded.currency,
                sale_conversion_type = excluded.sale_conversion_type,
                stripe_webhook_secret = excluded.stripe_webhook_secret, hold_days = excluded.hold_days,
                count_test_payments = excluded.count_test_payments, updated_at = excluded.updated_at,
                chargebee_webhook_username = excluded.chargebee_webhook_username,
                chargebee_webhook_password = excluded.chargebee_webhook_password,
                recurly_webhook_key = excluded.recurly_webhook_key",
        )?
        .execute(params![
            t.id,
            t.cookie_days,
            t.currency,
            t.sale_conversion_type,
            t.stripe_webhook_secret,
            t.hold_days,
            t.count_test_payments,
            now,
            t.chargebee_webhook_username,
            t.chargebee_webhook_password,
            t.recurly_webhook_key
        ])?;
        conn.prepare_cached(
            "UPDATE tenants SET recurly_api_key = ?2, recurly_api_url = ?3 WHERE id = ?1",
        )?
        .execute(params![t.id, t.recurly_api_key, t.recurly_api_url])?;
        conn.prepare_cached("UPDATE tenants SET chargify_webhook_key = ?2 WHERE id = ?1")?
            .execute(params![t.id, t.chargify_webhook_key])?;
        if *t.rules != Rules::default() {
            set_rules(conn, &t.id, &t.rules)?;
        }
        for code in &t.affiliates {
            conn.prepare_cached(
                "INSERT INTO affiliates (tenant, code, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )?
            .execute(params![t.id, code, now])?;
        }
        for (alias, code) in &t.aliases {
            // an alias never shadows an affiliate code (one made through the API included)
            let taken = conn
                .prepare_cached("SELECT 1 FROM affiliates WHERE tenant = ?1 AND code = ?2")?
                .exists(params![t.id, alias])?;
            if taken {
                return Err(StoreError::Invalid(
                    "affiliate_aliases".into(),
                    format!("tenant `{}`: alias `{alias}` is an affiliate code", t.id),
                ));
            }
            conn.prepare_cached(
                "INSERT INTO affiliate_aliases (tenant, alias, code, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, alias) DO UPDATE SET code = excluded.code",
            )?
            .execute(params![t.id, alias, code, now])?;
        }
        for (code, payout) in &t.conversion_types {
            let (kind, value) = payout.to_parts();
            conn.prepare_cached(
                "INSERT INTO conversion_types (tenant, code, payout_kind, payout_value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, code) DO UPDATE SET payout_kind = excluded.payout_kind,
                    payout_value = excluded.payout_value",
            )?
            .execute(params![t.id, code, kind, value])?;
        }
        for id in &t.revenue_origins {
            conn.prepare_cached(
                "INSERT INTO revenue_origins (tenant, id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![t.id, id])?;
        }
        for origin in &t.allowed_origins {
            conn.prepare_cached(
                "INSERT INTO allowed_origins (tenant, origin) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![t.id, origin])?;
        }
        for k in &spec.keys {
            let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
            // a key that belongs to another tenant is a configuration error, not an update
            let owner: Option<String> = conn
                .prepare_cached("SELECT tenant FROM api_keys WHERE key_hash = ?1")?
                .query_row([key_hash(&k.key)], |r| r.get(0))
                .ok();
            if let Some(owner) = owner.filter(|o| o != &t.id) {
                return Err(StoreError::Invalid(
                    "api_key".into(),
                    format!(
                        "a key of tenant `{}` is already a key of tenant `{owner}`",
                        t.id
                    ),
                ));
            }
            conn.prepare_cached(
                "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at) VALUES (?1, ?2, ?3, 'config', ?4)
                 ON CONFLICT (key_hash) DO UPDATE SET scopes = excluded.scopes",
            )?
            .execute(params![key_hash(&k.key), t.id, scopes.join(" "), now])?;
        }
    }
    bump_version(conn)
}

/// The configuration file manages what it declares: its tenants and affiliates are marked
/// (`config_state` 1), those it declared before and no longer declares are disabled
/// (`config_state` 2, data kept; declaring them again enables them), and its keys that it no
/// longer lists are revoked. Rows made through the admin API (`config_state` 0, keys with
/// another label) are never touched.
pub(crate) fn manage(conn: &Connection, specs: &[TenantSpec], now: i64) -> StoreResult<()> {
    let declared: std::collections::HashSet<&str> =
        specs.iter().map(|s| s.tenant.id.as_str()).collect();
    for spec in specs {
        let t = &spec.tenant;
        conn.prepare_cached("UPDATE tenants SET config_state = 1, disabled = 0 WHERE id = ?1")?
            .execute([&t.id])?;
        for code in &t.affiliates {
            conn.prepare_cached(
                "UPDATE affiliates SET config_state = 1,
                    disabled = CASE WHEN config_state = 2 THEN 0 ELSE disabled END
                 WHERE tenant = ?1 AND code = ?2",
            )?
            .execute(params![t.id, code])?;
        }
        let managed: Vec<String> = conn
            .prepare_cached("SELECT code FROM affiliates WHERE tenant = ?1 AND config_state = 1")?
            .query_map([&t.id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for code in managed.iter().filter(|c| !t.affiliates.contains(c)) {
            conn.prepare_cached(
                "UPDATE affiliates SET config_state = 2, disabled = 1 WHERE tenant = ?1 AND code = ?2",
            )?
            .execute(params![t.id, code])?;
        }
        let listed: std::collections::HashSet<String> =
            spec.keys.iter().map(|k| key_hash(&k.key)).collect();
        let config_keys: Vec<String> = conn
            .prepare_cached(
                "SELECT key_hash FROM api_keys
                 WHERE tenant = ?1 AND label = 'config' AND revoked_at IS NULL",
            )?
            .query_map([&t.id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for hash in config_keys.iter().filter(|h| !listed.contains(*h)) {
            conn.prepare_cached("UPDATE api_keys SET revoked_at = ?1 WHERE key_hash = ?2")?
                .execute(params![now, hash])?;
        }
    }
    let managed: Vec<String> = conn
        .prepare_cached("SELECT id FROM tenants WHERE config_state = 1")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in managed.iter().filter(|id| !declared.contains(id.as_str())) {
        conn.prepare_cached("UPDATE tenants SET config_state = 2, disabled = 1 WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// Replaces a tenant's rules document (validated by the domain when it was read).
pub(crate) fn set_rules(conn: &Connection, tenant: &str, rules: &Rules) -> StoreResult<()> {
    conn.prepare_cached("UPDATE tenants SET rules = ?2 WHERE id = ?1")?
        .execute(params![tenant, rules.to_stored()])?;
    Ok(())
}

pub(crate) fn bump_version(conn: &Connection) -> StoreResult<()> {
    conn.prepare_cached("UPDATE catalog_version SET version = version + 1 WHERE id = 1")?
        .execute([])?;
    Ok(())
}

pub(crate) fn version(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT version FROM catalog_version WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

pub(crate) fn load(conn: &Connection) -> StoreResult<Catalog> {
    let version = version(conn)?;
    let mut tenants: BTreeMap<String, Tenant> = BTreeMap::new();
    let mut st = conn.prepare_cached(
        "SELECT id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret, hold_days,
            count_test_payments, chargebee_webhook_username, chargebee_webhook_password,
            recurly_webhook_key, rules FROM tenants WHERE disabled = 0 ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Tenant {
            id: r.get(0)?,
            cookie_days: r.get(1)?,
            currency: r.get(2)?,
            sale_conversion_type: r.get(3)?,
            stripe_webhook_secret: r.get(4)?,
            hold_days: r.get(5)?,
            count_test_payments: r.get(6)?,
            chargebee_webhook_username: r.get(7)?,
            chargebee_webhook_password: r.get(8)?,
            recurly_webhook_key: r.get(9)?,
            rules: Arc::new(Rules::from_stored(&r.get::<_, String>(10)?).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, e.into())
            })?),
            allowed_origins: Vec::new(),
            affiliates: Vec::new(),
            aliases: Default::default(),
            conversion_types: BTreeMap::new(),
            revenue_origins: Vec::new(),
            recurly_api_key: String::new(),
            recurly_api_url: String::new(),
            chargify_webhook_key: String::new(),
        })
    })?;
    for t in rows {
        let t = t?;
        tenants.insert(t.id.clone(), t);
    }
    let mut st = conn.prepare_cached("SELECT id, recurly_api_key, recurly_api_url FROM tenants")?;
    for row in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (id, key, url) = row?;
        if let Some(t) = tenants.get_mut(&id) {
            (t.recurly_api_key, t.recurly_api_url) = (key, url);
        }
    }
    let mut st = conn.prepare_cached("SELECT id, chargify_webhook_key FROM tenants")?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (id, key) = row?;
        if let Some(t) = tenants.get_mut(&id) {
            t.chargify_webhook_key = key;
        }
    }
    let mut st =
        conn.prepare_cached("SELECT tenant, code FROM affiliates WHERE disabled = 0 ORDER BY seq")?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (tenant, code) = row?;
        if let Some(t) = tenants.get_mut(&tenant) {
            t.affiliates.push(code);
        }
    }
    let mut st = conn.prepare_cached("SELECT tenant, alias, code FROM affiliate_aliases")?;
    for row in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (tenant, alias, code) = row?;
        if let Some(t) = tenants.get_mut(&tenant) {
            t.aliases.insert(alias, code);
        }
    }
    let mut st = conn
        .prepare_cached("SELECT tenant, code, payout_kind, payout_value FROM conversion_types")?;
    for row in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })? {
        let (tenant, code, kind, value) = row?;
        let payout = Payout::from_parts(&kind, value)
            .ok_or_else(|| StoreError::Internal(format!("unknown payout kind `{kind}`")))?;
        if let Some(t) = tenants.get_mut(&tenant) {
            t.conversion_types.insert(code, payout);
        }
    }
    let mut st = conn.prepare_cached("SELECT tenant, id FROM revenue_origins ORDER BY id")?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (tenant, id) = row?;
        if let Some(t) = tenants.get_mut(&tenant) {
            t.revenue_origins.push(id);
        }
    }
    let mut st = conn.prepare_cached("SELECT tenant, origin FROM allowed_origins ORDER BY seq")?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (tenant, origin) = row?;
        if let Some(t) = tenants.get_mut(&tenant) {
            t.allowed_origins.push(origin);
        }
    }
    let mut keys = std::collections::HashMap::new();
    let mut st = conn
        .prepare_cached("SELECT key_hash, tenant, scopes FROM api_keys WHERE revoked_at IS NULL")?;
    for row in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (hash, tenant, scopes) = row?;
        if !tenants.contains_key(&tenant) {
            continue; // a disabled tenant's keys are refused
        }
        let scopes = scopes
            .split_whitespace()
            .filter_map(KeyScope::parse)
            .collect();
        keys.insert(hash, KeyGrant { tenant, scopes });
    }
    for t in tenants.values_mut() {
        t.rules = Arc::new(Rules::clone(&t.rules).for_enabled(&t.affiliates));
    }
    Ok(Catalog {
        tenants: tenants.into_values().map(Arc::new).collect(),
        keys,
        version,
    })
}
