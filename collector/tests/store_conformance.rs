//! The store's conformance suite: every backend (SQLite in a file, a throwaway PostgreSQL
//! database) passes the same store-level tests, with the same answers and the same errors.
//! Rows are checked with plain SQL both dialects read alike.

use std::collections::BTreeMap;

use clicktrail_domain::catalog::{key_hash, KeyScope, Payout, Tenant};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::Cid;
use clicktrail_store::{
    CatalogChange, ChangeIn, ClickIn, ConversionIn, DiagnosticIn, ExternalLinkIn, ImportItem,
    ImportItemRow, KeySpec, LeadIn, PayIn, SaleIn, Store, StoreError, Target, TenantSpec,
};
use clicktrail_store_postgres::test_cluster::fresh_database;
use clicktrail_store_postgres::PgStore;
use clicktrail_store_sqlite::SqliteStore;

const DAY: i64 = 86_400;
const T0: i64 = 1_795_072_000; // 2026-11-19T07:06:40Z

/// A store and a way to read (or prepare) its rows with SQL.
struct Backend {
    s: std::sync::Arc<dyn Store>,
    db: Db,
    _dir: Option<tempfile::TempDir>,
}

enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

/// A fresh, empty store of each backend.
async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let sqlite = SqliteStore::open(path.to_str().expect("utf-8 path")).expect("sqlite store");
    let url = fresh_database().await;
    let pg = PgStore::connect(&url).await.expect("postgres store");
    vec![
        Backend {
            s: std::sync::Arc::new(sqlite),
            db: Db::Sqlite(path),
            _dir: Some(dir),
        },
        Backend {
            s: std::sync::Arc::new(pg),
            db: Db::Postgres(url),
            _dir: None,
        },
    ]
}

impl Backend {
    fn name(&self) -> &'static str {
        self.s.backend()
    }

    async fn pg(url: &str) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
    }

    /// One integer (`CAST(... AS BIGINT)` around a `sum`: PostgreSQL sums bigints as numeric).
    async fn sql_i64(&self, sql: &str) -> i64 {
        match &self.db {
            Db::Sqlite(p) => {
                let c = rusqlite::Connection::open(p).expect("open");
                c.query_row(sql, [], |r| r.get(0)).expect(sql)
            }
            Db::Postgres(url) => Self::pg(url)
                .await
                .query_one(sql, &[])
                .await
                .expect(sql)
                .get(0),
        }
    }

    async fn sql_exec(&self, sql: &str) {
        match &self.db {
            Db::Sqlite(p) => {
                let c = rusqlite::Connection::open(p).expect("open");
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .expect("busy timeout");
                c.execute_batch(sql).expect(sql);
            }
            Db::Postgres(url) => Self::pg(url).await.batch_execute(sql).await.expect(sql),
        }
    }
}

/// `WITH RECURSIVE` rows 1..=n, in both dialects (PostgreSQL's generate_series is not SQLite's).
fn series(n: i64) -> String {
    format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n})")
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
        rules: Default::default(),
        coupon_codes: Vec::new(),
        products: Vec::new(),
        customer_email: None,
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
        rules: Default::default(),
        coupon_codes: Vec::new(),
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
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
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
            b.sql_i64(&format!("SELECT expires_at FROM cids WHERE cid = '{C1}'"))
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
}

/// Many clicks at once form batches; inside one batch a later click sees the CIDs of the
/// earlier ones, and duplicate event ids in one batch get one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clicks_are_batched_and_decided_in_order() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
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
        assert_eq!(b.sql_i64("SELECT count(*) FROM clicks").await, 310);
        assert_eq!(b.sql_i64("SELECT count(*) FROM cids").await, 1);
        assert_eq!(
            b.sql_i64("SELECT count(*) FROM events WHERE body IS NULL")
                .await,
            0
        );
        let st = s.write_stats();
        assert_eq!(st.jobs, 400);
        assert!(st.commits < 400 && st.max_batch > 1, "batched: {st:?}");
    }
}

#[tokio::test]
async fn conversions_links_and_leads() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
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
            b.sql_i64("SELECT available_at FROM ledger").await,
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
        assert_eq!(b.sql_i64("SELECT count(*) FROM leads").await, 2);
        assert_eq!(
            b.sql_i64(
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
}

#[tokio::test]
async fn diagnostics_are_capped_per_tenant() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        b.sql_exec(&format!(
            "{} INSERT INTO diagnostics (tenant, kind, created_at) SELECT 't', 'old', n FROM g;
         {} INSERT INTO diagnostics (tenant, kind, created_at) SELECT NULL, 'x', n FROM g;",
            series(9999),
            series(5)
        ))
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
            b.sql_i64("SELECT count(*) FROM diagnostics WHERE tenant = 't'")
                .await,
            10_000
        );
        assert_eq!(
            b.sql_i64("SELECT min(created_at) FROM diagnostics WHERE tenant = 't'")
                .await,
            3,
            "the oldest went"
        );
        assert_eq!(s.diagnostics_count().await.unwrap(), 10_006);
        s.ping().await.unwrap();
    }
}

#[tokio::test]
async fn imports_are_all_or_nothing() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
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
        assert_eq!(b.sql_i64("SELECT count(*) FROM conversions").await, 0);
        assert_eq!(b.sql_i64("SELECT count(*) FROM ledger").await, 0);
        let good = vec![
            row(2, "imp-1", Target::Cid(cid(C1))),
            row(3, "imp-2", Target::Cid(cid(C1))),
        ];
        assert_eq!(s.import_items(good).await.unwrap(), Ok(2));
        assert_eq!(b.sql_i64("SELECT count(*) FROM ledger").await, 2);
    }
}

#[tokio::test]
async fn report_commissions_are_sums_of_the_ledger() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
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
        b.sql_exec("INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, created_at)
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
        let ledger_total = b
            .sql_i64("SELECT CAST(sum(amount_cents) AS BIGINT) FROM ledger")
            .await;
        assert_eq!(
            got.iter().map(|r| r.5).sum::<i128>(),
            i128::from(ledger_total)
        );
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

        // sums beyond i64 are exact (i128), never a wrapped number nor an error
        b.sql_exec(&format!(
        "{} INSERT INTO conversions (public_id, tenant, kind, conversion_type, attributed, amount_cents,
            currency, commission_cents, status, source, created_at)
         SELECT 'big' || n, 't', 'sale', 'sale', false, 9223372036854775807, 'USD', 0, 'approved', 'api', 1795072000
         FROM g",
        series(2)
    ))
    .await;
        let rows = s.report("t", T0, T0 + 2 * DAY).await.unwrap();
        let unattributed = rows.conversions.iter().find(|r| r.0.is_none()).unwrap();
        assert_eq!(unattributed.3, 3);
        assert_eq!(unattributed.4, 10_050 + 2 * i128::from(i64::MAX));
    }
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
            recurly_api_key: String::new(),
            recurly_api_url: String::new(),
            chargify_webhook_key: String::new(),
            rules: Default::default(),
        },
        keys: vec![KeySpec {
            key: key.into(),
            scopes: vec![KeyScope::Ingest, KeyScope::Read],
        }],
    }
}

