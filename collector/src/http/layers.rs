//! The middleware, all from maintained crates: tower-http's CORS (per-tenant origins through a
//! predicate) and tracing, tower's timeout, governor's per-IP rate limiter. What is written
//! here only adapts them to this service's answers (JSON errors, a 204 preflight).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::error::AppError;
use super::tenant::origin_allowed;
use crate::state::AppState;

/// How long one request may take, body read included. A timeout is a 503 (the tracker
/// retries 5xx; event ids make the retry safe), never a 408 (a 4xx it would drop).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- CORS

/// CORS of the browser routes: a page whose origin a tenant allows may read the answers (its
/// Origin is echoed, with `Vary: Origin`); preflights are answered here (see [`preflight_204`]).
/// The tenant is the Host's (with a `base_domain`), else any tenant allowing the origin: the
/// handler then refuses (403) a body whose tenant does not.
pub fn cors(st: AppState) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, parts| {
            origin
                .to_str()
                .is_ok_and(|o| origin_allowed(&st, &parts.headers, o))
        }))
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(86_400))
        .vary([header::ORIGIN])
}

/// tower-http answers a preflight `200` with an empty body; the collector has always answered
/// `204 No Content` (what an empty answer is).
pub async fn preflight_204(req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS;
    let mut resp = next.run(req).await;
    if preflight && resp.status() == StatusCode::OK {
        *resp.status_mut() = StatusCode::NO_CONTENT;
    }
    resp
}

// ---------------------------------------------------------------- rate limit

/// Per-client-IP limit: `per_second` requests a second with bursts of `burst` (GCRA, governor's
/// keyed limiter). `per_second == 0` disables it.
pub struct IpLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

/// Forget idle clients once this many are tracked (checked every [`SWEEP_EVERY`] requests).
const MAX_TRACKED: usize = 100_000;
const SWEEP_EVERY: u64 = 4096;

impl IpLimiter {
    pub fn new(per_second: u32, burst: u32) -> IpLimiter {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        IpLimiter {
            limiter,
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// `Ok` if `ip` may send a request now, else the seconds to wait (at least 1).
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1
            && limiter.len() > MAX_TRACKED
        {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The client's address (the socket peer; `0.0.0.0` when unknown, as in tests without one).
fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The rate-limit middleware: 429 JSON with `Retry-After` when over the limit.
pub async fn rate_limit(
    State(limiter): State<Arc<IpLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    match limiter.check(client_ip(&req)) {
        Ok(()) => next.run(req).await,
        Err(secs) => AppError::RateLimited {
            retry_after_secs: secs.max(1),
        }
        .into_response(),
    }
}

// ---------------------------------------------------------------- tracing, timeout

/// One span per request with the method and the path only: no query string (report dates are
/// harmless, but a key or an email could be put there), no headers, no bodies.
pub fn trace(
) -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, impl Fn(&Request) -> tracing::Span + Clone>
{
    TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        })
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
}

/// What a timed-out request is answered (the `tower::timeout` error, or any other error of the
/// layers above the routes).
pub async fn timeout_error(err: tower::BoxError) -> AppError {
    if err.is::<tower::timeout::error::Elapsed>() {
        AppError::Timeout
    } else {
        AppError::Internal(format!("middleware: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_the_burst_then_says_when() {
        let l = IpLimiter::new(1, 3);
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        for _ in 0..3 {
            assert_eq!(l.check(ip), Ok(()));
        }
        assert_eq!(l.check(ip), Err(1));
        // another client has its own budget
        assert_eq!(l.check(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))), Ok(()));
        // 0 disables the limit
        let off = IpLimiter::new(0, 0);
        for _ in 0..1000 {
            assert_eq!(off.check(ip), Ok(()));
        }
    }

    /// A request slower than the timeout is answered 503 JSON `timeout` (a 5xx: the tracker
    /// retries it), by the same layers `app()` stacks.
    #[tokio::test]
    async fn a_slow_request_is_a_503_json() {
        use axum::error_handling::HandleErrorLayer;
        use axum::routing::get;
        use tower::{ServiceBuilder, ServiceExt};
        let router = axum::Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(timeout_error))
                    .timeout(Duration::from_millis(20)),
            );
        let req = axum::http::Request::get("/slow")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = router.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "timeout");
    }

    /// The token bucket this replaces, kept only to compare speed (see below).
    mod before {
        use std::collections::HashMap;
        use std::net::IpAddr;
        use std::sync::Mutex;
        use std::time::Instant;

        pub struct TokenBucket {
            per_second: f64,
            burst: f64,
            buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
        }

        impl TokenBucket {
            pub fn new(per_second: u32, burst: u32) -> Self {
                TokenBucket {
                    per_second: f64::from(per_second),
                    burst: f64::from(burst.max(1)),
                    buckets: Mutex::new(HashMap::new()),
                }
            }
            pub fn allow(&self, ip: IpAddr) -> bool {
                let now = Instant::now();
                let Ok(mut map) = self.buckets.lock() else {
                    return true;
                };
                let entry = map.entry(ip).or_insert((self.burst, now));
                let refill = now.duration_since(entry.1).as_secs_f64() * self.per_second;
                entry.0 = (entry.0 + refill).min(self.burst);
                entry.1 = now;
                if entry.0 >= 1.0 {
                    entry.0 -= 1.0;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// `cargo test -p clicktrail-collector --release --lib limiter_speed -- --ignored --nocapture`:
    /// checks per second of the old hand-written bucket and of governor, from 1 and 2 threads,
    /// over 1,000 client addresses.
    #[test]
    #[ignore]
    fn limiter_speed() {
        use std::time::Instant;
        const N: u32 = 2_000_000;
        let ips: Vec<IpAddr> = (0..1000u32)
            .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
            .collect();
        let old = Arc::new(before::TokenBucket::new(1_000_000, 1_000_000));
        let new = Arc::new(IpLimiter::new(1_000_000, 1_000_000));
        for threads in [1u32, 2] {
            let run = |f: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>| {
                let start = Instant::now();
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        let f = f.clone();
                        let ips = ips.clone();
                        std::thread::spawn(move || {
                            let mut ok = 0u32;
                            for i in 0..N / threads {
                                ok += u32::from(f(ips[((i + t) % 1000) as usize]));
                            }
                            ok
                        })
                    })
                    .collect();
                let ok: u32 = hs.into_iter().map(|h| h.join().unwrap_or(0)).sum();
                (f64::from(N) / start.elapsed().as_secs_f64(), ok)
            };
            let o = old.clone();
            let (old_rate, old_ok) = run(Arc::new(move |ip| o.allow(ip)));
            let n = new.clone();
            let (new_rate, new_ok) = run(Arc::new(move |ip| n.check(ip).is_ok()));
            println!(
                "{threads} thread(s): hand-written token bucket {:.1} M checks/s ({old_ok} allowed), governor {:.1} M checks/s ({new_ok} allowed)",
                old_rate / 1e6,
                new_rate / 1e6
            );
        }
    }
}
