//! Outgoing webhooks: endpoints (an endpoint is locked with `FOR UPDATE` while it changes),
//! their health, their delivery logs, and the facts the event feed reads. On PostgreSQL ids
//! are not in commit order, hence the feed's settle bound (`before`); on SQLite the single
//! writer commits in id order.

use clicktrail_app::testmode::Counted;
use clicktrail_app::webhooks::WebhookRows;
use clicktrail_domain::webhooks::{EventKind, Fact};
use clicktrail_store::program::OutboxRow;
use clicktrail_store::webhooks::{
    unknown_endpoint, EndpointIn, EndpointPatch, EndpointRow, Outcome, CHANNEL,
};
use clicktrail_store::StoreError;

use crate::{Db, Dialect, Row, Sql};

const COLUMNS: &str = "id, tenant, url, events, secret, enabled, disabled_reason, failing_since,
    created_at, updated_at";

fn endpoint(r: &Row) -> Result<EndpointRow, StoreError> {
    let events: String = r.get(3)?;
    Ok(EndpointRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        url: r.get(2)?,
        events: events.split(',').map(str::to_string).collect(),
        secret: r.get(4)?,
        enabled: r.get(5)?,
        disabled_reason: r.get(6)?,
        failing_since: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// The endpoint (of the tenant, if given), locked until the transaction ends.
pub async fn get<D: Db>(
    db: &D,
    tenant: Option<&str>,
    id: i64,
) -> Result<Option<EndpointRow>, D::Error> {
    let row = db
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1
                 AND (CAST($2 AS TEXT) IS NULL OR tenant = $2) FOR UPDATE"
            ),
            &[&id, &tenant],
        )
        .await?;
    Ok(row.as_ref().map(endpoint).transpose()?)
}

pub async fn create<D: Db>(db: &D, e: &EndpointIn) -> Result<EndpointRow, D::Error> {
    let row = db
        .query_one(
            &format!(
                "INSERT INTO webhook_endpoints (tenant, url, events, secret, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
            ),
            &[&e.tenant, &e.url, &e.events.join(","), &e.secret, &e.now],
        )
        .await?;
    Ok(endpoint(&row)?)
}

/// The tenant's endpoints, oldest first.
pub async fn list<D: Db>(db: &D, tenant: &str) -> Result<Vec<EndpointRow>, D::Error> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant = $1 ORDER BY id"),
            &[&tenant],
        )
        .await?;
    Ok(rows.iter().map(endpoint).collect::<Result<_, _>>()?)
}

/// Applies the patch; an endpoint enabled again has what waited meanwhile tried at once.
pub async fn update<D: Db>(
    db: &D,
    tenant: &str,
    id: i64,
    p: &EndpointPatch,
    now: i64,
) -> Result<EndpointRow, D::Error> {
    let mut e = get(db, Some(tenant), id)
        .await?
        .ok_or_else(|| unknown_endpoint(id))?;
    if p.apply(&mut e) {
        db.execute(
            "UPDATE outbox SET next_attempt_at = $3 WHERE channel = $1 AND recipient = $2
             AND delivered_at IS NULL",
            &[&CHANNEL, &id.to_string(), &now],
        )
        .await?;
    }
    db.execute(
        "UPDATE webhook_endpoints SET url = $2, events = $3, enabled = $4, disabled_reason = $5,
             failing_since = $6, updated_at = $7 WHERE id = $1",
        &[
            &id,
            &e.url,
            &e.events.join(","),
            &e.enabled,
            &e.disabled_reason,
            &e.failing_since,
            &now,
        ],
    )
    .await?;
    e.updated_at = now;
    Ok(e)
}

/// Removes the endpoint and what it had not received yet.
pub async fn delete<D: Db>(db: &D, tenant: &str, id: i64) -> Result<(), D::Error> {
    let n = db
        .execute(
            "DELETE FROM webhook_endpoints WHERE id = $1 AND tenant = $2",
            &[&id, &tenant],
        )
        .await?;
    if n == 0 {
        return Err(unknown_endpoint(id).into());
    }
    db.execute(
        "DELETE FROM outbox WHERE channel = $1 AND recipient = $2 AND delivered_at IS NULL",
        &[&CHANNEL, &id.to_string()],
    )
    .await?;
    Ok(())
}

