//! How one stream is fetched: window planning ([`plan`]), recovery after a start
//! ([`recover`]), the loop that walks windows page by page ([`run`], [`window`]),
//! publishing and checkpointing what it found ([`checkpoint`]), and the `StreamFetcher`
//! actor that runs the loop and reports how it ended ([`Exit`]).
//!
//! The loop talks to the rest of the engine only through what [`FetcherDeps`] holds:
//! its source, a [`LimiterHandle`], a [`PublisherHandle`] and its [`StreamProbe`]
//! (metrics, status and log, through internal events). Nothing here knows actors or
//! Kafka modes, so the loop is unit-tested with a scripted source, an in-memory sink and
//! tokio's paused clock (`fetch/tests`).

mod checkpoint;
mod exit;
pub mod fetcher;
mod gaps;
pub mod plan;
mod recover;
mod run;
mod window;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::Duration;
use trawl_sources::Source;

pub use exit::Exit;
pub use fetcher::{FetcherExited, StopFetcher, StreamFetcher};
pub use run::run_stream;

use crate::clock::Clock;
use crate::config::{RecheckSchedule, StreamSettings};
use crate::events::StreamProbe;
use crate::limiter::LimiterHandle;
use crate::publisher::PublisherHandle;

/// API requests of all streams in flight at once. Pacing is per account (the rate
/// limiters); this bounds the process: when thousands of tenants start together, their
/// first requests would otherwise each open a connection at the same moment. Taken
/// after the rate limiter's grant, so a stream waiting for its account's quota holds no
/// slot. (What it bought at fleet scale: `benches/RESULTS.md`.)
pub const MAX_REQUESTS_IN_FLIGHT: usize = 256;

/// A stream's settings as the loop uses them, converted once from [`StreamSettings`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    pub poll_interval: Duration,
    pub backfill: Duration,
    pub lookback: Duration,
    /// Backfill windows in flight at once (at least 1).
    pub max_windows: usize,
    /// When a live poll re-reads the lookback (`plan::live_reach`).
    pub recheck: RecheckSchedule,
    /// How often a gap is tried again (`gap_retry`, see `gaps`).
    pub gap_retry: Duration,
}

impl From<&StreamSettings> for Cadence {
    fn from(s: &StreamSettings) -> Self {
        let chrono = |d: std::time::Duration| Duration::from_std(d).unwrap_or(Duration::MAX);
        Self {
            poll_interval: chrono(s.poll_interval),
            backfill: chrono(s.backfill),
            lookback: chrono(s.lookback),
            max_windows: s.max_concurrent_windows.get(),
            recheck: s.recheck,
            gap_retry: chrono(s.gap_retry),
        }
    }
}

/// Everything a stream's loop needs; cheap to clone.
#[derive(Clone)]
pub struct FetcherDeps {
    pub source: Arc<dyn Source>,
    pub limiter: LimiterHandle,
    pub publisher: PublisherHandle,
    pub cadence: Cadence,
    pub clock: Clock,
    pub probe: StreamProbe,
    /// Process-wide bound on API requests in flight (see [`MAX_REQUESTS_IN_FLIGHT`]).
    pub requests: Arc<tokio::sync::Semaphore>,
}
