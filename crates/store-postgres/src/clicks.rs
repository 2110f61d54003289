//! Batched click writes: the throughput path.
//!
//! [`WRITERS`] writer task(s) share one queue. A writer takes every pending click (up to
//! [`MAX_BATCH`]; whatever arrived, it never waits to fill a batch) and writes them as ONE
//! transaction of set-based statements (`unnest` arrays):
//!
//! 1. claim the batch's event ids (`INSERT INTO events ... ON CONFLICT DO NOTHING RETURNING`)
//!    and, pipelined with it, read the proposed CIDs;
//! 2. replay the ids another transaction claimed first (their committed answers; a claim
//!    waits on the primary key while another collector's transaction holds the same id);
//! 3. decide every remaining click in Rust with the domain's `decide_click`, in arrival order
//!    (a later click of the batch sees the CIDs of the earlier ones);
//! 4. insert the new proposed CIDs `ON CONFLICT DO NOTHING`: a CID another collector inserted
//!    meanwhile is re-read and the batch re-decided (never an error);
//! 5. pipelined: insert generated CIDs, refresh expiries, insert the clicks, store the answers;
//! 6. COMMIT (durable: `synchronous_commit` stays on), then answer each click.
//!
//! A duplicate event id inside one batch gets the answer of its first occurrence. If a batch
//! fails as a whole (after retrying deadlocks), its clicks are written one by one so that one
//! bad click cannot fail the others.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktrail_domain::attribution::{decide_click, rfc3339, CidRecord, ClickDecision};
use clicktrail_domain::dedupe::EVENT_RETENTION_SECS;
use clicktrail_store::{ClickIn, ClickOut, StoreError, StoreResult};
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::ops::{exec, q, replay, Tx};
use crate::{retry, Fail, Stats};

/// Most clicks written by one transaction.
pub const MAX_BATCH: usize = 512;
/// Writer tasks per store (`CLICKTRAIL_PG_CLICK_WRITERS` overrides it, 1..=8). One: while it
/// waits for its commit, the next clicks queue up and form the next (larger) batch; on a
/// saturated 2-core machine fewer, larger transactions measured as fast as 2 or 3 writers
/// with half the commits (see README).
pub const WRITERS: usize = 1;
/// Old event ids are deleted this often (by the first writer).
const PRUNE_EVERY: Duration = Duration::from_secs(600);

pub(crate) struct ClickJob {
    pub click: ClickIn,
    pub reply: oneshot::Sender<StoreResult<ClickOut>>,
}

type Key = (String, String);

pub(crate) fn start(pool: Pool, stats: Arc<Stats>) -> mpsc::Sender<ClickJob> {
    let (tx, rx) = mpsc::channel(65_536);
    let rx = Arc::new(Mutex::new(rx));
    let writers = std::env::var("CLICKTRAIL_PG_CLICK_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| (1..=8).contains(n))
        .unwrap_or(WRITERS);
    for n in 0..writers {
        tokio::spawn(writer(n, pool.clone(), rx.clone(), stats.clone()));
    }
    tx
}

async fn writer(n: usize, pool: Pool, rx: Arc<Mutex<mpsc::Receiver<ClickJob>>>, stats: Arc<Stats>) {
    let mut batch: Vec<ClickJob> = Vec::with_capacity(MAX_BATCH);
    let mut last_prune = Instant::now();
    loop {
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(j) => batch.push(j),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => batch.push(j),
                    Err(_) => break,
                }
            }
        }
        let results = write_all(&pool, &batch, &stats).await;
        for (job, r) in batch.drain(..).zip(results) {
            let _ = job.reply.send(r);
        }
        if n == 0 && last_prune.elapsed() > PRUNE_EVERY {
            last_prune = Instant::now();
            prune(&pool).await;
        }
    }
}

async fn prune(pool: &Pool) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let cutoff = now - EVENT_RETENTION_SECS;
    let r = async {
        let client = pool.get().await.map_err(Fail::from)?;
        let st = client
            .prepare_cached("DELETE FROM events WHERE created_at < $1")
            .await?;
        client.execute(&st, &[&cutoff]).await?;
        Ok::<(), Fail>(())
    }
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e.into_store(), "pruning old event ids failed");
    }
}

