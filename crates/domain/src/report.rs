//! The report (`GET /api/v1/report`): per affiliate and per day, from the store's grouped rows,
//! with checked sums (an overflow is an error, never a wrapped or negative total). Money sums
//! are i128: no count of i64 amounts a store can hold overflows them, so the report always
//! answers with exact figures.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::money::Overflow;
use crate::payout::{totals, EntryView, LedgerTotals};

/// Grouped rows for `[from, to)` as a store returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRows {
    /// (affiliate, day YYYY-MM-DD, count)
    pub clicks: Vec<(String, String, i64)>,
    pub leads: Vec<(String, String, i64)>,
    /// (affiliate or None, day, currency, count, revenue cents, net commission cents from the
    /// ledger)
    pub conversions: Vec<(Option<String>, String, String, i64, i128, i128)>,
    /// The ledger entries of the period's conversions (every status), for the `ledger` states.
    pub ledger: Vec<EntryView>,
    /// Test-mode (Stripe `livemode: false`) sales of the period, and whether the tenant
    /// counts them (then they are also in the rows above).
    pub test_mode: TestMode,
}

/// The report's `testMode`: test-mode sales kept apart (or counted, when the tenant's
/// `count_test_payments` says so).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestMode {
    /// Whether they are counted in the report (and payable).
    pub counted: bool,
    pub sales: i64,
    pub revenue_cents: i128,
    /// Their net commission (accruals less reversals), every currency.
    pub commission_cents: i128,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub clicks: i64,
    pub leads: i64,
    pub conversions: i64,
    pub revenue_cents: i128,
    pub commission_cents: i128,
}

impl Counts {
    fn add(&mut self, o: &Counts) -> Result<(), Overflow> {
        add(&mut self.clicks, o.clicks)?;
        add(&mut self.leads, o.leads)?;
        add(&mut self.conversions, o.conversions)?;
        add(&mut self.revenue_cents, o.revenue_cents)?;
        add(&mut self.commission_cents, o.commission_cents)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    pub date: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffiliateRow {
    pub affiliate: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub days: Vec<Day>,
    /// The affiliate's entries (in the report's currency) by state, as of `now`.
    pub ledger: LedgerTotals,
    /// The affiliate's accruals (report currency) decided by a rule other than the conversion
    /// type's rate (domain `rules`: overrides, product rates, the recurring limit,
    /// self-referrals); absent when there are none, so a tenant without rules sees no change.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, RuleTotals>,
}

/// Accruals decided by one commission rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleTotals {
    pub accruals: i64,
    pub accrued_cents: i128,
}

/// Accruals by rule, per affiliate.
fn by_rule<'a>(
    entries: impl Iterator<Item = &'a EntryView>,
) -> BTreeMap<String, BTreeMap<String, RuleTotals>> {
    let mut out: BTreeMap<String, BTreeMap<String, RuleTotals>> = BTreeMap::new();
    for e in entries.filter(|e| e.kind == crate::ledger::EntryKind::Accrual) {
        if let Some(rule) = e.rule.as_ref().filter(|r| r.as_str() != "type") {
            let t = out
                .entry(e.affiliate.clone())
                .or_default()
                .entry(rule.clone())
                .or_default();
            t.accruals += 1;
            t.accrued_cents += i128::from(e.amount_cents);
        }
    }
    out
}

/// The report's totals: the counts and the ledger states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    #[serde(flatten)]
    pub counts: Counts,
    pub ledger: LedgerTotals,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unattributed {
    pub conversions: i64,
    pub revenue_cents: i128,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyTotals {
    pub revenue_cents: i128,
    pub commission_cents: i128,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub tenant_id: String,
    pub from: String,
    pub to: String,
    pub currency: String,
    pub totals: Totals,
    pub affiliates: Vec<AffiliateRow>,
    pub unattributed: Unattributed,
    pub other_currencies: BTreeMap<String, CurrencyTotals>,
    pub test_mode: TestMode,
}

/// The report's period and tenant.
pub struct ReportScope<'a> {
    pub tenant_id: &'a str,
    pub from: String,
    pub to: String,
    /// The tenant's currency: amounts in it are summed; others are listed apart.
    pub currency: &'a str,
    /// Catalog affiliates, always listed (in this order) even without activity.
    pub affiliates: &'a [String],
    /// Now (unix seconds): decides which entries are still pending.
    pub now: i64,
}

/// Checked `+=` for counts (i64) and money sums (i128).
fn add<T: CheckedAdd>(a: &mut T, b: T) -> Result<(), Overflow> {
    *a = a.checked(b).ok_or(Overflow)?;
    Ok(())
}

trait CheckedAdd: Sized + Copy {
    fn checked(self, b: Self) -> Option<Self>;
}

