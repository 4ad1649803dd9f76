//! Tests of loading a configuration, each asserting what an operator would see: the
//! typed values, the exact messages, and that no secret ever shows.
//!
//! Every test that loads runs in a figment [`Jail`]: its own working directory and an
//! environment restored afterwards; jails run one at a time, so tests that set
//! `TRAWL_*` or secret variables cannot see each other's.

mod examples;
mod kafka;
mod loading;
mod rules;
mod secrets;

use std::path::Path;

use figment::Jail;

use super::{load, Config, ConfigErrors};

/// A value that must never appear in any output.
pub(super) const CANARY: &str = "canary-7f3a9c-do-not-print";

/// A minimal valid Zoom tenant (needs `ACME_SECRET` set).
pub(super) const ZOOM_TENANT: &str = r#"
[[tenants]]
id = "acme"
provider = "zoom"
account_id = "acc-1"
client_id = "cid-1"
client_secret = { env = "ACME_SECRET" }
"#;

/// Runs `f` in a jail (see the module docs).
/// (figment's jail wants a `figment::Result`; the tests panic instead.)
#[allow(clippy::result_large_err)]
pub(super) fn jail(f: impl FnOnce(&mut Jail)) {
    Jail::expect_with(|j| {
        f(j);
        Ok(())
    })
}

/// Writes `toml` to `trawl.toml` in the jail's directory and loads it.
pub(super) fn load_in(jail: &Jail, toml: &str) -> Result<Config, ConfigErrors> {
    jail.create_file("trawl.toml", toml)
        .expect("the jail's directory is writable");
    load(Path::new("trawl.toml"))
}

/// The messages of a load that must fail, sorted.
pub(super) fn errors(jail: &Jail, toml: &str) -> Vec<String> {
    let mut messages: Vec<String> = match load_in(jail, toml) {
        Ok(config) => panic!("expected errors, loaded {config:?}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    messages.sort();
    messages
}

/// The one error of a load that must fail with exactly one problem.
pub(super) fn error(jail: &Jail, toml: &str) -> String {
    let mut all = errors(jail, toml);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

/// `[kafka]` with brokers: the least a valid file has besides tenants.
pub(super) const KAFKA: &str = "[kafka]\nbrokers = \"localhost:9092\"\n";

/// A file of `KAFKA`, `extra` and the Zoom tenant.
pub(super) fn with_tenant(extra: &str) -> String {
    format!("{KAFKA}{extra}\n{ZOOM_TENANT}")
}
