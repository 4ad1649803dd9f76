//! Reading a stream's own partition back after a restart, to learn what it already
//! published since its checkpoint.
//!
//! The checkpoint is written only after its events are acknowledged, so after a crash
//! the log may hold events the checkpoint doesn't know about. Reading the partition from
//! the checkpoint's position to the current end (committed records only) finds them;
//! the stream then skips those ids. Other tenants may share the partition, so records
//! are filtered by key and by the CloudEvents source header.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use trawl_model::{EventId, OutputPosition, StreamKey};

use crate::client::{create_reader, watermarks, Reader};
use crate::config::KafkaSettings;
use crate::error::{classify, KafkaError};
use crate::records::{ce_source, header, HEADER_ID, HEADER_SOURCE, HEADER_TIME};

/// How long a read may go without any message or end-of-partition before it fails with
/// a retryable error (broker down).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The ids and times of `stream`'s events in its partition from `position` to the
/// current end, oldest first, as a `read_committed` consumer sees them.
pub async fn read_back(
    settings: &KafkaSettings,
    position: &OutputPosition,
    stream: &StreamKey,
) -> Result<Vec<(EventId, DateTime<Utc>)>, KafkaError> {
    let settings = settings.clone();
    let position = position.clone();
    let stream = stream.clone();
    tokio::task::spawn_blocking(move || {
        let (consumer, heard) = create_reader(&settings)?;
        read_back_blocking(&consumer, &position, &stream).map_err(|e| heard.explain(e))
    })
    .await
    .map_err(|e| KafkaError::retryable("read back", e.to_string()))?
}

fn read_back_blocking(
    consumer: &Reader,
    position: &OutputPosition,
    stream: &StreamKey,
) -> Result<Vec<(EventId, DateTime<Utc>)>, KafkaError> {
    let key = stream.tenant.as_str().as_bytes();
    let source = ce_source(stream);
    let mut out = Vec::new();
    // From the position, or from the oldest record Kafka still keeps when retention
    // deleted what lies before it (`read_to_end`; a stream without a checkpoint reads
    // from 0); nothing to read when the position is the partition's end.
    let start = [(position.partition, Offset::Offset(position.offset))];
    read_to_end(consumer, &position.topic, &start, |m| {
        if m.key() != Some(key) || header(m.headers(), HEADER_SOURCE) != Some(source.as_str()) {
            return;
        }
        let id = header(m.headers(), HEADER_ID).and_then(EventId::parse);
        let time = header(m.headers(), HEADER_TIME)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        match (id, time) {
            (Some(id), Some(time)) => out.push((id, time)),
            _ => tracing::warn!(
                topic = %position.topic, partition = position.partition, offset = m.offset(),
                stream = %stream, "record of this stream without a valid ce_id/ce_time header"
            ),
        }
    })?;
    Ok(out)
}

/// How long a read waits for another producer's open transaction that holds a
/// partition's stable offset below its end: the broker's longest transaction timeout
/// (`transaction.max.timeout.ms`, 15 minutes by default) aborts it by then.
pub(crate) const OPEN_TRANSACTION_WAIT: Duration = Duration::from_secs(15 * 60 + 30);

/// The reader's position in `topic`/`partition` (the offset of the next record it
/// would deliver; librdkafka moves it past control and aborted records and to the
/// end-of-partition offset), if known.
fn position(consumer: &Reader, topic: &str, partition: i32) -> Option<i64> {
    let tpl = consumer.records.position().ok()?;
    match tpl.find_partition(topic, partition)?.offset() {
        Offset::Offset(n) => Some(n),
        _ => None,
    }
}

/// How long a read goes on past the end a partition had when the read began, for its
/// end-of-partition event (see [`read_to_end`]).
const PAST_END: Duration = Duration::from_secs(1);

