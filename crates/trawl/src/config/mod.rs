//! trawl's configuration: from TOML and `TRAWL_*` variables to the engine's typed values.
//!
//! Layers, lowest first: built-in defaults < the config file (`--config`, default
//! `config/trawl.toml`) < `TRAWL_*` environment variables (`TRAWL_KAFKA__BROKERS` sets
//! `kafka.brokers`; variables whose first segment is not a config section, such as
//! `TRAWL_TANSU_BIN`, are not configuration and are ignored). Tenants come from inline
//! `[[tenants]]` and from the files of `tenants_dir`. Secrets are resolved at load.
//! Every problem is collected and returned at once ([`ConfigErrors`]); nothing is read
//! from raw strings after [`load`] returns. [`load`] has no state of its own, so a
//! reloader can call it again and compare the tenants it returns.
//!
//! Relative paths (`tenants_dir`, secret files, `checkpoints.dir`) are taken relative to
//! the working directory, as written.

mod cluster;
mod error;
mod fields;
mod kafka;
mod provider;
mod raw;
mod recheck;
mod report;
mod secrets;
mod sections;
mod tenant;
mod tenant_file;
mod tenants_dir;
mod urls;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::value::Dict;
use trawl_engine::config::{CheckpointSettings, EngineConfig, StreamSettings};
use trawl_model::TenantId;

pub use error::{ConfigError, ConfigErrors, Warning};
pub use raw::ENV_PREFIX;
pub use report::{check, report, CheckReport};
pub use secrets::{SecretOrigin, SecretUse};
pub use sections::ServerSettings;
pub use tenant_file::load_tenant_file;
pub use tenants_dir::{read_tenant_files, TenantFile};

use error::Problems;
use fields::Table;

/// The default `--config`.
pub const DEFAULT_CONFIG_PATH: &str = "config/trawl.toml";

/// A loaded configuration: what the engine runs, plus what the binary itself needs and
/// what `check-config` reports. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub engine: EngineConfig,
    /// Where tenant files are read from, if set.
    pub tenants_dir: Option<PathBuf>,
    /// Where each tenant was defined.
    pub tenant_origins: BTreeMap<TenantId, TenantOrigin>,
    /// Every secret field and where its value came from (never the value).
    pub secrets: Vec<SecretUse>,
    /// Allowed but probably unintended settings.
    pub warnings: Vec<Warning>,
}

/// Where a tenant was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantOrigin {
    /// `[[tenants]]` number `index` (from 0) of the main file.
    Inline { index: usize },
    /// A file of `tenants_dir`.
    File(PathBuf),
}

impl std::fmt::Display for TenantOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TenantOrigin::Inline { index } => write!(f, "tenants[{index}]"),
            TenantOrigin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Loads the config file at `path` (which must exist) with the `TRAWL_*` environment
/// over it, then the tenant files, resolving every secret.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, false).map(|(c, _)| c)
}

/// A tenant file that [`load_for_reload`] left out, with its problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedFile {
    pub path: PathBuf,
    pub errors: Vec<ConfigError>,
}

/// Like [`load`], but a `tenants_dir` file with problems holds back only itself: it is
/// left out of the returned configuration and listed with its problems. Problems of
/// the main file still refuse the whole load.
pub fn load_for_reload(path: &Path) -> Result<(Config, Vec<RejectedFile>), ConfigErrors> {
    load_with(path, true)
}

fn load_with(path: &Path, lenient: bool) -> Result<(Config, Vec<RejectedFile>), ConfigErrors> {
    let mut p = Problems::new();
    p.set_file(Some(path));
    let tree = raw::read_file(path, &mut p).and_then(|text| raw::parse_toml(&text, &mut p));
    p.set_file(None);
    finish(tree.ok(), p, lenient)
}

/// Like [`load`], with the main file's text given (tests, `trawl demo`).
pub fn load_str(toml: &str) -> Result<Config, ConfigErrors> {
    let mut p = Problems::new();
    let tree = raw::parse_toml(toml, &mut p);
    finish(tree.ok(), p, false).map(|(c, _)| c)
}

fn finish(
    tree: Option<Dict>,
    mut p: Problems,
    lenient: bool,
) -> Result<(Config, Vec<RejectedFile>), ConfigErrors> {
    let mut rejected = Vec::new();
    let config = tree
        .and_then(|t| raw::merge_env(t, &mut p).ok())
        .map(|t| build(&t, &mut p, lenient.then_some(&mut rejected)));
    match config {
        Some(mut config) if p.errors.is_empty() => {
            config.secrets = p.secrets;
            config.warnings = p.warnings;
            Ok((config, rejected))
        }
        _ => Err(ConfigErrors(p.errors)),
    }
}

