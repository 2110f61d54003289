//! Conversions and sales: status, attribution and the commission they earn.

use crate::attribution::{attributes, Resolved};
use crate::catalog::Payout;
use crate::ids::Cid;
use crate::money::Overflow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Approved,
    Declined,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "approved" => Some(Status::Approved),
            "declined" => Some(Status::Declined),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Declined => "declined",
        }
    }
}

/// Who a conversion is credited to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attribution {
    /// The visitor's CID when it resolved (kept even after the window closed).
    pub cid: Option<Cid>,
    /// The affiliate, only while the click's window is open.
    pub affiliate: Option<String>,
}

impl Attribution {
    pub fn attributed(&self) -> bool {
        self.affiliate.is_some()
    }
}

/// Credits the affiliate of a resolved CID if its window is still open at `now`.
pub fn attribute(resolved: Option<Resolved>, now: i64) -> Attribution {
    match resolved {
        Some(r) => {
            let open = attributes(r.expires_at, now);
            Attribution {
                cid: Some(r.cid),
                affiliate: open.then_some(r.affiliate),
            }
        }
        None => Attribution::default(),
    }
}

/// The commission a conversion earns: its payout while attributed, nothing when declined or
/// unattributed or when the conversion type has no payout.
pub fn commission(
    attribution: &Attribution,
    payout: Option<Payout>,
    amount_cents: i64,
    status: Status,
) -> Result<i64, Overflow> {
    match payout {
        Some(p) if attribution.attributed() && status != Status::Declined => {
            p.commission(amount_cents).ok_or(Overflow)
        }
        _ => Ok(0),
    }
}

/// What an operator's status change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Already in that status: nothing to write (a retry).
    Unchanged,
    /// Record the new status; the ledger is untouched (the hold still decides payability).
    Set,
    /// Record `declined` and reverse what is left of the commission.
    Decline,
    /// A declined conversion stays declined: its reversal is in the ledger, and re-accruing it
    /// would make refunds of it reverse against a commission counted twice.
    Refused,
}

pub fn status_change(from: Status, to: Status) -> StatusChange {
    match (from, to) {
        (f, t) if f == t => StatusChange::Unchanged,
        (Status::Declined, _) => StatusChange::Refused,
        (_, Status::Declined) => StatusChange::Decline,
        _ => StatusChange::Set,
    }
}

/// What declining reverses: the accruals less what earlier reversals took (never negative).
/// `reversed_cents` is positive.
pub fn decline_reversal(accrued_cents: i64, reversed_cents: i64) -> Result<i64, Overflow> {
    Ok(accrued_cents
        .checked_sub(reversed_cents)
        .ok_or(Overflow)?
        .max(0))
}

/// A subscription's first payment arrives twice (its checkout session and its first invoice, in
/// either order). What to do with the second delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPayment {
    /// Not counted yet: record the sale.
    Record,
    /// Already counted: record nothing.
    Skip,
    /// Counted unattributed, and this event attributes it: credit the existing sale (row id).
    Attribute(i64),
}

/// `counted`: the subscription's earliest sale (row id, attributed?), if any.
pub fn first_payment(counted: Option<(i64, bool)>, would_attribute: bool) -> FirstPayment {
    match counted {
        None => FirstPayment::Record,
        Some((_, true)) => FirstPayment::Skip,
        Some((_, false)) if !would_attribute => FirstPayment::Skip,
        Some((id, false)) => FirstPayment::Attribute(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(expires_at: i64) -> Option<Resolved> {
        Some(Resolved {
            cid: Cid::generate(),
            affiliate: "alice".into(),
            expires_at,
        })
    }

    #[test]
    fn commission_only_while_attributed_and_not_declined() {
        let share = Some(Payout::RevenueShare(3000));
        let open = attribute(resolved(100), 100);
        let closed = attribute(resolved(99), 100);
        assert!(closed.cid.is_some() && !closed.attributed());
        assert_eq!(commission(&open, share, 10_050, Status::Approved), Ok(3015));
        assert_eq!(commission(&open, share, 10_050, Status::Pending), Ok(3015));
        assert_eq!(commission(&open, share, 10_050, Status::Declined), Ok(0));
        assert_eq!(commission(&closed, share, 10_050, Status::Approved), Ok(0));
        assert_eq!(commission(&open, None, 10_050, Status::Approved), Ok(0));
        assert_eq!(
            commission(
                &open,
                Some(Payout::RevenueShare(20_000)),
                i64::MAX,
                Status::Approved
            ),
            Err(Overflow)
        );
    }

    #[test]
    fn status_changes() {
        use Status::*;
        assert_eq!(status_change(Pending, Approved), StatusChange::Set);
        assert_eq!(status_change(Approved, Approved), StatusChange::Unchanged);
        assert_eq!(status_change(Approved, Declined), StatusChange::Decline);
        assert_eq!(status_change(Pending, Declined), StatusChange::Decline);
        assert_eq!(status_change(Declined, Declined), StatusChange::Unchanged);
        assert_eq!(status_change(Declined, Approved), StatusChange::Refused);
        assert_eq!(decline_reversal(3000, 750), Ok(2250));
        assert_eq!(decline_reversal(3000, 3000), Ok(0));
        assert_eq!(decline_reversal(0, 0), Ok(0));
        assert_eq!(decline_reversal(i64::MIN, 1), Err(Overflow));
    }

    #[test]
    fn first_payment_is_counted_once() {
        assert_eq!(first_payment(None, false), FirstPayment::Record);
        assert_eq!(first_payment(Some((7, true)), true), FirstPayment::Skip);
        assert_eq!(first_payment(Some((7, false)), false), FirstPayment::Skip);
        assert_eq!(
            first_payment(Some((7, false)), true),
            FirstPayment::Attribute(7)
        );
    }
}
