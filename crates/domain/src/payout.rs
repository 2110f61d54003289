//! Payouts: what is due to each affiliate, and the ledger's states summed.
//!
//! Due = every unpaid, not held entry whose hold has passed by `through`, summed per affiliate
//! and currency. A reversal that arrives after its accrual was paid is such an entry (negative):
//! it lowers the next payout. A balance that is zero or negative is not due; its entries wait
//! for the next accruals. Paying marks exactly the listed entries paid, so paying twice pays
//! nothing more.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::{state, EntryKind, EntryState};

/// One ledger entry as payouts and summaries see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    pub id: i64,
    /// The conversion (or sale) row it belongs to.
    pub conversion_id: i64,
    pub affiliate: String,
    pub currency: String,
    pub kind: EntryKind,
    pub amount_cents: i64,
    pub available_at: i64,
    pub paid: bool,
    /// Its conversion is disputed: nothing of it is payable until the dispute closes.
    pub held: bool,
    /// The commission rule that decided an accrual (domain `rules::Rule::label`).
    pub rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub affiliate: String,
    pub currency: String,
    pub amount_cents: i64,
    /// The entries the payout takes.
    pub entries: Vec<i64>,
}

/// What is due through `through` (unix seconds, inclusive), per affiliate and currency.
///
/// A payout is recorded in i64 cents: when a group's entries would sum beyond that (about 92
/// quadrillion cents), the oldest entries that fit are due now and the rest wait for the next
/// payout, unpaid and still approved, so nothing is lost and nothing is paid twice.
pub fn due(entries: &[EntryView], through: i64) -> Vec<Due> {
    let mut groups: BTreeMap<(String, String), (Due, bool)> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| !e.paid && !e.held && e.available_at <= through)
    {
        let (d, full) = groups
            .entry((e.affiliate.clone(), e.currency.clone()))
            .or_insert_with(|| {
                let d = Due {
                    affiliate: e.affiliate.clone(),
                    currency: e.currency.clone(),
                    amount_cents: 0,
                    entries: Vec::new(),
                };
                (d, false)
            });
        if *full {
            continue;
        }
        match d.amount_cents.checked_add(e.amount_cents) {
            Some(sum) => {
                d.amount_cents = sum;
                d.entries.push(e.id);
            }
            None => *full = true,
        }
    }
    groups
        .into_values()
        .map(|(d, _)| d)
        .filter(|d| d.amount_cents > 0)
        .collect()
}

/// Whether a sale's money counts (in payouts, the ledger listing, the report, the program's
/// notices and the outgoing webhooks): a live one always, a test-mode one (Stripe
/// `livemode: false`) only when the tenant's `count_test_payments` says so.
pub fn counts(livemode: bool, count_test_payments: bool) -> bool {
    livemode || count_test_payments
}

/// The ledger's states summed (`ledger` object of the report), in i128: sums of i64 entries
/// that cannot overflow, so a report always answers with exact figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerTotals {
    /// Accruals still within the hold (or held by a dispute), net of their reversals.
    pub pending_cents: i128,
    /// Payable and not paid.
    pub approved_cents: i128,
    pub paid_cents: i128,
    /// All reversals (as a positive number).
    pub reversed_cents: i128,
}

