//! "The configuration file manages what it declares": each tenant and affiliate row says who
//! made it ([`Origin`]), and every apply of the file moves the rows by [`next`]. A row the file
//! declared and no longer declares is disabled (data kept); declaring it again enables it;
//! rows made through the admin API or the dashboard are never touched by a file that does not
//! declare them.

/// Who manages a tenant or affiliate row (stored as `config_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Made through the admin API or the dashboard (0).
    Api,
    /// Declared by the configuration file (1).
    File,
    /// Declared by the file before, no longer: disabled by it (2).
    Withdrawn,
}

impl Origin {
    pub fn as_i64(self) -> i64 {
        match self {
            Origin::Api => 0,
            Origin::File => 1,
            Origin::Withdrawn => 2,
        }
    }

    /// `None` for a number no schema writes.
    pub fn from_i64(n: i64) -> Option<Origin> {
        match n {
            0 => Some(Origin::Api),
            1 => Some(Origin::File),
            2 => Some(Origin::Withdrawn),
            _ => None,
        }
    }
}

/// What an apply does to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub to: Origin,
    /// `Some(d)`: the row's `disabled` becomes `d`; `None`: it stays (an operator may have
    /// disabled a declared affiliate through the API: the file does not enable it again).
    pub disabled: Option<bool>,
}

/// What becomes of a row that is in state `from` when the applied file does (`declared`) or
/// does not declare it; `None`: nothing.
pub fn next(from: Origin, declared: bool) -> Option<Move> {
    match (from, declared) {
        (Origin::File, true) => None,
        (Origin::Api, true) => Some(Move {
            to: Origin::File,
            disabled: None,
        }),
        (Origin::Withdrawn, true) => Some(Move {
            to: Origin::File,
            disabled: Some(false),
        }),
        (Origin::File, false) => Some(Move {
            to: Origin::Withdrawn,
            disabled: Some(true),
        }),
        (Origin::Api | Origin::Withdrawn, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_manages_only_what_it_declared() {
        // declared for the first time (or taken over from the API): marked, not re-enabled
        assert_eq!(
            next(Origin::Api, true),
            Some(Move {
                to: Origin::File,
                disabled: None
            })
        );
        assert_eq!(next(Origin::File, true), None);
        // removed from the file: disabled, once
        assert_eq!(
            next(Origin::File, false),
            Some(Move {
                to: Origin::Withdrawn,
                disabled: Some(true)
            })
        );
        assert_eq!(next(Origin::Withdrawn, false), None);
        // declared again: enabled
        assert_eq!(
            next(Origin::Withdrawn, true),
            Some(Move {
                to: Origin::File,
                disabled: Some(false)
            })
        );
        // never declared: never touched
        assert_eq!(next(Origin::Api, false), None);
    }

    #[test]
    fn stored_states_round_trip() {
        for o in [Origin::Api, Origin::File, Origin::Withdrawn] {
            assert_eq!(Origin::from_i64(o.as_i64()), Some(o));
        }
        assert_eq!(Origin::from_i64(3), None);
    }
}
