//! The dashboard's own files (`/dashboard.js`, `/style.css`, `/favicon.svg`), served from the
//! www folder also when the rest of `www/` is not (`serve --config` without `--www`): the
//! dashboard page (`/dashboard`) works in production, not only beside the demo shop. Three
//! fixed names, never a path from the request.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use crate::state::AppState;

async fn file(
    st: &AppState,
    name: &'static str,
    content_type: &'static str,
) -> Result<Response, AppError> {
    let path = st.www_dir.join(name);
    match tokio::fs::read(&path).await {
        Ok(b) => Ok((
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            b,
        )
            .into_response()),
        Err(_) => Err(AppError::not_found(
            "not_found",
            format!("{name} not found"),
        )),
    }
}

/// `GET /dashboard.js`
pub async fn script(State(st): State<AppState>) -> Result<Response, AppError> {
    file(&st, "dashboard.js", "text/javascript; charset=utf-8").await
}

/// `GET /style.css`
pub async fn style(State(st): State<AppState>) -> Result<Response, AppError> {
    file(&st, "style.css", "text/css; charset=utf-8").await
}

/// `GET /favicon.svg`
pub async fn favicon(State(st): State<AppState>) -> Result<Response, AppError> {
    file(&st, "favicon.svg", "image/svg+xml").await
}
