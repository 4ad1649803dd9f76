//! trawl's engine: the actors that fetch every tenant stream within its account's quota
//! and publish each record to Kafka exactly once.
//!
//! Components, each in its folder with its actor, its messages and the handle others
//! use; dependencies go one way, down this list:
//!
//! * [`supervisor`]: the `Supervisor` starts one fetcher per tenant stream, watches them
//!   (a progress mark per stream) and applies the restart policy (one `match` over the
//!   typed [`fetch::Exit`]).
//! * [`fetch`]: a stream's loop (recover, backfill, live polls) and the `StreamFetcher`
//!   actor that runs it.
//! * [`limiter`]: one `RateLimiter` per (account, API family, label), the registry of
//!   them keyed by account, and the permit handle.
//! * [`publisher`]: the `Publisher` batches and orders writes to the Kafka sink
//!   (`trawl_kafka::Sink`, chosen once at start).
//! * [`events`]: internal events: each updates metrics, status and log together.
//! * [`cluster`]: a cluster member's handling of the group's assignments (which
//!   accounts run here), driving the supervisor and the cluster sink.
//! * [`preflight`]: one stream's first page under its account's bucket, for
//!   `trawl preflight`.
//! * [`status`], [`metrics`], [`clock`], [`backoff`], [`config`]: the leaves.

pub mod backoff;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod events;
pub mod fetch;
pub mod limiter;
pub mod liveness;
pub mod metrics;
pub mod preflight;
pub mod publisher;
pub mod status;
pub mod supervisor;

#[cfg(any(test, feature = "testsuite"))]
pub mod test_support;
pub use engine::{Engine, EngineError, EngineOptions};
