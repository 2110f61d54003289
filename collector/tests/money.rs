//! The money lifecycle against the real stores: refunds, declines, payouts and the
//! report's ledger states, on SQLite and PostgreSQL (`both()`), plus the races two collectors on
//! one PostgreSQL can run, and a property test over random sequences through the real SQLite
//! store.

use std::sync::Arc;

use clicktrail_domain::conversion::Status;
use clicktrail_domain::payout::{due, totals};
use clicktrail_domain::report::{self, ReportScope};
use clicktrail_domain::{Cid, Payout};
use clicktrail_store::{
    ClickIn, PayIn, RefundIn, SaleIn, SaleOut, Store, StoreError, Target, NOTHING_DUE,
};
use clicktrail_store_postgres::test_cluster::fresh_database;
use clicktrail_store_postgres::PgStore;
use clicktrail_store_sqlite::SqliteStore;

const DAY: i64 = 86_400;
const T0: i64 = 1_795_072_000; // 2026-11-19T07:06:40Z

/// A fresh, empty store of each backend.
async fn both() -> Vec<Arc<dyn Store>> {
    let pg = PgStore::connect(&fresh_database().await)
        .await
        .expect("postgres store");
    vec![
        Arc::new(SqliteStore::open(":memory:").expect("sqlite store")),
        Arc::new(pg),
    ]
}

fn cid(n: u32) -> Cid {
    Cid::parse(&format!("{n:08x}-1111-4111-8111-111111111111")).expect("cid")
}

async fn click(s: &dyn Store, n: u32, aff: &str, now: i64) {
    s.click(ClickIn {
        tenant: "t".into(),
        event_id: None,
        cid: Some(cid(n)),
        affiliate: aff.into(),
        url: None,
        referrer: None,
        cookie_secs: 60 * DAY,
        now,
    })
    .await
    .expect("click");
}

/// A sale of `cents` at 30 %, attributed to the click `n` (or unattributed when `n` is 0).
fn sale_in(tx: &str, n: u32, cents: i64, hold_days: i64, now: i64) -> SaleIn {
    SaleIn {
        tenant: "t".into(),
        transaction_id: tx.into(),
        amount_cents: cents,
        currency: "USD".into(),
        target: if n == 0 {
            Target::None
        } else {
            Target::Cid(cid(n))
        },
        allow_unresolved: true,
        conversion_type: "sale".into(),
        payout: Some(Payout::RevenueShare(3000)),
        customer_key: None,
        is_recurring: false,
        subscription_id: None,
        source: "api",
        details: None,
        status: Status::Approved,
        hold_days,
        now,
        rules: Default::default(),
        coupon_codes: Vec::new(),
        products: Vec::new(),
        customer_email: None,
    }
}

async fn sale(s: &dyn Store, tx: &str, n: u32, cents: i64, hold: i64, now: i64) -> SaleOut {
    s.sale(sale_in(tx, n, cents, hold, now))
        .await
        .expect("sale")
}

fn refund_in(tx: &str, id: &str, cents: Option<i64>, now: i64) -> RefundIn {
    RefundIn {
        tenant: "t".into(),
        transaction_id: tx.into(),
        refund_id: id.into(),
        amount_cents: cents,
        reason: None,
        now,
    }
}

fn pay_in(aff: &str, through: i64, now: i64) -> PayIn {
    PayIn {
        tenant: "t".into(),
        affiliate: aff.into(),
        through,
        currency: None,
        now,
    }
}

async fn report_at(s: &dyn Store, now: i64) -> report::Report {
    let rows = s.report("t", 0, T0 + 1000 * DAY).await.expect("rows");
    let affs: Vec<String> = vec![];
    report::build(
        ReportScope {
            tenant_id: "t",
            from: "a".into(),
            to: "b".into(),
            currency: "USD",
            affiliates: &affs,
            now,
        },
        &rows,
    )
    .expect("report")
}