/// A field PostgreSQL cannot store (text never holds NUL): that click alone is refused.
fn unstorable(c: &ClickIn) -> Option<StoreError> {
    let fields = [
        ("tenantId", Some(c.tenant.as_str())),
        ("eventId", c.event_id.as_deref()),
        ("aff", Some(c.affiliate.as_str())),
        ("url", c.url.as_deref()),
        ("referrer", c.referrer.as_deref()),
    ];
    fields.iter().find_map(|(name, v)| {
        v.filter(|s| s.contains('\0')).map(|_| {
            StoreError::Invalid(
                (*name).to_string(),
                "must not contain a NUL character".into(),
            )
        })
    })
}

/// Writes `jobs` (one transaction if possible) and returns one answer per job, in order.
async fn write_all(pool: &Pool, jobs: &[ClickJob], stats: &Stats) -> Vec<StoreResult<ClickOut>> {
    let mut results: Vec<Option<StoreResult<ClickOut>>> =
        jobs.iter().map(|j| unstorable(&j.click).map(Err)).collect();
    let (idx, clicks): (Vec<usize>, Vec<&ClickIn>) = jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| results[*i].is_none())
        .map(|(i, j)| (i, &j.click))
        .unzip();
    if !clicks.is_empty() {
        match retry(|| write_batch(pool, &clicks)).await {
            Ok(outs) => {
                stats.record(clicks.len() as u64);
                for (i, r) in idx.iter().zip(outs) {
                    results[*i] = Some(r);
                }
            }
            Err(e) if clicks.len() > 1 => {
                tracing::warn!(error = %e, clicks = clicks.len(), "a click batch failed: writing its clicks one by one");
                for (i, c) in idx.iter().zip(&clicks) {
                    let one = std::slice::from_ref(c);
                    results[*i] = Some(match retry(|| write_batch(pool, one)).await {
                        Ok(mut v) => {
                            stats.record(1);
                            v.pop().unwrap_or_else(|| {
                                Err(StoreError::Internal("click batch lost an answer".into()))
                            })
                        }
                        Err(e) => Err(e),
                    });
                }
            }
            Err(e) => {
                for i in &idx {
                    results[*i] = Some(Err(e.clone()));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StoreError::Internal("click not written".into()))))
        .collect()
}

/// A CID this batch creates.
struct NewRow {
    affiliate: String,
    created_at: i64,
    expires_at: i64,
    /// The tracker's proposal, taken as it is (may race with another collector), as opposed
    /// to a freshly generated one.
    proposed: bool,
}

/// What the domain decided for the batch's clicks.
struct Plan {
    /// (index into the batch, decision), in arrival order.
    decisions: Vec<(usize, ClickDecision)>,
    new_rows: BTreeMap<Key, NewRow>,
    /// Existing CIDs refreshed: their final expiry.
    refresh: BTreeMap<Key, i64>,
}

fn key(tenant: &str, cid: &str) -> Key {
    (tenant.to_string(), cid.to_string())
}

/// Decides `active` clicks in order over the stored CIDs `records`; later clicks of the batch
/// see what earlier ones created or refreshed.
fn decide(clicks: &[&ClickIn], active: &[usize], records: &HashMap<Key, CidRecord>) -> Plan {
    let mut seen: HashMap<Key, CidRecord> = HashMap::new();
    let mut plan = Plan {
        decisions: Vec::with_capacity(active.len()),
        new_rows: BTreeMap::new(),
        refresh: BTreeMap::new(),
    };
    for &i in active {
        let c = clicks[i];
        let existing = c.cid.as_ref().and_then(|p| {
            let k = key(&c.tenant, p.as_str());
            seen.get(&k).or_else(|| records.get(&k)).cloned()
        });
        let d = decide_click(
            c.cid.as_ref(),
            existing.as_ref(),
            &c.affiliate,
            c.now,
            c.cookie_secs,
        );
        let k = key(&c.tenant, d.cid().as_str());
        let expires_at = d.expires_at();
        match &d {
            ClickDecision::Refresh { .. } => match plan.new_rows.get_mut(&k) {
                Some(row) => row.expires_at = expires_at,
                None => {
                    plan.refresh.insert(k.clone(), expires_at);
                }
            },
            ClickDecision::New { cid, .. } => {
                plan.new_rows.insert(
                    k.clone(),
                    NewRow {
                        affiliate: c.affiliate.clone(),
                        created_at: c.now,
                        expires_at,
                        proposed: c.cid.as_ref() == Some(cid),
                    },
                );
            }
        }
        seen.insert(
            k,
            CidRecord {
                affiliate: c.affiliate.clone(),
                expires_at,
            },
        );
        plan.decisions.push((i, d));
    }
    plan
}

