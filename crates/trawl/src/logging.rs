//! Log setup: human-readable on a terminal, JSON lines with `--log-format json`.
//! `RUST_LOG` (or `TRAWL_LOG`) filters as usual; the default is `info` for trawl.
//! Every line about a stream carries `tenant` and `source` fields (set at the call
//! sites); nothing logs a secret (secrets are `SecretString`s whose Debug redacts).

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

fn filter(default: &str) -> EnvFilter {
    std::env::var("TRAWL_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default))
}

fn install(format: LogFormat, default: &str) {
    install_to(format, filter(default), std::io::stderr, true);
}

fn install_to<W>(format: LogFormat, filter: EnvFilter, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The same formatting as `trawl run`, written to `writer` with the filter `directives`
/// (tests capture every line this way). Does nothing if a subscriber is already set.
pub fn init_to<W>(format: LogFormat, directives: &str, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    install_to(format, EnvFilter::new(directives), writer, true);
}

pub fn init(format: LogFormat) {
    install(format, "info,librdkafka=warn,rdkafka=warn");
}

/// For the demo, whose screen is the live summary: warnings and errors only. When
/// standard output is a terminal (the demo draws its screen there) they go to a file
/// instead of stderr, whose path is returned.
pub fn init_quiet(format: LogFormat) -> Option<std::path::PathBuf> {
    use std::io::IsTerminal as _;
    let directives = "warn,rdkafka=off,librdkafka=off";
    if std::io::stdout().is_terminal() {
        let path = std::env::temp_dir().join("trawl-demo.log");
        if let Ok(file) = std::fs::File::create(&path) {
            install_to(
                format,
                filter(directives),
                std::sync::Mutex::new(file),
                false,
            );
            return Some(path);
        }
    }
    install(format, directives);
    None
}
