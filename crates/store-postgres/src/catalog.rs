//! The catalog tables on PostgreSQL: the row operations of `clicktrail_app::catalog` (an
//! admin change, the configuration file's apply) in one transaction, serialized by the lock
//! of the version row collectors poll; and the snapshot they serve from.

use clicktrail_app::catalog::{CatalogRows, KeyFound, ValueList};
use clicktrail_app::snapshot::{CatalogSnapshot, TenantRow};
use clicktrail_domain::catalog::{Catalog, Payout, Tenant};
use clicktrail_domain::managed::Origin;
use clicktrail_domain::rules::Rules;
use clicktrail_store::{AuditIn, ChangeIn, StoreError, TenantSpec};
use tokio_postgres::types::FromSql;
use tokio_postgres::{IsolationLevel, Row};

use crate::ops::{exec, q, q_opt, Tx};
use crate::{Fail, PgStore};

pub(crate) async fn apply(store: &PgStore, specs: &[TenantSpec], now: i64) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    clicktrail_app::catalog::apply(&mut Rows(&tx), specs, now).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn change(store: &PgStore, c: &ChangeIn) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    clicktrail_app::catalog::change(&mut Rows(&tx), c).await?;
    tx.commit().await?;
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
    let (version, tenants, affiliates, aliases, types, revenue, origins, keys) = tokio::try_join!(
        q(&tx, "SELECT version FROM catalog_version WHERE id = 1", &[]),
        q(
            &tx,
            "SELECT id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
                hold_days, count_test_payments, chargebee_webhook_username,
                chargebee_webhook_password, recurly_webhook_key, recurly_api_key, recurly_api_url,
                rules, disabled, chargify_webhook_key FROM tenants",
            &[]
        ),
        q(
            &tx,
            "SELECT tenant, code, disabled FROM affiliates ORDER BY seq",
            &[]
        ),
        q(
            &tx,
            "SELECT tenant, alias, code FROM affiliate_aliases",
            &[]
        ),
        q(
            &tx,
            "SELECT tenant, code, payout_kind, payout_value FROM conversion_types",
            &[]
        ),
        q(
            &tx,
            "SELECT tenant, id FROM revenue_origins ORDER BY id",
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
    tx.commit().await?;
    let snapshot = CatalogSnapshot {
        version: version
            .first()
            .map(|r| r.get(0))
            .ok_or_else(|| StoreError::Internal("catalog_version has no row".into()))?,
        tenants: tenants
            .iter()
            .map(|r| TenantRow {
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
                recurly_api_key: r.get(10),
                recurly_api_url: r.get(11),
                rules: r.get(12),
                disabled: r.get(13),
                chargify_webhook_key: r.get(14),
            })
            .collect(),
        affiliates: affiliates.iter().map(triple).collect(),
        aliases: aliases.iter().map(triple).collect(),
        conversion_types: types
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect(),
        revenue_origins: revenue.iter().map(pair).collect(),
        allowed_origins: origins.iter().map(pair).collect(),
        keys: keys.iter().map(triple).collect(),
    };
    Ok(clicktrail_app::snapshot::catalog(snapshot)?)
}

fn pair(r: &Row) -> (String, String) {
    (r.get(0), r.get(1))
}

fn triple<C: for<'a> FromSql<'a>>(r: &Row) -> (String, String, C) {
    (r.get(0), r.get(1), r.get(2))
}

/// The catalog's row operations inside one transaction.
pub(crate) struct Rows<'t, 'c>(pub(crate) &'t Tx<'c>);

impl Rows<'_, '_> {
    async fn exists(
        &self,
        sql: &str,
        p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<bool, Fail> {
        Ok(q_opt(self.0, sql, p).await?.is_some())
    }
    async fn states(
        &self,
        sql: &str,
        p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<(String, i64)>, Fail> {
        let rows = q(self.0, sql, p).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), i64::from(r.get::<_, i16>(1))))
            .collect())
    }
}

/// `config_state` is a smallint.
fn state(o: Origin) -> i16 {
    i16::try_from(o.as_i64()).unwrap_or(0)
}

impl CatalogRows for Rows<'_, '_> {
    type Error = Fail;