async fn read_cids(tx: &Tx<'_>, keys: &[(&str, &str)]) -> Result<HashMap<Key, CidRecord>, Fail> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (t, c): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
    let rows = q(
        tx,
        "SELECT u.t, u.c, x.affiliate, x.expires_at FROM unnest($1::text[], $2::text[]) AS u(t, c)
         CROSS JOIN LATERAL (SELECT affiliate, expires_at FROM cids
                             WHERE tenant = u.t AND cid = u.c LIMIT 1) x",
        &[&t, &c],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                (r.get(0), r.get(1)),
                CidRecord {
                    affiliate: r.get(2),
                    expires_at: r.get(3),
                },
            )
        })
        .collect())
}

/// Claims event ids with their answers (sorted, so that concurrent batches lock them in one
/// order); the ids this transaction now holds. A claim waits while another transaction holds
/// the same id, and finds it taken once that one commits.
async fn claim_events(
    tx: &Tx<'_>,
    claims: &[(&str, &str, i64, String)],
) -> Result<HashSet<Key>, Fail> {
    if claims.is_empty() {
        return Ok(HashSet::new());
    }
    let t: Vec<&str> = claims.iter().map(|c| c.0).collect();
    let e: Vec<&str> = claims.iter().map(|c| c.1).collect();
    let n: Vec<i64> = claims.iter().map(|c| c.2).collect();
    let b: Vec<&str> = claims.iter().map(|c| c.3.as_str()).collect();
    let rows = q(
        tx,
        "INSERT INTO events (tenant, event_id, kind, body, created_at)
         SELECT t, e, 'click', b, n
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS u(t, e, n, b)
         ON CONFLICT DO NOTHING RETURNING tenant, event_id",
        &[&t, &e, &n, &b],
    )
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Inserts CIDs (sorted by key) unless they exist; the keys inserted.
async fn insert_cids(tx: &Tx<'_>, rows: &[(&Key, &NewRow)]) -> Result<HashSet<Key>, Fail> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let t: Vec<&str> = rows.iter().map(|(k, _)| k.0.as_str()).collect();
    let c: Vec<&str> = rows.iter().map(|(k, _)| k.1.as_str()).collect();
    let a: Vec<&str> = rows.iter().map(|(_, r)| r.affiliate.as_str()).collect();
    let created: Vec<i64> = rows.iter().map(|(_, r)| r.created_at).collect();
    let expires: Vec<i64> = rows.iter().map(|(_, r)| r.expires_at).collect();
    let got = q(
        tx,
        "INSERT INTO cids (tenant, cid, affiliate, created_at, expires_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
         ON CONFLICT DO NOTHING RETURNING tenant, cid",
        &[&t, &c, &a, &created, &expires],
    )
    .await?;
    Ok(got.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn insert_generated(tx: &Tx<'_>, rows: &[(&Key, &NewRow)]) -> Result<(), Fail> {
    let got = insert_cids(tx, rows).await?;
    if got.len() != rows.len() {
        return Err(StoreError::Internal("a generated cid already exists".into()).into());
    }
    Ok(())
}

async fn refresh_cids(tx: &Tx<'_>, refresh: &BTreeMap<Key, i64>) -> Result<(), Fail> {
    if refresh.is_empty() {
        return Ok(());
    }
    let t: Vec<&str> = refresh.keys().map(|k| k.0.as_str()).collect();
    let c: Vec<&str> = refresh.keys().map(|k| k.1.as_str()).collect();
    let e: Vec<i64> = refresh.values().copied().collect();
    exec(
        tx,
        "UPDATE cids SET expires_at = u.e FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(t, c, e)
         WHERE cids.tenant = u.t AND cids.cid = u.c",
        &[&t, &c, &e],
    )
    .await?;
    Ok(())
}

async fn insert_clicks(
    tx: &Tx<'_>,
    clicks: &[&ClickIn],
    decisions: &[(usize, ClickDecision)],
) -> Result<(), Fail> {
    if decisions.is_empty() {
        return Ok(());
    }
    let mut t = Vec::with_capacity(decisions.len());
    let mut cid = Vec::with_capacity(decisions.len());
    let mut aff = Vec::with_capacity(decisions.len());
    let mut url = Vec::with_capacity(decisions.len());
    let mut referrer = Vec::with_capacity(decisions.len());
    let mut at = Vec::with_capacity(decisions.len());
    for (i, d) in decisions {
        let c = clicks[*i];
        t.push(c.tenant.as_str());
        cid.push(d.cid().as_str());
        aff.push(c.affiliate.as_str());
        url.push(c.url.as_deref());
        referrer.push(c.referrer.as_deref());
        at.push(c.now);
    }
    exec(
        tx,
        "INSERT INTO clicks (tenant, cid, affiliate, url, referrer, created_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])",
        &[&t, &cid, &aff, &url, &referrer, &at],
    )
    .await?;
    Ok(())
}

async fn store_answers(tx: &Tx<'_>, answers: &[(&str, &str, String)]) -> Result<(), Fail> {
    if answers.is_empty() {
        return Ok(());
    }
    let t: Vec<&str> = answers.iter().map(|a| a.0).collect();
    let e: Vec<&str> = answers.iter().map(|a| a.1).collect();
    let b: Vec<&str> = answers.iter().map(|a| a.2.as_str()).collect();
    exec(
        tx,
        "UPDATE events SET body = u.b FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, e, b)
         WHERE events.tenant = u.t AND events.event_id = u.e",
        &[&t, &e, &b],
    )
    .await?;
    Ok(())
}

fn answer(d: &ClickDecision) -> ClickOut {
    ClickOut {
        cid: d.cid().to_string(),
        expired_at: rfc3339(d.expires_at()),
    }
}

fn body(out: &ClickOut) -> Result<String, Fail> {
    serde_json::to_string(out).map_err(|e| StoreError::Internal(e.to_string()).into())
}

/// One transaction for `clicks`; one answer per click, in order.
async fn write_batch(pool: &Pool, clicks: &[&ClickIn]) -> Result<Vec<StoreResult<ClickOut>>, Fail> {
    let n = clicks.len();
    let mut results: Vec<Option<StoreResult<ClickOut>>> = vec![None; n];
    // the first occurrence of an event id in the batch is written; repeats copy its answer
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut copy_of: Vec<Option<usize>> = vec![None; n];
    for (i, c) in clicks.iter().enumerate() {
        if let Some(e) = &c.event_id {
            match first_of.entry((c.tenant.as_str(), e.as_str())) {
                std::collections::hash_map::Entry::Occupied(o) => copy_of[i] = Some(*o.get()),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
    }
    let mut active: Vec<usize> = (0..n).filter(|&i| copy_of[i].is_none()).collect();
    let mut proposed: Vec<(&str, &str)> = active
        .iter()
        .filter_map(|&i| {
            let c = clicks[i];
            c.cid.as_ref().map(|p| (c.tenant.as_str(), p.as_str()))
        })
        .collect();
    proposed.sort_unstable();
    proposed.dedup();

    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // plans for this batch's statements are made for the arrays at hand and the tables as they
    // are now (a generic plan cached while the tables were empty would scan them)
    let (_, mut records) = tokio::try_join!(
        async {
            tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")
                .await
                .map_err(Fail::from)
        },
        read_cids(&tx, &proposed)
    )?;

    // decide, then claim the event ids together with the answers decided for them
    let mut plan = decide(clicks, &active, &records);
    let mut claimed_bodies: HashMap<usize, String> = HashMap::new();
    let mut claims: Vec<(&str, &str, i64, String)> = Vec::new();
    for (i, d) in &plan.decisions {
        let c = clicks[*i];
        if let Some(e) = &c.event_id {
            let b = body(&answer(d))?;
            claimed_bodies.insert(*i, b.clone());
            claims.push((c.tenant.as_str(), e.as_str(), c.now, b));
        }
    }
    claims.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let claimed = claim_events(&tx, &claims).await?;

    // event ids another transaction stored first: their committed answers
    let prior: Vec<(&str, &str)> = claims
        .iter()
        .filter(|(t, e, _, _)| !claimed.contains(&key(t, e)))
        .map(|(t, e, _, _)| (*t, *e))
        .collect();
    if !prior.is_empty() {
        let (t, e): (Vec<&str>, Vec<&str>) = prior.iter().copied().unzip();
        let rows = q(
            &tx,
            "SELECT u.t, u.e, x.kind, x.body FROM unnest($1::text[], $2::text[]) AS u(t, e)
             CROSS JOIN LATERAL (SELECT kind, body FROM events
                                 WHERE tenant = u.t AND event_id = u.e LIMIT 1) x",
            &[&t, &e],
        )
        .await?;
        let mut found: HashMap<Key, (String, Option<String>)> = rows
            .iter()
            .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
            .collect();
        for (t, e) in &prior {
            let Some(&i) = first_of.get(&(*t, *e)) else {
                continue;
            };
            results[i] = Some(match found.remove(&key(t, e)) {
                Some((kind, body)) => replay(e, &kind, body.as_deref(), "click"),
                None => Err(StoreError::Internal(format!("event `{e}` vanished"))),
            });
        }
        active.retain(|&i| results[i].is_none());
        plan = decide(clicks, &active, &records);
    }

    // a proposed CID another collector created meanwhile is re-read and the batch re-decided
    // (the answers that change are stored again below)
    let mut inserted: HashSet<Key> = HashSet::new();
    let mut rounds = 0;
    loop {
        let pending: Vec<(&Key, &NewRow)> = plan
            .new_rows
            .iter()
            .filter(|(k, r)| r.proposed && !inserted.contains(*k))
            .collect();
        if pending.is_empty() {
            break;
        }
        let got = insert_cids(&tx, &pending).await?;
        let conflicted: Vec<(&str, &str)> = pending
            .iter()
            .filter(|(k, _)| !got.contains(*k))
            .map(|(k, _)| (k.0.as_str(), k.1.as_str()))
            .collect();
        if conflicted.is_empty() {
            inserted.extend(got);
            break;
        }
        rounds += 1;
        if rounds > 3 {
            return Err(StoreError::Internal("cid insert kept conflicting".into()).into());
        }
        let fresh = read_cids(&tx, &conflicted).await?;
        inserted.extend(got);
        records.extend(fresh);
        plan = decide(clicks, &active, &records);
    }

    let generated: Vec<(&Key, &NewRow)> =
        plan.new_rows.iter().filter(|(_, r)| !r.proposed).collect();
    // answers that changed since they were claimed (a re-decision): stored again
    let mut fixes: Vec<(&str, &str, String)> = Vec::new();
    for (i, d) in &plan.decisions {
        let out = answer(d);
        let c = clicks[*i];
        if let (Some(e), Some(claimed)) = (&c.event_id, claimed_bodies.get(i)) {
            let b = body(&out)?;
            if &b != claimed {
                fixes.push((c.tenant.as_str(), e.as_str(), b));
            }
        }
        results[*i] = Some(Ok(out));
    }
    tokio::try_join!(
        insert_generated(&tx, &generated),
        refresh_cids(&tx, &plan.refresh),
        insert_clicks(&tx, clicks, &plan.decisions),
        store_answers(&tx, &fixes),
    )?;
    tx.commit().await?;

    for i in 0..n {
        if let Some(j) = copy_of[i] {
            results[i] = results[j].clone();
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StoreError::Internal("click not decided".into()))))
        .collect())
}
