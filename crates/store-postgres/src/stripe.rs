//! Stripe events on PostgreSQL: the use case `clicktrail_app::stripe` over the shared rows
//! (`clicktrail_sql::stripe`) in one transaction. Two collectors handling events of one
//! payment at once take the same advisory locks (one per Stripe id the event names, in
//! order), and the sale row is locked before it is settled.

use clicktrail_domain::attribution::Resolved;
use clicktrail_sql::stripe::StripeSales;
use clicktrail_sql::Sql;
use clicktrail_store::{SaleIn, SaleOut, StripeEventIn, StripeOutcome, Target};

use crate::db::Pg;
use crate::ops;
use crate::{Fail, PgStore};

pub(crate) async fn stripe_event(
    store: &PgStore,
    e: &StripeEventIn,
) -> Result<StripeOutcome, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::stripe::stripe_event(&mut Sql(Pg(&tx)), e).await?;
    tx.commit().await?;
    Ok(out)
}

/// The event's sale, through this backend's sale use case in the same transaction.
impl StripeSales for Pg<'_, '_> {
    async fn resolve(&self, tenant: &str, target: &Target) -> Result<Option<Resolved>, Fail> {
        ops::resolve(self.0, tenant, target).await
    }

    async fn record_sale(&self, e: &StripeEventIn) -> Result<StripeOutcome, Fail> {
        ops::stripe_sale(self.0, e).await
    }

    async fn attribute_existing(&self, id: i64, s: &SaleIn) -> Result<SaleOut, Fail> {
        ops::attribute_existing(self.0, id, s).await
    }
}
