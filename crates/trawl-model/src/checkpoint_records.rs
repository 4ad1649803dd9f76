//! A checkpoint as records of bounded size, whatever the stream's volume.
//!
//! The seen ids grow with the volume (a million records a day keeps about a million ids
//! of lookback), and one record of a compacted topic cannot hold them (Kafka refuses it:
//! `MessageSizeTooLarge`). So a checkpoint is stored as:
//!
//! * its **main record** (key `tenant/source`): everything but the seen ids of its big
//!   hours, plus `seen_segments`, the number of ids each big hour holds. Small streams
//!   keep all their ids inline, as before (version 1 records load unchanged);
//! * **segments** (key `tenant/source/seen/<hour>/<depth>.<prefix>`): the ids of one hour
//!   whose first `depth` bits are `prefix`, at most [`Bounds::segment_ids`] of them. An
//!   hour is cut by halving the id space until every part fits, so the segments depend
//!   only on the hour's ids: a save rewrites only the segments whose ids changed.
//!
//! A save writes the changed segments first, then the main record, then tombstones for
//! segments no longer used (pruned hours, parts that split). Every id in any segment was
//! published before the segment was written (or in its transaction), so the loader takes
//! the union of every segment of the stream it finds: a leftover of an interrupted save
//! only adds ids that are published. It checks that each hour the main record lists
//! holds at least as many ids as listed, so a lost segment is an error, never a silent
//! duplicate.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::seen::{pack, unpack, SeenSet};

/// The most bytes of one checkpoint record (key and value), main or segment.
pub const RECORD_MAX_BYTES: usize = 64 * 1024;

/// The version of main records written with segments.
pub const SEGMENTED_VERSION: u32 = 2;

/// Sizes a plan keeps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most ids in one segment (8 bytes each, base64: 4096 take about 44 KB).
    pub segment_ids: usize,
    /// Most ids kept inline in the main record; the biggest hours go to segments first.
    pub inline_ids: usize,
    /// Most bytes of a record's key and value.
    pub record_max: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            segment_ids: 4096,
            inline_ids: 2048,
            record_max: RECORD_MAX_BYTES,
        }
    }
}

/// A part of an hour's id space: the ids whose first `depth` bits equal `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Leaf {
    pub depth: u8,
    pub prefix: u64,
}

/// The key of a segment of `stream_key`'s checkpoint.
pub fn segment_key(stream_key: &str, hour: i64, leaf: Leaf) -> String {
    format!("{stream_key}/seen/{hour}/{}.{:x}", leaf.depth, leaf.prefix)
}

/// `(stream key, hour, leaf)` of a segment key; `None` for any other key.
pub fn parse_segment_key(key: &str) -> Option<(&str, i64, Leaf)> {
    let (stream, rest) = key.split_once("/seen/")?;
    let (hour, leaf) = rest.split_once('/')?;
    let (depth, prefix) = leaf.split_once('.')?;
    let leaf = Leaf {
        depth: depth.parse().ok()?,
        prefix: u64::from_str_radix(prefix, 16).ok()?,
    };
    Some((stream, hour.parse().ok()?, leaf))
}

/// What a store has written of one stream's segments (or found at load).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeenLayout {
    hours: BTreeMap<i64, HourLayout>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct HourLayout {
    /// `(len, xor)` of the hour's ids when its segments were written; `None`: unknown.
    summary: Option<(usize, u64)>,
    /// Every segment that may be on the topic, with `(len, xor)` of its ids when known.
    leaves: BTreeMap<Leaf, Option<(usize, u64)>>,
}

impl SeenLayout {
    pub fn is_empty(&self) -> bool {
        self.hours.is_empty()
    }

    /// Segments found for `hour` at load, with their ids.
    pub fn found(&mut self, hour: i64, leaf: Leaf, ids: &[u64]) {
        let h = self.hours.entry(hour).or_default();
        h.leaves.insert(leaf, Some(summary(ids.iter().copied())));
    }
}

fn summary(ids: impl Iterator<Item = u64>) -> (usize, u64) {
    ids.fold((0, 0), |(n, x), k| (n + 1, x ^ k))
}

/// A record to write: key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub value: Vec<u8>,
}

