//! Erasure and retention on PostgreSQL: the use case `clicktrail_app::erasure` over one
//! transaction's rows, then a plain `VACUUM` of the tables it changed, so that the old row
//! versions are reclaimed at once rather than at the next autovacuum (what that does and does
//! not remove: docs/privacy.md). Retention settings and pruning.

use clicktrail_app::erasure::{ConversionRow, ErasureRows, LeadRow, LeadsBy};
use clicktrail_domain::erasure::{new_secret, Erased};
use clicktrail_domain::retention::{delivered_messages_before, Pruned, Retention};
use clicktrail_store::{AuditIn, EraseIn, StoreError};

use crate::ops::{exec, q, q_opt, Tx};
use crate::{Fail, PgStore};

/// The tables an erasure may change (vacuumed after it commits).
const TOUCHED: &str =
    "leads, customer_links, conversions, cids, clicks, external_links, stripe_links, events, outbox";

pub(crate) async fn erase(store: &PgStore, e: &EraseIn) -> Result<Erased, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    // one erasure at a time per installation: two erasures of linked people never interleave
    exec(&tx, "SELECT pg_advisory_xact_lock(7665421)", &[]).await?;
    let out = clicktrail_app::erasure::erase(&mut Rows(&tx), e).await?;
    tx.commit().await?;
    Ok(out)
}

/// `VACUUM` of the tables an erasure changes (outside any transaction).
pub(crate) async fn vacuum(store: &PgStore) -> Result<(), Fail> {
    let client = store.pool().get().await?;
    client.batch_execute(&format!("VACUUM {TOUCHED}")).await?;
    Ok(())
}

struct Rows<'a, 't>(&'a Tx<'t>);

fn strings(rows: Vec<tokio_postgres::Row>) -> Vec<String> {
    rows.iter().map(|r| r.get(0)).collect()
}

impl ErasureRows for Rows<'_, '_> {
    type Error = Fail;

