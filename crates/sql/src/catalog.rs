//! The catalog tables: the row operations of `clicktrail_app::catalog` (an admin change, the
//! configuration file's apply) and the snapshot collectors serve from. Catalog changes run one
//! at a time: each locks the version row collectors poll until it commits (PostgreSQL; the
//! SQLite writer already runs one transaction at a time).

use clicktrail_app::catalog::{CatalogRows, KeyFound, ValueList, CONFIG_KEY_LABEL};
use clicktrail_app::snapshot::{CatalogSnapshot, TenantRow};
use clicktrail_domain::catalog::{Payout, Tenant};
use clicktrail_domain::managed::Origin;
use clicktrail_domain::rules::Rules;
use clicktrail_store::{AuditIn, StoreError};
use futures_util::future::try_join_all;

use crate::{Args, Db, FromCell, Row, Sql};

/// The version collectors poll: a change of it means a new snapshot to load. PostgreSQL runs
/// it outside a transaction (one round trip per poll).
pub const VERSION: &str = "SELECT version FROM catalog_version WHERE id = 1";

/// [`VERSION`]'s answer.
pub async fn version<D: Db>(db: &D) -> Result<i64, D::Error> {
    let row = db
        .query_opt(VERSION, &[])
        .await?
        .ok_or_else(|| StoreError::Internal("catalog_version has no row".into()))?;
    Ok(row.get(0)?)
}

/// The statements of one snapshot, in [`snapshot`]'s order.
const SNAPSHOT: [&str; 8] = [
    VERSION,
    "SELECT id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
        hold_days, count_test_payments, chargebee_webhook_username,
        chargebee_webhook_password, recurly_webhook_key, recurly_api_key, recurly_api_url,
        rules, disabled, chargify_webhook_key FROM tenants",
    "SELECT tenant, code, disabled FROM affiliates ORDER BY seq",
    "SELECT tenant, alias, code FROM affiliate_aliases",
    "SELECT tenant, code, payout_kind, payout_value FROM conversion_types",
    "SELECT tenant, id FROM revenue_origins ORDER BY id",
    "SELECT tenant, origin FROM allowed_origins ORDER BY seq",
    "SELECT key_hash, tenant, scopes FROM api_keys WHERE revoked_at IS NULL",
];

/// The catalog's rows, read inside the caller's (read-only, repeatable) transaction so that
/// the version and the rows agree. The statements run together: PostgreSQL pipelines them.
pub async fn snapshot<D: Db>(db: &D) -> Result<CatalogSnapshot, D::Error> {
    let mut sets = try_join_all(SNAPSHOT.iter().map(|sql| db.query(sql, &[])))
        .await?
        .into_iter();
    let mut next = || sets.next().unwrap_or_default();
    let version = next()
        .first()
        .ok_or_else(|| StoreError::Internal("catalog_version has no row".into()))?
        .get(0)?;
    Ok(CatalogSnapshot {
        version,
        tenants: read(next(), tenant)?,
        affiliates: read(next(), triple)?,
        aliases: read(next(), triple)?,
        conversion_types: read(next(), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?,
        revenue_origins: read(next(), pair)?,
        allowed_origins: read(next(), pair)?,
        keys: read(next(), triple)?,
    })
}

fn read<T>(
    rows: Vec<Row>,
    f: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(f).collect()
}

fn pair(r: &Row) -> Result<(String, String), StoreError> {
    Ok((r.get(0)?, r.get(1)?))
}

fn triple<C: FromCell>(r: &Row) -> Result<(String, String, C), StoreError> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn tenant(r: &Row) -> Result<TenantRow, StoreError> {
    Ok(TenantRow {
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
        recurly_api_key: r.get(10)?,
        recurly_api_url: r.get(11)?,
        rules: r.get(12)?,
        disabled: r.get(13)?,
        chargify_webhook_key: r.get(14)?,
    })
}

impl<D: Db> Sql<D> {
    async fn run(&self, sql: &str, args: Args<'_>) -> Result<(), D::Error> {
        self.0.execute(sql, args).await?;
        Ok(())
    }

    /// Whether the statement changed a row.
    async fn changed(&self, sql: &str, args: Args<'_>) -> Result<bool, D::Error> {
        Ok(self.0.execute(sql, args).await? > 0)
    }

    async fn exists(&self, sql: &str, args: Args<'_>) -> Result<bool, D::Error> {
        Ok(self.0.query_opt(sql, args).await?.is_some())
    }

    /// (id or code, `config_state`) rows.
    async fn states(&self, sql: &str, args: Args<'_>) -> Result<Vec<(String, i64)>, D::Error> {
        let rows = self.0.query(sql, args).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push((r.get(0)?, r.get(1)?));
        }
        Ok(out)
    }
}

