//! What trawl's Kafka records look like: event records with CloudEvents binary-mode
//! headers, checkpoint records keyed `tenant/source`, dead letters.
//!
//! Producers build records here and readers parse them here, so the two can't drift.

use chrono::{DateTime, SecondsFormat, Utc};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use trawl_model::{Event, EventId, StreamKey, EVENT_SCHEMA};

pub const HEADER_ID: &str = "ce_id";
pub const HEADER_SOURCE: &str = "ce_source";
pub const HEADER_TYPE: &str = "ce_type";
pub const HEADER_TIME: &str = "ce_time";
pub const HEADER_SPECVERSION: &str = "ce_specversion";
pub const HEADER_CONTENT_TYPE: &str = "content-type";
/// Dead-letter headers.
pub const HEADER_DL_TENANT: &str = "trawl_tenant";
pub const HEADER_DL_SOURCE: &str = "trawl_source";
pub const HEADER_DL_REASON: &str = "trawl_reason";
pub const HEADER_DL_TIME: &str = "trawl_dead_lettered_at";

/// The CloudEvents `source` of a stream's events: `trawl/{tenant}/{source}`.
pub fn ce_source(stream: &StreamKey) -> String {
    format!("trawl/{}/{}", stream.tenant, stream.source)
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The CloudEvents binary-mode headers of an event.
pub(crate) fn event_headers(source: &str, e: &Event) -> OwnedHeaders {
    let mut id = [0u8; 32];
    hex::encode_to_slice(e.id.as_bytes(), &mut id).expect("32 hex digits for 16 bytes");
    let time = rfc3339(e.time);
    let pairs: [(&str, &[u8]); 6] = [
        (HEADER_ID, &id),
        (HEADER_SOURCE, source.as_bytes()),
        (HEADER_TYPE, EVENT_SCHEMA.as_bytes()),
        (HEADER_TIME, time.as_bytes()),
        (HEADER_SPECVERSION, b"1.0"),
        (HEADER_CONTENT_TYPE, b"application/json"),
    ];
    pairs
        .iter()
        .fold(OwnedHeaders::new_with_capacity(pairs.len()), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(*v),
            })
        })
}

/// One stream's events as Kafka records ready to send: JSON payloads and CloudEvents
/// headers, plus each event's id and time (what a sink or a test may need to know of
/// them without parsing). Built where the events were parsed (a fetcher's thread), so
/// the one publisher that owns the producer only hands finished bytes to librdkafka.
pub struct EventBatch {
    pub(crate) records: Vec<crate::send::Outgoing>,
    ids: Vec<(EventId, DateTime<Utc>)>,
}

impl EventBatch {
    /// Serializes `events` of `stream`, in order.
    pub fn encode(stream: &StreamKey, events: &[Event]) -> Self {
        let source = ce_source(stream);
        Self {
            records: events
                .iter()
                .map(|e| crate::send::Outgoing {
                    payload: e.to_json(),
                    headers: event_headers(&source, e),
                })
                .collect(),
            ids: events.iter().map(|e| (e.id, e.time)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The events' ids and times, in order.
    pub fn ids(&self) -> &[(EventId, DateTime<Utc>)] {
        &self.ids
    }

    /// Takes out the records Kafka would refuse as too large: those whose payload,
    /// headers and a key of `key_bytes` (plus [`RECORD_OVERHEAD`]) exceed `max_bytes`,
    /// the producer's `message.max.bytes`. Returns their indexes in the batch as it was,
    /// ascending, with their sizes. Checked before sending, so one oversized event is
    /// dead-lettered instead of failing (in transactional mode: aborting) every write
    /// it travels with, again and again.
    pub fn take_oversized(&mut self, key_bytes: usize, max_bytes: usize) -> Vec<(usize, usize)> {
        let size = |r: &crate::send::Outgoing| {
            let headers: usize = (0..r.headers.count())
                .map(|i| {
                    let h = r.headers.get(i);
                    h.key.len() + h.value.map_or(0, <[u8]>::len)
                })
                .sum();
            r.payload.len() + headers + key_bytes + RECORD_OVERHEAD
        };
        let oversized: Vec<(usize, usize)> = self
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| (i, size(r)))
            .filter(|(_, n)| *n > max_bytes)
            .collect();
        for (i, _) in oversized.iter().rev() {
            self.records.remove(*i);
            self.ids.remove(*i);
        }
        oversized
    }
}

/// Bytes a record takes beyond its key, value and headers in a record batch (lengths,
/// offsets, timestamps, attributes), counted generously.
pub const RECORD_OVERHEAD: usize = 128;

impl std::fmt::Debug for EventBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventBatch({} records)", self.records.len())
    }
}

/// The headers of a dead letter.
pub(crate) fn dead_letter_headers(
    stream: &StreamKey,
    reason: &str,
    now: DateTime<Utc>,
) -> OwnedHeaders {
    let time = rfc3339(now);
    let pairs: [(&str, &str); 4] = [
        (HEADER_DL_TENANT, stream.tenant.as_str()),
        (HEADER_DL_SOURCE, stream.source.as_str()),
        (HEADER_DL_REASON, reason),
        (HEADER_DL_TIME, &time),
    ];
    pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
        h.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        })
    })
}

/// The value of header `name` as text, if present and UTF-8.
pub fn header<'a, H: Headers>(headers: Option<&'a H>, name: &str) -> Option<&'a str> {
    let h = headers?;
    h.iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// The key of a stream's checkpoint record: `tenant/source`.
pub fn checkpoint_key(stream: &StreamKey) -> String {
    stream.to_string()
}
