//! The transaction bodies: each reads what a rule needs, asks the domain, and writes what it
//! decided. They run on the writer thread, inside the job's SAVEPOINT.

use clicktrail_app::commission::{Earned, Earning};
use clicktrail_domain::attribution::{self, decide_click, CidRecord, ClickDecision, Resolved};
use clicktrail_domain::conversion::{first_payment, FirstPayment};
use clicktrail_domain::dedupe::{repeat, Repeat};
use clicktrail_domain::ledger;
use clicktrail_domain::money::format_cents;
use clicktrail_domain::Cid;
use clicktrail_store::{
    unresolved_error, ClickIn, ClickOut, Commission, ConversionIn, ConversionOut, DiagnosticIn,
    ExternalLinkIn, LeadIn, OkOut, SaleIn, SaleOut, StoreError, StoreResult, StripeEventIn,
    StripeOutcome, Target,
};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::commission::earned;

/// Diagnostics kept per tenant.
pub(crate) const DIAGNOSTICS_CAP: i64 = 10_000;

/// Runs `f` once per (tenant, event id): a repeat gets the stored answer of the first one
/// (domain `repeat`), or a 409 when the id was used for another kind of event.
fn idempotent<T, F>(
    conn: &Connection,
    kind: &str,
    tenant: &str,
    event_id: Option<&str>,
    now: i64,
    f: F,
) -> StoreResult<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&Connection) -> StoreResult<T>,
{
    if let Some(e) = event_id {
        let prior: Option<(String, String)> = conn
            .prepare_cached("SELECT kind, body FROM events WHERE tenant = ?1 AND event_id = ?2")?
            .query_row(params![tenant, e], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((prior_kind, body)) = prior {
            let reused = || {
                StoreError::Conflict(
                    "event_id_reused",
                    format!("eventId `{e}` was already used for a {prior_kind} event"),
                )
            };
            return match repeat(&prior_kind, kind) {
                Repeat::Replay => serde_json::from_str(&body).map_err(|_| reused()),
                Repeat::Reused { .. } => Err(reused()),
            };
        }
    }
    let out = f(conn)?;
    if let Some(e) = event_id {
        let body = serde_json::to_string(&out).map_err(|e| StoreError::Internal(e.to_string()))?;
        conn.prepare_cached(
            "INSERT INTO events (tenant, event_id, kind, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![tenant, e, kind, body, now])?;
    }
    Ok(out)
}

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
    idempotent(
        conn,
        "click",
        &c.tenant,
        c.event_id.as_deref(),
        c.now,
        |conn| {
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
                    conn.prepare_cached(
                        "UPDATE cids SET expires_at = ?3 WHERE tenant = ?1 AND cid = ?2",
                    )?
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
        },
    )
}

/// Appends the accrual of an attributed commission with the rule that decided it; returns
/// the entry id.
#[allow(clippy::too_many_arguments)]
fn accrue(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    conversion_id: i64,
    cents: i64,
    currency: &str,
    now: i64,
    hold_days: i64,
    rule: Option<&str>,
) -> StoreResult<i64> {
    let e = ledger::accrual(
        tenant,
        affiliate,
        conversion_id,
        cents,
        currency,
        now,
        hold_days,
    )?;
    conn.prepare_cached(
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
    Ok(conn.last_insert_rowid())
}

pub(crate) fn conversion(conn: &Connection, c: &ConversionIn) -> StoreResult<ConversionOut> {
    idempotent(
        conn,
        "conversion",
        &c.tenant,
        c.event_id.as_deref(),
        c.now,
        |conn| {
            if let Some(ext) = &c.external_id {
                let dup: Option<i64> = conn
                .prepare_cached(
                    "SELECT id FROM conversions WHERE tenant = ?1 AND conversion_type = ?2 AND external_id = ?3",
                )?
                .query_row(params![c.tenant, c.conversion_type, ext], |r| r.get(0))
                .optional()?;
                if dup.is_some() {
                    return Err(StoreError::Conflict(
                        "duplicate_conversion",
                        format!(
                            "a `{}` conversion with externalId `{ext}` was already recorded",
                            c.conversion_type
                        ),
                    ));
                }
            }
            let resolved = resolve(conn, &c.tenant, &c.target)?;
            if resolved.is_none() && c.rules.coupon_affiliate(&c.coupon_codes).is_none() {
                return Err(unresolved_error(&c.target));
            }
            let Earned {
                who,
                status,
                cents,
                rule,
                ..
            } = earned(
                conn,
                resolved,
                &Earning {
                    tenant: &c.tenant,
                    rules: &c.rules,
                    conversion_type: &c.conversion_type,
                    payout: Some(c.payout),
                    amount_cents: c.amount_cents,
                    status: c.status,
                    coupon_codes: &c.coupon_codes,
                    products: &[],
                    customer_email: None,
                    subscription_id: None,
                    sale_id: None,
                    now: c.now,
                },
            )?;
            let public_id = uuid::Uuid::new_v4().to_string();
            conn.prepare_cached(
            "INSERT INTO conversions (public_id, tenant, kind, conversion_type, external_id, cid, affiliate, attributed,
                amount_cents, currency, commission_cents, status, customer_id, source, details, created_at)
             VALUES (?1, ?2, 'conversion', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'browser', ?13, ?14)",
        )?
        .execute(params![
            public_id,
            c.tenant,
            c.conversion_type,
            c.external_id,
            who.cid.as_ref().map(Cid::as_str),
            who.affiliate,
            who.attributed(),
            c.amount_cents,
            c.currency,
            cents,
            status.as_str(),
            c.customer_id,
            c.details,
            c.now
        ])?;
            if let Some(aff) = &who.affiliate {
                let id = conn.last_insert_rowid();
                accrue(
                    conn,
                    &c.tenant,
                    aff,
                    id,
                    cents,
                    &c.currency,
                    c.now,
                    c.hold_days,
                    rule.as_deref(),
                )?;
            }
            Ok(ConversionOut {
                conversion_id: public_id,
                status: status.as_str().to_string(),
                commission: Commission {
                    value: format_cents(cents),
                },
                attributed: who.attributed(),
            })
        },
    )
}

pub(crate) fn link_external(conn: &Connection, l: &ExternalLinkIn) -> StoreResult<OkOut> {
    idempotent(
        conn,
        "external_cid",
        &l.tenant,
        l.event_id.as_deref(),
        l.now,
        |conn| {
            if lookup_cid(conn, &l.tenant, l.cid.as_str())?.is_none() {
                return Err(StoreError::NotFound(
                    "unknown_cid",
                    format!("unknown cid `{}`", l.cid),
                ));
            }
            conn.prepare_cached(
                "INSERT INTO external_links (tenant, revenue_origin, external_cid, cid, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tenant, revenue_origin, external_cid) DO UPDATE SET cid = excluded.cid",
            )?
            .execute(params![
                l.tenant,
                l.revenue_origin,
                l.external_cid,
                l.cid.as_str(),
                l.now
            ])?;
            Ok(OkOut { ok: true })
        },
    )
}

pub(crate) fn lead(conn: &Connection, l: &LeadIn) -> StoreResult<OkOut> {
    idempotent(
        conn,
        "lead",
        &l.tenant,
        l.event_id.as_deref(),
        l.now,
        |conn| {
            let mut affiliate = None;
            let mut cid_for_link = l.cid.as_ref().map(|c| c.as_str().to_string());
            if let Some(c) = &l.cid {
                match lookup_cid(conn, &l.tenant, c.as_str())? {
                    None => {
                        return Err(StoreError::NotFound(
                            "unknown_cid",
                            format!("unknown cid `{c}`"),
                        ))
                    }
                    Some(rec) => {
                        if attribution::attributes(rec.expires_at, l.now) {
                            affiliate = Some(rec.affiliate);
                        }
                    }
                }
            } else if let Some(k) = &l.customer_key {
                // no CID given: an existing link keeps its attribution
                if let Some(r) = resolve(conn, &l.tenant, &Target::CustomerKey(k.clone()))? {
                    if attribution::attributes(r.expires_at, l.now) {
                        affiliate = Some(r.affiliate);
                    }
                    cid_for_link = Some(r.cid.into_string());
                }
            }
            if let (Some(k), Some(c)) = (&l.customer_key, &cid_for_link) {
                conn.prepare_cached(
                "INSERT INTO customer_links (tenant, customer_key, cid, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, customer_key) DO UPDATE SET cid = excluded.cid",
            )?
            .execute(params![l.tenant, k, c, l.now])?;
            }
            let existing: Option<i64> = match (&l.customer_key, &cid_for_link) {
            (Some(k), _) => conn
                .prepare_cached("SELECT id FROM leads WHERE tenant = ?1 AND customer_key = ?2")?
                .query_row(params![l.tenant, k], |r| r.get(0))
                .optional()?,
            // no customer key: one lead per CID (a retried call is not a second lead)
            (None, Some(c)) => conn
                .prepare_cached("SELECT id FROM leads WHERE tenant = ?1 AND customer_key IS NULL AND cid = ?2")?
                .query_row(params![l.tenant, c], |r| r.get(0))
                .optional()?,
            (None, None) => None,
        };
            match existing {
                Some(id) => {
                    // the same customer again: keep one lead, fill in what was missing
                    conn.prepare_cached(
                    "UPDATE leads SET cid = COALESCE(cid, ?2), affiliate = COALESCE(affiliate, ?3),
                     email = COALESCE(?4, email) WHERE id = ?1",
                )?
                .execute(params![id, cid_for_link, affiliate, l.email])?;
                }
                None => {
                    conn.prepare_cached(
                    "INSERT INTO leads (tenant, customer_key, cid, affiliate, email, source, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![l.tenant, l.customer_key, cid_for_link, affiliate, l.email, l.source, l.now])?;
                }
            }
            Ok(OkOut { ok: true })
        },
    )
}

pub(crate) fn diagnostic(conn: &Connection, d: &DiagnosticIn) -> StoreResult<()> {
    let t = d.tenant.clone().unwrap_or_default();
    idempotent(
        conn,
        "diagnostic",
        &t,
        d.event_id.as_deref(),
        d.now,
        |conn| {
            conn.prepare_cached(
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
            // keep the tenant's newest DIAGNOSTICS_CAP rows (ids are shared by all tenants)
            conn.prepare_cached(
                "DELETE FROM diagnostics WHERE tenant IS ?1 AND id <= (
                    SELECT id FROM diagnostics WHERE tenant IS ?1
                    ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            )?
            .execute(params![d.tenant, DIAGNOSTICS_CAP])?;
            Ok(())
        },
    )
}

/// What the commission rules need of a sale (`id`: its row, when it exists already).
fn earning(s: &SaleIn, id: Option<i64>) -> Earning<'_> {
    Earning {
        tenant: &s.tenant,
        rules: &s.rules,
        conversion_type: &s.conversion_type,
        payout: s.payout,
        amount_cents: s.amount_cents,
        status: s.status,
        coupon_codes: &s.coupon_codes,
        products: &s.products,
        customer_email: s.customer_email.as_deref(),
        subscription_id: s.subscription_id.as_deref(),
        sale_id: id,
        now: s.now,
    }
}

pub(crate) fn sale(conn: &Connection, s: &SaleIn) -> StoreResult<SaleOut> {
    let dup: Option<i64> = conn
        .prepare_cached("SELECT id FROM conversions WHERE tenant = ?1 AND transaction_id = ?2")?
        .query_row(params![s.tenant, s.transaction_id], |r| r.get(0))
        .optional()?;
    if dup.is_some() {
        return Err(StoreError::Conflict(
            "duplicate_transaction",
            format!("transaction_id `{}` was already recorded", s.transaction_id),
        ));
    }
    let resolved = resolve(conn, &s.tenant, &s.target)?;
    if resolved.is_none()
        && !s.allow_unresolved
        && s.rules.coupon_affiliate(&s.coupon_codes).is_none()
    {
        return Err(unresolved_error(&s.target));
    }
    let Earned {
        who,
        status,
        cents,
        rule,
        ..
    } = earned(conn, resolved, &earning(s, None))?;
    let public_id = uuid::Uuid::new_v4().to_string();
    conn.prepare_cached(
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
        who.cid.as_ref().map(Cid::as_str),
        who.affiliate,
        who.attributed(),
        s.amount_cents,
        s.currency,
        cents,
        status.as_str(),
        s.customer_key,
        s.is_recurring,
        s.subscription_id,
        s.source,
        s.details,
        s.now
    ])?;
    let sale_id = conn.last_insert_rowid();
    let commission_id = match &who.affiliate {
        Some(a) => Some(accrue(
            conn,
            &s.tenant,
            a,
            sale_id,
            cents,
            &s.currency,
            s.now,
            s.hold_days,
            rule.as_deref(),
        )?),
        None => None,
    };
    Ok(SaleOut {
        sale_id,
        commission_id,
        commission_cents: cents,
        attributed: who.attributed(),
    })
}

/// Credits an unattributed first subscription payment to the affiliate this event names.
pub(crate) fn attribute_existing(conn: &Connection, id: i64, s: &SaleIn) -> StoreResult<SaleOut> {
    let resolved = resolve(conn, &s.tenant, &s.target)?;
    let Earned {
        who,
        status,
        cents,
        rule,
        ..
    } = earned(conn, resolved, &earning(s, Some(id)))?;
    conn.prepare_cached(
        "UPDATE conversions SET cid = ?2, affiliate = ?3, attributed = ?4, amount_cents = ?5,
            commission_cents = ?6, customer_key = COALESCE(customer_key, ?7), status = ?8 WHERE id = ?1",
    )?
    .execute(params![
        id,
        who.cid.as_ref().map(Cid::as_str),
        who.affiliate,
        who.attributed(),
        s.amount_cents,
        cents,
        s.customer_key,
        status.as_str()
    ])?;
    let commission_id = match &who.affiliate {
        Some(a) => Some(accrue(
            conn,
            &s.tenant,
            a,
            id,
            cents,
            &s.currency,
            s.now,
            s.hold_days,
            rule.as_deref(),
        )?),
        None => None,
    };
    Ok(SaleOut {
        sale_id: id,
        commission_id,
        commission_cents: cents,
        attributed: who.attributed(),
    })
}

/// The sale part of a Stripe event (its id already claimed by `stripe::stripe_event`).
pub(crate) fn stripe_sale(conn: &Connection, e: &StripeEventIn) -> StoreResult<StripeOutcome> {
    let Some(s) = &e.sale else {
        return Ok(StripeOutcome::Recorded { sale: None });
    };
    if e.first_payment {
        if let Some(sub) = &s.subscription_id {
            let counted: Option<(i64, bool)> = conn
                .prepare_cached(
                    "SELECT id, attributed FROM conversions WHERE tenant = ?1 AND subscription_id = ?2
                     ORDER BY id LIMIT 1",
                )?
                .query_row(params![s.tenant, sub], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let would_attribute = resolve(conn, &s.tenant, &s.target)?
                .is_some_and(|r| attribution::attributes(r.expires_at, s.now))
                || s.rules.coupon_affiliate(&s.coupon_codes).is_some();
            match first_payment(counted, would_attribute) {
                FirstPayment::Record => {}
                FirstPayment::Skip => return Ok(StripeOutcome::Recorded { sale: None }),
                FirstPayment::Attribute(id) => {
                    let out = attribute_existing(conn, id, s)?;
                    return Ok(StripeOutcome::Recorded { sale: Some(out) });
                }
            }
        }
    }
    match sale(conn, s) {
        Ok(out) => Ok(StripeOutcome::Recorded { sale: Some(out) }),
        // the same payment seen through another event: count it once
        Err(StoreError::Conflict(..)) => Ok(StripeOutcome::Recorded { sale: None }),
        Err(e) => Err(e),
    }
}
