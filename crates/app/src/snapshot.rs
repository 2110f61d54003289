//! The catalog a collector serves, folded from the rows one snapshot of the database reads
//! (plain SQL, no filter): what is disabled is left out here, once.

use std::collections::BTreeMap;
use std::sync::Arc;

use clicktrail_domain::catalog::{Catalog, KeyGrant, KeyScope, Payout, Tenant};
use clicktrail_domain::rules::Rules;
use clicktrail_store::StoreError;

/// A tenant row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub id: String,
    pub cookie_days: i64,
    pub currency: String,
    pub sale_conversion_type: String,
    pub stripe_webhook_secret: String,
    pub hold_days: i64,
    pub count_test_payments: bool,
    pub chargebee_webhook_username: String,
    pub chargebee_webhook_password: String,
    pub recurly_webhook_key: String,
    pub recurly_api_key: String,
    pub recurly_api_url: String,
    pub chargify_webhook_key: String,
    /// The rules document as stored (`Rules::to_stored`).
    pub rules: String,
    pub disabled: bool,
}

/// The catalog's rows as one snapshot of the database reads them (plain SQL, no filter):
/// [`catalog`] decides what of it a collector serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogSnapshot {
    pub version: i64,
    pub tenants: Vec<TenantRow>,
    /// (tenant, code, disabled), in creation (`seq`) order.
    pub affiliates: Vec<(String, String, bool)>,
    /// (tenant, alias, code).
    pub aliases: Vec<(String, String, String)>,
    /// (tenant, code, payout kind, payout value).
    pub conversion_types: Vec<(String, String, String, i64)>,
    /// (tenant, id), in id order.
    pub revenue_origins: Vec<(String, String)>,
    /// (tenant, origin), in creation (`seq`) order.
    pub allowed_origins: Vec<(String, String)>,
    /// Live keys: (hash, tenant, scopes).
    pub keys: Vec<(String, String, String)>,
}

/// The catalog a collector serves: enabled tenants in id order with their enabled affiliates,
/// and the live keys of enabled tenants (a disabled tenant's keys are refused).
pub fn catalog(s: CatalogSnapshot) -> Result<Catalog, StoreError> {
    let mut tenants: BTreeMap<String, Tenant> = BTreeMap::new();
    for r in s.tenants.into_iter().filter(|r| !r.disabled) {
        let rules = Rules::from_stored(&r.rules)
            .map_err(|e| StoreError::Internal(format!("stored rules of `{}`: {e}", r.id)))?;
        let t = Tenant {
            id: r.id,
            cookie_days: r.cookie_days,
            allowed_origins: Vec::new(),
            stripe_webhook_secret: r.stripe_webhook_secret,
            currency: r.currency,
            sale_conversion_type: r.sale_conversion_type,
            affiliates: Vec::new(),
            aliases: BTreeMap::new(),
            conversion_types: BTreeMap::new(),
            revenue_origins: Vec::new(),
            hold_days: r.hold_days,
            count_test_payments: r.count_test_payments,
            chargebee_webhook_username: r.chargebee_webhook_username,
            chargebee_webhook_password: r.chargebee_webhook_password,
            recurly_webhook_key: r.recurly_webhook_key,
            recurly_api_key: r.recurly_api_key,
            recurly_api_url: r.recurly_api_url,
            chargify_webhook_key: r.chargify_webhook_key,
            rules: Arc::new(rules),
        };
        tenants.insert(t.id.clone(), t);
    }
    for (tenant, code, disabled) in s.affiliates {
        if let (Some(t), false) = (tenants.get_mut(&tenant), disabled) {
            t.affiliates.push(code);
        }
    }
    for (tenant, alias, code) in s.aliases {
        if let Some(t) = tenants.get_mut(&tenant) {
            t.aliases.insert(alias, code);
        }
    }
    for (tenant, code, kind, value) in s.conversion_types {
        let payout = Payout::from_parts(&kind, value)
            .ok_or_else(|| StoreError::Internal(format!("unknown payout kind `{kind}`")))?;
        if let Some(t) = tenants.get_mut(&tenant) {
            t.conversion_types.insert(code, payout);
        }
    }
    for (tenant, id) in s.revenue_origins {
        if let Some(t) = tenants.get_mut(&tenant) {
            t.revenue_origins.push(id);
        }
    }
    for (tenant, origin) in s.allowed_origins {
        if let Some(t) = tenants.get_mut(&tenant) {
            t.allowed_origins.push(origin);
        }
    }
    let keys = s
        .keys
        .into_iter()
        .filter(|(_, tenant, _)| tenants.contains_key(tenant))
        .map(|(hash, tenant, scopes)| {
            let scopes = scopes
                .split_whitespace()
                .filter_map(KeyScope::parse)
                .collect();
            (hash, KeyGrant { tenant, scopes })
        })
        .collect();
    for t in tenants.values_mut() {
        t.rules = Arc::new(Rules::clone(&t.rules).for_enabled(&t.affiliates));
    }
    Ok(Catalog {
        tenants: tenants.into_values().map(Arc::new).collect(),
        keys,
        version: s.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str, disabled: bool) -> TenantRow {
        TenantRow {
            id: id.into(),
            cookie_days: 30,
            currency: "USD".into(),
            sale_conversion_type: "sale".into(),
            stripe_webhook_secret: String::new(),
            hold_days: 0,
            count_test_payments: false,
            chargebee_webhook_username: String::new(),
            chargebee_webhook_password: String::new(),
            recurly_webhook_key: String::new(),
            recurly_api_key: String::new(),
            recurly_api_url: String::new(),
            chargify_webhook_key: String::new(),
            rules: Rules::default().to_stored(),
            disabled,
        }
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn disabled_rows_are_not_served_and_a_disabled_tenant_keys_are_refused() {
        let snap = CatalogSnapshot {
            version: 7,
            tenants: vec![tenant("t", false), tenant("gone", true), tenant("a", false)],
            affiliates: vec![
                (s("t"), s("zoe"), false),
                (s("t"), s("off"), true),
                (s("t"), s("alice"), false),
                (s("gone"), s("x"), false),
            ],
            conversion_types: vec![(s("t"), s("sale"), s("fixed"), 500)],
            keys: vec![
                (s("h1"), s("t"), s("ingest read")),
                (s("h2"), s("gone"), s("admin")),
            ],
            ..CatalogSnapshot::default()
        };
        let c = catalog(snap).unwrap();
        assert_eq!(c.version, 7);
        let ids: Vec<&str> = c.tenants.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a", "t"]);
        assert_eq!(c.tenant("t").unwrap().affiliates, ["zoe", "alice"]);
        assert_eq!(
            c.tenant("t").unwrap().conversion_types["sale"],
            Payout::Fixed(500)
        );
        assert_eq!(c.keys["h1"].scopes, [KeyScope::Ingest, KeyScope::Read]);
        assert!(!c.keys.contains_key("h2"));
    }

    #[test]
    fn a_broken_stored_value_is_an_internal_error() {
        let mut bad = tenant("t", false);
        bad.rules = "{".into();
        let snap = CatalogSnapshot {
            tenants: vec![bad],
            ..CatalogSnapshot::default()
        };
        assert!(matches!(catalog(snap), Err(StoreError::Internal(_))));
        let snap = CatalogSnapshot {
            tenants: vec![tenant("t", false)],
            conversion_types: vec![(s("t"), s("sale"), s("bogus"), 1)],
            ..CatalogSnapshot::default()
        };
        assert!(matches!(catalog(snap), Err(StoreError::Internal(_))));
    }
}
