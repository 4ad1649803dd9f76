//! Reading a table of the merged configuration field by field, recording every problem.
//!
//! serde's derive stops at the first error; an operator with ten mistakes wants ten
//! messages. So the raw tree (figment's `Value`: the file merged with `TRAWL_*`
//! variables) is read here one key at a time: each getter either yields the typed value,
//! says the key is absent, or records why it is wrong (with its full path) and returns
//! [`Reported`]. Unknown keys are refused, with a suggestion for likely typos. Messages
//! describe the kind of a wrong value, never the value itself, so a secret put in the
//! wrong place cannot leak through them.
//!
//! `TRAWL_*` variables arrive as strings (so a secret `0123` keeps its zero), and the
//! number and boolean getters read a string that holds one. Every value that reaches the
//! engine is bounded here or by its section: no duration is longer than
//! [`MAX_DURATION`], so nothing at run time can overflow a timer or a date.

use std::time::Duration;

use figment::value::{Dict, Num, Value};
use url::Url;

use super::error::{Problems, Reported};

/// A field's outcome: `Ok(None)` when absent, `Err(Reported)` when wrong (already recorded).
pub(crate) type Field<T> = Result<Option<T>, Reported>;

/// "a string", "a table", ...: how a wrong value is described without showing it.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(..) => "a string",
        Value::Char(..) => "a character",
        Value::Bool(..) => "a boolean",
        Value::Num(..) => "a number",
        Value::Empty(..) => "an empty value",
        Value::Dict(..) => "a table",
        Value::Array(..) => "an array",
    }
}

/// A whole number of any of figment's integer types (TOML gives `i64`, the environment
/// parser the smallest type that fits).
pub(crate) fn whole(n: &Num) -> Option<i128> {
    n.to_i128()
        .or_else(|| n.to_u128().and_then(|u| i128::try_from(u).ok()))
}

/// Any number as `f64`.
pub(crate) fn real(n: &Num) -> f64 {
    n.to_f64()
        .or_else(|| whole(n).map(|i| i as f64))
        .unwrap_or(f64::NAN)
}

/// A duration as an operator writes it: `200d`, `1h 30m`, `45s` (no months or years).
pub(crate) fn show_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if parts.is_empty() {
        parts.push(format!("{}ms", d.as_millis()));
    }
    parts.join(" ")
}

/// `prefix.key`, quoting keys that hold dots (`kafka.properties."sasl.password"`).
pub(crate) fn join(prefix: &str, key: &str) -> String {
    let key = if key.contains('.') || key.is_empty() {
        format!("{key:?}")
    } else {
        key.to_string()
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// The known key closest to a misspelt one, if it is close enough to be a typo.
pub(crate) fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The reason given for a key that is not in `known`.
pub(crate) fn unknown_key_reason(key: &str, known: &[&str]) -> String {
    match suggest(key, known) {
        Some(k) => format!("unknown key; did you mean `{k}`?"),
        None => format!("unknown key; expected one of: {}", known.join(", ")),
    }
}

/// The longest duration any setting takes (a year): no setting needs more, and every
/// duration below it fits every timer, `Instant` and date the engine computes.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a humantime duration ("5m", "1h 30m", "30d"); zero and more than
/// [`MAX_DURATION`] are refused.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_string()),
        Ok(d) if d > MAX_DURATION => Err(format!(
            "{s:?} is longer than any setting allows (at most {})",
            show_duration(MAX_DURATION)
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "{s:?} is not a duration ({e}); write it like \"30s\", \"5m\", \"1h 30m\" or \"30d\""
        )),
    }
}

/// Parses an http(s) base URL without credentials, query or fragment.
pub(crate) fn parse_base_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{s:?} has scheme {:?}; only http and https are supported",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not hold a user name or password (credentials belong in the \
                    secret fields)"
                .to_string(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{s:?} must not have a query or fragment"));
    }
    Ok(url)
}

/// A whole number written as a string (as every `TRAWL_*` value is).
fn whole_in(s: &str) -> Option<i128> {
    s.trim().parse().ok()
}

/// One table (TOML table or inline table) of the configuration, with its path.
pub(crate) struct Table<'v> {
    path: String,
    dict: &'v Dict,
}

impl<'v> Table<'v> {
    /// Reads `value` as a table at `path`, refusing keys not in `known`
    /// (pass `None` to check keys yourself).
    pub(crate) fn of(
        value: &'v Value,
        path: String,
        known: Option<&[&str]>,
        p: &mut Problems,
    ) -> Result<Self, Reported> {
        match value {
            Value::Dict(_, dict) => Ok(Self::from_dict(dict, path, known, p)),
            other => Err(p.error(path, format!("expected a table, found {}", kind(other)))),
        }
    }

    pub(crate) fn from_dict(
        dict: &'v Dict,
        path: String,
        known: Option<&[&str]>,
        p: &mut Problems,
    ) -> Self {
        let t = Self { path, dict };
        if let Some(known) = known {
            for key in dict.keys().filter(|k| !known.contains(&k.as_str())) {
                p.error(t.at(key), unknown_key_reason(key, known));
            }
        }
        t
    }

