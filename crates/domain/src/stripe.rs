//! Stripe's money events: refunds, a charge's refunded total, disputes.
//!
//! Stripe delivers events at least once and in any order, and tells the same refund twice
//! (`charge.refunded` with the charge's cumulative `amount_refunded`, and `refund.created` /
//! `refund.updated` with the refund itself). So the collector does not apply events as deltas:
//! it keeps the latest state of each Stripe object it heard of (a [`Fact`], by object id;
//! the newer event wins) and, after every event, [`settle`]s the sale against the whole set:
//! the refunded amount and the reversal the ledger should hold, and whether the commission is
//! held by an open dispute. The ledger gets the difference (a negative `reversal` to take more
//! back, a positive one to give back what a failed refund had taken). The same facts in any
//! order settle to the same ledger total.

use crate::money::Overflow;
use crate::refund::SaleState;

/// The refund id a settlement records under is this prefix and the event id: what earlier
/// settlements recorded is told apart from the API's, CSV's and other providers' refunds, which
/// may therefore not use it.
pub const REFUND_PREFIX: &str = "stripe:";

/// What a fact is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FactKind {
    /// A refund (`re_…`): `amount_cents` is the refund's amount.
    Refund,
    /// A charge (`ch_…`) as `charge.refunded` shows it: `amount_cents` is its cumulative
    /// `amount_refunded`.
    ChargeRefunded,
    /// A dispute (`dp_…`).
    Dispute,
    /// An invoice payment (`inpay_…`, basil's `invoice_payment.paid`): which payment intent
    /// paid which invoice. Moves no money; it lets refunds of the payment find the invoice's
    /// sale.
    InvoicePayment,
}

impl FactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::Refund => "refund",
            FactKind::ChargeRefunded => "charge_refunded",
            FactKind::Dispute => "dispute",
            FactKind::InvoicePayment => "invoice_payment",
        }
    }
    pub fn parse(s: &str) -> Option<FactKind> {
        match s {
            "refund" => Some(FactKind::Refund),
            "charge_refunded" => Some(FactKind::ChargeRefunded),
            "dispute" => Some(FactKind::Dispute),
            "invoice_payment" => Some(FactKind::InvoicePayment),
            _ => None,
        }
    }
}

/// A fact's state. Refunds: `Counted` (pending, succeeded, requires_action) or `Void` (failed,
/// canceled). Charges: `Counted`. Disputes: `Open`, `Won` (also an inquiry closed without a
/// chargeback) or `Lost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FactState {
    Counted,
    Void,
    Open,
    Won,
    Lost,
}

impl FactState {
    pub fn as_str(self) -> &'static str {
        match self {
            FactState::Counted => "counted",
            FactState::Void => "void",
            FactState::Open => "open",
            FactState::Won => "won",
            FactState::Lost => "lost",
        }
    }
    pub fn parse(s: &str) -> Option<FactState> {
        match s {
            "counted" => Some(FactState::Counted),
            "void" => Some(FactState::Void),
            "open" => Some(FactState::Open),
            "won" => Some(FactState::Won),
            "lost" => Some(FactState::Lost),
            _ => None,
        }
    }
    /// Among two states told by events of the same second, the later one in an object's life.
    fn rank(self) -> u8 {
        match self {
            FactState::Counted | FactState::Open => 0,
            FactState::Void | FactState::Won | FactState::Lost => 1,
        }
    }

    /// A refund's `status`.
    pub fn of_refund(status: Option<&str>) -> FactState {
        match status {
            Some("failed" | "canceled") => FactState::Void,
            _ => FactState::Counted,
        }
    }

    /// A dispute's `status` (`charge.dispute.*`).
    pub fn of_dispute(status: Option<&str>) -> FactState {
        match status {
            Some("won" | "warning_closed") => FactState::Won,
            Some("lost") => FactState::Lost,
            _ => FactState::Open,
        }
    }
}

/// The latest known state of one Stripe object about a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub kind: FactKind,
    /// The Stripe object's id (`re_…`, `ch_…`, `dp_…`).
    pub key: String,
    pub amount_cents: i64,
    pub state: FactState,
    /// The event's `created` (unix seconds): a newer event replaces an older one's fact.
    pub event_created: i64,
    /// The object's own `created` (a refund's creation time; else the event's).
    pub object_created: i64,
}

