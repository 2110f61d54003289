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
use crate::money::Overflow;

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
pub fn due(entries: &[EntryView], through: i64) -> Result<Vec<Due>, Overflow> {
    let mut groups: BTreeMap<(String, String), Due> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| !e.paid && !e.held && e.available_at <= through)
    {
        let d = groups
            .entry((e.affiliate.clone(), e.currency.clone()))
            .or_insert_with(|| Due {
                affiliate: e.affiliate.clone(),
                currency: e.currency.clone(),
                amount_cents: 0,
                entries: Vec::new(),
            });
        d.amount_cents = d.amount_cents.checked_add(e.amount_cents).ok_or(Overflow)?;
        d.entries.push(e.id);
    }
    Ok(groups
        .into_values()
        .filter(|d| d.amount_cents > 0)
        .collect())
}

/// The ledger's states summed (`ledger` object of the report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerTotals {
    /// Accruals still within the hold (or held by a dispute), net of their reversals.
    pub pending_cents: i64,
    /// Payable and not paid.
    pub approved_cents: i64,
    pub paid_cents: i64,
    /// All reversals (as a positive number).
    pub reversed_cents: i64,
}

pub fn totals(entries: &[EntryView], now: i64) -> Result<LedgerTotals, Overflow> {
    let mut t = LedgerTotals::default();
    let add = |a: &mut i64, b: i64| -> Result<(), Overflow> {
        *a = a.checked_add(b).ok_or(Overflow)?;
        Ok(())
    };
    for e in entries {
        if e.kind == EntryKind::Reversal {
            add(
                &mut t.reversed_cents,
                e.amount_cents.checked_neg().ok_or(Overflow)?,
            )?;
        }
        let s = if e.held && !e.paid {
            EntryState::Pending
        } else {
            state(e.paid, e.available_at, now)
        };
        match s {
            EntryState::Pending => add(&mut t.pending_cents, e.amount_cents)?,
            EntryState::Approved => add(&mut t.approved_cents, e.amount_cents)?,
            EntryState::Paid => add(&mut t.paid_cents, e.amount_cents)?,
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        }
    }

    #[test]
    fn due_takes_approved_unpaid_entries_and_carries_reversals() {
        let mut es = vec![
            entry(1, "alice", EntryKind::Accrual, 3000, 10),
            entry(2, "alice", EntryKind::Accrual, 500, 99), // still pending at 50
            entry(3, "bob", EntryKind::Accrual, 100, 10),
        ];
        let d = due(&es, 50).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].affiliate.as_str(), d[0].amount_cents),
            ("alice", 3000)
        );
        assert_eq!(d[0].entries, vec![1]);
        // pay alice; then a refund reverses 1000 of the paid accrual
        es[0].paid = true;
        es.push(entry(4, "alice", EntryKind::Reversal, -1000, 60));
        let d = due(&es, 200).unwrap();
        // 500 accrued - 1000 reversed: negative, carried (not due)
        assert!(d.iter().all(|x| x.affiliate != "alice"));
        es.push(entry(5, "alice", EntryKind::Accrual, 2000, 150));
        let d = due(&es, 200).unwrap();
        let alice = d.iter().find(|x| x.affiliate == "alice").unwrap();
        assert_eq!(alice.amount_cents, 1500);
        assert_eq!(alice.entries, vec![2, 4, 5]);
        let t = totals(&es, 200).unwrap();
        assert_eq!(t.paid_cents, 3000);
        assert_eq!(t.reversed_cents, 1000);
        assert_eq!(t.approved_cents, 500 - 1000 + 2000 + 100);
    }

    #[test]
    fn held_entries_are_not_due() {
        let mut e = entry(1, "a", EntryKind::Accrual, 100, 0);
        e.held = true;
        assert!(due(&[e.clone()], 10).unwrap().is_empty());
        assert_eq!(totals(&[e], 10).unwrap().pending_cents, 100);
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
            let total: i64 = es.iter().map(|e| e.amount_cents).sum();
            let t = totals(&es, through).unwrap();
            prop_assert_eq!(t.pending_cents + t.approved_cents + t.paid_cents, total);
            let first = due(&es, through).unwrap();
            let paid: i64 = first.iter().map(|d| d.amount_cents).sum();
            prop_assert!(first.iter().all(|d| d.amount_cents > 0));
            for d in &first {
                for id in &d.entries {
                    es[*id as usize].paid = true;
                }
            }
            prop_assert!(due(&es, through).unwrap().is_empty());
            let after = totals(&es, through).unwrap();
            prop_assert_eq!(after.paid_cents, paid);
            prop_assert_eq!(after.pending_cents + after.approved_cents + after.paid_cents, total);
        }
    }
}
