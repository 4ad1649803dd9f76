//! `trawl run`: load the configuration, start the HTTP endpoints, the engine and the
//! configuration watcher, run until SIGINT/SIGTERM, then stop gracefully (fetchers
//! stopped, producer flushed) and exit 0. [`start`] is the same sequence as a library
//! call, which the integration tests drive.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use trawl_engine::{Engine, EngineOptions};

use crate::config::Config;
use crate::reload::Reloader;
use crate::server::{AppState, RunningServer};

/// Options of [`start`] that are not configuration (tests shorten the watch interval).
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub engine: EngineOptions,
    /// Where the configuration is reloaded from (SIGHUP, `tenants_dir` changes); no
    /// reloads when `None`.
    pub reload_from: Option<PathBuf>,
    pub watch_interval: Duration,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            engine: EngineOptions::default(),
            reload_from: None,
            watch_interval: crate::reload::DEFAULT_WATCH_INTERVAL,
        }
    }
}

/// A running trawl: engine, HTTP endpoints, configuration watcher.
pub struct Running {
    pub engine: Engine,
    pub state: Arc<AppState>,
    pub server: RunningServer,
    reloader: Option<Reloader>,
}

impl Running {
    /// Where the HTTP endpoints listen.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Stops watching, stops the engine (fetchers, producer flush), then the server.
    pub async fn stop(&self) {
        if let Some(r) = &self.reloader {
            r.stop();
        }
        self.engine.stop().await;
        self.server.stop().await;
    }
}

/// Everything `trawl run` starts, on the current actix System: the HTTP endpoints on
/// `config.server.listen` first (so `/healthz` answers while the engine waits for
/// Kafka), then the engine, then the configuration watcher.
pub async fn start(config: Config, opts: StartOptions) -> anyhow::Result<Running> {
    let state = AppState::new(&config.engine.kafka, &config.server);
    let server = crate::server::start(config.server.listen, state.clone())
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let tenants = config.engine.tenants.len();
    let engine = match Engine::start(config.engine.clone(), opts.engine).await {
        Ok(e) => e,
        Err(e) => {
            server.stop().await;
            return Err(e.into());
        }
    };
    state.set_engine(engine.clone());
    let reloader = opts.reload_from.map(|path| {
        crate::reload::spawn(
            path,
            &config,
            engine.clone(),
            state.clone(),
            opts.watch_interval,
        )
    });
    tracing::info!(tenants, "trawl running");
    Ok(Running {
        engine,
        state,
        server,
        reloader,
    })
}

pub fn run(config_path: &Path) -> ExitCode {
    let config = match crate::config::load(config_path) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors.iter() {
                tracing::error!(problem = %e, "invalid configuration");
            }
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let system = actix::System::new();
    let opts = StartOptions {
        reload_from: Some(config_path.to_path_buf()),
        ..StartOptions::default()
    };
    let result = system.block_on(async move {
        let running = tokio::select! {
            r = start(config, opts) => r?,
            _ = shutdown_signal() => return anyhow::Ok(false),
        };
        shutdown_signal().await;
        tracing::info!("stopping: finishing in-flight work and flushing Kafka");
        running.stop().await;
        anyhow::Ok(true)
    });
    match result {
        Ok(true) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            // Nothing was published yet, so nothing to flush; don't wait for the
            // start-up's blocking Kafka calls to time out.
            tracing::info!("stopped before the engine was up");
            std::process::exit(0)
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "trawl failed");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
