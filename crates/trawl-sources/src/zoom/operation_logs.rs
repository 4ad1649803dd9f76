//! Zoom account operation logs: `GET {api_base}/v2/report/operationlogs`.
//!
//! The endpoint takes whole dates (`from`, `to`, both inclusive), so a window becomes the
//! dates covering it and the scan keeps only the records inside the window. Pages of up
//! to 300 records, `category_type` from the tenant's settings, `next_page_token` paging
//! (tokens expire after 15 minutes: the scan starts the window over).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use trawl_model::{StreamKey, Window};

use super::{no_special, ZoomCommon};
use crate::auth::BoxFuture;
use crate::classify::AuthStrikes;
use crate::limits::LimitKey;
use crate::scan::{Driver, Fetched, WindowScan};
use crate::source::Source;

pub const PATH: &str = "v2/report/operationlogs";

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

/// The `from` and `to` dates (`yyyy-mm-dd`, both inclusive) covering `w`.
pub fn date_range(w: Window) -> (String, String) {
    let last = w.end - Duration::seconds(1);
    (
        w.start.format("%Y-%m-%d").to_string(),
        last.max(w.start).format("%Y-%m-%d").to_string(),
    )
}

impl Source for ZoomOperationLogs {
    fn stream(&self) -> &StreamKey {
        &self.common.stream
    }

    fn limit_key(&self) -> LimitKey {
        LimitKey::ZOOM_HEAVY
    }

    fn scan(self: Arc<Self>, window: Window) -> WindowScan {
        WindowScan::new(
            self.common.stream.clone(),
            window,
            self.max_window(),
            self.retention(),
            Box::new(Pager {
                source: self,
                cursor: None,
                strikes: AuthStrikes::default(),
            }),
        )
    }
}

struct Pager {
    source: Arc<ZoomOperationLogs>,
    cursor: Option<String>,
    strikes: AuthStrikes,
}

impl Driver for Pager {
    fn fetch<'a>(&'a mut self, window: Window, now: DateTime<Utc>) -> BoxFuture<'a, Fetched> {
        Box::pin(async move {
            let (from, to) = date_range(window);
            let category = self
                .source
                .category_type
                .clone()
                .unwrap_or_else(|| "all".to_string());
            let query = vec![("from", from), ("to", to), ("category_type", category)];
            self.source
                .common
                .fetch(
                    PATH,
                    query,
                    &mut self.cursor,
                    &mut self.strikes,
                    now,
                    &no_special,
                )
                .await
        })
    }

    fn reset(&mut self) {
        self.cursor = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_cover_the_window() {
        let t = |d, h| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        let w = Window::new(t(1, 0), t(2, 0)).unwrap();
        assert_eq!(date_range(w), ("2026-03-01".into(), "2026-03-01".into()));
        let w = Window::new(t(1, 12), t(3, 6)).unwrap();
        assert_eq!(date_range(w), ("2026-03-01".into(), "2026-03-03".into()));
        let w = Window::new(t(1, 0), t(31, 0)).unwrap();
        assert_eq!(date_range(w), ("2026-03-01".into(), "2026-03-30".into()));
    }
}
