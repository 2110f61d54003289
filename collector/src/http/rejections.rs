//! Rejected tracker requests in the log: a site that is not tracked because its
//! origin is not allowed, its tenant or affiliate is unknown or a field is wrong shows up as a
//! `rejected tracker request` warning with the route, status, code, message and Origin, so an
//! operator sees why. Rate-limited per (route, status, code): the first one at once, then at
//! most one line per [`WINDOW`] carrying how many were suppressed, so a broken site cannot
//! flood the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::Rejection;

/// At most one line per key per window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Keys remembered at most (made-up routes or codes cannot grow the map without bound).
const MAX_KEYS: usize = 1024;

type Key = (String, u16, String);

#[derive(Default)]
pub struct RejectionLog {
    seen: Mutex<HashMap<Key, (Instant, u64)>>,
}

impl RejectionLog {
    pub fn new() -> Arc<RejectionLog> {
        Arc::new(RejectionLog::default())
    }

    /// `Some(suppressed since the last line)` when a line should be written now.
    pub fn admit(&self, key: Key, now: Instant) -> Option<u64> {
        let Ok(mut seen) = self.seen.lock() else {
            return Some(0);
        };
        if seen.len() >= MAX_KEYS && !seen.contains_key(&key) {
            seen.retain(|_, (at, _)| now.duration_since(*at) < WINDOW);
        }
        match seen.get_mut(&key) {
            Some((at, suppressed)) if now.duration_since(*at) < WINDOW => {
                *suppressed += 1;
                None
            }
            Some((at, suppressed)) => {
                let n = *suppressed;
                *at = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

/// Middleware for the browser routes. Each line written is also stored as a diagnostic of kind
/// `rejected` for the tenant the Host names (or the only tenant), so that the dashboard and
/// `GET /api/v1/events?kind=rejected` show it.
pub async fn log_rejected(
    State((log, st)): State<(Arc<RejectionLog>, crate::state::AppState)>,
    req: Request,
    next: Next,
) -> Response {
    let tenant = {
        let catalog = st.catalog.get();
        match super::tenant::host_tenant_id(&st, req.headers()) {
            Some(id) => catalog.tenant(&id).map(|t| t.id.clone()),
            None => match catalog.tenants.as_slice() {
                [only] => Some(only.id.clone()),
                _ => None,
            },
        }
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().chars().take(64).collect());
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(|o| o.chars().take(128).collect::<String>())
        .unwrap_or_default();
    let resp = next.run(req).await;
    let status = resp.status();
    if matches!(
        status,
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY
    ) {
        let (code, message) = resp
            .extensions()
            .get::<Rejection>()
            .map(|r| (r.code.clone(), r.message.clone()))
            .unwrap_or_default();
        if let Some(suppressed) = log.admit(
            (route.clone(), status.as_u16(), code.clone()),
            Instant::now(),
        ) {
            tracing::warn!(
                route = %route,
                status = status.as_u16(),
                code = %code,
                message = %message,
                origin = %origin,
                suppressed,
                "rejected tracker request"
            );
            if tenant.is_some() {
                let d = clicktrail_store::DiagnosticIn {
                    tenant,
                    event_id: None,
                    kind: Some("rejected".into()),
                    message: Some(format!(
                        "{} {route} {code}: {message}{}",
                        status.as_u16(),
                        if suppressed > 0 {
                            format!(" ({suppressed} more suppressed)")
                        } else {
                            String::new()
                        }
                    )),
                    url: (!origin.is_empty()).then(|| origin.clone()),
                    user_agent: None,
                    now: st.now(),
                };
                if let Err(e) = st.store.diagnostic(d).await {
                    tracing::warn!(error = %e, "could not store a rejected-request line");
                }
            }
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_key_per_window_with_the_count() {
        let log = RejectionLog::default();
        let t0 = Instant::now();
        let k = || {
            (
                "/tracking/click/v1".to_string(),
                404,
                "unknown_affiliate".to_string(),
            )
        };
        assert_eq!(log.admit(k(), t0), Some(0));
        for i in 1..=5 {
            assert_eq!(log.admit(k(), t0 + Duration::from_secs(i)), None);
        }
        // another code is another key
        let other = (
            "/tracking/click/v1".to_string(),
            403,
            "origin_not_allowed".to_string(),
        );
        assert_eq!(log.admit(other, t0), Some(0));
        assert_eq!(log.admit(k(), t0 + WINDOW), Some(5));
        assert_eq!(log.admit(k(), t0 + WINDOW + Duration::from_secs(1)), None);
    }
}
