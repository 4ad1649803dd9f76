//! The fetch loop of one stream: recover ([`super::recover`]), backfill, then poll
//! live, forever.
//!
//! After recovery the seen set holds every id published for the stream's open period.
//! From then on a record goes to Kafka only if its id is not in the set, and its id
//! joins the set only after Kafka acknowledged it: the set never claims more than was
//! delivered, so no crash at any point can lose or duplicate a record.
//!
//! Backfill walks the windows between the watermark and now, several at once (the rate
//! limiter alone sets the pace); a live poll every poll interval reads what is new,
//! `[watermark - margin, now)`, and when a tier of the tenant's `recheck` schedule is
//! due, reads back that tier's age (up to the whole lookback) for late records
//! ([`plan::due_tier`]). So a caught-up stream costs the pages of its new records plus
//! a constant, whatever the day's volume. What a window finds is published and
//! checkpointed by [`super::checkpoint`]; each page is fetched by [`super::window`].

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use trawl_model::{Checkpoint, EventId, StreamKey, Window};

use super::{gaps, plan, recover, Exit, FetcherDeps};
use crate::events::{
    Backfilling, BehindRetention, GapsLoaded, LivePollScheduled, LivePollWoke, StreamStarting,
};
use crate::limiter::Priority;

/// One stream's loop state. The checkpoint is the fetcher's own: every acknowledged id
/// is in its seen set, its output is the position after the last acknowledged event,
/// and the copy last stored is what a restart begins from.
pub(super) struct StreamLoop {
    pub(super) deps: FetcherDeps,
    pub(super) checkpoint: RefCell<Checkpoint>,
    /// One publish at a time, so a stored position covers every earlier event.
    pub(super) publishing: tokio::sync::Mutex<()>,
    pub(super) last_save: Cell<Instant>,
    /// Store the checkpoint with the next write, however little changed (a gap was
    /// recorded or closed: see [`super::gaps`]).
    pub(super) store_now: Cell<bool>,
    /// Set while a gap's window is tried again (gaps are retried one at a time, between
    /// the backfill and the next live poll): its page that still fails is not sent to the
    /// dead-letter topic again (the first failure's body is there already).
    pub(super) retrying_gap: Cell<bool>,
    /// The watermark of the checkpoint last stored.
    pub(super) saved_watermark: Cell<DateTime<Utc>>,
    /// Fingerprints of records this loop dead-lettered (also put in the seen set, which
    /// a concurrent publish may replace before it is stored): each goes once.
    pub(super) dead_lettered: RefCell<HashSet<EventId>>,
    /// While set, no checkpoint is stored: the stream had none, and the read-back found
    /// events of it up to this time (`recover::start_without_checkpoint`).
    pub(super) replay_until: Cell<Option<DateTime<Utc>>>,
    /// Ids of late records already counted as dropped (answered again by each
    /// overlapping live window): each is counted once.
    pub(super) late_dropped: RefCell<HashSet<EventId>>,
    /// When each tier of the `recheck` schedule last re-read its age (`None`: not since
    /// this loop started, so the first live poll re-reads the whole lookback).
    rechecked: RefCell<Vec<Option<DateTime<Utc>>>>,
    /// The oldest time of the late records a window held for the live window that
    /// covers their time: the next poll reaches back that far, whatever the schedule.
    pub(super) held_from: Cell<Option<DateTime<Utc>>>,
}

impl StreamLoop {
    fn new(deps: FetcherDeps, recovery: recover::Recovery) -> Self {
        let checkpoint = recovery.checkpoint;
        Self {
            replay_until: Cell::new(recovery.replay_until),
            saved_watermark: Cell::new(checkpoint.watermark),
            checkpoint: RefCell::new(checkpoint),
            publishing: tokio::sync::Mutex::new(()),
            last_save: Cell::new(Instant::now()),
            store_now: Cell::new(false),
            retrying_gap: Cell::new(false),
            dead_lettered: RefCell::new(HashSet::new()),
            late_dropped: RefCell::new(HashSet::new()),
            rechecked: RefCell::new(vec![None; deps.cadence.recheck.tiers().len()]),
            held_from: Cell::new(None),
            deps,
        }
    }

