//! The normalized audit event, schema `trawl.audit.v1`: what customers' consumers read.
//!
//! One shape for all three APIs, so a consumer can alert on "who deleted what" without
//! knowing which vendor it came from, while `raw` keeps the record as the API sent it, in
//! canonical form (object keys sorted at every depth, no white space: the bytes its id
//! hashes, see [`RawJson`]). The JSON Schema in `schema/audit.v1.json` is the published
//! contract; a test checks that this type and the schema agree.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::event_id::EventId;
use crate::ids::{SourceKind, TenantId};
use crate::raw_json::RawJson;

/// The value of the `schema` field and of the CloudEvents `type`.
pub const EVENT_SCHEMA: &str = "trawl.audit.v1";

/// The JSON Schema (draft 2020-12) of an event, as published in the repo.
pub const EVENT_SCHEMA_JSON: &str = include_str!("../schema/audit.v1.json");

/// Whether the audited operation succeeded, as far as the record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`EVENT_SCHEMA`].
    pub schema: String,
    pub id: EventId,
    pub tenant: TenantId,
    pub source: SourceKind,
    /// When the audited operation happened, UTC.
    #[serde(with = "rfc3339")]
    pub time: DateTime<Utc>,
    /// When trawl read it from the API, UTC.
    #[serde(with = "rfc3339")]
    pub observed_at: DateTime<Utc>,
    /// Who did it: an email or user name as the API gives it.
    pub actor: Option<String>,
    /// What was done, a lower-case verb such as `update`, `add`, `delete`.
    pub action: String,
    /// The API's category of the operation, as given.
    pub category: Option<String>,
    /// What it was done to, best effort (an email, a phone number, a setting).
    pub target: Option<String>,
    /// A human-readable description, HTML entities decoded.
    pub detail: Option<String>,
    pub outcome: Outcome,
    pub client_ip: Option<String>,
    /// The record as the API sent it, in canonical form: object keys sorted (by UTF-8
    /// bytes) at every depth, no white space. The same bytes the id hashes.
    pub raw: RawJson,
}

impl Event {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serializes")
    }
}

mod rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventId, StreamKey};
    use chrono::TimeZone;
    use serde_json::{json, Value};

    pub(crate) fn sample() -> Event {
        let tenant = TenantId::new("acme").unwrap();
        let raw = json!({"time": "2019-08-20T19:09:01Z", "operator": "a@b.c", "category_type": "User",
            "action": "Update", "operation_detail": "Activate User x@y.z "});
        Event {
            schema: EVENT_SCHEMA.into(),
            id: EventId::compute(
                &StreamKey::new(tenant.clone(), SourceKind::ZoomOperationLogs),
                &raw,
                0,
            ),
            tenant,
            source: SourceKind::ZoomOperationLogs,
            time: Utc.with_ymd_and_hms(2019, 8, 20, 19, 9, 1).unwrap(),
            observed_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
                + chrono::Duration::milliseconds(250),
            actor: Some("a@b.c".into()),
            action: "update".into(),
            category: Some("User".into()),
            target: Some("x@y.z".into()),
            detail: Some("Activate User x@y.z".into()),
            outcome: Outcome::Success,
            client_ip: None,
            raw: RawJson::from_value(&raw),
        }
    }

    #[test]
    fn serializes_with_utc_times_and_round_trips() {
        let e = sample();
        let v: Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["schema"], "trawl.audit.v1");
        assert_eq!(v["source"], "zoom.operation_logs");
        assert_eq!(v["time"], "2019-08-20T19:09:01Z");
        assert_eq!(v["observed_at"], "2026-01-01T00:00:00.250Z");
        assert_eq!(v["outcome"], "success");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    /// `raw` in the event's JSON is byte for byte what serializing the record's `Value`
    /// gave before `raw` became a [`RawJson`]; the rest of the event is untouched.
    #[test]
    fn raw_in_the_event_json_is_what_the_value_gave() {
        let record = json!({"time": "2019-08-20T19:09:01Z", "operator": "a@b.c",
            "nested": {"z": [1, 2.5, null, {"b": "é\"", "a": false}], "a": -3},
            "data": "{\"peopleInfo\":{},\"emailId\":\"user@zylker.com\"}"});
        let mut e = sample();
        e.raw = RawJson::from_value(&json!({}));
        let empty = e.to_json();
        let prefix = empty.strip_suffix(b"{}}").expect("raw is the last field");
        e.raw = RawJson::from_value(&record);
        let mut old = prefix.to_vec();
        old.extend(serde_json::to_vec(&record).unwrap());
        old.push(b'}');
        assert_eq!(
            String::from_utf8(e.to_json()).unwrap(),
            String::from_utf8(old).unwrap()
        );
        let v: Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["raw"], record);
        assert_eq!(e.raw.to_value(), record);
    }

    #[test]
    fn events_validate_against_the_published_schema() {
        let schema: Value = serde_json::from_str(EVENT_SCHEMA_JSON).unwrap();
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        let good = serde_json::to_value(sample()).unwrap();
        assert!(validator.is_valid(&good));
        let mut bad = good.clone();
        bad["outcome"] = json!("maybe");
        assert!(!validator.is_valid(&bad));
        let mut bad = good;
        bad.as_object_mut().unwrap().remove("raw");
        assert!(!validator.is_valid(&bad));
    }
}
