//! trawl's engine: the actors that fetch every tenant stream within its account's quota
//! and publish each record to Kafka exactly once.
//!
//! * [`actors::Supervisor`] starts one [`actors::StreamFetcher`] per tenant stream, watches
//!   them and restarts failed ones with backoff.
//! * [`actors::RateLimiter`], one per (account, API family, label), paces every request.
//! * [`actors::Publisher`] owns the Kafka producer and the checkpoint store.
//!
//! Time comes from [`clock::Clock`]; metrics live in [`metrics::Metrics`].

pub mod actors;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod engine;
pub mod fetch;
pub mod metrics;
pub mod quota;
pub mod status;
pub use engine::{Engine, EngineError, EngineOptions};
