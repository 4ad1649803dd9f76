//! Reading Zoho's throttle message: the lock ("Try again after 22 minutes") and the
//! stated limit ("Cannot execute more than 100 requests per API in 2 minutes"), from
//! whichever texts the answer carries (`error.details.message`, `error.message`, a
//! top-level `message`, `data.moreInfo`, `status.description`). Every call during the
//! lock extends it, so both must be followed as stated, not probed.

use std::time::Duration;

use crate::error::{StatedLimit, Throttle};

/// The lock and the limit, each from the first of `texts` that states it.
pub(crate) fn read<'a>(texts: impl IntoIterator<Item = &'a str> + Clone) -> Throttle {
    Throttle {
        lock: texts.clone().into_iter().find_map(lock_in),
        limit: texts.into_iter().find_map(limit_in),
    }
}

/// The lowercase words (letters and digits) of `text`.
fn words(text: &str) -> Vec<String> {
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A unit word as its length: `second(s)`, `sec(s)`, `minute(s)`, `min(s)`, `hour(s)`,
/// `hr(s)`.
fn unit(word: &str) -> Option<Duration> {
    let w = word.strip_suffix('s').unwrap_or(word);
    Some(match w {
        "second" | "sec" => Duration::from_secs(1),
        "minute" | "min" => Duration::from_secs(60),
        "hour" | "hr" => Duration::from_secs(3600),
        _ => return None,
    })
}

/// `n` units, if at most a century (the source caps a lock much shorter).
fn times(n: &str, u: Duration) -> Option<Duration> {
    let n: u32 = n.parse().ok()?;
    let d = u.checked_mul(n)?;
    (d <= Duration::from_secs(86_400 * 36_525)).then_some(d)
}

/// "... Try again after 22 minutes." -> 22 minutes (seconds, minutes, hours).
pub(crate) fn lock_in(text: &str) -> Option<Duration> {
    let w = words(text);
    (0..w.len()).filter(|&i| w[i] == "after").find_map(|at| {
        let n = w.get(at + 1)?;
        let u = w
            .get(at + 2)
            .and_then(|u| unit(u))
            .unwrap_or(Duration::from_secs(1));
        times(n, u)
    })
}

/// "more than 100 requests per API in 2 minutes" -> 100 per 120 s; "30 requests per
/// minute" -> 30 per 60 s. The count is the number before `request(s)` or `call(s)`, the
/// window the first unit within the next few words (times the number just before it).
pub(crate) fn limit_in(text: &str) -> Option<StatedLimit> {
    let w = words(text);
    let at = w.windows(2).position(|p| {
        p[0].parse::<u32>().is_ok() && (p[1].starts_with("request") || p[1].starts_with("call"))
    })?;
    let requests: u32 = w[at].parse().ok().filter(|n| *n > 0)?;
    let rest = &w[at + 2..];
    let (i, u) = rest
        .iter()
        .take(6)
        .enumerate()
        .find_map(|(i, x)| unit(x).map(|u| (i, u)))?;
    let per = match i.checked_sub(1).map(|j| rest[j].as_str()) {
        Some(n) if n.parse::<u32>().is_ok() => times(n, u)?,
        _ => u,
    };
    (!per.is_zero()).then_some(StatedLimit { requests, per })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: &str =
        "Cannot execute more than 100 requests per API in 2 minutes. Try again after 22 minutes.";

    #[test]
    fn the_field_message_gives_lock_and_limit() {
        assert_eq!(lock_in(FIELD), Some(Duration::from_secs(22 * 60)));
        assert_eq!(
            limit_in(FIELD),
            Some(StatedLimit {
                requests: 100,
                per: Duration::from_secs(120)
            })
        );
    }

    #[test]
    fn locks_in_every_unit_and_none_where_unreadable() {
        assert_eq!(
            lock_in(
                "You have exceeded the permitted number of API calls. Try again after 22 minutes."
            ),
            Some(Duration::from_secs(1320))
        );
        assert_eq!(
            lock_in("try again after 1 hour"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            lock_in("Retry after 30 seconds."),
            Some(Duration::from_secs(30))
        );
        assert_eq!(lock_in("Retry after 45"), Some(Duration::from_secs(45)));
        assert_eq!(lock_in("Please try again after some time."), None);
        assert_eq!(lock_in("after 999999999999999999 hours"), None);
        assert_eq!(lock_in("after 4294967295 hours"), None);
        assert_eq!(lock_in("Too many requests"), None);
        assert_eq!(
            lock_in("Blocked after some requests; try again after 3 minutes"),
            Some(Duration::from_secs(180))
        );
    }

    #[test]
    fn limits_in_their_usual_wordings() {
        let l = |n, s| {
            Some(StatedLimit {
                requests: n,
                per: Duration::from_secs(s),
            })
        };
        assert_eq!(
            limit_in("Limit of 30 requests per minute exceeded"),
            l(30, 60)
        );
        assert_eq!(limit_in("more than 5 calls in 10 seconds"), l(5, 10));
        assert_eq!(
            limit_in("URL_ROLLING_THROTTLES: 1000 requests per API per hour"),
            l(1000, 3600)
        );
        assert_eq!(
            limit_in("Too many requests. Try again after 2 minutes."),
            None
        );
        assert_eq!(limit_in("0 requests per minute"), None);
        assert_eq!(limit_in("100 requests"), None);
    }

    #[test]
    fn each_part_comes_from_the_first_text_stating_it() {
        let t = read(["Too many requests", "Try again after 5 minutes", FIELD]);
        assert_eq!(t.lock, Some(Duration::from_secs(300)));
        assert_eq!(t.limit.map(|l| l.requests), Some(100));
        assert_eq!(read(["nothing here"]), Throttle::default());
    }
}
