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
    /// When a live poll re-reads the lookback for late records (`recheck`); the polls
    /// in between read only what is new.
    pub recheck: RecheckSchedule,
    /// How often a gap (a window given up on because its answer kept failing) is tried
    /// again, until it is fetched or leaves the API's retention.
    pub gap_retry: Duration,
}

/// The most tiers a [`RecheckSchedule`] holds.
pub const MAX_RECHECK_TIERS: usize = 4;

/// One tier of the lookback's re-reads: every `every`, a live poll reads back `age`
/// behind the watermark (`None`: the whole lookback) instead of only what is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecheckTier {
    pub age: Option<Duration>,
    pub every: Duration,
}

/// The lookback's re-reads by age (`recheck`), shallowest first: recent records are
/// re-read often, the whole lookback rarely. A live poll costs the pages of its new
/// records plus one request; each tier adds about `age / every` of a day's pages a day
/// (`benches/RESULTS.md`, "Live polling cost"). Kept `Copy` (a small fixed array), as
/// the rest of [`StreamSettings`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecheckSchedule {
    tiers: [RecheckTier; MAX_RECHECK_TIERS],
    len: usize,
}

impl RecheckSchedule {
    /// A schedule of `tiers` (at most [`MAX_RECHECK_TIERS`]; more are dropped), sorted
    /// shallowest first (the whole lookback last).
    pub fn new(tiers: &[RecheckTier]) -> Self {
        let mut out = Self {
            tiers: [RecheckTier {
                age: None,
                every: Duration::ZERO,
            }; MAX_RECHECK_TIERS],
            len: 0,
        };
        for t in tiers.iter().take(MAX_RECHECK_TIERS) {
            out.tiers[out.len] = *t;
            out.len += 1;
        }
        out.tiers[..out.len].sort_by_key(|t| t.age.unwrap_or(Duration::MAX));
        out
    }

    /// Every poll re-reads the whole lookback (what trawl did before `recheck`).
    pub fn every_poll() -> Self {
        Self::new(&[RecheckTier {
            age: None,
            every: Duration::ZERO,
        }])
    }

    pub fn tiers(&self) -> &[RecheckTier] {
        &self.tiers[..self.len]
    }
}

impl Default for RecheckSchedule {
    /// The last hour every 15 minutes, the whole lookback every 6 hours.
    fn default() -> Self {
        Self::new(&[
            RecheckTier {
                age: Some(Duration::from_secs(3600)),
                every: Duration::from_secs(15 * 60),
            },
            RecheckTier {
                age: None,
                every: Duration::from_secs(6 * 3600),
            },
        ])
    }
}

impl std::fmt::Debug for RecheckSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tiers()).finish()
    }
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
            recheck: RecheckSchedule::default(),
            gap_retry: Duration::from_secs(3600),
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
        let tiers = d.recheck.tiers();
        assert_eq!(tiers.len(), 2);
        assert_eq!(tiers[0].age, Some(Duration::from_secs(3600)));
        assert_eq!(tiers[1].age, None);
        assert_eq!(tiers[1].every, Duration::from_secs(6 * 3600));
        assert!(MetricsSettings::default().tenant_label);
        assert_eq!(CheckpointSettings::default(), CheckpointSettings::Kafka);
    }
}
