//! What the engine runs, as typed values.
//!
//! The `trawl` binary parses TOML files and the environment (figment), resolves secret
//! references and checks every rule; what comes out is this: durations, URLs, non-zero
//! counts and [`SecretString`]s, never raw strings to re-read later. Nothing here can
//! print a secret: `Debug` of every type shows secrets as redacted.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use trawl_kafka::KafkaSettings;
use trawl_model::{Plan, Provider, SourceKind, StreamKey, TenantId};
use url::Url;

/// How far back the APIs keep data (Zoom: "recent 6 months"): the most backfill can reach.
pub const MAX_BACKFILL: Duration = Duration::from_secs(182 * 24 * 3600);

/// Everything the engine needs to run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub kafka: KafkaSettings,
    pub checkpoints: CheckpointSettings,
    /// `[defaults]` as written; each tenant's effective values are in [`TenantSpec::settings`].
    pub defaults: StreamDefaults,
    pub metrics: MetricsSettings,
    /// In a stable order: inline `[[tenants]]` first, then `tenants_dir` files by name.
    pub tenants: Vec<TenantSpec>,
}

/// Where stream checkpoints are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CheckpointSettings {
    /// The compacted topic `kafka.checkpoint_topic`.
    #[default]
    Kafka,
    /// One JSON file per stream in `dir`.
    File { dir: PathBuf },
}

/// How a stream polls and backfills; `[defaults]`, overridable per tenant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamDefaults {
    /// Time between live polls once the backfill is done.
    pub poll_interval: Duration,
    /// How far back a stream without a checkpoint starts (at most [`MAX_BACKFILL`]).
    pub backfill: Duration,
    /// How far behind the watermark each poll re-reads, for late records.
    pub lookback: Duration,
    /// Share of the account's API quota trawl may use, in (0, 1].
    pub quota_share: f64,
    /// Backfill windows of one stream in flight at once.
    pub max_concurrent_windows: NonZeroUsize,
}

impl Default for StreamDefaults {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(5 * 60),
            backfill: Duration::from_secs(30 * 24 * 3600),
            lookback: Duration::from_secs(24 * 3600),
            quota_share: 1.0,
            max_concurrent_windows: NonZeroUsize::new(4).expect("4 is not zero"),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Whether per-stream metrics carry a `tenant` label (off for very large fleets).
    pub tenant_label: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { tenant_label: true }
    }
}

/// One customer account and the streams trawl reads from it.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpec {
    pub id: TenantId,
    /// Never empty, no duplicates, all of the provider of `access`.
    pub streams: Vec<SourceKind>,
    /// Sets Zoom's rate limits; Zoho tenants keep the default and ignore it.
    pub plan: Plan,
    pub access: TenantAccess,
    /// `[defaults]` merged with this tenant's overrides.
    pub settings: StreamDefaults,
    /// Rate limits that replace the plan's numbers, per stream (each stream maps to one
    /// API family: Zoom main, Zoom Phone, Zoho Mail). Empty: the plan's numbers.
    pub rate_overrides: BTreeMap<SourceKind, RateOverride>,
}

impl TenantSpec {
    pub fn provider(&self) -> Provider {
        self.access.provider()
    }

    /// The tenant's streams as keys.
    pub fn stream_keys(&self) -> impl Iterator<Item = StreamKey> + '_ {
        self.streams
            .iter()
            .map(|s| StreamKey::new(self.id.clone(), *s))
    }
}

/// Replacement rate limits for one API family of a tenant; `None` keeps the plan's value.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateOverride {
    /// Requests per second (> 0).
    pub per_second: Option<f64>,
    /// Requests per UTC day (> 0).
    pub daily: Option<u32>,
}

/// A tenant's credentials and API endpoints.
#[derive(Debug, Clone)]
pub enum TenantAccess {
    /// Server-to-Server OAuth app.
    Zoom {
        account_id: String,
        client_id: String,
        client_secret: SecretString,
        /// `https://api.zoom.us` (Zoom for Government: `https://api.zoomgov.com`).
        api_base: Url,
        /// `https://zoom.us` (Zoom for Government: `https://zoomgov.com`).
        oauth_base: Url,
        /// `category_type` query parameter; `None`: the API's default (`all`).
        category_type: Option<String>,
    },
    /// Self client with a refresh token.
    Zoho {
        zoid: String,
        client_id: String,
        client_secret: SecretString,
        refresh_token: SecretString,
        /// e.g. `https://mail.zoho.eu`, from the data center unless set.
        mail_base: Url,
        /// e.g. `https://accounts.zoho.eu`, from the data center unless set.
        accounts_base: Url,
        /// `searchKey` query parameter.
        search_key: Option<String>,
    },
}

impl TenantAccess {
    pub fn provider(&self) -> Provider {
        match self {
            TenantAccess::Zoom { .. } => Provider::Zoom,
            TenantAccess::Zoho { .. } => Provider::Zoho,
        }
    }
}

/// Equal when every field and every secret is equal: lets a config reload tell a
/// changed tenant (restart it) from an unchanged one (leave it running).
impl PartialEq for TenantAccess {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &SecretString, b: &SecretString| a.expose_secret() == b.expose_secret();
        match (self, other) {
            (
                TenantAccess::Zoom {
                    account_id: a1,
                    client_id: c1,
                    client_secret: s1,
                    api_base: b1,
                    oauth_base: o1,
                    category_type: t1,
                },
                TenantAccess::Zoom {
                    account_id: a2,
                    client_id: c2,
                    client_secret: s2,
                    api_base: b2,
                    oauth_base: o2,
                    category_type: t2,
                },
            ) => a1 == a2 && c1 == c2 && same(s1, s2) && b1 == b2 && o1 == o2 && t1 == t2,
            (
                TenantAccess::Zoho {
                    zoid: z1,
                    client_id: c1,
                    client_secret: s1,
                    refresh_token: r1,
                    mail_base: m1,
                    accounts_base: a1,
                    search_key: k1,
                },
                TenantAccess::Zoho {
                    zoid: z2,
                    client_id: c2,
                    client_secret: s2,
                    refresh_token: r2,
                    mail_base: m2,
                    accounts_base: a2,
                    search_key: k2,
                },
            ) => {
                z1 == z2
                    && c1 == c2
                    && same(s1, s2)
                    && same(r1, r2)
                    && m1 == m2
                    && a1 == a2
                    && k1 == k2
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoom(secret: &str) -> TenantAccess {
        TenantAccess::Zoom {
            account_id: "acc".into(),
            client_id: "cid".into(),
            client_secret: SecretString::from(secret),
            api_base: Url::parse("https://api.zoom.us").unwrap(),
            oauth_base: Url::parse("https://zoom.us").unwrap(),
            category_type: None,
        }
    }

    #[test]
    fn debug_never_shows_the_secret_but_equality_sees_it() {
        let a = zoom("canary-5ecret");
        assert!(!format!("{a:?}").contains("canary-5ecret"));
        assert_eq!(a, zoom("canary-5ecret"));
        assert_ne!(a, zoom("rotated"));
        assert_eq!(a.provider(), Provider::Zoom);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let d = StreamDefaults::default();
        assert_eq!(d.poll_interval, Duration::from_secs(300));
        assert_eq!(d.backfill, Duration::from_secs(30 * 86400));
        assert_eq!(d.lookback, Duration::from_secs(86400));
        assert_eq!(d.quota_share, 1.0);
        assert_eq!(d.max_concurrent_windows.get(), 4);
        assert!(MetricsSettings::default().tenant_label);
        assert_eq!(CheckpointSettings::default(), CheckpointSettings::Kafka);
    }
}
