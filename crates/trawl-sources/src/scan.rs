//! Walking one window of one stream, page by page: the part all three APIs share.
//!
//! A [`WindowScan`] owns the window, the scan's [`OccurrenceCounter`] and an API-specific
//! [`Driver`] that knows how to ask for the next page. Each [`WindowScan::next_page`]
//! makes at most one API request, so the engine takes one rate-limit permit per call.
//! The scan
//!
//! * keeps the records whose time lies in the window (Zoom answers whole dates; its
//!   driver proves that the dates it asked cover the window, see `zoom::dates`) and
//!   hands back, apart, the records an API answered for the window that lie before it
//!   and that no other window's answer holds (Zoho selecting on index time);
//! * hands back each record that does not parse with its reason and raw text, next to
//!   the good ones: one bad record never blocks its page (a page that does not parse as
//!   a whole is an error, never an empty page);
//! * stops early once a newest-first API reaches records older than the window (or an
//!   oldest-first one records newer than it), so no request is spent on known data;
//! * starts the window over with a fresh counter when the API says the page token
//!   expired (ids repeat; the engine dedupes by id);
//! * moves the window start forward when the API refuses data older than its retention
//!   (Zoom's 6 months), instead of failing the same request forever;
//! * walks a window longer than the API allows in consecutive pieces.
//!
//! # Ids, identical records and pages that shift
//!
//! A record without an id gets a hash of its content and of its occurrence index among
//! the identical records of its second, counted over one scan (`trawl_model::event_id`).
//! Identical records of one second are real, distinct events (two admins doing the same
//! thing): they get indices 0, 1, 2 and are all published. That count is only right if
//! the scan sees each record exactly once. When a page token is an offset into a list
//! that grows while it is paged, a record arriving before the offset pushes the others
//! down, and the last records of a page show again at the top of the next one; counting
//! them again would give them new indices, i.e. new ids, and publish them twice.
//!
//! So at every page boundary of one listing the scan compares the new page with the
//! previous one (`resight`): if the new page starts with the previous page's last `n`
//! records and that is the only reading (the repeated block holds two different
//! records, or the order is proven and the first record lies on the side already
//! passed), those `n` are skipped. The one ambiguous case is a run of identical records
//! across the boundary, where "the same record again" and "its twin" look alike; it is
//! decided by evidence, never by guessing:
//!
//! * a window that ended [`SETTLED_AFTER`] ago no longer grows (late records aside, see
//!   the limits below): the run holds twins;
//! * the Phone report's `total_records` unchanged between the two pages: no growth,
//!   twins;
//! * otherwise the previous page is asked for again (one request): unchanged means the
//!   list did not move and the run holds twins; moved by `g` records means the first `g`
//!   were seen again; moved in a way no shift explains, the run is taken as seen again
//!   (never a duplicate) and a twin so deferred is found by the next pass over the window
//!   (live polls re-read it).
//!
//! Limits, stated: a record that arrives more than [`SETTLED_AFTER`] late into a date
//! being paged at that very moment, in front of the offset, at a page boundary inside a
//! run of identical records, could still be counted twice; and a twin deferred in a
//! window no later pass re-reads is lost. Both need a late record beyond any lookback.

mod driver;
mod held;
mod resight;

use std::collections::VecDeque;

use chrono::{DateTime, Duration, DurationRound, Utc};
use trawl_model::{Event, OccurrenceCounter, RawJson, StreamKey, Window, EVENT_SCHEMA};

use crate::error::SourceError;
pub(crate) use driver::RejectedIds;
pub use driver::{
    BoxFuture, Driver, DriverPage, Fetch, Fetched, Fields, Follows, Outside, Record, Rejected,
    RejectedRecord,
};
use held::Held;
use resight::{boundary, Boundary, Key, Proven};

/// A window that ended this long ago is taken as no longer growing while it is paged.
pub const SETTLED_AFTER: Duration = Duration::days(2);

