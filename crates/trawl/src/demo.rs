//! `trawl demo`: the whole pipeline on one machine with no setup.
//!
//! Starts the simulator (a few Zoom and Zoho tenants with history and live traffic, one
//! of them on a Free plan that the API refuses, to show failure isolation), librdkafka's
//! in-process mock cluster as the broker, and the engine configured for them, then
//! shows every stream until Ctrl-C, `q` (or `--for SECONDS`): on a terminal a screen
//! redrawn in place ([`screen`]), otherwise a plain summary every two seconds.

mod screen;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::mocking::MockCluster;
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, Simulator};

const DEMO_SIM: &str = r#"
seed = 42
[clock]
speed = 1.0
[[zoom_accounts]]
account_id = "acme-acct"
client_id = "acme-client"
client_secret = "demo-secret-acme"
plan = "pro"
phone = true
records_per_day = 5000
phone_records_per_day = 800
history_days = 10
[[zoom_accounts]]
account_id = "globex-acct"
client_id = "globex-client"
client_secret = "demo-secret-globex"
plan = "business"
phone = false
records_per_day = 2000
history_days = 10
neighbour_share = 0.3
[[zoom_accounts]]
account_id = "initech-acct"
client_id = "initech-client"
client_secret = "demo-secret-initech"
plan = "free"
phone = false
[[zoho_orgs]]
zoid = "700001"
client_id = "1000.UMBRELLA"
client_secret = "demo-secret-umbrella"
refresh_token = "1000.umbrella.refresh"
records_per_day = 1500
history_days = 10
requests_per_minute = 120
"#;

fn demo_config(base: &str, brokers: &str) -> String {
    format!(
        r#"
[kafka]
brokers = "{brokers}"
topic = "audit.{{source}}"
partitions = 3
[defaults]
poll_interval = "15s"
backfill = "10d"
lookback = "30m"
[[tenants]]
id = "acme"
provider = "zoom"
streams = ["operation_logs", "phone_operation_logs"]
plan = "pro"
account_id = "acme-acct"
client_id = "acme-client"
client_secret = "demo-secret-acme"
api_base = "{base}"
oauth_base = "{base}"
[[tenants]]
id = "globex"
provider = "zoom"
streams = ["operation_logs", "phone_operation_logs"]
plan = "business"
account_id = "globex-acct"
client_id = "globex-client"
client_secret = "demo-secret-globex"
api_base = "{base}"
oauth_base = "{base}"
[[tenants]]
id = "initech"
provider = "zoom"
streams = ["operation_logs"]
plan = "free"
account_id = "initech-acct"
client_id = "initech-client"
client_secret = "demo-secret-initech"
api_base = "{base}"
oauth_base = "{base}"
[[tenants]]
id = "umbrella"
provider = "zoho"
zoid = "700001"
client_id = "1000.UMBRELLA"
client_secret = "demo-secret-umbrella"
refresh_token = "1000.umbrella.refresh"
mail_base = "{base}"
accounts_base = "{base}"
rate_limits.mail_audit = {{ per_second = 2.0 }}
"#
    )
}

/// Runs the demo; `log` is where warnings and errors went, if not to stderr.
pub fn run(run_for: Option<u64>, log: Option<std::path::PathBuf>) -> ExitCode {
    let system = actix::System::new();
    let result = system.block_on(demo(run_for));
    if let Some(path) = log {
        println!("warnings and errors of this run: {}", path.display());
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trawl demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(run_for: Option<u64>) -> anyhow::Result<()> {
    let sim_config: SimConfig = toml::from_str(DEMO_SIM).context("demo simulator config")?;
    let sim = Simulator::start(sim_config, "127.0.0.1:0".parse()?).await?;
    let cluster = MockCluster::new(1).context("starting the in-process Kafka mock cluster")?;
    let brokers = cluster.bootstrap_servers();
    // The mock cluster has no CreateTopics: create them through its own API.
    for topic in [
        "audit.zoom.operation_logs",
        "audit.zoom.phone_operation_logs",
        "audit.zoho.mail_audit",
        "trawl.checkpoints",
        "trawl.dead_letter",
    ] {
        cluster
            .create_topic(topic, 3, 1)
            .context("creating a demo topic")?;
    }
    let config = crate::config::load_str(&demo_config(&sim.base_url(), &brokers))
        .map_err(|e| anyhow::anyhow!("demo configuration: {e}"))?;
    println!(
        "trawl demo: simulator at {}, Kafka (mock cluster) at {brokers}",
        sim.base_url()
    );
    println!("Ctrl-C stops it.\n");
    let opts = EngineOptions {
        create_topics: false,
        ..EngineOptions::default()
    };
    let engine = Engine::start(config.engine, opts).await?;
    let shown = if std::io::stdout().is_terminal() {
        screen::run(&engine, &sim, run_for).await
    } else {
        plain(&engine, &sim, run_for).await;
        Ok(())
    };
    println!("\nstopping...");
    engine.stop().await;
    sim.stop().await;
    drop(cluster);
    shown
}

/// Standard output is not a terminal: the summary every two seconds, as plain lines.
async fn plain(engine: &Engine, sim: &trawl_sim::SimHandle, run_for: Option<u64>) {
    let started = tokio::time::Instant::now();
    let stop = crate::run::shutdown_signal();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                print_summary(engine, sim, started.elapsed());
                if run_for.is_some_and(|s| started.elapsed() >= Duration::from_secs(s)) {
                    break;
                }
            }
        }
    }
}

/// Sums over every stream, and what the simulator served.
struct Totals {
    pages: u64,
    events: u64,
    limited: u64,
    requests: u64,
}

impl Totals {
    fn of(rows: &[trawl_engine::status::StreamStatus], sim: &trawl_sim::SimHandle) -> Self {
        Self {
            pages: rows.iter().map(|r| r.pages).sum(),
            events: rows.iter().map(|r| r.events).sum(),
            limited: rows.iter().map(|r| r.rate_limited).sum(),
            requests: sim.stats().requests,
        }
    }

    fn line(&self) -> String {
        format!(
            "total: {} pages, {} events in Kafka, {} answered 429; simulator served {} requests",
            self.pages, self.events, self.limited, self.requests
        )
    }
}

fn print_summary(engine: &Engine, sim: &trawl_sim::SimHandle, elapsed: Duration) {
    let rows = engine.status.snapshot();
    let mut out = String::new();
    out.push_str(&format!(
        "trawl demo, {:>4}s   {:<10} {:<26} {:<12} {:>7} {:>8} {:>5} {:>9}  last error\n",
        elapsed.as_secs(),
        "tenant",
        "source",
        "state",
        "pages",
        "events",
        "429s",
        "lag"
    ));
    for r in &rows {
        let lag = r.lag_seconds.map_or("-".to_string(), |l| format!("{l}s"));
        let err = r.last_error.as_deref().unwrap_or("");
        let err: String = err.chars().take(70).collect();
        out.push_str(&format!(
            "{:>17} {:<10} {:<26} {:<12} {:>7} {:>8} {:>5} {:>9}  {}\n",
            "",
            r.tenant,
            r.source,
            r.state.as_str(),
            r.pages,
            r.events,
            r.rate_limited,
            lag,
            err
        ));
    }
    out.push_str(&format!("\n{:>17} {}\n", "", Totals::of(&rows, sim).line()));
    print!("{out}");
    let _ = std::io::stdout().flush();
}
