//! A run of identical records at the top of a page held back until it is known whether
//! the list moved under the page token (see the module doc of `scan`): the previous page,
//! asked for again, decides how many of the run were seen before.

use chrono::{DateTime, Utc};
use trawl_model::{RawJson, Window};

use super::resight::{moved_by, Key};
use super::{empty_page, DriverPage, Outside, Record, ScanStep, WindowScan};

/// A run of identical records at the top of a page, held until it is known how many of
/// them were seen on the previous page already.
pub(super) struct Held {
    pub run: Vec<(Record, RawJson)>,
    pub shifts: Vec<usize>,
    /// The previous page, to compare with the answer asked for again.
    pub previous: Vec<Key>,
    pub outside: Outside,
    pub more: bool,
    pub asked: bool,
}

impl WindowScan {
    /// The previous page asked for again has come: how far did the list move?
    pub(super) fn resolve(&mut self, piece: Window, p: DriverPage, now: DateTime<Utc>) -> ScanStep {
        let Some(held) = self.held.as_ref() else {
            // A repeat nobody asked for: nothing to decide.
            return empty_page(false);
        };
        let again: Vec<Key> = p
            .records
            .iter()
            .map(|r| (r.time, RawJson::from_value(&r.raw)))
            .collect();
        let largest = held.shifts.last().copied().unwrap_or(0);
        let shift = match moved_by(&held.previous, &again) {
            Some(0) => 0,
            Some(g) if held.shifts.contains(&g) => g,
            _ => {
                tracing::info!(stream = %self.stream, "page boundary inside identical records while the list moved: the run is taken as seen before; a later pass finds a twin among them");
                largest
            }
        };
        self.release(piece, shift, now)
    }

    /// Counts the held run from `shift` on, and ends the page it came with.
    pub(super) fn release(&mut self, piece: Window, shift: usize, now: DateTime<Utc>) -> ScanStep {
        let Some(held) = self.held.take() else {
            return empty_page(false);
        };
        let kept: Vec<_> = held.run.into_iter().skip(shift).collect();
        let (events, late) = self.split(piece, kept, held.outside, now);
        self.finish_page(events, Vec::new(), late, held.more)
    }
}
