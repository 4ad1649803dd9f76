//! Stable event ids for records that carry none.
//!
//! Zoom's operation logs have no id, and identical records within one second are real
//! (two admins clicking the same thing; the phone sample in the docs shows it). The id of
//! an event is therefore a hash of the tenant, the source, the record's canonical JSON and
//! its occurrence index among identical records of the same second, in the order one scan
//! of a window meets them. Because a window never splits a second and identical records
//! are interchangeable, re-reading a window gives the same ids; a late identical twin gets
//! the next index and so a new id.
//!
//! The hash input is fixed forever (fixed test vectors below): changing it would
//! re-publish every record of every customer under new ids.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ids::StreamKey;

/// 128 bits of SHA-256, shown as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId([u8; 16]);

impl EventId {
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(b)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    pub fn parse(s: &str) -> Option<Self> {
        let mut b = [0u8; 16];
        hex::decode_to_slice(s, &mut b).ok()?;
        Some(Self(b))
    }

    /// The 32 hex digits, on the stack: an id is written for every event published.
    fn hex(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::encode_to_slice(self.0, &mut out).expect("16 bytes are 32 hex digits");
        out
    }

    /// The id of the `occurrence`-th (0-based) copy of `raw` in one second of `stream`.
    pub fn compute(stream: &StreamKey, raw: &Value, occurrence: u32) -> Self {
        Self::compute_canonical(stream, canonical_json(raw).as_bytes(), occurrence)
    }

    /// [`EventId::compute`] for a record already in canonical form: `canonical` must be
    /// the bytes [`canonical_json`] gives (as [`RawJson::as_str`](crate::RawJson::as_str)
    /// holds them), or the id differs from the one `compute` gives for the same record.
    pub fn compute_canonical(stream: &StreamKey, canonical: &[u8], occurrence: u32) -> Self {
        Self::from_base(&base_digest(stream, canonical), occurrence)
    }

    fn from_base(base: &[u8; 32], occurrence: u32) -> Self {
        let mut h = Sha256::new();
        h.update(base);
        h.update(occurrence.to_be_bytes());
        let full = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&full[..16]);
        Self(b)
    }
}

fn base_digest(stream: &StreamKey, canonical: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"trawl.audit.v1\0");
    h.update(stream.tenant.as_str().as_bytes());
    h.update(b"\0");
    h.update(stream.source.as_str().as_bytes());
    h.update(b"\0");
    h.update(canonical);
    h.finalize().into()
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex()).expect("hex digits are ASCII"))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(std::str::from_utf8(&self.hex()).expect("hex digits are ASCII"))
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        EventId::parse(&s).ok_or_else(|| serde::de::Error::custom("event id must be 32 hex digits"))
    }
}

/// JSON with object keys sorted (by UTF-8 bytes) at every depth and no white space.
/// Independent of serde_json's `preserve_order` feature, so ids cannot change when some
/// other crate in the build turns that feature on.
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    serde_json::to_writer(&mut out, &Canonical(v)).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// A [`Value`] that serializes in canonical form: objects' entries in key order at every
/// depth. Through serde_json's compact writer this gives the bytes of [`canonical_json`]
/// (keys and scalars written by serde_json's own code, as `to_string` writes them), with
/// no allocation per key or value.
pub(crate) struct Canonical<'a>(pub &'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                // serde_json's map is a BTreeMap (already in key order) unless its
                // `preserve_order` feature is on somewhere in the build; only then sort.
                if map.keys().is_sorted() {
                    for (k, v) in map {
                        m.serialize_entry(k, &Canonical(v))?;
                    }
                } else {
                    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                    for (k, v) in entries {
                        m.serialize_entry(k, &Canonical(v))?;
                    }
                }
                m.end()
            }
            Value::Array(items) => s.collect_seq(items.iter().map(Canonical)),
            scalar => scalar.serialize(s),
        }
    }
}

/// Hands out ids during one scan of one window of one stream, counting identical records
/// per second. Start a fresh counter whenever the scan of a window starts over.
#[derive(Debug, Default)]
pub struct OccurrenceCounter {
    seen: HashMap<(i64, [u8; 32]), u32>,
}

