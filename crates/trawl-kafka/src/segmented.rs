//! What both checkpoint stores (topic, files) and the transactional sink share to keep
//! a checkpoint in records of bounded size (`trawl_model::checkpoint_records`): which
//! segments each stream has on the store, planning a save against them, and putting a
//! stream's checkpoint back together from its main record and its segments at load.

use std::collections::HashMap;
use std::sync::Mutex;

use trawl_model::checkpoint_records::{
    assemble, decode_segment, parse_segment_key, Bounds, CheckpointRecords, FoundSegments,
    SeenLayout,
};
use trawl_model::{Checkpoint, StreamKey};

use crate::error::KafkaError;
use crate::records::checkpoint_key;

/// Per stream, the segments its store holds (as loaded, then as written).
#[derive(Debug, Default)]
pub(crate) struct Layouts(Mutex<HashMap<StreamKey, SeenLayout>>);

impl Layouts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamKey, SeenLayout>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn replace(&self, all: HashMap<StreamKey, SeenLayout>) {
        *self.lock() = all;
    }

    /// The records that store `cp` now. A checkpoint that cannot fit is a permanent
    /// error that names the stream, the size and the bound.
    pub fn plan(&self, cp: &Checkpoint) -> Result<CheckpointRecords, KafkaError> {
        let prev = self.lock().get(&cp.stream).cloned().unwrap_or_default();
        CheckpointRecords::plan(cp, &prev, Bounds::default())
            .map_err(|e| KafkaError::permanent("save checkpoint", e.to_string()))
    }

    /// Records how a save of `plan` for `stream` ended: written, or unknown.
    pub fn settle(&self, stream: &StreamKey, plan: &CheckpointRecords, written: bool) {
        let mut all = self.lock();
        let next = if written {
            plan.written()
        } else {
            plan.unknown(all.get(stream).unwrap_or(&SeenLayout::default()))
        };
        all.insert(stream.clone(), next);
    }
}

/// Every stream's checkpoint, and the segments its store holds.
pub(crate) type Assembled = (
    HashMap<StreamKey, Checkpoint>,
    HashMap<StreamKey, SeenLayout>,
);

/// Puts checkpoints back together from the newest value of every key of a store
/// (main records `tenant/source`, segments `tenant/source/seen/...`).
pub(crate) fn assemble_all(
    latest: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> Result<Assembled, KafkaError> {
    let mut mains = Vec::new();
    let mut segments: HashMap<String, FoundSegments> = HashMap::new();
    for (key, value) in latest {
        match parse_segment_key(&key) {
            Some((stream, hour, leaf)) => {
                let (_, ids) =
                    decode_segment(&value).map_err(|reason| KafkaError::CorruptCheckpoint {
                        key: key.clone(),
                        reason,
                    })?;
                segments
                    .entry(stream.to_string())
                    .or_default()
                    .insert((hour, leaf), ids);
            }
            None => mains.push((key, value)),
        }
    }
    let mut cps = HashMap::new();
    let mut layouts = HashMap::new();
    let none = FoundSegments::new();
    for (key, value) in mains {
        let found = segments.get(&key).unwrap_or(&none);
        let (cp, layout) =
            assemble(&value, found).map_err(|reason| KafkaError::CorruptCheckpoint {
                key: key.clone(),
                reason,
            })?;
        if checkpoint_key(&cp.stream) != key {
            return Err(KafkaError::CorruptCheckpoint {
                key,
                reason: format!("record holds the checkpoint of {}", cp.stream),
            });
        }
        layouts.insert(cp.stream.clone(), layout);
        cps.insert(cp.stream.clone(), cp);
    }
    Ok((cps, layouts))
}

/// An error of storing `plan` with the numbers: the stream, the largest record and the
/// bound (so "message too large" says which checkpoint and how large).
pub(crate) fn with_numbers(
    e: KafkaError,
    stream: &StreamKey,
    plan: &CheckpointRecords,
) -> KafkaError {
    let largest = plan.largest();
    let records = plan.segments.len() + 1;
    e.map_reason(|r| {
        format!(
            "{r} (checkpoint of {stream}: {records} records, the largest {largest} bytes, bound {} bytes)",
            trawl_model::checkpoint_records::RECORD_MAX_BYTES
        )
    })
}