#[tokio::test]
async fn refunds_partial_full_idempotent_and_refused() {
    for s in both().await {
        let b = s.backend();
        let s = s.as_ref();
        click(s, 1, "alice", T0).await;
        sale(s, "tx1", 1, 10_000, 0, T0 + 10).await; // 3000 commission
        let r1 = s
            .refund(refund_in("tx1", "re_1", Some(2_500), T0 + 20))
            .await;
        let r1 = r1.expect(b);
        assert_eq!(
            (r1.amount_cents, r1.commission_reversed_cents),
            (2_500, 750),
            "{b}"
        );
        // the same body again: answered as before, nothing more reversed
        let again = s
            .refund(refund_in("tx1", "re_1", Some(2_500), T0 + 30))
            .await;
        assert_eq!(again.as_ref(), Ok(&r1), "{b}");
        // another body with the same id: 409
        let reused = s.refund(refund_in("tx1", "re_1", Some(100), T0 + 30)).await;
        assert!(
            matches!(reused, Err(StoreError::Conflict("refund_id_reused", _))),
            "{b}: {reused:?}"
        );
        let mut with_reason = refund_in("tx1", "re_1", Some(2_500), T0 + 30);
        with_reason.reason = Some("other".into());
        assert!(matches!(
            s.refund(with_reason).await,
            Err(StoreError::Conflict("refund_id_reused", _))
        ));
        // a Stripe settlement's form of id: 422, so that the Stripe event keeps it
        let stripe_form = s
            .refund(refund_in("tx1", "stripe:evt_1", Some(100), T0 + 30))
            .await;
        assert!(
            matches!(&stripe_form, Err(StoreError::Invalid(f, m)) if f == "refund_id" && m.contains("stripe:")),
            "{b}: {stripe_form:?}"
        );
        // unknown transaction: 404
        let unknown = s.refund(refund_in("nope", "re_x", None, T0)).await;
        assert!(
            matches!(unknown, Err(StoreError::NotFound("unknown_transaction", _))),
            "{b}: {unknown:?}"
        );
        // more than is left: 422, nothing stored
        let over = s
            .refund(refund_in("tx1", "re_2", Some(7_501), T0 + 40))
            .await;
        assert!(
            matches!(&over, Err(StoreError::Invalid(f, m)) if f == "amount_cents" && m.contains("7500")),
            "{b}: {over:?}"
        );
        for bad in [0, -5] {
            assert!(matches!(
                s.refund(refund_in("tx1", "re_3", Some(bad), T0 + 40)).await,
                Err(StoreError::Invalid(..))
            ));
        }
        // the rest (no amount): the reversals sum to the accrual exactly
        let rest = s
            .refund(refund_in("tx1", "re_2", None, T0 + 50))
            .await
            .expect(b);
        assert_eq!(
            (rest.amount_cents, rest.commission_reversed_cents),
            (7_500, 2_250),
            "{b}"
        );
        let full = s.refund(refund_in("tx1", "re_4", None, T0 + 60)).await;
        assert!(
            matches!(&full, Err(StoreError::Invalid(_, m)) if m.contains("fully refunded")),
            "{b}: {full:?}"
        );
        let es = s.ledger_entries("t").await.expect(b);
        let net: i64 = es.iter().map(|e| e.amount_cents).sum();
        assert_eq!(net, 0, "{b}: {es:?}");
        assert_eq!(es.len(), 3, "{b}: accrual + two reversals");
        // an unattributed sale: refunds are recorded, nothing is reversed
        sale(s, "tx2", 0, 5_000, 0, T0).await;
        let u = s
            .refund(refund_in("tx2", "re_u", Some(1_000), T0 + 5))
            .await
            .expect(b);
        assert_eq!(u.commission_reversed_cents, 0);
        assert_eq!(s.ledger_entries("t").await.expect(b).len(), 3, "{b}");
        // a rounding case: 1/3 refunds of a 1.00 sale at 30 % (30 cents): 10 + 10 + 10
        click(s, 3, "bob", T0).await;
        sale(s, "tx3", 3, 100, 0, T0).await;
        let mut rev = vec![];
        for (i, c) in [33, 33, 34].iter().enumerate() {
            let r = s
                .refund(refund_in("tx3", &format!("r3_{i}"), Some(*c), T0 + 1))
                .await
                .expect(b);
            rev.push(r.commission_reversed_cents);
        }
        assert_eq!(rev, vec![10, 10, 10], "{b}");
    }
}

