//! End-to-end tests of the engine (in this process) while its Apache Kafka fails: each
//! test starts brokers of its own (one node or three) and kills, restarts or freezes
//! them under a running backfill. Tests run side by side as libtest's threads.
//!
//! A new test joins as `tests/brokers/<name>.rs` with a `mod <name>;` line below.

trawl_suite::child_entry!();

mod engine_broker_failures;
mod engine_faults;
