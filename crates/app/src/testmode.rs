//! Test-mode sales (Stripe `livemode: false`): the backends read rows with their sale's
//! `livemode` and the tenant's `count_test_payments`; whether a row counts is decided here, by
//! domain `payout::counts`, for the ledger listing, the report's ledger states, payouts, the
//! program's commission notices and the outgoing webhook feed alike.

use clicktrail_domain::payout::counts;

/// A row as a backend reads it, with what decides whether it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted<T> {
    pub row: T,
    /// Its sale's `livemode` (true for rows that belong to no sale).
    pub livemode: bool,
    /// The tenant's `count_test_payments` (false for an unknown tenant).
    pub count_test_payments: bool,
}

impl<T> Counted<T> {
    /// A row that belongs to no test-mode sale (a payout): it always counts.
    pub fn live(row: T) -> Self {
        Counted {
            row,
            livemode: true,
            count_test_payments: false,
        }
    }

    pub fn counts(&self) -> bool {
        counts(self.livemode, self.count_test_payments)
    }
}

/// The rows that count, in their order.
pub fn counted<T>(rows: Vec<Counted<T>>) -> Vec<T> {
    rows.into_iter()
        .filter(Counted::counts)
        .map(|r| r.row)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, livemode: bool, count_test_payments: bool) -> Counted<i64> {
        Counted {
            row: id,
            livemode,
            count_test_payments,
        }
    }

    #[test]
    fn test_mode_rows_are_kept_only_when_the_tenant_counts_them() {
        let rows = vec![
            row(1, true, false),
            row(2, false, false),
            row(3, true, false),
        ];
        assert_eq!(counted(rows), vec![1, 3]);
        let rows = vec![row(1, true, true), row(2, false, true)];
        assert_eq!(counted(rows), vec![1, 2]);
        assert!(Counted::live(7).counts());
    }
}
