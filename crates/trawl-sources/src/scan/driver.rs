//! What a scan and its API-specific driver exchange: the driver's pages of parsed
//! records (and of records that did not parse), what they say about the listing they
//! come from, and the [`Driver`] trait itself. Public, so that a scripted driver can stand
//! in for an API in the engine's tests.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde_json::Value;
use trawl_model::{Outcome, StreamKey, Window};

use super::HttpExchange;
use crate::error::SourceError;

/// The future a [`Driver`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A record that did not parse, as the API sent it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Names the tenant, the source and what was wrong.
    pub reason: String,
    /// The record's JSON text.
    pub raw: String,
}

/// A record that did not parse, as a scan hands it back: with an id of its own, stable
/// across re-reads of its window and distinct for each of several identical ones (like an
/// event id, and never equal to one), so each is dead-lettered once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    pub reason: String,
    pub raw: String,
    pub id: trawl_model::EventId,
}

/// Ids of rejected records: identical texts counted per scan, as event ids count
/// identical records; the occurrence index is offset far beyond any real one.
#[derive(Debug, Default)]
pub(crate) struct RejectedIds(std::collections::HashMap<String, u32>);

impl RejectedIds {
    pub(crate) fn assign(&mut self, stream: &StreamKey, r: Rejected) -> RejectedRecord {
        let n = self.0.entry(r.raw.clone()).or_insert(0);
        let occurrence = u32::MAX - *n;
        *n += 1;
        RejectedRecord {
            id: trawl_model::EventId::compute_canonical(stream, r.raw.as_bytes(), occurrence),
            reason: r.reason,
            raw: r.raw,
        }
    }
}

/// The normalized fields of one record, before it gets its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub actor: Option<String>,
    pub action: String,
    pub category: Option<String>,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub outcome: Outcome,
    pub client_ip: Option<String>,
}

/// One record as parsed from a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub time: DateTime<Utc>,
    pub raw: Value,
    pub fields: Fields,
}

/// How a page relates to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follows {
    /// The first page of a listing whose next pages may shift under their tokens.
    First,
    /// The next page of the same listing, by a token that may be an offset into a list
    /// that grows; `total` is the list's size if the API says it (Phone).
    Offset { total: Option<u64> },
    /// A page of a listing whose cursor cannot shift (Zoho's keyset): never compared.
    Keyset,
}

/// What the records of a page that lie outside the piece asked for are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// Records of neighbouring windows (whole dates): their own scans answer them.
    Neighbours,
    /// Records before the window are answered only here (index time): late.
    Late,
}

/// One page as a driver fetched it.
#[derive(Debug)]
pub struct DriverPage {
    /// The records in API order.
    pub records: Vec<Record>,
    pub rejected: Vec<Rejected>,
    /// Whether the piece needs another request.
    pub more: bool,
    pub follows: Follows,
    pub outside: Outside,
    /// The answer to [`Driver::repeat_previous`].
    pub repeat: bool,
}

/// What one driver request came to.
#[derive(Debug)]
pub enum Fetch {
    Page(DriverPage),
    /// Start the current window over (cursor dropped, counter reset).
    Restart {
        reason: String,
    },
    /// The API refuses to go this far back.
    Horizon {
        reason: String,
    },
    /// Nothing to read; call again (e.g. the access token was voided and is refreshed).
    Again {
        reason: String,
    },
}

pub struct Fetched {
    pub result: Result<Fetch, SourceError>,
    pub exchange: Option<HttpExchange>,
}

/// The API-specific half of a scan: asks for the next page of a piece of the window,
/// keeping its own cursor.
pub trait Driver: Send {
    /// One request for `piece`.
    fn fetch<'a>(&'a mut self, piece: Window, now: DateTime<Utc>) -> BoxFuture<'a, Fetched>;
    /// The scan needs nothing more of the current listing (the order is proven and its
    /// records are past the piece); returns whether the piece still needs a request.
    fn skip_listing(&mut self) -> bool {
        false
    }
    /// Makes the next `fetch` ask for the page before the last one again (its page
    /// marked `repeat`), without moving the cursor; `false` when the driver cannot.
    fn repeat_previous(&mut self) -> bool {
        false
    }
    /// Forgets the cursor: the piece starts over.
    fn reset(&mut self);
}
