//! Stripe events on PostgreSQL: the use case `clicktrail_app::stripe` over the shared rows
//! (`clicktrail_sql::stripe`) in one transaction. Two collectors handling events of one
//! payment at once take the same advisory locks (one per Stripe id the event names, in
//! order), and the sale row is locked before it is settled.

use clicktrail_sql::Sql;
use clicktrail_store::{StripeEventIn, StripeOutcome};

use crate::db::Pg;
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
