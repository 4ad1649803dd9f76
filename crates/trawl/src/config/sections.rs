//! The small sections: `[server]`, `[http]`, `[checkpoints]`, `[defaults]` and `[metrics]`.
//!
//! `[defaults]` and a tenant's overrides share one reader ([`stream_settings`]) so a
//! rule about, say, the backfill depth is checked the same way in both places, each
//! time with the path of the field that broke it.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use trawl_engine::config::{CheckpointSettings, MetricsSettings, StreamSettings, MAX_BACKFILL};
use trawl_sources::HttpClient;

use super::error::Problems;
use super::fields::{or, show_duration, Table};
use super::secrets::secret;

/// `[server]`: where the HTTP endpoints listen, and who may read `/status`.
#[derive(Clone)]
pub struct ServerSettings {
    /// `/metrics`, `/healthz`, `/readyz`, `/status`.
    pub listen: SocketAddr,
    /// `status_token`: the bearer token `/status` requires. Without one, `/status` is
    /// served only on a loopback listener.
    pub status_token: Option<SecretString>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            status_token: None,
        }
    }
}

/// Shows whether a token is set, never the token.
impl fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSettings")
            .field("listen", &self.listen)
            .field(
                "status_token",
                &self.status_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Equal listeners and equal tokens (compared by value: a reload sees a rotated token).
impl PartialEq for ServerSettings {
    fn eq(&self, other: &Self) -> bool {
        let token = |s: &Self| {
            s.status_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned())
        };
        self.listen == other.listen && token(self) == token(other)
    }
}

pub(crate) const SERVER_KEYS: &[&str] = &["listen", "status_token"];
pub(crate) const HTTP_KEYS: &[&str] = &["max_body_bytes"];

/// The bounds of `http.max_body_bytes`: 64 KiB (the smallest a full page needs) to 1 GiB.
const MIN_BODY: i128 = 64 * 1024;
const MAX_BODY: i128 = 1 << 30;

/// The bounds of `poll_interval`: a poll a second at most, a day apart at least.
const MIN_POLL: Duration = Duration::from_secs(1);
const MAX_POLL: Duration = Duration::from_secs(24 * 3600);

/// The most backfill windows of one stream in flight.
const MAX_WINDOWS: usize = 64;

/// The smallest `quota_share`: a thousandth of the account's quota.
const MIN_QUOTA_SHARE: f64 = 0.001;
pub(crate) const CHECKPOINTS_KEYS: &[&str] = &["store", "dir"];
pub(crate) const METRICS_KEYS: &[&str] = &["tenant_label"];
/// Keys of `[defaults]`, also allowed in a tenant as overrides.
pub(crate) const STREAM_KEYS: &[&str] = &[
    "poll_interval",
    "backfill",
    "lookback",
    "quota_share",
    "max_concurrent_windows",
    "disabled_recheck",
    "recheck",
    "gap_retry",
];

/// Bounds of `gap_retry`: not so often that a date broken for good eats the quota, not so
/// rarely that a fixed one waits past the API's retention.
const MIN_GAP_RETRY: Duration = Duration::from_secs(60);
const MAX_GAP_RETRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Bounds of `disabled_recheck`: often enough to notice a bought plan, rarely enough
/// not to spend the account's quota on an API it does not have.
const MIN_DISABLED_RECHECK: Duration = Duration::from_secs(1);
const MAX_DISABLED_RECHECK: Duration = Duration::from_secs(30 * 24 * 3600);

pub(crate) fn server(t: Option<Table<'_>>, p: &mut Problems) -> ServerSettings {
    let mut s = ServerSettings::default();
    let Some(t) = t else { return s };
    s.status_token = secret(&t, "status_token", p).ok().flatten();
    if let Ok(Some(listen)) = t.string("listen", p) {
        match listen.parse() {
            Ok(addr) => s.listen = addr,
            Err(_) => {
                p.error(
                    t.at("listen"),
                    format!(
                        "{listen:?} is not a socket address; write an IP address and a port, \
                         e.g. \"127.0.0.1:9090\" or \"[::]:9090\""
                    ),
                );
            }
        }
    }
    if s.status_token.is_none() && !s.listen.ip().is_loopback() {
        p.warn(
            t.at("listen"),
            "is not a loopback address and [server] status_token is not set: /status (the \
             tenants and their errors) answers 403 until a token is set; /metrics, /healthz \
             and /readyz stay open",
        );
    }
    s
}

/// `[http]`: the shared client of the source APIs.
pub(crate) fn http(t: Option<Table<'_>>, p: &mut Problems) -> HttpClient {
    let mut h = HttpClient::default();
    let Some(t) = t else { return h };
    if let Ok(Some(n)) = t.int("max_body_bytes", p) {
        match usize::try_from(n) {
            Ok(b) if (MIN_BODY..=MAX_BODY).contains(&n) => h.max_body_bytes = b,
            _ => {
                p.error(
                    t.at("max_body_bytes"),
                    format!("{n} is not between {MIN_BODY} (64 KiB) and {MAX_BODY} (1 GiB) bytes"),
                );
            }
        }
    }
    h
}

