//! The PostgreSQL store against a real cluster (`test_cluster::fresh_database`): what only it
//! has, the cross-collector races (two `PgStore`s on one database) and its migrations. What
//! every backend does alike is in the conformance suite (`collector/tests/store_conformance.rs`).

use std::collections::HashSet;

use clicktrail_domain::catalog::Payout;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::Cid;
use clicktrail_store::{
    ClickIn, LeadIn, SaleIn, Store, StoreError, StripeEventIn, StripeOutcome, Target,
};
use clicktrail_store_postgres::test_cluster::fresh_database;
use clicktrail_store_postgres::PgStore;

const DAY: i64 = 86_400;
const T0: i64 = 1_795_072_000; // 2026-11-19T07:06:40Z

async fn db() -> (String, PgStore) {
    let url = fresh_database().await;
    let s = PgStore::connect(&url).await.expect("connect");
    (url, s)
}

async fn sql_i64(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn sql_exec(url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
}

fn cid(s: &str) -> Cid {
    Cid::parse(s).unwrap()
}

fn click(c: Option<&str>, aff: &str, now: i64) -> ClickIn {
    ClickIn {
        tenant: "t".into(),
        event_id: None,
        cid: c.map(cid),
        affiliate: aff.into(),
        url: Some("https://shop.example/?aff=x".into()),
        referrer: None,
        cookie_secs: 60 * DAY,
        now,
    }
}

fn sale(tx: &str, target: Target, now: i64) -> SaleIn {
    SaleIn {
        tenant: "t".into(),
        transaction_id: tx.into(),
        amount_cents: 10_050,
        currency: "USD".into(),
        target,
        allow_unresolved: true,
        conversion_type: "sale".into(),
        payout: Some(Payout::RevenueShare(3000)),
        customer_key: None,
        is_recurring: false,
        subscription_id: None,
        source: "api",
        details: None,
        status: Status::Approved,
        hold_days: 0,
        now,
    }
}

fn lead(c: Option<&str>, key: Option<&str>, now: i64) -> LeadIn {
    LeadIn {
        tenant: "t".into(),
        event_id: None,
        cid: c.map(cid),
        customer_key: key.map(String::from),
        email: None,
        source: "api",
        now,
    }
}

const C1: &str = "11111111-1111-4111-8111-111111111111";

/// A click with a NUL character is refused alone; the batch around it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unstorable_click_fails_alone() {
    let (url, s) = db().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = click(None, "alice", T0 + i);
            if i == 7 {
                c.url = Some("bad\0url".into());
            }
            s.click(c).await
        }));
    }
    let mut bad = 0;
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            assert!(
                matches!(e, StoreError::Invalid(ref f, _) if f == "url"),
                "{e:?}"
            );
            bad += 1;
        }
    }
    assert_eq!(bad, 1);
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM clicks").await, 49);
}

