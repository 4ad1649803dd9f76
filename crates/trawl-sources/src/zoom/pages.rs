//! The paging of one window of a Zoom log endpoint, shared by both endpoints: the
//! listings it asks for (the dates the window spans, then a neighbouring date for an
//! edge the answers do not prove covered, see [`super::dates`]), each followed by its
//! `next_page_token`.
//!
//! Pages are followed until the token is empty, absent or `null`; an empty page that
//! carries a token is followed too. A token already followed in this listing is a loop:
//! the window starts over once, and a second loop is an error that says so; so is a
//! long run of empty pages, each with a new token. Pages report `Follows::Offset`, so
//! the scan can catch records shown again when the token is only an offset, and the
//! driver can ask for the page before the last one again ([`Driver::repeat_previous`]).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use trawl_model::Window;

use super::dates::{self, Evidence};
use super::{Answered, ZoomCommon};
use crate::error::SourceError;
use crate::http::Answer;
use crate::scan::{BoxFuture, Driver, DriverPage, Fetch, Fetched, Follows, Outside};

/// Empty pages in a row, each with a token, before the listing is taken as broken.
pub const MAX_EMPTY_PAGES: u32 = 20;

/// What a listing asks `from`/`to` as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Range {
    /// Whole dates, both included.
    Dates(NaiveDate, NaiveDate),
    /// Instants (the Phone report's other form): the window itself.
    Instants(Window),
}

/// One endpoint's side of the paging.
pub(crate) trait LogEndpoint: Send + Sync + 'static {
    fn common(&self) -> &ZoomCommon;
    fn path(&self) -> &'static str;
    /// How the next listing of `piece` asks.
    fn range_for(&self, piece: Window, now: DateTime<Utc>) -> Range;
    /// The query of a listing, without `page_size` and the cursor.
    fn query(&self, range: Range) -> Vec<(&'static str, String)>;
    /// Answers only this endpoint gives, for a request asked as `range`.
    fn special(&self, answer: &Answer, range: Range) -> Option<Result<Answered, SourceError>>;
    /// A page of `range` came back fine.
    fn accepted(&self, _range: Range) {}
}

/// One listing: a range followed page by page.
struct Listing {
    range: Range,
    /// A date before the piece's own, asked for its start edge.
    before: bool,
    cursor: Option<String>,
    /// The cursors that gave the last two pages with records (`None`: the first page).
    last: Option<Option<String>>,
    before_last: Option<Option<String>>,
    followed: HashSet<String>,
    empty_in_row: u32,
    seen: Evidence,
    /// Pages it has returned.
    pages: u32,
}

impl Listing {
    fn new(range: Range) -> Self {
        Self {
            range,
            before: false,
            cursor: None,
            last: None,
            before_last: None,
            followed: HashSet::new(),
            empty_in_row: 0,
            seen: Evidence::default(),
            pages: 0,
        }
    }
}

/// What is asked for one piece: the dates so far and what their answers showed.
struct Plan {
    piece: Window,
    /// Dates asked so far, `first..=last` (date ranges only).
    dates: Option<(NaiveDate, NaiveDate)>,
    seen: Evidence,
    extra: u32,
    /// The date before the first is older than the API keeps: nothing lies there.
    at_horizon: bool,
    listing: Option<Listing>,
    /// The listing that ended last: its range and the cursor of its page before the last.
    ended: Option<(Range, Option<Option<String>>)>,
}

/// What the next request asks.
type Ask = (Range, Option<String>);

/// How a listing goes on after a page.
enum Next {
    Follow,
    Done,
    Loop,
    Broken(u32),
}

/// The pages of one window of a Zoom log endpoint.
pub(crate) struct LogPages<E: LogEndpoint> {
    endpoint: Arc<E>,
    plan: Option<Plan>,
    /// Set by [`Driver::repeat_previous`]: the next request asks this again.
    repeat: Option<Ask>,
    loops: u32,
}

impl<E: LogEndpoint> LogPages<E> {
    pub fn new(endpoint: Arc<E>) -> Self {
        Self {
            endpoint,
            plan: None,
            repeat: None,
            loops: 0,
        }
    }

    fn plan_for(&mut self, piece: Window, now: DateTime<Utc>) -> &mut Plan {
        if self.plan.as_ref().is_none_or(|p| p.piece != piece) {
            let range = self.endpoint.range_for(piece, now);
            self.plan = Some(Plan {
                piece,
                dates: match range {
                    Range::Dates(f, l) => Some((f, l)),
                    Range::Instants(_) => None,
                },
                seen: Evidence::default(),
                extra: 0,
                at_horizon: false,
                listing: Some(Listing::new(range)),
                ended: None,
            });
        }
        self.plan.as_mut().expect("just set")
    }

