//! Outbox policy: what is kept, for how long, and when it is retried.
//! Stored in localStorage `clicktrail_outbox` as a JSON array.

use crate::json::{self, Obj, Out, Value};
use alloc::string::String;
use alloc::vec::Vec;

pub const KEY: &str = "clicktrail_outbox";
pub const MAX_EVENTS: usize = 100;
pub const MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;
const BASE_MS: u64 = 2_000;
const CAP_MS: u64 = 5 * 60 * 1000;

/// One event waiting for the collector's acknowledgement. (`S`: `&str` in the click module,
/// which has no allocator.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<S = String> {
    /// The body's `eventId`.
    pub id: S,
    /// Route, e.g. `/tracking/click/v1`.
    pub path: S,
    /// JSON body, sent as is on every attempt.
    pub body: S,
    /// Created (ms since the epoch).
    pub created: u64,
    pub attempts: u32,
    /// Not before (ms since the epoch).
    pub next: u64,
    /// A click that generated its CID (a fresh visit): only such a click may remove the
    /// cookie when its affiliate turns out unknown. Stored as `"f":1`.
    pub fresh: bool,
}

/// Delay before retry number `attempts` (1 = first retry): 2 s, 4 s, 8 s … capped at 5 min.
pub fn backoff_ms(attempts: u32) -> u64 {
    let shift = attempts.saturating_sub(1).min(20);
    (BASE_MS << shift).min(CAP_MS)
}

/// Drops events older than 7 days (or from the future, clock skew > 1 day), then the
/// oldest beyond 100.
pub fn prune(entries: &mut Vec<Entry>, now: u64) {
    entries
        .retain(|e| now.saturating_sub(e.created) <= MAX_AGE_MS && e.created <= now + 86_400_000);
    while entries.len() > MAX_EVENTS {
        // drop the oldest (no sort, no `remove(i)`: their panic paths cost wasm bytes)
        let Some(oldest) = entries
            .iter()
            .min_by_key(|e| e.created)
            .map(|e| e.id.clone())
        else {
            break;
        };
        entries.retain(|e| e.id != oldest);
    }
}

/// Adds (or replaces, same id) an entry and applies the caps.
pub fn put(entries: &mut Vec<Entry>, e: Entry, now: u64) {
    entries.retain(|x| x.id != e.id);
    entries.push(e);
    prune(entries, now);
}

/// Records a failed attempt: schedules the next one.
pub fn failed(entries: &mut [Entry], id: &str, now: u64) {
    if let Some(e) = entries.iter_mut().find(|e| e.id == id) {
        e.attempts = e.attempts.saturating_add(1);
        e.next = now + backoff_ms(e.attempts);
    }
}

/// Ids of entries whose retry time has come.
pub fn due(entries: &[Entry], now: u64) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.next <= now)
        .map(|e| e.id.clone())
        .collect()
}

/// Earliest retry time.
pub fn next_time(entries: &[Entry]) -> Option<u64> {
    entries.iter().map(|e| e.next).min()
}

pub fn encode(entries: &[Entry]) -> String {
    let mut s = String::from("[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_entry(&mut s, e);
    }
    s.push(']');
    s
}

/// One entry as stored (an element of [`encode`]'s array), appended to `out`.
#[inline(always)]
pub fn push_entry<S: AsRef<str>>(out: &mut (impl Out + ?Sized), e: &Entry<S>) {
    Obj::on(out)
        .s("i", e.id.as_ref())
        .s("p", e.path.as_ref())
        .s("b", e.body.as_ref())
        .n("t", e.created)
        .n("n", u64::from(e.attempts))
        .n("a", e.next)
        .raw("f", if e.fresh { "1" } else { "0" })
        .end();
}

/// Reads the stored list; malformed entries (or a malformed list) are skipped.
pub fn decode(s: &str) -> Vec<Entry> {
    let Some(Value::Arr(items)) = json::parse(s) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|v| {
            let path = v.str_of("p")?;
            if !path.starts_with("/tracking/") {
                return None;
            }
            Some(Entry {
                id: v.str_of("i")?.into(),
                path: path.into(),
                body: v.str_of("b")?.into(),
                created: v.get("t")?.as_u64()?,
                attempts: u32::try_from(v.get("n")?.as_u64()?).ok()?,
                next: v.get("a")?.as_u64()?,
                fresh: v.get("f").and_then(Value::as_u64) == Some(1),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::{format, vec};

    fn e(id: &str, created: u64) -> Entry {
        Entry {
            id: id.into(),
            path: "/tracking/click/v1".into(),
            body: "{\"a\":\"\\\"x\"}".into(),
            created,
            attempts: 0,
            next: created,
            fresh: created.is_multiple_of(2),
        }
    }

    #[test]
    fn backoff_schedule() {
        assert_eq!(backoff_ms(0), 2_000);
        assert_eq!(backoff_ms(1), 2_000);
        assert_eq!(backoff_ms(2), 4_000);
        assert_eq!(backoff_ms(3), 8_000);
        assert_eq!(backoff_ms(8), 256_000);
        assert_eq!(backoff_ms(9), 300_000);
        assert_eq!(backoff_ms(u32::MAX), 300_000);
    }

    #[test]
    fn caps_and_ages() {
        let now = 10 * MAX_AGE_MS;
        let mut v = Vec::new();
        for i in 0..150u64 {
            put(&mut v, e(&i.to_string(), now - 1000 + i), now);
        }
        assert_eq!(v.len(), MAX_EVENTS);
        assert_eq!(v[0].id, "50");
        put(&mut v, e("old", now - MAX_AGE_MS - 1), now);
        assert!(v.iter().all(|x| x.id != "old"));
        put(&mut v, e("future", now + 2 * 86_400_000), now);
        assert!(v.iter().all(|x| x.id != "future"));
        put(&mut v, e("149", now), now);
        assert_eq!(v.iter().filter(|x| x.id == "149").count(), 1);
    }

    #[test]
    fn retries() {
        let mut v = vec![e("a", 100), e("b", 100)];
        failed(&mut v, "a", 1000);
        assert_eq!(v[0].attempts, 1);
        assert_eq!(v[0].next, 3000);
        assert_eq!(due(&v, 1000), vec!["b".to_string()]);
        assert_eq!(due(&v, 3000).len(), 2);
        assert_eq!(next_time(&v), Some(100));
        failed(&mut v, "zz", 1000);
    }

    #[test]
    fn round_trip() {
        let v = vec![e("a", 1), e("b", 2)];
        assert_eq!(decode(&encode(&v)), v);
        assert!(decode("garbage").is_empty());
        assert!(decode("{}").is_empty());
        let mixed = format!(
            "[1,{{\"i\":\"x\"}},{}]",
            &encode(&v)[1..encode(&v).len() - 1]
        );
        assert_eq!(decode(&mixed).len(), 2);
        assert!(decode(
            "[{\"i\":\"x\",\"p\":\"https://evil/\",\"b\":\"\",\"t\":1,\"n\":0,\"a\":1}]"
        )
        .is_empty());
    }
}
