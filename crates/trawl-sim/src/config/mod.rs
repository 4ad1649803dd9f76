//! What a simulation plays: accounts, plans, volumes, clock, order and faults.
//!
//! The simulator is configured once (TOML for the binary, struct literals for tests) and
//! everything it answers follows from this and the seed, so two runs of one config
//! serve the same records. Only the faults can change while it runs.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod readings;
mod validate;
pub use readings::{
    DateZone, LastPage, LimitHeaders, NoPhone, PageTokens, PagingConfig, VoidMessage, ZohoApi,
    ZohoEnd, ZohoSelect, ZohoThrottle,
};
pub use validate::ConfigError;

/// The whole simulation. Every field has a default, so `SimConfig::default()` plus a
/// few accounts is a working setup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seeds every generated record, token and fault draw.
    pub seed: u64,
    pub clock: ClockConfig,
    /// Lifetime of access tokens (Zoom and Zoho), seconds of simulated time.
    pub token_ttl_secs: u64,
    /// Lifetime of a Zoom `next_page_token`, seconds of simulated time (Zoom: 15 minutes).
    pub page_token_ttl_secs: u64,
    /// Order of records in pages (Zoom; Zoho pages by index time, newest first unless
    /// `oldest_first`).
    pub order: Order,
    /// When true, a new Zoom token invalidates the account's previous ones (the older
    /// staff answers); when false several stay valid (the current docs).
    pub zoom_new_token_revokes_old: bool,
    /// Longest Zoom `from`..`to` span in days. `None` (default): one calendar month,
    /// `to <= from + 1 month`, as in Zoom's own sample (2019-08-14 .. 2019-09-14).
    pub max_range_days: Option<u32>,
    /// Whether Zoom reads `from`/`to` dates as UTC days or as days of the account's zone.
    pub zoom_dates: DateZone,
    /// Zoom page tokens (snapshot or offset) and the shapes of the pages.
    pub paging: PagingConfig,
    /// How Zoho's audit range is read.
    pub zoho: ZohoApi,
    pub zoom_accounts: Vec<ZoomAccount>,
    pub zoho_orgs: Vec<ZohoOrg>,
    /// No rate limits at all (benches). Stats are still counted.
    pub unlimited: bool,
    pub rate_limits: RateLimitConfig,
    pub data: DataConfig,
    pub faults: Faults,
    /// actix worker threads serving HTTP.
    pub workers: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            clock: ClockConfig::default(),
            token_ttl_secs: 3600,
            page_token_ttl_secs: 900,
            order: Order::NewestFirst,
            zoom_new_token_revokes_old: false,
            max_range_days: None,
            zoom_dates: DateZone::Utc,
            paging: PagingConfig::default(),
            zoho: ZohoApi::default(),
            zoom_accounts: Vec::new(),
            zoho_orgs: Vec::new(),
            unlimited: false,
            rate_limits: RateLimitConfig::default(),
            data: DataConfig::default(),
            faults: Faults::default(),
            workers: 2,
        }
    }
}

/// The simulated clock: `now = start + speed * (wall time since start) + advanced`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    /// The simulated instant at start-up; `None` means the wall clock's now.
    pub start: Option<DateTime<Utc>>,
    /// How fast simulated time runs against wall time: 1 = real time, 0 = frozen (only
    /// `advance` moves it; what tests use), 60 = a minute per second.
    pub speed: f64,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            start: None,
            speed: 1.0,
        }
    }
}

/// Order of the records within one paging pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
    /// A shuffle that is stable within one paging pass (Elastic's reading).
    Unordered,
}

/// A Zoom account's plan; it sets the rate limits and whether reports are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Reports answer 400 `{"code":200,"message":"No permission."}` (Pro or higher needed).
    Free,
    #[default]
    Pro,
    /// Business and above.
    #[serde(alias = "business_plus", alias = "enterprise", alias = "education")]
    Business,
}

/// How a Zoom report answers a `from` older than 6 months (both seen in the wild).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HorizonError {
    /// HTTP 300, text/plain "Only provide report in recent 6 months".
    Http300,
    /// HTTP 400, `{"code":300,"message":"Only provide report in recent 6 months"}`.
    #[default]
    Http400,
}

