//! How one stream is fetched: window planning ([`plan`]) and the loop that walks windows
//! page by page, publishes and checkpoints ([`run`]). The `StreamFetcher` actor runs
//! [`run::run_stream`] and reports how it ended.

pub mod plan;
mod recover;
pub mod run;

pub use run::{run_stream, Exit, FetcherDeps, MAX_REQUESTS_IN_FLIGHT};
