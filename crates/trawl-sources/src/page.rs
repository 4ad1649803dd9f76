//! One page body to events, with no HTTP: the parse, normalize and id steps a
//! [`WindowScan`](crate::WindowScan) applies to a 2xx answer, for benches and tools that
//! already hold a body.
//!
//! The scan's other duties (keeping only records inside the window, early stop, page
//! cursors) are left out: every record of the page becomes an event, with ids from a
//! fresh occurrence counter, as on the first page of a scan.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use trawl_model::{Event, OccurrenceCounter, SourceKind, StreamKey};

use crate::error::SourceError;
use crate::http::Answer;
use crate::scan::to_event;

/// Parses and normalizes one page `body` of `stream`'s API into events observed at
/// `observed_at`. A body that does not parse is [`SourceError::Malformed`], as in a scan.
pub fn parse_page(
    stream: &StreamKey,
    body: String,
    observed_at: DateTime<Utc>,
) -> Result<Vec<Event>, SourceError> {
    let scope = format!("tenant {}, source {}", stream.tenant, stream.source);
    let answer = Answer {
        status: 200,
        headers: HeaderMap::new(),
        body,
    };
    let records = match stream.source {
        SourceKind::ZoomOperationLogs | SourceKind::ZoomPhoneOperationLogs => {
            crate::zoom::parse_page(&answer, &scope)?.0
        }
        SourceKind::ZohoMailAudit => crate::zoho::mail_audit::parse_page(&answer, &scope)?.0,
    };
    let mut counter = OccurrenceCounter::new();
    Ok(records
        .into_iter()
        .map(|r| to_event(stream, &mut counter, r, observed_at))
        .collect())
}
