//! Property tests (native) of the tracker's browser-free core: the click decisions
//! (`attribution::plan` + `attribution::settle`) against a model of the collector
//! (docs/wire.md click rules) under random click sequences and delivery orders, the
//! consent gate, and the outbox policy.
#![cfg(not(target_arch = "wasm32"))]

use clicktrail::attribution::{self, Answer, CookieOp, Model, Plan, Sent};
use clicktrail::consent::Gate;
use clicktrail::outbox::{self, Entry};
use proptest::prelude::*;
use std::collections::HashMap;

const LIFETIME: i64 = 60 * 86_400;
const NOW: i64 = 1_800_000_000;

/// The collector's click rules (docs/wire.md).
#[derive(Default)]
struct Collector {
    owners: HashMap<String, String>,
    next: u32,
}

impl Collector {
    fn click(&mut self, aff: &str, cid: &str) -> Answer {
        if aff == "bogus" {
            return Answer::UnknownAffiliate;
        }
        let cid = match self.owners.get(cid) {
            Some(owner) if owner != aff => {
                self.next += 1;
                format!("c-{}", self.next)
            }
            _ => cid.to_string(),
        };
        self.owners.insert(cid.clone(), aff.to_string());
        Answer::Ok {
            cid,
            expired_at: None,
        }
    }
}

/// A click request waiting in the outbox.
#[derive(Clone, Debug)]
struct Pending {
    created: u64,
    aff: String,
    cid: String,
    server_cookie: bool,
    fresh: bool,
}

/// The visitor's browser as the tracker sees it.
#[derive(Default)]
struct Visitor {
    cookie: Option<String>,
    /// (cid, aff) of the localStorage mirror.
    mirror: Option<(String, String)>,
    last_applied: u64,
    next: u32,
}

impl Visitor {
    /// The tracker's `click` for a landing with `aff` at time `t` (every landing URL is new).
    fn click(&mut self, model: Model, aff: &str, t: u64, first_party: bool) -> Pending {
        let cookie_aff = self
            .mirror
            .as_ref()
            .filter(|(c, _)| Some(c) == self.cookie.as_ref())
            .map(|(_, a)| a.as_str());
        let plan = attribution::plan(model, Some(aff), self.cookie.is_some(), cookie_aff, false);
        match plan {
            Plan::Repeat { .. } => Pending {
                created: t,
                aff: aff.into(),
                cid: self.cookie.clone().unwrap(),
                server_cookie: attribution::server_cookie(
                    first_party,
                    model,
                    &plan,
                    aff,
                    cookie_aff,
                ),
                fresh: false,
            },
            Plan::Fresh => {
                self.next += 1;
                let cid = format!("v-{}", self.next);
                self.cookie = Some(cid.clone());
                self.mirror = Some((cid.clone(), aff.into()));
                Pending {
                    created: t,
                    aff: aff.into(),
                    cid,
                    server_cookie: attribution::server_cookie(
                        first_party,
                        model,
                        &Plan::Fresh,
                        aff,
                        None,
                    ),
                    fresh: true,
                }
            }
            Plan::NoClick => unreachable!("every click here has a code and a new URL"),
        }
    }

    /// The tracker's `click_answer` (with the browser applying a first-party Set-Cookie first).
    fn answer(&mut self, model: Model, p: &Pending, answer: &Answer) {
        if let (true, Answer::Ok { cid, .. }) = (p.server_cookie, answer) {
            self.cookie = Some(cid.clone()); // Set-Cookie, before the script sees the answer
        }
        let held = if p.server_cookie {
            Some(
                self.mirror
                    .as_ref()
                    .map(|(c, _)| c.clone())
                    .unwrap_or_else(|| p.cid.clone()),
            )
        } else {
            self.cookie.clone()
        };
        let s = Sent {
            model,
            cid: &p.cid,
            fresh: p.fresh,
            latest: p.created >= self.last_applied,
            held: held.as_deref(),
            held_left: Some(LIFETIME),
            server_cookie: p.server_cookie,
        };
        let out = attribution::settle(&s, answer, None, NOW, LIFETIME);
        if out.applied {
            self.last_applied = p.created;
        }
        match out.cookie {
            CookieOp::None => {}
            CookieOp::Write(c, left) => {
                assert!(left > 0);
                self.cookie = Some(c);
            }
            CookieOp::Remove => self.cookie = None,
        }
        if out.drop_mirror && self.mirror.as_ref().is_some_and(|(c, _)| *c == p.cid) {
            self.mirror = None;
        }
        if let Some((cid, _)) = out.mirror {
            self.mirror = Some((cid, p.aff.clone()));
        }
    }
}

