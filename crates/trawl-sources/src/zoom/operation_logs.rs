//! Zoom account operation logs: `GET {api_base}/v2/report/operationlogs`.
//!
//! The endpoint takes whole dates (`from`, `to`, both inclusive), read in UTC or in the
//! account's zone (nobody says which): a window is asked as the dates it spans, with
//! neighbouring dates when its edges are not proven covered (`super::dates`), and the
//! scan keeps only the records inside the window. Pages of up to 300 records,
//! `category_type` from the tenant's settings, `next_page_token` paging (tokens expire
//! after 15 minutes: the scan starts the window over).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use trawl_model::{StreamKey, Window};

use super::pages::{date_range, LogEndpoint, LogPages, Range};
use super::{no_special, Answered, ZoomCommon};
use crate::error::SourceError;
use crate::http::Answer;
use crate::limits::LimitKey;
use crate::scan::WindowScan;
use crate::source::Source;

pub const PATH: &str = "v2/report/operationlogs";
/// The granular scope and the classic one; either opens the report.
pub const SCOPES: &[&str] = &["report:read:operation_logs:admin", "report:read:admin"];

/// The account operation logs of one Zoom tenant.
pub struct ZoomOperationLogs {
    common: ZoomCommon,
    category_type: Option<String>,
}

impl ZoomOperationLogs {
    pub(crate) fn new(common: ZoomCommon, category_type: Option<String>) -> Self {
        Self {
            common,
            category_type,
        }
    }
}

/// `from`/`to` of a listing.
pub(crate) fn from_to(range: Range) -> (String, String) {
    match range {
        Range::Dates(f, l) => (
            f.format("%Y-%m-%d").to_string(),
            l.format("%Y-%m-%d").to_string(),
        ),
        Range::Instants(w) => (
            w.start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            w.end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
    }
}

impl LogEndpoint for ZoomOperationLogs {
    fn common(&self) -> &ZoomCommon {
        &self.common
    }

    fn path(&self) -> &'static str {
        PATH
    }

    fn range_for(&self, piece: Window, now: DateTime<Utc>) -> Range {
        date_range(&self.common, piece, now)
    }

    fn query(&self, range: Range) -> Vec<(&'static str, String)> {
        let (from, to) = from_to(range);
        let category = self
            .category_type
            .clone()
            .unwrap_or_else(|| "all".to_string());
        vec![("from", from), ("to", to), ("category_type", category)]
    }

    fn special(&self, answer: &Answer, _: Range) -> Option<Result<Answered, SourceError>> {
        no_special(answer)
    }
}

impl Source for ZoomOperationLogs {
    fn stream(&self) -> &StreamKey {
        &self.common.stream
    }

    fn limit_key(&self) -> LimitKey {
        LimitKey::ZOOM_HEAVY
    }

    fn day_offset(&self) -> Duration {
        self.common.day_offset()
    }

    fn day_offset_known(&self) -> bool {
        self.common.day_offset_known()
    }

    fn scopes(&self) -> &'static [&'static str] {
        SCOPES
    }

    fn scan(self: Arc<Self>, window: Window) -> WindowScan {
        WindowScan::new(
            self.common.stream.clone(),
            window,
            self.max_window(),
            self.retention(),
            Box::new(LogPages::new(self)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    #[test]
    fn listings_ask_dates_or_instants() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            from_to(Range::Dates(d("2026-03-01"), d("2026-03-03"))),
            ("2026-03-01".into(), "2026-03-03".into())
        );
        let t = |h| Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap();
        assert_eq!(
            from_to(Range::Instants(Window::new(t(1), t(2)).unwrap())),
            ("2026-03-01T01:00:00Z".into(), "2026-03-01T02:00:00Z".into())
        );
    }
}