    pub(super) fn key(&self) -> &StreamKey {
        self.deps.probe.key()
    }

    /// The oldest time the API still keeps, with a day's margin.
    fn oldest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.deps.source.retention() + Duration::days(1)
    }

    /// Moves a watermark that fell behind the API's retention to `oldest`, so windows
    /// and watermark agree on where the stream stands; says what was lost. (Stored with
    /// the next checkpoint; a restart before that only finds the same gap again.)
    fn skip_beyond_retention(&self, oldest: DateTime<Utc>) {
        let gap = plan::behind_retention(&self.checkpoint.borrow(), oldest);
        let Some(gap) = gap else {
            return;
        };
        {
            let mut cp = self.checkpoint.borrow_mut();
            cp.complete_window(gap);
            cp.prune_seen(self.deps.cadence.lookback);
        }
        self.deps.probe.emit(BehindRetention { lost: gap });
        self.report_watermark();
    }
}

/// Runs the stream until it fails (it is stopped by cancellation otherwise).
pub async fn run_stream(deps: FetcherDeps) -> Exit {
    deps.probe.emit(StreamStarting);
    // The recovery, the backfill and each live window run as boxed futures of their own,
    // allocated while they run: a stream sleeping until its next poll holds only this
    // loop's small state (what that saves at fleet scale: benches/RESULTS.md).
    let recovery = match Box::pin(recover::recover(&deps)).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let stream = Rc::new(StreamLoop::new(deps, recovery));
    stream.report_watermark();
    stream.deps.probe.emit(GapsLoaded {
        gaps: &stream.checkpoint.borrow().gaps,
    });
    loop {
        if let Err(e) = Box::pin(backfill(&stream)).await {
            return e;
        }
        if let Err(e) = Box::pin(gaps::retry_gaps(&stream)).await {
            return e;
        }
        if let Err(e) = poll_live(&stream).await {
            return e;
        }
    }
}

/// Fetches every window between the watermark and now, several at once, until caught up.
async fn backfill(stream: &Rc<StreamLoop>) -> Result<(), Exit> {
    let cadence = stream.deps.cadence;
    loop {
        let now = stream.deps.clock.now();
        if plan::caught_up(&stream.checkpoint.borrow(), now, cadence.poll_interval) {
            return Ok(());
        }
        stream.deps.probe.emit(Backfilling);
        let step = stream.deps.source.backfill_step();
        let oldest = stream.oldest(now);
        stream.skip_beyond_retention(oldest);
        let mut in_flight: Vec<Window> = Vec::new();
        let mut running = FuturesUnordered::new();
        // Windows finished while the API's midnight was unknown (`windows_at_once`).
        let mut unknown_done = 0;
        loop {
            let room = windows_at_once(
                cadence.max_windows,
                stream.deps.source.day_offset_known(),
                unknown_done,
            )
            .saturating_sub(in_flight.len());
            if room > 0 {
                let next = plan::next_backfill_windows(
                    &stream.checkpoint.borrow(),
                    now,
                    step,
                    stream.deps.source.day_offset(),
                    oldest,
                    &in_flight,
                    room,
                );
                for window in next {
                    in_flight.push(window);
                    let priority = if now - window.end < cadence.poll_interval * 2 {
                        Priority::Live
                    } else {
                        Priority::Backfill
                    };
                    let stream = stream.clone();
                    running
                        .push(async move { (window, stream.scan_window(window, priority).await) });
                }
            }
            match running.next().await {
                None => break,
                Some((window, result)) => {
                    stream.settle(window, result?).await?;
                    in_flight.retain(|w| *w != window);
                    if !stream.deps.source.day_offset_known() {
                        unknown_done += 1;
                    }
                }
            }
        }
    }
}

