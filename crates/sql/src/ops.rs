//! The tracking rows (`clicktrail_app::ops::OpsRows`) over which `clicktrail_app` decides
//! leads, links, conversions, sales and diagnostics, and the target resolution the billing
//! providers share. Races between collectors end in a constraint: a claimed event id,
//! `ON CONFLICT` on a unique index, or the subscription's lock. SQLite's single writer runs
//! one use case at a time: the few statements that exist only to settle races on PostgreSQL
//! branch on the dialect.

use clicktrail_app::ops::{Decided, NewLead, OpsRows};
use clicktrail_domain::attribution::{CidRecord, Resolved};
use clicktrail_domain::ledger::NewEntry;
use clicktrail_domain::Cid;
use clicktrail_store::{ConversionIn, DiagnosticIn, ExternalLinkIn, SaleIn, StoreError, Target};
use futures_util::future::try_join;

use crate::commission::subscription_key;
use crate::{Db, Dialect, Row, Sql};

/// The click behind a CID.
pub async fn cid<D: Db>(db: &D, tenant: &str, cid: &str) -> Result<Option<CidRecord>, D::Error> {
    let row = db
        .query_opt(
            "SELECT affiliate, expires_at FROM cids WHERE tenant = $1 AND cid = $2",
            &[&tenant, &cid],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(CidRecord {
        affiliate: r.get(0)?,
        expires_at: r.get(1)?,
    }))
}

/// Resolves a target to its CID and the CID's affiliate and expiry (one round trip).
pub async fn resolve<D: Db>(
    db: &D,
    tenant: &str,
    target: &Target,
) -> Result<Option<Resolved>, D::Error> {
    let row = match target {
        Target::Cid(c) => {
            db.query_opt(
                "SELECT cid, affiliate, expires_at FROM cids WHERE tenant = $1 AND cid = $2",
                &[&tenant, &c.as_str()],
            )
            .await?
        }
        Target::External {
            revenue_origin,
            external_cid,
        } => {
            db.query_opt(
                "SELECT c.cid, c.affiliate, c.expires_at FROM external_links l
                 JOIN cids c ON c.tenant = l.tenant AND c.cid = l.cid
                 WHERE l.tenant = $1 AND l.revenue_origin = $2 AND l.external_cid = $3",
                &[&tenant, revenue_origin, external_cid],
            )
            .await?
        }
        Target::CustomerKey(k) => {
            db.query_opt(
                "SELECT c.cid, c.affiliate, c.expires_at FROM customer_links l
                 JOIN cids c ON c.tenant = l.tenant AND c.cid = l.cid
                 WHERE l.tenant = $1 AND l.customer_key = $2",
                &[&tenant, k],
            )
            .await?
        }
        // the subscription's earliest sale, else its free-trial link
        Target::Subscription(sub) => {
            db.query_opt(
                "SELECT c.cid, c.affiliate, c.expires_at
                 FROM (SELECT cid FROM (
                         SELECT cid, 0 AS o, id FROM conversions
                          WHERE tenant = $1 AND subscription_id = $2 AND cid IS NOT NULL
                         UNION ALL
                         SELECT cid, 1, 0 FROM stripe_links
                          WHERE tenant = $1 AND kind = 'subscription' AND stripe_id = $2) u
                       ORDER BY o, id LIMIT 1) s
                 JOIN cids c ON c.tenant = $1 AND c.cid = s.cid",
                &[&tenant, sub],
            )
            .await?
        }
        Target::None => None,
    };
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Resolved {
        cid: Cid::from_stored(r.get(0)?),
        affiliate: r.get(1)?,
        expires_at: r.get(2)?,
    }))
}

/// The id an `INSERT ... RETURNING id` gave, `None` when `ON CONFLICT` skipped the row.
fn returned_id(row: Option<Row>) -> Result<Option<i64>, StoreError> {
    row.map(|r| r.get(0)).transpose()
}

