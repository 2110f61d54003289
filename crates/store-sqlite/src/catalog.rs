//! The catalog tables on SQLite: the row operations of `clicktrail_app::catalog` (an admin
//! change, the configuration file's apply), run by the single writer inside one job, and the
//! snapshot read the collectors serve from.

use clicktrail_app::catalog::{CatalogRows, KeyFound, ValueList};
use clicktrail_app::run_ready;
use clicktrail_app::snapshot::{CatalogSnapshot, TenantRow};
use clicktrail_domain::catalog::{Catalog, Payout, Tenant};
use clicktrail_domain::managed::Origin;
use clicktrail_domain::rules::Rules;
use clicktrail_store::{AuditIn, ChangeIn, StoreError, StoreResult, TenantSpec};
use rusqlite::{params, Connection, OptionalExtension, Params};

pub(crate) fn apply(conn: &Connection, specs: &[TenantSpec], now: i64) -> StoreResult<()> {
    run_ready(clicktrail_app::catalog::apply(&mut Rows(conn), specs, now))
}

pub(crate) fn change(conn: &Connection, c: &ChangeIn) -> StoreResult<()> {
    run_ready(clicktrail_app::catalog::change(&mut Rows(conn), c))
}

pub(crate) fn version(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT version FROM catalog_version WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

fn all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    p: P,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_map(p, f)?
        .collect::<rusqlite::Result<_>>()?)
}

/// One read transaction (unless the writer's batch is one already): the version and the
/// rows it describes.
pub(crate) fn load(conn: &Connection) -> StoreResult<Catalog> {
    let own = conn.is_autocommit();
    if own {
        conn.execute_batch("BEGIN")?;
    }
    let s = snapshot(conn);
    if own {
        conn.execute_batch("COMMIT")?;
    }
    clicktrail_app::snapshot::catalog(s?)
}

