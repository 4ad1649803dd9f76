//! What a stream remembers between runs, and the proof that lets a restart skip what it
//! already published.
//!
//! * `watermark`: every record with `time < watermark` that the API held when the window
//!   ending there was scanned has been delivered to Kafka and acknowledged.
//! * `done`: backfill windows after the watermark that were fully delivered out of order
//!   (several windows of one stream are fetched at once); the watermark swallows them as
//!   soon as they become contiguous with it.
//! * `seen`: ids delivered for records of the lookback period before the watermark, so a
//!   re-read of that period (Zoom answers whole days; late records arrive with old times)
//!   publishes only what is new ([`SeenSet`]). It grows with the volume: stores write it
//!   as several records of bounded size ([`crate::checkpoint_records`]).
//! * `output`: the next offset of the stream's partition after the last event this
//!   checkpoint covers. After a crash, the stream reads its partition from there to the
//!   end to learn what was published after the checkpoint was written.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::StreamKey;
use crate::seen::hour_of;
pub use crate::seen::SeenSet;
use crate::window::Window;

pub const CHECKPOINT_VERSION: u32 = 2;

/// A position in Kafka: the next offset to read in `topic`/`partition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutputPosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A window of a stream given up on for now (see [`Checkpoint::gaps`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub window: Window,
    /// Why its last try failed.
    pub reason: String,
    pub first_seen: DateTime<Utc>,
    pub tries: u32,
    pub next_try: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub stream: StreamKey,
    pub watermark: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<Window>,
    #[serde(default, with = "seen_serde")]
    pub seen: SeenSet,
    /// Windows given up on for now (their answer kept failing): the watermark went past
    /// them, and each is tried again on a slow schedule until it succeeds or leaves the
    /// API's retention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    pub output: Option<OutputPosition>,
    pub updated_at: DateTime<Utc>,
}

impl Checkpoint {
    /// A stream that has delivered nothing yet: `start` is where its backfill begins
    /// (everything before it is deliberately out of scope).
    pub fn new(stream: StreamKey, start: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            version: CHECKPOINT_VERSION,
            stream,
            watermark: start,
            done: Vec::new(),
            seen: SeenSet::default(),
            gaps: Vec::new(),
            output: None,
            updated_at: now,
        }
    }

    /// Records that `window` failed for `reason` and is given up on until `next_try`
    /// (its tries counted; first seen kept from the first failure).
    pub fn add_gap(
        &mut self,
        window: Window,
        reason: &str,
        now: DateTime<Utc>,
        next_try: DateTime<Utc>,
    ) -> &Gap {
        let at = match self.gaps.iter().position(|g| g.window == window) {
            Some(i) => {
                let g = &mut self.gaps[i];
                g.tries += 1;
                g.reason = reason.to_string();
                g.next_try = next_try;
                i
            }
            None => {
                self.gaps.push(Gap {
                    window,
                    reason: reason.to_string(),
                    first_seen: now,
                    tries: 1,
                    next_try,
                });
                self.gaps.len() - 1
            }
        };
        &self.gaps[at]
    }

    /// Forgets the gap of `window` (it was fetched); whether there was one.
    pub fn close_gap(&mut self, window: &Window) -> bool {
        let before = self.gaps.len();
        self.gaps.retain(|g| g.window != *window);
        self.gaps.len() != before
    }

    /// Gaps due for another try at `now`, oldest window first.
    pub fn due_gaps(&self, now: DateTime<Utc>) -> Vec<Window> {
        let mut due: Vec<Window> = self
            .gaps
            .iter()
            .filter(|g| g.next_try <= now)
            .map(|g| g.window)
            .collect();
        due.sort();
        due
    }

    /// Drops the gaps that ended before `oldest` (the API no longer holds them).
    pub fn drop_gaps_before(&mut self, oldest: DateTime<Utc>) -> Vec<Gap> {
        let (gone, kept) = std::mem::take(&mut self.gaps)
            .into_iter()
            .partition(|g| g.window.end <= oldest);
        self.gaps = kept;
        gone
    }

    /// Records that `w` is fully delivered, moving the watermark over every window that
    /// is now contiguous with it. A window that ends at or before the watermark changes
    /// nothing.
    pub fn complete_window(&mut self, w: Window) {
        if w.end <= self.watermark {
            return;
        }
        if w.start <= self.watermark {
            self.watermark = w.end;
        } else if !self.done.contains(&w) {
            self.done.push(w);
        }
        loop {
            let wm = self.watermark;
            let before = self.done.len();
            let mut next = wm;
            self.done.retain(|d| {
                if d.start <= wm {
                    next = next.max(d.end);
                    false
                } else {
                    true
                }
            });
            self.watermark = next;
            if self.done.len() == before {
                break;
            }
        }
        self.done.sort();
    }

    /// Whether `w` was already delivered in full.
    pub fn is_done(&self, w: &Window) -> bool {
        w.end <= self.watermark
            || self
                .done
                .iter()
                .any(|d| d.start <= w.start && w.end <= d.end)
    }

    /// A copy of everything but the seen ids (cheap whatever the volume). Lists every
    /// field, so a field added to the checkpoint must be added here too.
    pub fn without_seen(&self) -> Checkpoint {
        let Checkpoint {
            version,
            stream,
            watermark,
            done,
            seen: _,
            gaps,
            output,
            updated_at,
        } = self;
        Checkpoint {
            version: *version,
            stream: stream.clone(),
            watermark: *watermark,
            done: done.clone(),
            seen: SeenSet::default(),
            gaps: gaps.clone(),
            output: output.clone(),
            updated_at: *updated_at,
        }
    }

    /// Drops remembered ids of records older than `watermark - lookback`.
    /// The ids of a gap's hours are kept: they tell its retry what of the window was
    /// published before it failed.
    pub fn prune_seen(&mut self, lookback: Duration) {
        let cutoff = self.watermark - lookback;
        if self.gaps.is_empty() {
            self.seen.prune_before(cutoff);
        } else {
            let gaps: Vec<(i64, i64)> = self
                .gaps
                .iter()
                .map(|g| (hour_of(g.window.start), hour_of(g.window.end)))
                .collect();
            self.seen
                .prune_before_except(cutoff, |h| gaps.iter().any(|(a, b)| *a <= h && h <= *b));
        }
    }
}

