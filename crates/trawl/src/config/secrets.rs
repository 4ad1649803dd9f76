//! Secrets by reference: `{ env = "NAME" }`, `{ file = "PATH" }`, or (warned) inline.
//!
//! A secret is resolved once, at load, into a [`SecretString`] whose `Debug` is redacted.
//! What is remembered about it afterwards is only where it came from ([`SecretOrigin`]),
//! for `check-config`'s report. Every message here names the field and the variable or
//! file, never the value: a secret file that is not UTF-8 is reported as such, not shown.

use std::fmt;
use std::path::PathBuf;

use figment::value::Value;
use secrecy::SecretString;

use super::error::{Problems, Reported};
use super::fields::{kind, Field, Table};

/// Where a secret's value was taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOrigin {
    /// `{ env = "NAME" }`
    Env(String),
    /// `{ file = "PATH" }`
    File(PathBuf),
    /// A literal string in the configuration (allowed, warned about).
    Inline,
}

impl fmt::Display for SecretOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretOrigin::Env(name) => write!(f, "environment variable {name}"),
            SecretOrigin::File(path) => write!(f, "file {}", path.display()),
            SecretOrigin::Inline => f.write_str("inline in the configuration"),
        }
    }
}

/// One secret field of the loaded configuration and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUse {
    /// The tenant file the field is in, if any.
    pub file: Option<PathBuf>,
    pub path: String,
    pub origin: SecretOrigin,
}

/// Reads and resolves the secret field `key` of `t`.
pub(crate) fn secret(t: &Table<'_>, key: &str, p: &mut Problems) -> Field<SecretString> {
    match t.raw(key) {
        None => Ok(None),
        Some(v) => resolve(v, t.at(key), p).map(Some),
    }
}

/// Resolves a secret value (literal or reference) found at `path`, recording where it
/// came from and warning about inline secrets.
pub(crate) fn resolve(
    value: &Value,
    path: String,
    p: &mut Problems,
) -> Result<SecretString, Reported> {
    let (secret, origin) = match value {
        Value::String(_, s) => {
            if s.is_empty() {
                return Err(p.error(path, "must not be empty"));
            }
            p.warn(
                path.clone(),
                "secret is written inline in the configuration; prefer { env = \"NAME\" } or \
                 { file = \"PATH\" }",
            );
            (SecretString::from(s.as_str()), SecretOrigin::Inline)
        }
        Value::Dict(..) => {
            let before = p.errors.len();
            let t = Table::of(value, path.clone(), Some(&["env", "file"]), p)?;
            let env = t.string("env", p)?;
            let file = t.string("file", p)?;
            match (env, file) {
                (Some(name), None) => (from_env(&name, &path, p)?, SecretOrigin::Env(name)),
                (None, Some(file)) => {
                    let file = PathBuf::from(file);
                    (from_file(&file, &path, p)?, SecretOrigin::File(file))
                }
                (Some(_), Some(_)) => {
                    return Err(p.error(path, "give either `env` or `file`, not both"));
                }
                // An unknown key (`{ vault = .. }`) has been reported already.
                (None, None) if p.errors.len() > before => return Err(Reported),
                (None, None) => {
                    return Err(p.error(path, "a secret reference needs `env` or `file`"));
                }
            }
        }
        other => {
            return Err(p.error(
                path,
                format!(
                    "expected a secret: {{ env = \"NAME\" }}, {{ file = \"PATH\" }} or a \
                     string; found {}",
                    kind(other)
                ),
            ));
        }
    };
    p.record_secret(path, origin);
    Ok(secret)
}

fn from_env(name: &str, path: &str, p: &mut Problems) -> Result<SecretString, Reported> {
    if name.contains(['=', '\0']) {
        return Err(p.error(
            path,
            format!("{name:?} is not a valid environment variable name"),
        ));
    }
    match std::env::var_os(name) {
        None => Err(p.error(path, format!("environment variable {name} is not set"))),
        Some(v) if v.is_empty() => {
            Err(p.error(path, format!("environment variable {name} is empty")))
        }
        Some(v) => match v.into_string() {
            Ok(s) => Ok(SecretString::from(s)),
            Err(_) => Err(p.error(
                path,
                format!("environment variable {name} is not valid UTF-8"),
            )),
        },
    }
}

fn from_file(
    file: &std::path::Path,
    path: &str,
    p: &mut Problems,
) -> Result<SecretString, Reported> {
    let shown = file.display();
    let bytes = std::fs::read(file)
        .map_err(|e| p.error(path, format!("cannot read secret file {shown}: {e}")))?;
    let mut s = String::from_utf8(bytes)
        .map_err(|_| p.error(path, format!("secret file {shown} is not valid UTF-8")))?;
    let len = s.trim_end_matches(['\n', '\r']).len();
    s.truncate(len);
    if s.is_empty() {
        return Err(p.error(path, format!("secret file {shown} is empty")));
    }
    Ok(SecretString::from(s))
}
