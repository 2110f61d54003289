//! The tracking use cases on the writer thread, inside the job's SAVEPOINT: the click hot
//! path (this backend's own), and the SQL rows (`clicktrail_app::ops::OpsRows`) over which
//! `clicktrail_app` decides leads, links, conversions, sales and diagnostics, run to
//! completion with `run_ready` (the single writer serializes them: no lock is needed).

use clicktrail_app::events::{once, Event};
use clicktrail_app::ops::{Decided, NewLead, OpsRows};
use clicktrail_app::{
    conversion as conv, diagnostic as diag, lead as leads, run_ready, sale as sales,
};
use clicktrail_domain::attribution::{self, decide_click, CidRecord, ClickDecision, Resolved};
use clicktrail_domain::ledger::NewEntry;
use clicktrail_domain::Cid;
use clicktrail_store::{
    ClickIn, ClickOut, ConversionIn, ConversionOut, DiagnosticIn, ExternalLinkIn, LeadIn, OkOut,
    SaleIn, SaleOut, StoreResult, StripeEventIn, StripeOutcome, Target,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::commission::Rows;

fn lookup_cid(conn: &Connection, tenant: &str, cid: &str) -> StoreResult<Option<CidRecord>> {
    Ok(conn
        .prepare_cached("SELECT affiliate, expires_at FROM cids WHERE tenant = ?1 AND cid = ?2")?
        .query_row(params![tenant, cid], |r| {
            Ok(CidRecord {
                affiliate: r.get(0)?,
                expires_at: r.get(1)?,
            })
        })
        .optional()?)
}

/// Resolves a target to its CID and the CID's affiliate and expiry.
pub(crate) fn resolve(
    conn: &Connection,
    tenant: &str,
    target: &Target,
) -> StoreResult<Option<Resolved>> {
    let cid: Option<String> = match target {
        Target::Cid(c) => Some(c.as_str().to_string()),
        Target::External { revenue_origin, external_cid } => conn
            .prepare_cached(
                "SELECT cid FROM external_links WHERE tenant = ?1 AND revenue_origin = ?2 AND external_cid = ?3",
            )?
            .query_row(params![tenant, revenue_origin, external_cid], |r| r.get(0))
            .optional()?,
        Target::CustomerKey(k) => conn
            .prepare_cached("SELECT cid FROM customer_links WHERE tenant = ?1 AND customer_key = ?2")?
            .query_row(params![tenant, k], |r| r.get(0))
            .optional()?,
        // the subscription's earliest sale, else its free-trial link
        Target::Subscription(sub) => conn
            .prepare_cached(
                "SELECT cid FROM (
                    SELECT cid, 0 AS o, id FROM conversions
                     WHERE tenant = ?1 AND subscription_id = ?2 AND cid IS NOT NULL
                    UNION ALL
                    SELECT cid, 1, 0 FROM stripe_links
                     WHERE tenant = ?1 AND kind = 'subscription' AND stripe_id = ?2)
                 ORDER BY o, id LIMIT 1",
            )?
            .query_row(params![tenant, sub], |r| r.get(0))
            .optional()?,
        Target::None => None,
    };
    let Some(cid) = cid else { return Ok(None) };
    Ok(lookup_cid(conn, tenant, &cid)?.map(|rec| Resolved {
        cid: Cid::from_stored(cid),
        affiliate: rec.affiliate,
        expires_at: rec.expires_at,
    }))
}

/// Runs without a savepoint (`writer::Atomicity::Transaction`): every answer that is not a
/// storage error (the replay, a reused event id) is decided before the first write.
pub(crate) fn click(conn: &Connection, c: &ClickIn) -> StoreResult<ClickOut> {
    let e = Event {
        kind: "click",
        tenant: &c.tenant,
        id: c.event_id.as_deref(),
        now: c.now,
    };
    run_ready(once(&mut Rows(conn), e, async |_: &mut Rows<'_>| {
        record_click(conn, c)
    }))
}

