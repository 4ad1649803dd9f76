//! The `trawl` binary's library: command line, configuration loading, the commands.
//! Kept as a library so integration tests can drive the same code the binary runs.

pub mod cli;
pub mod config;
pub mod demo;
pub mod logging;
pub mod preflight;
pub mod reload;
pub mod run;
pub mod server;
