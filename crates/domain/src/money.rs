//! Money: integer cents only, never floats; every sum is checked.

use serde::{Deserialize, Serialize};

/// An amount in cents of some currency. Arithmetic is checked: an amount that cannot be
/// represented is an error at the edge, never a wrapped number later.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cents(pub i64);

/// A sum left the representable range (more than 92 quadrillion cents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the amount is too large to be represented")
    }
}

impl std::error::Error for Overflow {}

impl Cents {
    pub const ZERO: Cents = Cents(0);

    pub fn checked_add(self, other: Cents) -> Result<Cents, Overflow> {
        self.0.checked_add(other.0).map(Cents).ok_or(Overflow)
    }

    pub fn checked_sub(self, other: Cents) -> Result<Cents, Overflow> {
        self.0.checked_sub(other.0).map(Cents).ok_or(Overflow)
    }

    /// Sum of many amounts, `Overflow` instead of wrapping.
    pub fn sum<I: IntoIterator<Item = Cents>>(items: I) -> Result<Cents, Overflow> {
        items
            .into_iter()
            .try_fold(Cents::ZERO, |acc, c| acc.checked_add(c))
    }

    /// `"30.15"` for 3015.
    pub fn format(self) -> String {
        format_cents(self.0)
    }
}

/// Largest amount accepted anywhere: 12 integer digits (wire.md: `^\d{1,12}(\.\d{1,2})?$`).
pub const MAX_CENTS: i64 = 99_999_999_999_999;

/// Parses a decimal amount string (`"100"`, `"100.5"`, `"100.50"`) into cents, exactly.
/// Rejects signs, exponents, spaces, more than 2 decimals and more than 12 integer digits.
pub fn parse_amount(s: &str) -> Result<i64, String> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{}` is not a decimal amount like \"100\" or \"100.50\"",
            truncate(s)
        ));
    }
    let mut cents: i64 = 0;
    for b in int.bytes() {
        cents = cents * 10 + i64::from(b - b'0');
    }
    cents *= 100;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "`{}` must have 1 or 2 decimals (cents), like \"100.50\"",
                truncate(s)
            ));
        }
        let mut v = i64::from(f.as_bytes()[0] - b'0') * 10;
        if f.len() == 2 {
            v += i64::from(f.as_bytes()[1] - b'0');
        }
        cents += v;
    }
    Ok(cents)
}

/// Parses a percentage (`"30"`, `"12.5"`, `"33.33"`) into basis points (1 % = 100 bp), exactly.
pub fn parse_percent_bp(s: &str) -> Result<i64, String> {
    let bp = parse_amount(s).map_err(|_| {
        format!(
            "`{}` is not a percentage like \"30\" or \"12.5\"",
            truncate(s)
        )
    })?;
    if bp > 10_000 {
        return Err(format!("`{}` is more than 100 %", truncate(s)));
    }
    Ok(bp)
}

/// `amount_cents * bp / 10000`, rounded half-up to the cent (amounts are never negative).
/// `None` when the result does not fit (it cannot for amounts up to [`MAX_CENTS`]).
pub fn share_half_up(amount_cents: i64, bp: i64) -> Option<i64> {
    let p = i128::from(amount_cents).checked_mul(i128::from(bp))?;
    let r = (p + 5_000).div_euclid(10_000);
    i64::try_from(r).ok()
}

/// Formats cents as a decimal string with exactly 2 decimals (`3015` -> `"30.15"`).
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_amount("100"), Ok(10_000));
        assert_eq!(parse_amount("100.5"), Ok(10_050));
        assert_eq!(parse_amount("100.50"), Ok(10_050));
        assert_eq!(parse_amount("0.01"), Ok(1));
        assert_eq!(parse_amount("4.50"), Ok(450));
        assert_eq!(parse_amount("999999999999.99"), Ok(MAX_CENTS));
        // the float trap: 0.1 + 0.2 style values stay exact
        assert_eq!(parse_amount("19.99"), Ok(1999));
        for bad in [
            "",
            "-1",
            "+1",
            "1.",
            ".5",
            "1.234",
            "1e3",
            " 1",
            "1 ",
            "abc",
            "1,00",
            "1000000000000",
            "NaN",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn shares_round_half_up() {
        assert_eq!(share_half_up(10_050, 3000), Some(3015));
        assert_eq!(share_half_up(5, 3000), Some(2)); // 1.5 -> 2
        assert_eq!(share_half_up(1, 5000), Some(1)); // 0.5 -> 1
        assert_eq!(share_half_up(1, 4999), Some(0));
        assert_eq!(share_half_up(1999, 1250), Some(250)); // 249.875 -> 250
        assert_eq!(share_half_up(MAX_CENTS, 10_000), Some(MAX_CENTS));
        assert_eq!(share_half_up(i64::MAX, 10_000), Some(i64::MAX));
        assert_eq!(share_half_up(i64::MAX, 20_000), None);
    }

    #[test]
    fn percent_and_format() {
        assert_eq!(parse_percent_bp("30"), Ok(3000));
        assert_eq!(parse_percent_bp("12.5"), Ok(1250));
        assert!(parse_percent_bp("100.01").is_err());
        assert_eq!(format_cents(3015), "30.15");
        assert_eq!(format_cents(500), "5.00");
        assert_eq!(format_cents(7), "0.07");
    }

    #[test]
    fn sums_are_checked() {
        assert_eq!(Cents::sum([Cents(1), Cents(2)]), Ok(Cents(3)));
        assert_eq!(Cents::sum([Cents(i64::MAX), Cents(1)]), Err(Overflow));
        assert_eq!(Cents(i64::MIN).checked_sub(Cents(1)), Err(Overflow));
    }
}