    /// Catalog changes (admin changes, applies of the file by collectors starting together)
    /// run one at a time: each holds the version row until it commits.
    async fn lock_catalog(&mut self) -> Result<(), Fail> {
        exec(
            self.0,
            "SELECT version FROM catalog_version WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await?;
        Ok(())
    }

    async fn bump_version(&mut self) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE catalog_version SET version = version + 1 WHERE id = 1",
            &[],
        )
        .await?;
        Ok(())
    }

    async fn audit(&mut self, a: &AuditIn) -> Result<(), Fail> {
        crate::admin::audit_tx(self.0, a).await
    }

    async fn tenant_exists(&mut self, id: &str) -> Result<bool, Fail> {
        self.exists("SELECT 1 FROM tenants WHERE id = $1", &[&id])
            .await
    }

    async fn upsert_tenant(&mut self, t: &Tenant, now: i64) -> Result<(), Fail> {
        exec(
            self.0,
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
        .await?;
        Ok(())
    }

    async fn set_rules(&mut self, tenant: &str, rules: &Rules) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE tenants SET rules = $2 WHERE id = $1",
            &[&tenant, &rules.to_stored()],
        )
        .await?;
        Ok(())
    }

    async fn managed_tenants(&mut self) -> Result<Vec<(String, i64)>, Fail> {
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
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE tenants SET config_state = $2, disabled = coalesce($3, disabled) WHERE id = $1",
            &[&id, &state(to), &disabled],
        )
        .await?;
        Ok(())
    }

    async fn affiliate_exists(&mut self, tenant: &str, code: &str) -> Result<bool, Fail> {
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
    ) -> Result<bool, Fail> {
        let n = exec(
            self.0,
            "INSERT INTO affiliates (tenant, code, name, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&tenant, &code, &name, &now],
        )
        .await?;
        Ok(n > 0)
    }

    async fn update_affiliate(
        &mut self,
        tenant: &str,
        code: &str,
        name: Option<Option<&str>>,
        disabled: Option<bool>,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE affiliates SET name = CASE WHEN $3 THEN $4 ELSE name END,
                disabled = coalesce($5, disabled)
             WHERE tenant = $1 AND code = $2",
            &[&tenant, &code, &name.is_some(), &name.flatten(), &disabled],
        )
        .await?;
        Ok(())
    }

    async fn managed_affiliates(&mut self, tenant: &str) -> Result<Vec<(String, i64)>, Fail> {
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
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE affiliates SET config_state = $3, disabled = coalesce($4, disabled)
             WHERE tenant = $1 AND code = $2",
            &[&tenant, &code, &state(to), &disabled],
        )
        .await?;
        Ok(())
    }

    async fn alias_exists(&mut self, tenant: &str, alias: &str) -> Result<bool, Fail> {
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
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "INSERT INTO affiliate_aliases (tenant, alias, code, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, alias) DO UPDATE SET code = excluded.code",
            &[&tenant, &alias, &code, &now],
        )
        .await?;
        Ok(())
    }

    async fn delete_alias(&mut self, tenant: &str, alias: &str, code: &str) -> Result<bool, Fail> {
        let n = exec(
            self.0,
            "DELETE FROM affiliate_aliases WHERE tenant = $1 AND alias = $2 AND code = $3",
            &[&tenant, &alias, &code],
        )
        .await?;
        Ok(n > 0)
    }

    async fn insert_conversion_type(
        &mut self,
        tenant: &str,
        code: &str,
        payout: Payout,
    ) -> Result<bool, Fail> {
        let (kind, value) = payout.to_parts();
        let n = exec(
            self.0,
            "INSERT INTO conversion_types (tenant, code, payout_kind, payout_value)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&tenant, &code, &kind, &value],
        )
        .await?;
        Ok(n > 0)
    }

    async fn update_conversion_type(
        &mut self,
        tenant: &str,
        code: &str,
        payout: Payout,
    ) -> Result<bool, Fail> {
        let (kind, value) = payout.to_parts();
        let n = exec(
            self.0,
            "UPDATE conversion_types SET payout_kind = $3, payout_value = $4
             WHERE tenant = $1 AND code = $2",
            &[&tenant, &code, &kind, &value],
        )
        .await?;
        Ok(n > 0)
    }

    async fn insert_value(&mut self, l: ValueList, tenant: &str, v: &str) -> Result<bool, Fail> {
        let (table, column) = (l.table(), l.column());
        let sql = format!(
            "INSERT INTO {table} (tenant, {column}) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        Ok(exec(self.0, &sql, &[&tenant, &v]).await? > 0)
    }

    async fn delete_value(&mut self, l: ValueList, tenant: &str, v: &str) -> Result<bool, Fail> {
        let (table, column) = (l.table(), l.column());
        let sql = format!("DELETE FROM {table} WHERE tenant = $1 AND {column} = $2");
        Ok(exec(self.0, &sql, &[&tenant, &v]).await? > 0)
    }

    async fn key_owner(&mut self, key_hash: &str) -> Result<Option<String>, Fail> {
        let r = q_opt(
            self.0,
            "SELECT tenant FROM api_keys WHERE key_hash = $1",
            &[&key_hash],
        )
        .await?;
        Ok(r.map(|r| r.get(0)))
    }

    async fn insert_key(
        &mut self,
        key_hash: &str,
        tenant: &str,
        scopes: &str,
        label: Option<&str>,
        now: i64,
    ) -> Result<bool, Fail> {
        let n = exec(
            self.0,
            "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&key_hash, &tenant, &scopes, &label, &now],
        )
        .await?;
        Ok(n > 0)
    }

    async fn set_key_scopes(&mut self, key_hash: &str, scopes: &str) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE api_keys SET scopes = $2 WHERE key_hash = $1",
            &[&key_hash, &scopes],
        )
        .await?;
        Ok(())
    }

    async fn find_key(&mut self, tenant: &str, prefix: &str) -> Result<Option<KeyFound>, Fail> {
        let r = q_opt(
            self.0,
            "SELECT key_hash, revoked_at FROM api_keys
             WHERE tenant = $1 AND substr(key_hash, 1, 16) = $2",
            &[&tenant, &prefix],
        )
        .await?;
        Ok(r.map(|r| KeyFound {
            hash: r.get(0),
            revoked_at: r.get(1),
        }))
    }

    async fn config_keys(&mut self, tenant: &str) -> Result<Vec<String>, Fail> {
        let rows = q(
            self.0,
            "SELECT key_hash FROM api_keys
             WHERE tenant = $1 AND label = $2 AND revoked_at IS NULL",
            &[&tenant, &clicktrail_app::catalog::CONFIG_KEY_LABEL],
        )
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn revoke_key(&mut self, key_hash: &str, now: i64) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE api_keys SET revoked_at = $2 WHERE key_hash = $1",
            &[&key_hash, &now],
        )
        .await?;
        Ok(())
    }
}
