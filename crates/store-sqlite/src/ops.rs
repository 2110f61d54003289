//! The click hot path on the writer thread (this backend's own statements; its event id's
//! replay is `clicktrail_app::events::once` over the shared rows). Leads, links, conversions,
//! sales and diagnostics run the shared use cases from the `Store` impl with `run_ready`.

use clicktrail_app::events::{once, Event};
use clicktrail_app::run_ready;
use clicktrail_domain::attribution::{self, decide_click, CidRecord, ClickDecision};
use clicktrail_sql::Sql;
use clicktrail_store::{ClickIn, ClickOut, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};

use crate::db::Lite;

/// Runs without a savepoint (`writer::Atomicity::Transaction`): every answer that is not a
/// storage error (the replay, a reused event id) is decided before the first write.
pub(crate) fn click(conn: &Connection, c: &ClickIn) -> StoreResult<ClickOut> {
    let e = Event {
        kind: "click",
        tenant: &c.tenant,
        id: c.event_id.as_deref(),
        now: c.now,
    };
    run_ready(once(
        &mut Sql(Lite(conn)),
        e,
        async |_: &mut Sql<Lite<'_>>| record_click(conn, c),
    ))
}

/// The click's own statements, prepared as SQLite takes them (the hot path).
fn record_click(conn: &Connection, c: &ClickIn) -> StoreResult<ClickOut> {
    let existing = match &c.cid {
        Some(p) => conn
            .prepare_cached(
                "SELECT affiliate, expires_at FROM cids WHERE tenant = ?1 AND cid = ?2",
            )?
            .query_row(params![c.tenant, p.as_str()], |r| {
                Ok(CidRecord {
                    affiliate: r.get(0)?,
                    expires_at: r.get(1)?,
                })
            })
            .optional()?,
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