#[tokio::test]
async fn catalog_apply_load_and_version() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
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

        // update: changed values win, new rows are added
        let mut changed = spec(30, &["bob"], "sk_t2");
        changed
            .tenant
            .conversion_types
            .insert("sale".into(), Payout::RevenueShare(1000));
        s.apply_catalog(vec![changed], T0 + 1).await.unwrap();
        b.sql_exec(&format!(
            "UPDATE affiliates SET disabled = true WHERE code = 'zoe';
             UPDATE api_keys SET revoked_at = 1 WHERE key_hash = '{}'",
            key_hash("sk_t")
        ))
        .await;
        let c = s.load_catalog().await.unwrap();
        assert_eq!(c.version, 2);
        let t = c.tenant("t").unwrap();
        assert_eq!(t.cookie_days, 30);
        // what the applied specs no longer declare (tenant a-first, affiliates zoe and alice)
        // is disabled, nothing is deleted
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
}

/// Every answer of the tracking use cases but the happy path, word for word on both
/// backends; an event id is kept only with a stored answer, and a use case that fails after
/// its first write stores nothing.
#[tokio::test]
async fn tracking_errors_and_replays_are_the_same_on_both_backends() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        let not_found =
            |code: &'static str, m: &str| Err::<(), _>(StoreError::NotFound(code, m.into()));
        let unknown = not_found("unknown_cid", &format!("unknown cid `{C2}`"));

        // an unknown CID: the same 404 from a lead, a link, a conversion and a strict sale
        assert_eq!(
            s.lead(lead(Some(C2), None, T0)).await.map(|_| ()),
            unknown.clone()
        );
        let link = ExternalLinkIn {
            tenant: "t".into(),
            event_id: Some("ev-link".into()),
            cid: cid(C2),
            revenue_origin: "shop".into(),
            external_cid: "ext-1".into(),
            now: T0,
        };
        assert_eq!(
            s.link_external(link.clone()).await.map(|_| ()),
            unknown.clone()
        );
        let mut conv = conversion(Target::Cid(cid(C2)), None, T0);
        conv.event_id = Some("ev-conv".into());
        assert_eq!(
            s.conversion(conv.clone()).await.map(|_| ()),
            unknown.clone()
        );
        let mut strict = sale("tx-strict", Target::Cid(cid(C2)), T0);
        strict.allow_unresolved = false;
        assert_eq!(s.sale(strict.clone()).await.map(|_| ()), unknown);
        let ext = Target::External {
            revenue_origin: "shop".into(),
            external_cid: "nope".into(),
        };
        assert_eq!(
            s.conversion(conversion(ext, None, T0)).await.map(|_| ()),
            not_found(
                "unknown_cid",
                "external cid `nope` is not linked to a click for this revenue origin"
            )
        );
        let mut by_sub = sale("tx-sub", Target::Subscription("sub_x".into()), T0);
        by_sub.allow_unresolved = false;
        assert_eq!(
            s.sale(by_sub).await.map(|_| ()),
            not_found(
                "unknown_subscription",
                "subscription `sub_x` has no attributed sale"
            )
        );
        assert_eq!(
            s.conversion(conversion(Target::None, None, T0))
                .await
                .map(|_| ()),
            Err(StoreError::Invalid(
                "click_id".into(),
                "click_id or customer_key is required".into()
            ))
        );
        // nothing of the refused events was kept: their ids answer once the click exists
        assert_eq!(b.sql_i64("SELECT count(*) FROM events").await, 0);
        assert_eq!(b.sql_i64("SELECT count(*) FROM conversions").await, 0);
        s.click(click(Some(C2), "bob", T0)).await.unwrap();
        assert!(s.link_external(link.clone()).await.unwrap().ok);
        let first = s.conversion(conv.clone()).await.unwrap();
        assert!(first.attributed);
        let mut later = conv.clone();
        later.now += 5;
        assert_eq!(s.conversion(later).await.unwrap(), first, "replayed");
        assert_eq!(b.sql_i64("SELECT count(*) FROM conversions").await, 1);
        let mut sale_ok = strict.clone();
        sale_ok.transaction_id = "tx-ok".into();
        s.sale(sale_ok.clone()).await.unwrap();

        // an id used for another kind of event
        let mut reused = lead(Some(C2), None, T0);
        reused.event_id = Some("ev-conv".into());
        assert_eq!(
            s.lead(reused).await,
            Err(StoreError::Conflict(
                "event_id_reused",
                "eventId `ev-conv` was already used for a conversion event".into()
            ))
        );
        let mut reused = conv.clone();
        reused.event_id = Some("ev-link".into());
        assert_eq!(
            s.conversion(reused).await.map(|_| ()),
            Err(StoreError::Conflict(
                "event_id_reused",
                "eventId `ev-link` was already used for a external_cid event".into()
            ))
        );

        // a transaction id seen before
        assert_eq!(
            s.sale(sale_ok).await.map(|_| ()),
            Err(StoreError::Conflict(
                "duplicate_transaction",
                "transaction_id `tx-ok` was already recorded".into()
            ))
        );

        // a CID past its window: the lead links the customer, credits nobody
        let mut late = lead(Some(C2), Some("cus_late"), T0 + 61 * DAY);
        late.email = Some("late@example.com".into());
        assert!(s.lead(late).await.unwrap().ok);
        assert_eq!(
            b.sql_i64(
                "SELECT count(*) FROM leads WHERE customer_key = 'cus_late' AND affiliate IS NULL"
            )
            .await,
            1
        );

        // an accrual that cannot be computed, after the sale's row was written: nothing stays
        let mut overflow = sale("tx-overflow", Target::Cid(cid(C2)), T0 + 10);
        overflow.hold_days = i64::MAX;
        assert_eq!(
            s.sale(overflow).await.map(|_| ()),
            Err(StoreError::Invalid(
                "amount".into(),
                "the amount is too large: a total would not be representable".into()
            ))
        );
        assert_eq!(
            b.sql_i64("SELECT count(*) FROM conversions WHERE transaction_id = 'tx-overflow'")
                .await,
            0
        );
        assert_eq!(b.sql_i64("SELECT count(*) FROM ledger").await, 2);
    }
}

