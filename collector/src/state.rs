//! What every handler shares: the store, the catalog snapshot, the server settings, the clock.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use clicktrail_store::Store;

use crate::catalog::CatalogHandle;
use crate::config::ServerSettings;
use crate::metrics::Metrics;

pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp())
}

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub catalog: Arc<CatalogHandle>,
    pub server: ServerSettings,
    pub clock: Clock,
    /// The built tracker (tracking.js, clicktrail_bg.wasm).
    pub dist_dir: PathBuf,
    /// The pages of `--www` (the demo shop); `dashboard.html` is taken from here too.
    pub www_dir: PathBuf,
    /// Whether `www_dir` is served at `/` (`--demo` or `--www`); otherwise `/` is a short page
    /// naming the product and linking `/dashboard`.
    pub serve_www: bool,
    /// `--demo`: the demo checkout route and the demo pages.
    pub demo: bool,
    pub metrics: Arc<Metrics>,
    /// The server-wide operator token (env `CLICKTRAIL_ADMIN_TOKEN`): may create tenants.
    pub admin_token: Option<String>,
}

/// Cheap to clone: one `Arc`.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<CatalogHandle>,
        server: ServerSettings,
    ) -> AppState {
        AppState(Arc::new(Inner {
            store,
            catalog,
            server,
            clock: system_clock(),
            dist_dir: PathBuf::from("dist"),
            www_dir: PathBuf::from("www"),
            serve_www: true,
            demo: false,
            metrics: Metrics::new(),
            admin_token: None,
        }))
    }

    /// Builder-style setters (only before the state is shared).
    pub fn with(mut self, f: impl FnOnce(&mut Inner)) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            f(inner);
        }
        self
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}