fn snapshot(conn: &Connection) -> StoreResult<CatalogSnapshot> {
    Ok(CatalogSnapshot {
        version: version(conn)?,
        tenants: all(
            conn,
            "SELECT id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
                hold_days, count_test_payments, chargebee_webhook_username,
                chargebee_webhook_password, recurly_webhook_key, recurly_api_key, recurly_api_url,
                rules, disabled, chargify_webhook_key FROM tenants",
            [],
            |r| {
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
            },
        )?,
        affiliates: all(
            conn,
            "SELECT tenant, code, disabled FROM affiliates ORDER BY seq",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?,
        aliases: all(
            conn,
            "SELECT tenant, alias, code FROM affiliate_aliases",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?,
        conversion_types: all(
            conn,
            "SELECT tenant, code, payout_kind, payout_value FROM conversion_types",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?,
        revenue_origins: all(
            conn,
            "SELECT tenant, id FROM revenue_origins ORDER BY id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?,
        allowed_origins: all(
            conn,
            "SELECT tenant, origin FROM allowed_origins ORDER BY seq",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?,
        keys: all(
            conn,
            "SELECT key_hash, tenant, scopes FROM api_keys WHERE revoked_at IS NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?,
    })
}

/// The catalog's row operations on the writer's connection (the single writer serializes
/// catalog changes: no lock is needed).
pub(crate) struct Rows<'c>(pub(crate) &'c Connection);

impl Rows<'_> {
    fn exists<P: Params>(&self, sql: &str, p: P) -> StoreResult<bool> {
        Ok(self.0.prepare_cached(sql)?.exists(p)?)
    }
    /// The number of rows a statement changed.
    fn run<P: Params>(&self, sql: &str, p: P) -> StoreResult<usize> {
        Ok(self.0.prepare_cached(sql)?.execute(p)?)
    }
    fn codes(&self, sql: &str, p: impl Params) -> StoreResult<Vec<(String, i64)>> {
        all(self.0, sql, p, |r| Ok((r.get(0)?, r.get(1)?)))
    }
}

impl CatalogRows for Rows<'_> {
    type Error = StoreError;

    async fn lock_catalog(&mut self) -> StoreResult<()> {
        Ok(())
    }

    async fn bump_version(&mut self) -> StoreResult<()> {
        self.run(
            "UPDATE catalog_version SET version = version + 1 WHERE id = 1",
            [],
        )?;
        Ok(())
    }

    async fn audit(&mut self, a: &AuditIn) -> StoreResult<()> {
        crate::admin::audit(self.0, a)
    }

    async fn tenant_exists(&mut self, id: &str) -> StoreResult<bool> {
        self.exists("SELECT 1 FROM tenants WHERE id = ?1", [id])
    }

    async fn upsert_tenant(&mut self, t: &Tenant, now: i64) -> StoreResult<()> {
        self.run(
            "INSERT INTO tenants (id, cookie_days, currency, sale_conversion_type, stripe_webhook_secret,
                hold_days, count_test_payments, created_at, updated_at, chargebee_webhook_username,
                chargebee_webhook_password, recurly_webhook_key, recurly_api_key, recurly_api_url,
                chargify_webhook_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (id) DO UPDATE SET cookie_days = excluded.cookie_days, currency = excluded.currency,
                sale_conversion_type = excluded.sale_conversion_type,
                stripe_webhook_secret = excluded.stripe_webhook_secret, hold_days = excluded.hold_days,
                count_test_payments = excluded.count_test_payments, updated_at = excluded.updated_at,
                chargebee_webhook_username = excluded.chargebee_webhook_username,
                chargebee_webhook_password = excluded.chargebee_webhook_password,
                recurly_webhook_key = excluded.recurly_webhook_key,
                recurly_api_key = excluded.recurly_api_key, recurly_api_url = excluded.recurly_api_url,
                chargify_webhook_key = excluded.chargify_webhook_key",
            params![
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
                t.recurly_webhook_key,
                t.recurly_api_key,
                t.recurly_api_url,
                t.chargify_webhook_key
            ],
        )?;
        Ok(())
    }

    async fn set_rules(&mut self, tenant: &str, rules: &Rules) -> StoreResult<()> {
        self.run(
            "UPDATE tenants SET rules = ?2 WHERE id = ?1",
            params![tenant, rules.to_stored()],
        )?;
        Ok(())
    }

    async fn managed_tenants(&mut self) -> StoreResult<Vec<(String, i64)>> {
        self.codes(
            "SELECT id, config_state FROM tenants WHERE config_state <> 0",
            [],
        )
    }

    async fn set_tenant_origin(
        &mut self,
        id: &str,
        to: Origin,
        disabled: Option<bool>,
    ) -> StoreResult<()> {
        self.run(
            "UPDATE tenants SET config_state = ?2, disabled = coalesce(?3, disabled) WHERE id = ?1",
            params![id, to.as_i64(), disabled],
        )?;
        Ok(())
    }

    async fn affiliate_exists(&mut self, tenant: &str, code: &str) -> StoreResult<bool> {
        self.exists(
            "SELECT 1 FROM affiliates WHERE tenant = ?1 AND code = ?2",
            [tenant, code],
        )
    }

    async fn insert_affiliate(
        &mut self,
        tenant: &str,
        code: &str,
        name: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let n = self.run(
            "INSERT INTO affiliates (tenant, code, name, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![tenant, code, name, now],
        )?;
        Ok(n > 0)
    }

    async fn update_affiliate(
        &mut self,
        tenant: &str,
        code: &str,
        name: Option<Option<&str>>,
        disabled: Option<bool>,
    ) -> StoreResult<()> {
        self.run(
            "UPDATE affiliates SET name = CASE WHEN ?3 THEN ?4 ELSE name END,
                disabled = coalesce(?5, disabled)
             WHERE tenant = ?1 AND code = ?2",
            params![tenant, code, name.is_some(), name.flatten(), disabled],
        )?;
        Ok(())
    }

    async fn managed_affiliates(&mut self, tenant: &str) -> StoreResult<Vec<(String, i64)>> {
        self.codes(
            "SELECT code, config_state FROM affiliates WHERE tenant = ?1 AND config_state <> 0",
            [tenant],
        )
    }

    async fn set_affiliate_origin(
        &mut self,
        tenant: &str,
        code: &str,
        to: Origin,
        disabled: Option<bool>,
    ) -> StoreResult<()> {
        self.run(
            "UPDATE affiliates SET config_state = ?3, disabled = coalesce(?4, disabled)
             WHERE tenant = ?1 AND code = ?2",
            params![tenant, code, to.as_i64(), disabled],
        )?;
        Ok(())
    }

    async fn alias_exists(&mut self, tenant: &str, alias: &str) -> StoreResult<bool> {
        self.exists(
            "SELECT 1 FROM affiliate_aliases WHERE tenant = ?1 AND alias = ?2",
            [tenant, alias],
        )
    }

    async fn upsert_alias(
        &mut self,
        tenant: &str,
        alias: &str,
        code: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.run(
            "INSERT INTO affiliate_aliases (tenant, alias, code, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant, alias) DO UPDATE SET code = excluded.code",
            params![tenant, alias, code, now],
        )?;
        Ok(())
    }

    async fn delete_alias(&mut self, tenant: &str, alias: &str, code: &str) -> StoreResult<bool> {
        let n = self.run(
            "DELETE FROM affiliate_aliases WHERE tenant = ?1 AND alias = ?2 AND code = ?3",
            [tenant, alias, code],
        )?;
        Ok(n > 0)
    }

    async fn insert_conversion_type(
        &mut self,
        tenant: &str,
        code: &str,
        payout: Payout,
    ) -> StoreResult<bool> {
        let (kind, value) = payout.to_parts();
        let n = self.run(
            "INSERT INTO conversion_types (tenant, code, payout_kind, payout_value)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![tenant, code, kind, value],
        )?;
        Ok(n > 0)
    }

    async fn update_conversion_type(
        &mut self,
        tenant: &str,
        code: &str,
        payout: Payout,
    ) -> StoreResult<bool> {
        let (kind, value) = payout.to_parts();
        let n = self.run(
            "UPDATE conversion_types SET payout_kind = ?3, payout_value = ?4
             WHERE tenant = ?1 AND code = ?2",
            params![tenant, code, kind, value],
        )?;
        Ok(n > 0)
    }

    async fn insert_value(&mut self, l: ValueList, tenant: &str, v: &str) -> StoreResult<bool> {
        let (table, column) = (l.table(), l.column());
        let sql = format!(
            "INSERT INTO {table} (tenant, {column}) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
        );
        Ok(self.run(&sql, [tenant, v])? > 0)
    }

    async fn delete_value(&mut self, l: ValueList, tenant: &str, v: &str) -> StoreResult<bool> {
        let (table, column) = (l.table(), l.column());
        let sql = format!("DELETE FROM {table} WHERE tenant = ?1 AND {column} = ?2");
        Ok(self.run(&sql, [tenant, v])? > 0)
    }

    async fn key_owner(&mut self, key_hash: &str) -> StoreResult<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT tenant FROM api_keys WHERE key_hash = ?1")?
            .query_row([key_hash], |r| r.get(0))
            .optional()?)
    }

    async fn insert_key(
        &mut self,
        key_hash: &str,
        tenant: &str,
        scopes: &str,
        label: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let n = self.run(
            "INSERT INTO api_keys (key_hash, tenant, scopes, label, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![key_hash, tenant, scopes, label, now],
        )?;
        Ok(n > 0)
    }

    async fn set_key_scopes(&mut self, key_hash: &str, scopes: &str) -> StoreResult<()> {
        self.run(
            "UPDATE api_keys SET scopes = ?2 WHERE key_hash = ?1",
            [key_hash, scopes],
        )?;
        Ok(())
    }

    async fn find_key(&mut self, tenant: &str, prefix: &str) -> StoreResult<Option<KeyFound>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT key_hash, revoked_at FROM api_keys
                 WHERE tenant = ?1 AND substr(key_hash, 1, 16) = ?2",
            )?
            .query_row([tenant, prefix], |r| {
                Ok(KeyFound {
                    hash: r.get(0)?,
                    revoked_at: r.get(1)?,
                })
            })
            .optional()?)
    }

    async fn config_keys(&mut self, tenant: &str) -> StoreResult<Vec<String>> {
        all(
            self.0,
            "SELECT key_hash FROM api_keys
             WHERE tenant = ?1 AND label = ?2 AND revoked_at IS NULL",
            [tenant, clicktrail_app::catalog::CONFIG_KEY_LABEL],
            |r| r.get(0),
        )
    }

    async fn revoke_key(&mut self, key_hash: &str, now: i64) -> StoreResult<()> {
        self.run(
            "UPDATE api_keys SET revoked_at = ?2 WHERE key_hash = ?1",
            params![key_hash, now],
        )?;
        Ok(())
    }
}
