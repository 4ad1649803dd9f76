//! Pacing every API request within its account's rate limits.
//!
//! * [`bucket`]: the arithmetic of one bucket (pacer, daily cap, AIMD), pure.
//! * [`actor`]: the `RateLimiter` actor that owns a bucket and its queue of waiters.
//! * [`permit`]: the handle a stream holds ([`LimiterHandle::acquire`] -> [`Permit`]).
//! * [`accounts`]: the registry of buckets keyed by account (and the account's worker).
//! * [`day`]: each bucket's day (requests, rate) stored beside the checkpoints.
//! * [`throttle`]: lock-style throttle episodes (Zoho's): shut until the lock ends.

pub mod accounts;
pub mod actor;
pub mod bucket;
pub mod day;
pub mod permit;
pub mod throttle;

pub use accounts::Accounts;
pub use actor::{LimiterState, Priority, RateLimiter};
pub use bucket::{BucketSpec, BucketState};
pub use day::{DayState, QuotaKeeper};
pub use permit::{LimiterGone, LimiterHandle, Permit};
pub use throttle::ThrottleView;
