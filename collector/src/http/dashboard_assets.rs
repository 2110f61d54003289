//! The dashboard (`/dashboard`) and its own files (`/dashboard.js`, `/style.css`,
//! `/favicon.svg`). Each is read from the www folder when it is there (so the demo shop and a
//! checkout can change them without a rebuild) and otherwise served from the copy built into
//! the binary: a production collector installed as one file (systemd, no `www/` beside it)
//! still has its dashboard. Four fixed names, never a path from the request.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const PAGE: &[u8] = include_bytes!("../../../www/dashboard.html");
const SCRIPT: &[u8] = include_bytes!("../../../www/dashboard.js");
const STYLE: &[u8] = include_bytes!("../../../www/style.css");
const ICON: &[u8] = include_bytes!("../../../www/favicon.svg");

/// The page's body tag; on a `--demo` collector it gains `data-demo="1"`, which tells the
/// script that the public demo key exists here (no probing request on a production collector).
const BODY: &str = "<body data-page=\"dashboard\">";
const DEMO_BODY: &str = "<body data-page=\"dashboard\" data-demo=\"1\">";

async fn read(st: &AppState, name: &str, built_in: &'static [u8]) -> Vec<u8> {
    match tokio::fs::read(st.www_dir.join(name)).await {
        Ok(b) => b,
        Err(_) => built_in.to_vec(),
    }
}

/// The signed-in dashboard holds an admin key in session storage: only its own script may run
/// (an escaping slip cannot run an attacker's string), it talks to its own origin only, no
/// other site may frame it (the Pay and Disable buttons cannot be clickjacked), and nothing of
/// its URL leaves in a Referer. Scripts set widths through the CSSOM, which `style-src 'self'`
/// allows; `blob:` is the payout CSV the page itself makes.
const CSP: &str =
    "default-src 'none'; script-src 'self'; connect-src 'self' blob:; style-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub(crate) fn answer(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

/// `GET /dashboard`
pub async fn page(State(st): State<AppState>) -> Response {
    let mut html = read(&st, "dashboard.html", PAGE).await;
    if st.demo {
        let text = String::from_utf8_lossy(&html).replacen(BODY, DEMO_BODY, 1);
        html = text.into_bytes();
    }
    answer("text/html; charset=utf-8", html)
}

/// `GET /dashboard.js`
pub async fn script(State(st): State<AppState>) -> Response {
    answer(
        "text/javascript; charset=utf-8",
        read(&st, "dashboard.js", SCRIPT).await,
    )
}

/// `GET /style.css`
pub async fn style(State(st): State<AppState>) -> Response {
    answer(
        "text/css; charset=utf-8",
        read(&st, "style.css", STYLE).await,
    )
}

/// `GET /favicon.svg`
pub async fn favicon(State(st): State<AppState>) -> Response {
    answer("image/svg+xml", read(&st, "favicon.svg", ICON).await)
}