#[tokio::test]
async fn declining_reverses_what_is_left_and_is_final() {
    for s in both().await {
        let b = s.backend();
        let s = s.as_ref();
        click(s, 1, "alice", T0).await;
        let out = sale(s, "tx1", 1, 10_000, 30, T0).await;
        s.refund(refund_in("tx1", "re_1", Some(5_000), T0 + 1))
            .await
            .expect(b);
        let id = out.sale_id.to_string();
        // approving a pending/approved one changes no money
        let a = s
            .set_conversion_status("t", &id, Status::Approved, T0 + 2)
            .await
            .expect(b);
        assert_eq!(a.commission_reversed_cents, 0);
        let d = s
            .set_conversion_status("t", &id, Status::Declined, T0 + 3)
            .await
            .expect(b);
        assert_eq!(
            d.commission_reversed_cents, 1_500,
            "{b}: 3000 - 1500 refunded"
        );
        assert_eq!(d.status, "declined");
        // by public id: declined again is a no-op; approving it is refused
        let again = s
            .set_conversion_status("t", &d.conversion_id, Status::Declined, T0 + 4)
            .await
            .expect(b);
        assert_eq!(again.commission_reversed_cents, 0);
        let back = s
            .set_conversion_status("t", &d.conversion_id, Status::Approved, T0 + 5)
            .await;
        assert!(
            matches!(back, Err(StoreError::Conflict("conversion_declined", _))),
            "{b}: {back:?}"
        );
        // a refund after the decline reverses nothing more
        let r = s
            .refund(refund_in("tx1", "re_2", None, T0 + 6))
            .await
            .expect(b);
        assert_eq!(
            (r.amount_cents, r.commission_reversed_cents),
            (5_000, 0),
            "{b}"
        );
        let es = s.ledger_entries("t").await.expect(b);
        assert_eq!(es.iter().map(|e| e.amount_cents).sum::<i64>(), 0, "{b}");
        // the reversals wait with their accrual (within the hold): nothing pending is net > 0
        let t = totals(&es, T0 + 10);
        assert_eq!(
            (t.pending_cents, t.approved_cents, t.reversed_cents),
            (0, 0, 3_000),
            "{b}"
        );
        for unknown in ["999999", "no-such-conversion"] {
            let e = s
                .set_conversion_status("t", unknown, Status::Declined, T0)
                .await;
            assert!(
                matches!(e, Err(StoreError::NotFound("unknown_conversion", _))),
                "{b}: {e:?}"
            );
        }
        // another tenant's conversion is unknown
        let e = s
            .set_conversion_status("other", &id, Status::Declined, T0)
            .await;
        assert!(matches!(e, Err(StoreError::NotFound(..))), "{b}");
    }
}

#[tokio::test]
async fn payouts_pay_what_is_due_once_and_carry_later_reversals() {
    for s in both().await {
        let b = s.backend();
        let s = s.as_ref();
        click(s, 1, "alice", T0).await;
        click(s, 2, "bob", T0).await;
        sale(s, "a1", 1, 10_000, 30, T0).await; // 3000, payable at T0 + 30d
        sale(s, "a2", 1, 1_000, 30, T0 + 40 * DAY).await; // 300, payable at T0 + 70d
        sale(s, "b1", 2, 2_000, 0, T0).await; // 600 now
        let nothing = s.pay(pay_in("alice", T0 + 10 * DAY, T0 + 10 * DAY)).await;
        assert!(
            matches!(&nothing, Err(StoreError::Invalid(f, _)) if f == NOTHING_DUE),
            "{b}: {nothing:?}"
        );
        let now = T0 + 45 * DAY;
        let due_now = due(&s.ledger_entries("t").await.expect(b), now);
        let amounts: Vec<_> = due_now
            .iter()
            .map(|d| (d.affiliate.as_str(), d.amount_cents))
            .collect();
        assert_eq!(amounts, vec![("alice", 3_000), ("bob", 600)], "{b}");
        let p = s.pay(pay_in("alice", now, now)).await.expect(b);
        assert_eq!((p.amount_cents, p.currency.as_str()), (3_000, "USD"), "{b}");
        assert_eq!(p.lines.len(), 1);
        assert_eq!(p.lines[0].transaction_id.as_deref(), Some("a1"));
        assert_eq!(p.lines[0].kind, "accrual");
        assert_eq!(p.through, now);
        assert_eq!(s.payout("t", p.payout_id).await.as_ref(), Ok(&p), "{b}");
        assert!(matches!(
            s.payout("t", p.payout_id + 1000).await,
            Err(StoreError::NotFound("unknown_payout", _))
        ));
        assert!(matches!(
            s.payout("other", p.payout_id).await,
            Err(StoreError::NotFound("unknown_payout", _))
        ));
        // paying again pays nothing more
        let twice = s.pay(pay_in("alice", now, now)).await;
        assert!(
            matches!(&twice, Err(StoreError::Invalid(f, _)) if f == NOTHING_DUE),
            "{b}"
        );
        // a refund of the paid sale: the reversal is payable at once and lowers the next payout
        let r = s
            .refund(refund_in("a1", "re", Some(5_000), now + 1))
            .await
            .expect(b);
        assert_eq!(r.commission_reversed_cents, 1_500);
        let later = T0 + 80 * DAY;
        let still = s.pay(pay_in("alice", now + 2, now + 2)).await;
        assert!(
            matches!(&still, Err(StoreError::Invalid(f, _)) if f == NOTHING_DUE),
            "{b}: a negative balance is not due: {still:?}"
        );
        click(s, 1, "alice", later - 1).await; // the first click expired: a new one
        sale(s, "a3", 1, 10_000, 0, later).await; // +3000
        let next = s.pay(pay_in("alice", later, later)).await.expect(b);
        assert_eq!(next.amount_cents, 300 - 1_500 + 3_000, "{b}");
        assert_eq!(next.lines.len(), 3);
        let kinds: Vec<_> = next.lines.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(kinds, vec!["accrual", "reversal", "accrual"], "{b}");
        // report: every state and net commission is the sum of the ledger
        let rep = report_at(s, later).await;
        let alice = rep
            .affiliates
            .iter()
            .find(|a| a.affiliate == "alice")
            .expect("alice");
        assert_eq!(alice.ledger.paid_cents, 3_000 + 1_800, "{b}");
        assert_eq!(alice.ledger.reversed_cents, 1_500);
        assert_eq!(
            (alice.ledger.pending_cents, alice.ledger.approved_cents),
            (0, 0)
        );
        assert_eq!(alice.counts.commission_cents, 3_000 + 300 - 1_500 + 3_000);
        assert_eq!(rep.totals.ledger.approved_cents, 600, "{b}: bob unpaid");
        assert_eq!(rep.totals.counts.commission_cents, 4_800 + 600);
        // several currencies due: the payout must say which
        click(s, 2, "bob", later - 1).await;
        sale_in_eur(s, "e1", later).await;
        let both_cur = s.pay(pay_in("bob", later, later)).await;
        assert!(
            matches!(&both_cur, Err(StoreError::Invalid(f, _)) if f == "currency"),
            "{b}: {both_cur:?}"
        );
        let mut eur = pay_in("bob", later, later);
        eur.currency = Some("EUR".into());
        assert_eq!(s.pay(eur).await.expect(b).amount_cents, 300);
    }
}

