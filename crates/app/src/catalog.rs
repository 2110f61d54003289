//! The catalog (tenants, affiliates, aliases, conversion types, origins, keys): an admin
//! change, the configuration file's apply ("the file manages what it declares", domain
//! `managed`), and the snapshot collectors serve from. Every change runs in one transaction of
//! the backend with the catalog locked, and bumps the catalog version collectors poll.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use clicktrail_domain::catalog::{key_hash, Catalog, KeyGrant, KeyScope, Payout, Tenant};
use clicktrail_domain::managed::{next, Origin};
use clicktrail_domain::rules::Rules;
use clicktrail_store::admin::errors;
use clicktrail_store::{AuditIn, CatalogChange, ChangeIn, StoreError, TenantSpec};

/// The label of the keys the configuration file declares (those it revokes when it no longer
/// lists them).
pub const CONFIG_KEY_LABEL: &str = "config";

/// A tenant's list of plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueList {
    /// `revenue_origins (tenant, id)`.
    RevenueOrigins,
    /// `allowed_origins (tenant, origin)`.
    AllowedOrigins,
}

impl ValueList {
    pub fn table(self) -> &'static str {
        match self {
            ValueList::RevenueOrigins => "revenue_origins",
            ValueList::AllowedOrigins => "allowed_origins",
        }
    }
    pub fn column(self) -> &'static str {
        match self {
            ValueList::RevenueOrigins => "id",
            ValueList::AllowedOrigins => "origin",
        }
    }
}

/// A live or revoked key found by its public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFound {
    pub hash: String,
    pub revoked_at: Option<i64>,
}

/// What catalog changes read and write, inside one transaction of the backend.
pub trait CatalogRows {
    type Error: From<StoreError>;

    /// Serializes catalog changes until the transaction ends (a single writer needs nothing).
    fn lock_catalog(&mut self) -> impl Future<Output = Result<(), Self::Error>>;
    fn bump_version(&mut self) -> impl Future<Output = Result<(), Self::Error>>;
    fn audit(&mut self, a: &AuditIn) -> impl Future<Output = Result<(), Self::Error>>;

