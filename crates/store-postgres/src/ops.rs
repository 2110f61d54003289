//! The per-request transactions (everything but clicks): each reads what a rule needs, asks
//! the domain, and writes what it decided. Cross-collector races end in a constraint: a
//! claimed event id, `ON CONFLICT` on a unique index, or an advisory lock.

use clicktrail_app::commission::{Earned, Earning};
use clicktrail_domain::attribution::{self, CidRecord, Resolved};
use clicktrail_domain::conversion::{first_payment, FirstPayment};
use clicktrail_domain::dedupe::{repeat, Repeat};
use clicktrail_domain::ledger;
use clicktrail_domain::money::format_cents;
use clicktrail_domain::Cid;
use clicktrail_store::{
    unresolved_error, Commission, ConversionIn, ConversionOut, DiagnosticIn, ExternalLinkIn,
    LeadIn, OkOut, SaleIn, SaleOut, StoreError, StoreResult, StripeEventIn, StripeOutcome, Target,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::commission::earned;
use crate::{Fail, PgStore};

/// Diagnostics kept per tenant (as on SQLite).
pub(crate) const DIAGNOSTICS_CAP: i64 = 10_000;

pub(crate) type Tx<'a> = deadpool_postgres::Transaction<'a>;
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(crate) async fn q(tx: &Tx<'_>, sql: &str, p: Params<'_>) -> Result<Vec<Row>, Fail> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query(&st, p).await?)
}

pub(crate) async fn q_opt(tx: &Tx<'_>, sql: &str, p: Params<'_>) -> Result<Option<Row>, Fail> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&st, p).await?)
}

pub(crate) async fn exec(tx: &Tx<'_>, sql: &str, p: Params<'_>) -> Result<u64, Fail> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&st, p).await?)
}

// ---------------------------------------------------------------- event-id dedupe

/// The outcome of claiming a browser event id.
pub(crate) enum Claimed {
    /// This transaction holds the id: do the work, then [`remember`] the answer.
    Mine,
    /// Another transaction stored it first (it committed: a concurrent claimer waits on the
    /// primary key until the winner commits or rolls back).
    Prior { kind: String, body: Option<String> },
}

/// Claims `(tenant, event_id)` with an empty answer.
pub(crate) async fn claim(
    tx: &Tx<'_>,
    tenant: &str,
    event_id: &str,
    kind: &str,
    now: i64,
) -> Result<Claimed, Fail> {
    let mine = q_opt(
        tx,
        "INSERT INTO events (tenant, event_id, kind, body, created_at) VALUES ($1, $2, $3, NULL, $4)
         ON CONFLICT DO NOTHING RETURNING 1",
        &[&tenant, &event_id, &kind, &now],
    )
    .await?;
    if mine.is_some() {
        return Ok(Claimed::Mine);
    }
    let row = q_opt(
        tx,
        "SELECT kind, body FROM events WHERE tenant = $1 AND event_id = $2",
        &[&tenant, &event_id],
    )
    .await?
    .ok_or_else(|| StoreError::Internal(format!("event `{event_id}` vanished")))?;
    Ok(Claimed::Prior {
        kind: row.get(0),
        body: row.get(1),
    })
}

/// What a repeat of `event_id` gets (domain `repeat`): the first answer, or a 409.
pub(crate) fn replay<T: DeserializeOwned>(
    event_id: &str,
    prior_kind: &str,
    body: Option<&str>,
    kind: &str,
) -> StoreResult<T> {
    let reused = || {
        StoreError::Conflict(
            "event_id_reused",
            format!("eventId `{event_id}` was already used for a {prior_kind} event"),
        )
    };
    match repeat(prior_kind, kind) {
        Repeat::Replay => body
            .and_then(|b| serde_json::from_str(b).ok())
            .ok_or_else(reused),
        Repeat::Reused { .. } => Err(reused()),
    }
}

