//! Tests whose `trawl run` is a process of its own, so that it can be SIGKILLed, fenced
//! by a second one, or be one member of a cluster: this binary re-executes itself as
//! `trawl run` (`trawl_suite::child`, through the `trawl_child` entry below), and every
//! child dies with the test process. Also the broker fixture's own promise that a
//! SIGKILLed test process leaves no broker behind.
//!
//! A new test joins as `tests/children/<name>.rs` with a `mod <name>;` line below; it
//! starts children with `trawl_suite::child::spawn_trawl` (or `trawl_command` + `spawn`)
//! and declares no `trawl_child` of its own.

trawl_suite::child_entry!();

mod cluster_handover;
mod engine_crash_recovery;
mod engine_fencing;
mod field_crash;
mod kafka_fixture;