/// Reads the given partitions of `topic` from their start offsets to their ends,
/// calling `f` on every record. Blocking.
///
/// A partition is done at its end-of-partition event, or [`PAST_END`] after the first
/// record at or past the end it had when the read began (its high watermark then).
/// Waiting for the end-of-partition event alone never finishes on a partition that
/// others keep writing to: the broker answers each fetch with the newest records
/// before the fetch's wait runs out, so the reader chased the end for as long as the
/// writes went on (a cluster member's handover waited 50-140 s on one busy partition).
/// Stopping exactly at the measured end lost records on `tansu`: its SIGKILL recovery
/// tests then re-published whole pages of events, as if its high watermark lagged the
/// records already written. The records of a stream being read back were all written
/// before the read began (its writer is stopped or fenced), so they come before the
/// end-of-partition event or within moments of that end. With
/// `read_committed`, records of open transactions before the end are waited for;
/// control and aborted records are not delivered, so a partition ending in them is
/// done at its end-of-partition event.
///
/// A `read_committed` reader's end-of-partition comes at the last stable offset: while
/// another producer holds a transaction open on the partition (another cluster member,
/// any other transactional writer), records committed after that transaction began lie
/// beyond it, however long ago they were committed. So an end-of-partition event only
/// ends a partition when the reader's position has reached the end measured when the
/// read began; before that the partition is held, and the read waits (up to
/// [`OPEN_TRANSACTION_WAIT`]) for the transaction to end and the stable offset to move.
pub(crate) fn read_to_end(
    consumer: &Reader,
    topic: &str,
    starts: &[(i32, Offset)],
    mut f: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut froms: HashMap<i32, i64> = HashMap::new();
    for (p, o) in starts {
        // The end as a `read_uncommitted` client sees it (the high watermark), not the
        // last stable offset a `read_committed` one would be told.
        let (low, high) = watermarks(consumer.ends.client(), topic, *p, IDLE_TIMEOUT)
            .map_err(|e| classify("read", &e, ""))?;
        // Offsets before the oldest record Kafka keeps (deleted by retention) read
        // from that record.
        let from = match o {
            Offset::Offset(n) => (*n).max(low),
            _ => low,
        };
        if from >= high {
            continue;
        }
        ends.insert(*p, high);
        froms.insert(*p, from);
        tpl.add_partition_offset(topic, *p, Offset::Offset(from))
            .map_err(|e| classify("read", &e, ""))?;
    }
    if ends.is_empty() {
        return Ok(());
    }
    consumer
        .records
        .assign(&tpl)
        .map_err(|e| classify("read", &e, ""))?;
    let mut last_progress = Instant::now();
    let mut last_error: Option<KafkaError> = None;
    // When each partition's reader first met a record at or past its measured end.
    let mut reached: HashMap<i32, Instant> = HashMap::new();
    // Partitions whose end-of-partition came before their measured end (see above).
    let mut held: HashMap<i32, Instant> = HashMap::new();
    while !ends.is_empty() {
        match consumer.records.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                let p = m.partition();
                if let Some(end) = ends.get(&p) {
                    f(&m);
                    if m.offset() + 1 >= *end {
                        reached.entry(p).or_insert_with(Instant::now);
                    }
                }
            }
            Some(Err(RdError::PartitionEOF(p))) => {
                last_progress = Instant::now();
                // No position yet: nothing was delivered, not even a transaction
                // marker (librdkafka moves the position past those): still at the start.
                let at = position(consumer, topic, p).or(froms.get(&p).copied());
                match (ends.get(&p), at) {
                    (Some(end), Some(at)) if at < *end => {
                        if held.insert(p, Instant::now()).is_none() {
                            tracing::info!(
                                topic,
                                partition = p,
                                at,
                                end,
                                "reading back: waiting for another producer's open \
                                 transaction to end before the partition's end"
                            );
                        }
                    }
                    _ => {
                        ends.remove(&p);
                        held.remove(&p);
                    }
                }
            }
            Some(Err(e)) => {
                let k = classify("read", &e, "");
                if !k.is_retryable() {
                    return Err(k);
                }
                last_error = Some(k);
            }
            None => {}
        }
        ends.retain(|p, _| reached.get(p).is_none_or(|t| t.elapsed() < PAST_END));
        held.retain(|p, _| ends.contains_key(p));
        let idle_limit = if held.is_empty() {
            IDLE_TIMEOUT
        } else {
            OPEN_TRANSACTION_WAIT
        };
        if last_progress.elapsed() > idle_limit {
            return Err(last_error.unwrap_or_else(|| {
                KafkaError::retryable(
                    "read",
                    format!("no progress reading {topic} for {IDLE_TIMEOUT:?}"),
                )
            }));
        }
    }
    Ok(())
}
