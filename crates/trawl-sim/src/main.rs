//! The `trawl-sim` binary: serves the simulated Zoom and Zoho APIs from a TOML config.
//!
//! `trawl-sim --listen 127.0.0.1:18080 --config config/sim.example.toml`; stops on
//! Ctrl-C. Logs with tracing (`RUST_LOG=trawl_sim=debug` for every answer).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use trawl_sim::{SimConfig, Simulator};

#[derive(Parser, Debug)]
#[command(
    name = "trawl-sim",
    about = "Simulated Zoom and Zoho audit APIs for trawl"
)]
struct Args {
    /// Address to listen on (loopback recommended).
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: SocketAddr,
    /// TOML configuration; without one, a single Pro account "demo" with Phone.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            SimConfig::from_toml_str(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => SimConfig {
            zoom_accounts: vec![trawl_sim::ZoomAccount::new(
                "demo",
                trawl_sim::Plan::Pro,
                true,
            )],
            ..SimConfig::default()
        },
    };
    tracing::info!(
        zoom_accounts = config.zoom_accounts.len(),
        zoho_orgs = config.zoho_orgs.len(),
        "starting"
    );
    let sim = Simulator::start(config, args.listen).await?;
    tracing::info!(base_url = %sim.base_url(), now = %sim.now(), "serving; Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    sim.stop().await;
    Ok(())
}
