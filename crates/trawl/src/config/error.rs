//! What is wrong with a configuration, said so that an operator can fix it.
//!
//! Loading never stops at the first problem: every rule is checked and every problem is
//! collected into [`ConfigErrors`], each naming the field (`tenants[3].client_secret`),
//! the file when the field lives in a tenant file, and why. Messages may name an
//! environment variable or a secret file, but never hold a secret's value.

use std::fmt;
use std::path::{Path, PathBuf};

use super::secrets::{SecretOrigin, SecretUse};

/// One problem: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the field was read from, for tenant files and file-level problems;
    /// `None` for fields of the main config (file and environment merged).
    pub file: Option<PathBuf>,
    /// Dotted field path: `kafka.partitions`, `tenants[0].streams[1]`, `client_secret`;
    /// empty for a problem with a whole file.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)
    }
}

/// Every problem found in one load, in the order the fields were checked. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something allowed but probably not meant (an inline secret, a setting with no effect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: Option<PathBuf>,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Marks a field whose problem has already been recorded: the caller moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reported;

/// Collects errors and warnings while one file (or the merged main config) is read.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    /// The file that findings are attributed to, if any.
    file: Option<PathBuf>,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) secrets: Vec<SecretUse>,
}

impl Problems {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Findings from now on are attributed to `file` (`None`: the main config).
    pub(crate) fn set_file(&mut self, file: Option<&Path>) {
        self.file = file.map(Path::to_path_buf);
    }

    pub(crate) fn error(&mut self, path: impl Into<String>, reason: impl Into<String>) -> Reported {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            path: path.into(),
            reason: reason.into(),
        });
        Reported
    }

    pub(crate) fn record_secret(&mut self, path: String, origin: SecretOrigin) {
        self.secrets.push(SecretUse {
            file: self.file.clone(),
            path,
            origin,
        });
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            file: self.file.clone(),
            path: path.into(),
            message: message.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_a_list_with_file_and_path() {
        let mut p = Problems::new();
        p.error("kafka.partitions", "must be at least 1");
        p.set_file(Some(Path::new("/etc/trawl/tenants.d/acme.toml")));
        p.error("client_secret", "environment variable ACME is not set");
        let text = ConfigErrors(p.errors).to_string();
        assert_eq!(
            text,
            "the configuration has 2 problems:\n  - kafka.partitions: must be at least 1\n  - \
             /etc/trawl/tenants.d/acme.toml: client_secret: environment variable ACME is not set"
        );
    }
}
