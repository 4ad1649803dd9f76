//! Gaps: windows a stream gave up on for now. A window whose answer keeps failing
//! (a page that never parses: its body is dead-lettered) would otherwise hold the
//! stream's watermark back for good, so live polling would never start and the tenant's
//! new records would stop. Instead the window is recorded as a gap in the checkpoint
//! (time range, reason, first seen, tries), the watermark goes past it, and the gap is
//! tried again every `gap_retry` (a stream setting, default an hour) until it is
//! fetched or leaves the API's retention.
//! The seen ids of a gap's hours are kept meanwhile (`Checkpoint::prune_seen`), so a
//! retry publishes only what its failed try had not. A retry that fails again sends
//! nothing more to the dead-letter topic: the first failure's body is there.

use std::rc::Rc;

use trawl_model::Window;

use super::run::StreamLoop;
use super::window::Scanned;
use super::Exit;
use crate::events::{GapClosed, GapRecorded};
use crate::limiter::Priority;

impl StreamLoop {
    /// Takes a scan's end: a window given up on becomes (or stays) a gap; a gap's window
    /// fetched closes it. Either way the window counts as done for the watermark, and
    /// the checkpoint (with its gaps) is stored at once.
    pub(super) async fn settle(&self, window: Window, scanned: Scanned) -> Result<(), Exit> {
        match scanned {
            Scanned::Complete => {
                let closed = self.checkpoint.borrow_mut().close_gap(&window);
                if closed {
                    let open = self.checkpoint.borrow().gaps.len();
                    self.deps.probe.emit(GapClosed {
                        window,
                        lost: false,
                        open,
                    });
                    self.store_now.set(true);
                    self.publish_page(Vec::new(), Some(window)).await?;
                }
            }
            Scanned::GaveUp(reason) => {
                let now = self.deps.clock.now();
                let (gap, open) = {
                    let mut cp = self.checkpoint.borrow_mut();
                    let gap = cp
                        .add_gap(window, &reason, now, now + self.deps.cadence.gap_retry)
                        .clone();
                    (gap, cp.gaps.len())
                };
                self.deps.probe.emit(GapRecorded { gap: &gap, open });
                self.store_now.set(true);
                self.publish_page(Vec::new(), Some(window)).await?;
            }
        }
        Ok(())
    }

    /// Forgets gaps the API no longer holds (their records are lost: said once).
    fn drop_lost_gaps(&self) {
        let now = self.deps.clock.now();
        let lost = self
            .checkpoint
            .borrow_mut()
            .drop_gaps_before(now - self.deps.source.retention());
        for g in lost {
            let open = self.checkpoint.borrow().gaps.len();
            self.deps.probe.emit(GapClosed {
                window: g.window,
                lost: true,
                open,
            });
        }
    }
}

/// Tries every gap that is due, one at a time, at backfill priority.
pub(super) async fn retry_gaps(stream: &Rc<StreamLoop>) -> Result<(), Exit> {
    stream.drop_lost_gaps();
    let due = stream.checkpoint.borrow().due_gaps(stream.deps.clock.now());
    for window in due {
        stream.retrying_gap.set(true);
        let scanned = Box::pin(stream.scan_window(window, Priority::Backfill)).await;
        stream.retrying_gap.set(false);
        stream.settle(window, scanned?).await?;
    }
    Ok(())
}