/// One Zoom account with its Server-to-Server OAuth app.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZoomAccount {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub plan: Plan,
    /// Has a Zoom Phone plan; without one the phone report answers 404 code 124.
    pub phone: bool,
    /// Records per simulated day of the account operation logs.
    pub records_per_day: u32,
    /// Records per simulated day of the Phone operation logs.
    pub phone_records_per_day: u32,
    /// Days of history before the clock's start instant that hold records.
    pub history_days: u32,
    /// Share in [0, 1) of the account's quota that other apps consume continuously.
    pub neighbour_share: f64,
    pub horizon_error: HorizonError,
    pub limits: LimitOverrides,
    /// The account's time zone as an offset from UTC, minutes (-720 ..= 840, a multiple of
    /// 15); used when `zoom_dates = "account"`.
    pub utc_offset_minutes: i32,
    /// Another holder of the same app credentials takes a new token every this many
    /// seconds of simulated time, voiding the account's earlier tokens (0 = never).
    pub void_tokens_every_secs: u64,
    /// What the 401 of a voided token says.
    pub void_message: VoidMessage,
    /// Scopes the app lacks (`report:read:admin`, `phone:read:admin`): an endpoint none of
    /// whose scopes the token holds answers 400 code 4711 naming them.
    pub missing_scopes: Vec<String>,
    /// How the Phone report answers while the account has no Zoom Phone.
    pub no_phone: NoPhone,
    /// Dates (`YYYY-MM-DD`, as asked in `from`) whose listing always answers HTTP 200
    /// with a body that does not parse: a date broken for good on the API's side.
    pub poisoned_dates: Vec<String>,
}

impl ZoomAccount {
    /// An account with derived fake credentials (`{id}-client` / `{id}-fake-secret`)
    /// and default volumes; handy for fleets.
    pub fn new(account_id: &str, plan: Plan, phone: bool) -> Self {
        ZoomAccount {
            account_id: account_id.to_string(),
            client_id: format!("{account_id}-client"),
            client_secret: format!("{account_id}-fake-secret"),
            plan,
            phone,
            ..ZoomAccount::default()
        }
    }
}

impl Default for ZoomAccount {
    fn default() -> Self {
        ZoomAccount {
            account_id: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            plan: Plan::Pro,
            phone: false,
            records_per_day: 200,
            phone_records_per_day: 50,
            history_days: 30,
            neighbour_share: 0.0,
            horizon_error: HorizonError::Http400,
            limits: LimitOverrides::default(),
            utc_offset_minutes: 0,
            void_tokens_every_secs: 0,
            void_message: VoidMessage::Invalid,
            missing_scopes: Vec::new(),
            no_phone: NoPhone::NotFound,
            poisoned_dates: Vec::new(),
        }
    }
}

impl fmt::Debug for ZoomAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoomAccount")
            .field("account_id", &self.account_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("plan", &self.plan)
            .field("phone", &self.phone)
            .field("records_per_day", &self.records_per_day)
            .field("phone_records_per_day", &self.phone_records_per_day)
            .field("history_days", &self.history_days)
            .field("neighbour_share", &self.neighbour_share)
            .field("horizon_error", &self.horizon_error)
            .field("limits", &self.limits)
            .field("utc_offset_minutes", &self.utc_offset_minutes)
            .field("void_tokens_every_secs", &self.void_tokens_every_secs)
            .field("void_message", &self.void_message)
            .field("missing_scopes", &self.missing_scopes)
            .field("no_phone", &self.no_phone)
            .finish()
    }
}

/// Replaces the plan table's numbers for one account (e.g. a tiny daily cap in tests).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    pub per_second: Option<f64>,
    pub daily: Option<u64>,
    pub phone_per_second: Option<f64>,
    pub phone_daily: Option<u64>,
}

/// One Zoho Mail organization with its OAuth client and refresh token.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZohoOrg {
    pub zoid: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub records_per_day: u32,
    pub history_days: u32,
    /// Accepted requests per sliding window (`window_secs`, a minute by default) before
    /// the organization is throttled (Zoho publishes none; 30 a minute is the
    /// conservative guess of API_FACTS, the field message says 100 per API in 2 minutes).
    pub requests_per_minute: u32,
    /// The window `requests_per_minute` counts over, in seconds (default 60; the field
    /// shape's "in 2 minutes" is 120).
    pub window_secs: u64,
    /// Once throttled, every request is refused for this long (Zoho's "lock period").
    pub lock_secs: u64,
    /// How a throttled request is answered.
    pub throttle: ZohoThrottle,
    /// Whether a request made during the lock starts the lock over.
    pub lock_extends: bool,
}

