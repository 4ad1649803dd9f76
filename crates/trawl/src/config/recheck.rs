//! `recheck`: when a caught-up stream re-reads its lookback for late records. A live poll
//! reads only what is new (plus a short margin); the lookback's re-reads run on this
//! slower schedule, tiered by age, so a big account's polls cost its new records' pages
//! and not the day's. Written as a list of tiers, `"AGE every PERIOD"` (AGE may be
//! `lookback`, a bare `"PERIOD"` means the whole lookback), or `"every poll"`.

use figment::value::Value;
use trawl_engine::config::{RecheckSchedule, RecheckTier, MAX_RECHECK_TIERS};

use super::error::Problems;
use super::fields::{kind, parse_duration, show_duration, Table};

const SYNTAX: &str = "write tiers like [\"1h every 15m\", \"lookback every 6h\"] (the last hour \
                      re-read every 15 minutes, the whole lookback every 6 hours), or \"every poll\"";

/// The `recheck` key of `t`, if set and valid (problems are recorded).
pub(crate) fn recheck(t: &Table<'_>, p: &mut Problems) -> Option<RecheckSchedule> {
    let at = t.at("recheck");
    let items: Vec<String> = match t.raw("recheck")? {
        Value::String(_, s) => vec![s.clone()],
        Value::Array(_, vs) => {
            let mut out = Vec::new();
            for v in vs {
                match v {
                    Value::String(_, s) => out.push(s.clone()),
                    other => {
                        p.error(
                            &at,
                            format!("expected strings, found {}; {SYNTAX}", kind(other)),
                        );
                        return None;
                    }
                }
            }
            out
        }
        other => {
            p.error(
                &at,
                format!(
                    "expected a string or a list of strings, found {}; {SYNTAX}",
                    kind(other)
                ),
            );
            return None;
        }
    };
    if items.len() == 1 && items[0].trim() == "every poll" {
        return Some(RecheckSchedule::every_poll());
    }
    if items.is_empty() || items.len() > MAX_RECHECK_TIERS {
        p.error(
            &at,
            format!(
                "holds 1 to {MAX_RECHECK_TIERS} tiers, found {}; {SYNTAX}",
                items.len()
            ),
        );
        return None;
    }
    let mut tiers = Vec::new();
    for item in &items {
        match tier(item) {
            Ok(t) => tiers.push(t),
            Err(reason) => {
                p.error(&at, format!("{item:?}: {reason}; {SYNTAX}"));
                return None;
            }
        }
    }
    let schedule = RecheckSchedule::new(&tiers);
    let sorted = schedule.tiers();
    for pair in sorted.windows(2) {
        if pair[0].age == pair[1].age {
            p.error(&at, "two tiers re-read the same age");
            return None;
        }
        if pair[0].every > pair[1].every {
            p.error(
                &at,
                format!(
                    "a deeper tier re-reads more often ({}) than a shallower one ({}), which it \
                     covers: give deeper tiers longer periods",
                    show_duration(pair[1].every),
                    show_duration(pair[0].every)
                ),
            );
            return None;
        }
    }
    Some(schedule)
}

fn tier(item: &str) -> Result<RecheckTier, String> {
    let (age, every) = match item.split_once(" every ") {
        Some((age, every)) => (Some(age.trim()), every),
        None => (None, item),
    };
    let every = parse_duration(every).map_err(|e| format!("the period {e}"))?;
    let age = match age {
        None | Some("lookback") => None,
        Some(a) => Some(parse_duration(a).map_err(|e| format!("the age {e}"))?),
    };
    Ok(RecheckTier { age, every })
}

/// How a schedule reads in `trawl check`.
pub(crate) fn show(s: &RecheckSchedule) -> String {
    let tiers: Vec<String> = s
        .tiers()
        .iter()
        .map(|t| match (t.age, t.every.is_zero()) {
            (None, true) => "lookback every poll".to_string(),
            (None, false) => format!("lookback every {}", show_duration(t.every)),
            (Some(a), true) => format!("{} every poll", show_duration(a)),
            (Some(a), false) => format!("{} every {}", show_duration(a), show_duration(t.every)),
        })
        .collect();
    tiers.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn tiers_read_as_age_every_period() {
        let t = tier("1h every 15m").unwrap();
        assert_eq!(t.age, Some(Duration::from_secs(3600)));
        assert_eq!(t.every, Duration::from_secs(900));
        assert_eq!(tier("6h").unwrap().age, None);
        assert_eq!(tier("lookback every 6h").unwrap().age, None);
        assert!(tier("soon every 1h").unwrap_err().contains("the age"));
        assert!(tier("1h every").is_err());
        assert_eq!(
            show(&RecheckSchedule::default()),
            "1h every 15m, lookback every 6h"
        );
    }
}
