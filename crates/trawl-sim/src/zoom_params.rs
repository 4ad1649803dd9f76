//! Zoom's query parameters: date forms, the one-month and 6-month rules, page tokens.
//!
//! Kept apart from the handlers because these rules are where collectors go wrong:
//! `from`/`to` are whole days on the account report and days or instants on the Phone
//! report (a day being the UTC day or the account's, as configured); a window may span
//! one month; only the last 6 months exist; and a `next_page_token` is opaque, bound to
//! its query, pins the list it pages through (or only an offset into it) and expires 15
//! minutes after it was issued.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

use crate::clock::{from_ms, DAY_MS};
use crate::data::Snapshot;

/// A parsed `from`/`to` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZoomTime {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

impl ZoomTime {
    /// Dates always; `yyyy-MM-ddTHH:mm:ssZ` only where the endpoint takes it (Phone).
    pub fn parse(s: &str, allow_instant: bool) -> Option<ZoomTime> {
        if s.len() == 10 {
            return NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(ZoomTime::Date);
        }
        if allow_instant && s.len() == 20 && s.ends_with('Z') {
            return NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
                .ok()
                .map(|t| ZoomTime::Instant(t.and_utc()));
        }
        None
    }

    pub fn date(self) -> NaiveDate {
        match self {
            ZoomTime::Date(d) => d,
            ZoomTime::Instant(t) => t.date_naive(),
        }
    }

    /// First millisecond covered when used as `from`, a date's day starting at its
    /// midnight in a zone `offset_ms` ahead of UTC (0: the UTC day).
    pub fn start_ms(self, offset_ms: i64) -> i64 {
        match self {
            ZoomTime::Date(d) => {
                d.and_hms_opt(0, 0, 0)
                    .map_or(0, |t| t.and_utc().timestamp_millis())
                    - offset_ms
            }
            ZoomTime::Instant(t) => t.timestamp_millis(),
        }
    }

    /// First millisecond no longer covered when used as `to` (inclusive: the whole day,
    /// or the whole second).
    pub fn end_ms(self, offset_ms: i64) -> i64 {
        match self {
            ZoomTime::Date(_) => self.start_ms(offset_ms) + DAY_MS,
            ZoomTime::Instant(t) => t.timestamp_millis() + 1000,
        }
    }

    fn as_instant(self) -> DateTime<Utc> {
        from_ms(self.start_ms(0))
    }
}

/// Why a `from`..`to` pair is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeError {
    Reversed,
    TooLong,
    BeyondHorizon,
}

/// The one-month rule (`to <= from + 1 calendar month`, or a day count) and the
/// 6-month horizon (`from` not before today's date minus 6 months).
pub(crate) fn check_range(
    from: ZoomTime,
    to: ZoomTime,
    now: DateTime<Utc>,
    max_days: Option<u32>,
) -> Result<(), RangeError> {
    if to.start_ms(0) < from.start_ms(0) {
        return Err(RangeError::Reversed);
    }
    let horizon = now
        .date_naive()
        .checked_sub_months(Months::new(6))
        .unwrap_or(NaiveDate::MIN);
    if from.date() < horizon {
        return Err(RangeError::BeyondHorizon);
    }
    let too_long = match max_days {
        Some(days) => to.start_ms(0) - from.start_ms(0) > i64::from(days) * DAY_MS,
        None => from
            .as_instant()
            .checked_add_months(Months::new(1))
            .is_none_or(|limit| to.as_instant() > limit),
    };
    if too_long {
        return Err(RangeError::TooLong);
    }
    Ok(())
}

/// What a `next_page_token` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageToken {
    pub offset: u32,
    /// The number of the page it leads to (the first page, asked without a token, is 1).
    pub page: u32,
    /// [`PageToken::EMPTY_SERVED`]: the empty page of `empty_page_rate` was already
    /// served at this offset.
    pub flags: u32,
    pub snapshot: Snapshot,
    pub issued_ms: i64,
    /// Hash of the query it belongs to (account, API, window, category).
    pub query: u64,
}

const MAC_LEN: usize = 8;
const PAYLOAD_LEN: usize = 40;

fn mac(key: &[u8; 32], payload: &[u8]) -> [u8; MAC_LEN] {
    let digest = Sha256::new()
        .chain_update(key)
        .chain_update(payload)
        .finalize();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&digest[..MAC_LEN]);
    out
}

impl PageToken {
    pub const EMPTY_SERVED: u32 = 1;

