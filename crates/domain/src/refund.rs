//! Refunds: what a refund of part of a sale takes back from the affiliate.
//!
//! The reversal is the commission times the refunded share, rounded half-up to the cent. It is
//! computed on the cumulative refunded amount (what all refunds so far should have reversed,
//! less what was reversed already), so a sale refunded in many small parts reverses exactly
//! what one full refund would: the sum of reversals never exceeds the accrual, and a full
//! refund reverses all of it.

use crate::money::Overflow;

/// What is known about a sale when a refund arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleState {
    pub amount_cents: i64,
    /// Accrued commission (sum of accruals; adjustments are not refunded).
    pub accrued_cents: i64,
    /// Already refunded (sum of earlier refunds).
    pub refunded_cents: i64,
    /// Already reversed by earlier refunds (a positive number).
    pub reversed_cents: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundError {
    /// Zero or negative.
    NotPositive,
    /// More than is left to refund (the amount left).
    MoreThanLeft(i64),
    Overflow,
}

impl From<Overflow> for RefundError {
    fn from(_: Overflow) -> Self {
        RefundError::Overflow
    }
}

/// A refund's amount: the given one, or what is left.
pub fn refund_amount(sale: &SaleState, requested: Option<i64>) -> Result<i64, RefundError> {
    let left = sale
        .amount_cents
        .checked_sub(sale.refunded_cents)
        .ok_or(RefundError::Overflow)?;
    match requested {
        None if left > 0 => Ok(left),
        None => Err(RefundError::MoreThanLeft(left)),
        Some(a) if a <= 0 => Err(RefundError::NotPositive),
        Some(a) if a > left => Err(RefundError::MoreThanLeft(left)),
        Some(a) => Ok(a),
    }
}

/// The commission to reverse for refunding `refund_cents` more (a positive number of cents,
/// to be written as a negative `reversal` entry).
pub fn reversal(sale: &SaleState, refund_cents: i64) -> Result<i64, RefundError> {
    let refunded = sale
        .refunded_cents
        .checked_add(refund_cents)
        .ok_or(RefundError::Overflow)?;
    if sale.amount_cents <= 0 || sale.accrued_cents <= 0 {
        return Ok(0);
    }
    // accrued * refunded / amount, half-up, in 128 bits
    let num = i128::from(sale.accrued_cents) * i128::from(refunded);
    let den = i128::from(sale.amount_cents);
    let target = (2 * num + den).div_euclid(2 * den);
    let target = i64::try_from(target).map_err(|_| RefundError::Overflow)?;
    let target = target.min(sale.accrued_cents);
    Ok((target - sale.reversed_cents).clamp(0, sale.accrued_cents - sale.reversed_cents))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::share_half_up;
    use proptest::prelude::*;

    fn sale(amount: i64, accrued: i64) -> SaleState {
        SaleState {
            amount_cents: amount,
            accrued_cents: accrued,
            refunded_cents: 0,
            reversed_cents: 0,
        }
    }

    #[test]
    fn partial_and_full_refunds() {
        let s = sale(10_000, 3_000);
        assert_eq!(refund_amount(&s, None), Ok(10_000));
        assert_eq!(refund_amount(&s, Some(2_500)), Ok(2_500));
        assert_eq!(refund_amount(&s, Some(0)), Err(RefundError::NotPositive));
        assert_eq!(
            refund_amount(&s, Some(10_001)),
            Err(RefundError::MoreThanLeft(10_000))
        );
        assert_eq!(reversal(&s, 2_500), Ok(750));
        assert_eq!(reversal(&s, 10_000), Ok(3_000));
        // 1/3 of 1.00 at a 0.01 commission: rounds half-up on the cumulative share
        let s = sale(100, 1);
        assert_eq!(reversal(&s, 33), Ok(0));
        assert_eq!(reversal(&s, 50), Ok(1));
        let done = SaleState {
            refunded_cents: 100,
            reversed_cents: 1,
            ..s
        };
        assert_eq!(
            refund_amount(&done, None),
            Err(RefundError::MoreThanLeft(0))
        );
    }

    proptest! {
        /// Any sequence of partial refunds reverses at most the accrual, and exactly the
        /// accrual once the whole sale is refunded.
        #[test]
        fn reversals_never_exceed_the_accrual(
            amount in 1i64..10_000_000_000,
            bp in 0i64..=10_000,
            cuts in proptest::collection::vec(1i64..1_000_000_000, 1..20),
        ) {
            let accrued = share_half_up(amount, bp).unwrap();
            let mut s = sale(amount, accrued);
            for c in cuts {
                let Ok(r) = refund_amount(&s, Some(c.min(amount))) else { break };
                let rev = reversal(&s, r).unwrap();
                prop_assert!(rev >= 0);
                s.refunded_cents += r;
                s.reversed_cents += rev;
                prop_assert!(s.reversed_cents <= s.accrued_cents);
                prop_assert!(s.refunded_cents <= s.amount_cents);
            }
            if let Ok(rest) = refund_amount(&s, None) {
                let rev = reversal(&s, rest).unwrap();
                s.reversed_cents += rev;
            }
            prop_assert_eq!(s.reversed_cents, s.accrued_cents);
        }
    }
}
