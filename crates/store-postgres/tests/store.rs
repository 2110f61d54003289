//! The PostgreSQL store against a real cluster (`test_cluster::fresh_database`): every Store
//! method, the cross-collector races (two `PgStore`s on one database), the catalog, reports.

use std::collections::{BTreeMap, HashSet};

use clicktrail_domain::catalog::{key_hash, KeyScope, Payout, Tenant};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::Cid;
use clicktrail_store::{
    ClickIn, ConversionIn, DiagnosticIn, ExternalLinkIn, ImportItem, ImportItemRow, KeySpec,
    LeadIn, SaleIn, Store, StoreError, StripeEventIn, StripeOutcome, Target, TenantSpec,
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

fn conversion(target: Target, ext: Option<&str>, now: i64) -> ConversionIn {
    ConversionIn {
        tenant: "t".into(),
        event_id: None,
        target,
        conversion_type: "signup".into(),
        payout: Payout::Fixed(500),
        amount_cents: 0,
        currency: "USD".into(),
        external_id: ext.map(String::from),
        customer_id: None,
        status: Status::Approved,
        details: None,
        hold_days: 30,
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
const C2: &str = "22222222-2222-4222-8222-222222222222";

#[tokio::test]
async fn clicks_follow_the_domain_rule_and_replay_event_ids() {
    let (url, s) = db().await;
    assert_eq!(s.backend(), "postgres");
    let a = s.click(click(Some(C1), "alice", T0)).await.unwrap();
    assert_eq!(a.cid, C1);
    let again = s.click(click(Some(C1), "alice", T0 + 10)).await.unwrap();
    assert_eq!(again.cid, C1);
    assert_eq!(
        again.expired_at,
        clicktrail_domain::attribution::rfc3339(T0 + 10 + 60 * DAY)
    );
    let other = s.click(click(Some(C1), "bob", T0 + 20)).await.unwrap();
    assert_ne!(other.cid, C1, "a CID never changes affiliate");
    let fresh = s.click(click(None, "bob", T0 + 30)).await.unwrap();
    assert!(Cid::parse(&fresh.cid).is_some());
    assert_eq!(
        sql_i64(
            &url,
            &format!("SELECT expires_at FROM cids WHERE cid = '{C1}'")
        )
        .await,
        T0 + 10 + 60 * DAY
    );

    // event ids: a retry gets the first answer; another endpoint's id is a 409
    let mut c = click(None, "alice", T0 + 40);
    c.event_id = Some("ev-1".into());
    let first = s.click(c.clone()).await.unwrap();
    c.now += 5;
    assert_eq!(s.click(c).await.unwrap(), first);
    let mut l = lead(Some(C1), Some("k-ev"), T0 + 50);
    l.event_id = Some("ev-1".into());
    match s.lead(l).await {
        Err(StoreError::Conflict("event_id_reused", m)) => {
            assert_eq!(m, "eventId `ev-1` was already used for a click event")
        }
        other => panic!("{other:?}"),
    }
    let rows = s.report("t", 0, i64::MAX).await.unwrap();
    assert_eq!(rows.clicks.iter().map(|r| r.2).sum::<i64>(), 5);
    assert_eq!(rows.clicks[0].1, "2026-11-19");
    let st = s.write_stats();
    assert!(
        st.jobs >= 6 && st.commits >= 1 && st.max_batch >= 1,
        "{st:?}"
    );
}

/// Many clicks at once form batches; inside one batch a later click sees the CIDs of the
/// earlier ones, and duplicate event ids in one batch get one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clicks_are_batched_and_decided_in_order() {
    let (url, s) = db().await;
    let mut tasks = Vec::new();
    for i in 0..400 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = click(Some(C2), "alice", T0 + i);
            if i % 4 == 0 {
                c.event_id = Some(format!("dup-{}", i % 40));
            }
            s.click(c).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    assert!(
        answers.iter().all(|a| a.cid == C2),
        "one affiliate keeps one CID"
    );
    // 300 without event id + 10 distinct event ids
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM clicks").await, 310);
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM cids").await, 1);
    assert_eq!(
        sql_i64(&url, "SELECT count(*) FROM events WHERE body IS NULL").await,
        0
    );
    let st = s.write_stats();
    assert_eq!(st.jobs, 400);
    assert!(st.commits < 400 && st.max_batch > 1, "batched: {st:?}");
}

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

#[tokio::test]
async fn conversions_links_and_leads() {
    let (url, s) = db().await;
    s.click(click(Some(C1), "alice", T0)).await.unwrap();
    // by CID: fixed payout, accrual held for hold_days
    let out = s
        .conversion(conversion(Target::Cid(cid(C1)), Some("o-1"), T0 + 10))
        .await
        .unwrap();
    assert!(out.attributed);
    assert_eq!(out.commission.value, "5.00");
    assert_eq!(out.status, "approved");
    assert_eq!(
        sql_i64(&url, "SELECT available_at FROM ledger").await,
        T0 + 10 + 30 * DAY
    );
    match s
        .conversion(conversion(Target::Cid(cid(C1)), Some("o-1"), T0 + 11))
        .await
    {
        Err(StoreError::Conflict("duplicate_conversion", m)) => {
            assert_eq!(
                m,
                "a `signup` conversion with externalId `o-1` was already recorded"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.conversion(conversion(Target::Cid(cid(C2)), None, T0))
            .await,
        Err(StoreError::NotFound("unknown_cid", _))
    ));
    // after the window: recorded, unattributed, no commission
    let late = s
        .conversion(conversion(Target::Cid(cid(C1)), None, T0 + 61 * DAY))
        .await
        .unwrap();
    assert!(!late.attributed);
    assert_eq!(late.commission.value, "0.00");

    // external CIDs
    let link = |c: &str| ExternalLinkIn {
        tenant: "t".into(),
        event_id: Some("link-1".into()),
        cid: cid(c),
        revenue_origin: "shop".into(),
        external_cid: "ext-9".into(),
        now: T0 + 20,
    };
    assert!(s.link_external(link(C1)).await.unwrap().ok);
    assert!(s.link_external(link(C1)).await.unwrap().ok, "replayed");
    let mut unknown = link(C2);
    unknown.event_id = None;
    assert!(matches!(
        s.link_external(unknown).await,
        Err(StoreError::NotFound("unknown_cid", _))
    ));
    let ext = Target::External {
        revenue_origin: "shop".into(),
        external_cid: "ext-9".into(),
    };
    assert!(
        s.conversion(conversion(ext, None, T0 + 30))
            .await
            .unwrap()
            .attributed
    );

    // leads: one per customer key, however often; the key then resolves sales
    assert!(
        s.lead(lead(Some(C1), Some("cus_1"), T0 + 40))
            .await
            .unwrap()
            .ok
    );
    let mut again = lead(None, Some("cus_1"), T0 + 41);
    again.email = Some("a@example.com".into());
    s.lead(again).await.unwrap();
    s.lead(lead(Some(C1), None, T0 + 42)).await.unwrap();
    s.lead(lead(Some(C1), None, T0 + 43)).await.unwrap();
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM leads").await, 2);
    assert_eq!(
        sql_i64(
            &url,
            "SELECT count(*) FROM leads WHERE email = 'a@example.com' AND affiliate = 'alice'"
        )
        .await,
        1
    );
    assert!(matches!(
        s.lead(lead(Some(C2), Some("cus_2"), T0)).await,
        Err(StoreError::NotFound("unknown_cid", _))
    ));
    let by_key = s
        .sale(sale("tx-k", Target::CustomerKey("cus_1".into()), T0 + 50))
        .await
        .unwrap();
    assert!(by_key.attributed && by_key.commission_cents == 3015);
    let mut strict = sale("tx-404", Target::CustomerKey("nobody".into()), T0);
    strict.allow_unresolved = false;
    match s.sale(strict).await {
        Err(StoreError::NotFound("unknown_customer", m)) => {
            assert_eq!(m, "customer key `nobody` is not linked to a click")
        }
        other => panic!("{other:?}"),
    }
    // renewals resolve through the subscription's first sale
    let mut first = sale("in-1", Target::Cid(cid(C1)), T0 + 60);
    first.subscription_id = Some("sub_9".into());
    s.sale(first).await.unwrap();
    let mut renewal = sale("in-2", Target::Subscription("sub_9".into()), T0 + 70);
    renewal.is_recurring = true;
    assert!(s.sale(renewal).await.unwrap().attributed);
    // a declined sale: recorded, no commission
    let mut declined = sale("tx-d", Target::Cid(cid(C1)), T0 + 80);
    declined.status = Status::Declined;
    assert_eq!(s.sale(declined).await.unwrap().commission_cents, 0);
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

#[tokio::test]
async fn diagnostics_are_capped_per_tenant() {
    let (url, s) = db().await;
    sql_exec(
        &url,
        "INSERT INTO diagnostics (tenant, kind, created_at) SELECT 't', 'old', g FROM generate_series(1, 9999) g;
         INSERT INTO diagnostics (tenant, kind, created_at) SELECT NULL, 'x', g FROM generate_series(1, 5) g;",
    )
    .await;
    let d = |tenant: Option<&str>, ev: Option<&str>| DiagnosticIn {
        tenant: tenant.map(String::from),
        event_id: ev.map(String::from),
        kind: Some("load".into()),
        message: Some("failed".into()),
        url: None,
        user_agent: None,
        now: T0,
    };
    for _ in 0..3 {
        s.diagnostic(d(Some("t"), None)).await.unwrap();
    }
    s.diagnostic(d(None, Some("e1"))).await.unwrap();
    s.diagnostic(d(None, Some("e1"))).await.unwrap();
    assert_eq!(
        sql_i64(&url, "SELECT count(*) FROM diagnostics WHERE tenant = 't'").await,
        10_000
    );
    assert_eq!(
        sql_i64(
            &url,
            "SELECT min(created_at) FROM diagnostics WHERE tenant = 't'"
        )
        .await,
        3,
        "the oldest went"
    );
    assert_eq!(s.diagnostics_count().await.unwrap(), 10_006);
    s.ping().await.unwrap();
}

#[tokio::test]
async fn imports_are_all_or_nothing() {
    let (url, s) = db().await;
    s.click(click(Some(C1), "alice", T0)).await.unwrap();
    let row = |line: u64, tx: &str, target: Target| ImportItemRow {
        line,
        item: ImportItem::Sale({
            let mut x = sale(tx, target, T0 + 5);
            x.allow_unresolved = false;
            x.source = "import";
            x
        }),
    };
    let bad = vec![
        row(2, "imp-1", Target::Cid(cid(C1))),
        row(3, "imp-1", Target::Cid(cid(C1))),
        row(4, "imp-2", Target::Cid(cid(C2))),
    ];
    let errors = s.import_items(bad).await.unwrap().unwrap_err();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].0, 3);
    assert!(errors[0].1.contains("duplicate_transaction"), "{errors:?}");
    assert_eq!(errors[1].0, 4);
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM conversions").await, 0);
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM ledger").await, 0);
    let good = vec![
        row(2, "imp-1", Target::Cid(cid(C1))),
        row(3, "imp-2", Target::Cid(cid(C1))),
    ];
    assert_eq!(s.import_items(good).await.unwrap(), Ok(2));
    assert_eq!(sql_i64(&url, "SELECT count(*) FROM ledger").await, 2);
}

#[tokio::test]
async fn report_commissions_are_sums_of_the_ledger() {
    let (url, s) = db().await;
    s.click(click(Some(C1), "alice", T0)).await.unwrap();
    s.click(click(Some(C2), "bob", T0 + DAY)).await.unwrap();
    s.lead(lead(Some(C1), Some("k"), T0 + 1)).await.unwrap();
    s.sale(sale("s1", Target::Cid(cid(C1)), T0 + 2))
        .await
        .unwrap();
    s.sale(sale("s2", Target::Cid(cid(C1)), T0 + 3))
        .await
        .unwrap();
    s.sale(sale("s3", Target::None, T0 + 4)).await.unwrap();
    let mut eur = sale("s4", Target::Cid(cid(C2)), T0 + DAY + 5);
    eur.currency = "EUR".into();
    s.sale(eur).await.unwrap();
    // a reversal of one accrual: the report is net
    sql_exec(
        &url,
        "INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, created_at)
         SELECT tenant, affiliate, conversion_id, 'reversal', -1000, currency, created_at, created_at
         FROM ledger WHERE id = (SELECT min(id) FROM ledger)",
    )
    .await;
    let rows = s.report("t", T0, T0 + 2 * DAY).await.unwrap();
    let mut got: Vec<_> = rows.conversions.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            (None, "2026-11-19".into(), "USD".into(), 1, 10_050, 0),
            (
                Some("alice".into()),
                "2026-11-19".into(),
                "USD".into(),
                2,
                20_100,
                3015 * 2 - 1000
            ),
            (
                Some("bob".into()),
                "2026-11-20".into(),
                "EUR".into(),
                1,
                10_050,
                3015
            ),
        ]
    );
    let ledger_total = sql_i64(&url, "SELECT sum(amount_cents)::bigint FROM ledger").await;
    assert_eq!(got.iter().map(|r| r.5).sum::<i64>(), ledger_total);
    assert_eq!(rows.leads, vec![("alice".into(), "2026-11-19".into(), 1)]);
    let mut clicks = rows.clicks.clone();
    clicks.sort();
    assert_eq!(
        clicks,
        vec![
            ("alice".into(), "2026-11-19".into(), 1),
            ("bob".into(), "2026-11-20".into(), 1)
        ]
    );
    // [from, to)
    assert!(s
        .report("t", T0 + 3 * DAY, T0 + 4 * DAY)
        .await
        .unwrap()
        .conversions
        .is_empty());

    // a total beyond i64 is a 422, never a wrapped number
    sql_exec(
        &url,
        "INSERT INTO conversions (public_id, tenant, kind, conversion_type, attributed, amount_cents,
            currency, commission_cents, status, source, created_at)
         SELECT 'big' || g, 't', 'sale', 'sale', false, 9223372036854775807, 'USD', 0, 'approved', 'api', 1795072000
         FROM generate_series(1, 2) g",
    )
    .await;
    assert!(matches!(
        s.report("t", T0, T0 + 2 * DAY).await,
        Err(StoreError::Invalid(..))
    ));
}

