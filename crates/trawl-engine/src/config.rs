//! What the engine runs, as typed values.
//!
//! The `trawl` binary parses TOML files and the environment (figment), resolves secret
//! references and checks every rule; what comes out is this: durations, URLs, non-zero
//! counts and `SecretString`s, never raw strings to re-read later. Nothing here can
//! print a secret: `Debug` of every type shows secrets as redacted. A tenant's access
//! (credentials and endpoints) is the sources crate's [`TenantAccess`], held as it is.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use trawl_kafka::KafkaSettings;
use trawl_model::{Plan, Provider, SourceKind, StreamKey, TenantId};
pub use trawl_sources::TenantAccess;

/// How far back the APIs keep data (Zoom: "recent 6 months"): the most backfill can reach.
pub const MAX_BACKFILL: Duration = Duration::from_secs(182 * 24 * 3600);

/// Everything the engine needs to run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub kafka: KafkaSettings,
    pub checkpoints: CheckpointSettings,
    /// `[defaults]` as written; each tenant's effective values are in [`TenantSpec::settings`].
    pub defaults: StreamSettings,
    pub metrics: MetricsSettings,
    /// `[http]`: the shared client of the source APIs (timeouts, answer size limit).
    pub http: trawl_sources::HttpClient,
    /// In a stable order: inline `[[tenants]]` first, then `tenants_dir` files by name.
    pub tenants: Vec<TenantSpec>,
    /// `[cluster]`: run as one member of a cluster (`None`: this process runs every
    /// tenant).
    pub cluster: Option<trawl_kafka::cluster::ClusterSettings>,
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

/// How a stream polls and backfills: `[defaults]` as written, and each tenant's
/// effective values (the defaults merged with its overrides) in [`TenantSpec::settings`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamSettings {
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
    /// How often a stream disabled because the account lacks the API (no Zoom Phone
    /// plan, a transient 404) is tried again, so buying the plan needs no restart.
    pub disabled_recheck: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(5 * 60),
            backfill: Duration::from_secs(30 * 24 * 3600),
            lookback: Duration::from_secs(24 * 3600),
            quota_share: 1.0,
            max_concurrent_windows: NonZeroUsize::new(4).expect("4 is not zero"),
            disabled_recheck: Duration::from_secs(24 * 3600),
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
    pub settings: StreamSettings,
    /// `rate_limits`: numbers that replace the plan's, per stream (each stream maps to
    /// one API family: Zoom main, Zoom Phone, Zoho Mail). Empty: the plan's numbers.
    pub rate_limits: BTreeMap<SourceKind, RateLimitOverride>,
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

/// A tenant's `rate_limits` for one API family; `None` keeps the plan's value.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateLimitOverride {
    /// Requests per second (> 0).
    pub per_second: Option<f64>,
    /// Requests per UTC day (> 0).
    pub daily: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let d = StreamSettings::default();
        assert_eq!(d.poll_interval, Duration::from_secs(300));
        assert_eq!(d.backfill, Duration::from_secs(30 * 86400));
        assert_eq!(d.lookback, Duration::from_secs(86400));
        assert_eq!(d.quota_share, 1.0);
        assert_eq!(d.max_concurrent_windows.get(), 4);
        assert_eq!(d.disabled_recheck, Duration::from_secs(86400));
        assert!(MetricsSettings::default().tenant_label);
        assert_eq!(CheckpointSettings::default(), CheckpointSettings::Kafka);
    }
}
