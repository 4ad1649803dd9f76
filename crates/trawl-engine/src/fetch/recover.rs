//! Recovery of a stream when its fetcher starts: the stored checkpoint (or a new one,
//! stored at the partition's end before anything is published), then a read-back of the
//! stream's partition from the checkpoint's position, adding every id published after
//! the checkpoint to the seen set. The read-back is skipped when nothing can follow the
//! position, so a fleet start does not open a Kafka reader per stream.

use trawl_model::Checkpoint;

use super::plan;
use super::run::{dur, Exit, FetcherDeps};
use crate::actors::publisher::{LoadCheckpoint, PartitionEnd, Publish, StreamStart};

/// The stored checkpoint (or a new one, stored first) plus what the read-back finds.
pub(super) async fn recover(deps: &FetcherDeps) -> Result<Checkpoint, Exit> {
    let kafka_err = |what: &str, e: &dyn std::fmt::Display| Exit::Transient(format!("{what}: {e}"));
    let stored = deps
        .publisher
        .send(LoadCheckpoint(deps.key.clone()))
        .await
        .map_err(|e| kafka_err("publisher unavailable", &e))?;
    let (mut cp, fresh) = match stored {
        Some(cp) => (cp, false),
        None => {
            let now = deps.clock.now();
            let start =
                plan::backfill_start(now, dur(deps.settings.backfill), deps.source.retention());
            let mut cp = Checkpoint::new(deps.key.clone(), start, now);
            let pos = deps
                .publisher
                .send(StreamStart(deps.key.clone()))
                .await
                .map_err(|e| kafka_err("publisher unavailable", &e))?
                .map_err(|e| kafka_err("finding the stream's partition", &e))?;
            cp.output = Some(pos);
            let published = deps
                .publisher
                .send(Publish {
                    stream: deps.key.clone(),
                    events: None,
                    checkpoint: Some(cp),
                })
                .await
                .map_err(|e| kafka_err("publisher unavailable", &e))?
                .map_err(|e| kafka_err("storing the first checkpoint", &e))?;
            tracing::info!(tenant = %deps.key.tenant, source = %deps.key.source, from = %start, "new stream: backfill starts");
            (published.checkpoint.expect("a checkpoint was sent"), true)
        }
    };
    // Anything published after the checkpoint's position? A checkpoint just created at
    // the partition's end, or a position equal to the end, cannot have any: skip the
    // read-back (a reader per stream would cost a librdkafka client and its threads).
    let behind = match (&cp.output, fresh) {
        (Some(pos), false) => {
            let end = deps
                .publisher
                .send(PartitionEnd(pos.clone()))
                .await
                .map_err(|e| kafka_err("publisher unavailable", &e))?
                .map_err(|e| kafka_err("finding the end of the stream's partition", &e))?;
            (end > pos.offset).then(|| pos.clone())
        }
        _ => None,
    };
    if let Some(pos) = behind {
        let found = trawl_kafka::read_back(&deps.kafka, &pos, &deps.key)
            .await
            .map_err(|e| kafka_err("reading back published events", &e))?;
        if !found.is_empty() {
            tracing::info!(tenant = %deps.key.tenant, source = %deps.key.source, events = found.len(),
                "read back events published after the last checkpoint; they will not be published again");
        }
        for (id, time) in found {
            cp.seen.insert(&id, time);
        }
    }
    Ok(cp)
}