fn spec(cookie_days: i64, affiliates: &[&str], key: &str) -> TenantSpec {
    TenantSpec {
        tenant: Tenant {
            id: "t".into(),
            cookie_days,
            allowed_origins: vec!["https://shop.example".into(), "*".into()],
            stripe_webhook_secret: "whsec_1".into(),
            currency: "USD".into(),
            sale_conversion_type: "sale".into(),
            affiliates: affiliates.iter().map(|a| a.to_string()).collect(),
            aliases: Default::default(),
            conversion_types: BTreeMap::from([
                ("sale".to_string(), Payout::RevenueShare(3000)),
                ("signup".to_string(), Payout::Fixed(500)),
            ]),
            revenue_origins: vec!["shop".into()],
            hold_days: 30,
            count_test_payments: false,
            chargebee_webhook_username: String::new(),
            chargebee_webhook_password: String::new(),
            recurly_webhook_key: String::new(),
        },
        keys: vec![KeySpec {
            key: key.into(),
            scopes: vec![KeyScope::Ingest, KeyScope::Read],
        }],
    }
}

#[tokio::test]
async fn catalog_apply_load_and_version() {
    let (url, s) = db().await;
    assert_eq!(s.catalog_version().await.unwrap(), 0);
    assert!(s.load_catalog().await.unwrap().tenants.is_empty());
    let mut other = spec(10, &["zed"], "sk_a");
    other.tenant.id = "a-first".into();
    other.keys[0].scopes = vec![KeyScope::Admin];
    s.apply_catalog(vec![spec(60, &["zoe", "alice"], "sk_t"), other], T0)
        .await
        .unwrap();
    assert_eq!(s.catalog_version().await.unwrap(), 1);
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.version, 1);
    let ids: Vec<&str> = c.tenants.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["a-first", "t"], "tenants in id order");
    let t = c.tenant("t").unwrap();
    assert_eq!(
        t.affiliates,
        ["zoe", "alice"],
        "affiliates in declaration order"
    );
    assert_eq!(t.cookie_days, 60);
    assert_eq!(t.sale_payout(), Some(Payout::RevenueShare(3000)));
    assert_eq!(t.allowed_origins, ["https://shop.example", "*"]);
    assert_eq!(t.revenue_origins, ["shop"]);
    assert_eq!(t.hold_days, 30);
    assert_eq!(
        c.key("sk_t").unwrap().scopes,
        [KeyScope::Ingest, KeyScope::Read]
    );
    assert_eq!(c.key("sk_a").unwrap().scopes, [KeyScope::Admin]);
    assert_eq!(c.key("sk_a").unwrap().tenant, "a-first");

    // update: changed values win, new rows are added; what the file no longer declares
    // (tenant a-first, affiliates zoe and alice) is disabled, nothing is deleted
    let mut changed = spec(30, &["bob"], "sk_t2");
    changed
        .tenant
        .conversion_types
        .insert("sale".into(), Payout::RevenueShare(1000));
    s.apply_catalog(vec![changed], T0 + 1).await.unwrap();
    sql_exec(
        &url,
        &format!(
            "UPDATE affiliates SET disabled = true WHERE code = 'zoe';
             UPDATE api_keys SET revoked_at = 1 WHERE key_hash = '{}'",
            key_hash("sk_t")
        ),
    )
    .await;
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.version, 2);
    let t = c.tenant("t").unwrap();
    assert_eq!(t.cookie_days, 30);
    assert_eq!(t.affiliates, ["bob"], "disabled ones are not listed");
    assert_eq!(t.sale_payout(), Some(Payout::RevenueShare(1000)));
    assert!(c.key("sk_t").is_none(), "revoked");
    assert!(c.key("sk_t2").is_some());
    assert!(
        c.tenant("a-first").is_none(),
        "no longer declared: disabled"
    );
    assert!(
        c.key("sk_a").is_none(),
        "a disabled tenant's keys are refused"
    );

    // a key of another tenant is refused, and nothing of that apply is kept
    let mut stolen = spec(99, &["mallory"], "sk_a");
    stolen.tenant.id = "t".into();
    assert!(matches!(
        s.apply_catalog(vec![stolen], T0 + 2).await,
        Err(StoreError::Invalid(ref f, _)) if f == "api_key"
    ));
    assert_eq!(s.catalog_version().await.unwrap(), 2);
    assert_eq!(
        s.load_catalog()
            .await
            .unwrap()
            .tenant("t")
            .unwrap()
            .cookie_days,
        30
    );
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
        8,
        "V1__initial … V7__affiliate_aliases and V8__config_managed, each applied once"
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
