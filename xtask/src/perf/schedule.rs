//! The order and number of samples (pure). Base and head alternate in pairs
//! whose order flips every pair (base-head, head-base, …), so a machine that
//! drifts (warming caches, a neighbour's build starting) weighs on both
//! alike. Pairs go on until the scenario's samples are taken or the next
//! pair would overrun its budget; the minimum the confidence needs is always
//! taken, each sample bounded by its own timeout.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Base,
    Head,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Base => "base",
            Side::Head => "head",
        }
    }
}

/// The order of pair number `n` (0-based): base first on even pairs.
pub fn pair_order(n: usize) -> [Side; 2] {
    if n.is_multiple_of(2) {
        [Side::Base, Side::Head]
    } else {
        [Side::Head, Side::Base]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Take another pair.
    Pair,
    /// Every sample asked for is taken.
    Done,
    /// The next pair would overrun the budget.
    OverBudget,
}

/// Whether to take another pair after `pairs` pairs (warm-up excluded) in
/// `elapsed` (warm-up included), the last pair having taken `last`.
pub fn next(pairs: usize, wanted: usize, least: usize, elapsed: Duration, last: Duration, budget: Duration) -> Next {
    if pairs >= wanted {
        Next::Done
    } else if pairs < least || elapsed + last <= budget {
        Next::Pair
    } else {
        Next::OverBudget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_alternate_their_order() {
        let order: Vec<Side> = (0..3).flat_map(pair_order).collect();
        use Side::*;
        assert_eq!(order, [Base, Head, Head, Base, Base, Head]);
    }

    #[test]
    fn the_budget_stops_new_pairs_but_never_below_the_minimum() {
        let s = Duration::from_secs;
        assert_eq!(next(6, 6, 4, s(10), s(1), s(60)), Next::Done);
        assert_eq!(next(2, 6, 4, s(100), s(30), s(60)), Next::Pair, "the minimum is always taken");
        assert_eq!(next(4, 6, 4, s(50), s(8), s(60)), Next::Pair);
        assert_eq!(next(4, 6, 4, s(55), s(8), s(60)), Next::OverBudget);
    }
}
