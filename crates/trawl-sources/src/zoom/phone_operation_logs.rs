//! Zoom Phone system operation logs: `GET {api_base}/v2/phone/reports/operationlogs`.
//!
//! Older docs allow `from`/`to` as datetimes (`yyyy-MM-ddTHH:mm:ssZ`), newer ones list
//! only dates. The first request of a stream tries the datetime form; if the API refuses
//! it (HTTP 400), the stream falls back to dates for good (remembered per source) and the
//! scan restarts; dates are then asked as the account report's are (`super::dates`). An
//! account without a Zoom Phone plan has been seen to answer 404 code 124 "Account does
//! not exist", 403 code 2031 "Zoom Phone has not been enabled for this account" and 400
//! code 300 "not enrolled": each is [`SourceError::NotEnabled`], so the engine turns the
//! stream off instead of retrying it in a loop.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use trawl_model::{StreamKey, Window};

use super::operation_logs::from_to;
use super::pages::{date_range, LogEndpoint, LogPages, Range};
use super::{Answered, ZoomCommon};
use crate::classify::{api_code, api_message};
use crate::error::SourceError;
use crate::http::Answer;
use crate::limits::LimitKey;
use crate::scan::WindowScan;
use crate::source::Source;

pub const PATH: &str = "v2/phone/reports/operationlogs";
/// The granular scope and the classic one; either opens the report.
pub const SCOPES: &[&str] = &["phone:read:operation_logs:admin", "phone:read:admin"];

const UNTRIED: u8 = 0;
const DATETIME: u8 = 1;
const DATES: u8 = 2;

/// How `from`/`to` are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeForm {
    DateTime,
    Dates,
}

/// The Phone operation logs of one Zoom tenant.
pub struct ZoomPhoneOperationLogs {
    common: ZoomCommon,
    /// UNTRIED, DATETIME (accepted once) or DATES (datetime refused).
    form: AtomicU8,
}

impl ZoomPhoneOperationLogs {
    pub(crate) fn new(common: ZoomCommon) -> Self {
        Self {
            common,
            form: AtomicU8::new(UNTRIED),
        }
    }

    /// The form the next scan starts with.
    pub fn time_form(&self) -> TimeForm {
        if self.form.load(Ordering::SeqCst) == DATES {
            TimeForm::Dates
        } else {
            TimeForm::DateTime
        }
    }

    /// The answers only this endpoint gives: no Phone plan, and datetime refused.
    fn special_answer(
        &self,
        answer: &Answer,
        form: TimeForm,
    ) -> Option<Result<Answered, SourceError>> {
        let status = answer.status;
        if !(400..500).contains(&status) || status == 401 || status == 429 {
            return None;
        }
        let code = api_code(&answer.body);
        let message = api_message(&answer.body).unwrap_or_default();
        let lower = message.to_ascii_lowercase();
        let no_phone = (status == 404 && (code == Some(124) || lower.contains("does not exist")))
            || (status == 403 && code == Some(2031))
            || lower.contains("not enrolled")
            || (lower.contains("phone")
                && (lower.contains("not enabled")
                    || lower.contains("not been enabled")
                    || lower.contains("no zoom phone")
                    || lower.contains("not subscribed")));
        if no_phone {
            return Some(Err(SourceError::not_enabled(format!(
                "{}: the account has no Zoom Phone plan (Zoom answered HTTP {status}{}: \
                 {message}); the phone operation log stream is turned off",
                self.common.scope,
                code.map(|c| format!(" code {c}")).unwrap_or_default(),
            ))));
        }
        let about_other = lower.contains("token") || lower.contains("month") || code == Some(200);
        if status == 400 && form == TimeForm::DateTime && !about_other {
            let first = self
                .form
                .compare_exchange(UNTRIED, DATES, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
            if first || self.form.load(Ordering::SeqCst) == DATES {
                return Some(Ok(Answered::Restart {
                    reason: format!(
                        "{}: the API refused datetime from/to ({message}); using dates from now on",
                        self.common.scope
                    ),
                }));
            }
        }
        None
    }
}

impl LogEndpoint for ZoomPhoneOperationLogs {
    fn common(&self) -> &ZoomCommon {
        &self.common
    }

    fn path(&self) -> &'static str {
        PATH
    }

    fn range_for(&self, piece: Window, now: DateTime<Utc>) -> Range {
        match self.time_form() {
            TimeForm::DateTime => Range::Instants(piece),
            TimeForm::Dates => date_range(&self.common, piece, now),
        }
    }

    fn query(&self, range: Range) -> Vec<(&'static str, String)> {
        let (from, to) = from_to(range);
        vec![("from", from), ("to", to)]
    }

    fn special(&self, answer: &Answer, range: Range) -> Option<Result<Answered, SourceError>> {
        let form = match range {
            Range::Instants(_) => TimeForm::DateTime,
            Range::Dates(..) => TimeForm::Dates,
        };
        self.special_answer(answer, form)
    }

    fn accepted(&self, range: Range) {
        if let Range::Instants(_) = range {
            let _ =
                self.form
                    .compare_exchange(UNTRIED, DATETIME, Ordering::SeqCst, Ordering::SeqCst);
        }
    }
}

impl Source for ZoomPhoneOperationLogs {
    fn stream(&self) -> &StreamKey {
        &self.common.stream
    }

    fn limit_key(&self) -> LimitKey {
        LimitKey::ZOOM_PHONE_HEAVY
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
