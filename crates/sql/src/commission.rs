//! The rows the commission rules read (`clicktrail_app::commission`): a subscription's
//! earlier payments, read under the subscription's lock so that two renewals handled at once
//! by two collectors count each other (a payments limit is never passed by a race).

use clicktrail_app::commission::CommissionRows;
use clicktrail_domain::rules::History;

use crate::{Db, Sql};

/// The key that serializes the payments of one subscription (its first sale's credit and
/// every renewal's history); re-entrant within a transaction.
pub(crate) fn subscription_key(tenant: &str, subscription_id: &str) -> String {
    format!("subscription:{tenant}:{subscription_id}")
}

impl<D: Db> CommissionRows for Sql<D> {
    type Error = D::Error;

    async fn subscription_history(
        &mut self,
        tenant: &str,
        subscription_id: &str,
        before: Option<i64>,
    ) -> Result<Option<History>, D::Error> {
        self.0
            .serialize(&subscription_key(tenant, subscription_id))
            .await?;
        let before = before.unwrap_or(i64::MAX);
        let row = self
            .0
            .query_opt(
                "SELECT count(*), min(created_at),
                    (SELECT affiliate FROM conversions
                      WHERE tenant = $1 AND subscription_id = $2 AND kind = 'sale' AND id < $3
                      ORDER BY id LIMIT 1)
                 FROM conversions
                 WHERE tenant = $1 AND subscription_id = $2 AND kind = 'sale' AND id < $3",
                &[&tenant, &subscription_id, &before],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let Some(first_at) = r.get::<Option<i64>>(1)? else {
            return Ok(None);
        };
        Ok(Some(History {
            prior_payments: r.get(0)?,
            first_at,
            first_affiliate: r.get(2)?,
        }))
    }
}
