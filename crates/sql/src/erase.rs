//! Erasure (`clicktrail_app::erasure`) and retention: the rows an erasure finds and rewrites,
//! each tenant's retention setting and the pass that prunes by it. What follows a committed
//! erasure (SQLite empties its WAL, PostgreSQL vacuums) stays in each backend.

use clicktrail_app::erasure::{ConversionRow, ErasureRows, LeadRow, LeadsBy};
use clicktrail_domain::erasure::new_secret;
use clicktrail_domain::retention::{delivered_messages_before, Pruned, Retention};
use clicktrail_store::{AuditIn, StoreError};

use crate::{Db, Dialect, Row, Sql};

/// The function that finds a string in another (`(haystack, needle)`, 0 when absent).
fn position<D: Db>() -> &'static str {
    match D::DIALECT {
        Dialect::Sqlite => "instr",
        Dialect::Postgres => "strpos",
    }
}

fn strings(rows: Vec<Row>) -> Result<Vec<String>, StoreError> {
    rows.iter().map(|r| r.get(0)).collect()
}

impl<D: Db> ErasureRows for Sql<D> {
    type Error = D::Error;

    async fn secret(&mut self) -> Result<String, D::Error> {
        self.0
            .execute(
                "INSERT INTO privacy_secret (id, secret) VALUES (1, $1) ON CONFLICT DO NOTHING",
                &[&new_secret()],
            )
            .await?;
        let row = self
            .0
            .query_one("SELECT secret FROM privacy_secret WHERE id = 1", &[])
            .await?;
        Ok(row.get(0)?)
    }

    async fn leads(&mut self, tenant: &str, by: LeadsBy<'_>) -> Result<Vec<LeadRow>, D::Error> {
        // an email matches without regard to case, as each backend's index on it is written
        let (sql, v) = match (by, D::DIALECT) {
            (LeadsBy::CustomerKey(k), _) => ("customer_key = $2", k),
            (LeadsBy::Cid(c), _) => ("cid = $2", c),
            (LeadsBy::Email(m), Dialect::Sqlite) => ("email = $2 COLLATE NOCASE", m),
            (LeadsBy::Email(m), Dialect::Postgres) => ("lower(email) = lower($2)", m),
        };
        let rows = self
            .0
            .query(
                &format!(
                    "SELECT id, customer_key, cid, email IS NOT NULL FROM leads WHERE tenant = $1 AND {sql}"
                ),
                &[&tenant, &v],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(LeadRow {
                id: r.get(0)?,
                customer_key: r.get(1)?,
                cid: r.get(2)?,
                has_email: r.get(3)?,
            });
        }
        Ok(out)
    }