    fn tenant_exists(&mut self, id: &str) -> impl Future<Output = Result<bool, Self::Error>>;
    /// Creates or updates the tenant's settings (not its rules, nor who manages it).
    fn upsert_tenant(
        &mut self,
        t: &Tenant,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;
    fn set_rules(
        &mut self,
        tenant: &str,
        rules: &Rules,
    ) -> impl Future<Output = Result<(), Self::Error>>;
    /// Tenants some file declared (`config_state` not 0), with their state.
    fn managed_tenants(&mut self) -> impl Future<Output = Result<Vec<(String, i64)>, Self::Error>>;
    fn set_tenant_origin(
        &mut self,
        id: &str,
        to: Origin,
        disabled: Option<bool>,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// The tenant has an affiliate `code` (disabled or not).
    fn affiliate_exists(
        &mut self,
        tenant: &str,
        code: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
    /// Inserts an affiliate unless the code exists; `false` when it did.
    fn insert_affiliate(
        &mut self,
        tenant: &str,
        code: &str,
        name: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
    /// Sets what is `Some` (`name: Some(None)` clears the name).
    fn update_affiliate(
        &mut self,
        tenant: &str,
        code: &str,
        name: Option<Option<&str>>,
        disabled: Option<bool>,
    ) -> impl Future<Output = Result<(), Self::Error>>;
    /// The tenant's affiliates some file declared (`config_state` not 0), with their state.
    fn managed_affiliates(
        &mut self,
        tenant: &str,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, Self::Error>>;
    fn set_affiliate_origin(
        &mut self,
        tenant: &str,
        code: &str,
        to: Origin,
        disabled: Option<bool>,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    fn alias_exists(
        &mut self,
        tenant: &str,
        alias: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
    /// Makes `alias` a code of `code` (an alias of another affiliate is moved).
    fn upsert_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        code: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;
    /// `false` when `alias` is not an alias of `code`.
    fn delete_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        code: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>>;

    /// `false` when the type exists.
    fn insert_conversion_type(
        &mut self,
        tenant: &str,
        code: &str,
        payout: Payout,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
    /// `false` when there is no such type.
    fn update_conversion_type(
        &mut self,
        tenant: &str,
        code: &str,
        payout: Payout,
    ) -> impl Future<Output = Result<bool, Self::Error>>;

    /// `false` when the value is listed already.
    fn insert_value(
        &mut self,
        list: ValueList,
        tenant: &str,
        value: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
    /// `false` when the value was not listed.
    fn delete_value(
        &mut self,
        list: ValueList,
        tenant: &str,
        value: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>>;

    /// The tenant owning a key (revoked or not).
    fn key_owner(
        &mut self,
        key_hash: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>>;
    /// `false` when the hash is a key already.
    fn insert_key(
        &mut self,
        key_hash: &str,
        tenant: &str,
        scopes: &str,
        label: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<bool, Self::Error>>;
    fn set_key_scopes(
        &mut self,
        key_hash: &str,
        scopes: &str,
    ) -> impl Future<Output = Result<(), Self::Error>>;
    /// The tenant's key whose hash starts with `prefix` (16 hex digits).
    fn find_key(
        &mut self,
        tenant: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Option<KeyFound>, Self::Error>>;
    /// The tenant's live keys labelled [`CONFIG_KEY_LABEL`].
    fn config_keys(
        &mut self,
        tenant: &str,
    ) -> impl Future<Output = Result<Vec<String>, Self::Error>>;
    fn revoke_key(
        &mut self,
        key_hash: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;
}

fn scopes(s: &[KeyScope]) -> String {
    s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

fn stored_origin(n: i64) -> Result<Origin, StoreError> {
    Origin::from_i64(n).ok_or_else(|| StoreError::Internal(format!("stored config_state {n}")))
}

/// One admin change (`POST /api/v1/affiliates` and the like), its audit line and a version
/// bump. The errors are [`CatalogChange`]'s.
pub async fn change<R: CatalogRows>(rows: &mut R, c: &ChangeIn) -> Result<(), R::Error> {
    rows.lock_catalog().await?;
    apply_change(rows, c).await?;
    rows.audit(&AuditIn {
        tenant: c.tenant.clone(),
        actor: c.actor.clone(),
        action: c.action.clone(),
        summary: c.summary.clone(),
        now: c.now,
    })
    .await?;
    rows.bump_version().await
}

async fn apply_change<R: CatalogRows>(rows: &mut R, c: &ChangeIn) -> Result<(), R::Error> {
    let t = c.tenant.as_str();
    match &c.change {
        CatalogChange::CreateAffiliate { code, name } => {
            if rows.affiliate_exists(t, code).await? {
                return Err(errors::duplicate("duplicate_affiliate", "affiliate", code).into());
            }
            if rows.alias_exists(t, code).await? {
                return Err(errors::code_taken(code).into());
            }
            rows.insert_affiliate(t, code, name.as_deref(), c.now)
                .await?;
        }
        CatalogChange::UpdateAffiliate {
            code,
            name,
            disabled,
        } => {
            if !rows.affiliate_exists(t, code).await? {
                return Err(errors::unknown("unknown_affiliate", "affiliate", code).into());
            }
            let name = name.as_ref().map(Option::as_deref);
            rows.update_affiliate(t, code, name, *disabled).await?;
        }
        CatalogChange::AddAlias { code, alias } => {
            if !rows.affiliate_exists(t, code).await? {
                return Err(errors::unknown("unknown_affiliate", "affiliate", code).into());
            }
            if rows.affiliate_exists(t, alias).await? || rows.alias_exists(t, alias).await? {
                return Err(errors::code_taken(alias).into());
            }
            rows.upsert_alias(t, alias, code, c.now).await?;
        }
        CatalogChange::RemoveAlias { code, alias } => {
            if !rows.delete_alias(t, alias, code).await? {
                return Err(errors::unknown("unknown_alias", "alias", alias).into());
            }
        }
        CatalogChange::CreateConversionType { code, payout } => {
            if !rows.insert_conversion_type(t, code, *payout).await? {
                let e = errors::duplicate("duplicate_conversion_type", "conversion type", code);
                return Err(e.into());
            }
        }
        CatalogChange::UpdateConversionType { code, payout } => {
            if !rows.update_conversion_type(t, code, *payout).await? {
                let e = errors::unknown("unknown_conversion_type", "conversion type", code);
                return Err(e.into());
            }
        }
        CatalogChange::AddRevenueOrigin { id } => {
            if !rows.insert_value(ValueList::RevenueOrigins, t, id).await? {
                let e = errors::duplicate("duplicate_revenue_origin", "revenue origin", id);
                return Err(e.into());
            }
        }
        CatalogChange::RemoveRevenueOrigin { id } => {
            if !rows.delete_value(ValueList::RevenueOrigins, t, id).await? {
                let e = errors::unknown("unknown_revenue_origin", "revenue origin", id);
                return Err(e.into());
            }
        }
        CatalogChange::AddAllowedOrigin { origin } => {
            if !rows
                .insert_value(ValueList::AllowedOrigins, t, origin)
                .await?
            {
                return Err(errors::duplicate("duplicate_origin", "origin", origin).into());
            }
        }
        CatalogChange::RemoveAllowedOrigin { origin } => {
            if !rows
                .delete_value(ValueList::AllowedOrigins, t, origin)
                .await?
            {
                return Err(errors::unknown("unknown_origin", "origin", origin).into());
            }
        }
        CatalogChange::CreateKey {
            key_hash,
            scopes: s,
            label,
        } => {
            if !rows
                .insert_key(key_hash, t, &scopes(s), label.as_deref(), c.now)
                .await?
            {
                return Err(StoreError::Internal("a new key collided".into()).into());
            }
        }
        CatalogChange::RevokeKey { key_id: id } => {
            let prefix = id.strip_prefix("key_").unwrap_or("-");
            match rows.find_key(t, prefix).await? {
                None => return Err(errors::unknown("unknown_key", "key", id).into()),
                Some(KeyFound {
                    revoked_at: Some(_),
                    ..
                }) => {
                    let m = format!("key `{id}` is already revoked");
                    return Err(StoreError::Conflict("key_revoked", m).into());
                }
                Some(k) => rows.revoke_key(&k.hash, c.now).await?,
            }
        }
        CatalogChange::CreateTenant {
            tenant,
            admin_key_hash,
        } => {
            if rows.tenant_exists(&tenant.id).await? {
                return Err(errors::duplicate("duplicate_tenant", "tenant", &tenant.id).into());
            }
            let spec = TenantSpec {
                tenant: tenant.clone(),
                keys: Vec::new(),
            };
            declare(rows, &spec, c.now).await?;
            let label = Some("first admin key");
            if !rows
                .insert_key(admin_key_hash, &tenant.id, "admin", label, c.now)
                .await?
            {
                return Err(StoreError::Internal("a new key collided".into()).into());
            }
        }
        CatalogChange::SetRules { rules } => rows.set_rules(t, rules).await?,
    }
    Ok(())
}

/// Applies the configuration file's tenants: each is created or updated with what it declares
/// (nothing is deleted), then what the file declared before and no longer declares is
/// disabled and its keys no longer listed are revoked (domain `managed`). One version bump.
pub async fn apply<R: CatalogRows>(
    rows: &mut R,
    specs: &[TenantSpec],
    now: i64,
) -> Result<(), R::Error> {
    rows.lock_catalog().await?;
    for spec in specs {
        declare(rows, spec, now).await?;
    }
    manage(rows, specs, now).await?;
    rows.bump_version().await
}

/// Creates or updates one tenant with what it declares.
async fn declare<R: CatalogRows>(
    rows: &mut R,
    spec: &TenantSpec,
    now: i64,
) -> Result<(), R::Error> {
    let t = &spec.tenant;
    let id = t.id.as_str();
    rows.upsert_tenant(t, now).await?;
    if *t.rules != Rules::default() {
        rows.set_rules(id, &t.rules).await?;
    }
    // in declaration order: affiliates and allowed origins are listed in that order
    for code in &t.affiliates {
        rows.insert_affiliate(id, code, None, now).await?;
    }
    for (alias, code) in &t.aliases {
        // an alias never shadows an affiliate code (one made through the API included)
        if rows.affiliate_exists(id, alias).await? {
            return Err(StoreError::Invalid(
                "affiliate_aliases".into(),
                format!("tenant `{id}`: alias `{alias}` is an affiliate code"),
            )
            .into());
        }
        rows.upsert_alias(id, alias, code, now).await?;
    }
    for (code, payout) in &t.conversion_types {
        if !rows.update_conversion_type(id, code, *payout).await? {
            rows.insert_conversion_type(id, code, *payout).await?;
        }
    }
    for v in &t.revenue_origins {
        rows.insert_value(ValueList::RevenueOrigins, id, v).await?;
    }
    for v in &t.allowed_origins {
        rows.insert_value(ValueList::AllowedOrigins, id, v).await?;
    }
    for k in &spec.keys {
        let hash = key_hash(&k.key);
        match rows.key_owner(&hash).await? {
            // a key that belongs to another tenant is a configuration error, not an update
            Some(owner) if owner != id => {
                return Err(StoreError::Invalid(
                    "api_key".into(),
                    format!("a key of tenant `{id}` is already a key of tenant `{owner}`"),
                )
                .into());
            }
            Some(_) => rows.set_key_scopes(&hash, &scopes(&k.scopes)).await?,
            None => {
                let label = Some(CONFIG_KEY_LABEL);
                rows.insert_key(&hash, id, &scopes(&k.scopes), label, now)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The file manages what it declares (domain `managed::next`) and revokes the keys it
/// declared and no longer lists. Rows made through the admin API are never touched.
async fn manage<R: CatalogRows>(
    rows: &mut R,
    specs: &[TenantSpec],
    now: i64,
) -> Result<(), R::Error> {
    let managed: HashMap<String, i64> = rows.managed_tenants().await?.into_iter().collect();
    let declared: HashSet<&str> = specs.iter().map(|s| s.tenant.id.as_str()).collect();
    for spec in specs {
        let t = &spec.tenant;
        let from = stored_origin(managed.get(&t.id).copied().unwrap_or(0))?;
        if let Some(m) = next(from, true) {
            rows.set_tenant_origin(&t.id, m.to, m.disabled).await?;
        }
        let affiliates: HashMap<String, i64> =
            rows.managed_affiliates(&t.id).await?.into_iter().collect();
        for code in &t.affiliates {
            let from = stored_origin(affiliates.get(code).copied().unwrap_or(0))?;
            if let Some(m) = next(from, true) {
                rows.set_affiliate_origin(&t.id, code, m.to, m.disabled)
                    .await?;
            }
        }
        for (code, state) in &affiliates {
            if t.affiliates.contains(code) {
                continue;
            }
            if let Some(m) = next(stored_origin(*state)?, false) {
                rows.set_affiliate_origin(&t.id, code, m.to, m.disabled)
                    .await?;
            }
        }
        let listed: HashSet<String> = spec.keys.iter().map(|k| key_hash(&k.key)).collect();
        for hash in rows.config_keys(&t.id).await? {
            if !listed.contains(&hash) {
                rows.revoke_key(&hash, now).await?;
            }
        }
    }
    for (id, state) in &managed {
        if declared.contains(id.as_str()) {
            continue;
        }
        if let Some(m) = next(stored_origin(*state)?, false) {
            rows.set_tenant_origin(id, m.to, m.disabled).await?;
        }
    }
    Ok(())
}

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