mod seen_serde {
    //! `{"<unix hour>": "<base64 of 8-byte big-endian prefixes>"}`
    use super::*;
    use crate::seen::{pack, unpack};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(set: &SeenSet, s: S) -> Result<S::Ok, S::Error> {
        let out: BTreeMap<String, String> = set
            .hours()
            .iter()
            .map(|(h, ids)| (h.to_string(), B64.encode(pack(ids.keys().iter().copied()))))
            .collect();
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SeenSet, D::Error> {
        let raw: BTreeMap<String, String> = BTreeMap::deserialize(d)?;
        let mut set = SeenSet::default();
        for (h, b) in raw {
            let hour: i64 = h.parse().map_err(serde::de::Error::custom)?;
            let bytes = B64
                .decode(&b)
                .map_err(|_| serde::de::Error::custom("bad base64 in seen ids"))?;
            for k in unpack(&bytes).map_err(serde::de::Error::custom)? {
                set.insert_key(k, hour);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventId, SourceKind, TenantId};
    use chrono::TimeZone;
    use serde_json::json;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap()
    }

    fn cp() -> Checkpoint {
        Checkpoint::new(
            StreamKey::new(TenantId::new("t").unwrap(), SourceKind::ZohoMailAudit),
            day(1),
            day(1),
        )
    }

    #[test]
    fn watermark_advances_only_over_contiguous_windows() {
        let mut c = cp();
        c.complete_window(Window::new(day(2), day(3)).unwrap());
        c.complete_window(Window::new(day(1), day(2)).unwrap());
        assert_eq!(c.watermark, day(3));
        c.complete_window(Window::new(day(4), day(5)).unwrap());
        c.complete_window(Window::new(day(5), day(6)).unwrap());
        assert_eq!(c.watermark, day(3));
        assert_eq!(c.done.len(), 2);
        assert!(c.is_done(&Window::new(day(4), day(5)).unwrap()));
        assert!(!c.is_done(&Window::new(day(3), day(4)).unwrap()));
        c.complete_window(Window::new(day(3), day(4)).unwrap());
        assert_eq!(c.watermark, day(6));
        assert!(c.done.is_empty());
    }

    #[test]
    fn round_trips_through_json_with_compact_ids() {
        let mut c = cp();
        c.complete_window(Window::new(day(1), day(2)).unwrap());
        let k = c.stream.clone();
        for i in 0..100u32 {
            let id = EventId::compute(&k, &json!({ "i": i }), 0);
            c.seen
                .insert(&id, day(1) + Duration::minutes(i as i64 * 14));
        }
        c.output = Some(OutputPosition {
            topic: "audit.x".into(),
            partition: 3,
            offset: 42,
        });
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            text.len() < 100 * 16,
            "checkpoint is compact: {} bytes",
            text.len()
        );
        let back: Checkpoint = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
        let first = EventId::compute(&k, &json!({ "i": 0 }), 0);
        assert!(back.seen.contains(&first));
        let mut pruned = back;
        pruned.prune_seen(Duration::hours(6));
        assert!(!pruned.seen.contains(&first));
        assert!(!pruned.seen.is_empty() && pruned.seen.len() < 100);
    }
}
