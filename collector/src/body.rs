//! Reading a request body with a size limit, politely.
//!
//! A client that writes its whole (too large) body before reading must still get the 413: if the
//! server answered and closed with unread bytes in its receive buffer, the kernel would reset the
//! connection and the client would see a reset instead of the answer. So the rest of an
//! oversized body is read and dropped, up to [`DRAIN_MAX`] bytes or [`DRAIN_FOR`], before the
//! 413 goes out (with `Connection: close`).

use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;

/// Most bytes read and dropped after the limit.
pub const DRAIN_MAX: usize = 8 * 1024 * 1024;
/// Longest time spent draining.
pub const DRAIN_FOR: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum BodyError {
    /// Larger than the limit (the rest was drained).
    TooLarge(usize),
    /// The client or the connection failed while sending.
    Read(String),
}

pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            drain(body).await;
            return Err(BodyError::TooLarge(limit));
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

async fn drain(mut body: Body) {
    let work = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(d) = frame.into_data() {
                seen += d.len();
                if seen > DRAIN_MAX {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_FOR, work).await;
}
