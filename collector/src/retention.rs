//! The retention task: every [`EVERY`], one pruning pass over every tenant with a retention
//! setting (`Store::prune`; the rules are `clicktrail_domain::retention`). Several collectors
//! on one database may each run it: a pass deletes or clears what is past its cut-off, so two
//! passes do what one does.

use std::sync::Arc;
use std::time::Duration;

use clicktrail_domain::retention::Retention;
use clicktrail_store::Store;

/// How often the task runs (and once at start).
pub const EVERY: Duration = Duration::from_secs(3600);

/// Runs the task until the process ends.
pub fn spawn(store: Arc<dyn Store>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            match store.prune(chrono::Utc::now().timestamp()).await {
                Ok(p) if p.events + p.click_urls + p.diagnostics + p.messages > 0 => {
                    tracing::info!(
                        events = p.events,
                        click_urls = p.click_urls,
                        diagnostics = p.diagnostics,
                        messages = p.messages,
                        "retention: pruned raw data"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention pass failed"),
            }
        }
    });
}

/// Stores the configuration file's retention settings (`[tenants.retention]`).
pub async fn apply(store: &dyn Store, settings: &[(String, Retention)]) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    for (tenant, r) in settings {
        store
            .set_retention(tenant, *r, now)
            .await
            .map_err(|e| anyhow::anyhow!("cannot store the retention of `{tenant}`: {e}"))?;
    }
    Ok(())
}

/// `clicktrail-collector erase`: erases one customer or visitor of `tenant` (or of the only
/// tenant), as `POST /api/v1/erasures` does; the audit log names the operator as `cli`.
pub async fn erase_command(
    store: &dyn Store,
    tenant: Option<&str>,
    subject: clicktrail_domain::erasure::Subject,
) -> anyhow::Result<(String, clicktrail_domain::erasure::Erased)> {
    let catalog = store
        .load_catalog()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the catalog: {e}"))?;
    let tenant = match tenant {
        Some(id) => catalog
            .tenant(id)
            .ok_or_else(|| anyhow::anyhow!("unknown tenant `{id}`"))?
            .id
            .clone(),
        None => match catalog.tenants.as_slice() {
            [only] => only.id.clone(),
            [] => anyhow::bail!("the database declares no tenant"),
            _ => anyhow::bail!("several tenants are configured: give --tenant ID"),
        },
    };
    let erased = store
        .erase(clicktrail_store::EraseIn {
            tenant: tenant.clone(),
            subject,
            actor: "cli".into(),
            now: chrono::Utc::now().timestamp(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("erasure failed: {e}"))?;
    Ok((tenant, erased))
}