/// Whether `new` (same kind and key) replaces the stored `old`: the newer event wins; events
/// of the same second: the state later in the object's life, then the larger amount (a
/// charge's refunded total only grows while its refunds succeed).
pub fn replaces(new: &Fact, old: &Fact) -> bool {
    (new.event_created, new.state.rank(), new.amount_cents)
        > (old.event_created, old.state.rank(), old.amount_cents)
}

/// The refunded amount Stripe's facts add up to (at most `amount_cents`).
///
/// Each refund counts once: the larger of a charge's `amount_refunded` (which includes every
/// refund created before that event, less the ones that failed after it) and the sum of the
/// refunds told one by one that did not fail.
pub fn stripe_refunded(amount_cents: i64, facts: &[Fact]) -> Result<i64, Overflow> {
    let mut by_refunds = 0i64;
    for f in facts
        .iter()
        .filter(|f| f.kind == FactKind::Refund && f.state == FactState::Counted)
    {
        by_refunds = by_refunds.checked_add(f.amount_cents).ok_or(Overflow)?;
    }
    let mut by_charges = 0i64;
    for c in facts.iter().filter(|f| f.kind == FactKind::ChargeRefunded) {
        let mut v = c.amount_cents;
        // a refund the charge's total included, and that failed afterwards
        for r in facts.iter().filter(|r| {
            r.kind == FactKind::Refund
                && r.state == FactState::Void
                && r.object_created <= c.event_created
                && r.event_created > c.event_created
        }) {
            v = v.checked_sub(r.amount_cents).ok_or(Overflow)?;
        }
        by_charges = by_charges.max(v);
    }
    Ok(by_refunds.max(by_charges).clamp(0, amount_cents.max(0)))
}

/// A sale as the ledger holds it when a Stripe event is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Books {
    pub amount_cents: i64,
    /// Sum of the accruals.
    pub accrued_cents: i64,
    /// Sum of the reversals, as a positive number (a give-back counts negative).
    pub reversed_cents: i64,
    /// Every refund recorded for the sale (API, CSV and Stripe).
    pub refunded_cents: i64,
    /// The part of `refunded_cents` that earlier Stripe settlements recorded.
    pub stripe_applied_cents: i64,
    /// An operator declined the sale (or its async payment failed): fully reversed, and it
    /// stays so.
    pub declined: bool,
}

/// What one settlement writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settlement {
    /// Refunded amount to record (negative: a refund failed and is given back).
    pub refund_delta_cents: i64,
    /// Commission to reverse (positive: a negative `reversal` entry; negative: a positive
    /// entry giving back what was reversed).
    pub reversal_delta_cents: i64,
    /// An open dispute holds the commission: none of it is payable.
    pub held: bool,
}

/// The reversal a sale's refunded amount calls for: the commission times the refunded share,
/// half-up, never beyond the accrual (the same rule as `refund::reversal`, cumulative).
pub fn reversal_target(accrued: i64, amount: i64, refunded: i64) -> Result<i64, Overflow> {
    if accrued <= 0 || amount <= 0 {
        return Ok(0);
    }
    let num = i128::from(accrued) * i128::from(refunded.clamp(0, amount));
    let den = i128::from(amount);
    let t = (2 * num + den).div_euclid(2 * den);
    Ok(i64::try_from(t).map_err(|_| Overflow)?.clamp(0, accrued))
}

