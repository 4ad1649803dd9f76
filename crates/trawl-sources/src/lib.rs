//! trawl's sources: the three vendor APIs as plain async code the engine drives.
//!
//! Each API is one module (`zoom::operation_logs`, `zoom::phone_operation_logs`,
//! `zoho::mail_audit`) that turns a [`Window`](trawl_model::Window) into page requests,
//! authenticates with the tenant's shared [`TokenCache`], classifies every answer
//! ([`SourceError`]) and normalizes records into `trawl.audit.v1` events. The shared
//! walk through a window (filtering, early stop, restarts, the retention horizon) lives
//! in [`scan`]. Nothing here spawns tasks or sleeps: the engine owns pacing, retries and
//! rate limiting, and takes one permit per [`WindowScan::next_page`]. The page parsers
//! are reached from outside through [`normalize_page`] alone.

pub mod access;
pub mod auth;
mod classify;
pub mod client;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod http;
pub mod limits;
mod normalize;
pub mod page;
pub mod scan;
pub mod source;
pub mod zoho;
pub mod zoom;

pub use access::{AccountKey, TenantAccess};
pub use auth::{AccessToken, TokenCache, ZohoCredentials, ZoomCredentials};
pub use classify::{known_label, pause_cap, KNOWN_LABELS};
pub use client::HttpClient;
pub use error::{
    Cause, LimitType, RateLimitInfo, RetryAfter, RetryAfterIssue, SourceError, StatedLimit,
    Throttle,
};
pub use limits::{plan_rate_limits, ApiFamily, LimitKey, RateLimits};
pub use page::{normalize_page, PageEvents};
pub use scan::{HttpExchange, PageResult, Rejected, RejectedRecord, ScanStep, WindowScan};
pub use source::{build_source, Source, SourceAccess, SourceSettings};
pub use zoho::DataCenter;

#[cfg(test)]
mod test_support;
