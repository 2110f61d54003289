//! The one error type of the HTTP layer: `{"error":{"code","message"}}` with the right status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    /// 400: the body is not JSON (message says where it broke) or a request is otherwise unusable.
    BadRequest { code: &'static str, message: String },
    /// 401: missing or wrong API key.
    Unauthorized(String),
    /// 403: the page's Origin is not allowed for this tenant, or a valid API key lacks the
    /// scope the route needs (`insufficient_scope`).
    Forbidden { code: &'static str, message: String },
    /// 404: unknown tenant / affiliate / CID / conversion type / route.
    NotFound { code: &'static str, message: String },
    /// 405: a known route with another method (the message names both).
    MethodNotAllowed(String),
    /// 409: a duplicate (transaction_id, externalId).
    Conflict { code: &'static str, message: String },
    /// 413: body larger than the limit.
    PayloadTooLarge(usize),
    /// 422: a field is missing or wrong (the message names it).
    Invalid { field: String, message: String },
    /// 429: per-IP rate limit; `Retry-After` says when (seconds, at least 1).
    RateLimited { retry_after_secs: u64 },
    /// 503: the request took longer than the server's request timeout (the client retries;
    /// event ids make the retry safe).
    Timeout,
    /// 500: storage failure and the like (details are logged, not returned).
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        AppError::NotFound {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Forbidden {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            AppError::BadRequest { code, .. }
            | AppError::Forbidden { code, .. }
            | AppError::NotFound { code, .. }
            | AppError::Conflict { code, .. } => code,
            AppError::Unauthorized(_) => "unauthorized",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::Invalid { .. } => "invalid_field",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Timeout => "timeout",
            AppError::Internal(_) => "internal_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AppError::BadRequest { message, .. }
            | AppError::Forbidden { message, .. }
            | AppError::NotFound { message, .. }
            | AppError::Conflict { message, .. } => message.clone(),
            AppError::Unauthorized(m) | AppError::MethodNotAllowed(m) => m.clone(),
            AppError::PayloadTooLarge(limit) => {
                format!("request body is larger than {limit} bytes")
            }
            AppError::Invalid { field, message } => format!("`{field}`: {message}"),
            AppError::RateLimited { .. } => {
                "too many requests from this address; retry later".into()
            }
            AppError::Timeout => "the request took too long; retry later".into(),
            AppError::Internal(_) => "internal error; the request was not stored".into(),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut err = serde_json::json!({"code": self.code(), "message": self.message()});
        if let AppError::Invalid { field, .. } = self {
            err["field"] = serde_json::Value::String(field.clone());
        }
        serde_json::json!({ "error": err })
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.code(),
            self.message()
        )
    }
}

impl std::error::Error for AppError {}

/// The error an `AppError` answered with, attached to its response for the rejected-request
/// log (`http::rejections` reads it; defined here so that this leaf imports nothing of `http`).
#[derive(Debug, Clone)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            tracing::error!(detail = %detail, "internal error");
        }
        let mut resp = (self.status(), axum::Json(self.body())).into_response();
        if self.status().is_client_error() {
            // for the rejected-request log of the browser routes (http::rejections)
            resp.extensions_mut().insert(Rejection {
                code: self.code().to_string(),
                message: self.message(),
            });
        }
        if matches!(self, AppError::PayloadTooLarge(_)) {
            // the rest of the body was drained; the connection is not reused
            resp.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        if let AppError::RateLimited { retry_after_secs } = self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        resp
    }
}

impl From<clicktrail_store::StoreError> for AppError {
    fn from(e: clicktrail_store::StoreError) -> Self {
        use clicktrail_store::StoreError as S;
        match e {
            S::NotFound(code, m) => AppError::NotFound { code, message: m },
            S::Conflict(code, m) => AppError::Conflict { code, message: m },
            S::Invalid(field, m) => AppError::Invalid { field, message: m },
            S::Internal(m) => AppError::Internal(m),
            S::Rows(rows) => AppError::invalid(
                "rows",
                rows.iter()
                    .map(|(l, m)| format!("line {l}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}