/// Reads the merged tree into a [`Config`]; problems go to `p` (the result is only
/// meaningful when there are none), except those of tenant files when `rejected` is
/// given: such a file is left out and listed there.
fn build(tree: &Dict, p: &mut Problems, mut rejected: Option<&mut Vec<RejectedFile>>) -> Config {
    let root = Table::from_dict(tree, String::new(), Some(raw::TOP_KEYS), p);
    let section =
        |key: &str, known: &[&str], p: &mut Problems| root.table(key, known, p).ok().flatten();

    let server = sections::server(section("server", sections::SERVER_KEYS, p), p);
    let checkpoints =
        sections::checkpoints(section("checkpoints", sections::CHECKPOINTS_KEYS, p), p);
    let in_kafka = checkpoints == CheckpointSettings::Kafka;
    let mut kafka = kafka::kafka(section("kafka", kafka::KAFKA_KEYS, p), in_kafka, p);
    let defaults = section("defaults", sections::STREAM_KEYS, p)
        .map_or_else(StreamSettings::default, |t| {
            sections::stream_settings(&t, StreamSettings::default(), p)
        });
    let metrics = sections::metrics(section("metrics", sections::METRICS_KEYS, p), p);
    let http = sections::http(section("http", sections::HTTP_KEYS, p), p);
    let cluster = cluster::cluster(
        section("cluster", cluster::CLUSTER_KEYS, p),
        &checkpoints,
        p,
    );
    if let Some(c) = &cluster {
        kafka::cluster_transactional_id(&mut kafka, tree, &c.group);
    }
    let tenants_dir = root
        .string("tenants_dir", p)
        .unwrap_or(None)
        .map(PathBuf::from);

    let mut tenants = Vec::new();
    let mut origins: BTreeMap<TenantId, TenantOrigin> = BTreeMap::new();
    let mut add = |spec: trawl_engine::config::TenantSpec,
                   origin: TenantOrigin,
                   id_path: String,
                   p: &mut Problems| {
        if let Some(first) = origins.get(&spec.id) {
            p.error(
                id_path,
                format!(
                    "duplicate tenant id {:?} (also defined at {first})",
                    spec.id.as_str()
                ),
            );
        } else {
            origins.insert(spec.id.clone(), origin);
            tenants.push(spec);
        }
    };

    if let Ok(Some(items)) = root.array("tenants", p) {
        for (index, item) in items.iter().enumerate() {
            let path = format!("tenants[{index}]");
            let Ok(t) = Table::of(item, path, None, p) else {
                continue;
            };
            if let Some(spec) = tenant::tenant(&t, defaults, p) {
                add(spec, TenantOrigin::Inline { index }, t.at("id"), p);
            }
        }
    }
    if let Some(dir) = &tenants_dir {
        let listed = p.errors.len();
        let files = tenants_dir::list(dir, "tenants_dir", p);
        if let Some(out) = rejected.as_deref_mut() {
            // An unreadable file (its error names it) holds back only itself.
            let (own, rest): (Vec<_>, Vec<_>) = p
                .errors
                .split_off(listed)
                .into_iter()
                .partition(|e| e.file.is_some());
            p.errors.extend(rest);
            out.extend(own.into_iter().map(|e| RejectedFile {
                path: e.file.clone().unwrap_or_default(),
                errors: vec![e],
            }));
        }
        for file in files {
            let before = p.errors.len();
            p.set_file(Some(&file.path));
            if let Ok(tree) = raw::parse_toml(&file.content, p) {
                let t = Table::from_dict(&tree, String::new(), None, p);
                if let Some(spec) = tenant::tenant(&t, defaults, p) {
                    add(spec, TenantOrigin::File(file.path.clone()), "id".into(), p);
                }
            }
            p.set_file(None);
            if let Some(out) = rejected.as_deref_mut() {
                if p.errors.len() > before {
                    out.push(RejectedFile {
                        path: file.path.clone(),
                        errors: p.errors.split_off(before),
                    });
                }
            }
        }
    }
    if tenants.is_empty() && p.errors.is_empty() {
        p.warn(
            "tenants",
            "no tenants are configured: trawl will fetch nothing",
        );
    }
    kafka::check_event_topics(&kafka, &tenants, p);

    Config {
        server,
        engine: EngineConfig {
            kafka,
            checkpoints,
            defaults,
            metrics,
            http,
            tenants,
            cluster,
        },
        tenants_dir,
        tenant_origins: origins,
        secrets: Vec::new(),
        warnings: Vec::new(),
    }
}
