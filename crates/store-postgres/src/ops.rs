//! The tracking use cases on PostgreSQL: the SQL rows (`clicktrail_app::ops::OpsRows`) over
//! which `clicktrail_app` decides leads, links, conversions, sales and diagnostics, each
//! awaited in one pooled transaction, and the query helpers every module shares.
//! Cross-collector races end in a constraint: a claimed event id, `ON CONFLICT` on a unique
//! index, or an advisory lock.

use clicktrail_app::ops::{Decided, NewLead, OpsRows};
use clicktrail_app::{conversion as conv, diagnostic as diag, lead as leads, sale as sales};
use clicktrail_domain::attribution::{CidRecord, Resolved};
use clicktrail_domain::ledger::NewEntry;
use clicktrail_domain::Cid;
use clicktrail_store::{
    ConversionIn, ConversionOut, DiagnosticIn, ExternalLinkIn, LeadIn, OkOut, SaleIn, SaleOut,
    StoreError, StripeEventIn, StripeOutcome, Target,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

pub(crate) use clicktrail_app::events::replay;

use crate::commission::Rows;
use crate::{Fail, PgStore};

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

/// One transaction from the pool around a use case.
macro_rules! in_tx {
    ($store:expr, |$rows:ident| $body:expr) => {{
        let mut client = $store.pool().get().await?;
        let tx = client.transaction().await?;
        let $rows = &mut Rows(&tx);
        let out = $body.await?;
        tx.commit().await?;
        Ok(out)
    }};
}

pub(crate) async fn conversion(store: &PgStore, c: &ConversionIn) -> Result<ConversionOut, Fail> {
    in_tx!(store, |rows| conv::conversion(rows, c))
}

pub(crate) async fn link_external(store: &PgStore, l: &ExternalLinkIn) -> Result<OkOut, Fail> {
    in_tx!(store, |rows| leads::link_external(rows, l))
}

pub(crate) async fn lead(store: &PgStore, l: &LeadIn) -> Result<OkOut, Fail> {
    in_tx!(store, |rows| leads::lead(rows, l))
}

pub(crate) async fn diagnostic(store: &PgStore, d: &DiagnosticIn) -> Result<(), Fail> {
    in_tx!(store, |rows| diag::diagnostic(rows, d))
}

pub(crate) async fn sale_request(store: &PgStore, s: &SaleIn) -> Result<SaleOut, Fail> {
    in_tx!(store, |rows| sales::sale(rows, s))
}

/// A sale inside an open transaction (CSV imports).
pub(crate) async fn sale_body(tx: &Tx<'_>, s: &SaleIn) -> Result<SaleOut, Fail> {
    sales::sale(&mut Rows(tx), s).await
}

/// Credits an unattributed first subscription payment (row `id`) to the affiliate this event
/// names.
pub(crate) async fn attribute_existing(tx: &Tx<'_>, id: i64, s: &SaleIn) -> Result<SaleOut, Fail> {
    sales::attribute_existing(&mut Rows(tx), id, s).await
}

/// The sale part of a Stripe event (its id already claimed by `stripe::stripe_event`).
pub(crate) async fn stripe_sale(tx: &Tx<'_>, e: &StripeEventIn) -> Result<StripeOutcome, Fail> {
    sales::stripe_sale(&mut Rows(tx), e).await
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

impl OpsRows for Rows<'_, '_> {
    async fn claim_event(
        &mut self,
        tenant: &str,
        event_id: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<(String, Option<String>)>, Fail> {
        // claimed with an empty answer; a concurrent claimer waits on the primary key until
        // the winner commits (and reads its answer) or rolls back (and claims it)
        let mine = q_opt(
            self.0,
            "INSERT INTO events (tenant, event_id, kind, body, created_at) VALUES ($1, $2, $3, NULL, $4)
             ON CONFLICT DO NOTHING RETURNING 1",
            &[&tenant, &event_id, &kind, &now],
        )
        .await?;
        if mine.is_some() {
            return Ok(None);
        }
        let row = q_opt(
            self.0,
            "SELECT kind, body FROM events WHERE tenant = $1 AND event_id = $2",
            &[&tenant, &event_id],
        )
        .await?
        .ok_or_else(|| StoreError::Internal(format!("event `{event_id}` vanished")))?;
        Ok(Some((row.get(0), row.get(1))))
    }

    async fn remember_event(
        &mut self,
        tenant: &str,
        event_id: &str,
        _kind: &str,
        body: &str,
        _now: i64,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE events SET body = $3 WHERE tenant = $1 AND event_id = $2",
            &[&tenant, &event_id, &body],
        )
        .await?;
        Ok(())
    }

    async fn cid(&mut self, tenant: &str, cid: &str) -> Result<Option<CidRecord>, Fail> {
        Ok(q_opt(
            self.0,
            "SELECT affiliate, expires_at FROM cids WHERE tenant = $1 AND cid = $2",
            &[&tenant, &cid],
        )
        .await?
        .map(|r| CidRecord {
            affiliate: r.get(0),
            expires_at: r.get(1),
        }))
    }

    async fn resolve(&mut self, tenant: &str, target: &Target) -> Result<Option<Resolved>, Fail> {
        resolve(self.0, tenant, target).await
    }

    async fn link_external(&mut self, l: &ExternalLinkIn) -> Result<(), Fail> {
        exec(
            self.0,
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
        Ok(())
    }

    async fn link_customer(
        &mut self,
        tenant: &str,
        key: &str,
        cid: &str,
        now: i64,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "INSERT INTO customer_links (tenant, customer_key, cid, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, customer_key) DO UPDATE SET cid = excluded.cid",
            &[&tenant, &key, &cid, &now],
        )
        .await?;
        Ok(())
    }

    async fn upsert_lead(&mut self, l: &NewLead<'_>) -> Result<(), Fail> {
        // concurrent first leads of one customer meet on the unique index
        let sql = match (l.customer_key, l.cid) {
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
        let p: [&(dyn ToSql + Sync); 7] = [
            &l.tenant,
            &l.customer_key,
            &l.cid,
            &l.affiliate,
            &l.email,
            &l.source,
            &l.now,
        ];
        exec(self.0, sql, &p).await?;
        Ok(())
    }

    async fn insert_diagnostic(&mut self, d: &DiagnosticIn, keep: i64) -> Result<(), Fail> {
        exec(
            self.0,
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
        // the tenant's newest `keep` rows (no tenant is '' on the index)
        let t = d.tenant.as_deref().unwrap_or_default();
        exec(
            self.0,
            "DELETE FROM diagnostics WHERE coalesce(tenant, '') = $1 AND id <= (
                SELECT id FROM diagnostics WHERE coalesce(tenant, '') = $1
                ORDER BY id DESC OFFSET $2 LIMIT 1)",
            &[&t, &keep],
        )
        .await?;
        Ok(())
    }

    async fn conversion_by_external(
        &mut self,
        tenant: &str,
        ty: &str,
        ext: &str,
    ) -> Result<bool, Fail> {
        Ok(q_opt(
            self.0,
            "SELECT 1 FROM conversions WHERE tenant = $1 AND conversion_type = $2 AND external_id = $3",
            &[&tenant, &ty, &ext],
        )
        .await?
        .is_some())
    }

    async fn insert_conversion(
        &mut self,
        c: &ConversionIn,
        public_id: &str,
        d: &Decided<'_>,
    ) -> Result<Option<i64>, Fail> {
        let row = q_opt(
            self.0,
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
                &d.who.cid.as_ref().map(Cid::as_str),
                &d.who.affiliate,
                &d.who.attributed(),
                &c.amount_cents,
                &c.currency,
                &d.commission_cents,
                &d.status.as_str(),
                &c.customer_id,
                &c.details,
                &c.now,
            ],
        )
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn sale_lookup(
        &mut self,
        tenant: &str,
        transaction_id: &str,
        target: &Target,
    ) -> Result<(bool, Option<Resolved>), Fail> {
        let p: [&(dyn ToSql + Sync); 2] = [&tenant, &transaction_id];
        let (recorded, resolved) = tokio::try_join!(
            q_opt(
                self.0,
                "SELECT 1 FROM conversions WHERE tenant = $1 AND transaction_id = $2",
                &p,
            ),
            resolve(self.0, tenant, target),
        )?;
        Ok((recorded.is_some(), resolved))
    }

    async fn insert_sale(
        &mut self,
        s: &SaleIn,
        public_id: &str,
        d: &Decided<'_>,
    ) -> Result<Option<i64>, Fail> {
        let row = q_opt(
            self.0,
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
                &d.who.cid.as_ref().map(Cid::as_str),
                &d.who.affiliate,
                &d.who.attributed(),
                &s.amount_cents,
                &s.currency,
                &d.commission_cents,
                &d.status.as_str(),
                &s.customer_key,
                &s.is_recurring,
                &s.subscription_id,
                &s.source,
                &s.details,
                &s.now,
            ],
        )
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn update_sale_credit(
        &mut self,
        id: i64,
        s: &SaleIn,
        d: &Decided<'_>,
    ) -> Result<(), Fail> {
        exec(
            self.0,
            "UPDATE conversions SET cid = $2, affiliate = $3, attributed = $4, amount_cents = $5,
                commission_cents = $6, customer_key = COALESCE(customer_key, $7), status = $8 WHERE id = $1",
            &[
                &id,
                &d.who.cid.as_ref().map(Cid::as_str),
                &d.who.affiliate,
                &d.who.attributed(),
                &s.amount_cents,
                &d.commission_cents,
                &s.customer_key,
                &d.status.as_str(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn first_subscription_sale(
        &mut self,
        tenant: &str,
        sub: &str,
    ) -> Result<Option<(i64, bool)>, Fail> {
        // the checkout session and the first invoice of one subscription (two event ids) may
        // be handled at once by two collectors: one at a time per subscription
        exec(
            self.0,
            "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
            &[&tenant, &sub],
        )
        .await?;
        Ok(q_opt(
            self.0,
            "SELECT id, attributed FROM conversions WHERE tenant = $1 AND subscription_id = $2
             ORDER BY id LIMIT 1",
            &[&tenant, &sub],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
    }

    async fn insert_accrual(&mut self, e: &NewEntry, rule: Option<&str>) -> Result<i64, Fail> {
        let row = q_opt(
            self.0,
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
}
