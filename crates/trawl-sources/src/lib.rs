//! trawl's sources: the three vendor APIs as plain async code the engine drives.
//!
//! Each API is one module (`zoom::operation_logs`, `zoom::phone_operation_logs`,
//! `zoho::mail_audit`) that turns a [`Window`](trawl_model::Window) into page requests,
//! authenticates with the tenant's shared [`TokenCache`], classifies every answer
//! ([`SourceError`]) and normalizes records into `trawl.audit.v1` events. The shared
//! walk through a window (filtering, early stop, restarts, the retention horizon) lives
//! in [`scan`]. Nothing here spawns tasks or sleeps: the engine owns pacing, retries and
//! rate limiting, and takes one permit per [`WindowScan::next_page`].

pub mod auth;
mod classify;
pub mod client;
pub mod error;
mod http;
pub mod limits;
mod normalize;
pub mod page;
pub mod scan;
pub mod source;
pub mod zoho;
pub mod zoom;

pub use auth::{AccessToken, TokenCache, ZohoCredentials, ZoomCredentials};
pub use client::HttpClient;
pub use error::{LimitType, RateLimitInfo, RetryAfter, SourceError};
pub use limits::{plan_limits, ApiFamily, LimitKey, Limits};
pub use page::parse_page;
pub use scan::{HttpExchange, PageResult, ScanStep, WindowScan};
pub use source::{build_source, Source, SourceAccess, SourceSettings};
pub use zoho::DataCenter;

#[cfg(test)]
mod test_support;