    pub fn encode(&self, key: &[u8; 32]) -> String {
        let mut p = Vec::with_capacity(PAYLOAD_LEN + MAC_LEN);
        p.extend_from_slice(&self.offset.to_le_bytes());
        p.extend_from_slice(&self.page.to_le_bytes());
        p.extend_from_slice(&self.flags.to_le_bytes());
        p.extend_from_slice(&self.snapshot.at_ms.to_le_bytes());
        p.extend_from_slice(&self.snapshot.inject_max.to_le_bytes());
        p.extend_from_slice(&self.issued_ms.to_le_bytes());
        p.extend_from_slice(&self.query.to_le_bytes());
        let m = mac(key, &p);
        p.extend_from_slice(&m);
        URL_SAFE_NO_PAD.encode(p)
    }

    /// `None` for anything not issued by this simulator (forged, truncated, mangled).
    pub fn decode(s: &str, key: &[u8; 32]) -> Option<PageToken> {
        let p = URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
        if p.len() != PAYLOAD_LEN + MAC_LEN || mac(key, &p[..PAYLOAD_LEN]) != p[PAYLOAD_LEN..] {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(p[i..i + 4].try_into().unwrap_or([0; 4]));
        let u64_at = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().unwrap_or([0; 8]));
        Some(PageToken {
            offset: u32_at(0),
            page: u32_at(4),
            flags: u32_at(8),
            snapshot: Snapshot {
                at_ms: u64_at(12) as i64,
                inject_max: u32_at(20),
            },
            issued_ms: u64_at(24) as i64,
            query: u64_at(32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> ZoomTime {
        ZoomTime::parse(s, true).unwrap()
    }

    #[test]
    fn one_calendar_month_is_the_longest_window() {
        let now = Utc.with_ymd_and_hms(2019, 9, 20, 0, 0, 0).unwrap();
        assert_eq!(
            check_range(d("2019-08-14"), d("2019-09-14"), now, None),
            Ok(())
        );
        assert_eq!(
            check_range(d("2019-08-14"), d("2019-09-15"), now, None),
            Err(RangeError::TooLong)
        );
        assert_eq!(
            check_range(d("2019-09-14"), d("2019-08-14"), now, None),
            Err(RangeError::Reversed)
        );
        assert_eq!(
            check_range(d("2019-03-19"), d("2019-03-20"), now, None),
            Err(RangeError::BeyondHorizon)
        );
        assert_eq!(
            check_range(d("2019-03-20"), d("2019-03-20"), now, None),
            Ok(())
        );
        assert_eq!(
            check_range(
                d("2019-08-14T10:00:00Z"),
                d("2019-09-14T10:00:01Z"),
                now,
                None
            ),
            Err(RangeError::TooLong)
        );
        assert_eq!(
            check_range(d("2019-08-14"), d("2019-09-20"), now, Some(40)),
            Ok(())
        );
        assert!(ZoomTime::parse("2019-08-14T10:00:00Z", false).is_none());
        assert!(ZoomTime::parse("14/08/2019", true).is_none());
    }

    #[test]
    fn a_date_is_the_day_of_the_zone_it_is_read_in() {
        let day = d("2026-03-10");
        let utc = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
        assert_eq!(day.start_ms(0), utc.timestamp_millis());
        let plus13 = 13 * 3_600_000;
        assert_eq!(
            from_ms(day.start_ms(plus13)),
            Utc.with_ymd_and_hms(2026, 3, 9, 11, 0, 0).unwrap()
        );
        assert_eq!(
            from_ms(day.end_ms(-8 * 3_600_000)),
            Utc.with_ymd_and_hms(2026, 3, 11, 8, 0, 0).unwrap()
        );
        // Instants carry their own zone (Z).
        let i = d("2026-03-10T10:00:00Z");
        assert_eq!(i.start_ms(plus13), i.start_ms(0));
    }

    #[test]
    fn page_tokens_round_trip_and_refuse_tampering() {
        let key = [7u8; 32];
        let t = PageToken {
            offset: 300,
            page: 2,
            flags: PageToken::EMPTY_SERVED,
            snapshot: Snapshot {
                at_ms: 1_700_000_000_123,
                inject_max: 4,
            },
            issued_ms: 1_700_000_000_999,
            query: 0xdead_beef,
        };
        let s = t.encode(&key);
        assert_eq!(PageToken::decode(&s, &key), Some(t));
        assert_eq!(PageToken::decode(&s, &[8u8; 32]), None);
        let mut bad = s.clone().into_bytes();
        bad[3] = if bad[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            PageToken::decode(&String::from_utf8(bad).unwrap(), &key),
            None
        );
    }
}
