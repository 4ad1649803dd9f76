//! `trawl preflight`: will a customer's credentials work, before the tenant is turned on?
//!
//! For every selected tenant stream, against the real APIs: the token is granted (Zoom
//! Server-to-Server OAuth, Zoho refresh token at its data center's accounts host), the
//! token holds the stream's scope, the account's plan allows the report, Zoom Phone is
//! enabled, the Zoho organization answers, and one page of the last 24 hours reads and
//! parses. The verdicts come from the sources' own classification of each answer
//! ([`verdict`]); the checking is [`probe`], the output [`render`].
//!
//! Cost, and safety beside a running fleet: one token request per tenant (plus one after
//! each token an API refuses), and at most three API requests per stream, each under a
//! permit of the account's bucket, made by the engine's own registry from the same
//! configuration as `trawl run`'s (plan rates, `quota_share`, `rate_limits`). With
//! `checkpoints.store = "kafka"` the buckets' stored day counts are loaded first, as
//! `trawl run` loads them, so a spent daily share stops the check instead of spending
//! more, and the counts are written back after, so the requests count against the day's
//! quota the fleet keeps (a running member that saves its own count later overwrites
//! the record: at most these few requests go uncounted).
//!
//! Which tenants: all of `--config`'s, or those named by `--tenant`; `--tenant-file`
//! reads a tenant file on its own, as a `tenants_dir` file is read (with the main
//! file's `[defaults]`), so a customer's file is checked before it goes into
//! `tenants_dir`; then the files' tenants are checked, with any named by `--tenant`.
//! Exit 0 only when every stream passes; 2 when any fails or the configuration does not
//! load; 1 when the check itself cannot run.

mod probe;
mod render;
mod verdict;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use trawl_engine::clock::Clock;
use trawl_engine::config::{CheckpointSettings, EngineConfig, TenantSpec};
use trawl_engine::limiter::{Accounts, DayState, QuotaKeeper};
use trawl_engine::metrics::Metrics;

pub use render::{Report, TenantTokens};
pub use verdict::{Finding, StreamVerdict};

use crate::config::Config;

/// The longest wait for one permit of an account's bucket.
pub const PERMIT_WAIT: Duration = Duration::from_secs(30);
/// The longest wait for the day's stored request counts (Kafka).
pub const QUOTA_WAIT: Duration = Duration::from_secs(15);
/// Tenants checked at once (each account's bucket paces its own requests).
const TENANTS_AT_ONCE: usize = 32;

/// What to check, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub tenants: Vec<String>,
    pub tenant_files: Vec<PathBuf>,
    pub json: bool,
}

/// How a run paces and counts (tests give the day states and a shorter wait).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub clock: Clock,
    pub wait: Duration,
    /// The buckets' day states to continue; `None`: loaded from Kafka when the
    /// checkpoints are kept there (and written back after).
    pub days: Option<HashMap<String, DayState>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            clock: Clock::System,
            wait: PERMIT_WAIT,
            days: None,
        }
    }
}

