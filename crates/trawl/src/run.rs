//! `trawl run`: load the configuration, start the engine, run until SIGINT/SIGTERM,
//! then stop gracefully (fetchers stopped, producer flushed) and exit 0.

use std::path::Path;
use std::process::ExitCode;

use trawl_engine::{Engine, EngineOptions};

pub fn run(config_path: &Path) -> ExitCode {
    let config = match crate::config::load(config_path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let system = actix::System::new();
    let result = system.block_on(async move {
        let tenants = config.engine.tenants.len();
        let engine = Engine::start(config.engine, EngineOptions::default()).await?;
        tracing::info!(tenants, "trawl running");
        shutdown_signal().await;
        tracing::info!("stopping: finishing in-flight work and flushing Kafka");
        engine.stop().await;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "trawl failed");
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
