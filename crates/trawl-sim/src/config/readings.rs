//! The readings the vendors' documents leave open, as switches, so that trawl can be
//! shown to deliver every record under each of them (see "Reported in the field" in
//! API_FACTS). Each switch changes only how the simulator *answers*; the records it holds
//! (and so its ground truth) are the same under every reading.

use serde::{Deserialize, Serialize};

/// How Zoom reads the `from`/`to` dates of its reports (instants, which the Phone report
/// also takes, are UTC under both readings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateZone {
    /// A date is the UTC day.
    #[default]
    Utc,
    /// A date is the day in the account's time zone (`utc_offset_minutes`): at UTC+13,
    /// `2026-03-10` is 2026-03-09T11:00Z .. 2026-03-10T11:00Z.
    Account,
}

/// What a Zoom `next_page_token` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageTokens {
    /// It pins the list as it was at the first page: records arriving while a client
    /// pages are not seen by that pass.
    #[default]
    Snapshot,
    /// It is an offset into the list as it is at each request: a record arriving before
    /// the offset pushes the others down, so the last records of a page show again at
    /// the top of the next one (newest first: every new record does it).
    Offset,
}

/// How the last page of a Zoom listing says that it is the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LastPage {
    /// `""`, absent or `null`, depending on the query.
    #[default]
    Mixed,
    Empty,
    Absent,
    Null,
    /// The last page with records still carries a token; the page it leads to is empty
    /// and has none.
    Dangling,
}

/// Paging shapes of the Zoom reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagingConfig {
    pub tokens: PageTokens,
    pub last_page: LastPage,
    /// Share in [0, 1] of pages served with no records but with a token that leads to
    /// the same place (the records come on the next page).
    pub empty_page_rate: f64,
    /// From the Nth page of a listing on (1 = the first), the answer's
    /// `next_page_token` is the token it was asked with: a loop. 0 = never.
    pub loop_after_pages: u32,
    /// Zoom's silent page-size cap (its pagination guide: heavy retrievals return up to
    /// 30, 50 or 100 items a page, whatever `page_size` asks): a page holds at most this
    /// many records while the answer's `page_size` still echoes what was asked.
    /// `None`: the asked size (at most 300).
    pub page_size_cap: Option<u32>,
}

impl Default for PagingConfig {
    fn default() -> Self {
        PagingConfig {
            tokens: PageTokens::Snapshot,
            last_page: LastPage::Mixed,
            empty_page_rate: 0.0,
            loop_after_pages: 0,
            page_size_cap: None,
        }
    }
}

/// Which clock Zoho's `startTime`/`endTime` select on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZohoSelect {
    /// The record's `requestTime`.
    #[default]
    RequestTime,
    /// The time the record was indexed (what `lastIndexTime` counts): a record indexed
    /// late is answered for the window of its index time, not of its `requestTime`.
    IndexTime,
}

/// Whether Zoho's `endTime` is part of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZohoEnd {
    #[default]
    Inclusive,
    Exclusive,
}

/// Readings of Zoho's audit range parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZohoApi {
    pub select_on: ZohoSelect,
    pub end_time: ZohoEnd,
}

/// How Zoho answers a throttled organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZohoThrottle {
    /// HTTP 429 in the Mail envelope (`TOO_MANY_REQUESTS`).
    #[default]
    Http429,
    /// HTTP 400 with `{"error":{"code":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED",..}}`, the
    /// lock time only in the message ("... Try again after 22 minutes.").
    Http400,
    /// The same body with HTTP 200.
    Http200,
    /// The shape captured in the field: HTTP 400, the code in `title`, the limit and the
    /// lock only in `details.message` ("Cannot execute more than 100 requests per API in
    /// 2 minutes. Try again after 22 minutes.").
    Field,
}

/// The text of Zoom's 401 (code 124) for a token another holder voided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidMessage {
    /// "Invalid access token."
    #[default]
    Invalid,
    /// "Access token is expired."
    Expired,
    /// One or the other, by token.
    Mixed,
}

/// How the Phone report answers an account without Zoom Phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoPhone {
    /// HTTP 404, code 124 "Account does not exist."
    #[default]
    NotFound,
    /// HTTP 403, code 2031 "Zoom Phone has not been enabled for this account."
    Forbidden,
    /// HTTP 400, code 300 "Account is not enrolled in Zoom Phone."
    NotEnrolled,
}

/// Which rate-limit headers a 429 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitHeaders {
    /// Category, type, limit, remaining and `Retry-After`.
    #[default]
    All,
    /// No `X-RateLimit-Type` and no `Retry-After` (daily 429s seen so).
    Bare,
    /// Like `Bare`, with the `X-RateLimit-Remaining` of another limit (a number > 0).
    ForeignRemaining,
    /// No rate-limit header at all (per-second 429s seen so).
    None,
}