impl OccurrenceCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `raw`, a record of second `unix_second`, given the copies met so far.
    pub fn assign(&mut self, stream: &StreamKey, raw: &Value, unix_second: i64) -> EventId {
        self.assign_canonical(stream, canonical_json(raw).as_bytes(), unix_second)
    }

    /// [`OccurrenceCounter::assign`] for a record already in canonical form (the bytes
    /// [`canonical_json`] gives, as [`RawJson::as_str`](crate::RawJson::as_str) holds
    /// them), so the one canonical text serves both as the hash input and as the event's
    /// `raw`.
    pub fn assign_canonical(
        &mut self,
        stream: &StreamKey,
        canonical: &[u8],
        unix_second: i64,
    ) -> EventId {
        let base = base_digest(stream, canonical);
        let n = self.seen.entry((unix_second, base)).or_insert(0);
        let id = EventId::from_base(&base, *n);
        *n += 1;
        id
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SourceKind, TenantId};
    use serde_json::json;

    /// Found by the `canonical_json` fuzz target: integers past 64 bits are read as
    /// floats, which must print back as the same float (serde_json's `float_roundtrip`),
    /// or an id computed again from a published `raw` would differ.
    #[test]
    fn canonical_json_round_trips_numbers_past_64_bits() {
        let text = "[0,-0,18446744073709551615,-92233720363854775808,9007199254740993,\
                    1.7976931348623157e308,5e-324,0.30000000000000004]";
        let value: Value = serde_json::from_str(text).unwrap();
        let canonical = canonical_json(&value);
        let again: Value = serde_json::from_str(&canonical).unwrap();
        assert_eq!(again, value, "{canonical}");
        assert_eq!(canonical_json(&again), canonical);
    }

    fn key() -> StreamKey {
        StreamKey::new(
            TenantId::new("acme").unwrap(),
            SourceKind::ZoomOperationLogs,
        )
    }

    #[test]
    fn canonical_form_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "é\""}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[1,{"x":"é\"","y":2}]},"b":1}"#
        );
    }

    /// The first record of Zoom's documentation sample.
    fn docs_record() -> Value {
        json!({
            "time": "2019-08-20T19:09:01Z",
            "operator": "someuser@sfksfhksdfsf.com",
            "category_type": "User",
            "action": "Update",
            "operation_detail": "Activate User sjkfhdsf@jdfgkhgd.com "
        })
    }

    /// Fixed vectors: these strings must never change (see the module doc).
    #[test]
    fn ids_are_stable_across_versions() {
        let raw = docs_record();
        assert_eq!(EventId::compute(&key(), &raw, 0).to_string(), VECTOR_0);
        assert_eq!(EventId::compute(&key(), &raw, 1).to_string(), VECTOR_1);
        let other = StreamKey::new(
            TenantId::new("acme").unwrap(),
            SourceKind::ZoomPhoneOperationLogs,
        );
        assert_ne!(EventId::compute(&other, &raw, 0).to_string(), VECTOR_0);
    }

    /// The canonical-bytes entry points give the same ids as the `Value` ones.
    #[test]
    fn canonical_entry_points_agree_with_the_value_ones() {
        let raw = docs_record();
        let canonical = canonical_json(&raw);
        assert_eq!(
            EventId::compute_canonical(&key(), canonical.as_bytes(), 0).to_string(),
            VECTOR_0
        );
        assert_eq!(
            EventId::compute_canonical(&key(), canonical.as_bytes(), 1).to_string(),
            VECTOR_1
        );
        let raw_json = crate::RawJson::from_value(&raw);
        assert_eq!(raw_json.as_str(), canonical);
        let mut by_value = OccurrenceCounter::new();
        let mut by_bytes = OccurrenceCounter::new();
        for _ in 0..3 {
            assert_eq!(
                by_value.assign(&key(), &raw, 7),
                by_bytes.assign_canonical(&key(), raw_json.as_str().as_bytes(), 7)
            );
        }
    }

    const VECTOR_0: &str = "3cd2911f24172b6beb9d10aaf7c1843f";
    const VECTOR_1: &str = "20114713d390a867a0f4cbb8f1011911";

    #[test]
    fn identical_records_in_one_second_get_distinct_ids_in_a_repeatable_way() {
        let raw = json!({"time": "2022-02-01T02:36:14Z", "action": "ADD"});
        let scan = || {
            let mut c = OccurrenceCounter::new();
            [
                c.assign(&key(), &raw, 1),
                c.assign(&key(), &raw, 1),
                c.assign(&key(), &raw, 1),
            ]
        };
        let a = scan();
        assert_ne!(a[0], a[1]);
        assert_ne!(a[1], a[2]);
        assert_eq!(a, scan());
        assert_eq!(a[0], EventId::compute(&key(), &raw, 0));
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = EventId::compute(&key(), &json!({}), 0);
        assert_eq!(EventId::parse(&id.to_string()), Some(id));
        let s = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<EventId>(&s).unwrap(), id);
        assert_eq!(EventId::parse("xyz"), None);
    }
}
