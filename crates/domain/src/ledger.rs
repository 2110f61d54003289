//! The commission ledger: append-only signed entries. A commission is an `accrual`;
//! a refund, a lost dispute or a declined conversion a negative `reversal`; an operator's
//! correction an `adjustment`. Nothing is updated in place: an entry's state follows from its
//! `available_at` (the end of the tenant's hold) and whether a payout has taken it.

use crate::money::Overflow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Accrual,
    Reversal,
    Adjustment,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Accrual => "accrual",
            EntryKind::Reversal => "reversal",
            EntryKind::Adjustment => "adjustment",
        }
    }
    pub fn parse(s: &str) -> Option<EntryKind> {
        match s {
            "accrual" => Some(EntryKind::Accrual),
            "reversal" => Some(EntryKind::Reversal),
            "adjustment" => Some(EntryKind::Adjustment),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Within the tenant's hold: not payable yet.
    Pending,
    /// Payable.
    Approved,
    /// Taken by a payout.
    Paid,
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub tenant: String,
    pub affiliate: String,
    /// The conversion (or sale) row it belongs to.
    pub conversion_id: i64,
    pub kind: EntryKind,
    pub amount_cents: i64,
    pub currency: String,
    /// When the entry becomes approved (payable).
    pub available_at: i64,
    pub created_at: i64,
}

/// The accrual for a commission recorded at `sale_time`: pending for `hold_days`.
pub fn accrual(
    tenant: &str,
    affiliate: &str,
    conversion_id: i64,
    commission_cents: i64,
    currency: &str,
    sale_time: i64,
    hold_days: i64,
) -> Result<NewEntry, Overflow> {
    let hold = hold_days.checked_mul(86_400).ok_or(Overflow)?;
    Ok(NewEntry {
        tenant: tenant.to_string(),
        affiliate: affiliate.to_string(),
        conversion_id,
        kind: EntryKind::Accrual,
        amount_cents: commission_cents,
        currency: currency.to_string(),
        available_at: sale_time.checked_add(hold).ok_or(Overflow)?,
        created_at: sale_time,
    })
}

/// When a reversal recorded at `now` becomes payable: with its accrual when that is still in
/// its hold (both wait, so the pending balance is net), else at once (it lowers the next
/// payout, also when the accrual was already paid).
pub fn reversal_available_at(now: i64, accrual_available_at: Option<i64>) -> i64 {
    accrual_available_at.map_or(now, |a| a.max(now))
}

/// An entry's state at `now`.
pub fn state(paid: bool, available_at: i64, now: i64) -> EntryState {
    if paid {
        EntryState::Paid
    } else if available_at <= now {
        EntryState::Approved
    } else {
        EntryState::Pending
    }
}

/// What the ledger holds for one conversion: the sums a refund, a decline or a Stripe
/// settlement starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    pub accrued_cents: i64,
    /// The reversals, as a positive number.
    pub reversed_cents: i64,
    /// The latest accrual's `available_at` (a reversal is not payable before it).
    pub accrual_available_at: Option<i64>,
}

/// Folds one conversion's entries, `(kind, amount, available_at)`; adjustments are an
/// operator's and count in neither sum.
pub fn balance<I: IntoIterator<Item = (EntryKind, i64, i64)>>(
    entries: I,
) -> Result<Balance, Overflow> {
    let mut b = Balance::default();
    for (kind, amount, at) in entries {
        match kind {
            EntryKind::Accrual => {
                b.accrued_cents = b.accrued_cents.checked_add(amount).ok_or(Overflow)?;
                b.accrual_available_at = Some(b.accrual_available_at.map_or(at, |a| a.max(at)));
            }
            EntryKind::Reversal => {
                b.reversed_cents = b.reversed_cents.checked_sub(amount).ok_or(Overflow)?;
            }
            EntryKind::Adjustment => {}
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accruals_wait_for_the_hold() {
        let e = accrual("t", "alice", 1, 300, "USD", 1000, 30).unwrap();
        assert_eq!(e.available_at, 1000 + 30 * 86_400);
        assert_eq!(state(false, e.available_at, 1000), EntryState::Pending);
        assert_eq!(
            state(false, e.available_at, e.available_at),
            EntryState::Approved
        );
        assert_eq!(state(true, e.available_at, 0), EntryState::Paid);
        let now = accrual("t", "alice", 1, 300, "USD", 1000, 0).unwrap();
        assert_eq!(state(false, now.available_at, 1000), EntryState::Approved);
        assert!(accrual("t", "a", 1, 1, "USD", i64::MAX, 1).is_err());
    }

    #[test]
    fn balance_folds_accruals_and_reversals() {
        let b = balance([
            (EntryKind::Accrual, 3000, 50),
            (EntryKind::Reversal, -1000, 70),
            (EntryKind::Adjustment, 99, 80),
            (EntryKind::Accrual, 500, 40),
        ])
        .unwrap();
        assert_eq!(
            b,
            Balance {
                accrued_cents: 3500,
                reversed_cents: 1000,
                accrual_available_at: Some(50),
            }
        );
        assert_eq!(balance([]).unwrap(), Balance::default());
        assert_eq!(balance([(EntryKind::Reversal, i64::MIN, 0)]), Err(Overflow));
    }
}