async fn sale_in_eur(s: &dyn Store, tx: &str, now: i64) {
    let mut e = sale_in(tx, 2, 1_000, 0, now);
    e.currency = "EUR".into();
    s.sale(e).await.expect("eur sale");
}

/// Two collectors on one PostgreSQL: concurrent refunds of one sale never refund more than the
/// sale or reverse more than the accrual; concurrent payouts never pay an entry twice; a
/// refund id raced by its retry is one refund.
#[tokio::test]
async fn two_collectors_refund_and_pay_at_once() {
    let url = fresh_database().await;
    let a = Arc::new(PgStore::connect(&url).await.expect("a"));
    let b = Arc::new(PgStore::connect(&url).await.expect("b"));
    click(a.as_ref(), 1, "alice", T0).await;
    sale(a.as_ref(), "tx", 1, 10_000, 0, T0).await;
    sale(a.as_ref(), "tx_same", 1, 10_000, 0, T0).await;
    let mut tasks = vec![];
    for i in 0..12 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.refund(refund_in("tx", &format!("r{i}"), Some(1_000), T0 + 1))
                .await
        }));
    }
    // the same refund id from both collectors at once
    for i in 0..6 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.refund(refund_in("tx_same", "same", Some(500), T0 + 1))
                .await
        }));
    }
    let mut ok_amount = 0;
    let mut same = vec![];
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.expect("task") {
            Ok(r) if r.refund_id == "same" => same.push(r),
            Ok(r) => ok_amount += r.amount_cents,
            Err(StoreError::Invalid(..)) if i < 12 => {}
            Err(e) => panic!("{i}: {e}"),
        }
    }
    assert_eq!(same.len(), 6, "every retry answered");
    assert!(same.windows(2).all(|w| w[0] == w[1]));
    // ten refunds of 10.00 fit; the two others found nothing left
    assert_eq!(ok_amount, 10_000, "never more than the sale was refunded");
    assert_eq!(
        same[0].commission_reversed_cents, 150,
        "the raced id counted once"
    );
    let es = a.ledger_entries("t").await.expect("entries");
    let net: i64 = es.iter().map(|e| e.amount_cents).sum();
    assert_eq!(
        net,
        3_000 - 150,
        "tx reversed entirely, tx_same by 5 %: {es:?}"
    );
    assert_eq!(
        es.len(),
        2 + 10 + 1,
        "two accruals, ten reversals, one for the raced id"
    );
    // payouts: many sales, both collectors pay alice at once
    for i in 0..20 {
        sale(b.as_ref(), &format!("p{i}"), 1, 1_000, 0, T0 + 2).await;
    }
    let mut pays = vec![];
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        pays.push(tokio::spawn(async move {
            s.pay(pay_in("alice", T0 + 10, T0 + 10)).await
        }));
    }
    let mut paid = 0;
    let mut ok = 0;
    for p in pays {
        match p.await.expect("task") {
            Ok(p) => {
                ok += 1;
                paid += p.amount_cents;
            }
            Err(StoreError::Invalid(f, _)) if f == NOTHING_DUE => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1, "one payout took everything");
    assert_eq!(
        paid,
        20 * 300 + 3_000 - 150,
        "the new sales and the net of the first two"
    );
    let es = b.ledger_entries("t").await.expect("entries");
    assert!(es
        .iter()
        .all(|e| e.paid || e.amount_cents == 0 || e.available_at > T0 + 10));
}