/// The same event, external id, transaction id or customer sent many times at once (on
/// PostgreSQL, from concurrent transactions of the pool): one answer, one row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_repeats_are_recorded_once() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        s.click(click(Some(C1), "alice", T0)).await.unwrap();
        let all =
            |n: usize, f: &dyn Fn(usize) -> tokio::task::JoinHandle<Result<String, StoreError>>| {
                (0..n).map(f).collect::<Vec<_>>()
            };
        async fn answers(
            hs: Vec<tokio::task::JoinHandle<Result<String, StoreError>>>,
        ) -> Vec<Result<String, StoreError>> {
            let mut out = Vec::new();
            for h in hs {
                out.push(h.await.unwrap());
            }
            out
        }

        // one event id: every retry gets the first answer
        let hs = all(8, &|_| {
            let s = s.clone();
            let mut c = conversion(Target::Cid(cid(C1)), None, T0 + 1);
            c.event_id = Some("ev-race".into());
            tokio::spawn(async move { s.conversion(c).await.map(|o| o.conversion_id) })
        });
        let got = answers(hs).await;
        assert!(got.iter().all(|a| a == &got[0] && a.is_ok()), "{got:?}");

        // one external id: one conversion, the others a 409
        let hs = all(8, &|_| {
            let s = s.clone();
            let c = conversion(Target::Cid(cid(C1)), Some("o-race"), T0 + 2);
            tokio::spawn(async move { s.conversion(c).await.map(|o| o.conversion_id) })
        });
        let got = answers(hs).await;
        let dup = Err(StoreError::Conflict(
            "duplicate_conversion",
            "a `signup` conversion with externalId `o-race` was already recorded".into(),
        ));
        assert_eq!(got.iter().filter(|a| a.is_ok()).count(), 1, "{got:?}");
        assert_eq!(got.iter().filter(|a| **a == dup).count(), 7, "{got:?}");

        // one transaction id: one sale, the others a 409
        let hs = all(8, &|_| {
            let s = s.clone();
            let x = sale("tx-race", Target::Cid(cid(C1)), T0 + 3);
            tokio::spawn(async move { s.sale(x).await.map(|o| o.sale_id.to_string()) })
        });
        let got = answers(hs).await;
        let dup = Err(StoreError::Conflict(
            "duplicate_transaction",
            "transaction_id `tx-race` was already recorded".into(),
        ));
        assert_eq!(got.iter().filter(|a| a.is_ok()).count(), 1, "{got:?}");
        assert_eq!(got.iter().filter(|a| **a == dup).count(), 7, "{got:?}");

        // one customer: one lead
        let hs = all(8, &|i| {
            let s = s.clone();
            let mut l = lead(Some(C1), Some("cus_race"), T0 + 4);
            l.email = Some(format!("r{i}@example.com"));
            tokio::spawn(async move { s.lead(l).await.map(|o| o.ok.to_string()) })
        });
        assert!(answers(hs).await.iter().all(Result::is_ok));

        assert_eq!(b.sql_i64("SELECT count(*) FROM conversions").await, 3);
        assert_eq!(b.sql_i64("SELECT count(*) FROM ledger").await, 3);
        assert_eq!(
            b.sql_i64("SELECT count(*) FROM leads WHERE customer_key = 'cus_race' AND affiliate = 'alice'")
                .await,
            1
        );
        assert_eq!(
            b.sql_i64("SELECT count(*) FROM events WHERE body IS NULL")
                .await,
            0
        );
    }
}

fn change(c: CatalogChange, now: i64) -> ChangeIn {
    ChangeIn {
        tenant: "t".into(),
        actor: "operator".into(),
        action: "test".into(),
        summary: "a change".into(),
        change: c,
        now,
    }
}

/// Every catalog change's answer, error or not, is the same on every backend; a refused change
/// stores nothing (no audit line, no version bump).
#[tokio::test]
async fn catalog_changes_and_their_errors() {
    use CatalogChange::*;
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        s.apply_catalog(vec![spec(60, &["alice"], "sk_t")], T0)
            .await
            .unwrap();
        let aff = |code: &str| CreateAffiliate {
            code: code.into(),
            name: Some("Bob".into()),
        };
        let alias = |code: &str, alias: &str| AddAlias {
            code: code.into(),
            alias: alias.into(),
        };
        let ok = [
            aff("bob"),
            alias("bob", "bob-2"),
            UpdateAffiliate {
                code: "bob".into(),
                name: Some(None),
                disabled: Some(true),
            },
            CreateConversionType {
                code: "trial".into(),
                payout: Payout::Fixed(100),
            },
            UpdateConversionType {
                code: "trial".into(),
                payout: Payout::Fixed(200),
            },
            AddRevenueOrigin { id: "app".into() },
            AddAllowedOrigin {
                origin: "https://b.example".into(),
            },
            CreateKey {
                key_hash: key_hash("sk_new"),
                scopes: vec![KeyScope::Read],
                label: Some("ci".into()),
            },
        ];
        for (i, c) in ok.into_iter().enumerate() {
            let v = s.catalog_version().await.unwrap();
            s.change_catalog(change(c, T0 + i as i64)).await.unwrap();
            assert_eq!(s.catalog_version().await.unwrap(), v + 1);
        }
        let v = s.catalog_version().await.unwrap();
        let audited = b.sql_i64("SELECT count(*) FROM audit_log").await;
        assert_eq!(audited, 8);
        let bad: Vec<(CatalogChange, &str, &str)> = vec![
            (
                aff("alice"),
                "duplicate_affiliate",
                "affiliate `alice` already exists",
            ),
            (
                aff("bob-2"),
                "duplicate_code",
                "`bob-2` is already an affiliate code or alias in this tenant",
            ),
            (
                UpdateAffiliate {
                    code: "nobody".into(),
                    name: None,
                    disabled: Some(true),
                },
                "unknown_affiliate",
                "no affiliate `nobody` in this tenant",
            ),
            (
                alias("nobody", "x"),
                "unknown_affiliate",
                "no affiliate `nobody` in this tenant",
            ),
            (
                alias("bob", "alice"),
                "duplicate_code",
                "`alice` is already an affiliate code or alias in this tenant",
            ),
            (
                alias("alice", "bob-2"),
                "duplicate_code",
                "`bob-2` is already an affiliate code or alias in this tenant",
            ),
            (
                RemoveAlias {
                    code: "alice".into(),
                    alias: "bob-2".into(),
                },
                "unknown_alias",
                "no alias `bob-2` in this tenant",
            ),
            (
                CreateConversionType {
                    code: "trial".into(),
                    payout: Payout::Fixed(1),
                },
                "duplicate_conversion_type",
                "conversion type `trial` already exists",
            ),
            (
                UpdateConversionType {
                    code: "nope".into(),
                    payout: Payout::Fixed(1),
                },
                "unknown_conversion_type",
                "no conversion type `nope` in this tenant",
            ),
            (
                AddRevenueOrigin { id: "app".into() },
                "duplicate_revenue_origin",
                "revenue origin `app` already exists",
            ),
            (
                RemoveRevenueOrigin { id: "web".into() },
                "unknown_revenue_origin",
                "no revenue origin `web` in this tenant",
            ),
            (
                AddAllowedOrigin {
                    origin: "https://b.example".into(),
                },
                "duplicate_origin",
                "origin `https://b.example` already exists",
            ),
            (
                RemoveAllowedOrigin {
                    origin: "https://c.example".into(),
                },
                "unknown_origin",
                "no origin `https://c.example` in this tenant",
            ),
            (
                RevokeKey {
                    key_id: "key_0000000000000000".into(),
                },
                "unknown_key",
                "no key `key_0000000000000000` in this tenant",
            ),
            (
                RevokeKey {
                    key_id: "not-a-key".into(),
                },
                "unknown_key",
                "no key `not-a-key` in this tenant",
            ),
            (
                CreateTenant {
                    tenant: spec(1, &[], "x").tenant,
                    admin_key_hash: key_hash("sk_other"),
                },
                "duplicate_tenant",
                "tenant `t` already exists",
            ),
        ];
        for (c, code, message) in bad {
            let e = s.change_catalog(change(c.clone(), T0 + 50)).await;
            let (got_code, got_message) = match e {
                Err(StoreError::Conflict(c, m)) | Err(StoreError::NotFound(c, m)) => (c, m),
                other => panic!("{c:?}: {other:?}"),
            };
            assert_eq!((got_code, got_message.as_str()), (code, message), "{c:?}");
        }
        assert_eq!(
            s.catalog_version().await.unwrap(),
            v,
            "nothing refused is kept"
        );
        assert_eq!(b.sql_i64("SELECT count(*) FROM audit_log").await, audited);

        // a key is revoked once
        let id = clicktrail_store::admin::key_id(&key_hash("sk_new"));
        let revoke = || change(RevokeKey { key_id: id.clone() }, T0 + 60);
        s.change_catalog(revoke()).await.unwrap();
        match s.change_catalog(revoke()).await {
            Err(StoreError::Conflict("key_revoked", m)) => {
                assert_eq!(m, format!("key `{id}` is already revoked"))
            }
            other => panic!("{other:?}"),
        }
        // the listings: aliases with their affiliate, keys by id (never by hash)
        let affs = s.affiliates("t").await.unwrap();
        let bob = affs.iter().find(|a| a.code == "bob").unwrap();
        assert_eq!(
            (bob.aliases.as_slice(), bob.disabled),
            (&["bob-2".to_string()][..], true)
        );
        assert_eq!(bob.name, None);
        let keys = s.keys("t").await.unwrap();
        let k = keys.iter().find(|k| k.id == id).unwrap();
        assert_eq!(
            (k.scopes.as_slice(), k.revoked_at),
            (&["read".to_string()][..], Some(T0 + 60))
        );
        let c = s.load_catalog().await.unwrap();
        let t = c.tenant("t").unwrap();
        assert_eq!(t.affiliates, ["alice"], "disabled bob is not served");
        assert_eq!(t.conversion_types["trial"], Payout::Fixed(200));
        assert_eq!(t.revenue_origins, ["app", "shop"]);
        assert_eq!(t.aliases["bob-2"], "bob");

        // a new tenant comes with its first admin key, and one version bump
        let mut nt = spec(7, &["zed"], "unused").tenant;
        nt.id = "new".into();
        let v = s.catalog_version().await.unwrap();
        s.change_catalog(change(
            CreateTenant {
                tenant: nt,
                admin_key_hash: key_hash("sk_new_admin"),
            },
            T0 + 70,
        ))
        .await
        .unwrap();
        assert_eq!(s.catalog_version().await.unwrap(), v + 1);
        let c = s.load_catalog().await.unwrap();
        assert_eq!(c.key("sk_new_admin").unwrap().scopes, [KeyScope::Admin]);
        assert_eq!(c.tenant("new").unwrap().affiliates, ["zed"]);
    }
}

