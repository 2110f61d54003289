//! One answer per event id: a browser event sent again (a retry, a second tab) gets the
//! answer of the first one (domain `dedupe::repeat`); an id used for another kind of event is a
//! 409 `event_id_reused`.

use clicktrail_domain::dedupe::{repeat, Repeat};
use clicktrail_store::{StoreError, StoreResult};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ops::OpsRows;

/// An event as its id is kept: `(tenant, id)` answered once for `kind`.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub kind: &'static str,
    pub tenant: &'a str,
    /// No id: the event is not deduplicated.
    pub id: Option<&'a str>,
    pub now: i64,
}

/// Runs `work` once per event id; a repeat gets the stored answer of the first one. The id
/// is claimed before `work`'s first write, and the answer stored in the same transaction.
pub async fn once<R: OpsRows, T: Serialize + DeserializeOwned>(
    rows: &mut R,
    e: Event<'_>,
    work: impl AsyncFnOnce(&mut R) -> Result<T, R::Error>,
) -> Result<T, R::Error> {
    if let Some(id) = e.id {
        if let Some((kind, body)) = rows.claim_event(e.tenant, id, e.kind, e.now).await? {
            return Ok(replay(id, &kind, body.as_deref(), e.kind)?);
        }
    }
    let out = work(rows).await?;
    if let Some(id) = e.id {
        let body = serde_json::to_string(&out).map_err(|e| StoreError::Internal(e.to_string()))?;
        rows.remember_event(e.tenant, id, e.kind, &body, e.now)
            .await?;
    }
    Ok(out)
}

/// What a repeat of `event_id` gets: the first answer (`body`), or a 409 when the id was
/// used for another kind of event (or its answer is unreadable).
pub fn replay<T: DeserializeOwned>(
    event_id: &str,
    prior_kind: &str,
    body: Option<&str>,
    kind: &str,
) -> StoreResult<T> {
    match repeat(prior_kind, kind) {
        Repeat::Replay => body
            .and_then(|b| serde_json::from_str(b).ok())
            .ok_or_else(|| event_id_reused(event_id, prior_kind)),
        Repeat::Reused { .. } => Err(event_id_reused(event_id, prior_kind)),
    }
}

/// 409 `event_id_reused` (the same words on every backend).
pub fn event_id_reused(event_id: &str, prior_kind: &str) -> StoreError {
    StoreError::Conflict(
        "event_id_reused",
        format!("eventId `{event_id}` was already used for a {prior_kind} event"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clicktrail_store::OkOut;

    #[test]
    fn a_repeat_is_the_first_answer_and_another_kind_a_409() {
        let ok: OkOut = replay("e1", "lead", Some(r#"{"ok":true}"#), "lead").unwrap();
        assert!(ok.ok);
        let other = replay::<OkOut>("e1", "click", Some(r#"{"ok":true}"#), "lead").unwrap_err();
        assert_eq!(
            other,
            StoreError::Conflict(
                "event_id_reused",
                "eventId `e1` was already used for a click event".into()
            )
        );
        // an unanswered claim (a transaction that rolled back its answer) is not replayed
        assert!(replay::<OkOut>("e1", "lead", None, "lead").is_err());
    }
}