impl ZohoOrg {
    /// An org with derived fake credentials.
    pub fn new(zoid: &str) -> Self {
        ZohoOrg {
            zoid: zoid.to_string(),
            client_id: format!("1000.{zoid}"),
            client_secret: format!("{zoid}-fake-secret"),
            refresh_token: format!("1000.{zoid}.fake-refresh"),
            ..ZohoOrg::default()
        }
    }
}

impl Default for ZohoOrg {
    fn default() -> Self {
        ZohoOrg {
            zoid: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            refresh_token: String::new(),
            records_per_day: 100,
            history_days: 30,
            requests_per_minute: 30,
            window_secs: 60,
            lock_secs: 60,
            throttle: ZohoThrottle::Http429,
            lock_extends: false,
        }
    }
}

impl fmt::Debug for ZohoOrg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZohoOrg")
            .field("zoid", &self.zoid)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("records_per_day", &self.records_per_day)
            .field("history_days", &self.history_days)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("window_secs", &self.window_secs)
            .field("lock_secs", &self.lock_secs)
            .field("throttle", &self.throttle)
            .field("lock_extends", &self.lock_extends)
            .finish()
    }
}

/// How `Retry-After` is written on Zoom 429s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterFormat {
    /// Seconds for QPS, the RFC 3339 next 00:00 UTC for daily limits.
    #[default]
    Auto,
    Seconds,
    Rfc3339,
    /// An RFC 3339 instant years ahead (the limit itself still ends when it ends).
    FarFuture,
    /// Text that is neither seconds nor a date.
    Unparseable,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub retry_after: RetryAfterFormat,
    /// Probability that each rate-limit header is left out of a 429 ("any may be missing").
    pub drop_header_rate: f64,
    /// Headers of per-second 429s.
    pub qps_headers: LimitHeaders,
    /// Headers of daily 429s.
    pub daily_headers: LimitHeaders,
}

/// Shape of the generated data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Share of records that are an exact copy of another in the same second (Zoom).
    pub duplicate_share: f64,
    /// Share of records that become visible minutes to hours after their `time`.
    pub late_share: f64,
    /// Longest delay of a late record, minutes.
    pub late_max_minutes: u32,
    /// Zoho: a record is indexed (and becomes visible) up to this many milliseconds
    /// after its `requestTime`, drawn per record.
    pub index_delay_ms: u32,
    /// Share of records always served with a time no client can read (Zoom `time`, Zoho
    /// `requestTime`): records that do not parse. The ground truth holds them so too.
    pub unparseable_share: f64,
    /// Share of records served with a padding field (`sim_padding`) of
    /// `oversized_bytes` characters: records too large for Kafka's default message
    /// size once normalized. The ground truth holds them so too.
    pub oversized_share: f64,
    pub oversized_bytes: u32,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            duplicate_share: 0.03,
            late_share: 0.02,
            late_max_minutes: 360,
            index_delay_ms: 0,
            unparseable_share: 0.0,
            oversized_share: 0.0,
            oversized_bytes: 1_200_000,
        }
    }
}

/// Faults injected into API answers (the token endpoints too when `include_oauth`).
/// Rates are probabilities per request in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// 500/502/503/504 with a JSON body.
    pub server_error_rate: f64,
    /// 502/503 with an HTML page (a proxy in front of the API).
    pub html_error_rate: f64,
    /// HTTP 200 with a truncated or wrong-shape JSON body.
    pub malformed_rate: f64,
    /// The connection closes without a complete answer.
    pub dropped_connection_rate: f64,
    /// The body trickles out in chunks `slow_body_chunk_delay_ms` apart.
    pub slow_body_rate: f64,
    pub slow_body_chunk_delay_ms: u64,
    /// Fixed latency added to every answer, wall-clock milliseconds.
    pub latency_ms: u64,
    /// Random extra latency: its bound (uniform) or mean (exponential), milliseconds.
    pub jitter_ms: u64,
    pub jitter: Jitter,
    pub include_oauth: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            server_error_rate: 0.0,
            html_error_rate: 0.0,
            malformed_rate: 0.0,
            dropped_connection_rate: 0.0,
            slow_body_rate: 0.0,
            slow_body_chunk_delay_ms: 300,
            latency_ms: 0,
            jitter_ms: 0,
            jitter: Jitter::Uniform,
            include_oauth: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    #[default]
    Uniform,
    Exponential,
}
