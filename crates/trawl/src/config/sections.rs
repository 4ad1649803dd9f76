//! The small sections: `[server]`, `[checkpoints]`, `[defaults]` and `[metrics]`.
//!
//! `[defaults]` and a tenant's overrides share one reader ([`stream_settings`]) so a
//! rule about, say, the backfill depth is checked the same way in both places, each
//! time with the path of the field that broke it.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use trawl_engine::config::{CheckpointSettings, MetricsSettings, StreamDefaults, MAX_BACKFILL};

use super::error::Problems;
use super::fields::{or, show_duration, Table};

/// `[server]`: where the HTTP endpoints listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// `/metrics`, `/healthz`, `/readyz`, `/status`.
    pub listen: SocketAddr,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

pub(crate) const SERVER_KEYS: &[&str] = &["listen"];
pub(crate) const CHECKPOINTS_KEYS: &[&str] = &["store", "dir"];
pub(crate) const METRICS_KEYS: &[&str] = &["tenant_label"];
/// Keys of `[defaults]`, also allowed in a tenant as overrides.
pub(crate) const STREAM_KEYS: &[&str] = &[
    "poll_interval",
    "backfill",
    "lookback",
    "quota_share",
    "max_concurrent_windows",
];

pub(crate) fn server(t: Option<Table<'_>>, p: &mut Problems) -> ServerSettings {
    let mut s = ServerSettings::default();
    let Some(t) = t else { return s };
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
    s
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
    base: StreamDefaults,
    p: &mut Problems,
) -> StreamDefaults {
    let mut s = base;
    s.poll_interval = or(t.duration("poll_interval", p), base.poll_interval);

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

    match t.float("quota_share", p) {
        Ok(Some(q)) if q > 0.0 && q <= 1.0 => s.quota_share = q,
        Ok(Some(q)) => {
            p.error(
                t.at("quota_share"),
                format!(
                    "{q} is outside (0, 1]: the share of the account's quota trawl may use, \
                     e.g. 0.5 for half"
                ),
            );
        }
        _ => {}
    }

    if let Ok(Some(n)) = t.int("max_concurrent_windows", p) {
        match usize::try_from(n).ok().and_then(NonZeroUsize::new) {
            Some(n) => s.max_concurrent_windows = n,
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
