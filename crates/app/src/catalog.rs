//! The catalog (tenants, affiliates, aliases, conversion types, origins, keys): an admin
//! change and the configuration file's apply ("the file manages what it declares", domain
//! `managed`). Every change runs in one transaction of the backend with the catalog locked,
//! and bumps the catalog version collectors poll (what they then serve: `snapshot.rs`).

use std::collections::{HashMap, HashSet};
use std::future::Future;

use clicktrail_domain::catalog::{key_hash, KeyScope, Payout, Tenant};
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
        let codes: HashSet<&String> = t.affiliates.iter().collect();
        for (code, state) in &affiliates {
            if codes.contains(code) {
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