    /// The current listing ended: learn from it, and ask a neighbouring date when an
    /// edge of the piece is not proven covered.
    fn listing_done(&mut self) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        let Some(done) = plan.listing.take() else {
            return;
        };
        let common = self.endpoint.common();
        if let Range::Dates(f, l) = done.range {
            if f == l {
                if let Some(offset) = dates::offset_shown(f, &done.seen) {
                    common.learn_day_offset(offset);
                }
            }
        }
        plan.ended = Some((done.range, done.before_last));
        let Some((first, last)) = plan.dates else {
            return;
        };
        let piece = plan.piece;
        let (next, before) =
            if !plan.at_horizon && dates::latest_start(first, &plan.seen) > piece.start {
                let d = first.pred_opt().unwrap_or(first);
                plan.dates = Some((d, last));
                (d, true)
            } else if dates::earliest_end(last, &plan.seen) < piece.end {
                let d = last.succ_opt().unwrap_or(last);
                plan.dates = Some((first, d));
                (d, false)
            } else {
                return;
            };
        plan.extra += 1;
        if plan.extra > 2 * dates::MAX_EXTRA_DATES {
            tracing::warn!(stream = %common.stream, %piece, "window edges still unproven after extra dates; taking them as covered");
            return;
        }
        tracing::debug!(stream = %common.stream, %piece, date = %next, "asking a neighbouring date for an edge of the window");
        let mut listing = Listing::new(Range::Dates(next, next));
        listing.before = before;
        plan.listing = Some(listing);
    }

    fn more(&self) -> bool {
        self.plan.as_ref().is_some_and(|p| p.listing.is_some())
    }

    /// After the start edge hit the horizon: the end edge may still need a date.
    fn end_edge(&mut self) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        let Some((first, last)) = plan.dates else {
            return;
        };
        if dates::earliest_end(last, &plan.seen) < plan.piece.end {
            let d = last.succ_opt().unwrap_or(last);
            plan.dates = Some((first, d));
            plan.extra += 1;
            plan.listing = Some(Listing::new(Range::Dates(d, d)));
        }
    }

    async fn fetch_page(&mut self, piece: Window, now: DateTime<Utc>) -> Fetched {
        let endpoint = self.endpoint.clone();
        let (range, cursor, repeat, before) = match self.repeat.take() {
            Some((range, cursor)) => (range, cursor, true, false),
            None => match self.plan_for(piece, now).listing.as_ref() {
                Some(l) => (l.range, l.cursor.clone(), false, l.before),
                None => {
                    return Fetched {
                        result: Ok(page_of(Vec::new(), Vec::new(), false, Follows::First)),
                        exchange: None,
                    }
                }
            },
        };
        let special = |a: &Answer| endpoint.special(a, range);
        let (result, exchange) = endpoint
            .common()
            .request(
                endpoint.path(),
                endpoint.query(range),
                cursor.as_deref(),
                now,
                &special,
            )
            .await;
        let result = match result {
            Err(e) => {
                if repeat {
                    self.repeat = Some((range, cursor));
                }
                Err(e)
            }
            Ok(Answered::Restart { reason }) => Ok(Fetch::Restart { reason }),
            Ok(Answered::Horizon { reason }) if before => {
                // A date asked only for the window's start edge is older than the API
                // keeps: nothing there can hold a record of the window.
                tracing::debug!(%reason, "the date before the window is past the API's retention");
                if let Some(plan) = self.plan.as_mut() {
                    plan.at_horizon = true;
                    plan.listing = None;
                    if let Some((first, last)) = plan.dates {
                        plan.dates = Some((first.succ_opt().unwrap_or(first), last));
                    }
                }
                self.end_edge();
                Ok(page_of(Vec::new(), Vec::new(), self.more(), Follows::First))
            }
            Ok(Answered::Horizon { reason }) => Ok(Fetch::Horizon { reason }),
            Ok(Answered::Refresh { reason }) => {
                if repeat {
                    self.repeat = Some((range, cursor));
                }
                Ok(Fetch::Again { reason })
            }
            Ok(Answered::Page(p)) => {
                endpoint.accepted(range);
                let follows = match cursor {
                    Some(_) => Follows::Offset { total: p.total },
                    None => Follows::First,
                };
                if repeat {
                    Ok(Fetch::Page(DriverPage {
                        records: p.records,
                        rejected: p.rejected,
                        more: self.more(),
                        follows,
                        outside: Outside::Neighbours,
                        repeat: true,
                    }))
                } else {
                    self.take_page(p, range, cursor, follows)
                }
            }
        };
        Fetched { result, exchange }
    }

    fn take_page(
        &mut self,
        p: super::LogPage,
        range: Range,
        cursor: Option<String>,
        follows: Follows,
    ) -> Result<Fetch, SourceError> {
        let scope = self.endpoint.common().scope.clone();
        let Some(plan) = self.plan.as_mut() else {
            return Ok(page_of(p.records, p.rejected, false, follows));
        };
        let Some(listing) = plan.listing.as_mut() else {
            return Ok(page_of(p.records, p.rejected, false, follows));
        };
        listing.pages += 1;
        for r in &p.records {
            plan.seen.observe(r.time);
            listing.seen.observe(r.time);
        }
        if !p.records.is_empty() {
            listing.before_last = listing.last.replace(cursor.clone());
        }
        let next = match &p.next {
            Some(t) if listing.followed.contains(t) || cursor.as_ref() == Some(t) => Next::Loop,
            Some(t) => {
                listing.empty_in_row = if p.records.is_empty() {
                    listing.empty_in_row + 1
                } else {
                    0
                };
                if listing.empty_in_row > MAX_EMPTY_PAGES {
                    Next::Broken(listing.empty_in_row)
                } else {
                    listing.followed.insert(t.clone());
                    listing.cursor = Some(t.clone());
                    Next::Follow
                }
            }
            None => Next::Done,
        };
        match next {
            Next::Follow => Ok(page_of(p.records, p.rejected, true, follows)),
            Next::Done => {
                self.listing_done();
                Ok(page_of(p.records, p.rejected, self.more(), follows))
            }
            Next::Broken(n) => Err(SourceError::retryable(format!(
                "{scope}: {n} empty pages in a row, each with a new next_page_token, while listing {range:?}"
            ))),
            Next::Loop => {
                self.loops += 1;
                let what = format!(
                    "{scope}: Zoom handed back a next_page_token already followed (a paging loop) \
                     while listing {range:?}"
                );
                if self.loops == 1 {
                    Ok(Fetch::Restart {
                        reason: format!("{what}; starting the window over"),
                    })
                } else {
                    Err(SourceError::retryable(format!(
                        "{what}, again after starting over: the window cannot be read to its end"
                    )))
                }
            }
        }
    }
}

