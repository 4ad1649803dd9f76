//! The engine's actors, one per file, each with its messages beside it.

pub mod fetcher;
pub mod publisher;
pub mod rate_limiter;
pub mod supervisor;

pub use fetcher::{FetcherExited, StopFetcher, StreamFetcher};
pub use publisher::{Publish, Published, Publisher};
pub use rate_limiter::{Acquire, Feedback, LimiterState, Priority, RateLimiter};
pub use supervisor::{
    ApplyTenants, GetLimiters, RestartPolicy, StopAll, Supervisor, SupervisorDeps,
};