impl<D: Db> OpsRows for Sql<D> {
    async fn claim_event(
        &mut self,
        tenant: &str,
        event_id: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<(String, Option<String>)>, D::Error> {
        if D::DIALECT == Dialect::Postgres {
            // claimed with an empty answer; a concurrent claimer waits on the primary key
            // until the winner commits (and reads its answer) or rolls back (and claims it)
            let mine = self
                .0
                .query_opt(
                    "INSERT INTO events (tenant, event_id, kind, body, created_at)
                     VALUES ($1, $2, $3, NULL, $4) ON CONFLICT DO NOTHING RETURNING 1",
                    &[&tenant, &event_id, &kind, &now],
                )
                .await?;
            if mine.is_some() {
                return Ok(None);
            }
        }
        // SQLite: the single writer holds every id it has not stored yet
        let row = self
            .0
            .query_opt(
                "SELECT kind, body FROM events WHERE tenant = $1 AND event_id = $2",
                &[&tenant, &event_id],
            )
            .await?;
        match row {
            Some(r) => Ok(Some((r.get(0)?, r.get(1)?))),
            None if D::DIALECT == Dialect::Sqlite => Ok(None),
            None => Err(StoreError::Internal(format!("event `{event_id}` vanished")).into()),
        }
    }

    /// Inserts the answer (SQLite, which claimed nothing) or fills in the claimed row.
    async fn remember_event(
        &mut self,
        tenant: &str,
        event_id: &str,
        kind: &str,
        body: &str,
        now: i64,
    ) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO events (tenant, event_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant, event_id) DO UPDATE SET body = excluded.body",
                &[&tenant, &event_id, &kind, &body, &now],
            )
            .await?;
        Ok(())
    }

    async fn cid(&mut self, tenant: &str, c: &str) -> Result<Option<CidRecord>, D::Error> {
        cid(&self.0, tenant, c).await
    }

    async fn resolve(
        &mut self,
        tenant: &str,
        target: &Target,
    ) -> Result<Option<Resolved>, D::Error> {
        resolve(&self.0, tenant, target).await
    }

    async fn link_external(&mut self, l: &ExternalLinkIn) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO external_links (tenant, revenue_origin, external_cid, cid, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant, revenue_origin, external_cid) DO UPDATE SET cid = excluded.cid",
                &[&l.tenant, &l.revenue_origin, &l.external_cid, &l.cid.as_str(), &l.now],
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
    ) -> Result<(), D::Error> {
        self.0
            .execute(
                "INSERT INTO customer_links (tenant, customer_key, cid, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, customer_key) DO UPDATE SET cid = excluded.cid",
                &[&tenant, &key, &cid, &now],
            )
            .await?;
        Ok(())
    }

    /// Concurrent first leads of one customer meet on the unique index; a lead without a
    /// customer key meets the earlier one of its CID on `leads_cid_only` (both backends have
    /// it). A lead with neither is always a new row.
    async fn upsert_lead(&mut self, l: &NewLead<'_>) -> Result<(), D::Error> {
        let args: [&dyn crate::ToArg; 7] = [
            &l.tenant,
            &l.customer_key,
            &l.cid,
            &l.affiliate,
            &l.email,
            &l.source,
            &l.now,
        ];
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
        self.0.execute(sql, &args).await?;
        Ok(())
    }

    /// Keeps the tenant's newest `keep` rows. The rows without a tenant are one group: SQLite
    /// finds it with `IS` on its (tenant, id) index, PostgreSQL as '' on its
    /// (coalesce(tenant, ''), id) index.
    async fn insert_diagnostic(&mut self, d: &DiagnosticIn, keep: i64) -> Result<(), D::Error> {
        self.0
            .execute(
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
        match D::DIALECT {
            Dialect::Sqlite => {
                self.0
                    .execute(
                        "DELETE FROM diagnostics WHERE tenant IS $1 AND id <= (
                            SELECT id FROM diagnostics WHERE tenant IS $1
                            ORDER BY id DESC LIMIT 1 OFFSET $2)",
                        &[&d.tenant, &keep],
                    )
                    .await?
            }
            Dialect::Postgres => {
                let t = d.tenant.as_deref().unwrap_or_default();
                self.0
                    .execute(
                        "DELETE FROM diagnostics WHERE coalesce(tenant, '') = $1 AND id <= (
                            SELECT id FROM diagnostics WHERE coalesce(tenant, '') = $1
                            ORDER BY id DESC LIMIT 1 OFFSET $2)",
                        &[&t, &keep],
                    )
                    .await?
            }
        };
        Ok(())
    }

    async fn conversion_by_external(
        &mut self,
        tenant: &str,
        ty: &str,
        ext: &str,
    ) -> Result<bool, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT 1 FROM conversions WHERE tenant = $1 AND conversion_type = $2 AND external_id = $3",
                &[&tenant, &ty, &ext],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn insert_conversion(
        &mut self,
        c: &ConversionIn,
        public_id: &str,
        d: &Decided<'_>,
    ) -> Result<Option<i64>, D::Error> {
        let row = self
            .0
            .query_opt(
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
        Ok(returned_id(row)?)
    }

    /// Both reads at once (pipelined on PostgreSQL).
    async fn sale_lookup(
        &mut self,
        tenant: &str,
        transaction_id: &str,
        target: &Target,
    ) -> Result<(bool, Option<Resolved>), D::Error> {
        let (recorded, resolved) = try_join(
            self.0.query_opt(
                "SELECT 1 FROM conversions WHERE tenant = $1 AND transaction_id = $2",
                &[&tenant, &transaction_id],
            ),
            resolve(&self.0, tenant, target),
        )
        .await?;
        Ok((recorded.is_some(), resolved))
    }

    async fn insert_sale(
        &mut self,
        s: &SaleIn,
        public_id: &str,
        d: &Decided<'_>,
    ) -> Result<Option<i64>, D::Error> {
        let row = self
            .0
            .query_opt(
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
        Ok(returned_id(row)?)
    }

    async fn update_sale_credit(
        &mut self,
        id: i64,
        s: &SaleIn,
        d: &Decided<'_>,
    ) -> Result<(), D::Error> {
        self.0
            .execute(
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

    /// The checkout session and the first invoice of one subscription (two event ids) may be
    /// handled at once by two collectors: one at a time per subscription.
    async fn first_subscription_sale(
        &mut self,
        tenant: &str,
        sub: &str,
    ) -> Result<Option<(i64, bool)>, D::Error> {
        self.0.serialize(&subscription_key(tenant, sub)).await?;
        let row = self
            .0
            .query_opt(
                "SELECT id, attributed FROM conversions WHERE tenant = $1 AND subscription_id = $2
                 ORDER BY id LIMIT 1",
                &[&tenant, &sub],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some((r.get(0)?, r.get(1)?)))
    }

    async fn insert_accrual(&mut self, e: &NewEntry, rule: Option<&str>) -> Result<i64, D::Error> {
        let row = self
            .0
            .query_one(
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
            .await?;
        Ok(row.get(0)?)
    }
}
