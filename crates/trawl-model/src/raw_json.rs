//! A record kept as its canonical JSON text.
//!
//! An event's `raw` is the record as the API sent it, in canonical form (object keys
//! sorted by UTF-8 bytes at every depth, no white space: [`canonical_json`]). Those are
//! the very bytes the event id hashes, so a scan writes them once, hashes them and keeps
//! them, and publishing an event copies them into its JSON instead of serializing a
//! [`Value`] tree again.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

#[cfg(doc)]
use crate::event_id::canonical_json;
use crate::event_id::Canonical;

/// A JSON value held as its canonical text (see the module doc).
///
/// It serializes as that JSON value, verbatim: in an event's JSON, `raw` is exactly the
/// bytes `serde_json::to_vec` gives for the record's `Value` (serde_json's maps iterate
/// in key order). It deserializes from any JSON value, canonicalizing it. Two are equal
/// when their texts are.
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// The canonical form of `v`.
    pub fn from_value(v: &Value) -> Self {
        Self(serde_json::value::to_raw_value(&Canonical(v)).expect("a Value always serializes"))
    }

    /// The canonical JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The canonical JSON text (as [`RawValue::get`]).
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value, parsed again: for tests and tools, not for the hot path.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).expect("a RawJson always holds valid JSON")
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawJson {}

impl std::hash::Hash for RawJson {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawJson")
            .field(&format_args!("{}", self.as_str()))
            .finish()
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    /// Parses the value and writes it in canonical form, so the invariant holds whatever
    /// the input's key order or white space.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| Self::from_value(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical_json;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "time": "2019-08-20T19:09:01Z",
            "operator": "someuser@sfksfhksdfsf.com",
            "b": {"z": [1, -2, 3.5, 1e300, 18446744073709551615u64, {"y": null, "x": "é\"\\\n\u{1}</"}],
                  "c": true, "": false, "Z": [], "a": {}},
            "data": "{\"peopleInfo\":{},\"emailId\":\"user@zylker.com\"}",
            "requestTime": 1_710_316_191_981i64,
            "ünï": "日本語 😀",
        })
    }

    #[test]
    fn holds_the_canonical_text() {
        let v = record();
        let r = RawJson::from_value(&v);
        assert_eq!(r.as_str(), canonical_json(&v));
        assert_eq!(r.get(), r.as_str());
        assert_eq!(r.to_value(), v);
        assert_eq!(RawJson::from_value(&r.to_value()), r);
    }

    /// The JSON of `raw` is byte for byte what serializing the `Value` gave before.
    #[test]
    fn serializes_as_the_value_did() {
        let v = record();
        let r = RawJson::from_value(&v);
        assert_eq!(
            serde_json::to_vec(&r).unwrap(),
            serde_json::to_vec(&v).unwrap()
        );
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
        // Embedded too, whatever surrounds it.
        let outer = json!({"x": 1, "raw": v.clone()});
        #[derive(Serialize)]
        struct Outer<'a> {
            raw: &'a RawJson,
            x: u8,
        }
        assert_eq!(
            serde_json::to_vec(&Outer { raw: &r, x: 1 }).unwrap(),
            serde_json::to_vec(&outer).unwrap()
        );
    }

    #[test]
    fn deserializes_canonicalizing() {
        let pretty = "{ \"b\" : [ 1 , {\"d\":1, \"c\":2} ],\n \"a\": \"x\" }";
        let r: RawJson = serde_json::from_str(pretty).unwrap();
        assert_eq!(r.as_str(), r#"{"a":"x","b":[1,{"c":2,"d":1}]}"#);
        let back: RawJson = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let from_value: RawJson = serde_json::from_value(record()).unwrap();
        assert_eq!(from_value, RawJson::from_value(&record()));
    }

    #[test]
    fn equality_and_debug_go_by_the_text() {
        let a = RawJson::from_value(&json!({"b": 1, "a": 2}));
        let b = RawJson::from_value(&json!({"a": 2, "b": 1}));
        assert_eq!(a, b);
        assert_ne!(a, RawJson::from_value(&json!({"a": 2})));
        assert_eq!(format!("{a:?}"), r#"RawJson({"a":2,"b":1})"#);
        assert_eq!(a.to_string(), r#"{"a":2,"b":1}"#);
    }
}