/// Timing of the one API request a `next_page` made, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpExchange {
    /// `None` when no answer came (timeout, connection refused or dropped).
    pub status: Option<u16>,
    pub elapsed: std::time::Duration,
}

/// The outcome of one `next_page`; `exchange` is `None` when no API request was made
/// (the token could not be had, or the scan was already done).
#[derive(Debug)]
pub struct PageResult {
    pub step: Result<ScanStep, SourceError>,
    pub exchange: Option<HttpExchange>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScanStep {
    /// One page's worth: normalized events whose time lies in the window, with ids from
    /// the scan's counter; records that did not parse (to dead-letter once and move on);
    /// `late`: events the API answered for this window whose time lies before it and
    /// that no other window's answer holds (Zoho, when its range selects on index time:
    /// records indexed late). `late` events are new to the stream like `events`, but a
    /// later, overlapping window may answer them again until its start passes this
    /// window's end, so their ids must be remembered that long. `done` when the window
    /// has no further page.
    Page {
        events: Vec<Event>,
        rejected: Vec<RejectedRecord>,
        late: Vec<Event>,
        done: bool,
    },
    /// No events this time; call again. The scan starts the window over (page token
    /// expired or looping; counter reset, so ids repeat), or moved the window start
    /// forward (retention horizon), or changed how it asks (Phone date fallback, a
    /// refreshed access token after the old one was voided).
    Restarted { reason: String },
}

/// What the times seen so far say about the API's order.
#[derive(Debug, Default)]
struct OrderSeen {
    last: Option<DateTime<Utc>>,
    decreased: bool,
    increased: bool,
}

impl OrderSeen {
    fn observe(&mut self, t: DateTime<Utc>) {
        if let Some(last) = self.last {
            self.decreased |= t < last;
            self.increased |= t > last;
        }
        self.last = Some(t);
    }

    fn proven(&self) -> Proven {
        match (self.decreased, self.increased) {
            (true, false) => Proven::NewestFirst,
            (false, true) => Proven::OldestFirst,
            _ => Proven::Nothing,
        }
    }

    /// Whether no later page can hold a record of `w`: the order is proven one way
    /// (a strict step and none against it) and the last record is already beyond `w`.
    fn passed(&self, w: &Window) -> bool {
        match (self.last, self.proven()) {
            (Some(last), Proven::NewestFirst) => last < w.start,
            (Some(last), Proven::OldestFirst) => last >= w.end,
            _ => false,
        }
    }
}

/// One window of one stream, walked page by page. See the module doc.
pub struct WindowScan {
    stream: StreamKey,
    window: Window,
    pieces: VecDeque<Window>,
    retention: Duration,
    counter: OccurrenceCounter,
    rejected_ids: RejectedIds,
    order: OrderSeen,
    /// The last page with records of the current listing, and the size the API gave.
    previous: Vec<Key>,
    previous_total: Option<u64>,
    held: Option<Held>,
    driver: Box<dyn Driver>,
    done: bool,
}

impl std::fmt::Debug for WindowScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowScan")
            .field("stream", &self.stream)
            .field("window", &self.window)
            .field("pieces_left", &self.pieces.len())
            .field("done", &self.done)
            .finish()
    }
}

impl WindowScan {
    /// A scan of `window` through `driver`, in pieces of at most `max_piece`; the API
    /// keeps `retention` of data.
    pub fn new(
        stream: StreamKey,
        window: Window,
        max_piece: Duration,
        retention: Duration,
        driver: Box<dyn Driver>,
    ) -> Self {
        Self {
            stream,
            window,
            pieces: window.split(max_piece).into(),
            retention,
            counter: OccurrenceCounter::new(),
            rejected_ids: RejectedIds::default(),
            order: OrderSeen::default(),
            previous: Vec::new(),
            previous_total: None,
            held: None,
            driver,
            done: false,
        }
    }

    /// The window this scan covers; its start may have moved forward (retention horizon).
    pub fn window(&self) -> Window {
        self.window
    }

