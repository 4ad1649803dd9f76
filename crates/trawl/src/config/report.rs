//! What `trawl check-config` prints: a summary of a good configuration, or every problem.
//!
//! The summary is what an operator checks before a deploy: how many tenants of each
//! provider, which streams, where Kafka output goes, and where each secret comes from
//! (an environment variable, a file, or inline: the source, never the value), followed
//! by the warnings.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use trawl_engine::config::{CheckpointSettings, StreamSettings, TenantAccess};
use trawl_model::Provider;

use super::fields::show_duration;
use super::{load, Config, ConfigErrors};

/// The outcome of checking a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Whether the configuration loads (warnings do not count against it).
    pub ok: bool,
    /// Human-readable text, several lines, ending with a newline.
    pub text: String,
}

/// Loads `path` and reports on it.
pub fn check(path: &Path) -> CheckReport {
    report(&load(path))
}

/// The report for a load result.
pub fn report(loaded: &Result<Config, ConfigErrors>) -> CheckReport {
    match loaded {
        Ok(config) => CheckReport {
            ok: true,
            text: summary(config),
        },
        Err(errors) => CheckReport {
            ok: false,
            text: format!("{errors}\n"),
        },
    }
}

fn settings(s: &StreamSettings) -> String {
    format!(
        "poll every {}, backfill {}, lookback {} (re-read: {}), quota share {}, {} backfill window(s) at once",
        show_duration(s.poll_interval),
        show_duration(s.backfill),
        show_duration(s.lookback),
        super::recheck::show(&s.recheck),
        s.quota_share,
        s.max_concurrent_windows
    )
}

fn summary(c: &Config) -> String {
    let e = &c.engine;
    let k = &e.kafka;
    let mut out = String::from("configuration OK\n");
    let _ = writeln!(out, "server: listening on {}", c.server.listen);
    let _ = writeln!(
        out,
        "kafka: brokers {}; events to {}; dead letters to {}; partitions {}, replication {}; \
         transactional {}",
        k.brokers,
        k.topic,
        k.dead_letter_topic,
        k.partitions,
        k.replication
            .map_or_else(|| "the broker's default".to_string(), |r| r.to_string()),
        if k.transactional {
            format!("yes (id {})", k.transactional_id)
        } else {
            "no".into()
        }
    );
    if !k.properties.is_empty() {
        let keys: Vec<&str> = k.properties.keys().map(String::as_str).collect();
        let _ = writeln!(out, "kafka properties: {}", keys.join(", "));
    }
    let _ = match &e.checkpoints {
        CheckpointSettings::Kafka => writeln!(out, "checkpoints: topic {}", k.checkpoint_topic()),
        CheckpointSettings::File { dir } => {
            writeln!(out, "checkpoints: files in {}", dir.display())
        }
    };
    let _ = writeln!(out, "defaults: {}", settings(&e.defaults));
    let _ = writeln!(
        out,
        "metrics: tenant label {}",
        if e.metrics.tenant_label { "on" } else { "off" }
    );
    if let Some(dir) = &c.tenants_dir {
        let _ = writeln!(out, "tenants_dir: {}", dir.display());
    }

    let count = |p: Provider| e.tenants.iter().filter(|t| t.provider() == p).count();
    let _ = writeln!(
        out,
        "tenants: {} (zoom {}, zoho {})",
        e.tenants.len(),
        count(Provider::Zoom),
        count(Provider::Zoho)
    );
    for t in &e.tenants {
        let streams: Vec<&str> = t.streams.iter().map(|s| s.stream_name()).collect();
        let base = match &t.access {
            TenantAccess::Zoom { api_base, .. } => format!("plan {}, {}", t.plan, api_base),
            TenantAccess::Zoho { mail_base, .. } => mail_base.to_string(),
        };
        let origin = c
            .tenant_origins
            .get(&t.id)
            .map_or(String::new(), |o| format!(" [{o}]"));
        let _ = writeln!(
            out,
            "  {} ({}): {}; {}{}",
            t.id,
            t.provider(),
            streams.join(", "),
            base,
            origin
        );
        if !t.rate_limits.is_empty() {
            let limits: Vec<String> = t
                .rate_limits
                .iter()
                .map(|(s, o)| {
                    let mut l = s.stream_name().to_string();
                    if let Some(r) = o.per_second {
                        let _ = write!(l, " {r}/s");
                    }
                    if let Some(d) = o.daily {
                        let _ = write!(l, " {d}/day");
                    }
                    l
                })
                .collect();
            let _ = writeln!(out, "    rate limits: {}", limits.join(", "));
        }
        if t.settings != e.defaults {
            let _ = writeln!(out, "    {}", settings(&t.settings));
        }
    }
    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
    for s in e.tenants.iter().flat_map(|t| &t.streams) {
        *per_source.entry(s.as_str()).or_default() += 1;
    }
    let streams: Vec<String> = per_source.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let _ = writeln!(
        out,
        "streams: {} ({})",
        per_source.values().sum::<usize>(),
        streams.join(", ")
    );

    let _ = writeln!(out, "secrets: {}", c.secrets.len());
    for s in &c.secrets {
        let file = s
            .file
            .as_ref()
            .map_or(String::new(), |f| format!("{}: ", f.display()));
        let _ = writeln!(out, "  {file}{}: from {}", s.path, s.origin);
    }
    let _ = writeln!(out, "warnings: {}", c.warnings.len());
    for w in &c.warnings {
        let _ = writeln!(out, "  - {w}");
    }
    out
}
