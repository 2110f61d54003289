//! The consent gate (`data-consent="required"`): a small state machine over
//! whatever the tracker holds (its jobs), free of browser calls.

use alloc::vec::Vec;

/// Holds jobs while consent is required and not granted; releases them, in order, once.
#[derive(Debug)]
pub struct Gate<T> {
    required: bool,
    granted: bool,
    held: Vec<T>,
}

impl<T> Gate<T> {
    pub fn new(required: bool) -> Self {
        Gate {
            required,
            granted: false,
            held: Vec::new(),
        }
    }

    /// Cookies may be written and events sent.
    pub fn open(&self) -> bool {
        !self.required || self.granted
    }

    /// A job that needs consent: `Some(job)` to run now, `None` when it is held.
    pub fn submit(&mut self, job: T) -> Option<T> {
        if self.open() {
            Some(job)
        } else {
            self.held.push(job);
            None
        }
    }

    /// `consent` command: the jobs to run now (all held ones, in order, when the gate
    /// opens; a refusal keeps them held for a later grant).
    pub fn decide(&mut self, granted: bool) -> Vec<T> {
        self.granted = granted;
        if self.open() {
            core::mem::take(&mut self.held)
        } else {
            Vec::new()
        }
    }

    /// Back to the start state (tests).
    pub fn reset(&mut self) {
        self.granted = false;
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn gate() {
        let mut g = Gate::new(true);
        assert!(!g.open());
        assert_eq!(g.submit(1), None);
        assert_eq!(g.submit(2), None);
        assert!(g.decide(false).is_empty());
        assert_eq!(g.submit(3), None);
        assert_eq!(g.decide(true), vec![1, 2, 3]);
        assert_eq!(g.submit(4), Some(4));
        assert!(g.decide(true).is_empty());
        assert!(g.decide(false).is_empty());
        assert!(!g.open());
        let mut free = Gate::new(false);
        assert_eq!(free.submit(1), Some(1));
        assert!(free.decide(false).is_empty());
        assert!(
            free.open(),
            "a refusal does not close a gate that was never required"
        );
    }
}
