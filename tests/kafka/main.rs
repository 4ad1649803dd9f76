//! End-to-end tests of the engine (in this process) against Apache Kafka, sharing the
//! binary's one broker (`KafkaBroker::shared()`, each test with topics and a
//! transactional id of its own through `Bed`). Nothing here needs the process to
//! itself: tests run side by side as libtest's threads. (Tests that kill, restart or
//! freeze their broker are in `brokers`.)
//!
//! A new test joins as `tests/kafka/<name>.rs` with a `mod <name>;` line below.

trawl_suite::child_entry!();

mod cluster_quota;
mod engine_backfill;
mod engine_big_checkpoint;
mod engine_gaps;
mod engine_live;
mod engine_live_cost;
mod engine_oversized;
mod engine_quota;
mod engine_zoho_throttle;
mod preflight;
