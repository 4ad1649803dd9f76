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

    /// The id of the `occurrence`-th (0-based) copy of `raw` in one second of `stream`.
    pub fn compute(stream: &StreamKey, raw: &Value, occurrence: u32) -> Self {
        Self::from_base(&base_digest(stream, raw), occurrence)
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

fn base_digest(stream: &StreamKey, raw: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"trawl.audit.v1\0");
    h.update(stream.tenant.as_str().as_bytes());
    h.update(b"\0");
    h.update(stream.source.as_str().as_bytes());
    h.update(b"\0");
    h.update(canonical_json(raw).as_bytes());
    h.finalize().into()
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
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
    write_canonical(v, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Keys and scalars go through serde_json's own compact writer (the bytes `to_string`
/// gives), straight into `out`: no allocation per key or value.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("writing to a Vec cannot fail");
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writing to a Vec cannot fail"),
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
        let base = base_digest(stream, raw);
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

    /// Fixed vectors: these strings must never change (see the module doc).
    #[test]
    fn ids_are_stable_across_versions() {
        let raw = json!({
            "time": "2019-08-20T19:09:01Z",
            "operator": "someuser@sfksfhksdfsf.com",
            "category_type": "User",
            "action": "Update",
            "operation_detail": "Activate User sjkfhdsf@jdfgkhgd.com "
        });
        assert_eq!(EventId::compute(&key(), &raw, 0).to_string(), VECTOR_0);
        assert_eq!(EventId::compute(&key(), &raw, 1).to_string(), VECTOR_1);
        let other = StreamKey::new(
            TenantId::new("acme").unwrap(),
            SourceKind::ZoomPhoneOperationLogs,
        );
        assert_ne!(EventId::compute(&other, &raw, 0).to_string(), VECTOR_0);
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
