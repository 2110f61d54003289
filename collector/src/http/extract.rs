//! The one body extractor, [`JsonBody`]: JSON whatever the Content-Type (the tracker sends
//! `text/plain` to avoid a CORS preflight), at most the server's body limit (413), a syntax
//! error is a 400 that says where (line and column), a wrong field a 422 that names its path.

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request};
use serde::de::{DeserializeOwned, IgnoredAny};

use super::error::AppError;
use crate::state::AppState;

/// A request body deserialized into `T` (see the module doc for the errors).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let limit = AppState::from_ref(state).server.body_limit_bytes;
        let bytes = read_body(req.into_body(), limit).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Reads the whole body (any Content-Type) up to `limit` bytes; more is a 413 (the rest is
/// drained first, see `crate::body`).
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, AppError> {
    crate::body::read_limited(body, limit)
        .await
        .map_err(|e| match e {
            crate::body::BodyError::TooLarge(limit) => AppError::PayloadTooLarge(limit),
            crate::body::BodyError::Read(e) => {
                AppError::bad_request("bad_body", format!("could not read the request body: {e}"))
            }
        })
}

/// Deserializes a JSON object into `T`: 400 `malformed_json` (with the position) for what is not
/// JSON or not an object, 422 naming the field path for a field `T` refuses.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // a struct would also deserialize from an array: only an object is a request
        syntax_check(bytes)?;
        return Err(AppError::bad_request(
            "malformed_json",
            "the body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            de.end().map_err(|e| malformed(&e))?;
            Ok(v)
        }
        Err(e) => {
            if e.inner().is_data() {
                // a malformed body is a 400 even when a field before the break was wrong
                syntax_check(bytes)?;
                Err(field_error(&e))
            } else {
                Err(malformed(e.inner()))
            }
        }
    }
}

fn syntax_check(bytes: &[u8]) -> Result<(), AppError> {
    serde_json::from_slice::<IgnoredAny>(bytes)
        .map(|_| ())
        .map_err(|e| malformed(&e))
}

fn malformed(e: &serde_json::Error) -> AppError {
    AppError::bad_request(
        "malformed_json",
        format!(
            "malformed JSON at line {}, column {}: {}",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ),
    )
}

/// The 422 for a data error: the field is the path serde was at; a missing field is named by
/// serde's message (the path is then its parent).
fn field_error(e: &serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = e.path().to_string();
    let msg = strip_position(&e.inner().to_string());
    if let Some(name) = msg
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let field = if path == "." {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        return AppError::invalid(&field, "is required");
    }
    let field = if path == "." { "body" } else { path.as_str() };
    AppError::invalid(field, humanize(&msg))
}

/// serde's `invalid type: integer `5`, expected a string` as `must be a string (got integer `5`)`.
fn humanize(msg: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((got, expected)) = msg
            .strip_prefix(prefix)
            .and_then(|m| m.split_once(", expected "))
        {
            return format!("must be {expected} (got {got})");
        }
    }
    msg.to_string()
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Req {
        aff: String,
        #[serde(default)]
        n: Option<u32>,
        #[serde(default)]
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        x: bool,
    }

    fn err(body: &str) -> AppError {
        parse_json::<Req>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn syntax_errors_are_400_with_position() {
        let e = err("{\n  \"aff\": \"a\"\n  \"n\": 1\n}");
        assert_eq!(e.code(), "malformed_json");
        assert!(e.message().contains("line 3, column 3"), "{}", e.message());
        for body in [
            "",
            "[1,2]",
            "\"x\"",
            "{\"aff\":\"a\"} trailing",
            "{\"aff\":",
        ] {
            let e = err(body);
            assert_eq!(e.status().as_u16(), 400, "{body}: {e}");
            assert_eq!(e.code(), "malformed_json", "{body}");
        }
        assert!(err("[1,2]").message().contains("must be a JSON object"));
        // a wrong field before the syntax error: still the 400
        assert_eq!(err("{\"n\": \"x\", ").status().as_u16(), 400);
    }

    #[test]
    fn field_errors_are_422_naming_the_path() {
        let e = err(r#"{"n": 1}"#);
        assert_eq!(e, AppError::invalid("aff", "is required"));
        let e = err(r#"{"aff": 5}"#);
        assert_eq!(
            e,
            AppError::invalid("aff", "must be a string (got integer `5`)")
        );
        let e = err(r#"{"aff": "a", "inner": {}}"#);
        assert_eq!(e, AppError::invalid("inner.x", "is required"));
        let e = err(r#"{"aff": "a", "inner": {"x": "yes"}}"#);
        assert_eq!(e.status().as_u16(), 422);
        assert_eq!(e.body()["error"]["field"], "inner.x");
        assert!(
            e.message().starts_with("`inner.x`: must be a boolean"),
            "{}",
            e.message()
        );
        // unknown fields are ignored (the tracker may send more than this version reads)
        assert!(parse_json::<Req>(br#"{"aff":"a","v":2}"#).is_ok());
    }
}