/// A small deterministic generator (xorshift64*): the property test needs no extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random sequences of sales, partial refunds, declines and payouts through the real SQLite
/// store: reversals never exceed accruals (per sale), the report equals the sum of the
/// entries, and paying twice pays nothing more.
#[tokio::test]
async fn property_random_money_sequences_on_sqlite() {
    let (mut refunds, mut declines, mut payouts) = (0, 0, 0);
    for seed in 1..=40u64 {
        let s = SqliteStore::open(":memory:").expect("sqlite");
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let affs = ["alice", "bob", "carol"];
        for (i, a) in affs.iter().enumerate() {
            click(&s, i as u32 + 1, a, T0).await;
        }
        let mut now = T0;
        let mut sales: Vec<(String, i64, i64)> = vec![];
        let mut paid_total = 0i64;
        for step in 0..60 {
            now += rng.below(3 * DAY as u64) as i64;
            match rng.below(10) {
                0..=3 => {
                    let tx = format!("tx{step}");
                    let n = rng.below(4) as u32; // 0 = unattributed
                    let cents = 1 + rng.below(100_000) as i64;
                    let hold = rng.below(3) as i64 * 5;
                    let out = sale(&s, &tx, n, cents, hold, now).await;
                    sales.push((tx, cents, out.sale_id));
                }
                4..=6 if !sales.is_empty() => {
                    let (tx, cents, _) = &sales[rng.below(sales.len() as u64) as usize];
                    let amount = match rng.below(3) {
                        0 => None,
                        _ => Some(1 + rng.below(*cents as u64) as i64),
                    };
                    match s
                        .refund(refund_in(tx, &format!("r{step}"), amount, now))
                        .await
                    {
                        Ok(r) => {
                            assert!(r.commission_reversed_cents >= 0);
                            refunds += 1;
                        }
                        Err(StoreError::Invalid(f, _)) => assert_eq!(f, "amount_cents"),
                        Err(e) => panic!("seed {seed}: {e}"),
                    }
                }
                7 if !sales.is_empty() => {
                    let (_, _, id) = &sales[rng.below(sales.len() as u64) as usize];
                    let id = id.to_string();
                    match s
                        .set_conversion_status("t", &id, Status::Declined, now)
                        .await
                    {
                        Ok(d) => declines += usize::from(d.commission_reversed_cents > 0),
                        Err(StoreError::Conflict("conversion_declined", _)) => {}
                        Err(e) => panic!("seed {seed}: {e}"),
                    }
                }
                _ => {
                    let aff = affs[rng.below(3) as usize];
                    match s.pay(pay_in(aff, now, now)).await {
                        Ok(p) => {
                            assert!(p.amount_cents > 0);
                            paid_total += p.amount_cents;
                            payouts += 1;
                            let twice = s.pay(pay_in(aff, now, now)).await;
                            assert!(
                                matches!(&twice, Err(StoreError::Invalid(f, _)) if f == NOTHING_DUE),
                                "seed {seed}: paying twice: {twice:?}"
                            );
                        }
                        Err(StoreError::Invalid(f, _)) if f == NOTHING_DUE => {}
                        Err(e) => panic!("seed {seed}: {e}"),
                    }
                }
            }
        }
        let es = s.ledger_entries("t").await.expect("entries");
        // per conversion: 0 <= reversals <= accruals
        let mut per: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
        for e in &es {
            let c = per.entry(e.conversion_id).or_default();
            if e.amount_cents >= 0 {
                c.0 += e.amount_cents;
            } else {
                c.1 -= e.amount_cents;
            }
        }
        for (c, (acc, rev)) in &per {
            assert!(
                rev <= acc,
                "seed {seed}: conversion {c} reversed {rev} > accrued {acc}"
            );
        }
        // the report equals the sum of the entries
        let rep = report_at(&s, now).await;
        let t = totals(&es, now);
        assert_eq!(rep.totals.ledger, t, "seed {seed}");
        let net: i128 = es.iter().map(|e| i128::from(e.amount_cents)).sum();
        assert_eq!(
            t.pending_cents + t.approved_cents + t.paid_cents,
            net,
            "seed {seed}"
        );
        assert_eq!(rep.totals.counts.commission_cents, net, "seed {seed}");
        assert_eq!(t.paid_cents, i128::from(paid_total), "seed {seed}");
        // and once everything is payable, paying all pays exactly the positive balances
        let end = now + 100 * DAY;
        for aff in affs {
            let _ = s.pay(pay_in(aff, end, end)).await;
            let again = s.pay(pay_in(aff, end, end)).await;
            assert!(matches!(&again, Err(StoreError::Invalid(f, _)) if f == NOTHING_DUE));
        }
    }
    // the sequences did exercise every operation
    assert!(
        refunds > 100 && declines > 20 && payouts > 50,
        "{refunds} refunds, {declines} declines, {payouts} payouts"
    );
}

