//! Sending a batch of records to one partition and waiting for every acknowledgement,
//! with a bound on how many are in flight.
//!
//! librdkafka's own queue is bounded (`queue.buffering.max.*`); when it is full, the
//! batch waits for its oldest outstanding acknowledgement instead of growing. While the
//! broker is down, records wait in that queue until `message.timeout.ms`, then fail with
//! a retryable error.

use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::error::KafkaError as RdError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureRecord};

use rdkafka::types::RDKafkaErrorCode;

use crate::client::Producer;

/// Most acknowledgements one batch waits for at once.
const MAX_PENDING: usize = 1024;

/// One record of a batch.
pub(crate) struct Outgoing {
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
}

/// Sends every record to `topic`/`partition` with `key`, in order, and waits for all of
/// them. Returns the offset of the last one (None for an empty batch), or the first
/// error after every record already queued was settled (delivered or failed).
pub(crate) async fn send_all(
    producer: &Producer,
    topic: &str,
    partition: i32,
    key: &[u8],
    records: impl IntoIterator<Item = Outgoing>,
) -> Result<Option<i64>, RdError> {
    let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut last: Option<i64> = None;
    let mut first_err: Option<RdError> = None;
    'records: for rec in records {
        if pending.len() >= MAX_PENDING {
            settle(pending.pop_front(), &mut last, &mut first_err).await;
        }
        if first_err.is_some() {
            break;
        }
        let mut record = FutureRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(&rec.payload)
            .headers(rec.headers);
        loop {
            match producer.send_result(record) {
                Ok(f) => {
                    pending.push_back(f);
                    break;
                }
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    if pending.is_empty() {
                        // Other batches fill the queue: wait for librdkafka to drain it.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    } else {
                        settle(pending.pop_front(), &mut last, &mut first_err).await;
                        if first_err.is_some() {
                            break 'records;
                        }
                    }
                }
                Err((e, _)) => {
                    first_err = Some(e);
                    break 'records;
                }
            }
        }
    }
    while let Some(f) = pending.pop_front() {
        settle(Some(f), &mut last, &mut first_err).await;
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(last),
    }
}

async fn settle(f: Option<DeliveryFuture>, last: &mut Option<i64>, err: &mut Option<RdError>) {
    let Some(f) = f else { return };
    match f.await {
        Ok(Ok(d)) => *last = Some(last.map_or(d.offset, |l| l.max(d.offset))),
        Ok(Err((e, _))) => {
            err.get_or_insert(e);
        }
        Err(_canceled) => {
            err.get_or_insert(RdError::Canceled);
        }
    }
}
