//! Test doubles for the engine's unit tests: an in-memory Kafka ([`MemorySink`]) and an
//! API that serves a scripted list of records ([`ScriptedSource`]), so the fetch loop
//! and the supervisor run with no broker and no HTTP server, under tokio's paused clock.
//! Other crates' tests use them through the `testsuite` feature (never in a release
//! build: nothing outside tests enables it).

pub mod memory;
mod scripted;

pub use memory::MemorySink;
pub use scripted::{ApiRecord, Fault, ScriptedApi, ScriptedSource};