/// The command: loads `config_path`, checks, prints, and gives the exit code.
pub fn main(config_path: &Path, opts: &Options) -> ExitCode {
    let config = match crate::config::load(config_path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let tenants = match select(&config, opts) {
        Ok(t) => t,
        Err(problem) => {
            eprintln!("{problem}");
            return ExitCode::from(2);
        }
    };
    let system = actix::System::new();
    let report = system.block_on(run(&config.engine, tenants, RunOptions::default()));
    match report {
        Ok(report) => {
            print!(
                "{}",
                if opts.json {
                    report.json()
                } else {
                    report.table()
                }
            );
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("trawl preflight failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The tenants to check (see the module doc), or why not.
pub fn select(config: &Config, opts: &Options) -> Result<Vec<TenantSpec>, String> {
    let mut chosen: Vec<TenantSpec> = Vec::new();
    let mut problems = Vec::new();
    for path in &opts.tenant_files {
        match crate::config::load_tenant_file(path, config.engine.defaults) {
            Ok(t) if chosen.iter().any(|c| c.id == t.id) => problems.push(format!(
                "{}: tenant {:?} is also in another --tenant-file",
                path.display(),
                t.id.as_str()
            )),
            Ok(t) => chosen.push(t),
            Err(e) => problems.push(e.to_string()),
        }
    }
    let all = opts.tenants.is_empty() && opts.tenant_files.is_empty();
    let named: BTreeSet<&str> = opts.tenants.iter().map(String::as_str).collect();
    for name in &named {
        let known = config.engine.tenants.iter().any(|t| t.id.as_str() == *name)
            || chosen.iter().any(|t| t.id.as_str() == *name);
        if !known {
            problems.push(format!(
                "--tenant {name}: no such tenant in the configuration or the tenant files"
            ));
        }
    }
    for t in &config.engine.tenants {
        let wanted = all || named.contains(t.id.as_str());
        // A tenant file's version of a configured tenant is the one to check.
        if wanted && !chosen.iter().any(|c| c.id == t.id) {
            chosen.push(t.clone());
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    if chosen.is_empty() {
        return Err("no tenants to check".into());
    }
    Ok(chosen)
}

/// Checks `tenants` (see the module doc); must run inside an actix System (the buckets
/// are the engine's actors).
pub async fn run(
    engine: &EngineConfig,
    tenants: Vec<TenantSpec>,
    opts: RunOptions,
) -> anyhow::Result<Report> {
    let http = engine.http.build()?;
    let mut notes = Vec::new();
    let (keeper, days) = match (opts.days, &engine.checkpoints) {
        (Some(days), _) => (None, days),
        (None, CheckpointSettings::Kafka) => load_days(engine, &mut notes).await,
        (None, CheckpointSettings::File { .. }) => (None, HashMap::new()),
    };
    let mut accounts = Accounts::new(
        opts.clock.clone(),
        Arc::new(Metrics::new(false)),
        Vec::new(),
    );
    accounts.set_days(days);
    accounts.apply(&tenants);
    let cx = probe::Context {
        accounts: &accounts,
        http,
        clock: opts.clock,
        wait: opts.wait,
    };
    let checked: Vec<(String, probe::TenantChecked)> = futures::stream::iter(&tenants)
        .map(|t| async { (t.id.to_string(), probe::check_tenant(t, &cx).await) })
        .buffered(TENANTS_AT_ONCE)
        .collect()
        .await;
    if let Some(keeper) = keeper {
        let states = accounts.states().await;
        if tokio::time::timeout(QUOTA_WAIT, keeper.save(&states))
            .await
            .is_err()
        {
            notes.push("the day's request counts could not be written back in time".into());
        }
    }
    let mut streams = Vec::new();
    let mut tokens = Vec::new();
    for (tenant, c) in checked {
        streams.extend(c.verdicts);
        tokens.push(TenantTokens {
            tenant,
            token_requests: c.token_requests,
        });
    }
    Ok(Report::new(streams, tokens, notes))
}

/// The buckets' stored day states, and the keeper to write them back with; a note
/// instead when Kafka does not answer in time.
async fn load_days(
    engine: &EngineConfig,
    notes: &mut Vec<String>,
) -> (Option<Arc<QuotaKeeper>>, HashMap<String, DayState>) {
    let unread = |why: String| {
        format!(
            "the day's request counts were not read from {} ({why}): the checks were paced \
             by rate only, and are not counted in the day's quota",
            engine.kafka.checkpoint_topic()
        )
    };
    let keeper = match trawl_kafka::KafkaCheckpointStore::new(&engine.kafka) {
        Ok(store) => QuotaKeeper::new(store),
        Err(e) => {
            notes.push(unread(e.to_string()));
            return (None, HashMap::new());
        }
    };
    match tokio::time::timeout(QUOTA_WAIT, keeper.load()).await {
        Ok(Ok(days)) => (Some(keeper), days),
        Ok(Err(e)) => {
            notes.push(unread(e.to_string()));
            (None, HashMap::new())
        }
        Err(_) => {
            notes.push(unread(format!("no answer in {} s", QUOTA_WAIT.as_secs())));
            (None, HashMap::new())
        }
    }
}
