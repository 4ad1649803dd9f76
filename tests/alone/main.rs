//! Tests that need the whole process, each run alone in a process of its own (this
//! binary re-executed with `--exact`, `trawl_suite::child::alone`): the global log
//! subscriber (a test that reads every log line of its run), environment variables set
//! for the run, signals sent to the process (SIGHUP reloads), and its peak memory.
//!
//! A new test joins as `tests/alone/<name>.rs` with a `mod <name>;` line below; its
//! first lines are
//!
//! ```ignore
//! if !trawl_suite::child::alone(module_path!(), "<the test fn's name>") {
//!     return;
//! }
//! ```

trawl_suite::child_entry!();

mod harden_hostile;
mod harden_reload;
mod kafka_sasl_ssl;
mod ops_metrics;
mod ops_reload;
mod ops_status;