/// Stores the answer of a claimed event id (same transaction as the work).
pub(crate) async fn remember<T: Serialize>(
    tx: &Tx<'_>,
    tenant: &str,
    event_id: &str,
    out: &T,
) -> Result<(), Fail> {
    let body = serde_json::to_string(out).map_err(|e| StoreError::Internal(e.to_string()))?;
    exec(
        tx,
        "UPDATE events SET body = $3 WHERE tenant = $1 AND event_id = $2",
        &[&tenant, &event_id, &body],
    )
    .await?;
    Ok(())
}

/// One transaction from the pool; with an event id, a repeat is answered as the first time.
macro_rules! idempotent {
    ($store:expr, $kind:expr, $tenant:expr, $event:expr, $now:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.pool().get().await?;
        let $tx = client.transaction().await?;
        if let Some(e) = $event {
            if let Claimed::Prior { kind, body } = claim(&$tx, $tenant, e, $kind, $now).await? {
                return Ok(replay(e, &kind, body.as_deref(), $kind)?);
            }
        }
        let out = $body;
        if let Some(e) = $event {
            remember(&$tx, $tenant, e, &out).await?;
        }
        $tx.commit().await?;
        Ok(out)
    }};
}

// ---------------------------------------------------------------- reads

async fn lookup_cid(tx: &Tx<'_>, tenant: &str, cid: &str) -> Result<Option<CidRecord>, Fail> {
    Ok(q_opt(
        tx,
        "SELECT affiliate, expires_at FROM cids WHERE tenant = $1 AND cid = $2",
        &[&tenant, &cid],
    )
    .await?
    .map(|r| CidRecord {
        affiliate: r.get(0),
        expires_at: r.get(1),
    }))
}

/// Resolves a target to its CID and the CID's affiliate and expiry (one round trip).
pub(crate) async fn resolve(
    tx: &Tx<'_>,
    tenant: &str,
    target: &Target,
) -> Result<Option<Resolved>, Fail> {
    let row = match target {
        Target::Cid(c) => {
            q_opt(
                tx,
                "SELECT cid, affiliate, expires_at FROM cids WHERE tenant = $1 AND cid = $2",
                &[&tenant, &c.as_str()],
            )
            .await?
        }
        Target::External {
            revenue_origin,
            external_cid,
        } => {
            q_opt(
                tx,
                "SELECT c.cid, c.affiliate, c.expires_at FROM external_links l
             JOIN cids c ON c.tenant = l.tenant AND c.cid = l.cid
             WHERE l.tenant = $1 AND l.revenue_origin = $2 AND l.external_cid = $3",
                &[&tenant, revenue_origin, external_cid],
            )
            .await?
        }
        Target::CustomerKey(k) => {
            q_opt(
                tx,
                "SELECT c.cid, c.affiliate, c.expires_at FROM customer_links l
             JOIN cids c ON c.tenant = l.tenant AND c.cid = l.cid
             WHERE l.tenant = $1 AND l.customer_key = $2",
                &[&tenant, k],
            )
            .await?
        }
        // the subscription's earliest sale, else its free-trial link
        Target::Subscription(sub) => {
            q_opt(
                tx,
                "SELECT c.cid, c.affiliate, c.expires_at
             FROM (SELECT cid, o FROM (
                     (SELECT cid, 0 AS o FROM conversions WHERE tenant = $1 AND subscription_id = $2
                       AND cid IS NOT NULL ORDER BY id LIMIT 1)
                     UNION ALL
                     SELECT cid, 1 FROM stripe_links
                      WHERE tenant = $1 AND kind = 'subscription' AND stripe_id = $2) u
                   ORDER BY o LIMIT 1) s
             JOIN cids c ON c.tenant = $1 AND c.cid = s.cid",
                &[&tenant, sub],
            )
            .await?
        }
        Target::None => None,
    };
    Ok(row.map(|r| Resolved {
        cid: Cid::from_stored(r.get(0)),
        affiliate: r.get(1),
        expires_at: r.get(2),
    }))
}

