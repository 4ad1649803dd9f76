//! trawl's shared vocabulary.
//!
//! Every other crate speaks in these types: which tenant and stream a thing belongs to
//! ([`TenantId`], [`SourceKind`], [`StreamKey`]), the time span a request covers
//! ([`Window`]), the normalized audit event that goes to Kafka ([`Event`]) with its stable
//! id ([`EventId`], [`OccurrenceCounter`]) and its record in canonical JSON ([`RawJson`]),
//! and what a stream remembers between runs ([`Checkpoint`]). The crate does no I/O, so it
//! is cheap to depend on and easy to test.

mod checkpoint;
pub mod checkpoint_records;
mod event;
mod event_id;
mod ids;
mod plan;
mod raw_json;
mod seen;
mod window;

pub use checkpoint::{Checkpoint, Gap, OutputPosition, SeenSet, CHECKPOINT_VERSION};
pub use event::{Event, Outcome, EVENT_SCHEMA, EVENT_SCHEMA_JSON};
pub use event_id::{canonical_json, EventId, OccurrenceCounter};
pub use ids::{IdError, Provider, SourceKind, StreamKey, TenantId};
pub use plan::Plan;
pub use raw_json::RawJson;
pub use seen::{hour_of, HourIds};
pub use window::Window;