/// The file manages what it declares, on every backend: what it made and no longer declares
/// is disabled and comes back when declared again; an alias may not shadow a code; what the
/// admin API made or disabled stays as it is.
#[tokio::test]
async fn the_file_manages_what_it_declares() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        s.apply_catalog(vec![spec(60, &["alice", "bob"], "sk_t")], T0)
            .await
            .unwrap();
        let api = |code: &str| {
            change(
                CatalogChange::CreateAffiliate {
                    code: code.into(),
                    name: None,
                },
                T0,
            )
        };
        s.change_catalog(api("api-made")).await.unwrap();
        // the operator disables alice through the API: declaring her again does not enable her
        s.change_catalog(change(
            CatalogChange::UpdateAffiliate {
                code: "alice".into(),
                name: None,
                disabled: Some(true),
            },
            T0,
        ))
        .await
        .unwrap();
        s.apply_catalog(vec![spec(60, &["alice"], "sk_t")], T0 + 1)
            .await
            .unwrap();
        let served = |c: &clicktrail_domain::Catalog| c.tenant("t").unwrap().affiliates.clone();
        assert_eq!(served(&s.load_catalog().await.unwrap()), ["api-made"]);
        s.apply_catalog(vec![spec(60, &["alice", "bob"], "sk_t")], T0 + 2)
            .await
            .unwrap();
        assert_eq!(
            served(&s.load_catalog().await.unwrap()),
            ["bob", "api-made"],
            "bob is back, alice stays disabled by the operator"
        );
        let mut shadow = spec(60, &["alice", "bob"], "sk_t");
        shadow
            .tenant
            .aliases
            .insert("api-made".into(), "bob".into());
        let v = s.catalog_version().await.unwrap();
        match s.apply_catalog(vec![shadow], T0 + 3).await {
            Err(StoreError::Invalid(f, m)) => {
                assert_eq!(f, "affiliate_aliases");
                assert_eq!(m, "tenant `t`: alias `api-made` is an affiliate code");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.catalog_version().await.unwrap(), v);
        // a tenant made through the API is not the file's to disable
        let mut other = spec(1, &[], "x").tenant;
        other.id = "api-tenant".into();
        s.change_catalog(change(
            CatalogChange::CreateTenant {
                tenant: other,
                admin_key_hash: key_hash("sk_api_tenant"),
            },
            T0,
        ))
        .await
        .unwrap();
        s.apply_catalog(vec![spec(60, &["bob"], "sk_t")], T0 + 4)
            .await
            .unwrap();
        let c = s.load_catalog().await.unwrap();
        assert!(c.tenant("api-tenant").is_some());
        assert!(c.key("sk_api_tenant").is_some());
    }
}

/// Tenant `t` with affiliate alice, who has a click (CID `C1`) at `T0`.
async fn alice_clicked(s: &dyn Store) {
    s.apply_catalog(vec![spec(60, &["alice"], "sk_t")], T0)
        .await
        .unwrap();
    s.click(click(Some(C1), "alice", T0)).await.unwrap();
}

/// What a report counts, on every backend: never a declined conversion, nor a lead without an
/// affiliate; test-mode sales apart, counted only when the tenant says so.
#[tokio::test]
async fn report_counts_what_the_rules_say() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        alice_clicked(s.as_ref()).await;
        s.lead(lead(Some(C1), Some("k1"), T0 + 1)).await.unwrap();
        s.lead(lead(None, Some("k2"), T0 + 1)).await.unwrap();
        for tx in ["live", "test", "gone"] {
            let mut x = sale(tx, Target::Cid(cid(C1)), T0 + 2);
            if tx == "gone" {
                x.status = Status::Declined;
            }
            s.sale(x).await.unwrap();
        }
        b.sql_exec("UPDATE conversions SET livemode = false WHERE transaction_id = 'test'")
            .await;
        let r = s.report("t", T0, T0 + DAY).await.unwrap();
        assert_eq!(
            r.leads,
            [("alice".to_string(), "2026-11-19".to_string(), 1)]
        );
        let alice = (
            Some("alice".to_string()),
            "2026-11-19".to_string(),
            "USD".to_string(),
        );
        assert_eq!(
            r.conversions,
            [(
                alice.0.clone(),
                alice.1.clone(),
                alice.2.clone(),
                1,
                10_050,
                3015
            )]
        );
        assert_eq!(
            (
                r.test_mode.counted,
                r.test_mode.sales,
                r.test_mode.revenue_cents
            ),
            (false, 1, 10_050)
        );
        assert_eq!(r.test_mode.commission_cents, 3015);
        // the portal shows what the report counts
        let p = s.portal_activity("t", "alice", 10).await.unwrap();
        let ids: Vec<i64> = p.conversions.iter().map(|c| c.commission_cents).collect();
        assert_eq!(
            ids,
            [0, 3015],
            "the declined one (reversed) and the live one"
        );
        b.sql_exec("UPDATE tenants SET count_test_payments = true")
            .await;
        let r = s.report("t", T0, T0 + DAY).await.unwrap();
        assert_eq!(
            r.conversions,
            [(alice.0, alice.1, alice.2, 2, 20_100, 6030)]
        );
        assert!(r.test_mode.counted);
        assert_eq!(
            s.portal_activity("t", "alice", 10)
                .await
                .unwrap()
                .conversions
                .len(),
            3
        );
        assert_eq!(
            s.portal_activity("t", "alice", 1)
                .await
                .unwrap()
                .conversions
                .len(),
            1
        );
    }
}

