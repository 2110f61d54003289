//! Erasure and retention on SQLite: the use case `clicktrail_app::erasure` over this
//! connection's rows, and the retention settings and pruning. The writer connection runs with
//! `secure_delete` on (set at open: freed cells and pages are overwritten with zeros, so a
//! removed value is not left in a page's free space), and after an erasure commits,
//! [`empty_wal`] runs a `TRUNCATE` checkpoint so that the log, which still holds the pages as
//! they were before, is emptied before the call returns.

use std::time::Duration;

use clicktrail_app::erasure::{ConversionRow, ErasureRows, LeadRow, LeadsBy};
use clicktrail_app::run_ready;
use clicktrail_domain::erasure::{new_secret, Erased};
use clicktrail_domain::retention::{delivered_messages_before, Pruned, Retention};
use clicktrail_store::{AuditIn, EraseIn, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};

/// The erasure, run to completion on the writer thread (inside its transaction).
pub(crate) fn erase(conn: &Connection, e: &EraseIn) -> StoreResult<Erased> {
    run_ready(clicktrail_app::erasure::erase(&mut Rows(conn), e))
}

/// Empties the WAL once the erasure has committed: a `TRUNCATE` checkpoint on a connection
/// of its own, waiting for readers and the writer's next batch. SQLite answers "busy" at once
/// (without its busy handler) while another connection — the collector's background
/// checkpoint, a reader on an older snapshot — holds what the checkpoint needs, so it is
/// tried again after a pause, for up to about half a minute.
pub(crate) fn empty_wal(path: &str) -> StoreResult<()> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    for attempt in 0..120 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(250));
        }
        let (busy, _, _): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy == 0 {
            return Ok(());
        }
    }
    Err(StoreError::Internal(
        "the erasure is committed, but readers kept the WAL from being emptied; it is emptied at the next checkpoint".into(),
    ))
}

struct Rows<'c>(&'c Connection);