/// Settles a sale against every Stripe fact known about it.
pub fn settle(b: &Books, facts: &[Fact]) -> Result<Settlement, Overflow> {
    let stripe = stripe_refunded(b.amount_cents, facts)?;
    let other = b
        .refunded_cents
        .checked_sub(b.stripe_applied_cents)
        .ok_or(Overflow)?;
    // what Stripe says is refunded, within what the other refunds left
    let room = b.amount_cents.checked_sub(other).ok_or(Overflow)?.max(0);
    let stripe = stripe.min(room);
    let refund_delta = stripe.checked_sub(b.stripe_applied_cents).ok_or(Overflow)?;
    let refunded = other.checked_add(stripe).ok_or(Overflow)?;
    let lost = facts
        .iter()
        .any(|f| f.kind == FactKind::Dispute && f.state == FactState::Lost);
    let held = !lost
        && facts
            .iter()
            .any(|f| f.kind == FactKind::Dispute && f.state == FactState::Open);
    let target = if lost || b.declined {
        b.accrued_cents.max(0)
    } else {
        reversal_target(b.accrued_cents, b.amount_cents, refunded)?
    };
    // a declined sale is never given back what its decline reversed
    let mut delta = target.checked_sub(b.reversed_cents).ok_or(Overflow)?;
    if b.declined && delta < 0 {
        delta = 0;
    }
    Ok(Settlement {
        refund_delta_cents: refund_delta,
        reversal_delta_cents: delta,
        held,
    })
}

/// The refund state `refund::reversal` expects, for a sale whose Stripe refunds were settled.
pub fn sale_state(b: &Books) -> SaleState {
    SaleState {
        amount_cents: b.amount_cents,
        accrued_cents: b.accrued_cents,
        refunded_cents: b.refunded_cents,
        reversed_cents: b.reversed_cents,
    }
}

