//! The rows the commission rules read (`clicktrail_app::commission`): a subscription's
//! earlier payments, read under a per-subscription advisory lock so that two renewals handled
//! at once by two collectors count each other (a payments limit is never passed by a race).
//! The same rows serve the tracking use cases (`ops.rs`).

use clicktrail_app::commission::CommissionRows;
use clicktrail_domain::rules::History;

use crate::ops::{exec, q_opt, Tx};
use crate::Fail;

/// The tracking and commission rows inside one open transaction.
pub(crate) struct Rows<'t, 'c>(pub(crate) &'t Tx<'c>);

impl CommissionRows for Rows<'_, '_> {
    type Error = Fail;

    async fn subscription_history(
        &mut self,
        tenant: &str,
        subscription_id: &str,
        before: Option<i64>,
    ) -> Result<Option<History>, Fail> {
        // the same key as the first payment's lock (advisory locks are re-entrant)
        exec(
            self.0,
            "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
            &[&tenant, &subscription_id],
        )
        .await?;
        let before = before.unwrap_or(i64::MAX);
        let row = q_opt(
            self.0,
            "SELECT count(*), min(created_at),
                (SELECT affiliate FROM conversions
                  WHERE tenant = $1 AND subscription_id = $2 AND kind = 'sale' AND id < $3
                  ORDER BY id LIMIT 1)
             FROM conversions
             WHERE tenant = $1 AND subscription_id = $2 AND kind = 'sale' AND id < $3",
            &[&tenant, &subscription_id, &before],
        )
        .await?;
        Ok(row.and_then(|r| {
            let first: Option<i64> = r.get(1);
            first.map(|first_at| History {
                prior_payments: r.get(0),
                first_at,
                first_affiliate: r.get(2),
            })
        }))
    }
}
