//! The catalog snapshot every request reads, and the loop that keeps it current.
//!
//! The catalog lives in the database. Each collector holds one immutable snapshot
//! (`Arc<Catalog>`, swapped atomically) and polls the database's catalog version every
//! [`REFRESH_EVERY`]; when another process changed the catalog, the new snapshot is loaded.
//! A version counter works the same on SQLite and PostgreSQL and costs one indexed read a
//! second, so a change reaches every collector within about a second (the documented bound is 5 s).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clicktrail_domain::Catalog;
use clicktrail_store::{Store, StoreResult};

/// How often the catalog version is polled.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The current catalog snapshot; cheap to read from every request.
pub struct CatalogHandle {
    current: ArcSwap<Catalog>,
}

impl CatalogHandle {
    pub fn new(catalog: Catalog) -> CatalogHandle {
        CatalogHandle {
            current: ArcSwap::from_pointee(catalog),
        }
    }

    /// Loads the catalog from the store.
    pub async fn load(store: &dyn Store) -> StoreResult<CatalogHandle> {
        Ok(CatalogHandle::new(store.load_catalog().await?))
    }

    pub fn get(&self) -> Arc<Catalog> {
        self.current.load_full()
    }

    /// Reloads if the database's version differs from the snapshot's; `true` when it did.
    pub async fn refresh(&self, store: &dyn Store) -> StoreResult<bool> {
        let version = store.catalog_version().await?;
        if version == self.current.load().version {
            return Ok(false);
        }
        let fresh = store.load_catalog().await?;
        tracing::info!(
            from = self.current.load().version,
            to = fresh.version,
            tenants = fresh.tenants.len(),
            "catalog changed: reloaded"
        );
        self.current.store(Arc::new(fresh));
        Ok(true)
    }

    /// Polls for changes until the handle is dropped by everyone else.
    pub fn spawn_refresh(self: &Arc<Self>, store: Arc<dyn Store>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(handle) = weak.upgrade() else { return };
                if let Err(e) = handle.refresh(store.as_ref()).await {
                    tracing::warn!(error = %e, "catalog refresh failed; keeping the last snapshot");
                }
            }
        });
    }
}