/// `import-csv` with refund rows: a refund follows its sale in the same file, reverses like the
/// API; a bad refund row fails the whole file (nothing of it is imported).
#[tokio::test]
async fn csv_import_takes_refund_rows() {
    let spec = clicktrail_collector::config::Config::demo().tenants[0].clone();
    let mut tenant = spec.tenant.clone();
    tenant.hold_days = 0;
    for s in both().await {
        let b = s.backend();
        s.apply_catalog(vec![spec.clone()], T0).await.expect(b);
        let tenant = clicktrail_domain::Tenant {
            id: tenant.id.clone(),
            ..tenant.clone()
        };
        let csv = |text: &str| text.as_bytes().to_vec();
        let file = csv("type,transaction_id,amount,refund_id,reason,created_at\n\
             sale,o1,100.00,,,2026-11-01\n\
             refund,o1,25.00,re1,damaged,2026-11-02\n\
             refund,o1,,re2,,2026-11-03\n\
             sale,o2,10.00,,,\n");
        // unattributed sales (no click): refunds recorded, nothing to reverse
        let n = clicktrail_collector::import::import_file(s.as_ref(), &tenant, &file[..], T0)
            .await
            .expect(b);
        assert_eq!(n, Ok(4), "{b}");
        let again = s.refund(RefundIn {
            tenant: tenant.id.clone(),
            transaction_id: "o1".into(),
            refund_id: "re3".into(),
            amount_cents: Some(1),
            reason: None,
            now: T0,
        });
        assert!(
            matches!(again.await, Err(StoreError::Invalid(_, m)) if m.contains("fully refunded")),
            "{b}: the file refunded all of o1"
        );
        // a bad file: over-refund of o2, unknown sale, duplicate refund id, bad type
        let bad = csv("type,transaction_id,amount_cents,refund_id\n\
             refund,o2,1001,re4\n\
             refund,nope,,re5\n\
             refund,o2,1,re6\n\
             refund,o2,1,re6\n\
             gift,o2,1,re7\n\
             refund,o2,,\n");
        let r = clicktrail_collector::import::import_file(s.as_ref(), &tenant, &bad[..], T0)
            .await
            .expect(b);
        let lines: Vec<u64> = r
            .clone()
            .expect_err("bad rows")
            .iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(lines, vec![5, 6, 7], "{b}: parse errors first: {r:?}");
        let bad = csv("type,transaction_id,amount_cents,refund_id\n\
             refund,o2,500,re4\n\
             refund,o2,1001,re5\n\
             refund,nope,,re6\n");
        let r = clicktrail_collector::import::import_file(s.as_ref(), &tenant, &bad[..], T0)
            .await
            .expect(b);
        let errs = r.expect_err("bad rows");
        assert_eq!(errs.len(), 2, "{b}: {errs:?}");
        assert!(errs[0].1.contains("left"), "{b}: {errs:?}");
        assert!(errs[1].1.contains("unknown_transaction"), "{b}: {errs:?}");
        // nothing of the bad file was kept: re4 is free and all of o2 is refundable
        let ok = s
            .refund(RefundIn {
                tenant: tenant.id.clone(),
                transaction_id: "o2".into(),
                refund_id: "re4".into(),
                amount_cents: None,
                reason: None,
                now: T0,
            })
            .await
            .expect(b);
        assert_eq!(ok.amount_cents, 1_000, "{b}");
    }
}

