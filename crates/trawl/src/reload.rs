//! Configuration reloads without a restart: the files of `tenants_dir` and every secret
//! file the configuration refers to are watched (a scan every few seconds, which works
//! the same on every filesystem, including Kubernetes ConfigMap and Secret volumes whose
//! files change through symlink swaps), and SIGHUP reloads the whole configuration. A
//! rotated secret file is thus applied to its running tenant without a restart.
//!
//! A reload runs the same loader as the start ([`crate::config::load_for_reload`]) and
//! hands the tenants to [`Engine::apply_tenants`]: the supervisor starts added tenants,
//! stops removed ones (their checkpoints stay in the store) and restarts changed ones
//! (a changed secret value counts: tenants compare their secrets by value). A tenant
//! file with problems holds back only itself: the rest is applied, the tenant it defined
//! before keeps running as it was, and the file is reported with its path and problems
//! in the log, in `/status` (`config.rejected_files`) and in
//! `trawl_config_rejected_files`. Problems in the main file refuse the whole reload:
//! every one is logged with its field path and the running tenants carry on untouched.
//! Settings other than the tenants (`[kafka]`, `[server]`, `[http]`, `[checkpoints]`,
//! `[metrics]`) need a restart; a reload that changes them (secret values included)
//! says so in the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGauge, Opts};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use trawl_engine::config::TenantSpec;
use trawl_engine::Engine;
use trawl_model::TenantId;

use crate::config::{self, Config, SecretOrigin, TenantFile, TenantOrigin};
use crate::server::{AppState, RejectedFile};

/// How often `tenants_dir` and the secret files are scanned for changes by default.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// What a reload compares against: the settings that need a restart (their Debug text,
/// which redacts secrets, plus a digest of the secret values, so a rotated Kafka
/// password or status token is noticed), the tenant files.
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint {
    restart_only: String,
    secrets: [u8; 32],
    tenants_dir: Option<PathBuf>,
}