/// A delivery's outcome on the endpoint's health.
pub async fn outcome<D: Db>(db: &D, id: i64, o: &Outcome, now: i64) -> Result<(), D::Error> {
    match o {
        Outcome::Delivered => {
            db.execute(
                "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1",
                &[&id],
            )
            .await?
        }
        Outcome::Failed => {
            db.execute(
                "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
                 WHERE id = $1",
                &[&id, &now],
            )
            .await?
        }
        Outcome::Disable(reason) => {
            db.execute(
                "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $3,
                     updated_at = $2 WHERE id = $1",
                &[&id, &now, reason],
            )
            .await?
        }
    };
    Ok(())
}

/// The endpoint's delivery log, newest first.
pub async fn deliveries<D: Db>(
    db: &D,
    tenant: &str,
    endpoint: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, D::Error> {
    crate::outbox::list_for(db, tenant, CHANNEL, &endpoint.to_string(), limit).await
}

fn fact(r: &Row) -> Result<Counted<Fact>, StoreError> {
    let row = Fact {
        id: r.get(0)?,
        tenant: r.get(1)?,
        affiliate: r.get(2)?,
        amount_cents: r.get(3)?,
        commission_cents: r.get(4)?,
        currency: r.get(5)?,
        reference: r.get(6)?,
        created_at: r.get(7)?,
    };
    Ok(Counted {
        row,
        livemode: r.get(8)?,
        count_test_payments: r.get(9)?,
    })
}

impl<D: Db> WebhookRows for Sql<D> {
    async fn facts_after(
        &mut self,
        kind: EventKind,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Counted<Fact>>, D::Error> {
        let sql = match kind {
            EventKind::Lead => {
                "SELECT id, tenant, affiliate, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
                        CAST(NULL AS TEXT), customer_key, created_at, TRUE, FALSE
                 FROM leads WHERE id > $1 AND created_at < $2 ORDER BY id LIMIT $3"
            }
            EventKind::Sale => {
                "SELECT c.id, c.tenant, c.affiliate, c.amount_cents, c.commission_cents,
                        c.currency, c.public_id, c.created_at, c.livemode,
                        coalesce((SELECT count_test_payments FROM tenants WHERE id = c.tenant), FALSE)
                 FROM conversions c WHERE c.id > $1 AND c.created_at < $2 AND c.kind = 'sale'
                 ORDER BY c.id LIMIT $3"
            }
            EventKind::Refund => {
                "SELECT x.id, x.tenant, x.affiliate, CAST(NULL AS BIGINT), x.amount_cents,
                        x.currency, c.public_id, x.created_at, TRUE, FALSE
                 FROM ledger x JOIN conversions c ON c.id = x.conversion_id
                 WHERE x.id > $1 AND x.created_at < $2 AND x.kind = 'reversal'
                 ORDER BY x.id LIMIT $3"
            }
            EventKind::Payout => {
                "SELECT id, tenant, affiliate, amount_cents, CAST(NULL AS BIGINT), currency,
                        through, created_at, TRUE, FALSE
                 FROM payouts WHERE id > $1 AND created_at < $2 ORDER BY id LIMIT $3"
            }
            EventKind::AffiliateApproved => {
                "SELECT f.seq, f.tenant, f.code, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
                        CAST(NULL AS TEXT), f.name, f.created_at, TRUE, FALSE
                 FROM affiliates f WHERE f.seq > $1 AND f.created_at < $2
                   AND EXISTS (SELECT 1 FROM applications a WHERE a.tenant = f.tenant
                               AND a.affiliate = f.code AND a.status = 'approved')
                 ORDER BY f.seq LIMIT $3"
            }
        };
        let rows = self.0.query(sql, &[&after, &before, &limit]).await?;
        Ok(rows.iter().map(fact).collect::<Result<_, _>>()?)
    }

    async fn subscribers(&mut self, tenant: &str, kind: EventKind) -> Result<Vec<i64>, D::Error> {
        // the position of a substring: same arguments, another name
        let find = match D::DIALECT {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        };
        let rows = self
            .0
            .query(
                &format!(
                    "SELECT id FROM webhook_endpoints WHERE tenant = $1 AND enabled = TRUE
                       AND {find}(',' || events || ',', ',' || $2 || ',') > 0 ORDER BY id"
                ),
                &[&tenant, &kind.as_str()],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect::<Result<_, _>>()?)
    }
}