// ---------------------------------------------------------------- HTTP routes

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

async fn harnesses() -> Vec<common::Harness> {
    let mut c = clicktrail_collector::config::Config::demo();
    c.server.rate_limit_per_second = 0;
    let mut out = vec![];
    for s in both().await {
        out.push(common::Harness::new(c.clone(), s).await);
    }
    out
}

async fn admin(h: &common::Harness, method: &str, path: &str, body: Option<Value>) -> common::Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer demo_admin_key")
        .header("content-type", "application/json")
        .body(match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        })
        .expect("request");
    h.send(req).await
}

/// A click for `aff` through the browser route; its CID.
async fn http_click(h: &common::Harness, aff: &str) -> String {
    let r = h
        .post(
            "/tracking/click/v1",
            json!({"tenantId": "demo", "aff": aff, "url": "https://shop.example/", "referrer": "",
                   "eventId": uuid::Uuid::new_v4().to_string()})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["cid"].as_str().expect("cid").to_string()
}

#[tokio::test]
async fn http_refund_decline_and_payouts() {
    for h in harnesses().await {
        let b = h.backend;
        let cid = http_click(&h, "alice").await;
        let sale = h
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id": "o1", "amount_cents": 10000, "click_id": cid}),
            )
            .await;
        assert_eq!(sale.status, StatusCode::OK, "{b}: {}", sale.body);
        // refund: partial, retried, reused id, over, unknown, no key scope
        let body = json!({"transaction_id": "o1", "refund_id": "re_1", "amount_cents": 2500});
        let r = h.api("/api/v1/track/refund", body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(
            r.body,
            json!({"success": true, "refund_id": "re_1", "commission_reversed_cents": 750,
                   "message": "Refund tracked successfully"}),
            "{b}"
        );
        assert_eq!(
            h.api("/api/v1/track/refund", body).await.body,
            r.body,
            "{b}"
        );
        let reused = h
            .api(
                "/api/v1/track/refund",
                json!({"transaction_id": "o1", "refund_id": "re_1", "amount_cents": 1}),
            )
            .await;
        assert_eq!(reused.status, StatusCode::CONFLICT, "{b}");
        assert_eq!(reused.body["error"]["code"], "refund_id_reused");
        let over = h
            .api(
                "/api/v1/track/refund",
                json!({"transaction_id": "o1", "refund_id": "re_2", "amount_cents": 7501}),
            )
            .await;
        assert_eq!(
            over.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            over.body
        );
        assert_eq!(over.body["error"]["field"], "amount_cents");
        let unknown = h
            .api(
                "/api/v1/track/refund",
                json!({"transaction_id": "nope", "refund_id": "re_3"}),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(unknown.body["error"]["code"], "unknown_transaction");
        for bad in [
            json!({"transaction_id": "o1"}),
            json!({"refund_id": "x"}),
            json!({"transaction_id": "o1", "refund_id": "x", "amount_cents": "5"}),
            json!({"transaction_id": "o1", "refund_id": "x", "amount_cents": 1.5}),
            json!({"transaction_id": "o1", "refund_id": "x", "amount_cents": -1}),
        ] {
            let r = h.api("/api/v1/track/refund", bad.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b}: {bad}: {}",
                r.body
            );
        }
        // operators only: an ingest key may not decline or pay
        let sale_id = sale.body["sale_id"].as_i64().expect("sale_id");
        let req = Request::builder()
            .method("PATCH")
            .uri(format!("/api/v1/conversions/{sale_id}"))
            .header("authorization", "Bearer demo_secret_key")
            .body(Body::from(r#"{"status":"declined"}"#))
            .expect("request");
        assert_eq!(h.send(req).await.status, StatusCode::FORBIDDEN, "{b}");
        // payouts due: alice's 3000 - 750
        let due = admin(&h, "GET", "/api/v1/payouts/due?through=2026-11-19", None).await;
        assert_eq!(due.status, StatusCode::OK, "{b}: {}", due.body);
        assert_eq!(due.body["through"], "2026-11-19");
        assert_eq!(due.body["affiliates"][0]["affiliate"], "alice");
        assert_eq!(due.body["affiliates"][0]["amountCents"], 2250, "{b}");
        assert_eq!(due.body["affiliates"][0]["currency"], "USD");
        assert_eq!(
            due.body["affiliates"][0]["entries"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let earlier = admin(&h, "GET", "/api/v1/payouts/due?through=2026-11-18", None).await;
        assert_eq!(earlier.body["affiliates"], json!([]), "{b}");
        let bad_day = admin(&h, "GET", "/api/v1/payouts/due?through=19-11-2026", None).await;
        assert_eq!(bad_day.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        // pay
        let pay = json!({"affiliate": "alice", "through": "2026-11-19"});
        let p = admin(&h, "POST", "/api/v1/payouts", Some(pay.clone())).await;
        assert_eq!(p.status, StatusCode::OK, "{b}: {}", p.body);
        assert_eq!(p.body["affiliate"], "alice");
        assert_eq!(p.body["amountCents"], 2250);
        assert_eq!(p.body["currency"], "USD");
        assert_eq!(p.body["lines"].as_array().map(Vec::len), Some(2));
        assert_eq!(p.body["lines"][0]["transactionId"], "o1");
        assert_eq!(p.body["lines"][1]["kind"], "reversal");
        assert_eq!(p.body["lines"][1]["amountCents"], -750);
        let twice = admin(&h, "POST", "/api/v1/payouts", Some(pay)).await;
        assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(twice.body["error"]["code"], "nothing_due", "{b}");
        let who = admin(
            &h,
            "POST",
            "/api/v1/payouts",
            Some(json!({"affiliate": "zed"})),
        )
        .await;
        assert_eq!(who.status, StatusCode::NOT_FOUND, "{b}");
        let id = p.body["payoutId"].as_i64().expect("payoutId");
        let json_back = admin(&h, "GET", &format!("/api/v1/payouts/{id}"), None).await;
        assert_eq!(json_back.body, p.body, "{b}");
        let csv = admin(&h, "GET", &format!("/api/v1/payouts/{id}.csv"), None).await;
        assert_eq!(csv.status, StatusCode::OK, "{b}");
        assert!(csv.headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv"));
        let text = String::from_utf8(csv.raw.clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{b}: {text}");
        assert!(lines[0].starts_with("payout_id,affiliate,currency,entry_id"));
        assert!(lines[1].contains(",o1,accrual,3000,30.00,"), "{b}: {text}");
        assert!(lines[2].contains(",reversal,-750,-7.50,"), "{b}: {text}");
        let missing = admin(&h, "GET", "/api/v1/payouts/999.csv", None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{b}");
        // decline after payment: the rest is reversed and carried into the next payout
        let d = admin(
            &h,
            "PATCH",
            &format!("/api/v1/conversions/{sale_id}"),
            Some(json!({"status": "declined"})),
        )
        .await;
        assert_eq!(d.status, StatusCode::OK, "{b}: {}", d.body);
        assert_eq!(d.body["status"], "declined");
        assert_eq!(d.body["commissionReversedCents"], 2250, "{b}");
        let back = admin(
            &h,
            "PATCH",
            &format!("/api/v1/conversions/{sale_id}"),
            Some(json!({"status": "approved"})),
        )
        .await;
        assert_eq!(back.status, StatusCode::CONFLICT, "{b}");
        let bad = admin(
            &h,
            "PATCH",
            &format!("/api/v1/conversions/{sale_id}"),
            Some(json!({"status": "paid"})),
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let nope = admin(
            &h,
            "PATCH",
            "/api/v1/conversions/does-not-exist",
            Some(json!({"status": "declined"})),
        )
        .await;
        assert_eq!(nope.status, StatusCode::NOT_FOUND, "{b}");
        // the report's ledger: paid 2250 (3000 - 750), reversed 750 + 2250, approved -2250
        let rep = h.report("?from=2026-11-01&to=2026-11-30").await;
        assert_eq!(
            rep["totals"]["ledger"],
            json!({"pendingCents": 0, "approvedCents": -2250, "paidCents": 2250, "reversedCents": 3000}),
            "{b}"
        );
        assert_eq!(rep["affiliates"][0]["ledger"], rep["totals"]["ledger"]);
        // a browser conversion declined by its conversionId
        let cid2 = http_click(&h, "bob").await;
        let conv = h
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId": "demo", "eventId": uuid::Uuid::new_v4().to_string(), "cid": cid2,
                       "conversionTypeCode": "sale", "amount": {"value": "10.00"}})
                .to_string(),
            )
            .await;
        assert_eq!(conv.status, StatusCode::OK, "{b}: {}", conv.body);
        let cid_id = conv.body["conversionId"].as_str().expect("conversionId");
        let d = admin(
            &h,
            "PATCH",
            &format!("/api/v1/conversions/{cid_id}"),
            Some(json!({"status": "declined"})),
        )
        .await;
        assert_eq!(d.status, StatusCode::OK, "{b}: {}", d.body);
        assert_eq!(d.body["commissionReversedCents"], 300, "{b}");
    }
}