impl CheckedAdd for i64 {
    fn checked(self, b: Self) -> Option<Self> {
        self.checked_add(b)
    }
}

impl CheckedAdd for i128 {
    fn checked(self, b: Self) -> Option<Self> {
        self.checked_add(b)
    }
}

/// affiliate -> day -> counts
type PerAffiliate = BTreeMap<String, BTreeMap<String, Counts>>;

fn cell<'m>(per: &'m mut PerAffiliate, aff: &str, day: &str) -> &'m mut Counts {
    per.entry(aff.to_string())
        .or_default()
        .entry(day.to_string())
        .or_default()
}

fn add_ledger(a: &LedgerTotals, b: &LedgerTotals) -> Result<LedgerTotals, Overflow> {
    let add = |x: i128, y: i128| x.checked_add(y).ok_or(Overflow);
    Ok(LedgerTotals {
        pending_cents: add(a.pending_cents, b.pending_cents)?,
        approved_cents: add(a.approved_cents, b.approved_cents)?,
        paid_cents: add(a.paid_cents, b.paid_cents)?,
        reversed_cents: add(a.reversed_cents, b.reversed_cents)?,
    })
}

/// Builds the report from grouped rows.
pub fn build(scope: ReportScope<'_>, rows: &ReportRows) -> Result<Report, Overflow> {
    let mut per: PerAffiliate = BTreeMap::new();
    for (aff, day, n) in &rows.clicks {
        add(&mut cell(&mut per, aff, day).clicks, *n)?;
    }
    for (aff, day, n) in &rows.leads {
        add(&mut cell(&mut per, aff, day).leads, *n)?;
    }
    let mut unattributed = Unattributed::default();
    let mut other: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
    for (aff, day, cur, n, rev, com) in &rows.conversions {
        let home = cur == scope.currency;
        if !home {
            let e = other.entry(cur.clone()).or_default();
            add(&mut e.revenue_cents, *rev)?;
            add(&mut e.commission_cents, *com)?;
        }
        match aff {
            None => {
                add(&mut unattributed.conversions, *n)?;
                if home {
                    add(&mut unattributed.revenue_cents, *rev)?;
                }
            }
            Some(a) => {
                let c = cell(&mut per, a, day);
                add(&mut c.conversions, *n)?;
                if home {
                    add(&mut c.revenue_cents, *rev)?;
                    add(&mut c.commission_cents, *com)?;
                }
            }
        }
    }
    let mut order: Vec<String> = scope.affiliates.to_vec();
    for a in per.keys() {
        if !order.contains(a) {
            order.push(a.clone());
        }
    }
    // the ledger's states per affiliate, in the report's currency only
    let mut entries: BTreeMap<&str, Vec<EntryView>> = BTreeMap::new();
    for e in rows.ledger.iter().filter(|e| e.currency == scope.currency) {
        entries
            .entry(e.affiliate.as_str())
            .or_default()
            .push(e.clone());
        if !order.contains(&e.affiliate) {
            order.push(e.affiliate.clone());
        }
    }
    let mut rules = by_rule(rows.ledger.iter().filter(|e| e.currency == scope.currency));
    let mut ledgers: BTreeMap<String, LedgerTotals> = BTreeMap::new();
    for (a, es) in &entries {
        ledgers.insert(a.to_string(), totals(es, scope.now));
    }
    let mut sums = Totals::default();
    let mut affiliates = Vec::with_capacity(order.len());
    for a in order {
        let days = per.remove(&a).unwrap_or_default();
        let mut sum = Counts::default();
        let mut list = Vec::with_capacity(days.len());
        for (date, counts) in days {
            sum.add(&counts)?;
            list.push(Day { date, counts });
        }
        sums.counts.add(&sum)?;
        let ledger = ledgers.remove(&a).unwrap_or_default();
        let rules = rules.remove(&a).unwrap_or_default();
        sums.ledger = add_ledger(&sums.ledger, &ledger)?;
        affiliates.push(AffiliateRow {
            affiliate: a,
            counts: sum,
            days: list,
            ledger,
            rules,
        });
    }
    Ok(Report {
        tenant_id: scope.tenant_id.to_string(),
        from: scope.from,
        to: scope.to,
        currency: scope.currency.to_string(),
        totals: sums,
        affiliates,
        unattributed,
        other_currencies: other,
        test_mode: rows.test_mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope<'a>(affs: &'a [String]) -> ReportScope<'a> {
        ReportScope {
            tenant_id: "t",
            from: "2026-11-01".into(),
            to: "2026-11-30".into(),
            currency: "USD",
            affiliates: affs,
            now: 100,
        }
    }

    #[test]
    fn groups_per_affiliate_and_day() {
        let affs = vec!["alice".to_string(), "bob".to_string()];
        let rows = ReportRows {
            clicks: vec![("alice".into(), "2026-11-19".into(), 2)],
            leads: vec![("alice".into(), "2026-11-19".into(), 1)],
            conversions: vec![
                (
                    Some("alice".into()),
                    "2026-11-20".into(),
                    "USD".into(),
                    2,
                    10_050,
                    3015,
                ),
                (
                    Some("alice".into()),
                    "2026-11-20".into(),
                    "EUR".into(),
                    1,
                    100,
                    30,
                ),
                (None, "2026-11-20".into(), "USD".into(), 1, 500, 0),
            ],
            ledger: vec![],
            test_mode: TestMode::default(),
        };
        let r = build(scope(&affs), &rows).unwrap();
        assert_eq!(r.totals.counts.clicks, 2);
        assert_eq!(r.totals.counts.conversions, 3);
        assert_eq!(r.totals.counts.revenue_cents, 10_050);
        assert_eq!(r.totals.counts.commission_cents, 3015);
        assert_eq!(r.affiliates[0].days.len(), 2);
        assert_eq!(r.affiliates[1].affiliate, "bob");
        assert_eq!(
            r.unattributed,
            Unattributed {
                conversions: 1,
                revenue_cents: 500
            }
        );
        assert_eq!(r.other_currencies["EUR"].commission_cents, 30);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["totals"]["revenueCents"], 10_050);
        assert_eq!(v["affiliates"][0]["days"][0]["date"], "2026-11-19");
    }

    #[test]
    fn ledger_states_per_affiliate_and_in_totals() {
        use crate::ledger::EntryKind;
        let e = |id, aff: &str, kind, amount, at, paid, cur: &str| EntryView {
            id,
            conversion_id: id,
            affiliate: String::from(aff),
            currency: cur.into(),
            kind,
            amount_cents: amount,
            available_at: at,
            paid,
            held: false,
            rule: None,
        };
        let affs = vec!["alice".to_string(), "bob".to_string()];
        let rows = ReportRows {
            ledger: vec![
                e(1, "alice", EntryKind::Accrual, 3000, 50, true, "USD"),
                e(2, "alice", EntryKind::Reversal, -1000, 60, false, "USD"),
                e(3, "alice", EntryKind::Accrual, 700, 500, false, "USD"),
                e(4, "bob", EntryKind::Accrual, 200, 10, false, "USD"),
                e(5, "bob", EntryKind::Accrual, 999, 10, false, "EUR"),
                e(6, "carol", EntryKind::Accrual, 5, 10, false, "USD"),
            ],
            ..Default::default()
        };
        let r = build(scope(&affs), &rows).unwrap();
        let alice = &r.affiliates[0].ledger;
        assert_eq!(
            (
                alice.pending_cents,
                alice.approved_cents,
                alice.paid_cents,
                alice.reversed_cents
            ),
            (700, -1000, 3000, 1000)
        );
        assert_eq!(r.affiliates[1].ledger.approved_cents, 200, "EUR left out");
        assert_eq!(r.affiliates[2].affiliate, "carol");
        assert_eq!(r.totals.ledger.approved_cents, -1000 + 200 + 5);
        assert_eq!(r.totals.ledger.paid_cents, 3000);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["totals"]["ledger"]["reversedCents"], 1000);
        assert_eq!(v["totals"]["clicks"], 0);
        assert_eq!(v["affiliates"][0]["ledger"]["pendingCents"], 700);
    }

    #[test]
    fn money_sums_beyond_i64_are_exact() {
        let affs = vec![];
        let max = i128::from(i64::MAX);
        let rows = ReportRows {
            conversions: vec![
                (Some("a".into()), "d1".into(), "USD".into(), 1, max, max),
                (Some("b".into()), "d1".into(), "USD".into(), 1, max, 1),
                (None, "d1".into(), "USD".into(), 2, 2 * max, 0),
            ],
            ..Default::default()
        };
        let r = build(scope(&affs), &rows).unwrap();
        assert_eq!(r.totals.counts.revenue_cents, 2 * max);
        assert_eq!(r.totals.counts.commission_cents, max + 1);
        assert_eq!(r.unattributed.revenue_cents, 2 * max);
        let v = serde_json::to_string(&r).unwrap();
        assert!(v.contains("\"revenueCents\":18446744073709551614"), "{v}");
    }

    #[test]
    fn count_overflow_is_an_error_not_a_wrap() {
        let affs = vec![];
        let rows = ReportRows {
            clicks: vec![
                ("a".into(), "d1".into(), i64::MAX),
                ("b".into(), "d1".into(), 1),
            ],
            ..Default::default()
        };
        assert_eq!(build(scope(&affs), &rows), Err(Overflow));
    }
}
