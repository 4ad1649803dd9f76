//! Configuration reloads without a restart: the files of `tenants_dir` are watched (a
//! scan every few seconds, which works the same on every filesystem, including
//! Kubernetes ConfigMap volumes whose files change through symlink swaps), and SIGHUP
//! reloads the whole configuration.
//!
//! A reload runs the same loader as the start ([`crate::config::load`]) and hands the
//! tenants to [`Engine::apply_tenants`]: the supervisor starts added tenants, stops
//! removed ones (their checkpoints stay in the store) and restarts changed ones. A
//! configuration that fails validation is refused as a whole: every problem is logged
//! with its field path and the running tenants carry on untouched. Settings other than
//! the tenants (`[kafka]`, `[server]`, `[checkpoints]`, `[metrics]`) need a restart;
//! a reload that changes them says so in the log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use trawl_engine::Engine;

use crate::config::{self, Config, TenantFile};
use crate::server::AppState;

/// How often `tenants_dir` is scanned for changes by default.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// What a reload compares against: the settings that need a restart, the tenant files.
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint {
    restart_only: String,
    tenants_dir: Option<PathBuf>,
}

impl Fingerprint {
    fn of(c: &Config) -> Self {
        // Debug output redacts secrets; it is only compared, never shown.
        let e = &c.engine;
        Self {
            restart_only: format!(
                "{:?}|{:?}|{:?}|{:?}",
                c.server, e.kafka, e.checkpoints, e.metrics
            ),
            tenants_dir: c.tenants_dir.clone(),
        }
    }
}

/// The files of `dir` (empty when unreadable: the loader reports why on reload).
async fn scan(dir: Option<PathBuf>) -> Vec<TenantFile> {
    let Some(dir) = dir else { return Vec::new() };
    tokio::task::spawn_blocking(move || config::read_tenant_files(&dir).unwrap_or_default())
        .await
        .unwrap_or_default()
}

/// Loads `path` again; on success applies the tenants, on failure logs every problem.
async fn reload(
    path: &Path,
    engine: &Engine,
    state: &AppState,
    current: &mut Fingerprint,
    why: &str,
) {
    let p = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || config::load(&p)).await;
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "configuration reload did not run");
            return;
        }
    };
    match loaded {
        Ok(c) => {
            for w in &c.warnings {
                tracing::warn!("{w}");
            }
            let next = Fingerprint::of(&c);
            if next.restart_only != current.restart_only {
                tracing::warn!("configuration reloaded: changes outside the tenants ([kafka], [server], [checkpoints], [metrics]) take effect after a restart");
            }
            *current = next;
            tracing::info!(
                reason = why,
                tenants = c.engine.tenants.len(),
                "configuration reloaded; applying the tenants"
            );
            engine.apply_tenants(c.engine.tenants);
            state.record_reload(Ok(()));
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
            state.record_reload(Err(errors.to_string()));
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

/// Starts watching (on the current actix System): a scan of `tenants_dir` every
/// `interval`, and SIGHUP for a full reload of `path`.
pub fn spawn(
    path: PathBuf,
    initial: &Config,
    engine: Engine,
    state: Arc<AppState>,
    interval: Duration,
) -> Reloader {
    let mut current = Fingerprint::of(initial);
    let task = actix::spawn(async move {
        let mut files = scan(current.tenants_dir.clone()).await;
        let mut hup = hangup();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let why = tokio::select! {
                _ = tick.tick() => {
                    if current.tenants_dir.is_none() {
                        continue;
                    }
                    if scan(current.tenants_dir.clone()).await == files {
                        continue;
                    }
                    "tenants_dir changed"
                }
                _ = next_hangup(&mut hup) => "SIGHUP",
            };
            reload(&path, &engine, &state, &mut current, why).await;
            // The tenants directory may be another one now; changes are relative to
            // what this reload saw.
            files = scan(current.tenants_dir.clone()).await;
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
mod tests {
    use super::*;

    const MAIN: &str = "[kafka]\nbrokers = \"127.0.0.1:9\"\n";

    #[test]
    fn fingerprint_sees_restart_only_changes_but_not_tenants() {
        let a = config::load_str(MAIN).unwrap();
        let b = config::load_str(&format!("{MAIN}partitions = 12\n")).unwrap();
        assert_ne!(Fingerprint::of(&a), Fingerprint::of(&b));
        let c = config::load_str(&format!(
            "{MAIN}[[tenants]]\nid = \"t1\"\nprovider = \"zoom\"\naccount_id = \"a\"\n\
             client_id = \"c\"\nclient_secret = \"s\"\n"
        ))
        .unwrap();
        assert_eq!(Fingerprint::of(&a), Fingerprint::of(&c));
        assert!(!format!("{:?}", Fingerprint::of(&c)).contains("\"s\""));
    }

    #[tokio::test]
    async fn scan_sees_added_and_removed_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path().to_path_buf());
        assert!(scan(d.clone()).await.is_empty());
        std::fs::write(dir.path().join("a.toml"), "id = \"a\"\n").unwrap();
        let one = scan(d.clone()).await;
        assert_eq!(one.len(), 1);
        std::fs::write(dir.path().join("a.toml"), "id = \"b\"\n").unwrap();
        assert_ne!(scan(d.clone()).await, one);
        std::fs::remove_file(dir.path().join("a.toml")).unwrap();
        assert!(scan(d).await.is_empty());
        assert!(scan(None).await.is_empty());
    }
}