/// Windows finished, at most, before the backfill runs `max` at once although the API's
/// midnight is still unknown (an account too quiet for an answer to show it).
const UNKNOWN_WINDOWS: usize = 3;

/// Windows run at once while the API's midnight is unknown: two page chains keep a
/// Pro account's 10 requests a second busy at 200 ms a page, and only the windows
/// started before the midnight is known may each have to ask a neighbouring date.
const WHILE_UNKNOWN: usize = 2;

/// How many backfill windows may run at once. While the API's midnight is unknown
/// (Zoom may read dates in the account's zone), windows are cut at a guessed one and
/// each may have to ask a neighbouring date for an edge: two windows at a time, until
/// an answer shows the midnight (usually the first window's) and every later window
/// is cut where the API's days begin, or `UNKNOWN_WINDOWS` windows have not shown it.
/// The trade-off is measured in `benches/RESULTS.md` ("Zoom dates in an unknown zone").
fn windows_at_once(max: usize, offset_known: bool, unknown_done: usize) -> usize {
    if offset_known || unknown_done >= UNKNOWN_WINDOWS {
        max
    } else {
        WHILE_UNKNOWN.min(max)
    }
}

/// Waits for the next poll time, then reads `[watermark - reach, now)`: a margin, or a
/// due recheck tier's age (see the module doc).
async fn poll_live(stream: &Rc<StreamLoop>) -> Result<(), Exit> {
    let deps = &stream.deps;
    let next_poll = stream.checkpoint.borrow().watermark + deps.cadence.poll_interval;
    deps.probe.emit(LivePollScheduled { next_poll });
    let wake = deps.clock.instant_at(next_poll);
    deps.probe.waiting(tokio::time::sleep_until(wake)).await;
    let now = deps.clock.now();
    let late = (now - next_poll).to_std().unwrap_or_default();
    deps.probe.emit(LivePollWoke { late });
    let oldest = stream.oldest(now);
    stream.skip_beyond_retention(oldest);
    let schedule = &deps.cadence.recheck;
    let lookback = deps.cadence.lookback;
    let tier = plan::due_tier(schedule, &stream.rechecked.borrow(), now);
    let mut reach = if schedule.tiers().is_empty() {
        lookback
    } else {
        plan::live_reach(schedule, tier, lookback)
    };
    if let Some(from) = stream.held_from.take() {
        let watermark = stream.checkpoint.borrow().watermark;
        reach = reach
            .max(watermark - from + Duration::seconds(1))
            .min(lookback);
    }
    let window = plan::live_window(&stream.checkpoint.borrow(), now, reach, oldest);
    let Some(window) = window else {
        return Ok(());
    };
    if let Some(tier) = tier {
        tracing::debug!(stream = %stream.key(), tier, %window, "live poll re-reads the lookback");
    }
    let scanned = Box::pin(stream.scan_window(window, Priority::Live)).await?;
    stream.settle(window, scanned).await?;
    if let Some(tier) = tier {
        plan::mark_rechecked(schedule, &mut stream.rechecked.borrow_mut(), tier, now);
    }
    stream.report_watermark();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{windows_at_once, UNKNOWN_WINDOWS, WHILE_UNKNOWN};

    #[test]
    fn few_windows_at_once_until_the_midnight_is_known_or_too_quiet_to_show() {
        assert_eq!(windows_at_once(4, false, 0), WHILE_UNKNOWN);
        assert_eq!(
            windows_at_once(4, false, UNKNOWN_WINDOWS - 1),
            WHILE_UNKNOWN
        );
        assert_eq!(windows_at_once(4, true, 0), 4);
        assert_eq!(windows_at_once(4, false, UNKNOWN_WINDOWS), 4);
        assert_eq!(windows_at_once(1, false, 0), 1);
        assert_eq!(windows_at_once(0, false, 0), 0);
    }
}
