//! The collector's metrics: requests by route and status, request latency by route (a write's
//! latency: its answer waits for the commit), the store's batching counters and the SQLite WAL.
//! One registry per app (no process globals, so tests build many apps); served by
//! `http::health`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use clicktrail_store::Store;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    store: IntGaugeVec,
    wal: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "clicktrail_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("static metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "clicktrail_http_request_duration_seconds",
                "Time to answer, by route (writes answer after their commit)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )
        .expect("static metric definition");
        let store = IntGaugeVec::new(
            Opts::new(
                "clicktrail_store_writes",
                "Store batching since start: commits, jobs (writes) and the largest batch",
            ),
            &["backend", "counter"],
        )
        .expect("static metric definition");
        let wal = IntGaugeVec::new(
            Opts::new(
                "clicktrail_sqlite_wal",
                "SQLite's write-ahead log: bytes and peak_bytes of the file, frames_behind (not yet \
                 checkpointed), truncations and truncations_busy (checkpoints that emptied it / that \
                 readers held up)",
            ),
            &["measure"],
        )
        .expect("static metric definition");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(store.clone()),
            Box::new(wal.clone()),
            Box::new(build_info()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Arc::new(Metrics {
            registry,
            requests,
            latency,
            store,
            wal,
        })
    }
}

/// `clicktrail_build_info{version="…"} 1`: which build answers (constant).
fn build_info() -> IntGaugeVec {
    let g = IntGaugeVec::new(
        Opts::new(
            "clicktrail_build_info",
            "The collector's version (always 1)",
        ),
        &["version"],
    )
    .expect("static metric definition");
    g.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    g
}

/// Counts and times every request by its route template (never the raw path: bounded labels).
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let started = Instant::now();
    let resp = next.run(req).await;
    m.latency
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[&route, resp.status().as_str()])
        .inc();
    resp
}

/// The metrics in Prometheus text format, the store's counters read now.
impl Metrics {
    pub fn render(&self, store: &dyn Store) -> Result<Vec<u8>, prometheus::Error> {
        let w = store.write_stats();
        let backend = store.backend();
        for (name, v) in [
            ("commits", w.commits),
            ("jobs", w.jobs),
            ("max_batch", w.max_batch),
        ] {
            self.store
                .with_label_values(&[backend, name])
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
        if let Some(w) = store.wal_status() {
            for (name, v) in [
                ("bytes", w.bytes),
                ("peak_bytes", w.peak_bytes),
                ("frames_behind", w.frames_behind),
                ("truncations", w.truncations),
                ("truncations_busy", w.truncations_busy),
            ] {
                self.wal
                    .with_label_values(&[name])
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
        let mut buf = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(buf)
    }
}
