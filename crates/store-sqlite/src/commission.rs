//! The rows the commission rules read (`clicktrail_app::commission`): a subscription's
//! earlier payments. The same rows serve the tracking use cases (`ops.rs`).

use clicktrail_app::commission::CommissionRows;
use clicktrail_domain::rules::History;
use clicktrail_store::{StoreError, StoreResult};
use rusqlite::{params, Connection};

/// The tracking and commission rows on the writer's connection.
pub(crate) struct Rows<'c>(pub(crate) &'c Connection);

impl CommissionRows for Rows<'_> {
    type Error = StoreError;

    async fn subscription_history(
        &mut self,
        tenant: &str,
        subscription_id: &str,
        before: Option<i64>,
    ) -> StoreResult<Option<History>> {
        let (n, first, coupon): (i64, Option<i64>, Option<String>) = self
            .0
            .prepare_cached(
                "SELECT count(*), min(created_at),
                    (SELECT affiliate FROM conversions
                      WHERE tenant = ?1 AND subscription_id = ?2 AND kind = 'sale' AND id < ?3
                      ORDER BY id LIMIT 1)
                 FROM conversions
                 WHERE tenant = ?1 AND subscription_id = ?2 AND kind = 'sale' AND id < ?3",
            )?
            .query_row(
                params![tenant, subscription_id, before.unwrap_or(i64::MAX)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
        Ok(first.map(|first_at| History {
            prior_payments: n,
            first_at,
            first_affiliate: coupon,
        }))
    }
}
