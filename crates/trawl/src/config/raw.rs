//! The raw configuration tree: TOML text merged with `TRAWL_*` environment variables.
//!
//! figment does the merging (file < environment, `TRAWL_KAFKA__BROKERS` sets
//! `kafka.brokers`); the typed reading and the defaults live in the sibling modules.
//! Environment values enter the tree as strings, as written: figment's own parsing
//! would turn a secret `0123` into the number 123 (and `true` or `[a]` into other
//! kinds); the typed getters read numbers and booleans out of strings instead.
//! TOML syntax is checked here with the `toml` crate first, so a syntax error is
//! reported by line and column with the parser's message but without the quoted source
//! line, which could be a line holding an inline secret.

use std::path::Path;

use figment::providers::{Env, Serialized};
use figment::util::nest;
use figment::value::{Dict, Value};
use figment::Figment;

use super::error::{Problems, Reported};

/// The keys a main configuration file may have at its top level.
pub(crate) const TOP_KEYS: &[&str] = &[
    "server",
    "kafka",
    "checkpoints",
    "defaults",
    "metrics",
    "http",
    "cluster",
    "tenants_dir",
    "tenants",
];

/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "TRAWL_";

/// Reads a whole file as UTF-8 text; problems are attributed to the file itself.
pub(crate) fn read_file(path: &Path, p: &mut Problems) -> Result<String, Reported> {
    std::fs::read_to_string(path).map_err(|e| p.error("", format!("cannot read the file: {e}")))
}

/// Parses TOML text into figment's tree.
pub(crate) fn parse_toml(text: &str, p: &mut Problems) -> Result<Dict, Reported> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| line_col(text, s.start));
        let at = at.map_or(String::new(), |(l, c)| format!("line {l}, column {c}"));
        p.error(at, format!("invalid TOML: {}", e.message().trim_end()))
    })?;
    match Value::serialize(table) {
        Ok(Value::Dict(_, dict)) => Ok(dict),
        Ok(_) | Err(_) => Err(p.error("", "the file is not a TOML table")),
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The `TRAWL_*` variables that are configuration: those whose first key segment is a
/// top-level config key. Others (`TRAWL_TANSU_BIN`, `TRAWL_LOG`, ...) belong to tools and
/// scripts and are left alone rather than refused as unknown keys.
fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX).split("__").filter(|k| {
        let first = k.as_str().split('.').next().unwrap_or_default();
        TOP_KEYS.iter().any(|t| t.eq_ignore_ascii_case(first))
    })
}

/// The configuration variables as a tree of strings.
fn env_tree() -> Dict {
    let mut tree = Figment::new();
    for (key, value) in env_provider().iter() {
        tree = tree.merge(Serialized::defaults(nest(key.as_str(), Value::from(value))));
    }
    tree.extract::<Dict>().unwrap_or_default()
}

/// The file's tree with the environment merged over it.
pub(crate) fn merge_env(file: Dict, p: &mut Problems) -> Result<Dict, Reported> {
    Figment::from(Serialized::defaults(file))
        .merge(Serialized::defaults(env_tree()))
        .extract::<Dict>()
        .map_err(|e| {
            // figment's messages about environment values quote only keys and kinds here.
            p.error(
                "",
                format!("cannot merge the {ENV_PREFIX}* environment: {}", e.kind),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_give_line_and_column_without_the_line() {
        let mut p = Problems::new();
        let text = "[kafka]\nbrokers = \"a:1\"\n\"sasl.password\" = \"canary-pw\nx = 1\n";
        assert!(parse_toml(text, &mut p).is_err());
        let e = &p.errors[0];
        assert!(e.path.starts_with("line 3, column"), "{e}");
        assert!(e.reason.starts_with("invalid TOML"), "{e}");
        assert!(!e.to_string().contains("canary-pw"), "{e}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