/// Two collectors, one database: the same event id sent to both at once is stored once and
/// every answer is the same; one proposed CID inserted by both at once does not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_event_id_on_two_collectors_is_stored_once() {
    let (url, a) = db().await;
    let b = PgStore::connect(&url).await.unwrap();
    for round in 0..5 {
        let mut tasks = Vec::new();
        for i in 0..40 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut c = click(None, "alice", T0 + i);
                c.event_id = Some(format!("race-{round}"));
                s.click(c).await
            }));
        }
        let mut cids = HashSet::new();
        for t in tasks {
            cids.insert(t.await.unwrap().unwrap().cid);
        }
        assert_eq!(cids.len(), 1, "every answer carries the same CID");
    }
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM clicks").await, 5);
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM cids").await, 5);

    // the same new CID proposed through both collectors at once
    for round in 0..5 {
        let c = format!("33333333-3333-4333-8333-00000000000{round}");
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let aff = if i % 3 == 0 { "bob" } else { "alice" };
                let mut k = click(Some(&c), aff, T0 + i);
                k.event_id = Some(format!("p-{round}-{i}"));
                (k.clone(), s.click(k).await)
            }));
        }
        let mut owner = None;
        let mut kept = 0;
        for t in tasks {
            let (k, r) = t.await.unwrap();
            let r = r.unwrap();
            // a retry (on either collector) gets the answer given, even after a re-decision
            assert_eq!(a.click(k.clone()).await.unwrap(), r);
            assert_eq!(b.click(k.clone()).await.unwrap(), r);
            let aff = if k.affiliate == "bob" { "bob" } else { "alice" };
            if r.cid == c {
                kept += 1;
                assert!(owner.is_none() || owner == Some(aff), "one owner per CID");
                owner = Some(aff);
            }
        }
        assert!(kept >= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reused_transaction_id_gets_one_success_and_409s_across_collectors() {
    let (url, a) = db().await;
    let b = PgStore::connect(&url).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.sale(sale("tx-race", Target::None, T0)).await
        }));
    }
    let (mut ok, mut dup) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict("duplicate_transaction", m)) => {
                assert_eq!(m, "transaction_id `tx-race` was already recorded");
                dup += 1
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((ok, dup), (1, 29));
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM conversions").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_stripe_event_on_two_collectors_makes_one_sale() {
    let (url, a) = db().await;
    let b = PgStore::connect(&url).await.unwrap();
    a.click(click(Some(C1), "alice", T0)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.stripe_event(StripeEventIn {
                tenant: "t".into(),
                event_id: "evt_1".into(),
                event_type: "checkout.session.completed".into(),
                sale: Some(sale("cs_1", Target::Cid(cid(C1)), T0 + 60)),
                first_payment: false,
                now: T0 + 60,
                money: Default::default(),
            })
            .await
        }));
    }
    let (mut recorded, mut dup) = (0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap() {
            StripeOutcome::Recorded { sale: Some(s) } => {
                assert!(s.attributed);
                assert_eq!(s.commission_cents, 3015);
                assert!(s.commission_id.is_some());
                recorded += 1
            }
            StripeOutcome::Duplicate => dup += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((recorded, dup), (1, 29));
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM conversions").await, 1);
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM ledger").await, 1);
}

/// The first payment of a subscription arrives twice: counted unattributed first, then
/// credited in place (same sale id) by the event that names the click; a third is skipped.
/// The two deliveries of the same payment on two collectors at once count it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_subscription_payment_is_counted_once_and_credited_in_place() {
    let (url, a) = db().await;
    let b = PgStore::connect(&url).await.unwrap();
    a.click(click(Some(C1), "alice", T0)).await.unwrap();
    let first = |evt: &str, tx: &str, target: Target| {
        let mut s = sale(tx, target, T0 + 100);
        s.subscription_id = Some("sub_1".into());
        s.hold_days = 30;
        StripeEventIn {
            tenant: "t".into(),
            event_id: evt.into(),
            event_type: "invoice.payment_succeeded".into(),
            sale: Some(s),
            first_payment: true,
            now: T0 + 100,
            money: Default::default(),
        }
    };
    let unattributed = match a.stripe_event(first("evt_a", "in_1", Target::None)).await {
        Ok(StripeOutcome::Recorded { sale: Some(s) }) => s,
        other => panic!("{other:?}"),
    };
    assert!(!unattributed.attributed && unattributed.commission_id.is_none());
    let credited = match b
        .stripe_event(first("evt_b", "cs_1", Target::Cid(cid(C1))))
        .await
    {
        Ok(StripeOutcome::Recorded { sale: Some(s) }) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(credited.sale_id, unattributed.sale_id, "updated in place");
    assert!(credited.attributed);
    assert_eq!(credited.commission_cents, 3015);
    let entry = credited.commission_id.unwrap();
    assert_eq!(
        sql_i64(
            &url,
            &format!("SELECT available_at FROM ledger WHERE id = {entry}")
        )
        .await,
        T0 + 100 + 30 * DAY
    );
    assert_eq!(
        a.stripe_event(first("evt_c", "cs_2", Target::Cid(cid(C1))))
            .await
            .unwrap(),
        StripeOutcome::Recorded { sale: None }
    );
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM conversions").await, 1);

    // a new subscription's two first-payment events at once, on both collectors
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let mut e = first(&format!("evt_x{i}"), &format!("x{i}"), Target::Cid(cid(C1)));
        if let Some(sale) = e.sale.as_mut() {
            sale.subscription_id = Some("sub_2".into());
        }
        tasks.push(tokio::spawn(async move { s.stripe_event(e).await }));
    }
    let mut sales = 0;
    for t in tasks {
        if let StripeOutcome::Recorded { sale: Some(_) } = t.await.unwrap().unwrap() {
            sales += 1;
        }
    }
    assert_eq!(sales, 1);
    assert_eq!(
        sql_i64(
            &url,
            "SELECT count(*) FROM conversions WHERE subscription_id = 'sub_2'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_leads_of_one_customer_make_one_lead() {
    let (url, a) = db().await;
    let b = PgStore::connect(&url).await.unwrap();
    a.click(click(Some(C1), "alice", T0)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let key = if i % 4 < 2 { Some("cus_r") } else { None };
            s.lead(lead(Some(C1), key, T0 + 1)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM leads").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collectors_starting_together_migrate_once() {
    let url = fresh_database().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move { PgStore::connect(&url).await }));
    }
    for t in tasks {
        t.await.unwrap().expect("connect");
    }
    assert_eq!(
        sql_i64(&url, "SELECT count(*) FROM refinery_schema_history").await,
        9,
        "V1__initial … V8__config_managed and V9__privacy, each applied once"
    );
    // a database migrated by a newer build is refused
    sql_exec(
        &url,
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES (99, 'future', '2030-01-01T00:00:00Z', '1')",
    )
    .await;
    assert!(PgStore::connect(&url).await.is_err());
}