impl<D: Db> CatalogRows for Sql<D> {
    type Error = D::Error;

    /// Catalog changes (admin changes, applies of the file by collectors starting together)
    /// run one at a time: each holds the version row until it commits.
    async fn lock_catalog(&mut self) -> Result<(), D::Error> {
        self.0
            .query_opt(
                "SELECT version FROM catalog_version WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
        Ok(())
    }

    async fn bump_version(&mut self) -> Result<(), D::Error> {
        self.run(
            "UPDATE catalog_version SET version = version + 1 WHERE id = 1",
            &[],
        )
        .await
    }

    async fn audit(&mut self, a: &AuditIn) -> Result<(), D::Error> {
        crate::admin::audit(&self.0, a).await
    }

    async fn tenant_exists(&mut self, id: &str) -> Result<bool, D::Error> {
        self.exists("SELECT 1 FROM tenants WHERE id = $1", &[&id])
            .await
    }

    async fn upsert_tenant(&mut self, t: &Tenant, now: i64) -> Result<(), D::Error> {
        self.run(
            "INSERT INTO tenants (id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
                hold_days, count_test_payments, created_at, updated_at, chargebee_webhook_username,
                chargebee_webhook_password, recurly_webhook_key, recurly_api_key, recurly_api_url,
                chargify_webhook_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (id) DO UPDATE SET cookie_days = excluded.cookie_days, currency = excluded.currency,
                sale_conversion_type = excluded.sale_conversion_type,
                stripe_webhook_secret = excluded.stripe_webhook_secret, hold_days = excluded.hold_days,
                count_test_payments = excluded.count_test_payments, updated_at = excluded.updated_at,
                chargebee_webhook_username = excluded.chargebee_webhook_username,
                chargebee_webhook_password = excluded.chargebee_webhook_password,
                recurly_webhook_key = excluded.recurly_webhook_key,
                recurly_api_key = excluded.recurly_api_key, recurly_api_url = excluded.recurly_api_url,
                chargify_webhook_key = excluded.chargify_webhook_key",
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
                &t.recurly_api_key,
                &t.recurly_api_url,
                &t.chargify_webhook_key,
            ],
        )
        .await
    }

    async fn set_rules(&mut self, tenant: &str, rules: &Rules) -> Result<(), D::Error> {
        self.run(
            "UPDATE tenants SET rules = $2 WHERE id = $1",
            &[&tenant, &rules.to_stored()],
        )
        .await
    }

    async fn managed_tenants(&mut self) -> Result<Vec<(String, i64)>, D::Error> {
        self.states(
            "SELECT id, config_state FROM tenants WHERE config_state <> 0",
            &[],
        )
        .await
    }

    async fn set_tenant_origin(
        &mut self,
        id: &str,
        to: Origin,
        disabled: Option<bool>,
    ) -> Result<(), D::Error> {
        self.run(
            "UPDATE tenants SET config_state = $2, disabled = coalesce($3, disabled) WHERE id = $1",
            &[&id, &to.as_i64(), &disabled],
        )
        .await
    }

    async fn affiliate_exists(&mut self, tenant: &str, code: &str) -> Result<bool, D::Error> {
        self.exists(
            "SELECT 1 FROM affiliates WHERE tenant = $1 AND code = $2",
            &[&tenant, &code],
        )
        .await
    }

    async fn insert_affiliate(
        &mut self,
        tenant: &str,
        code: &str,
        name: Option<&str>,
        now: i64,
    ) -> Result<bool, D::Error> {
        self.changed(
            "INSERT INTO affiliates (tenant, code, name, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&tenant, &code, &name, &now],
        )
        .await
    }

    async fn update_affiliate(
        &mut self,
        tenant: &str,
        code: &str,
        name: Option<Option<&str>>,
        disabled: Option<bool>,
    ) -> Result<(), D::Error> {
        self.run(
            "UPDATE affiliates SET name = CASE WHEN $3 THEN $4 ELSE name END,
                disabled = coalesce($5, disabled)
             WHERE tenant = $1 AND code = $2",
            &[&tenant, &code, &name.is_some(), &name.flatten(), &disabled],
        )
        .await
    }

    async fn managed_affiliates(&mut self, tenant: &str) -> Result<Vec<(String, i64)>, D::Error> {
        self.states(
            "SELECT code, config_state FROM affiliates WHERE tenant = $1 AND config_state <> 0",
            &[&tenant],
        )
        .await
    }

