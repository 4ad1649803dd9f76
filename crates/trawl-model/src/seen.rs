//! The ids a stream delivered for records a re-read can meet again (its lookback), so a
//! re-read publishes only what is new.
//!
//! Kept as 64-bit id prefixes filed under the unix hour of their record: a collision
//! among one stream's lookback ids is vanishingly unlikely (about n^2 / 2^65, 2^-25 for
//! a million). Each hour keeps its ids ordered and an XOR of them, so a store can tell
//! cheaply which hours changed since it last wrote them and cut an hour into segments
//! that depend only on its content (see [`crate::checkpoint_records`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};

use crate::event_id::EventId;

/// A set of delivered ids (64-bit prefixes), each filed under the hour of its record.
#[derive(Clone, Default, PartialEq)]
pub struct SeenSet {
    index: HashSet<u64>,
    hours: BTreeMap<i64, HourIds>,
}

/// The ids of one hour, ordered, with their XOR (a fingerprint of the set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourIds {
    keys: BTreeSet<u64>,
    xor: u64,
}

impl HourIds {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `(number of ids, XOR of ids)`: equal for equal sets.
    pub fn summary(&self) -> (usize, u64) {
        (self.keys.len(), self.xor)
    }

    pub fn keys(&self) -> &BTreeSet<u64> {
        &self.keys
    }
}

impl std::fmt::Debug for SeenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeenSet")
            .field("ids", &self.index.len())
            .field("hours", &self.hours.len())
            .finish()
    }
}

/// The unix hour of `time`.
pub fn hour_of(time: DateTime<Utc>) -> i64 {
    time.timestamp().div_euclid(3600)
}

impl SeenSet {
    pub(crate) fn key(id: &EventId) -> u64 {
        u64::from_be_bytes(id.as_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// Adds `id` (a record of `time`); false when it was already there.
    pub fn insert(&mut self, id: &EventId, time: DateTime<Utc>) -> bool {
        self.insert_key(Self::key(id), hour_of(time))
    }

    /// Adds an id prefix under `hour`; false when it was already there (under any hour).
    pub fn insert_key(&mut self, key: u64, hour: i64) -> bool {
        if !self.index.insert(key) {
            return false;
        }
        let h = self.hours.entry(hour).or_default();
        h.keys.insert(key);
        h.xor ^= key;
        true
    }

    pub fn contains(&self, id: &EventId) -> bool {
        self.index.contains(&Self::key(id))
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The ids by hour.
    pub fn hours(&self) -> &BTreeMap<i64, HourIds> {
        &self.hours
    }

    /// Forgets ids whose record hour ends before `cutoff` (whole hours are kept).
    pub fn prune_before(&mut self, cutoff: DateTime<Utc>) {
        let keep = self.hours.split_off(&hour_of(cutoff));
        for (_, gone) in std::mem::replace(&mut self.hours, keep) {
            for k in gone.keys {
                self.index.remove(&k);
            }
        }
    }

    /// [`SeenSet::prune_before`], except hours `keep` accepts (a gap's hours: a retry of
    /// its window must know what of it was already published).
    pub fn prune_before_except(&mut self, cutoff: DateTime<Utc>, keep: impl Fn(i64) -> bool) {
        let first = hour_of(cutoff);
        let gone: Vec<i64> = self
            .hours
            .keys()
            .copied()
            .filter(|h| *h < first && !keep(*h))
            .collect();
        for h in gone {
            if let Some(ids) = self.hours.remove(&h) {
                for k in ids.keys {
                    self.index.remove(&k);
                }
            }
        }
    }

    pub fn merge(&mut self, other: &SeenSet) {
        for (h, ids) in &other.hours {
            for k in &ids.keys {
                self.insert_key(*k, *h);
            }
        }
    }

    /// The ids of the hours `keep` accepts, as a set of their own.
    pub fn only_hours(&self, keep: impl Fn(i64) -> bool) -> SeenSet {
        let mut out = SeenSet::default();
        for (h, ids) in self.hours.iter().filter(|(h, _)| keep(**h)) {
            out.index.extend(ids.keys.iter().copied());
            out.hours.insert(*h, ids.clone());
        }
        out
    }
}

/// 8-byte big-endian prefixes as one byte string, and back.
pub(crate) fn pack(keys: impl IntoIterator<Item = u64>) -> Vec<u8> {
    keys.into_iter().flat_map(u64::to_be_bytes).collect()
}

pub(crate) fn unpack(bytes: &[u8]) -> Result<impl Iterator<Item = u64> + '_, &'static str> {
    if !bytes.len().is_multiple_of(8) {
        return Err("seen ids are not 8-byte aligned");
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_keep_their_ids_and_fingerprint() {
        let mut s = SeenSet::default();
        assert!(s.insert_key(5, 10));
        assert!(s.insert_key(3, 10));
        assert!(
            !s.insert_key(5, 11),
            "an id is kept once, under its first hour"
        );
        assert!(s.insert_key(9, 12));
        assert_eq!(s.len(), 3);
        assert_eq!(s.hours()[&10].summary(), (2, 5 ^ 3));
        let only = s.only_hours(|h| h == 12);
        assert_eq!(only.len(), 1);
        let mut pruned = s.clone();
        pruned.prune_before(DateTime::from_timestamp(12 * 3600, 0).unwrap());
        assert_eq!(pruned, only);
        let mut back = pruned.clone();
        back.merge(&s);
        assert_eq!(back, s);
    }
}