/// One live portal link per affiliate; revoking twice says there was none.
#[tokio::test]
async fn portal_links_rotate() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        s.portal_link("t", "alice", "h1", T0).await.unwrap();
        s.portal_link("t", "alice", "h2", T0 + 1).await.unwrap();
        assert_eq!(s.portal_lookup("h1").await.unwrap(), None);
        assert_eq!(
            s.portal_lookup("h2").await.unwrap(),
            Some(("t".to_string(), "alice".to_string()))
        );
        assert!(s.revoke_portal_link("t", "alice", T0 + 2).await.unwrap());
        assert!(!s.revoke_portal_link("t", "alice", T0 + 3).await.unwrap());
        assert_eq!(s.portal_lookup("h2").await.unwrap(), None);
        assert_eq!(
            b.sql_i64("SELECT count(*) FROM portal_links WHERE revoked_at IS NULL")
                .await,
            0
        );
    }
}

/// A test-mode sale's commission (Stripe `livemode: false`), on every backend: not in the
/// ledger listing, the report's ledger nor a payout until the tenant counts test payments;
/// then it is, and the next payout takes it.
#[tokio::test]
async fn test_mode_commissions_count_only_when_the_tenant_counts_them() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        alice_clicked(s.as_ref()).await;
        for tx in ["live", "test"] {
            s.sale(sale(tx, Target::Cid(cid(C1)), T0 + 2))
                .await
                .unwrap();
        }
        b.sql_exec("UPDATE conversions SET livemode = false WHERE transaction_id = 'test'")
            .await;
        let pay = |now: i64| PayIn {
            tenant: "t".into(),
            affiliate: "alice".into(),
            through: now,
            currency: None,
            now,
        };
        let listed = s.ledger_entries("t").await.unwrap();
        assert_eq!(listed.len(), 1, "only the live sale's accrual is listed");
        let live_conversion = listed[0].conversion_id;
        let r = s.report("t", T0, T0 + DAY).await.unwrap();
        assert_eq!(r.ledger, listed, "the report's ledger is the listing's");
        let p = s.pay(pay(T0 + DAY)).await.unwrap();
        assert_eq!(p.amount_cents, 3015);
        let txs: Vec<_> = p.lines.iter().map(|l| l.transaction_id.clone()).collect();
        assert_eq!(txs, [Some("live".to_string())]);
        match s.pay(pay(T0 + DAY + 1)).await {
            Err(StoreError::Invalid(code, _)) => assert_eq!(code, "nothing_due"),
            other => panic!("the test-mode commission is not due: {other:?}"),
        }
        b.sql_exec("UPDATE tenants SET count_test_payments = true")
            .await;
        let listed = s.ledger_entries("t").await.unwrap();
        assert_eq!(listed.len(), 2, "both accruals are listed");
        assert!(listed[0].paid && !listed[1].paid);
        assert_eq!(listed[0].conversion_id, live_conversion);
        let r = s.report("t", T0, T0 + DAY).await.unwrap();
        assert_eq!(r.ledger, listed);
        let p = s.pay(pay(T0 + DAY + 2)).await.unwrap();
        assert_eq!(p.amount_cents, 3015);
        let txs: Vec<_> = p.lines.iter().map(|l| l.transaction_id.clone()).collect();
        assert_eq!(txs, [Some("test".to_string())]);
    }
}

/// The program's commission emails and the outgoing `sale` webhooks, on every backend: a
/// test-mode sale is told to nobody unless the tenant counts test payments.
#[tokio::test]
async fn test_mode_sales_are_told_only_when_the_tenant_counts_them() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        alice_clicked(s.as_ref()).await;
        // alice came through the join page: she has an address for commission emails
        b.sql_exec(&format!(
            "INSERT INTO applications (tenant, status, name, email, promotion, affiliate, created_at)
             VALUES ('t', 'approved', 'Alice', 'alice@example.com', 'a blog', 'alice', {T0})"
        ))
        .await;
        let endpoint = s
            .webhooks()
            .create_endpoint(clicktrail_store::webhooks::EndpointIn {
                tenant: "t".into(),
                url: "https://hooks.example/in".into(),
                events: vec!["sale".into()],
                secret: "whsec_out".into(),
                now: T0,
            })
            .await
            .unwrap()
            .id;
        let (mut commissions, mut sales) = (0, 0);
        for (n, (tx, count_test)) in [("test", false), ("live", false), ("test2", true)]
            .into_iter()
            .enumerate()
        {
            let at = T0 + 10 * (n as i64 + 1);
            if count_test {
                b.sql_exec("UPDATE tenants SET count_test_payments = true")
                    .await;
            }
            s.sale(sale(tx, Target::Cid(cid(C1)), at)).await.unwrap();
            if tx.starts_with("test") {
                b.sql_exec(&format!(
                    "UPDATE conversions SET livemode = false WHERE transaction_id = '{tx}'"
                ))
                .await;
            }
            let told = s
                .program()
                .queue_notices(at + 1, at + 1, 100)
                .await
                .unwrap();
            let sent = s
                .webhooks()
                .queue_webhook_events(at + 1, at + 1, 100)
                .await
                .unwrap();
            let expected = usize::from(tx == "live" || count_test);
            assert_eq!((told, sent), (expected, expected), "sale `{tx}`");
            commissions += told;
            sales += sent;
        }
        let outbox = s.program().outbox("t", 100).await.unwrap();
        let emails = outbox
            .iter()
            .filter(|m| m.dedupe_key.contains(":commission:"))
            .count();
        assert_eq!(emails, commissions);
        let deliveries = s
            .webhooks()
            .webhook_deliveries("t", endpoint, 100)
            .await
            .unwrap();
        assert_eq!(deliveries.len(), sales);
        assert_eq!((commissions, sales), (2, 2));
    }
}