/// Merges `new` into `facts` (by kind and key, [`replaces`]); whether anything changed.
pub fn merge(facts: &mut Vec<Fact>, new: Fact) -> bool {
    match facts
        .iter_mut()
        .find(|f| f.kind == new.kind && f.key == new.key)
    {
        Some(old) if replaces(&new, old) => {
            *old = new;
            true
        }
        Some(_) => false,
        None => {
            facts.push(new);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::EntryKind;
    use crate::payout::{due, EntryView};
    use crate::report::{build, ReportRows, ReportScope};
    use proptest::prelude::*;

    fn refund(key: &str, amount: i64, state: FactState, at: i64, created: i64) -> Fact {
        Fact {
            kind: FactKind::Refund,
            key: key.into(),
            amount_cents: amount,
            state,
            event_created: at,
            object_created: created,
        }
    }
    fn charge(total: i64, at: i64) -> Fact {
        Fact {
            kind: FactKind::ChargeRefunded,
            key: "ch_1".into(),
            amount_cents: total,
            state: FactState::Counted,
            event_created: at,
            object_created: at,
        }
    }
    fn dispute(state: FactState, at: i64) -> Fact {
        Fact {
            kind: FactKind::Dispute,
            key: "dp_1".into(),
            amount_cents: 0,
            state,
            event_created: at,
            object_created: at,
        }
    }
    fn books(accrued: i64) -> Books {
        Books {
            amount_cents: 10_000,
            accrued_cents: accrued,
            reversed_cents: 0,
            refunded_cents: 0,
            stripe_applied_cents: 0,
            declined: false,
        }
    }

    #[test]
    fn a_refund_told_twice_counts_once() {
        let r = refund("re_1", 2500, FactState::Counted, 10, 10);
        let c = charge(2500, 10);
        assert_eq!(stripe_refunded(10_000, std::slice::from_ref(&r)), Ok(2500));
        assert_eq!(stripe_refunded(10_000, std::slice::from_ref(&c)), Ok(2500));
        assert_eq!(stripe_refunded(10_000, &[r.clone(), c.clone()]), Ok(2500));
        // a second refund known only by the charge's new total
        let c2 = charge(4000, 20);
        assert_eq!(stripe_refunded(10_000, &[r, c2]), Ok(4000));
        let s = settle(&books(3000), &[c]).unwrap();
        assert_eq!(s.refund_delta_cents, 2500);
        assert_eq!(s.reversal_delta_cents, 750);
        assert!(!s.held);
    }

    #[test]
    fn a_failed_refund_is_given_back() {
        let ok = refund("re_1", 2500, FactState::Counted, 10, 10);
        let failed = refund("re_1", 2500, FactState::Void, 30, 10);
        let c = charge(2500, 10);
        let mut facts = vec![ok, c];
        let before = settle(&books(3000), &facts).unwrap();
        assert!(merge(&mut facts, failed.clone()));
        let b = Books {
            reversed_cents: before.reversal_delta_cents,
            refunded_cents: before.refund_delta_cents,
            stripe_applied_cents: before.refund_delta_cents,
            ..books(3000)
        };
        let after = settle(&b, &facts).unwrap();
        assert_eq!(after.refund_delta_cents, -2500);
        assert_eq!(after.reversal_delta_cents, -750);
        // an older event (the refund's creation, resent) does not undo the failure
        assert!(!merge(
            &mut facts,
            refund("re_1", 2500, FactState::Counted, 10, 10)
        ));
        assert_eq!(facts.iter().filter(|f| f.key == "re_1").count(), 1);
        assert!(facts.contains(&failed));
    }

    #[test]
    fn disputes_hold_then_release_or_reverse() {
        let open = settle(&books(3000), &[dispute(FactState::Open, 5)]).unwrap();
        assert!(open.held);
        assert_eq!(open.reversal_delta_cents, 0);
        let mut facts = vec![dispute(FactState::Open, 5)];
        merge(&mut facts, dispute(FactState::Won, 9));
        let won = settle(&books(3000), &facts).unwrap();
        assert!(!won.held && won.reversal_delta_cents == 0);
        // lost after a partial refund: the rest is reversed
        let facts = vec![
            dispute(FactState::Lost, 9),
            refund("re_1", 2500, FactState::Counted, 3, 3),
        ];
        let b = Books {
            reversed_cents: 750,
            refunded_cents: 2500,
            stripe_applied_cents: 2500,
            ..books(3000)
        };
        let lost = settle(&b, &facts).unwrap();
        assert!(!lost.held);
        assert_eq!(lost.reversal_delta_cents, 2250);
        assert_eq!(lost.refund_delta_cents, 0);
        // the dispute's creation told after its closing changes nothing
        let mut facts = vec![dispute(FactState::Lost, 9)];
        assert!(!merge(&mut facts, dispute(FactState::Open, 5)));
        assert!(!merge(&mut facts, dispute(FactState::Open, 9)));
    }

    #[test]
    fn a_declined_sale_stays_reversed() {
        let b = Books {
            reversed_cents: 3000,
            declined: true,
            ..books(3000)
        };
        let s = settle(&b, &[refund("re_1", 100, FactState::Void, 5, 1)]).unwrap();
        assert_eq!(s.reversal_delta_cents, 0);
    }

    /// Sales' money as the store keeps it: one ledger for all, and per sale its recorded
    /// refunds and Stripe facts.
    #[derive(Debug, Clone, Default)]
    struct Sim {
        entries: Vec<EntryView>,
        sales: Vec<SimSale>,
    }

    #[derive(Debug, Clone, Default)]
    struct SimSale {
        affiliate: String,
        refunded: i64,
        stripe_applied: i64,
        facts: Vec<Fact>,
        held: bool,
    }

    const AMOUNT: i64 = 10_000;

    impl Sim {
        fn new(sales: &[(usize, i64)]) -> Sim {
            let mut s = Sim::default();
            for (i, (aff, accrued)) in sales.iter().enumerate() {
                let affiliate = ["a", "b"][*aff % 2].to_string();
                s.sales.push(SimSale {
                    affiliate,
                    ..SimSale::default()
                });
                s.push(i, EntryKind::Accrual, *accrued);
            }
            s
        }
        fn push(&mut self, sale: usize, kind: EntryKind, amount: i64) {
            let id = self.entries.len() as i64;
            let sl = &self.sales[sale];
            self.entries.push(EntryView {
                id,
                conversion_id: sale as i64,
                affiliate: sl.affiliate.clone(),
                currency: "USD".into(),
                kind,
                amount_cents: amount,
                available_at: 0,
                paid: false,
                held: sl.held,
                rule: None,
            });
        }
        fn sum(&self, sale: usize, kind: Option<EntryKind>) -> i64 {
            self.entries
                .iter()
                .filter(|e| e.conversion_id == sale as i64 && kind.is_none_or(|k| e.kind == k))
                .map(|e| e.amount_cents)
                .sum()
        }
        fn books(&self, sale: usize) -> Books {
            let sl = &self.sales[sale];
            Books {
                amount_cents: AMOUNT,
                accrued_cents: self.sum(sale, Some(EntryKind::Accrual)),
                reversed_cents: -self.sum(sale, Some(EntryKind::Reversal)),
                refunded_cents: sl.refunded,
                stripe_applied_cents: sl.stripe_applied,
                declined: false,
            }
        }
        /// What a store does with one delivered event: keep the fact, settle the sale.
        fn event(&mut self, sale: usize, f: Fact) {
            merge(&mut self.sales[sale].facts, f);
            let s = settle(&self.books(sale), &self.sales[sale].facts).unwrap();
            let sl = &mut self.sales[sale];
            sl.refunded += s.refund_delta_cents;
            sl.stripe_applied += s.refund_delta_cents;
            sl.held = s.held;
            if s.reversal_delta_cents != 0 {
                self.push(sale, EntryKind::Reversal, -s.reversal_delta_cents);
            }
            for e in self
                .entries
                .iter_mut()
                .filter(|e| e.conversion_id == sale as i64)
            {
                e.held = s.held;
            }
        }
        fn pay(&mut self) -> i64 {
            let d = due(&self.entries, 0);
            let mut paid = 0;
            for x in d {
                paid += x.amount_cents;
                for id in x.entries {
                    self.entries[id as usize].paid = true;
                }
            }
            paid
        }
    }

    /// A Stripe story of one sale: refunds (some failing later), the charge's totals, one
    /// dispute; events carry increasing `created` times.
    fn story() -> impl Strategy<Value = Vec<Fact>> {
        let step = (0u8..4, 1i64..4_000, 0usize..3, any::<bool>());
        proptest::collection::vec(step, 1..10).prop_map(|steps| {
            let mut out = Vec::new();
            let mut refunds: Vec<(String, i64, i64)> = Vec::new();
            let mut t = 0;
            let mut dispute_closed = false;
            for (kind, amount, pick, flag) in steps {
                t += 1;
                match kind {
                    0 => {
                        let key = format!("re_{t}");
                        refunds.push((key.clone(), amount, t));
                        out.push(refund(&key, amount, FactState::Counted, t, t));
                        // Stripe also tells the charge's new total
                        let total: i64 = refunds.iter().map(|r| r.1).sum();
                        out.push(charge(total, t));
                    }
                    1 if !refunds.is_empty() => {
                        let (key, amount, created) = refunds.remove(pick % refunds.len());
                        out.push(refund(&key, amount, FactState::Void, t, created));
                    }
                    2 if !dispute_closed => out.push(dispute(FactState::Open, t)),
                    3 if !dispute_closed && !out.is_empty() => {
                        dispute_closed = true;
                        let s = if flag {
                            FactState::Won
                        } else {
                            FactState::Lost
                        };
                        out.push(dispute(s, t));
                    }
                    _ => {}
                }
            }
            out
        })
    }

    proptest! {
        /// Any sales (two affiliates) with any stories of partial refunds (some failing),
        /// disputes (held, won, lost) and payouts, each event delivered twice and all of them
        /// shuffled together: per sale, reversals stay within [0, accrual]; the report's
        /// commission and ledger states equal the sum of the entries; paying twice pays
        /// nothing more and held entries are never due; and every sale ends at the same
        /// ledger total as its story told in order.
        #[test]
        fn the_ledger_with_disputes(
            sales in proptest::collection::vec((0usize..2, 0i64..=10_000, story()), 1..4),
            order in proptest::collection::vec(any::<u64>(), 0..80),
            pays in proptest::collection::vec(any::<bool>(), 0..80),
        ) {
            let heads: Vec<(usize, i64)> = sales
                .iter()
                .map(|(aff, bp, _)| (*aff, crate::money::share_half_up(AMOUNT, *bp).unwrap()))
                .collect();
            // in order, once each
            let mut inorder = Sim::new(&heads);
            for (i, (_, _, facts)) in sales.iter().enumerate() {
                for f in facts {
                    inorder.event(i, f.clone());
                }
            }
            // every event twice, all sales shuffled together, payouts in between
            let mut deliveries: Vec<(usize, Fact)> = Vec::new();
            for _ in 0..2 {
                for (i, (_, _, facts)) in sales.iter().enumerate() {
                    deliveries.extend(facts.iter().map(|f| (i, f.clone())));
                }
            }
            let n = deliveries.len();
            for (i, k) in order.iter().enumerate().filter(|_| n > 0) {
                deliveries.swap(i % n, (*k as usize) % n);
            }
            let mut sim = Sim::new(&heads);
            let mut paid_total = 0;
            for (step, (sale, f)) in deliveries.into_iter().enumerate() {
                sim.event(sale, f);
                for (i, (_, accrued)) in heads.iter().enumerate() {
                    let rev = -sim.sum(i, Some(EntryKind::Reversal));
                    prop_assert!(rev >= 0 && rev <= *accrued, "sale {i}: reversed {rev} of {accrued}");
                    prop_assert!(sim.sales[i].refunded >= 0 && sim.sales[i].refunded <= AMOUNT);
                }
                if pays.get(step).copied().unwrap_or(false) {
                    paid_total += sim.pay();
                    prop_assert_eq!(sim.pay(), 0, "paying twice pays nothing more");
                    prop_assert!(due(&sim.entries, 0).is_empty());
                }
                for d in due(&sim.entries, 0) {
                    for id in d.entries {
                        prop_assert!(!sim.entries[id as usize].held, "a held entry is never due");
                    }
                }
                // the report equals the sum of the entries
                let rows = ReportRows {
                    conversions: heads
                        .iter()
                        .enumerate()
                        .map(|(i, _)| {
                            (
                                Some(sim.sales[i].affiliate.clone()),
                                "2026-11-19".to_string(),
                                "USD".to_string(),
                                1,
                                i128::from(AMOUNT),
                                i128::from(sim.sum(i, None)),
                            )
                        })
                        .collect(),
                    ledger: sim.entries.clone(),
                    ..ReportRows::default()
                };
                let scope = ReportScope {
                    tenant_id: "t",
                    from: "2026-11-19".into(),
                    to: "2026-11-19".into(),
                    currency: "USD",
                    affiliates: &[],
                    now: 0,
                };
                let r = build(scope, &rows).unwrap();
                let total: i128 = sim.entries.iter().map(|e| i128::from(e.amount_cents)).sum();
                let l = r.totals.ledger;
                prop_assert_eq!(r.totals.counts.commission_cents, total);
                prop_assert_eq!(l.pending_cents + l.approved_cents + l.paid_cents, total);
                prop_assert_eq!(l.paid_cents, i128::from(paid_total));
                let held: i128 = sim.entries.iter().filter(|e| e.held && !e.paid).map(|e| i128::from(e.amount_cents)).sum();
                prop_assert_eq!(l.pending_cents, held, "with no hold days, pending is what is held");
            }
            for (i, (_, _, facts)) in sales.iter().enumerate() {
                // the truth of the story: refunds that did not fail, a lost dispute
                let mut last: Vec<&Fact> = Vec::new();
                for f in facts.iter().filter(|f| f.kind != FactKind::ChargeRefunded) {
                    last.retain(|x| !(x.kind == f.kind && x.key == f.key));
                    last.push(f);
                }
                let refunded: i64 = last
                    .iter()
                    .filter(|f| f.kind == FactKind::Refund && f.state == FactState::Counted)
                    .map(|f| f.amount_cents)
                    .sum::<i64>()
                    .min(AMOUNT);
                let lost = last.iter().any(|f| f.state == FactState::Lost);
                let accrued = heads[i].1;
                let reversed = if lost {
                    accrued
                } else {
                    reversal_target(accrued, AMOUNT, refunded).unwrap()
                };
                prop_assert_eq!(sim.sales[i].refunded, refunded, "sale {} refunded", i);
                prop_assert_eq!(sim.sum(i, None), accrued - reversed, "sale {} net", i);
                prop_assert_eq!(sim.sum(i, None), inorder.sum(i, None), "sale {}", i);
                prop_assert_eq!(sim.sales[i].refunded, inorder.sales[i].refunded);
                prop_assert_eq!(sim.sales[i].held, inorder.sales[i].held);
            }
        }
    }
}