pub fn totals(entries: &[EntryView], now: i64) -> LedgerTotals {
    let mut t = LedgerTotals::default();
    for e in entries {
        let cents = i128::from(e.amount_cents);
        if e.kind == EntryKind::Reversal {
            t.reversed_cents -= cents;
        }
        let s = if e.held && !e.paid {
            EntryState::Pending
        } else {
            state(e.paid, e.available_at, now)
        };
        // i128 sums of i64 amounts: 2^64 entries before an overflow
        match s {
            EntryState::Pending => t.pending_cents += cents,
            EntryState::Approved => t.approved_cents += cents,
            EntryState::Paid => t.paid_cents += cents,
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_test_mode_sale_counts_only_when_the_tenant_counts_test_payments() {
        assert!(counts(true, false));
        assert!(counts(true, true));
        assert!(!counts(false, false));
        assert!(counts(false, true));
    }

    fn entry(id: i64, aff: &str, kind: EntryKind, amount: i64, available_at: i64) -> EntryView {
        EntryView {
            id,
            conversion_id: id,
            affiliate: aff.into(),
            currency: "USD".into(),
            kind,
            amount_cents: amount,
            available_at,
            paid: false,
            held: false,
            rule: None,
        }
    }

    #[test]
    fn due_takes_approved_unpaid_entries_and_carries_reversals() {
        let mut es = vec![
            entry(1, "alice", EntryKind::Accrual, 3000, 10),
            entry(2, "alice", EntryKind::Accrual, 500, 99), // still pending at 50
            entry(3, "bob", EntryKind::Accrual, 100, 10),
        ];
        let d = due(&es, 50);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].affiliate.as_str(), d[0].amount_cents),
            ("alice", 3000)
        );
        assert_eq!(d[0].entries, vec![1]);
        // pay alice; then a refund reverses 1000 of the paid accrual
        es[0].paid = true;
        es.push(entry(4, "alice", EntryKind::Reversal, -1000, 60));
        let d = due(&es, 200);
        // 500 accrued - 1000 reversed: negative, carried (not due)
        assert!(d.iter().all(|x| x.affiliate != "alice"));
        es.push(entry(5, "alice", EntryKind::Accrual, 2000, 150));
        let d = due(&es, 200);
        let alice = d.iter().find(|x| x.affiliate == "alice").unwrap();
        assert_eq!(alice.amount_cents, 1500);
        assert_eq!(alice.entries, vec![2, 4, 5]);
        let t = totals(&es, 200);
        assert_eq!(t.paid_cents, 3000);
        assert_eq!(t.reversed_cents, 1000);
        assert_eq!(t.approved_cents, 500 - 1000 + 2000 + 100);
    }

    #[test]
    fn held_entries_are_not_due() {
        let mut e = entry(1, "a", EntryKind::Accrual, 100, 0);
        e.held = true;
        assert!(due(&[e.clone()], 10).is_empty());
        assert_eq!(totals(&[e], 10).pending_cents, 100);
    }

    #[test]
    fn sums_beyond_i64_are_exact_and_payouts_fit() {
        let big = i64::MAX / 2 + 1;
        let es: Vec<EntryView> = (1..=3)
            .map(|i| entry(i, "a", EntryKind::Accrual, big, 0))
            .collect();
        let t = totals(&es, 10);
        assert_eq!(t.approved_cents, 3 * i128::from(big));
        let d = due(&es, 10);
        // two do not fit one payout: the first is due now, the others wait
        assert_eq!((d[0].amount_cents, d[0].entries.clone()), (big, vec![1]));
        let mut rest = es.clone();
        rest[0].paid = true;
        assert_eq!(due(&rest, 10)[0].entries, vec![2]);
    }

    proptest! {
        /// Paying what is due, then asking again, pays nothing more; and the states always sum
        /// to the ledger's total.
        #[test]
        fn paying_twice_pays_nothing_more(
            raw in proptest::collection::vec((0usize..3, -5_000i64..50_000, 0i64..100), 1..60),
            through in 0i64..120,
        ) {
            let affs = ["a", "b", "c"];
            let mut es: Vec<EntryView> = raw.iter().enumerate().map(|(i, (a, amt, at))| {
                let kind = if *amt < 0 { EntryKind::Reversal } else { EntryKind::Accrual };
                entry(i as i64, affs[*a], kind, *amt, *at)
            }).collect();
            let total: i128 = es.iter().map(|e| i128::from(e.amount_cents)).sum();
            let t = totals(&es, through);
            prop_assert_eq!(t.pending_cents + t.approved_cents + t.paid_cents, total);
            let first = due(&es, through);
            let paid: i128 = first.iter().map(|d| i128::from(d.amount_cents)).sum();
            prop_assert!(first.iter().all(|d| d.amount_cents > 0));
            for d in &first {
                for id in &d.entries {
                    es[*id as usize].paid = true;
                }
            }
            prop_assert!(due(&es, through).is_empty());
            let after = totals(&es, through);
            prop_assert_eq!(after.paid_cents, paid);
            prop_assert_eq!(after.pending_cents + after.approved_cents + after.paid_cents, total);
        }
    }
}