    /// The path of one of this table's keys.
    pub(crate) fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &'v str> {
        self.dict.keys().map(String::as_str)
    }

    pub(crate) fn raw(&self, key: &str) -> Option<&'v Value> {
        self.dict.get(key)
    }

    fn wrong(&self, key: &str, expected: &str, found: &Value, p: &mut Problems) -> Reported {
        p.error(
            self.at(key),
            format!("expected {expected}, found {}", kind(found)),
        )
    }

    /// A non-empty string. Integers are taken as their digits (`zoid = 57047751`, or a
    /// number-looking `TRAWL_*` value, which figment parses as a number).
    pub(crate) fn string(&self, key: &str, p: &mut Problems) -> Field<String> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        let s = match v {
            Value::String(_, s) => s.clone(),
            Value::Char(_, c) => c.to_string(),
            Value::Num(_, n) if whole(n).is_some() => whole(n).unwrap_or_default().to_string(),
            other => return Err(self.wrong(key, "a string", other, p)),
        };
        if s.trim().is_empty() {
            return Err(p.error(self.at(key), "must not be empty"));
        }
        Ok(Some(s))
    }

    pub(crate) fn bool(&self, key: &str, p: &mut Problems) -> Field<bool> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Bool(_, b)) => Ok(Some(*b)),
            Some(Value::String(_, s)) if s.trim() == "true" => Ok(Some(true)),
            Some(Value::String(_, s)) if s.trim() == "false" => Ok(Some(false)),
            Some(other) => Err(self.wrong(key, "true or false", other, p)),
        }
    }

    pub(crate) fn int(&self, key: &str, p: &mut Problems) -> Field<i128> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Num(_, n)) if whole(n).is_some() => Ok(whole(n)),
            Some(Value::String(_, s)) if whole_in(s).is_some() => Ok(whole_in(s)),
            Some(other) => Err(self.wrong(key, "a whole number", other, p)),
        }
    }

    /// A finite number (NaN and infinities are refused).
    pub(crate) fn float(&self, key: &str, p: &mut Problems) -> Field<f64> {
        let n = match self.raw(key) {
            None => return Ok(None),
            Some(Value::Num(_, n)) => real(n),
            Some(Value::String(_, s)) if s.trim().parse::<f64>().is_ok() => {
                s.trim().parse::<f64>().unwrap_or(f64::NAN)
            }
            Some(other) => return Err(self.wrong(key, "a number", other, p)),
        };
        if n.is_finite() {
            Ok(Some(n))
        } else {
            Err(p.error(self.at(key), "must be a finite number"))
        }
    }

    pub(crate) fn duration(&self, key: &str, p: &mut Problems) -> Field<Duration> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(_, s)) => parse_duration(s)
                .map(Some)
                .map_err(|reason| p.error(self.at(key), reason)),
            Some(other) => Err(self.wrong(key, "a duration string such as \"5m\"", other, p)),
        }
    }

    pub(crate) fn url(&self, key: &str, p: &mut Problems) -> Field<Url> {
        match self.string(key, p)? {
            None => Ok(None),
            Some(s) => parse_base_url(&s)
                .map(Some)
                .map_err(|reason| p.error(self.at(key), reason)),
        }
    }

    /// A nested table, its keys checked against `known`.
    pub(crate) fn table(&self, key: &str, known: &[&str], p: &mut Problems) -> Field<Table<'v>> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => Table::of(v, self.at(key), Some(known), p).map(Some),
        }
    }

    pub(crate) fn array(&self, key: &str, p: &mut Problems) -> Field<&'v [Value]> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Array(_, items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(key, "an array", other, p)),
        }
    }
}

/// The value of a field that may be absent or wrong, with `default` for both cases
/// (a wrong one has been recorded, so the load fails anyway).
pub(crate) fn or<T>(field: Field<T>, default: T) -> T {
    field.ok().flatten().unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion() {
        let known = ["client_secret", "client_id", "account_id"];
        assert_eq!(suggest("client_secert", &known), Some("client_secret"));
        assert_eq!(suggest("colour", &known), None);
        assert_eq!(
            unknown_key_reason("acount_id", &known),
            "unknown key; did you mean `account_id`?"
        );
    }

    #[test]
    fn durations_show_in_days_hours_minutes() {
        assert_eq!(show_duration(Duration::from_secs(200 * 86400)), "200d");
        assert_eq!(show_duration(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1s");
        assert_eq!(show_duration(Duration::from_millis(5)), "5ms");
    }

    #[test]
    fn durations_and_urls() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(
            parse_duration("0s"),
            Err("must be longer than zero".to_string())
        );
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_base_url("https://api.zoom.us").is_ok());
        assert!(parse_base_url("ftp://x.y")
            .unwrap_err()
            .contains("only http and https"));
        assert!(parse_base_url("https://u:pw@x.y")
            .unwrap_err()
            .contains("user name"));
        assert!(parse_base_url("not a url")
            .unwrap_err()
            .contains("is not a URL"));
        assert!(parse_duration("1000000000d")
            .unwrap_err()
            .contains("at most 366d"));
        assert!(parse_duration("366d").is_ok());
    }
}
