//! Files and fallbacks: the built tracker (`/tracking.js`, `/clicktrail_full.<id>.js`, `/clicktrail_bg.<id>.wasm`, `/clicktrail_bg.wasm`; precompressed, docs/production.md "Edge"), the
//! dashboard, the demo site from `www/`, and the JSON 404 / 405 for everything else.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use super::error::AppError;
use crate::state::AppState;

type R = Result<Response, AppError>;

/// Cache lifetime of `tracking.js` and the hash-free `clicktrail_bg.wasm`: five minutes,
/// then revalidated by ETag (a new build reaches pages within five minutes).
const SHORT: &str = "public, max-age=300";
/// The content-hashed wasm: its name changes with its bytes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A file of the built tracker: tower-http's `ServeFile` with the `.br` / `.gz`
/// files `scripts/build.sh` writes beside it, chosen by `Accept-Encoding` (br, then gzip,
/// then the file itself; `Vary: Accept-Encoding`, `Content-Encoding`, `Content-Length`,
/// `ETag` / `Last-Modified` from the chosen file's size and mtime, `304` on
/// `If-None-Match`, ranges, HEAD). Added here: the Content-Type, CORS `*` (any page may load
/// it) and the cache lifetime.
async fn dist_file(
    st: &AppState,
    name: &str,
    content_type: &'static str,
    cache_control: &'static str,
    req: Request,
) -> R {
    let path = st.dist_dir.join(name);
    let not_built = || {
        AppError::not_found(
            "not_built",
            format!(
                "{} not found: run `npm run build` to build the tracker",
                path.display()
            ),
        )
    };
    // ServeFile answers a missing file with a bare 404: ours says what to do.
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(not_built());
    }
    let resp = tower_http::services::ServeFile::new(&path)
        .precompressed_br()
        .precompressed_gzip()
        .oneshot(req)
        .await
        .map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(not_built());
    }
    let mut resp = resp.map(Body::new);
    let h = resp.headers_mut();
    if h.contains_key(header::CONTENT_TYPE) {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    Ok(resp)
}

/// `GET /tracking.js`: short-lived (it names the wasm of its build).
pub async fn tracking_js(State(st): State<AppState>, req: Request) -> R {
    dist_file(
        &st,
        "tracking.js",
        "application/javascript; charset=utf-8",
        SHORT,
        req,
    )
    .await
}

/// `GET /clicktrail_bg.wasm`: the current build's wasm under its old, hash-free name
/// (merchants' existing preload tags); short-lived.
pub async fn tracking_wasm(State(st): State<AppState>, req: Request) -> R {
    dist_file(&st, "clicktrail_bg.wasm", "application/wasm", SHORT, req).await
}

/// `GET /clicktrail_bg.{id}.wasm`: the full module `clicktrail_full.<id>.js` fetches.
pub async fn tracking_wasm_hashed(st: State<AppState>, file: Path<String>, req: Request) -> R {
    hashed(st, "clicktrail_bg.", file, ".wasm", "application/wasm", req).await
}

/// `GET /clicktrail_full.{id}.js`: the full module's glue and start-up, added by `tracking.js`
/// after the cookie.
pub async fn tracking_full_js(st: State<AppState>, file: Path<String>, req: Request) -> R {
    let js = "application/javascript; charset=utf-8";
    hashed(st, "clicktrail_full.", file, ".js", js, req).await
}

/// A content-hashed file of the built tracker, `{prefix}{id}{suffix}`, cached for a year,
/// `immutable`. `{id}` is 8 lowercase hex digits; anything else is a 404.
async fn hashed(
    State(st): State<AppState>,
    prefix: &str,
    Path(file): Path<String>,
    suffix: &str,
    content_type: &'static str,
    req: Request,
) -> R {
    let valid = file.strip_suffix(suffix).is_some_and(|id| {
        id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !valid {
        return Err(AppError::not_found(
            "not_found",
            format!("no route for GET /{prefix}{file}"),
        ));
    }
    dist_file(
        &st,
        &format!("{prefix}{file}"),
        content_type,
        IMMUTABLE,
        req,
    )
    .await
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