impl Fingerprint {
    fn of(c: &Config) -> Self {
        // Debug output redacts secrets; it is only compared, never shown.
        let e = &c.engine;
        let mut h = Sha256::new();
        for (k, v) in &e.kafka.properties {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        if let Some(t) = &c.server.status_token {
            h.update(t.expose_secret().as_bytes());
        }
        Self {
            restart_only: format!(
                "{:?}|{:?}|{:?}|{:?}|{:?}",
                c.server, e.kafka, e.checkpoints, e.metrics, e.http
            ),
            secrets: h.finalize().into(),
            tenants_dir: c.tenants_dir.clone(),
        }
    }
}

/// What the watcher looks at: the tenant files and the secret files' digests.
#[derive(Debug, Clone, PartialEq, Default)]
struct Watched {
    tenant_files: Vec<TenantFile>,
    /// Each secret file and a digest of its content (`None`: unreadable now).
    secret_files: Vec<(PathBuf, Option<[u8; 32]>)>,
}

/// The secret files `c` refers to.
fn secret_files(c: &Config) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = c
        .secrets
        .iter()
        .filter_map(|s| match &s.origin {
            SecretOrigin::File(f) => Some(f.clone()),
            _ => None,
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Reads what is watched (unreadable tenant files count as none: the loader reports
/// why on reload).
async fn scan(dir: Option<PathBuf>, secrets: Vec<PathBuf>) -> Watched {
    tokio::task::spawn_blocking(move || Watched {
        tenant_files: dir
            .map(|d| config::read_tenant_files(&d).unwrap_or_default())
            .unwrap_or_default(),
        secret_files: secrets
            .into_iter()
            .map(|f| {
                let digest = std::fs::read(&f).ok().map(|b| Sha256::digest(b).into());
                (f, digest)
            })
            .collect(),
    })
    .await
    .unwrap_or_default()
}

/// The reload metrics, in the engine's registry.
struct ReloadMetrics {
    reloads: IntCounterVec,
    rejected_files: IntGauge,
}

impl ReloadMetrics {
    fn new(engine: &Engine) -> Self {
        let reloads = IntCounterVec::new(
            Opts::new(
                "trawl_config_reloads_total",
                "Configuration reloads, by result (applied, refused).",
            ),
            &["result"],
        )
        .expect("valid metric");
        let rejected_files = IntGauge::new(
            "trawl_config_rejected_files",
            "Tenant files the last reload left out for their problems (the rest was applied).",
        )
        .expect("valid metric");
        let registry = engine.metrics.registry();
        for c in [
            Box::new(reloads.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rejected_files.clone()),
        ] {
            if let Err(e) = registry.register(c) {
                tracing::debug!(error = %e, "reload metrics already registered");
            }
        }
        for r in ["applied", "refused"] {
            reloads.with_label_values(&[r]);
        }
        Self {
            reloads,
            rejected_files,
        }
    }
}

/// What the last applied reload (or the start) ran.
struct Applied {
    fingerprint: Fingerprint,
    tenants: BTreeMap<TenantId, TenantSpec>,
    origins: BTreeMap<TenantId, TenantOrigin>,
    secret_files: Vec<PathBuf>,
}

impl Applied {
    fn of(c: &Config) -> Self {
        Self {
            fingerprint: Fingerprint::of(c),
            tenants: c
                .engine
                .tenants
                .iter()
                .map(|t| (t.id.clone(), t.clone()))
                .collect(),
            origins: c.tenant_origins.clone(),
            secret_files: secret_files(c),
        }
    }
}

/// Loads `path` again; on success applies the tenants (keeping those of rejected files
/// as they ran), on failure logs every problem.
async fn reload(
    path: &Path,
    engine: &Engine,
    state: &AppState,
    metrics: &ReloadMetrics,
    current: &mut Applied,
    why: &str,
) {
    let p = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || config::load_for_reload(&p)).await;
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "configuration reload did not run");
            return;
        }
    };
    match loaded {
        Ok((mut c, rejected)) => {
            for w in &c.warnings {
                tracing::warn!("{w}");
            }
            let mut shown = Vec::with_capacity(rejected.len());
            for r in &rejected {
                let file = r.path.display().to_string();
                for e in &r.errors {
                    tracing::error!(file = %file, problem = %e, "tenant file left out of the reload");
                }
                // The tenant this file defined before keeps running as it was.
                let kept = current
                    .origins
                    .iter()
                    .find(|(_, o)| **o == TenantOrigin::File(r.path.clone()))
                    .map(|(id, _)| id.clone())
                    .filter(|id| !c.tenant_origins.contains_key(id));
                if let Some(spec) = kept.as_ref().and_then(|id| current.tenants.get(id)) {
                    tracing::warn!(tenant = %spec.id, file = %file, "tenant keeps its previous configuration until its file is fixed");
                    c.tenant_origins
                        .insert(spec.id.clone(), TenantOrigin::File(r.path.clone()));
                    c.engine.tenants.push(spec.clone());
                }
                shown.push(RejectedFile {
                    path: file,
                    errors: r.errors.iter().map(ToString::to_string).collect(),
                });
            }
            let mut next = Applied::of(&c);
            // Keep watching the secret files of rejected files, so a fix is noticed.
            next.secret_files.extend(
                rejected
                    .iter()
                    .flat_map(|_| current.secret_files.iter().cloned()),
            );
            next.secret_files.sort();
            next.secret_files.dedup();
            if next.fingerprint.restart_only != current.fingerprint.restart_only
                || next.fingerprint.secrets != current.fingerprint.secrets
            {
                tracing::warn!("configuration reloaded: changes outside the tenants ([kafka], [server], [http], [checkpoints], [metrics]) take effect after a restart");
            }
            tracing::info!(
                reason = why,
                tenants = c.engine.tenants.len(),
                rejected_files = rejected.len(),
                "configuration reloaded; applying the tenants"
            );
            *current = next;
            engine.apply_tenants(c.engine.tenants);
            metrics.reloads.with_label_values(&["applied"]).inc();
            metrics.rejected_files.set(rejected.len() as i64);
            let outcome = if rejected.is_empty() {
                Ok(())
            } else {
                let problems: Vec<String> = rejected
                    .iter()
                    .flat_map(|r| r.errors.iter().map(|e| format!("\n  - {e}")))
                    .collect();
                Err(format!(
                    "applied without {} tenant file{} with problems:{}",
                    rejected.len(),
                    if rejected.len() == 1 { "" } else { "s" },
                    problems.concat()
                ))
            };
            state.record_reload(outcome, shown);
        }
        Err(errors) => {
            for e in errors.iter() {
                tracing::error!(problem = %e, "configuration reload refused");
            }
            tracing::error!(
                reason = why,
                problems = errors.iter().count(),
                "configuration reload refused: the running tenants are kept"
            );
            metrics.reloads.with_label_values(&["refused"]).inc();
            state.record_reload(Err(errors.to_string()), Vec::new());
        }
    }
}

/// A running watcher; dropping it does not stop it, [`Reloader::stop`] does.
pub struct Reloader {
    task: tokio::task::JoinHandle<()>,
}

impl Reloader {
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Starts watching (on the current actix System): a scan of `tenants_dir` and of the
/// secret files every `interval`, and SIGHUP for a full reload of `path`.
pub fn spawn(
    path: PathBuf,
    initial: &Config,
    engine: Engine,
    state: Arc<AppState>,
    interval: Duration,
) -> Reloader {
    let mut current = Applied::of(initial);
    let metrics = ReloadMetrics::new(&engine);
    let task = actix::spawn(async move {
        let watch = |c: &Applied| scan(c.fingerprint.tenants_dir.clone(), c.secret_files.clone());
        let mut seen = watch(&current).await;
        let mut hup = hangup();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let why = tokio::select! {
                _ = tick.tick() => {
                    if current.fingerprint.tenants_dir.is_none() && current.secret_files.is_empty() {
                        continue;
                    }
                    let now = watch(&current).await;
                    if now == seen {
                        continue;
                    }
                    if now.tenant_files != seen.tenant_files {
                        "tenants_dir changed"
                    } else {
                        "a secret file changed"
                    }
                }
                _ = next_hangup(&mut hup) => "SIGHUP",
            };
            reload(&path, &engine, &state, &metrics, &mut current, why).await;
            // The tenants directory and secret files may be others now; changes are
            // relative to what this reload saw.
            seen = watch(&current).await;
        }
    });
    Reloader { task }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reloads come from tenants_dir only");
            None
        }
    }
}

#[cfg(unix)]
async fn next_hangup(h: &mut Hangup) {
    match h {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn hangup() -> Hangup {}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}

#[cfg(test)]
mod tests;
