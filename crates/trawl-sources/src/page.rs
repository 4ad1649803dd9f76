//! One page body to events, with no HTTP: the parse, normalize and id steps a
//! [`WindowScan`](crate::WindowScan) applies to a 2xx answer, for benches and tools that
//! already hold a body. The one entry point to the page parsers.
//!
//! The scan's other duties (keeping only records inside the window, early stop, page
//! cursors, records seen twice across pages) are left out: every record of the page
//! becomes an event, with ids from a fresh occurrence counter, as on the first page of a
//! scan.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use trawl_model::{Event, OccurrenceCounter, RawJson, SourceKind, StreamKey};

use crate::error::SourceError;
use crate::http::Answer;
use crate::scan::{to_event, Record, Rejected, RejectedIds, RejectedRecord};

/// A page's events and the records of it that did not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct PageEvents {
    pub events: Vec<Event>,
    pub rejected: Vec<RejectedRecord>,
}

/// Parses and normalizes one page `body` of `stream`'s API into events observed at
/// `observed_at`. A body that does not parse as a page is [`SourceError::Malformed`], as
/// in a scan; a record that does not parse is in `rejected`, with why.
pub fn normalize_page(
    stream: &StreamKey,
    body: String,
    observed_at: DateTime<Utc>,
) -> Result<PageEvents, SourceError> {
    let scope = format!("tenant {}, source {}", stream.tenant, stream.source);
    let answer = Answer {
        status: 200,
        headers: HeaderMap::new(),
        body,
    };
    let (records, rejected): (Vec<Record>, Vec<Rejected>) = match stream.source {
        SourceKind::ZoomOperationLogs | SourceKind::ZoomPhoneOperationLogs => {
            let p = crate::zoom::read_log_page(&answer, &scope)?;
            (p.records, p.rejected)
        }
        SourceKind::ZohoMailAudit => {
            let p = crate::zoho::mail_audit::read_audit_page(&answer, &scope)?;
            (p.records, p.rejected)
        }
    };
    let mut ids = RejectedIds::default();
    let rejected = rejected
        .into_iter()
        .map(|r| ids.assign(stream, r))
        .collect();
    let mut counter = OccurrenceCounter::new();
    let events = records
        .into_iter()
        .map(|r| {
            let raw = RawJson::from_value(&r.raw);
            to_event(stream, &mut counter, r, raw, observed_at)
        })
        .collect();
    Ok(PageEvents { events, rejected })
}
