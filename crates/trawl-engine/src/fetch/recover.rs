//! Recovery of a stream when its fetcher starts: the stored checkpoint, then a read-back
//! of the stream's partition from the checkpoint's position, adding every id published
//! after the checkpoint to the seen set. Without a checkpoint (a new stream, or a lost
//! one) the partition is read back from its beginning, so a lost checkpoint does not
//! re-publish the backfill. The read-back is skipped when nothing can follow the
//! position, so a fleet start does not open a Kafka reader per stream.

use chrono::{DateTime, Utc};
use trawl_kafka::{EventBatch, StreamWrite};
use trawl_model::{Checkpoint, OutputPosition};

use super::{plan, Exit, FetcherDeps};
use crate::events::{PublishedWithoutCheckpoint, Recovered};

/// Where a stream starts: its checkpoint, and the newest record time of what a stream
/// without a checkpoint found already published (see [`recover`]).
pub(super) struct Recovery {
    pub checkpoint: Checkpoint,
    /// Set when the stream had no checkpoint but its partition held events of it: no
    /// checkpoint is stored until the watermark passes this time (see
    /// `StreamLoop::replaying`).
    pub replay_until: Option<DateTime<Utc>>,
}

/// The stored checkpoint plus what the read-back finds; or, with none stored, a new one
/// after reading the partition back from its beginning.
pub(super) async fn recover(deps: &FetcherDeps) -> Result<Recovery, Exit> {
    let key = deps.probe.key();
    // A write of this stream's previous fetcher (stopped by a stall restart or a
    // tenant change while it waited) lands first: the read-back must see it.
    deps.publisher.settled(key).await.map_err(Exit::publishing(
        "waiting for the stream's writes in flight",
    ))?;
    let sink = deps.publisher.sink();
    let stored = sink
        .checkpoint(key)
        .await
        .map_err(Exit::kafka("loading the stored checkpoint"))?;
    let Some(mut checkpoint) = stored else {
        return start_without_checkpoint(deps).await;
    };
    // Anything published after the checkpoint's position? A position equal to the
    // partition's end cannot have any: skip the read-back (a reader per stream would
    // cost a librdkafka client and its threads).
    let mut found = 0;
    if let Some(position) = checkpoint.output.clone() {
        let end = sink
            .partition_end(&position)
            .await
            .map_err(Exit::kafka("finding the end of the stream's partition"))?;
        if end > position.offset {
            let published = sink
                .read_back(&position, key)
                .await
                .map_err(Exit::kafka("reading back published events"))?;
            found = published.len();
            for (id, time) in published {
                checkpoint.seen.insert(&id, time);
            }
        }
    }
    deps.probe.emit(Recovered {
        stored: Some(found),
        from: checkpoint.watermark,
    });
    Ok(Recovery {
        checkpoint,
        replay_until: None,
    })
}

/// A stream without a checkpoint: new, or its checkpoint was lost (the store switched,
/// the directory or the topic gone). Its partition is read back from the beginning of
/// what Kafka retains before anything is published, and every id found joins the seen
/// set. With nothing found, the new checkpoint is stored at the partition's end at once.
/// With events found, none is stored until the backfill has passed the newest of them:
/// the seen set would carry every one of their ids into each checkpoint (far more than
/// a checkpoint record holds), and until then a restart without a checkpoint does the
/// same read-back again.
async fn start_without_checkpoint(deps: &FetcherDeps) -> Result<Recovery, Exit> {
    let key = deps.probe.key();
    let sink = deps.publisher.sink();
    let now = deps.clock.now();
    let start = plan::backfill_start(now, deps.cadence.backfill, deps.source.retention());
    let mut checkpoint = Checkpoint::new(key.clone(), start, now);
    let end = sink
        .stream_start(key)
        .await
        .map_err(Exit::kafka("finding the stream's partition"))?;
    let mut published = Vec::new();
    if end.offset > 0 {
        let beginning = OutputPosition {
            offset: 0,
            ..end.clone()
        };
        published = sink
            .read_back(&beginning, key)
            .await
            .map_err(Exit::kafka("reading back the stream's partition"))?;
    }
    checkpoint.output = Some(end);
    let replay_until = published.iter().map(|(_, t)| *t).max();
    for (id, time) in &published {
        checkpoint.seen.insert(id, *time);
    }
    if replay_until.is_none() {
        let first = StreamWrite {
            stream: key.clone(),
            events: EventBatch::encode(key, &[]),
            checkpoint: Some(checkpoint.clone()),
        };
        deps.publisher
            .publish(first)
            .await
            .map_err(Exit::publishing("storing the first checkpoint"))?;
    }
    deps.probe.emit(Recovered {
        stored: None,
        from: start,
    });
    if replay_until.is_some() {
        deps.probe.emit(PublishedWithoutCheckpoint {
            events: published.len(),
            newest: replay_until,
        });
    }
    Ok(Recovery {
        checkpoint,
        replay_until,
    })
}