/// Appends the accrual of an attributed commission (domain `ledger::accrual`); its id.
#[allow(clippy::too_many_arguments)]
async fn accrue(
    tx: &Tx<'_>,
    tenant: &str,
    affiliate: &str,
    conversion_id: i64,
    cents: i64,
    currency: &str,
    now: i64,
    hold_days: i64,
    rule: Option<&str>,
) -> Result<i64, Fail> {
    let e = ledger::accrual(
        tenant,
        affiliate,
        conversion_id,
        cents,
        currency,
        now,
        hold_days,
    )?;
    let row = q_opt(
        tx,
        "INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, created_at, rule)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        &[
            &e.tenant,
            &e.affiliate,
            &e.conversion_id,
            &e.kind.as_str(),
            &e.amount_cents,
            &e.currency,
            &e.available_at,
            &e.created_at,
            &rule,
        ],
    )
    .await?
    .ok_or_else(|| StoreError::Internal("ledger insert returned nothing".into()))?;
    Ok(row.get(0))
}

// ---------------------------------------------------------------- conversions

fn duplicate_conversion(c: &ConversionIn, ext: &str) -> StoreError {
    StoreError::Conflict(
        "duplicate_conversion",
        format!(
            "a `{}` conversion with externalId `{ext}` was already recorded",
            c.conversion_type
        ),
    )
}

async fn conversion_body(tx: &Tx<'_>, c: &ConversionIn) -> Result<ConversionOut, Fail> {
    if let Some(ext) = &c.external_id {
        let dup = q_opt(
            tx,
            "SELECT 1 FROM conversions WHERE tenant = $1 AND conversion_type = $2 AND external_id = $3",
            &[&c.tenant, &c.conversion_type, ext],
        )
        .await?;
        if dup.is_some() {
            return Err(duplicate_conversion(c, ext).into());
        }
    }
    let resolved = resolve(tx, &c.tenant, &c.target).await?;
    if resolved.is_none() && c.rules.coupon_affiliate(&c.coupon_codes).is_none() {
        return Err(unresolved_error(&c.target).into());
    }
    let Earned {
        who,
        status,
        cents,
        rule,
        ..
    } = earned(
        tx,
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
    )
    .await?;
    let public_id = uuid::Uuid::new_v4().to_string();
    let cid = who.cid.as_ref().map(Cid::as_str);
    let attributed = who.attributed();
    // a concurrent conversion with the same externalId: one of them gets the 409
    let id: i64 = match q_opt(
        tx,
        "INSERT INTO conversions (public_id, tenant, kind, conversion_type, external_id, cid, affiliate,
            attributed, amount_cents, currency, commission_cents, status, customer_id, source, details, created_at)
         VALUES ($1, $2, 'conversion', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'browser', $13, $14)
         ON CONFLICT (tenant, conversion_type, external_id) WHERE external_id IS NOT NULL DO NOTHING
         RETURNING id",
        &[
            &public_id,
            &c.tenant,
            &c.conversion_type,
            &c.external_id,
            &cid,
            &who.affiliate,
            &attributed,
            &c.amount_cents,
            &c.currency,
            &cents,
            &status.as_str(),
            &c.customer_id,
            &c.details,
            &c.now,
        ],
    )
    .await?
    {
        Some(r) => r.get(0),
        None => {
            let ext = c.external_id.as_deref().unwrap_or_default();
            return Err(duplicate_conversion(c, ext).into());
        }
    };
    if let Some(aff) = &who.affiliate {
        accrue(
            tx,
            &c.tenant,
            aff,
            id,
            cents,
            &c.currency,
            c.now,
            c.hold_days,
            rule.as_deref(),
        )
        .await?;
    }
    Ok(ConversionOut {
        conversion_id: public_id,
        status: status.as_str().to_string(),
        commission: Commission {
            value: format_cents(cents),
        },
        attributed,
    })
}