    async fn secret(&mut self) -> Result<String, Fail> {
        exec(
            self.0,
            "INSERT INTO privacy_secret (id, secret) VALUES (1, $1) ON CONFLICT DO NOTHING",
            &[&new_secret()],
        )
        .await?;
        q_opt(
            self.0,
            "SELECT secret FROM privacy_secret WHERE id = 1",
            &[],
        )
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::Internal("no pseudonym secret".into()).into())
    }

    async fn leads(&mut self, tenant: &str, by: LeadsBy<'_>) -> Result<Vec<LeadRow>, Fail> {
        let (sql, v) = match by {
            LeadsBy::CustomerKey(k) => ("customer_key = $2", k),
            LeadsBy::Cid(c) => ("cid = $2", c),
            LeadsBy::Email(m) => ("lower(email) = lower($2)", m),
        };
        let rows = q(
            self.0,
            &format!(
                "SELECT id, customer_key, cid, email IS NOT NULL FROM leads WHERE tenant = $1 AND {sql}"
            ),
            &[&tenant, &v],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| LeadRow {
                id: r.get(0),
                customer_key: r.get(1),
                cid: r.get(2),
                has_email: r.get(3),
            })
            .collect())
    }

    async fn cids_of_key(&mut self, tenant: &str, key: &str) -> Result<Vec<String>, Fail> {
        Ok(strings(
            q(
                self.0,
                "SELECT cid FROM customer_links WHERE tenant = $1 AND customer_key = $2",
                &[&tenant, &key],
            )
            .await?,
        ))
    }

    async fn keys_of_cid(&mut self, tenant: &str, cid: &str) -> Result<Vec<String>, Fail> {
        Ok(strings(
            q(
                self.0,
                "SELECT customer_key FROM customer_links WHERE tenant = $1 AND cid = $2",
                &[&tenant, &cid],
            )
            .await?,
        ))
    }

    async fn conversions(
        &mut self,
        tenant: &str,
        key: Option<&str>,
        cid: Option<&str>,
    ) -> Result<Vec<ConversionRow>, Fail> {
        let rows = q(
            self.0,
            "SELECT id, customer_id, stripe_customer, cid FROM conversions
             WHERE tenant = $1 AND (customer_key = $2 OR cid = $3) FOR UPDATE",
            &[&tenant, &key, &cid],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| ConversionRow {
                id: r.get(0),
                customer_id: r.get(1),
                billing_customer: r.get(2),
                cid: r.get(3),
            })
            .collect())
    }

    async fn external_cids(
        &mut self,
        tenant: &str,
        cid: &str,
    ) -> Result<Vec<(String, String)>, Fail> {
        let rows = q(
            self.0,
            "SELECT revenue_origin, external_cid FROM external_links WHERE tenant = $1 AND cid = $2",
            &[&tenant, &cid],
        )
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn remove_lead_email(&mut self, lead_id: i64) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE leads SET email = NULL WHERE id = $1",
            &[&lead_id],
        )
        .await?;
        Ok(())
    }

    async fn set_conversion_personal(
        &mut self,
        id: i64,
        customer_id: Option<&str>,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE conversions SET customer_id = $2, details = NULL WHERE id = $1",
            &[&id, &customer_id],
        )
        .await?;
        Ok(())
    }

    async fn rename_customer_key(
        &mut self,
        tenant: &str,
        key: &str,
        to: &str,
    ) -> Result<u64, Fail> {
        let mut n = 0;
        for table in ["leads", "customer_links", "conversions"] {
            n += exec(
                self.0,
                &format!(
                    "UPDATE {table} SET customer_key = $3 WHERE tenant = $1 AND customer_key = $2"
                ),
                &[&tenant, &key, &to],
            )
            .await?;
        }
        Ok(n)
    }

    async fn scrub_outbox(&mut self, tenant: &str, from: &str, to: &str) -> Result<u64, Fail> {
        exec(
            self.0,
            "UPDATE outbox SET body = replace(body, $2, $3) WHERE tenant = $1 AND strpos(body, $2) > 0",
            &[&tenant, &from, &to],
        )
        .await
    }

    async fn rename_cid(&mut self, tenant: &str, cid: &str, to: &str) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE clicks SET cid = $3, url = NULL, referrer = NULL WHERE tenant = $1 AND cid = $2",
            &[&tenant, &cid, &to],
        )
        .await?;
        for table in [
            "cids",
            "customer_links",
            "external_links",
            "stripe_links",
            "leads",
            "conversions",
        ] {
            exec(
                self.0,
                &format!("UPDATE {table} SET cid = $3 WHERE tenant = $1 AND cid = $2"),
                &[&tenant, &cid, &to],
            )
            .await?;
        }
        exec(
            self.0,
            "UPDATE events SET body = replace(body, $2, $3) WHERE tenant = $1 AND strpos(body, $2) > 0",
            &[&tenant, &cid, &to],
        )
        .await?;
        Ok(())
    }

    async fn rename_external_cid(
        &mut self,
        tenant: &str,
        revenue_origin: &str,
        external_cid: &str,
        to: &str,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE external_links SET external_cid = $4
             WHERE tenant = $1 AND revenue_origin = $2 AND external_cid = $3",
            &[&tenant, &revenue_origin, &external_cid, &to],
        )
        .await?;
        Ok(())
    }

    async fn rename_billing_customer(
        &mut self,
        tenant: &str,
        id: &str,
        to: &str,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE conversions SET stripe_customer = $3 WHERE tenant = $1 AND stripe_customer = $2",
            &[&tenant, &id, &to],
        )
        .await?;
        exec(
            self.0,
            "UPDATE stripe_links SET stripe_id = $3 WHERE tenant = $1 AND kind = 'customer' AND stripe_id = $2",
            &[&tenant, &id, &to],
        )
        .await?;
        Ok(())
    }

    async fn audit(&mut self, a: &AuditIn) -> Result<(), Fail> {
        exec(
            self.0,
            "INSERT INTO audit_log (tenant, actor, action, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&a.tenant, &a.actor, &a.action, &a.summary, &a.now],
        )
        .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------- retention

fn days(v: Option<u32>) -> Option<i32> {
    v.and_then(|d| i32::try_from(d).ok())
}

fn from_days(v: Option<i32>) -> Option<u32> {
    v.and_then(|d| u32::try_from(d).ok())
}

pub(crate) async fn set_retention(
    store: &PgStore,
    tenant: &str,
    r: &Retention,
    now: i64,
) -> Result<(), Fail> {
    let client = store.pool().get().await?;
    client
        .execute(
            "INSERT INTO retention (tenant, event_days, click_url_days, diagnostic_days, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant) DO UPDATE SET event_days = $2, click_url_days = $3,
                diagnostic_days = $4, updated_at = $5",
            &[&tenant, &days(r.event_days), &days(r.click_url_days), &days(r.diagnostic_days), &now],
        )
        .await?;
    Ok(())
}

pub(crate) async fn retention(store: &PgStore, tenant: &str) -> Result<Retention, Fail> {
    let client = store.pool().get().await?;
    let row = client
        .query_opt(
            "SELECT event_days, click_url_days, diagnostic_days FROM retention WHERE tenant = $1",
            &[&tenant],
        )
        .await?;
    Ok(row
        .map(|r| Retention {
            event_days: from_days(r.get(0)),
            click_url_days: from_days(r.get(1)),
            diagnostic_days: from_days(r.get(2)),
        })
        .unwrap_or_default())
}

/// One pass over every tenant with a setting (domain `Retention::cutoffs`), one transaction.
pub(crate) async fn prune(store: &PgStore, now: i64) -> Result<Pruned, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let rows = q(
        &tx,
        "SELECT tenant, event_days, click_url_days, diagnostic_days FROM retention ORDER BY tenant",
        &[],
    )
    .await?;
    let mut out = Pruned::default();
    for r in &rows {
        let t: String = r.get(0);
        let c = Retention {
            event_days: from_days(r.get(1)),
            click_url_days: from_days(r.get(2)),
            diagnostic_days: from_days(r.get(3)),
        }
        .cutoffs(now);
        if let Some(before) = c.events_before {
            out.events += exec(
                &tx,
                "DELETE FROM events WHERE tenant = $1 AND created_at < $2",
                &[&t, &before],
            )
            .await?;
        }
        if let Some(before) = c.click_urls_before {
            out.click_urls += exec(
                &tx,
                "UPDATE clicks SET url = NULL, referrer = NULL
                 WHERE tenant = $1 AND created_at < $2 AND (url IS NOT NULL OR referrer IS NOT NULL)",
                &[&t, &before],
            )
            .await?;
        }
        if let Some(before) = c.diagnostics_before {
            out.diagnostics += exec(
                &tx,
                "DELETE FROM diagnostics WHERE tenant = $1 AND created_at < $2",
                &[&t, &before],
            )
            .await?;
        }
    }
    out.messages = exec(
        &tx,
        "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1",
        &[&delivered_messages_before(now)],
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}