/// The admin listings read alike on both backends: diagnostics by kind (a missing kind is the
/// empty one), time and page; the event log by time, affiliate and kind, a lead named by its
/// customer key; the tenant's own rows only.
#[tokio::test]
async fn admin_listings_filter_by_kind_time_and_affiliate() {
    use clicktrail_store::EventFilter;
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        s.apply_catalog(vec![spec(60, &["alice", "bob"], "sk_t")], T0)
            .await
            .unwrap();
        s.click(click(Some(C1), "alice", T0)).await.unwrap();
        s.click(click(Some(C2), "bob", T0 + 5)).await.unwrap();
        s.lead(lead(Some(C1), Some("cust-1"), T0 + 10))
            .await
            .unwrap();
        let diagnostics = [
            (Some("t"), Some("csp"), T0 + 1),
            (Some("t"), None, T0 + 2),
            (Some("t"), Some("rejected"), T0 + 3),
            (None, Some("csp"), T0 + 4),
            (Some("t"), Some("init"), T0 + 20),
        ];
        for (tenant, kind, now) in diagnostics {
            s.diagnostic(DiagnosticIn {
                tenant: tenant.map(String::from),
                event_id: None,
                kind: kind.map(String::from),
                message: Some("m".into()),
                url: None,
                user_agent: None,
                now,
            })
            .await
            .unwrap();
        }
        let filter = |kinds: &[&str], affiliate: Option<&str>, since, limit, offset| EventFilter {
            tenant: "t".into(),
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            affiliate: affiliate.map(String::from),
            since,
            limit,
            offset,
        };
        let diag = |f: EventFilter| {
            let s = s.clone();
            async move {
                let rows = s.diagnostics(f).await.unwrap();
                rows.into_iter()
                    .map(|d| (d.kind, d.created_at))
                    .collect::<Vec<_>>()
            }
        };
        let k = |k: &str| Some(k.to_string());
        assert_eq!(
            diag(filter(&[], None, None, 10, 0)).await,
            [
                (k("init"), T0 + 20),
                (k("rejected"), T0 + 3),
                (None, T0 + 2),
                (k("csp"), T0 + 1)
            ]
        );
        assert_eq!(
            diag(filter(&["csp", ""], None, None, 10, 0)).await,
            [(None, T0 + 2), (k("csp"), T0 + 1)]
        );
        assert_eq!(
            diag(filter(&[], None, Some(T0 + 3), 10, 0)).await,
            [(k("init"), T0 + 20), (k("rejected"), T0 + 3)]
        );
        assert_eq!(
            diag(filter(&[], None, None, 2, 1)).await,
            [(k("rejected"), T0 + 3), (None, T0 + 2)]
        );
        let events = |f: EventFilter| {
            let s = s.clone();
            async move {
                let rows = s.recent_events(f).await.unwrap();
                rows.into_iter()
                    .map(|e| (e.kind, e.created_at, e.affiliate, e.reference))
                    .collect::<Vec<_>>()
            }
        };
        let e = |kind: &str, at: i64, aff: Option<&str>, reference: Option<&str>| {
            (
                kind.to_string(),
                at,
                aff.map(String::from),
                reference.map(String::from),
            )
        };
        let (init, lead_alice) = (
            e("diagnostic", T0 + 20, None, Some("init")),
            e("lead", T0 + 10, Some("alice"), Some("cust-1")),
        );
        let (click_bob, click_alice) = (
            e("click", T0 + 5, Some("bob"), Some(C2)),
            e("click", T0, Some("alice"), Some(C1)),
        );
        let rejected = e("rejected", T0 + 3, None, Some("rejected"));
        assert_eq!(
            events(filter(&[], None, None, 20, 0)).await,
            [
                init.clone(),
                lead_alice.clone(),
                click_bob.clone(),
                rejected.clone(),
                e("diagnostic", T0 + 2, None, None),
                e("diagnostic", T0 + 1, None, Some("csp")),
                click_alice.clone(),
            ]
        );
        assert_eq!(
            events(filter(&[], Some("alice"), None, 20, 0)).await,
            [lead_alice.clone(), click_alice.clone()],
            "an affiliate's events have no diagnostics"
        );
        assert_eq!(
            events(filter(&["rejected", "click"], None, None, 20, 0)).await,
            [click_bob.clone(), rejected, click_alice]
        );
        assert_eq!(
            events(filter(&[], None, Some(T0 + 5), 20, 0)).await,
            [init, lead_alice, click_bob]
        );
    }
}

/// A tenant's retention is its own: never set, it reads as no setting; a second setting
/// replaces the first whole; a pass prunes each tenant by its own setting only (a tenant
/// without one keeps its diagnostics and click URLs), and a second pass finds nothing.
#[tokio::test]
async fn retention_is_per_tenant_and_replaced_whole() {
    use clicktrail_domain::retention::Retention;
    for b in backends().await {
        let s = b.s.as_ref();
        eprintln!("-- backend: {}", b.name());
        assert_eq!(
            s.retention("a").await,
            Ok(Retention::default()),
            "{}",
            b.name()
        );
        let first = Retention {
            event_days: Some(10),
            click_url_days: Some(20),
            diagnostic_days: Some(30),
        };
        s.set_retention("a", first, T0).await.expect("set");
        assert_eq!(s.retention("a").await, Ok(first));
        let second = Retention {
            event_days: None,
            click_url_days: Some(5),
            diagnostic_days: Some(2),
        };
        s.set_retention("a", second, T0 + 1).await.expect("replace");
        assert_eq!(s.retention("a").await, Ok(second), "{}", b.name());
        assert_eq!(s.retention("b").await, Ok(Retention::default()));

        let (old, new) = (T0 - 10 * DAY, T0 - DAY);
        b.sql_exec(&format!(
            "INSERT INTO diagnostics (tenant, kind, message, created_at) VALUES
                ('a', 'load', 'old', {old}), ('a', 'load', 'new', {new}), ('b', 'load', 'old', {old});
             INSERT INTO clicks (tenant, cid, affiliate, url, referrer, created_at) VALUES
                ('a', 'c1', 'alice', 'https://shop.example/old', NULL, {old}),
                ('a', 'c2', 'alice', 'https://shop.example/new', 'https://ref.example/', {new}),
                ('b', 'c3', 'bob', 'https://shop.example/b', NULL, {old});"
        ))
        .await;
        let pruned = s.prune(T0).await.expect("prune");
        assert_eq!(
            (pruned.events, pruned.click_urls, pruned.diagnostics),
            (0, 1, 1),
            "{}: {pruned:?}",
            b.name()
        );
        assert_eq!(
            b.sql_i64("SELECT count(*) FROM diagnostics WHERE tenant = 'a' AND message = 'old'")
                .await,
            0
        );
        assert_eq!(b.sql_i64("SELECT count(*) FROM diagnostics").await, 2);
        assert_eq!(
            b.sql_i64("SELECT count(*) FROM clicks WHERE url IS NOT NULL")
                .await,
            2,
            "{}: the newer click of `a` and the click of `b` keep their URL",
            b.name()
        );
        let twice = s.prune(T0).await.expect("prune");
        assert_eq!(
            (twice.click_urls, twice.diagnostics),
            (0, 0),
            "{}",
            b.name()
        );
    }
}