pub(crate) async fn conversion(store: &PgStore, c: &ConversionIn) -> Result<ConversionOut, Fail> {
    idempotent!(
        store,
        "conversion",
        &c.tenant,
        c.event_id.as_deref(),
        c.now,
        |tx| conversion_body(&tx, c).await?
    )
}

// ---------------------------------------------------------------- links and leads

pub(crate) async fn link_external(store: &PgStore, l: &ExternalLinkIn) -> Result<OkOut, Fail> {
    idempotent!(
        store,
        "external_cid",
        &l.tenant,
        l.event_id.as_deref(),
        l.now,
        |tx| {
            if lookup_cid(&tx, &l.tenant, l.cid.as_str()).await?.is_none() {
                return Err(StoreError::NotFound(
                    "unknown_cid",
                    format!("unknown cid `{}`", l.cid),
                )
                .into());
            }
            exec(
                &tx,
                "INSERT INTO external_links (tenant, revenue_origin, external_cid, cid, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant, revenue_origin, external_cid) DO UPDATE SET cid = excluded.cid",
                &[
                    &l.tenant,
                    &l.revenue_origin,
                    &l.external_cid,
                    &l.cid.as_str(),
                    &l.now,
                ],
            )
            .await?;
            OkOut { ok: true }
        }
    )
}

async fn lead_body(tx: &Tx<'_>, l: &LeadIn) -> Result<OkOut, Fail> {
    let mut affiliate: Option<String> = None;
    let mut cid_for_link: Option<String> = l.cid.as_ref().map(|c| c.as_str().to_string());
    if let Some(c) = &l.cid {
        match lookup_cid(tx, &l.tenant, c.as_str()).await? {
            None => {
                return Err(
                    StoreError::NotFound("unknown_cid", format!("unknown cid `{c}`")).into(),
                )
            }
            Some(rec) => {
                if attribution::attributes(rec.expires_at, l.now) {
                    affiliate = Some(rec.affiliate);
                }
            }
        }
    } else if let Some(k) = &l.customer_key {
        // no CID given: an existing link keeps its attribution
        if let Some(r) = resolve(tx, &l.tenant, &Target::CustomerKey(k.clone())).await? {
            if attribution::attributes(r.expires_at, l.now) {
                affiliate = Some(r.affiliate);
            }
            cid_for_link = Some(r.cid.into_string());
        }
    }
    if let (Some(k), Some(c)) = (&l.customer_key, &cid_for_link) {
        exec(
            tx,
            "INSERT INTO customer_links (tenant, customer_key, cid, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, customer_key) DO UPDATE SET cid = excluded.cid",
            &[&l.tenant, k, c, &l.now],
        )
        .await?;
    }
    // one lead per customer key (or per CID without a key): the same customer again keeps
    // one lead and fills in what was missing; concurrent first leads meet on the unique index
    let sql = match (&l.customer_key, &cid_for_link) {
        (Some(_), _) => {
            "INSERT INTO leads (tenant, customer_key, cid, affiliate, email, source, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (tenant, customer_key) WHERE customer_key IS NOT NULL DO UPDATE SET
                cid = COALESCE(leads.cid, excluded.cid),
                affiliate = COALESCE(leads.affiliate, excluded.affiliate),
                email = COALESCE(excluded.email, leads.email)"
        }
        (None, Some(_)) => {
            "INSERT INTO leads (tenant, customer_key, cid, affiliate, email, source, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (tenant, cid) WHERE customer_key IS NULL DO UPDATE SET
                affiliate = COALESCE(leads.affiliate, excluded.affiliate),
                email = COALESCE(excluded.email, leads.email)"
        }
        (None, None) => {
            "INSERT INTO leads (tenant, customer_key, cid, affiliate, email, source, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        }
    };
    exec(
        tx,
        sql,
        &[
            &l.tenant,
            &l.customer_key,
            &cid_for_link,
            &affiliate,
            &l.email,
            &l.source,
            &l.now,
        ],
    )
    .await?;
    Ok(OkOut { ok: true })
}

pub(crate) async fn lead(store: &PgStore, l: &LeadIn) -> Result<OkOut, Fail> {
    idempotent!(
        store,
        "lead",
        &l.tenant,
        l.event_id.as_deref(),
        l.now,
        |tx| lead_body(&tx, l).await?
    )
}

pub(crate) async fn diagnostic(store: &PgStore, d: &DiagnosticIn) -> Result<(), Fail> {
    let t = d.tenant.clone().unwrap_or_default();
    idempotent!(
        store,
        "diagnostic",
        &t,
        d.event_id.as_deref(),
        d.now,
        |tx| {
            exec(
                &tx,
                "INSERT INTO diagnostics (tenant, kind, message, url, user_agent, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &d.tenant,
                    &d.kind,
                    &d.message,
                    &d.url,
                    &d.user_agent,
                    &d.now,
                ],
            )
            .await?;
            // keep the tenant's newest DIAGNOSTICS_CAP rows
            exec(
                &tx,
                "DELETE FROM diagnostics WHERE coalesce(tenant, '') = $1 AND id <= (
                    SELECT id FROM diagnostics WHERE coalesce(tenant, '') = $1
                    ORDER BY id DESC OFFSET $2 LIMIT 1)",
                &[&t, &DIAGNOSTICS_CAP],
            )
            .await?;
        }
    )
}