/// Clicks (affiliate index, 3 = an unknown code), how many pending clicks are delivered
/// after each one (in a random order), and whether the endpoint is first-party.
fn scenario() -> impl Strategy<Value = (Vec<(usize, usize)>, Vec<usize>, bool)> {
    (
        prop::collection::vec((0usize..4, 0usize..3), 1..7),
        prop::collection::vec(
            any::<prop::sample::Index>().prop_map(|i| i.index(1000)),
            0..20,
        ),
        any::<bool>(),
    )
        .prop_map(|(c, o, fp)| (c, o, fp))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Last-click model: once every click is delivered, the visitor's cookie is the CID
    /// the collector gave the latest click with a known affiliate, whatever the order in
    /// which the clicks reached the collector, in both modes (script / first-party cookie).
    #[test]
    fn the_latest_valid_click_wins_whatever_the_delivery_order(
        (clicks, order, first_party) in scenario()
    ) {
        const AFFS: [&str; 4] = ["alice", "bob", "carol", "bogus"];
        let mut col = Collector::default();
        let mut v = Visitor::default();
        let mut pending: Vec<Pending> = Vec::new();
        let mut picks = order.into_iter();
        let mut deliver = |v: &mut Visitor, pending: &mut Vec<Pending>, n: usize| {
            for _ in 0..n {
                if pending.is_empty() {
                    break;
                }
                let i = picks.next().unwrap_or(0) % pending.len();
                let p = pending.swap_remove(i);
                let a = col.click(&p.aff, &p.cid);
                v.answer(Model::Last, &p, &a);
            }
        };
        for (t, (aff, after)) in clicks.iter().enumerate() {
            let p = v.click(Model::Last, AFFS[*aff], t as u64 + 1, first_party);
            pending.push(p);
            deliver(&mut v, &mut pending, *after);
        }
        deliver(&mut v, &mut pending, usize::MAX);
        let latest_valid = clicks.iter().rev().map(|(a, _)| AFFS[*a]).find(|a| *a != "bogus");
        match latest_valid {
            Some(aff) => {
                let cid = v.cookie.clone();
                prop_assert!(cid.is_some(), "a valid click leaves a cookie");
                let owner = col.owners.get(cid.as_ref().unwrap()).map(String::as_str);
                prop_assert_eq!(owner, Some(aff), "cookie {:?}", cid);
            }
            None => prop_assert_eq!(v.cookie, None, "only unknown codes: no cookie"),
        }
    }

    /// Consent required: nothing runs before the grant; after it, everything held runs
    /// once, in order; a refusal keeps the commands held.
    #[test]
    fn consent_holds_then_releases_in_order(
        ops in prop::collection::vec(prop_oneof![
            (0u32..100).prop_map(Some),
            any::<bool>().prop_map(|g| if g { None } else { Some(u32::MAX) }),
        ], 0..40)
    ) {
        let mut gate = Gate::new(true);
        let mut ran: Vec<u32> = Vec::new();
        let mut submitted: Vec<u32> = Vec::new();
        let mut granted = false;
        for op in ops {
            match op {
                Some(u32::MAX) => { // refusal
                    prop_assert!(gate.decide(false).is_empty());
                    granted = false;
                }
                Some(job) => {
                    submitted.push(job);
                    if let Some(j) = gate.submit(job) {
                        prop_assert!(granted);
                        ran.push(j);
                    }
                }
                None => { // grant
                    ran.extend(gate.decide(true));
                    granted = true;
                }
            }
            if granted {
                prop_assert_eq!(&ran, &submitted, "all run, in order, once");
            } else {
                prop_assert!(ran.len() <= submitted.len());
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The outbox never holds more than 100 events or events older than 7 days, keeps
    /// ids unique, and a failed event keeps its body (same eventId on every attempt) with
    /// a growing delay.
    #[test]
    fn outbox_caps_and_retries(
        ops in prop::collection::vec((0u8..3, 0u64..150, 0u64..(10 * 86_400_000)), 0..150)
    ) {
        let mut v: Vec<Entry> = Vec::new();
        let mut now = 1_000_000_000_000u64;
        for (kind, id, dt) in ops {
            now += dt / 1000;
            let id = format!("e{id}");
            match kind {
                0 => outbox::put(&mut v, Entry {
                    id: id.clone(), path: "/tracking/click/v1".into(),
                    body: format!("{{\"eventId\":\"{id}\"}}"), created: now, attempts: 0, next: now, fresh: id.len().is_multiple_of(2),
                }, now),
                1 => {
                    let before = v.iter().find(|e| e.id == id).cloned();
                    outbox::failed(&mut v, &id, now);
                    if let Some(b) = before {
                        let after = v.iter().find(|e| e.id == id).unwrap();
                        prop_assert_eq!(&after.body, &b.body);
                        prop_assert_eq!(after.attempts, b.attempts.saturating_add(1));
                        prop_assert!(after.next >= now + outbox::backoff_ms(b.attempts));
                        prop_assert!(!outbox::due(&v, now).contains(&id));
                    }
                }
                _ => outbox::prune(&mut v, now),
            }
            prop_assert!(v.len() <= outbox::MAX_EVENTS);
            let mut ids: Vec<&str> = v.iter().map(|e| e.id.as_str()).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), v.len());
        }
        prop_assert_eq!(outbox::decode(&outbox::encode(&v)), v.clone());
        outbox::prune(&mut v, now);
        prop_assert!(v.iter().all(|e| now - e.created <= outbox::MAX_AGE_MS));
    }
}
