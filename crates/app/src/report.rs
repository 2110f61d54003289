//! The report's rows (`GET /api/v1/report`): the backends read grouped rows of the period with
//! plain SQL (one snapshot); what counts is decided here, once: a declined conversion never
//! counts, a test-mode sale (Stripe `livemode: false`) counts only when the tenant says so and
//! is always shown apart.

use std::collections::BTreeMap;

use clicktrail_domain::conversion::Status;
use clicktrail_domain::money::Overflow;
use clicktrail_domain::payout::counts;

use crate::payout::LedgerRow;
use crate::testmode::counted;
use clicktrail_domain::report::{ReportRows, TestMode};

/// The conversions of one (affiliate, day, currency, livemode, status): their count, revenue
/// and net commission (the sum of their ledger entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionGroup {
    pub affiliate: Option<String>,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub currency: String,
    pub livemode: bool,
    /// As stored.
    pub status: String,
    pub count: i64,
    pub revenue_cents: i128,
    pub commission_cents: i128,
}

/// What a backend reads for a report of `[from, to)`, in one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportSnapshot {
    /// The tenant's `count_test_payments` (false for an unknown tenant).
    pub count_test_payments: bool,
    /// (affiliate, day, count).
    pub clicks: Vec<(String, String, i64)>,
    /// (affiliate or none, day, count).
    pub leads: Vec<(Option<String>, String, i64)>,
    pub conversions: Vec<ConversionGroup>,
    /// The ledger entries of the period's conversions (test-mode ones included), for the
    /// `ledger` states.
    pub ledger: Vec<LedgerRow>,
}

type Key = (Option<String>, String, String);

/// The report's rows: attributed leads only; conversions not declined, live ones (and test
/// ones when counted) merged per (affiliate, day, currency); test-mode ones summed apart.
pub fn rows(s: ReportSnapshot) -> Result<ReportRows, Overflow> {
    let with_test = s.count_test_payments;
    let mut test = TestMode {
        counted: with_test,
        ..TestMode::default()
    };
    let mut groups: BTreeMap<Key, (i64, i128, i128)> = BTreeMap::new();
    for g in s.conversions {
        if g.status == Status::Declined.as_str() {
            continue;
        }
        if !g.livemode {
            test.sales = test.sales.checked_add(g.count).ok_or(Overflow)?;
            test.revenue_cents = add(test.revenue_cents, g.revenue_cents)?;
            test.commission_cents = add(test.commission_cents, g.commission_cents)?;
        }
        if !counts(g.livemode, with_test) {
            continue;
        }
        let e = groups.entry((g.affiliate, g.day, g.currency)).or_default();
        e.0 = e.0.checked_add(g.count).ok_or(Overflow)?;
        e.1 = add(e.1, g.revenue_cents)?;
        e.2 = add(e.2, g.commission_cents)?;
    }
    Ok(ReportRows {
        clicks: s.clicks,
        leads: s
            .leads
            .into_iter()
            .filter_map(|(a, day, n)| Some((a?, day, n)))
            .collect(),
        conversions: groups
            .into_iter()
            .map(|((a, day, cur), (n, revenue, net))| (a, day, cur, n, revenue, net))
            .collect(),
        ledger: counted(s.ledger),
        test_mode: test,
    })
}

fn add(a: i128, b: i128) -> Result<i128, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(aff: &str, livemode: bool, status: &str, n: i64, rev: i128, net: i128) -> ConversionGroup {
        ConversionGroup {
            affiliate: Some(aff.into()),
            day: "2026-11-19".into(),
            currency: "USD".into(),
            livemode,
            status: status.into(),
            count: n,
            revenue_cents: rev,
            commission_cents: net,
        }
    }

    fn snapshot(counted: bool) -> ReportSnapshot {
        ReportSnapshot {
            count_test_payments: counted,
            leads: vec![
                (Some("a".into()), "2026-11-19".into(), 2),
                (None, "2026-11-19".into(), 5),
            ],
            conversions: vec![
                g("a", true, "approved", 2, 200, 60),
                g("a", true, "pending", 1, 100, 30),
                g("a", true, "declined", 4, 400, 0),
                g("a", false, "approved", 1, 1000, 300),
                g("a", false, "declined", 1, 1000, 0),
            ],
            ..ReportSnapshot::default()
        }
    }

    #[test]
    fn declined_never_count_and_test_mode_counts_only_when_the_tenant_says_so() {
        let r = rows(snapshot(false)).unwrap();
        assert_eq!(r.leads, [("a".to_string(), "2026-11-19".to_string(), 2)]);
        let key = (
            Some("a".to_string()),
            "2026-11-19".to_string(),
            "USD".to_string(),
        );
        assert_eq!(
            r.conversions,
            [(key.0.clone(), key.1.clone(), key.2.clone(), 3, 300, 90)]
        );
        assert_eq!(
            r.test_mode,
            TestMode {
                counted: false,
                sales: 1,
                revenue_cents: 1000,
                commission_cents: 300
            }
        );
        let r = rows(snapshot(true)).unwrap();
        assert_eq!(r.conversions, [(key.0, key.1, key.2, 4, 1300, 390)]);
        assert!(r.test_mode.counted);
        assert_eq!(r.test_mode.sales, 1);
    }

    #[test]
    fn sums_are_checked() {
        let mut s = snapshot(false);
        s.conversions = vec![
            g("a", true, "approved", i64::MAX, 1, 1),
            g("a", true, "pending", 1, 1, 1),
        ];
        assert_eq!(rows(s), Err(Overflow));
    }
}