fn record_click(conn: &Connection, c: &ClickIn) -> StoreResult<ClickOut> {
    let existing = match &c.cid {
        Some(p) => lookup_cid(conn, &c.tenant, p.as_str())?,
        None => None,
    };
    let decision = decide_click(
        c.cid.as_ref(),
        existing.as_ref(),
        &c.affiliate,
        c.now,
        c.cookie_secs,
    );
    match &decision {
        ClickDecision::Refresh { cid, expires_at } => {
            conn.prepare_cached("UPDATE cids SET expires_at = ?3 WHERE tenant = ?1 AND cid = ?2")?
                .execute(params![c.tenant, cid.as_str(), expires_at])?;
        }
        ClickDecision::New { cid, expires_at } => {
            conn.prepare_cached(
                "INSERT INTO cids (tenant, cid, affiliate, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![c.tenant, cid.as_str(), c.affiliate, c.now, expires_at])?;
        }
    }
    conn.prepare_cached(
        "INSERT INTO clicks (tenant, cid, affiliate, url, referrer, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![c.tenant, decision.cid().as_str(), c.affiliate, c.url, c.referrer, c.now])?;
    Ok(ClickOut {
        cid: decision.cid().to_string(),
        expired_at: attribution::rfc3339(decision.expires_at()),
    })
}

pub(crate) fn conversion(conn: &Connection, c: &ConversionIn) -> StoreResult<ConversionOut> {
    run_ready(conv::conversion(&mut Rows(conn), c))
}

pub(crate) fn link_external(conn: &Connection, l: &ExternalLinkIn) -> StoreResult<OkOut> {
    run_ready(leads::link_external(&mut Rows(conn), l))
}

pub(crate) fn lead(conn: &Connection, l: &LeadIn) -> StoreResult<OkOut> {
    run_ready(leads::lead(&mut Rows(conn), l))
}

pub(crate) fn diagnostic(conn: &Connection, d: &DiagnosticIn) -> StoreResult<()> {
    run_ready(diag::diagnostic(&mut Rows(conn), d))
}

pub(crate) fn sale(conn: &Connection, s: &SaleIn) -> StoreResult<SaleOut> {
    run_ready(sales::sale(&mut Rows(conn), s))
}

/// Credits an unattributed first subscription payment to the affiliate this event names.
pub(crate) fn attribute_existing(conn: &Connection, id: i64, s: &SaleIn) -> StoreResult<SaleOut> {
    run_ready(sales::attribute_existing(&mut Rows(conn), id, s))
}

/// The sale part of a Stripe event (its id already claimed by `stripe::stripe_event`).
pub(crate) fn stripe_sale(conn: &Connection, e: &StripeEventIn) -> StoreResult<StripeOutcome> {
    run_ready(sales::stripe_sale(&mut Rows(conn), e))
}

impl OpsRows for Rows<'_> {
    async fn claim_event(
        &mut self,
        tenant: &str,
        event_id: &str,
        _kind: &str,
        _now: i64,
    ) -> StoreResult<Option<(String, Option<String>)>> {
        // the single writer holds every id it has not stored yet
        Ok(self
            .0
            .prepare_cached("SELECT kind, body FROM events WHERE tenant = ?1 AND event_id = ?2")?
            .query_row(params![tenant, event_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    async fn remember_event(
        &mut self,
        tenant: &str,
        event_id: &str,
        kind: &str,
        body: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO events (tenant, event_id, kind, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![tenant, event_id, kind, body, now])?;
        Ok(())
    }

    async fn cid(&mut self, tenant: &str, cid: &str) -> StoreResult<Option<CidRecord>> {
        lookup_cid(self.0, tenant, cid)
    }

    async fn resolve(&mut self, tenant: &str, target: &Target) -> StoreResult<Option<Resolved>> {
        resolve(self.0, tenant, target)
    }

    async fn link_external(&mut self, l: &ExternalLinkIn) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO external_links (tenant, revenue_origin, external_cid, cid, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, revenue_origin, external_cid) DO UPDATE SET cid = excluded.cid",
            )?
            .execute(params![l.tenant, l.revenue_origin, l.external_cid, l.cid.as_str(), l.now])?;
        Ok(())
    }

    async fn link_customer(
        &mut self,
        tenant: &str,
        key: &str,
        cid: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO customer_links (tenant, customer_key, cid, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, customer_key) DO UPDATE SET cid = excluded.cid",
            )?
            .execute(params![tenant, key, cid, now])?;
        Ok(())
    }

    async fn upsert_lead(&mut self, l: &NewLead<'_>) -> StoreResult<()> {
        let conn = self.0;
        let existing: Option<i64> = match (l.customer_key, l.cid) {
            (Some(k), _) => conn
                .prepare_cached("SELECT id FROM leads WHERE tenant = ?1 AND customer_key = ?2")?
                .query_row(params![l.tenant, k], |r| r.get(0))
                .optional()?,
            (None, Some(c)) => conn
                .prepare_cached(
                    "SELECT id FROM leads WHERE tenant = ?1 AND customer_key IS NULL AND cid = ?2",
                )?
                .query_row(params![l.tenant, c], |r| r.get(0))
                .optional()?,
            (None, None) => None,
        };
        match existing {
            Some(id) => conn
                .prepare_cached(
                    "UPDATE leads SET cid = COALESCE(cid, ?2), affiliate = COALESCE(affiliate, ?3),
                     email = COALESCE(?4, email) WHERE id = ?1",
                )?
                .execute(params![id, l.cid, l.affiliate, l.email])?,
            None => conn
                .prepare_cached(
                    "INSERT INTO leads (tenant, customer_key, cid, affiliate, email, source, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![l.tenant, l.customer_key, l.cid, l.affiliate, l.email, l.source, l.now])?,
        };
        Ok(())
    }

    async fn insert_diagnostic(&mut self, d: &DiagnosticIn, keep: i64) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "INSERT INTO diagnostics (tenant, kind, message, url, user_agent, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                d.tenant,
                d.kind,
                d.message,
                d.url,
                d.user_agent,
                d.now
            ])?;
        // the tenant's newest `keep` rows (ids are shared by all tenants)
        self.0
            .prepare_cached(
                "DELETE FROM diagnostics WHERE tenant IS ?1 AND id <= (
                    SELECT id FROM diagnostics WHERE tenant IS ?1
                    ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            )?
            .execute(params![d.tenant, keep])?;
        Ok(())
    }

    async fn conversion_by_external(
        &mut self,
        tenant: &str,
        ty: &str,
        ext: &str,
    ) -> StoreResult<bool> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT 1 FROM conversions WHERE tenant = ?1 AND conversion_type = ?2 AND external_id = ?3",
            )?
            .query_row(params![tenant, ty, ext], |_| Ok(()))
            .optional()?
            .is_some())
    }

    async fn insert_conversion(
        &mut self,
        c: &ConversionIn,
        public_id: &str,
        d: &Decided<'_>,
    ) -> StoreResult<Option<i64>> {
        self.0
            .prepare_cached(
                "INSERT INTO conversions (public_id, tenant, kind, conversion_type, external_id, cid, affiliate, attributed,
                    amount_cents, currency, commission_cents, status, customer_id, source, details, created_at)
                 VALUES (?1, ?2, 'conversion', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'browser', ?13, ?14)",
            )?
            .execute(params![
                public_id,
                c.tenant,
                c.conversion_type,
                c.external_id,
                d.who.cid.as_ref().map(Cid::as_str),
                d.who.affiliate,
                d.who.attributed(),
                c.amount_cents,
                c.currency,
                d.commission_cents,
                d.status.as_str(),
                c.customer_id,
                c.details,
                c.now
            ])?;
        Ok(Some(self.0.last_insert_rowid()))
    }

    async fn sale_lookup(
        &mut self,
        tenant: &str,
        transaction_id: &str,
        target: &Target,
    ) -> StoreResult<(bool, Option<Resolved>)> {
        let recorded = self
            .0
            .prepare_cached("SELECT 1 FROM conversions WHERE tenant = ?1 AND transaction_id = ?2")?
            .query_row(params![tenant, transaction_id], |_| Ok(()))
            .optional()?
            .is_some();
        Ok((recorded, resolve(self.0, tenant, target)?))
    }

    async fn insert_sale(
        &mut self,
        s: &SaleIn,
        public_id: &str,
        d: &Decided<'_>,
    ) -> StoreResult<Option<i64>> {
        self.0
            .prepare_cached(
                "INSERT INTO conversions (public_id, tenant, kind, conversion_type, transaction_id, cid, affiliate, attributed,
                    amount_cents, currency, commission_cents, status, customer_key, is_recurring, subscription_id,
                    source, details, created_at)
                 VALUES (?1, ?2, 'sale', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )?
            .execute(params![
                public_id,
                s.tenant,
                s.conversion_type,
                s.transaction_id,
                d.who.cid.as_ref().map(Cid::as_str),
                d.who.affiliate,
                d.who.attributed(),
                s.amount_cents,
                s.currency,
                d.commission_cents,
                d.status.as_str(),
                s.customer_key,
                s.is_recurring,
                s.subscription_id,
                s.source,
                s.details,
                s.now
            ])?;
        Ok(Some(self.0.last_insert_rowid()))
    }

    async fn update_sale_credit(
        &mut self,
        id: i64,
        s: &SaleIn,
        d: &Decided<'_>,
    ) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "UPDATE conversions SET cid = ?2, affiliate = ?3, attributed = ?4, amount_cents = ?5,
                    commission_cents = ?6, customer_key = COALESCE(customer_key, ?7), status = ?8 WHERE id = ?1",
            )?
            .execute(params![
                id,
                d.who.cid.as_ref().map(Cid::as_str),
                d.who.affiliate,
                d.who.attributed(),
                s.amount_cents,
                d.commission_cents,
                s.customer_key,
                d.status.as_str()
            ])?;
        Ok(())
    }

    async fn first_subscription_sale(
        &mut self,
        tenant: &str,
        sub: &str,
    ) -> StoreResult<Option<(i64, bool)>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT id, attributed FROM conversions WHERE tenant = ?1 AND subscription_id = ?2
                 ORDER BY id LIMIT 1",
            )?
            .query_row(params![tenant, sub], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    async fn insert_accrual(&mut self, e: &NewEntry, rule: Option<&str>) -> StoreResult<i64> {
        self.0
            .prepare_cached(
                "INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, created_at, rule)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                e.tenant,
                e.affiliate,
                e.conversion_id,
                e.kind.as_str(),
                e.amount_cents,
                e.currency,
                e.available_at,
                e.created_at,
                rule
            ])?;
        Ok(self.0.last_insert_rowid())
    }
}