// ---------------------------------------------------------------- sales

fn duplicate_transaction(s: &SaleIn) -> StoreError {
    StoreError::Conflict(
        "duplicate_transaction",
        format!("transaction_id `{}` was already recorded", s.transaction_id),
    )
}

/// A sale inside an open transaction: 409 on a reused transaction id (also when another
/// collector commits the same id concurrently: the unique index decides).
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

pub(crate) async fn sale_body(tx: &Tx<'_>, s: &SaleIn) -> Result<SaleOut, Fail> {
    let dup_params: [&(dyn ToSql + Sync); 2] = [&s.tenant, &s.transaction_id];
    let (dup, resolved) = tokio::try_join!(
        q_opt(
            tx,
            "SELECT 1 FROM conversions WHERE tenant = $1 AND transaction_id = $2",
            &dup_params,
        ),
        resolve(tx, &s.tenant, &s.target),
    )?;
    if dup.is_some() {
        return Err(duplicate_transaction(s).into());
    }
    if resolved.is_none()
        && !s.allow_unresolved
        && s.rules.coupon_affiliate(&s.coupon_codes).is_none()
    {
        return Err(unresolved_error(&s.target).into());
    }
    let Earned {
        who,
        status,
        cents,
        rule,
        ..
    } = earned(tx, resolved, &earning(s, None)).await?;
    let public_id = uuid::Uuid::new_v4().to_string();
    let cid = who.cid.as_ref().map(Cid::as_str);
    let attributed = who.attributed();
    let sale_id: i64 = match q_opt(
        tx,
        "INSERT INTO conversions (public_id, tenant, kind, conversion_type, transaction_id, cid, affiliate,
            attributed, amount_cents, currency, commission_cents, status, customer_key, is_recurring,
            subscription_id, source, details, created_at)
         VALUES ($1, $2, 'sale', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (tenant, transaction_id) WHERE transaction_id IS NOT NULL DO NOTHING
         RETURNING id",
        &[
            &public_id,
            &s.tenant,
            &s.conversion_type,
            &s.transaction_id,
            &cid,
            &who.affiliate,
            &attributed,
            &s.amount_cents,
            &s.currency,
            &cents,
            &status.as_str(),
            &s.customer_key,
            &s.is_recurring,
            &s.subscription_id,
            &s.source,
            &s.details,
            &s.now,
        ],
    )
    .await?
    {
        Some(r) => r.get(0),
        None => return Err(duplicate_transaction(s).into()),
    };
    let commission_id = match &who.affiliate {
        Some(a) => Some(
            accrue(
                tx,
                &s.tenant,
                a,
                sale_id,
                cents,
                &s.currency,
                s.now,
                s.hold_days,
                rule.as_deref(),
            )
            .await?,
        ),
        None => None,
    };
    Ok(SaleOut {
        sale_id,
        commission_id,
        commission_cents: cents,
        attributed,
    })
}

