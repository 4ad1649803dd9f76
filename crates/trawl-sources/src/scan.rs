//! Walking one window of one stream, page by page: the part all three APIs share.
//!
//! A [`WindowScan`] owns the window, the scan's [`OccurrenceCounter`] (so identical
//! records of one second get distinct, repeatable ids) and an API-specific driver that
//! knows how to ask for the next page. Each [`WindowScan::next_page`] makes at most one
//! API request, so the engine takes one rate-limit permit per call. The scan
//!
//! * keeps only records whose time lies in the window (Zoom answers whole days);
//! * stops early once a newest-first API reaches records older than the window (or an
//!   oldest-first one records newer than it), so no request is spent on known data;
//! * starts the window over with a fresh counter when the API says the page token
//!   expired (ids repeat; the engine dedupes by id within a scan);
//! * moves the window start forward when the API refuses data older than its retention
//!   (Zoom's 6 months), instead of failing the same request forever;
//! * walks a window longer than the API allows in consecutive pieces.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::Value;
use trawl_model::{Event, OccurrenceCounter, Outcome, RawJson, StreamKey, Window, EVENT_SCHEMA};

use crate::auth::BoxFuture;
use crate::error::SourceError;

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
    /// Normalized events of this page whose time lies in the window, with ids from the
    /// scan's counter; `done` when the window has no further page.
    Page { events: Vec<Event>, done: bool },
    /// The scan starts the window over (page token expired; counter reset, so ids
    /// repeat), or moved the window start forward (retention horizon), or changed how it
    /// asks (Phone date fallback). No events this time; call again.
    Restarted { reason: String },
}

/// The normalized fields of one record, before it gets its id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fields {
    pub actor: Option<String>,
    pub action: String,
    pub category: Option<String>,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub outcome: Outcome,
    pub client_ip: Option<String>,
}

/// One record as parsed from a page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub time: DateTime<Utc>,
    pub raw: Value,
    pub fields: Fields,
}

/// What one driver request came to.
#[derive(Debug)]
pub(crate) enum Fetch {
    /// The page's records in API order, and whether another page follows.
    Page { records: Vec<Record>, more: bool },
    /// Start the current window over (cursor dropped, counter reset).
    Restart { reason: String },
    /// The API refuses to go this far back.
    Horizon { reason: String },
}

pub(crate) struct Fetched {
    pub result: Result<Fetch, SourceError>,
    pub exchange: Option<HttpExchange>,
}

/// The API-specific half of a scan: asks for the next page of `window`, keeping its own
/// cursor; `reset` forgets the cursor.
pub(crate) trait Driver: Send {
    fn fetch<'a>(&'a mut self, window: Window, now: DateTime<Utc>) -> BoxFuture<'a, Fetched>;
    fn reset(&mut self);
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

    /// Whether no later page can hold a record of `w`: the order is proven one way
    /// (a strict step and none against it) and the last record is already beyond `w`.
    fn passed(&self, w: &Window) -> bool {
        match self.last {
            Some(last) if self.decreased && !self.increased => last < w.start,
            Some(last) if self.increased && !self.decreased => last >= w.end,
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
    order: OrderSeen,
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
    pub(crate) fn new(
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
            order: OrderSeen::default(),
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
                step: Ok(ScanStep::Page {
                    events: Vec::new(),
                    done: true,
                }),
                exchange: None,
            };
        };
        let fetched = self.driver.fetch(piece, now).await;
        let step = match fetched.result {
            Err(e) => Err(e),
            Ok(Fetch::Restart { reason }) => {
                self.start_over();
                Ok(ScanStep::Restarted { reason })
            }
            Ok(Fetch::Horizon { reason }) => Ok(self.move_past_horizon(piece, now, reason)),
            Ok(Fetch::Page { records, more }) => Ok(self.page(piece, records, more, now)),
        };
        PageResult {
            step,
            exchange: fetched.exchange,
        }
    }

    fn page(
        &mut self,
        piece: Window,
        records: Vec<Record>,
        more: bool,
        now: DateTime<Utc>,
    ) -> ScanStep {
        let mut events = Vec::with_capacity(records.len());
        for r in records {
            self.order.observe(r.time);
            if !piece.contains(r.time) {
                continue;
            }
            events.push(to_event(&self.stream, &mut self.counter, r, now));
        }
        if !more || self.order.passed(&piece) {
            self.pieces.pop_front();
            self.driver.reset();
            self.order = OrderSeen::default();
        }
        self.done = self.pieces.is_empty();
        ScanStep::Page {
            events,
            done: self.done,
        }
    }

    fn start_over(&mut self) {
        self.counter = OccurrenceCounter::new();
        self.order = OrderSeen::default();
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
            return ScanStep::Page {
                events: Vec::new(),
                done: true,
            };
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

/// A parsed record as the event it becomes, its id from `counter`. The record's canonical
/// JSON is written once: hashed for the id and kept as the event's `raw`.
pub(crate) fn to_event(
    stream: &StreamKey,
    counter: &mut OccurrenceCounter,
    r: Record,
    now: DateTime<Utc>,
) -> Event {
    let raw = RawJson::from_value(&r.raw);
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
