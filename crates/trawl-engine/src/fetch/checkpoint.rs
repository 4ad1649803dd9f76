//! Publishing what a page found, and keeping the stream's checkpoint.
//!
//! A page's records are deduped against the seen set; what is new is encoded here (on
//! the fetcher's thread, not the publisher's) and written with, when it is time, the
//! checkpoint that covers it. The checkpoint is stored when a window completes and at
//! most every [`SAVE_EVERY`] while pages flow; a window that found nothing new moves the
//! watermark in memory and is stored only now and then ([`IDLE_SAVE_EVERY`]), at once
//! when the watermark leaps. The read-back after a restart covers whatever was not
//! stored. The fetcher's checkpoint advances only once Kafka acknowledged the write.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use trawl_kafka::{EventBatch, Published, StreamWrite};
use trawl_model::{Checkpoint, Event, EventId, Window};

use super::run::StreamLoop;
use super::Exit;
use crate::events::{
    CheckpointStored, DeadLetterFailed, DuplicatesSkipped, EventTooLarge, EventsPublished,
    WatermarkReported, WindowCompleted,
};

/// The longest a stream goes without storing its checkpoint while pages flow.
pub const SAVE_EVERY: StdDuration = StdDuration::from_secs(5);
/// How often a stream whose polls find nothing new stores its moved watermark. After a
/// restart the first live window starts this much earlier: still one request, and the
/// stored seen ids drop what it finds again. (Why not every poll: benches/RESULTS.md.)
pub const IDLE_SAVE_EVERY: StdDuration = StdDuration::from_secs(600);

impl StreamLoop {
    pub(super) fn report_watermark(&self) {
        let watermark = self.checkpoint.borrow().watermark;
        let now = self.deps.clock.now();
        self.deps.probe.emit(WatermarkReported { watermark, now });
    }

    /// Dedupes a page against the seen set, publishes what is new and, when the window
    /// is complete or it is time, stores the checkpoint. One at a time per stream.
    pub(super) async fn publish_page(
        &self,
        events: Vec<Event>,
        completed: Option<Window>,
    ) -> Result<(), Exit> {
        let _one_at_a_time = self.publishing.lock().await;
        let probe = &self.deps.probe;
        let total = events.len();
        let fresh: Vec<Event> = {
            let cp = self.checkpoint.borrow();
            events
                .into_iter()
                .filter(|e| !cp.seen.contains(&e.id))
                .collect()
        };
        if fresh.len() < total {
            let count = (total - fresh.len()) as u64;
            probe.emit(DuplicatesSkipped { count });
        }
        let mut events = EventBatch::encode(self.key(), &fresh);
        let max = self.deps.publisher.sink().max_message_bytes();
        let oversized = events.take_oversized(self.key().tenant.as_str().len(), max);
        for (i, bytes) in oversized {
            self.refuse_oversized(&fresh[i], bytes, max).await;
        }
        drop(fresh);
        let Some(store) = self.time_to_store(events.is_empty(), completed) else {
            return Ok(());
        };
        let now = self.deps.clock.now();
        let ids: Vec<(EventId, DateTime<Utc>)> = events.ids().to_vec();
        let checkpoint = store
            .then(|| {
                let mut draft = self.checkpoint.borrow().clone();
                self.advance(&mut draft, &ids, completed, now);
                draft
            })
            .filter(|draft| !self.replaying(draft.watermark));
        let published = if events.is_empty() && checkpoint.is_none() {
            Published {
                position: None,
                checkpoint_stored: false,
            }
        } else {
            let write = StreamWrite {
                stream: self.key().clone(),
                events,
                checkpoint,
            };
            self.deps
                .publisher
                .publish(write)
                .await
                .map_err(Exit::publishing("publishing to Kafka"))?
        };
        {
            let mut cp = self.checkpoint.borrow_mut();
            self.advance(&mut cp, &ids, completed, now);
            if published.position.is_some() {
                cp.output = published.position;
            }
            if published.checkpoint_stored {
                self.saved_watermark.set(cp.watermark);
                self.last_save.set(Instant::now());
            }
        }
        if published.checkpoint_stored {
            probe.emit(CheckpointStored);
        }
        if !ids.is_empty() {
            probe.emit(EventsPublished {
                count: ids.len() as u64,
            });
        }
        if completed.is_some() {
            probe.emit(WindowCompleted { at: now });
        }
        self.report_watermark();
        Ok(())
    }

    /// An event larger than Kafka takes (`message.max.bytes`): its raw record goes to
    /// the dead-letter topic with the reason (cut to fit: the dead letter is a record
    /// too), its id joins the seen set so re-reads skip it, and the rest of the page is
    /// published. Retrying could never succeed, and in a transaction it would abort
    /// every other stream's events with it. If the dead letter fails, the event is
    /// left out of this write but not remembered: a later read tries again.
    async fn refuse_oversized(&self, event: &Event, bytes: usize, max: usize) {
        let raw = event.raw.as_str().as_bytes();
        let room = max / 2;
        let body = &raw[..raw.len().min(room)];
        let cut = if body.len() < raw.len() {
            format!(
                "; the raw record of {} bytes is cut to its first {}",
                raw.len(),
                body.len()
            )
        } else {
            String::new()
        };
        let reason = format!(
            "event {} of {bytes} bytes is larger than the producer's message.max.bytes ({max}): \
             not published{cut}",
            event.id
        );
        let sink = self.deps.publisher.sink();
        match sink.dead_letter(self.key(), &reason, body).await {
            Ok(()) => {
                self.checkpoint
                    .borrow_mut()
                    .seen
                    .insert(&event.id, event.time);
                self.deps.probe.emit(EventTooLarge { reason: &reason });
            }
            Err(error) => self.deps.probe.emit(DeadLetterFailed { error: &error }),
        }
    }

    /// Whether checkpoints are still held back (the stream had none, and the read-back
    /// found events of it newer than `watermark`); ends once the watermark passes them.
    fn replaying(&self, watermark: DateTime<Utc>) -> bool {
        match self.replay_until.get() {
            Some(until) if watermark <= until => true,
            Some(_) => {
                self.replay_until.set(None);
                false
            }
            None => false,
        }
    }

    /// `None`: nothing to write; else whether to store the checkpoint with the events.
    fn time_to_store(&self, nothing_new: bool, completed: Option<Window>) -> Option<bool> {
        let since = self.last_save.get().elapsed();
        if self.store_now.replace(false) {
            return Some(true);
        }
        Some(match (nothing_new, completed) {
            (true, None) => return None,
            (false, None) => since >= SAVE_EVERY,
            (false, Some(_)) => true,
            // A window that found nothing new: the watermark moves in memory at once.
            // It is stored now and then while it creeps (idle live polls: a restart in
            // between only re-reads those minutes), at once when it leaps (a backfill
            // window whose records were all read back after a crash).
            (true, Some(w)) => {
                let unsaved = (w.end - self.saved_watermark.get()).to_std();
                since >= IDLE_SAVE_EVERY || unsaved.unwrap_or_default() >= IDLE_SAVE_EVERY
            }
        })
    }

    /// `cp` after `ids` were acknowledged (and `completed` delivered completely).
    fn advance(
        &self,
        cp: &mut Checkpoint,
        ids: &[(EventId, DateTime<Utc>)],
        completed: Option<Window>,
        now: DateTime<Utc>,
    ) {
        for (id, time) in ids {
            cp.seen.insert(id, *time);
        }
        if let Some(w) = completed {
            cp.complete_window(w);
            cp.prune_seen(self.deps.cadence.lookback);
        }
        cp.updated_at = now;
    }
}