/// A conversion's net commission and the report's sums of them are exact past i64 on every
/// backend (each amount summed in two halves); the portal, which shows one conversion's
/// commission as i64, refuses a net past it instead of wrapping it.
#[tokio::test]
async fn commissions_past_i64_are_exact_in_the_report_and_refused_by_the_portal() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        s.click(click(Some(C1), "alice", T0)).await.unwrap();
        s.sale(sale("s1", Target::Cid(cid(C1)), T0 + 2))
            .await
            .unwrap();
        s.sale(sale("s2", Target::Cid(cid(C1)), T0 + 3))
            .await
            .unwrap();
        let within = s.portal_activity("t", "alice", 10).await.unwrap();
        assert_eq!(within.conversions.len(), 2);
        assert!(within
            .conversions
            .iter()
            .all(|c| c.commission_cents == 3015));
        // two more accruals of i64::MAX on the first sale: its own net is past i64
        b.sql_exec(&format!(
            "{} INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, created_at)
             SELECT 't', 'alice', (SELECT min(id) FROM conversions), 'accrual', 9223372036854775807, 'USD', {T0}, {T0}
             FROM g",
            series(2)
        ))
        .await;
        let rows = s.report("t", T0, T0 + DAY).await.unwrap();
        let alice: Vec<_> = rows
            .conversions
            .iter()
            .filter(|r| r.0.as_deref() == Some("alice"))
            .collect();
        assert_eq!(alice.len(), 1, "{:?}", rows.conversions);
        assert_eq!(alice[0].3, 2);
        assert_eq!(alice[0].5, 2 * 3015 + 2 * i128::from(i64::MAX));
        match s.portal_activity("t", "alice", 10).await {
            Err(StoreError::Invalid(field, m)) => {
                assert_eq!(field, "amount");
                assert_eq!(
                    m,
                    "the amount is too large: a total would not be representable"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

fn message(key: &str, recipient: &str, now: i64) -> clicktrail_store::program::OutboxIn {
    clicktrail_store::program::OutboxIn {
        channel: "webhook".into(),
        dedupe_key: key.into(),
        tenant: "t".into(),
        recipient: recipient.into(),
        subject: "sale".into(),
        body: "{}".into(),
        now,
    }
}

/// The outbox on every backend: a dedupe key is queued once; due messages are leased (their
/// next attempt moves to the lease's end) and answered oldest first, and a leased message is
/// not taken again before its lease ends; a failure is counted and kept until a delivery
/// clears it, and a delivered message stays delivered.
#[tokio::test]
async fn outbox_leases_due_messages_once_oldest_first() {
    for b in backends().await {
        let p = b.s.program();
        eprintln!("-- backend: {}", b.name());
        assert!(p.enqueue(message("k1", "1", T0)).await.unwrap());
        assert!(p.enqueue(message("k2", "1", T0 - 10)).await.unwrap());
        assert!(p.enqueue(message("k3", "1", T0 + 100)).await.unwrap());
        assert!(!p.enqueue(message("k1", "2", T0)).await.unwrap());

        let due = p.outbox_claim("webhook", T0, 60, 10).await.unwrap();
        let keys: Vec<_> = due.iter().map(|m| m.dedupe_key.as_str()).collect();
        assert_eq!(keys, ["k1", "k2"], "{}", b.name());
        assert!(due.iter().all(|m| m.next_attempt_at == T0 + 60));
        assert!(p
            .outbox_claim("email", T0, 60, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(p
            .outbox_claim("webhook", T0, 60, 10)
            .await
            .unwrap()
            .is_empty());

        let k1 = due[0].id;
        p.outbox_failed(k1, "503 from the receiver", T0 + 5)
            .await
            .unwrap();
        let again = p.outbox_claim("webhook", T0 + 5, 60, 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].id, again[0].attempts), (k1, 1));
        assert_eq!(
            again[0].last_error.as_deref(),
            Some("503 from the receiver")
        );

        p.outbox_delivered(k1, T0 + 6).await.unwrap();
        p.outbox_failed(k1, "late", T0 + 7).await.unwrap();
        let rows = p.outbox("t", 10).await.unwrap();
        let ids: Vec<_> = rows.iter().map(|m| m.dedupe_key.as_str()).collect();
        assert_eq!(ids, ["k3", "k2", "k1"], "newest first");
        let m1 = &rows[2];
        assert_eq!(
            (m1.attempts, m1.last_error.as_deref(), m1.delivered_at),
            (2, None, Some(T0 + 6))
        );
        let later = p.outbox_claim("webhook", T0 + 200, 60, 1).await.unwrap();
        assert_eq!(later.len(), 1, "the limit holds");
        assert_eq!(later[0].dedupe_key, "k2");
    }
}

/// Webhook endpoints on every backend: another tenant neither sees, changes nor deletes one;
/// failures start a streak that a delivery ends; enabling again makes the waiting deliveries
/// due at once; deleting drops the undelivered ones and keeps the log of the delivered.
#[tokio::test]
async fn webhook_endpoints_are_their_tenants_and_keep_their_log() {
    use clicktrail_store::webhooks::{EndpointIn, EndpointPatch, Outcome};
    for b in backends().await {
        let (w, p) = (b.s.webhooks(), b.s.program());
        eprintln!("-- backend: {}", b.name());
        let e = w
            .create_endpoint(EndpointIn {
                tenant: "t".into(),
                url: "https://hooks.example/in".into(),
                events: vec!["sale".into(), "refund".into()],
                secret: "whsec_out".into(),
                now: T0,
            })
            .await
            .unwrap();
        assert_eq!(e.events, ["sale", "refund"]);
        assert!(e.enabled);
        assert_eq!(w.endpoint(Some("u"), e.id).await.unwrap(), None);
        assert_eq!(w.endpoint(None, e.id).await.unwrap(), Some(e.clone()));
        assert!(w.endpoints("u").await.unwrap().is_empty());
        let patch = EndpointPatch {
            url: Some("https://evil.example/".into()),
            ..EndpointPatch::default()
        };
        let err = w.update_endpoint("u", e.id, patch, T0).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound("unknown_endpoint", _)));
        let err = w.delete_endpoint("u", e.id).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound("unknown_endpoint", _)));

        w.endpoint_outcome(e.id, Outcome::Failed, T0 + 1)
            .await
            .unwrap();
        w.endpoint_outcome(e.id, Outcome::Failed, T0 + 2)
            .await
            .unwrap();
        let got = w.endpoint(Some("t"), e.id).await.unwrap().unwrap();
        assert_eq!(got.failing_since, Some(T0 + 1), "the streak's start");
        w.endpoint_outcome(e.id, Outcome::Delivered, T0 + 3)
            .await
            .unwrap();
        let got = w.endpoint(Some("t"), e.id).await.unwrap().unwrap();
        assert_eq!(got.failing_since, None);
        w.endpoint_outcome(e.id, Outcome::Disable("410 Gone".into()), T0 + 4)
            .await
            .unwrap();
        let got = w.endpoint(Some("t"), e.id).await.unwrap().unwrap();
        assert_eq!(
            (got.enabled, got.disabled_reason.as_deref()),
            (false, Some("410 Gone"))
        );
        assert_eq!(got.updated_at, T0 + 4);

        let to = e.id.to_string();
        p.enqueue(message("sent", &to, T0)).await.unwrap();
        p.enqueue(message("waiting", &to, T0)).await.unwrap();
        let sent = p.outbox_claim("webhook", T0, 60, 1).await.unwrap()[0].id;
        p.outbox_delivered(sent, T0 + 1).await.unwrap();
        let waiting = p.outbox("t", 10).await.unwrap()[0].id;
        p.outbox_failed(waiting, "410 Gone", T0 + 10_000)
            .await
            .unwrap();
        let enable = EndpointPatch {
            enabled: Some(true),
            ..EndpointPatch::default()
        };
        let got = w.update_endpoint("t", e.id, enable, T0 + 20).await.unwrap();
        assert_eq!(
            (got.enabled, got.disabled_reason, got.updated_at),
            (true, None, T0 + 20)
        );
        let due = p.outbox_claim("webhook", T0 + 20, 60, 10).await.unwrap();
        assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), [waiting]);

        w.delete_endpoint("t", e.id).await.unwrap();
        assert!(w.endpoints("t").await.unwrap().is_empty());
        let log = w.webhook_deliveries("t", e.id, 10).await.unwrap();
        assert_eq!(log.iter().map(|m| m.id).collect::<Vec<_>>(), [sent]);
        let err = w.delete_endpoint("t", e.id).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound("unknown_endpoint", _)));
    }
}