    async fn cids_of_key(&mut self, tenant: &str, key: &str) -> Result<Vec<String>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT cid FROM customer_links WHERE tenant = $1 AND customer_key = $2",
                &[&tenant, &key],
            )
            .await?;
        Ok(strings(rows)?)
    }

    async fn keys_of_cid(&mut self, tenant: &str, cid: &str) -> Result<Vec<String>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT customer_key FROM customer_links WHERE tenant = $1 AND cid = $2",
                &[&tenant, &cid],
            )
            .await?;
        Ok(strings(rows)?)
    }

    async fn conversions(
        &mut self,
        tenant: &str,
        key: Option<&str>,
        cid: Option<&str>,
    ) -> Result<Vec<ConversionRow>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT id, customer_id, stripe_customer, cid FROM conversions
                 WHERE tenant = $1 AND (customer_key = $2 OR cid = $3) FOR UPDATE",
                &[&tenant, &key, &cid],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(ConversionRow {
                id: r.get(0)?,
                customer_id: r.get(1)?,
                billing_customer: r.get(2)?,
                cid: r.get(3)?,
            });
        }
        Ok(out)
    }

    async fn external_cids(
        &mut self,
        tenant: &str,
        cid: &str,
    ) -> Result<Vec<(String, String)>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT revenue_origin, external_cid FROM external_links WHERE tenant = $1 AND cid = $2",
                &[&tenant, &cid],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push((r.get(0)?, r.get(1)?));
        }
        Ok(out)
    }

    async fn remove_lead_email(&mut self, lead_id: i64) -> Result<(), D::Error> {
        self.0
            .execute("UPDATE leads SET email = NULL WHERE id = $1", &[&lead_id])
            .await?;
        Ok(())
    }

    async fn set_conversion_personal(
        &mut self,
        id: i64,
        customer_id: Option<&str>,
    ) -> Result<(), D::Error> {
        self.0
            .execute(
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
    ) -> Result<u64, D::Error> {
        let mut n = 0;
        for table in ["leads", "customer_links", "conversions"] {
            n += self
                .0
                .execute(
                    &format!(
                        "UPDATE {table} SET customer_key = $3 WHERE tenant = $1 AND customer_key = $2"
                    ),
                    &[&tenant, &key, &to],
                )
                .await?;
        }
        Ok(n)
    }

    async fn scrub_outbox(&mut self, tenant: &str, from: &str, to: &str) -> Result<u64, D::Error> {
        self.0
            .execute(
                &format!(
                    "UPDATE outbox SET body = replace(body, $2, $3) WHERE tenant = $1 AND {}(body, $2) > 0",
                    position::<D>()
                ),
                &[&tenant, &from, &to],
            )
            .await
    }

    async fn rename_cid(&mut self, tenant: &str, cid: &str, to: &str) -> Result<(), D::Error> {
        self.0
            .execute(
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
            self.0
                .execute(
                    &format!("UPDATE {table} SET cid = $3 WHERE tenant = $1 AND cid = $2"),
                    &[&tenant, &cid, &to],
                )
                .await?;
        }
        // the stored answers of its events (a click's answer names its CID)
        self.0
            .execute(
                &format!(
                    "UPDATE events SET body = replace(body, $2, $3) WHERE tenant = $1 AND {}(body, $2) > 0",
                    position::<D>()
                ),
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
    ) -> Result<(), D::Error> {
        self.0
            .execute(
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
    ) -> Result<(), D::Error> {
        self.0
            .execute(
                "UPDATE conversions SET stripe_customer = $3 WHERE tenant = $1 AND stripe_customer = $2",
                &[&tenant, &id, &to],
            )
            .await?;
        self.0
            .execute(
                "UPDATE stripe_links SET stripe_id = $3 WHERE tenant = $1 AND kind = 'customer' AND stripe_id = $2",
                &[&tenant, &id, &to],
            )
            .await?;
        Ok(())
    }

    async fn audit(&mut self, a: &AuditIn) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO audit_log (tenant, actor, action, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&a.tenant, &a.actor, &a.action, &a.summary, &a.now],
            )
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------- retention

/// A stored number of days (validated at most ten years: it fits every integer column).
fn days(v: Option<u32>) -> Option<i64> {
    v.map(i64::from)
}

fn from_days(v: Option<i64>) -> Option<u32> {
    v.and_then(|d| u32::try_from(d).ok())
}

fn retention_row(r: &Row, first: usize) -> Result<Retention, StoreError> {
    Ok(Retention {
        event_days: from_days(r.get(first)?),
        click_url_days: from_days(r.get(first + 1)?),
        diagnostic_days: from_days(r.get(first + 2)?),
    })
}

/// Keeps the tenant's retention setting (replacing the one before).
pub async fn set_retention<D: Db>(
    db: &D,
    tenant: &str,
    r: &Retention,
    now: i64,
) -> Result<(), D::Error> {
    db.execute(
        "INSERT INTO retention (tenant, event_days, click_url_days, diagnostic_days, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant) DO UPDATE SET event_days = $2, click_url_days = $3,
            diagnostic_days = $4, updated_at = $5",
        &[
            &tenant,
            &days(r.event_days),
            &days(r.click_url_days),
            &days(r.diagnostic_days),
            &now,
        ],
    )
    .await?;
    Ok(())
}

/// The tenant's retention setting (the defaults without one).
pub async fn retention<D: Db>(db: &D, tenant: &str) -> Result<Retention, D::Error> {
    let row = db
        .query_opt(
            "SELECT event_days, click_url_days, diagnostic_days FROM retention WHERE tenant = $1",
            &[&tenant],
        )
        .await?;
    Ok(row
        .map(|r| retention_row(&r, 0))
        .transpose()?
        .unwrap_or_default())
}

/// One pass over every tenant with a setting (domain `Retention::cutoffs`), and the delivered
/// outbox messages of every tenant.
pub async fn prune<D: Db>(db: &D, now: i64) -> Result<Pruned, D::Error> {
    let rows = db
        .query(
            "SELECT tenant, event_days, click_url_days, diagnostic_days FROM retention ORDER BY tenant",
            &[],
        )
        .await?;
    let mut out = Pruned::default();
    for r in &rows {
        let t: String = r.get(0)?;
        let c = retention_row(r, 1)?.cutoffs(now);
        if let Some(before) = c.events_before {
            out.events += db
                .execute(
                    "DELETE FROM events WHERE tenant = $1 AND created_at < $2",
                    &[&t, &before],
                )
                .await?;
        }
        if let Some(before) = c.click_urls_before {
            out.click_urls += db
                .execute(
                    "UPDATE clicks SET url = NULL, referrer = NULL
                     WHERE tenant = $1 AND created_at < $2 AND (url IS NOT NULL OR referrer IS NOT NULL)",
                    &[&t, &before],
                )
                .await?;
        }
        if let Some(before) = c.diagnostics_before {
            out.diagnostics += db
                .execute(
                    "DELETE FROM diagnostics WHERE tenant = $1 AND created_at < $2",
                    &[&t, &before],
                )
                .await?;
        }
    }
    out.messages = db
        .execute(
            "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1",
            &[&delivered_messages_before(now)],
        )
        .await?;
    Ok(out)
}