    pub fn stream(&self) -> &StreamKey {
        &self.stream
    }

    /// Whether the last page was returned.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Fetches and normalizes the next page: at most one API request.
    pub async fn next_page(&mut self, now: DateTime<Utc>) -> PageResult {
        let Some(piece) = self.pieces.front().copied().filter(|_| !self.done) else {
            self.done = true;
            return PageResult {
                step: Ok(empty_page(true)),
                exchange: None,
            };
        };
        if let Some(held) = self.held.as_mut() {
            if !held.asked {
                held.asked = true;
                if !self.driver.repeat_previous() {
                    // No way to look again: the run is taken as seen before.
                    let shift = held.shifts.last().copied().unwrap_or(0);
                    return PageResult {
                        step: Ok(self.release(piece, shift, now)),
                        exchange: None,
                    };
                }
            }
        }
        let fetched = self.driver.fetch(piece, now).await;
        let step = match fetched.result {
            Err(e) => Err(e),
            Ok(Fetch::Restart { reason }) => {
                self.start_over();
                Ok(ScanStep::Restarted { reason })
            }
            Ok(Fetch::Again { reason }) => Ok(ScanStep::Restarted { reason }),
            Ok(Fetch::Horizon { reason }) => Ok(self.move_past_horizon(piece, now, reason)),
            Ok(Fetch::Page(p)) if p.repeat => Ok(self.resolve(piece, p, now)),
            Ok(Fetch::Page(p)) => Ok(self.page(piece, p, now)),
        };
        PageResult {
            step,
            exchange: fetched.exchange,
        }
    }

    fn page(&mut self, piece: Window, p: DriverPage, now: DateTime<Utc>) -> ScanStep {
        let mut items: Vec<(Record, RawJson)> = p
            .records
            .into_iter()
            .map(|r| {
                let raw = RawJson::from_value(&r.raw);
                (r, raw)
            })
            .collect();
        let proven = self.order.proven();
        for (r, _) in &items {
            self.order.observe(r.time);
        }
        // Records are compared with the next page only where pages can shift.
        let keys: Vec<Key> = if p.follows == Follows::Keyset {
            Vec::new()
        } else {
            items.iter().map(|(r, raw)| (r.time, raw.clone())).collect()
        };
        let mut skip = 0;
        let mut held = None;
        match p.follows {
            Follows::Offset { total } if !items.is_empty() && !self.previous.is_empty() => {
                match boundary(&self.previous, &keys, proven) {
                    Boundary::Clear => {}
                    Boundary::Shift(n) => skip = n,
                    Boundary::Ambiguous { run, shifts } => {
                        let settled = piece.end + SETTLED_AFTER <= now;
                        let still = total.is_some() && total == self.previous_total;
                        let outside = !piece.contains(items[0].0.time);
                        if !(settled || still || outside) {
                            held = Some((run, shifts));
                        }
                    }
                }
                self.previous_total = total;
            }
            Follows::Offset { total } => self.previous_total = total,
            Follows::First | Follows::Keyset => {
                self.previous.clear();
                self.previous_total = None;
            }
        }
        let previous = std::mem::take(&mut self.previous);
        if !keys.is_empty() {
            self.previous = keys;
        } else {
            self.previous = previous.clone();
        }
        let held_run: Vec<(Record, RawJson)> = match &held {
            Some((run, _)) => items.drain(..*run).collect(),
            None => {
                items.drain(..skip.min(items.len()));
                Vec::new()
            }
        };
        let (events, late) = self.split(piece, items, p.outside, now);
        let rejected: Vec<RejectedRecord> = p
            .rejected
            .into_iter()
            .map(|r| self.rejected_ids.assign(&self.stream, r))
            .collect();
        let mut more = p.more;
        if more && self.order.passed(&piece) {
            more = self.driver.skip_listing();
        }
        if let Some((_, shifts)) = held {
            self.held = Some(Held {
                run: held_run,
                shifts,
                previous,
                outside: p.outside,
                more,
                asked: false,
            });
            return ScanStep::Page {
                events,
                rejected,
                late,
                done: false,
            };
        }
        self.finish_page(events, rejected, late, more)
    }

