//! Records seen again at a page boundary, when a page token is only an offset into a
//! list that grew while it was paged (see the module doc of `scan`).
//!
//! Pure functions over the records of two consecutive pages of one listing, compared by
//! time and canonical JSON. They never guess: a boundary is clear, a proven shift, or
//! ambiguous (a run of identical records where "the same record again" and "its
//! identical twin" look the same), and the scan resolves the last kind with evidence.

use chrono::{DateTime, Utc};
use trawl_model::RawJson;

/// What identifies a record for comparison: its time and its canonical JSON.
pub(crate) type Key = (DateTime<Utc>, RawJson);

/// What two consecutive pages of one listing say about records seen twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// No record of the new page can be a record of the previous one.
    Clear,
    /// The first `n` records of the new page are the last `n` of the previous page.
    Shift(usize),
    /// The new page starts with a run of `run` identical records and the previous page
    /// ends with copies of the same record: the first `s` of the run are seen again for
    /// some `s` in `shifts` (all >= 1), or for none of them (0: they are twins).
    Ambiguous { run: usize, shifts: Vec<usize> },
}

/// Which order the times seen so far prove, to tell a shift from an ambiguity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proven {
    NewestFirst,
    OldestFirst,
    Nothing,
}

/// Compares the previous page `prev` with the new page `next`.
pub(crate) fn boundary(prev: &[Key], next: &[Key], order: Proven) -> Boundary {
    let max = prev.len().min(next.len());
    // Every n such that the last n of `prev` are the first n of `next`.
    let shifts: Vec<usize> = (1..=max)
        .filter(|&n| prev[prev.len() - n..] == next[..n])
        .collect();
    let Some(&largest) = shifts.last() else {
        return Boundary::Clear;
    };
    let last_time = prev[prev.len() - 1].0;
    // In a proven order a record not yet seen cannot lie on the side of the last time
    // that was already passed: a first record strictly there was seen before.
    let passed = match order {
        Proven::NewestFirst => next[0].0 > last_time,
        Proven::OldestFirst => next[0].0 < last_time,
        Proven::Nothing => false,
    };
    // Identical copies of one record are next to each other; a repeated block that
    // holds two different records is a shift (twins of two records interleaved across a
    // page boundary are not a real list).
    let mixed = next[..largest].iter().any(|k| *k != next[0]);
    if passed || mixed {
        return Boundary::Shift(largest);
    }
    let run = next.iter().take_while(|k| **k == next[0]).count();
    Boundary::Ambiguous { run, shifts }
}

/// How far the list moved at the previous page's offset between two answers for it:
/// the `g` for which `again[g..]` is `before[..len - g]`; `None` when neither is a
/// shift of the other (records arrived inside the page, or left it).
pub(crate) fn moved_by(before: &[Key], again: &[Key]) -> Option<usize> {
    if before == again {
        return Some(0);
    }
    (1..again.len()).find(|&g| {
        let n = (again.len() - g).min(before.len());
        again[g..g + n] == before[..n]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn k(sec: u32, text: &str) -> Key {
        let v = serde_json::json!({ "d": text });
        (
            Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, sec).unwrap(),
            RawJson::from_value(&v),
        )
    }

    #[test]
    fn clear_shift_and_ambiguous_boundaries() {
        let prev = [k(9, "a"), k(8, "b"), k(7, "c")];
        // Nothing repeated.
        assert_eq!(
            boundary(&prev, &[k(6, "d"), k(5, "e")], Proven::NewestFirst),
            Boundary::Clear
        );
        // Two records seen again: different records, a shift whatever the order.
        let next = [k(8, "b"), k(7, "c"), k(6, "d")];
        assert_eq!(boundary(&prev, &next, Proven::Nothing), Boundary::Shift(2));
        // One record seen again: ambiguous without a proven order...
        let next = [k(7, "c"), k(6, "d")];
        assert_eq!(
            boundary(&prev, &next, Proven::Nothing),
            Boundary::Ambiguous {
                run: 1,
                shifts: vec![1]
            }
        );
        // ... and newest first it is still the same second: ambiguous.
        assert!(matches!(
            boundary(&prev, &next, Proven::NewestFirst),
            Boundary::Ambiguous { .. }
        ));
        // Twins across the boundary: page ends with two copies, the next starts with three.
        let prev = [k(9, "a"), k(7, "c"), k(7, "c")];
        let next = [k(7, "c"), k(7, "c"), k(7, "c"), k(6, "d")];
        assert_eq!(
            boundary(&prev, &next, Proven::NewestFirst),
            Boundary::Ambiguous {
                run: 3,
                shifts: vec![1, 2]
            }
        );
        // A first record newer than the last one seen, newest first: a proven shift.
        let prev = [k(9, "a"), k(8, "b")];
        let next = [k(9, "a"), k(8, "b"), k(7, "c")];
        assert_eq!(
            boundary(&prev, &next, Proven::NewestFirst),
            Boundary::Shift(2)
        );
    }

    #[test]
    fn how_far_a_page_moved() {
        let before = [k(9, "a"), k(8, "b"), k(7, "c")];
        assert_eq!(moved_by(&before, &before), Some(0));
        let again = [k(10, "n"), k(9, "a"), k(8, "b")];
        assert_eq!(moved_by(&before, &again), Some(1));
        let inside = [k(9, "a"), k(8, "x"), k(8, "b")];
        assert_eq!(moved_by(&before, &inside), None);
    }
}
