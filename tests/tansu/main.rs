//! End-to-end tests against `tansu`, a Kafka-protocol broker without transactions (in
//! memory, started in well under a second: each test starts its own): trawl-kafka's
//! idempotent path with read-back, and the engine (in this process) on the fleets the
//! field reports. Tests run side by side as libtest's threads.
//!
//! A new test joins as `tests/tansu/<name>.rs` with a `mod <name>;` line below.

trawl_suite::child_entry!();

mod engine_disabled_recheck;
mod engine_late_dropped;
mod engine_lost_checkpoint;
mod engine_retention;
mod engine_shared_account;
mod field_readings;
mod kafka_tansu;
