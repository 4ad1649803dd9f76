//! The command line: `trawl run`, `trawl check-config`, `trawl preflight`, `trawl demo`.
//!
//! Parsing with clap; each command lives in its own module. Exit codes: 0 on success
//! and after a graceful stop, 1 when the command failed, 2 for a bad configuration (and
//! for a preflight with a failing stream).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::DEFAULT_CONFIG_PATH;

#[derive(Debug, Parser)]
#[command(
    name = "trawl",
    version,
    about = "Collects Zoom and Zoho admin audit logs into Kafka, exactly once."
)]
pub struct Cli {
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, env = "TRAWL_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector until SIGINT or SIGTERM.
    Run {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Check a configuration and report every problem with its field path.
    CheckConfig {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Check every tenant stream against the real APIs before turning it on: token,
    /// scopes, plan, Zoom Phone, Zoho organization, one page. Exit 0 only when all pass.
    Preflight {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Check only this tenant (repeatable).
        #[arg(long = "tenant", value_name = "ID")]
        tenants: Vec<String>,
        /// Check the tenant of this file, read as a `tenants_dir` file with the config's
        /// `[defaults]`, before it goes into `tenants_dir` (repeatable).
        #[arg(long = "tenant-file", value_name = "FILE")]
        tenant_files: Vec<PathBuf>,
        /// One JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Run the simulator, the engine and an in-process Kafka together, with a live summary.
    Demo {
        /// Stop by itself after this many seconds (default: run until Ctrl-C).
        #[arg(long = "for", value_name = "SECONDS")]
        run_for: Option<u64>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => {
            let report = crate::config::check(&config);
            print!("{}", report.text);
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Command::Run { config } => {
            crate::logging::init(cli.log_format);
            crate::run::run(&config)
        }
        Command::Preflight {
            config,
            tenants,
            tenant_files,
            json,
        } => {
            crate::logging::init_to(
                cli.log_format,
                "error,rdkafka=off,librdkafka=off",
                std::io::stderr,
            );
            let opts = crate::preflight::Options {
                tenants,
                tenant_files,
                json,
            };
            crate::preflight::main(&config, &opts)
        }
        Command::Demo { run_for } => {
            let log = crate::logging::init_quiet(cli.log_format);
            crate::demo::run(run_for, log)
        }
    }
}