fn strings(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> StoreResult<Vec<String>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(p, |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl ErasureRows for Rows<'_> {
    type Error = StoreError;

    async fn secret(&mut self) -> StoreResult<String> {
        let c = self.0;
        c.execute(
            "INSERT OR IGNORE INTO privacy_secret (id, secret) VALUES (1, ?1)",
            [new_secret()],
        )?;
        Ok(
            c.query_row("SELECT secret FROM privacy_secret WHERE id = 1", [], |r| {
                r.get(0)
            })?,
        )
    }

    async fn leads(&mut self, tenant: &str, by: LeadsBy<'_>) -> StoreResult<Vec<LeadRow>> {
        let (sql, v) = match by {
            LeadsBy::CustomerKey(k) => ("customer_key = ?2", k),
            LeadsBy::Cid(c) => ("cid = ?2", c),
            LeadsBy::Email(m) => ("email = ?2 COLLATE NOCASE", m),
        };
        let mut st = self.0.prepare_cached(&format!(
            "SELECT id, customer_key, cid, email IS NOT NULL FROM leads WHERE tenant = ?1 AND {sql}"
        ))?;
        let rows = st.query_map(params![tenant, v], |r| {
            Ok(LeadRow {
                id: r.get(0)?,
                customer_key: r.get(1)?,
                cid: r.get(2)?,
                has_email: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn cids_of_key(&mut self, tenant: &str, key: &str) -> StoreResult<Vec<String>> {
        strings(
            self.0,
            "SELECT cid FROM customer_links WHERE tenant = ?1 AND customer_key = ?2",
            params![tenant, key],
        )
    }

    async fn keys_of_cid(&mut self, tenant: &str, cid: &str) -> StoreResult<Vec<String>> {
        strings(
            self.0,
            "SELECT customer_key FROM customer_links WHERE tenant = ?1 AND cid = ?2",
            params![tenant, cid],
        )
    }

    async fn conversions(
        &mut self,
        tenant: &str,
        key: Option<&str>,
        cid: Option<&str>,
    ) -> StoreResult<Vec<ConversionRow>> {
        let mut st = self.0.prepare_cached(
            "SELECT id, customer_id, stripe_customer, cid FROM conversions
             WHERE tenant = ?1 AND (customer_key = ?2 OR cid = ?3)",
        )?;
        let rows = st.query_map(params![tenant, key, cid], |r| {
            Ok(ConversionRow {
                id: r.get(0)?,
                customer_id: r.get(1)?,
                billing_customer: r.get(2)?,
                cid: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn external_cids(
        &mut self,
        tenant: &str,
        cid: &str,
    ) -> StoreResult<Vec<(String, String)>> {
        let mut st = self.0.prepare_cached(
            "SELECT revenue_origin, external_cid FROM external_links WHERE tenant = ?1 AND cid = ?2",
        )?;
        let rows = st.query_map(params![tenant, cid], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn remove_lead_email(&mut self, lead_id: i64) -> StoreResult<()> {
        self.0
            .execute("UPDATE leads SET email = NULL WHERE id = ?1", [lead_id])?;
        Ok(())
    }

    async fn set_conversion_personal(
        &mut self,
        id: i64,
        customer_id: Option<&str>,
    ) -> StoreResult<()> {
        self.0.execute(
            "UPDATE conversions SET customer_id = ?2, details = NULL WHERE id = ?1",
            params![id, customer_id],
        )?;
        Ok(())
    }

    async fn rename_customer_key(&mut self, tenant: &str, key: &str, to: &str) -> StoreResult<u64> {
        let mut n = 0;
        for table in ["leads", "customer_links", "conversions"] {
            n += self.0.execute(
                &format!(
                    "UPDATE {table} SET customer_key = ?3 WHERE tenant = ?1 AND customer_key = ?2"
                ),
                params![tenant, key, to],
            )? as u64;
        }
        Ok(n)
    }

    async fn scrub_outbox(&mut self, tenant: &str, from: &str, to: &str) -> StoreResult<u64> {
        Ok(self.0.execute(
            "UPDATE outbox SET body = replace(body, ?2, ?3) WHERE tenant = ?1 AND instr(body, ?2) > 0",
            params![tenant, from, to],
        )? as u64)
    }

    async fn rename_cid(&mut self, tenant: &str, cid: &str, to: &str) -> StoreResult<()> {
        let c = self.0;
        c.execute(
            "UPDATE clicks SET cid = ?3, url = NULL, referrer = NULL WHERE tenant = ?1 AND cid = ?2",
            params![tenant, cid, to],
        )?;
        for table in [
            "cids",
            "customer_links",
            "external_links",
            "stripe_links",
            "leads",
            "conversions",
        ] {
            c.execute(
                &format!("UPDATE {table} SET cid = ?3 WHERE tenant = ?1 AND cid = ?2"),
                params![tenant, cid, to],
            )?;
        }
        // the stored answers of its events (a click's answer names its CID)
        c.execute(
            "UPDATE events SET body = replace(body, ?2, ?3) WHERE tenant = ?1 AND instr(body, ?2) > 0",
            params![tenant, cid, to],
        )?;
        Ok(())
    }

    async fn rename_external_cid(
        &mut self,
        tenant: &str,
        revenue_origin: &str,
        external_cid: &str,
        to: &str,
    ) -> StoreResult<()> {
        self.0.execute(
            "UPDATE external_links SET external_cid = ?4
             WHERE tenant = ?1 AND revenue_origin = ?2 AND external_cid = ?3",
            params![tenant, revenue_origin, external_cid, to],
        )?;
        Ok(())
    }

    async fn rename_billing_customer(
        &mut self,
        tenant: &str,
        id: &str,
        to: &str,
    ) -> StoreResult<()> {
        self.0.execute(
            "UPDATE conversions SET stripe_customer = ?3 WHERE tenant = ?1 AND stripe_customer = ?2",
            params![tenant, id, to],
        )?;
        self.0.execute(
            "UPDATE stripe_links SET stripe_id = ?3 WHERE tenant = ?1 AND kind = 'customer' AND stripe_id = ?2",
            params![tenant, id, to],
        )?;
        Ok(())
    }

    async fn audit(&mut self, line: &AuditIn) -> StoreResult<()> {
        crate::admin::audit(self.0, line)
    }
}

// ---------------------------------------------------------------- retention

pub(crate) fn set_retention(
    conn: &Connection,
    tenant: &str,
    r: &Retention,
    now: i64,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO retention (tenant, event_days, click_url_days, diagnostic_days, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant) DO UPDATE SET event_days = ?2, click_url_days = ?3,
            diagnostic_days = ?4, updated_at = ?5",
        params![
            tenant,
            r.event_days,
            r.click_url_days,
            r.diagnostic_days,
            now
        ],
    )?;
    Ok(())
}

pub(crate) fn retention(conn: &Connection, tenant: &str) -> StoreResult<Retention> {
    Ok(conn
        .query_row(
            "SELECT event_days, click_url_days, diagnostic_days FROM retention WHERE tenant = ?1",
            [tenant],
            |r| {
                Ok(Retention {
                    event_days: r.get(0)?,
                    click_url_days: r.get(1)?,
                    diagnostic_days: r.get(2)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// One pass over every tenant with a setting (domain `Retention::cutoffs`).
pub(crate) fn prune(conn: &Connection, now: i64) -> StoreResult<Pruned> {
    let tenants = strings(conn, "SELECT tenant FROM retention ORDER BY tenant", [])?;
    let mut out = Pruned::default();
    for t in tenants {
        let c = retention(conn, &t)?.cutoffs(now);
        if let Some(before) = c.events_before {
            out.events += conn.execute(
                "DELETE FROM events WHERE tenant = ?1 AND created_at < ?2",
                params![t, before],
            )? as u64;
        }
        if let Some(before) = c.click_urls_before {
            out.click_urls += conn.execute(
                "UPDATE clicks SET url = NULL, referrer = NULL
                 WHERE tenant = ?1 AND created_at < ?2 AND (url IS NOT NULL OR referrer IS NOT NULL)",
                params![t, before],
            )? as u64;
        }
        if let Some(before) = c.diagnostics_before {
            out.diagnostics += conn.execute(
                "DELETE FROM diagnostics WHERE tenant = ?1 AND created_at < ?2",
                params![t, before],
            )? as u64;
        }
    }
    out.messages = conn.execute(
        "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1",
        [delivered_messages_before(now)],
    )? as u64;
    Ok(out)
}