pub(crate) async fn sale_request(store: &PgStore, s: &SaleIn) -> Result<SaleOut, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = sale_body(&tx, s).await?;
    tx.commit().await?;
    Ok(out)
}

/// Credits an unattributed first subscription payment (row `id`) to the affiliate this event
/// names: the row is updated in place (its id stays) and its accrual appended.
pub(crate) async fn attribute_existing(tx: &Tx<'_>, id: i64, s: &SaleIn) -> Result<SaleOut, Fail> {
    let resolved = resolve(tx, &s.tenant, &s.target).await?;
    let Earned {
        who,
        status,
        cents,
        rule,
        ..
    } = earned(tx, resolved, &earning(s, Some(id))).await?;
    let attributed = who.attributed();
    exec(
        tx,
        "UPDATE conversions SET cid = $2, affiliate = $3, attributed = $4, amount_cents = $5,
            commission_cents = $6, customer_key = COALESCE(customer_key, $7), status = $8 WHERE id = $1",
        &[
            &id,
            &who.cid.as_ref().map(Cid::as_str),
            &who.affiliate,
            &attributed,
            &s.amount_cents,
            &cents,
            &s.customer_key,
            &status.as_str(),
        ],
    )
    .await?;
    let commission_id = match &who.affiliate {
        Some(a) => Some(
            accrue(
                tx,
                &s.tenant,
                a,
                id,
                cents,
                &s.currency,
                s.now,
                s.hold_days,
                rule.as_deref(),
            )
            .await?,
        ),
        None => None,
    };
    Ok(SaleOut {
        sale_id: id,
        commission_id,
        commission_cents: cents,
        attributed,
    })
}

/// The sale part of a Stripe event (its id already claimed by `stripe::stripe_event`).
pub(crate) async fn stripe_sale(tx: &Tx<'_>, e: &StripeEventIn) -> Result<StripeOutcome, Fail> {
    let Some(s) = &e.sale else {
        return Ok(StripeOutcome::Recorded { sale: None });
    };
    if e.first_payment {
        if let Some(sub) = &s.subscription_id {
            // the checkout session and the first invoice of one subscription (two event ids)
            // may be handled at once by two collectors: one at a time per subscription
            exec(
                tx,
                "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
                &[&s.tenant, sub],
            )
            .await?;
            let counted: Option<(i64, bool)> = q_opt(
                tx,
                "SELECT id, attributed FROM conversions WHERE tenant = $1 AND subscription_id = $2
                 ORDER BY id LIMIT 1",
                &[&s.tenant, sub],
            )
            .await?
            .map(|r| (r.get(0), r.get(1)));
            let would_attribute = resolve(tx, &s.tenant, &s.target)
                .await?
                .is_some_and(|r| attribution::attributes(r.expires_at, s.now))
                || s.rules.coupon_affiliate(&s.coupon_codes).is_some();
            match first_payment(counted, would_attribute) {
                FirstPayment::Record => {}
                FirstPayment::Skip => return Ok(StripeOutcome::Recorded { sale: None }),
                FirstPayment::Attribute(id) => {
                    let out = attribute_existing(tx, id, s).await?;
                    return Ok(StripeOutcome::Recorded { sale: Some(out) });
                }
            }
        }
    }
    match sale_body(tx, s).await {
        Ok(out) => Ok(StripeOutcome::Recorded { sale: Some(out) }),
        // the same payment seen through another event: count it once
        Err(Fail::Store(StoreError::Conflict(..))) => Ok(StripeOutcome::Recorded { sale: None }),
        Err(e) => Err(e),
    }
}