    async fn set_affiliate_origin(
        &mut self,
        tenant: &str,
        code: &str,
        to: Origin,
        disabled: Option<bool>,
    ) -> Result<(), D::Error> {
        self.run(
            "UPDATE affiliates SET config_state = $3, disabled = coalesce($4, disabled)
             WHERE tenant = $1 AND code = $2",
            &[&tenant, &code, &to.as_i64(), &disabled],
        )
        .await
    }

    async fn alias_exists(&mut self, tenant: &str, alias: &str) -> Result<bool, D::Error> {
        self.exists(
            "SELECT 1 FROM affiliate_aliases WHERE tenant = $1 AND alias = $2",
            &[&tenant, &alias],
        )
        .await
    }

    async fn upsert_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        code: &str,
        now: i64,
    ) -> Result<(), D::Error> {
        self.run(
                "INSERT INTO affiliate_aliases (tenant, alias, code, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, alias) DO UPDATE SET code = excluded.code",
                &[&tenant, &alias, &code, &now],
        )
        .await
    }

    async fn delete_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        code: &str,
    ) -> Result<bool, D::Error> {
        self.changed(
            "DELETE FROM affiliate_aliases WHERE tenant = $1 AND alias = $2 AND code = $3",
            &[&tenant, &alias, &code],
        )
        .await
    }

    async fn insert_conversion_type(
        &mut self,
        tenant: &str,
        code: &str,
        payout: Payout,
    ) -> Result<bool, D::Error> {
        let (kind, value) = payout.to_parts();
        self.changed(
            "INSERT INTO conversion_types (tenant, code, payout_kind, payout_value)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&tenant, &code, &kind, &value],
        )
        .await
    }

    async fn update_conversion_type(
        &mut self,
        tenant: &str,
        code: &str,
        payout: Payout,
    ) -> Result<bool, D::Error> {
        let (kind, value) = payout.to_parts();
        self.changed(
            "UPDATE conversion_types SET payout_kind = $3, payout_value = $4
             WHERE tenant = $1 AND code = $2",
            &[&tenant, &code, &kind, &value],
        )
        .await
    }

    async fn insert_value(
        &mut self,
        l: ValueList,
        tenant: &str,
        v: &str,
    ) -> Result<bool, D::Error> {
        let (table, column) = (l.table(), l.column());
        let sql = format!(
            "INSERT INTO {table} (tenant, {column}) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        self.changed(&sql, &[&tenant, &v]).await
    }

    async fn delete_value(
        &mut self,
        l: ValueList,
        tenant: &str,
        v: &str,
    ) -> Result<bool, D::Error> {
        let (table, column) = (l.table(), l.column());
        let sql = format!("DELETE FROM {table} WHERE tenant = $1 AND {column} = $2");
        self.changed(&sql, &[&tenant, &v]).await
    }

    async fn key_owner(&mut self, key_hash: &str) -> Result<Option<String>, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT tenant FROM api_keys WHERE key_hash = $1",
                &[&key_hash],
            )
            .await?;
        Ok(row.map(|r| r.get(0)).transpose()?)
    }

    async fn insert_key(
        &mut self,
        key_hash: &str,
        tenant: &str,
        scopes: &str,
        label: Option<&str>,
        now: i64,
    ) -> Result<bool, D::Error> {
        self.changed(
            "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&key_hash, &tenant, &scopes, &label, &now],
        )
        .await
    }

    async fn set_key_scopes(&mut self, key_hash: &str, scopes: &str) -> Result<(), D::Error> {
        self.run(
            "UPDATE api_keys SET scopes = $2 WHERE key_hash = $1",
            &[&key_hash, &scopes],
        )
        .await
    }

    async fn find_key(&mut self, tenant: &str, prefix: &str) -> Result<Option<KeyFound>, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT key_hash, revoked_at FROM api_keys
                 WHERE tenant = $1 AND substr(key_hash, 1, 16) = $2",
                &[&tenant, &prefix],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(KeyFound {
            hash: r.get(0)?,
            revoked_at: r.get(1)?,
        }))
    }

    async fn config_keys(&mut self, tenant: &str) -> Result<Vec<String>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT key_hash FROM api_keys
                 WHERE tenant = $1 AND label = $2 AND revoked_at IS NULL",
                &[&tenant, &CONFIG_KEY_LABEL],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(r.get(0)?);
        }
        Ok(out)
    }

    async fn revoke_key(&mut self, key_hash: &str, now: i64) -> Result<(), D::Error> {
        self.run(
            "UPDATE api_keys SET revoked_at = $2 WHERE key_hash = $1",
            &[&key_hash, &now],
        )
        .await
    }
}