pub(crate) fn checkpoints(t: Option<Table<'_>>, p: &mut Problems) -> CheckpointSettings {
    let Some(t) = t else {
        return CheckpointSettings::Kafka;
    };
    let dir = t.string("dir", p);
    let store = t.string("store", p);
    match store
        .as_ref()
        .ok()
        .and_then(Option::as_deref)
        .unwrap_or("kafka")
    {
        "kafka" => {
            if let Ok(Some(_)) = dir {
                p.warn(t.at("dir"), "has no effect unless store = \"file\"");
            }
            CheckpointSettings::Kafka
        }
        "file" => match dir {
            Ok(Some(dir)) => CheckpointSettings::File {
                dir: PathBuf::from(dir),
            },
            Ok(None) => {
                p.error(
                    t.at("dir"),
                    "is required when store = \"file\" (the directory for checkpoint files)",
                );
                CheckpointSettings::Kafka
            }
            Err(_) => CheckpointSettings::Kafka,
        },
        other => {
            p.error(
                t.at("store"),
                format!("unknown checkpoint store {other:?}; expected \"kafka\" or \"file\""),
            );
            CheckpointSettings::Kafka
        }
    }
}

pub(crate) fn metrics(t: Option<Table<'_>>, p: &mut Problems) -> MetricsSettings {
    let mut m = MetricsSettings::default();
    if let Some(t) = t {
        m.tenant_label = or(t.bool("tenant_label", p), m.tenant_label);
    }
    m
}

/// The stream settings keys set in `t`, over `base`.
pub(crate) fn stream_settings(
    t: &Table<'_>,
    base: StreamSettings,
    p: &mut Problems,
) -> StreamSettings {
    let mut s = base;
    match t.duration("poll_interval", p) {
        Ok(Some(d)) if (MIN_POLL..=MAX_POLL).contains(&d) => s.poll_interval = d,
        Ok(Some(d)) => {
            p.error(
                t.at("poll_interval"),
                format!(
                    "{} is outside {} to {}",
                    show_duration(d),
                    show_duration(MIN_POLL),
                    show_duration(MAX_POLL)
                ),
            );
        }
        _ => {}
    }

    let mut compare = true;
    let backfill = t.duration("backfill", p);
    match backfill {
        Ok(Some(b)) if b > MAX_BACKFILL => {
            compare = false;
            p.error(
                t.at("backfill"),
                format!(
                    "{} is more than the APIs keep: at most {} (6 months)",
                    show_duration(b),
                    show_duration(MAX_BACKFILL)
                ),
            );
        }
        Ok(Some(b)) => s.backfill = b,
        Ok(None) => {}
        Err(_) => compare = false,
    }
    let lookback = t.duration("lookback", p);
    match lookback {
        Ok(Some(l)) => s.lookback = l,
        Ok(None) => {}
        Err(_) => compare = false,
    }
    // Blame the field this table set; if it set neither, `base` was checked already.
    let blame = match (&lookback, &backfill) {
        (Ok(Some(_)), _) => Some("lookback"),
        (_, Ok(Some(_))) => Some("backfill"),
        _ => None,
    };
    if let (true, Some(key)) = (compare, blame) {
        if s.lookback > s.backfill {
            p.error(
                t.at(key),
                format!(
                    "lookback ({}) must not be longer than backfill ({})",
                    show_duration(s.lookback),
                    show_duration(s.backfill)
                ),
            );
        }
    }

    match t.duration("disabled_recheck", p) {
        Ok(Some(d)) if (MIN_DISABLED_RECHECK..=MAX_DISABLED_RECHECK).contains(&d) => {
            s.disabled_recheck = d
        }
        Ok(Some(d)) => {
            p.error(
                t.at("disabled_recheck"),
                format!(
                    "{} is outside {} to {}: how often a stream disabled for a missing product \
                     (no Zoom Phone plan) is tried again",
                    show_duration(d),
                    show_duration(MIN_DISABLED_RECHECK),
                    show_duration(MAX_DISABLED_RECHECK)
                ),
            );
        }
        _ => {}
    }

    match t.duration("gap_retry", p) {
        Ok(Some(d)) if (MIN_GAP_RETRY..=MAX_GAP_RETRY).contains(&d) => s.gap_retry = d,
        Ok(Some(d)) => {
            p.error(
                t.at("gap_retry"),
                format!(
                    "{} is outside {} to {}: how often a window given up on (a gap: its \
                     answer kept failing) is tried again",
                    show_duration(d),
                    show_duration(MIN_GAP_RETRY),
                    show_duration(MAX_GAP_RETRY)
                ),
            );
        }
        _ => {}
    }

    match t.float("quota_share", p) {
        Ok(Some(q)) if (MIN_QUOTA_SHARE..=1.0).contains(&q) => s.quota_share = q,
        Ok(Some(q)) => {
            p.error(
                t.at("quota_share"),
                format!(
                    "{q} is outside [{MIN_QUOTA_SHARE}, 1]: the share of the account's quota \
                     trawl may use, e.g. 0.5 for half"
                ),
            );
        }
        _ => {}
    }

    if let Some(r) = super::recheck::recheck(t, p) {
        s.recheck = r;
    }

    if let Ok(Some(n)) = t.int("max_concurrent_windows", p) {
        match usize::try_from(n).ok().and_then(NonZeroUsize::new) {
            Some(n) if n.get() <= MAX_WINDOWS => s.max_concurrent_windows = n,
            Some(_) => {
                p.error(
                    t.at("max_concurrent_windows"),
                    format!("{n} is more than {MAX_WINDOWS} (the limiter sets the pace; more windows in flight only hold memory)"),
                );
            }
            None => {
                p.error(
                    t.at("max_concurrent_windows"),
                    format!("{n} is not at least 1"),
                );
            }
        }
    }
    s
}