fn page_of(
    records: Vec<crate::scan::Record>,
    rejected: Vec<crate::scan::Rejected>,
    more: bool,
    follows: Follows,
) -> Fetch {
    Fetch::Page(DriverPage {
        records,
        rejected,
        more,
        follows,
        outside: Outside::Neighbours,
        repeat: false,
    })
}

impl<E: LogEndpoint> Driver for LogPages<E> {
    fn fetch<'a>(&'a mut self, piece: Window, now: DateTime<Utc>) -> BoxFuture<'a, Fetched> {
        Box::pin(self.fetch_page(piece, now))
    }

    fn skip_listing(&mut self) -> bool {
        // A listing that has not answered yet was just planned (the one the page came
        // from ended by itself): it is not the one to skip.
        let current_answered = self
            .plan
            .as_ref()
            .and_then(|p| p.listing.as_ref())
            .is_some_and(|l| l.pages > 0);
        if current_answered {
            self.listing_done();
        }
        self.more()
    }

    fn repeat_previous(&mut self) -> bool {
        let Some(plan) = self.plan.as_ref() else {
            return false;
        };
        // The page just returned came from the current listing if it has had one, else
        // from the one that just ended.
        let ask = match plan.listing.as_ref() {
            Some(l) if l.last.is_some() => l.before_last.clone().map(|c| (l.range, c)),
            _ => plan
                .ended
                .clone()
                .and_then(|(range, before)| before.map(|c| (range, c))),
        };
        self.repeat = ask;
        self.repeat.is_some()
    }

    fn reset(&mut self) {
        self.plan = None;
        self.repeat = None;
    }
}

/// The dates to ask first for `piece`, under the account's offset as learned so far.
pub(crate) fn date_range(common: &ZoomCommon, piece: Window, now: DateTime<Utc>) -> Range {
    let (first, mut last) = dates::first_dates(piece, common.day_offset(), now);
    if !dates::fits_one_request(first, last) {
        // One month at most; an unproven end gets the rest a date at a time.
        last = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first)
            .min(last);
    }
    Range::Dates(first, last)
}