/// A checkpoint over too large a record even after splitting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the checkpoint of {stream} needs a record of {bytes} bytes ({key}), over the bound of \
     {limit} bytes ({ids} seen ids, {inline} inline)"
)]
pub struct TooLarge {
    pub stream: String,
    pub key: String,
    pub bytes: usize,
    pub limit: usize,
    pub ids: usize,
    pub inline: usize,
}

/// The records one save writes, in order: `segments`, `main`, then `tombstones`.
#[derive(Debug, Clone)]
pub struct CheckpointRecords {
    pub segments: Vec<Record>,
    pub main: Record,
    /// Keys of segments no longer used, deleted once the main record is written.
    pub tombstones: Vec<String>,
    layout: SeenLayout,
}

#[derive(Serialize, Deserialize)]
struct SegmentValue {
    hour: i64,
    ids: String,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    seen_segments: BTreeMap<String, usize>,
}

/// Cuts sorted `keys` into leaves of at most `cap` ids each (empty leaves left out).
fn split(keys: &[u64], depth: u8, prefix: u64, cap: usize, out: &mut Vec<(Leaf, Vec<u64>)>) {
    if keys.is_empty() {
        return;
    }
    if keys.len() <= cap || depth >= 63 {
        out.push((Leaf { depth, prefix }, keys.to_vec()));
        return;
    }
    let bit = 63 - u32::from(depth);
    let mid = keys.partition_point(|k| (k >> bit) & 1 == 0);
    split(&keys[..mid], depth + 1, prefix << 1, cap, out);
    split(&keys[mid..], depth + 1, (prefix << 1) | 1, cap, out);
}

impl CheckpointRecords {
    /// The records that store `cp`, given what the store holds already (`prev`).
    pub fn plan(cp: &Checkpoint, prev: &SeenLayout, bounds: Bounds) -> Result<Self, TooLarge> {
        let stream_key = cp.stream.to_string();
        let hours = cp.seen.hours();
        // Hours already in segments stay there; then the biggest go until the rest fits.
        let mut segmented: BTreeSet<i64> = hours
            .keys()
            .filter(|h| prev.hours.contains_key(*h))
            .copied()
            .collect();
        let mut inline: usize = hours
            .iter()
            .filter(|(h, _)| !segmented.contains(*h))
            .map(|(_, ids)| ids.len())
            .sum();
        if inline > bounds.inline_ids {
            let mut by_size: Vec<(usize, i64)> = hours
                .iter()
                .filter(|(h, _)| !segmented.contains(*h))
                .map(|(h, ids)| (ids.len(), *h))
                .collect();
            by_size.sort_unstable_by(|a, b| b.cmp(a));
            for (n, h) in by_size {
                if inline <= bounds.inline_ids {
                    break;
                }
                segmented.insert(h);
                inline -= n;
            }
        }
        let mut segments = Vec::new();
        let mut tombstones = Vec::new();
        let mut layout = SeenLayout::default();
        for h in &segmented {
            let ids = &hours[h];
            let old = prev.hours.get(h);
            if let Some(old) = old.filter(|o| o.summary == Some(ids.summary())) {
                layout.hours.insert(*h, old.clone());
                continue;
            }
            let sorted: Vec<u64> = ids.keys().iter().copied().collect();
            let mut leaves = Vec::new();
            split(&sorted, 0, 0, bounds.segment_ids.max(1), &mut leaves);
            let mut now = HourLayout {
                summary: Some(ids.summary()),
                leaves: BTreeMap::new(),
            };
            for (leaf, keys) in leaves {
                let s = summary(keys.iter().copied());
                let before = old.and_then(|o| o.leaves.get(&leaf).copied().flatten());
                if before != Some(s) {
                    let value = SegmentValue {
                        hour: *h,
                        ids: B64.encode(pack(keys)),
                    };
                    segments.push(Record {
                        key: segment_key(&stream_key, *h, leaf),
                        value: serde_json::to_vec(&value).expect("a segment serializes"),
                    });
                }
                now.leaves.insert(leaf, Some(s));
            }
            for leaf in old.into_iter().flat_map(|o| o.leaves.keys()) {
                if !now.leaves.contains_key(leaf) {
                    tombstones.push(segment_key(&stream_key, *h, *leaf));
                }
            }
            layout.hours.insert(*h, now);
        }
        for (h, old) in prev.hours.iter().filter(|(h, _)| !segmented.contains(*h)) {
            tombstones.extend(old.leaves.keys().map(|l| segment_key(&stream_key, *h, *l)));
        }
        let mut shell = cp.without_seen();
        shell.seen = cp.seen.only_hours(|h| !segmented.contains(&h));
        shell.version = shell.version.max(SEGMENTED_VERSION);
        let mut value = serde_json::to_value(&shell).expect("a checkpoint serializes");
        let listed: BTreeMap<String, usize> = segmented
            .iter()
            .map(|h| (h.to_string(), hours[h].len()))
            .collect();
        if !listed.is_empty() {
            value["seen_segments"] = serde_json::to_value(listed).expect("a map serializes");
        }
        let main = Record {
            key: stream_key,
            value: serde_json::to_vec(&value).expect("a checkpoint serializes"),
        };
        let out = Self {
            segments,
            main,
            tombstones,
            layout,
        };
        for r in out.segments.iter().chain([&out.main]) {
            let bytes = r.key.len() + r.value.len();
            if bytes > bounds.record_max {
                return Err(TooLarge {
                    stream: cp.stream.to_string(),
                    key: r.key.clone(),
                    bytes,
                    limit: bounds.record_max,
                    ids: cp.seen.len(),
                    inline,
                });
            }
        }
        Ok(out)
    }

