//! The report (`GET /api/v1/report`): per affiliate and per day, from the store's grouped rows,
//! with checked sums (an overflow is an error, never a wrapped or negative total).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::money::Overflow;

/// Grouped rows for `[from, to)` as a store returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRows {
    /// (affiliate, day YYYY-MM-DD, count)
    pub clicks: Vec<(String, String, i64)>,
    pub leads: Vec<(String, String, i64)>,
    /// (affiliate or None, day, currency, count, revenue cents, net commission cents from the
    /// ledger)
    pub conversions: Vec<(Option<String>, String, String, i64, i64, i64)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub clicks: i64,
    pub leads: i64,
    pub conversions: i64,
    pub revenue_cents: i64,
    pub commission_cents: i64,
}

impl Counts {
    fn add(&mut self, o: &Counts) -> Result<(), Overflow> {
        let add = |a: i64, b: i64| a.checked_add(b).ok_or(Overflow);
        self.clicks = add(self.clicks, o.clicks)?;
        self.leads = add(self.leads, o.leads)?;
        self.conversions = add(self.conversions, o.conversions)?;
        self.revenue_cents = add(self.revenue_cents, o.revenue_cents)?;
        self.commission_cents = add(self.commission_cents, o.commission_cents)?;
        Ok(())
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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unattributed {
    pub conversions: i64,
    pub revenue_cents: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyTotals {
    pub revenue_cents: i64,
    pub commission_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub tenant_id: String,
    pub from: String,
    pub to: String,
    pub currency: String,
    pub totals: Counts,
    pub affiliates: Vec<AffiliateRow>,
    pub unattributed: Unattributed,
    pub other_currencies: BTreeMap<String, CurrencyTotals>,
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
}

fn add(a: &mut i64, b: i64) -> Result<(), Overflow> {
    *a = a.checked_add(b).ok_or(Overflow)?;
    Ok(())
}

/// affiliate -> day -> counts
type PerAffiliate = BTreeMap<String, BTreeMap<String, Counts>>;

fn cell<'m>(per: &'m mut PerAffiliate, aff: &str, day: &str) -> &'m mut Counts {
    per.entry(aff.to_string())
        .or_default()
        .entry(day.to_string())
        .or_default()
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
    let mut totals = Counts::default();
    let mut affiliates = Vec::with_capacity(order.len());
    for a in order {
        let days = per.remove(&a).unwrap_or_default();
        let mut sum = Counts::default();
        let mut list = Vec::with_capacity(days.len());
        for (date, counts) in days {
            sum.add(&counts)?;
            list.push(Day { date, counts });
        }
        totals.add(&sum)?;
        affiliates.push(AffiliateRow {
            affiliate: a,
            counts: sum,
            days: list,
        });
    }
    Ok(Report {
        tenant_id: scope.tenant_id.to_string(),
        from: scope.from,
        to: scope.to,
        currency: scope.currency.to_string(),
        totals,
        affiliates,
        unattributed,
        other_currencies: other,
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
        };
        let r = build(scope(&affs), &rows).unwrap();
        assert_eq!(r.totals.clicks, 2);
        assert_eq!(r.totals.conversions, 3);
        assert_eq!(r.totals.revenue_cents, 10_050);
        assert_eq!(r.totals.commission_cents, 3015);
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
    fn overflow_is_an_error_not_a_wrap() {
        let affs = vec![];
        let rows = ReportRows {
            conversions: vec![
                (Some("a".into()), "d1".into(), "USD".into(), 1, i64::MAX, 0),
                (Some("b".into()), "d1".into(), "USD".into(), 1, 1, 0),
            ],
            ..Default::default()
        };
        assert_eq!(build(scope(&affs), &rows), Err(Overflow));
    }
}