    fn finish_page(
        &mut self,
        events: Vec<Event>,
        rejected: Vec<RejectedRecord>,
        late: Vec<Event>,
        more: bool,
    ) -> ScanStep {
        if !more {
            self.pieces.pop_front();
            self.driver.reset();
            self.order = OrderSeen::default();
            self.previous.clear();
            self.previous_total = None;
        }
        self.done = self.pieces.is_empty();
        ScanStep::Page {
            events,
            rejected,
            late,
            done: self.done,
        }
    }

    /// Events of the piece, and the late ones before it; the rest are other windows'.
    fn split(
        &mut self,
        piece: Window,
        items: Vec<(Record, RawJson)>,
        outside: Outside,
        now: DateTime<Utc>,
    ) -> (Vec<Event>, Vec<Event>) {
        let mut events = Vec::with_capacity(items.len());
        let mut late = Vec::new();
        for (r, raw) in items {
            if piece.contains(r.time) {
                events.push(to_event(&self.stream, &mut self.counter, r, raw, now));
            } else if outside == Outside::Late && r.time < piece.start {
                late.push(to_event(&self.stream, &mut self.counter, r, raw, now));
            }
        }
        (events, late)
    }

    fn start_over(&mut self) {
        self.counter = OccurrenceCounter::new();
        self.rejected_ids = RejectedIds::default();
        self.order = OrderSeen::default();
        self.previous.clear();
        self.previous_total = None;
        self.held = None;
        self.driver.reset();
    }

    /// Moves the start to one day inside the retention horizon (`now - retention + 1
    /// day`, at midnight UTC); if the API still refuses, a further day each time, so the
    /// scan always ends.
    fn move_past_horizon(&mut self, piece: Window, now: DateTime<Utc>, reason: String) -> ScanStep {
        let floor = day_floor(now - self.retention) + Duration::days(1);
        let new_start = if floor > piece.start {
            floor
        } else {
            day_floor(piece.start) + Duration::days(1)
        };
        self.start_over();
        let old = self.window.start;
        self.pieces.retain(|p| p.end > new_start);
        if let Some(front) = self.pieces.front_mut() {
            front.start = front.start.max(new_start);
        }
        self.window.start = self.window.start.max(new_start).min(self.window.end);
        if self.pieces.is_empty() {
            self.done = true;
            tracing::info!(stream = %self.stream, "window lies wholly beyond the API's retention");
            return empty_page(true);
        }
        ScanStep::Restarted {
            reason: format!(
                "{reason}; window start moved from {} to {}",
                old.to_rfc3339(),
                self.window.start.to_rfc3339()
            ),
        }
    }
}

fn empty_page(done: bool) -> ScanStep {
    ScanStep::Page {
        events: Vec::new(),
        rejected: Vec::new(),
        late: Vec::new(),
        done,
    }
}

/// A parsed record as the event it becomes, its id from `counter`. The record's canonical
/// JSON is written once: hashed for the id and kept as the event's `raw`.
pub(crate) fn to_event(
    stream: &StreamKey,
    counter: &mut OccurrenceCounter,
    r: Record,
    raw: RawJson,
    now: DateTime<Utc>,
) -> Event {
    let id = counter.assign_canonical(stream, raw.as_str().as_bytes(), r.time.timestamp());
    Event {
        schema: EVENT_SCHEMA.to_string(),
        id,
        tenant: stream.tenant.clone(),
        source: stream.source,
        time: r.time,
        observed_at: now,
        actor: r.fields.actor,
        action: r.fields.action,
        category: r.fields.category,
        target: r.fields.target,
        detail: r.fields.detail,
        outcome: r.fields.outcome,
        client_ip: r.fields.client_ip,
        raw,
    }
}

fn day_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::days(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests;