    /// What the store holds once every record of this plan is written.
    pub fn written(&self) -> SeenLayout {
        self.layout.clone()
    }

    /// What the store may hold after this plan failed part way (outcome unknown):
    /// every segment of either, contents unknown, so the next save rewrites them.
    pub fn unknown(&self, prev: &SeenLayout) -> SeenLayout {
        let mut out = SeenLayout::default();
        for (h, hl) in prev.hours.iter().chain(&self.layout.hours) {
            let e = out.hours.entry(*h).or_default();
            e.leaves.extend(hl.leaves.keys().map(|l| (*l, None)));
        }
        out
    }

    /// The size of the largest record (key and value).
    pub fn largest(&self) -> usize {
        self.segments
            .iter()
            .chain([&self.main])
            .map(|r| r.key.len() + r.value.len())
            .max()
            .unwrap_or(0)
    }
}

/// A segment's hour and ids.
pub fn decode_segment(value: &[u8]) -> Result<(i64, Vec<u64>), String> {
    let v: SegmentValue = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    let bytes = B64
        .decode(&v.ids)
        .map_err(|_| "bad base64 in seen ids".to_string())?;
    let ids = unpack(&bytes)?.collect();
    Ok((v.hour, ids))
}

/// A stream's segments as found on the store: `(hour, leaf) -> ids`.
pub type FoundSegments = BTreeMap<(i64, Leaf), Vec<u64>>;

/// The checkpoint in main record `value` with the ids of `segments` (every segment
/// found of its stream), and the layout the store holds. Fails when an hour the main
/// record lists holds fewer ids than listed (a segment is missing).
pub fn assemble(
    value: &[u8],
    segments: &FoundSegments,
) -> Result<(Checkpoint, SeenLayout), String> {
    let mut cp: Checkpoint = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    let manifest: Manifest = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    let mut layout = SeenLayout::default();
    let mut from_segments = SeenSet::default();
    for ((hour, leaf), ids) in segments {
        layout.found(*hour, *leaf, ids);
        for k in ids {
            from_segments.insert_key(*k, *hour);
        }
    }
    for (hour, n) in &manifest.seen_segments {
        let h: i64 = hour.parse().map_err(|_| format!("bad hour {hour:?}"))?;
        let have = from_segments.hours().get(&h).map_or(0, |ids| ids.len());
        if have < *n {
            return Err(format!(
                "hour {h} lists {n} seen ids but its segments hold {have}: a segment is missing"
            ));
        }
    }
    for (h, ids) in from_segments.hours() {
        if let Some(hl) = layout.hours.get_mut(h) {
            hl.summary = Some(ids.summary());
        }
    }
    cp.seen.merge(&from_segments);
    Ok((cp, layout))
}

#[cfg(test)]
mod tests;
