//! Zoom Phone system operation logs: `GET {api_base}/v2/phone/reports/operationlogs`.
//!
//! Older docs allow `from`/`to` as datetimes (`yyyy-MM-ddTHH:mm:ssZ`), newer ones list
//! only dates. The first request of a stream tries the datetime form; if the API refuses
//! it (HTTP 400), the stream falls back to dates for good (remembered per source) and the
//! scan restarts. An account without a Zoom Phone plan answers 404 with code 124
//! "Account does not exist": that is [`SourceError::NotEnabled`], so the engine turns
//! the stream off instead of retrying it forever.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use trawl_model::{StreamKey, Window};

use super::operation_logs::date_range;
use super::ZoomCommon;
use crate::auth::BoxFuture;
use crate::classify::{api_code, api_message, AuthStrikes};
use crate::error::SourceError;
use crate::http::Answer;
use crate::limits::LimitKey;
use crate::scan::{Driver, Fetch, Fetched, WindowScan};
use crate::source::Source;

pub const PATH: &str = "v2/phone/reports/operationlogs";

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
    fn special(&self, answer: &Answer, form: TimeForm) -> Option<Result<Fetch, SourceError>> {
        let status = answer.status;
        if !(400..500).contains(&status) || status == 401 || status == 429 {
            return None;
        }
        let code = api_code(&answer.body);
        let message = api_message(&answer.body).unwrap_or_default();
        let lower = message.to_ascii_lowercase();
        let no_phone = (status == 404 && (code == Some(124) || lower.contains("does not exist")))
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
                return Some(Ok(Fetch::Restart {
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

impl Source for ZoomPhoneOperationLogs {
    fn stream(&self) -> &StreamKey {
        &self.common.stream
    }

    fn limit_key(&self) -> LimitKey {
        LimitKey::ZOOM_PHONE_HEAVY
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
                form: None,
                strikes: AuthStrikes::default(),
            }),
        )
    }
}

/// The `from`/`to` pair of `w` in `form`.
pub fn time_range(w: Window, form: TimeForm) -> (String, String) {
    match form {
        TimeForm::Dates => date_range(w),
        TimeForm::DateTime => (
            w.start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            w.end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
    }
}

struct Pager {
    source: Arc<ZoomPhoneOperationLogs>,
    cursor: Option<String>,
    /// The form the current cursor was issued under.
    form: Option<TimeForm>,
    strikes: AuthStrikes,
}

impl Driver for Pager {
    fn fetch<'a>(&'a mut self, window: Window, now: DateTime<Utc>) -> BoxFuture<'a, Fetched> {
        Box::pin(async move {
            let form = match (self.cursor.is_some(), self.form) {
                (true, Some(f)) => f,
                _ => self.source.time_form(),
            };
            let (from, to) = time_range(window, form);
            let source = self.source.clone();
            let special = move |a: &Answer| source.special(a, form);
            let fetched = self
                .source
                .common
                .fetch(
                    PATH,
                    vec![("from", from), ("to", to)],
                    &mut self.cursor,
                    &mut self.strikes,
                    now,
                    &special,
                )
                .await;
            if let Ok(Fetch::Page { .. }) = &fetched.result {
                self.form = Some(form);
                if form == TimeForm::DateTime {
                    let _ = self.source.form.compare_exchange(
                        UNTRIED,
                        DATETIME,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                }
            }
            fetched
        })
    }

    fn reset(&mut self) {
        self.cursor = None;
        self.form = None;
    }
}