/// The program's reads on every backend: default settings until some are stored, payout
/// details of one affiliate or all (by affiliate, a second save replacing the first),
/// applications newest first and by status, an affiliate's address from their newest
/// approved application; nothing of another tenant.
#[tokio::test]
async fn program_settings_details_and_applications_are_the_tenants() {
    use clicktrail_store::program::{PayoutDetails, ProgramSettings};
    for b in backends().await {
        let p = b.s.program();
        eprintln!("-- backend: {}", b.name());
        assert_eq!(
            p.program_settings("t").await.unwrap(),
            ProgramSettings::default()
        );
        let s = ProgramSettings {
            auto_approve: true,
            program_name: Some("Acme partners".into()),
            ..ProgramSettings::default()
        };
        p.set_program_settings("t", &s, T0).await.unwrap();
        assert_eq!(p.program_settings("t").await.unwrap(), s);
        assert_eq!(
            p.program_settings("u").await.unwrap(),
            ProgramSettings::default()
        );

        let details = |method: &str, at| PayoutDetails {
            method: method.into(),
            address: "a@pay.example".into(),
            updated_at: at,
        };
        p.set_payout_details("t", "bob", &details("paypal", T0))
            .await
            .unwrap();
        p.set_payout_details("t", "bob", &details("wise", T0 + 1))
            .await
            .unwrap();
        p.set_payout_details("t", "alice", &details("paypal", T0))
            .await
            .unwrap();
        p.set_payout_details("u", "carol", &details("paypal", T0))
            .await
            .unwrap();
        assert_eq!(
            p.payout_details("t", "bob").await.unwrap(),
            Some(details("wise", T0 + 1))
        );
        assert_eq!(p.payout_details("t", "carol").await.unwrap(), None);
        let all = p.all_payout_details("t").await.unwrap();
        let names: Vec<_> = all.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);

        for (n, (tenant, status, email, aff)) in [
            ("t", "approved", "old@example.com", "alice"),
            ("t", "pending", "p@example.com", ""),
            ("t", "approved", "new@example.com", "alice"),
            ("u", "approved", "u@example.com", "alice"),
        ]
        .into_iter()
        .enumerate()
        {
            let aff = if aff.is_empty() {
                "NULL".to_string()
            } else {
                format!("'{aff}'")
            };
            b.sql_exec(&format!(
                "INSERT INTO applications (tenant, status, name, email, promotion, affiliate, created_at)
                 VALUES ('{tenant}', '{status}', 'N', '{email}', 'a blog', {aff}, {})",
                T0 + n as i64
            ))
            .await;
        }
        let apps = p.applications("t", None).await.unwrap();
        let emails: Vec<_> = apps.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(
            emails,
            ["new@example.com", "p@example.com", "old@example.com"]
        );
        let pending = p.applications("t", Some("pending")).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].email.as_str(), pending[0].affiliate.as_deref()),
            ("p@example.com", None)
        );
        assert_eq!(
            p.affiliate_email("t", "alice").await.unwrap().as_deref(),
            Some("new@example.com")
        );
        assert_eq!(p.affiliate_email("t", "bob").await.unwrap(), None);
    }
}

/// A lead without a customer key is one row per (tenant, CID) on both backends (the same
/// unique index, the same upsert): a later lead fills in the affiliate the row lacks and
/// replaces the email when it brings one; concurrent ones add nothing; another tenant's lead
/// of the same CID is its own row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyless_leads_of_one_cid_are_one_row() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        s.click(click(Some(C1), "alice", T0)).await.unwrap();
        let mut elsewhere = click(Some(C1), "bob", T0);
        elsewhere.tenant = "u".into();
        s.click(elsewhere).await.unwrap();
        // past the window: the row credits nobody yet
        let mut late = lead(Some(C1), None, T0 + 61 * DAY);
        late.email = Some("first@example.com".into());
        s.lead(late).await.unwrap();
        // a repeat click reopens the window: the next lead fills in the affiliate
        s.click(click(Some(C1), "alice", T0 + 62 * DAY))
            .await
            .unwrap();
        s.lead(lead(Some(C1), None, T0 + 62 * DAY + 1))
            .await
            .unwrap();
        let mut newer = lead(Some(C1), None, T0 + 62 * DAY + 2);
        newer.email = Some("second@example.com".into());
        s.lead(newer).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                let l = lead(Some(C1), None, T0 + 62 * DAY + 3 + i);
                tokio::spawn(async move { s.lead(l).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap().ok);
        }
        let mut other = lead(Some(C1), None, T0 + 4);
        other.tenant = "u".into();
        s.lead(other).await.unwrap();

        assert_eq!(
            b.sql_i64("SELECT count(*) FROM leads WHERE tenant = 't'")
                .await,
            1
        );
        assert_eq!(
            b.sql_i64(&format!(
                "SELECT count(*) FROM leads WHERE tenant = 't' AND cid = '{C1}'
                   AND customer_key IS NULL AND affiliate = 'alice'
                   AND email = 'second@example.com' AND created_at = {}",
                T0 + 61 * DAY
            ))
            .await,
            1
        );
        assert_eq!(
            b.sql_i64(&format!(
                "SELECT count(*) FROM leads WHERE tenant = 'u' AND cid = '{C1}'
                   AND affiliate = 'bob' AND email IS NULL"
            ))
            .await,
            1
        );
    }
}

/// An import's rows run in order in one transaction on both backends (`clicktrail_app::import`):
/// a refund may follow its sale in the same file; a row the store answers with a 404 or 409 is
/// listed and nothing of the file stays; a database failure aborts the whole import (an
/// internal error, not a list), with nothing stored either.
#[tokio::test]
async fn import_rows_are_listed_or_abort() {
    for b in backends().await {
        let s = b.s.clone();
        eprintln!("-- backend: {}", b.name());
        s.click(click(Some(C1), "alice", T0)).await.unwrap();
        let sold = |line: u64, tx: &str| ImportItemRow {
            line,
            item: ImportItem::Sale({
                let mut x = sale(tx, Target::Cid(cid(C1)), T0 + 5);
                x.source = "import";
                x
            }),
        };
        let refunded = |line: u64, tx: &str, id: &str| ImportItemRow {
            line,
            item: ImportItem::Refund(clicktrail_store::RefundIn {
                tenant: "t".into(),
                transaction_id: tx.into(),
                refund_id: id.into(),
                amount_cents: Some(1_000),
                reason: None,
                now: T0 + 6,
            }),
        };
        let errors = s
            .import_items(vec![
                sold(2, "imp-1"),
                refunded(3, "imp-1", "r-1"),
                refunded(4, "nope", "r-2"),
                sold(5, "imp-1"),
            ])
            .await
            .unwrap()
            .unwrap_err();
        let codes: Vec<_> = errors
            .iter()
            .map(|(line, m)| (*line, m.split(':').next().unwrap_or_default().to_string()))
            .collect();
        assert_eq!(
            codes,
            [
                (4, "unknown_transaction".to_string()),
                (5, "duplicate_transaction".to_string())
            ]
        );
        for table in ["conversions", "ledger", "refunds"] {
            assert_eq!(
                b.sql_i64(&format!("SELECT count(*) FROM {table}")).await,
                0,
                "{table}"
            );
        }

        let good = vec![sold(2, "imp-1"), refunded(3, "imp-1", "r-1")];
        assert_eq!(s.import_items(good).await.unwrap(), Ok(2));
        assert_eq!(b.sql_i64("SELECT count(*) FROM refunds").await, 1);
        assert_eq!(
            b.sql_i64("SELECT CAST(sum(amount_cents) AS BIGINT) FROM ledger")
                .await,
            3_015 - 300
        );

        // the database refuses one refund's row: the import stops there, whatever it listed
        b.sql_exec(match b.name() {
            "sqlite" => {
                "CREATE TRIGGER refused BEFORE INSERT ON refunds WHEN NEW.refund_id = 'r-refused'
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            }
            _ => {
                "ALTER TABLE refunds ADD CONSTRAINT refused CHECK (refund_id <> 'r-refused') NOT VALID"
            }
        })
        .await;
        let failed = s
            .import_items(vec![
                refunded(2, "nope", "r-3"),
                sold(3, "imp-3"),
                refunded(4, "imp-3", "r-refused"),
                sold(5, "imp-4"),
            ])
            .await;
        assert!(matches!(failed, Err(StoreError::Internal(_))), "{failed:?}");
        assert_eq!(b.sql_i64("SELECT count(*) FROM conversions").await, 1);
        assert_eq!(b.sql_i64("SELECT count(*) FROM ledger").await, 2);
        assert_eq!(b.sql_i64("SELECT count(*) FROM refunds").await, 1);
    }
}
