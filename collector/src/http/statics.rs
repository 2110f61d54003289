//! Files and fallbacks: the built tracker (`/tracking.js`, `/clicktrail_bg.wasm`), the
//! dashboard, the demo site from `www/`, and the JSON 404 / 405 for everything else.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::Digest;
use tower::ServiceExt;

use super::error::AppError;
use crate::state::AppState;

type R = Result<Response, AppError>;

/// A file of the built tracker: right Content-Type, any page may load it (CORS `*`), cached
/// five minutes and revalidated by ETag.
async fn dist_file(
    st: &AppState,
    name: &str,
    content_type: &'static str,
    headers: &HeaderMap,
) -> R {
    let path = st.dist_dir.join(name);
    let Ok(bytes) = tokio::fs::read(&path).await else {
        return Err(AppError::not_found(
            "not_built",
            format!(
                "{} not found: run `npm run build` to build the tracker",
                path.display()
            ),
        ));
    };
    let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&bytes)[..12]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}

/// `GET /tracking.js`
pub async fn tracking_js(State(st): State<AppState>, headers: HeaderMap) -> R {
    dist_file(
        &st,
        "tracking.js",
        "application/javascript; charset=utf-8",
        &headers,
    )
    .await
}

/// `GET /clicktrail_bg.wasm`
pub async fn tracking_wasm(State(st): State<AppState>, headers: HeaderMap) -> R {
    dist_file(&st, "clicktrail_bg.wasm", "application/wasm", &headers).await
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// A known route with another method: a JSON 405.
pub async fn method_not_allowed(req: Request) -> AppError {
    AppError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.uri().path()
    ))
}

/// `GET /` when the demo pages are not served (`serve --config` without `--www`).
const HOME: &str = "<!doctype html>\n<meta charset=\"utf-8\">\n<title>clicktrail collector</title>\n<h1>clicktrail collector</h1>\n<p>Affiliate click tracking. Operators: <a href=\"/dashboard\">dashboard</a>.</p>\n";

/// Everything else: files from `www/` (GET/HEAD) when it is served (`--demo` or `--www`), else
/// a short page at `/`; a JSON 404 for the rest.
pub async fn www(State(st): State<AppState>, req: Request) -> R {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if method == Method::GET || method == Method::HEAD {
        if !st.serve_www {
            if path == "/" {
                return Ok(
                    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], HOME).into_response()
                );
            }
        } else {
            let resp = tower_http::services::ServeDir::new(&st.www_dir)
                .oneshot(req)
                .await
                .map_err(|e| AppError::Internal(format!("static files: {e}")))?;
            if resp.status() != StatusCode::NOT_FOUND {
                return Ok(resp.map(Body::new));
            }
        }
    }
    Err(AppError::not_found(
        "not_found",
        format!("no route for {method} {path}"),
    ))
}
