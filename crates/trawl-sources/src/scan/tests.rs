//! The shared window walk, over a scripted driver: filtering, early stop only when the
//! order is proven, restarts with repeatable ids, the retention horizon, long windows,
//! records that do not parse, late records, and records shown again across pages.

use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use serde_json::json;
use trawl_model::SourceKind;

use super::*;
use crate::test_support::{assert_schema_valid, stream};
use crate::zoom::normalize;

type Script = Arc<Mutex<VecDeque<Result<Fetch, SourceError>>>>;
type Asked = Arc<Mutex<Vec<Window>>>;
type Repeats = Arc<Mutex<usize>>;

struct Scripted {
    script: Script,
    asked: Arc<Mutex<Vec<Window>>>,
    repeats: Arc<Mutex<usize>>,
}

impl Driver for Scripted {
    fn repeat_previous(&mut self) -> bool {
        *self.repeats.lock().unwrap() += 1;
        true
    }

    fn fetch<'a>(&'a mut self, window: Window, _now: DateTime<Utc>) -> BoxFuture<'a, Fetched> {
        Box::pin(async move {
            self.asked.lock().unwrap().push(window);
            let result = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .expect("a scripted answer");
            Fetched {
                result,
                exchange: Some(HttpExchange {
                    status: Some(200),
                    elapsed: std::time::Duration::from_millis(3),
                }),
            }
        })
    }
    fn reset(&mut self) {}
}

fn t(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, h, m, s).unwrap()
}

fn rec(time: DateTime<Utc>, detail: &str) -> Record {
    normalize(
        json!({"time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "operator": "a@acme.example",
        "category_type": "User", "action": "Update", "operation_detail": detail}),
    )
    .unwrap()
}

fn driver_page(records: Vec<Record>, more: bool, follows: Follows) -> DriverPage {
    DriverPage {
        records,
        rejected: Vec::new(),
        more,
        follows,
        outside: Outside::Neighbours,
        repeat: false,
    }
}

fn page(records: Vec<Record>, more: bool) -> Result<Fetch, SourceError> {
    Ok(Fetch::Page(driver_page(records, more, Follows::First)))
}

/// A next page of the same listing, by an offset-like token.
fn next(records: Vec<Record>, more: bool, total: Option<u64>) -> Result<Fetch, SourceError> {
    Ok(Fetch::Page(driver_page(
        records,
        more,
        Follows::Offset { total },
    )))
}

/// The answer to a repeat of the previous page.
fn again(records: Vec<Record>) -> Result<Fetch, SourceError> {
    let mut p = driver_page(records, true, Follows::Offset { total: None });
    p.repeat = true;
    Ok(Fetch::Page(p))
}

fn scan_of(
    window: Window,
    script: Vec<Result<Fetch, SourceError>>,
) -> (WindowScan, Arc<Mutex<Vec<Window>>>) {
    let (scan, asked, _) = scan_with_repeats(window, script);
    (scan, asked)
}

fn scan_with_repeats(
    window: Window,
    script: Vec<Result<Fetch, SourceError>>,
) -> (WindowScan, Asked, Repeats) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let repeats = Arc::new(Mutex::new(0));
    let driver = Scripted {
        script: Arc::new(Mutex::new(script.into())),
        asked: asked.clone(),
        repeats: repeats.clone(),
    };
    let scan = WindowScan::new(
        stream(SourceKind::ZoomOperationLogs),
        window,
        Duration::days(30),
        Duration::days(182),
        Box::new(driver),
    );
    (scan, asked, repeats)
}

fn events(step: &Result<ScanStep, SourceError>) -> (Vec<Event>, bool) {
    match step {
        Ok(ScanStep::Page { events, done, .. }) => (events.clone(), *done),
        other => panic!("expected a page, got {other:?}"),
    }
}

#[tokio::test]
async fn keeps_only_records_in_the_window_and_stops_early_newest_first() {
    let w = Window::new(t(1, 12, 0, 0), t(1, 18, 0, 0)).unwrap();
    let (mut scan, asked) = scan_of(
        w,
        vec![
            page(
                vec![
                    rec(t(1, 20, 0, 0), "late"),
                    rec(t(1, 17, 0, 0), "a"),
                    rec(t(1, 13, 0, 0), "b"),
                ],
                true,
            ),
            page(
                vec![rec(t(1, 12, 0, 0), "c"), rec(t(1, 11, 59, 59), "before")],
                true,
            ),
        ],
    );
    let (first, done) = events(&scan.next_page(t(2, 0, 0, 0)).await.step);
    assert_eq!(first.len(), 2);
    assert!(!done);
    let (second, done) = events(&scan.next_page(t(2, 0, 0, 0)).await.step);
    assert_eq!(second.len(), 1, "12:00:00 is in, 11:59:59 is not");
    assert!(done, "newest first and past the start: no third request");
    assert_eq!(asked.lock().unwrap().len(), 2);
    assert!(first.iter().all(|e| e.observed_at == t(2, 0, 0, 0)));
    assert_schema_valid(&first);
    // Calling again after done costs nothing.
    let r = scan.next_page(t(2, 0, 0, 0)).await;
    assert!(r.exchange.is_none());
    assert_eq!(events(&r.step), (vec![], true));
}

#[tokio::test]
async fn does_not_stop_early_when_the_order_is_not_proven() {
    let w = Window::new(t(1, 12, 0, 0), t(1, 18, 0, 0)).unwrap();
    let (mut scan, _) = scan_of(
        w,
        vec![
            page(
                vec![
                    rec(t(1, 11, 0, 0), "x"),
                    rec(t(1, 13, 0, 0), "y"),
                    rec(t(1, 10, 0, 0), "z"),
                ],
                true,
            ),
            page(vec![rec(t(1, 14, 0, 0), "w")], false),
        ],
    );
    assert!(!events(&scan.next_page(t(2, 0, 0, 0)).await.step).1);
    let (last, done) = events(&scan.next_page(t(2, 0, 0, 0)).await.step);
    assert_eq!(last.len(), 1);
    assert!(done);
}

#[tokio::test]
async fn identical_records_get_distinct_ids_that_repeat_after_a_restart() {
    let w = Window::new(t(1, 0, 0, 0), t(2, 0, 0, 0)).unwrap();
    let same = || vec![rec(t(1, 2, 36, 14), "Add BYOC +86 182 5188 5564"); 2];
    let (mut scan, _) = scan_of(
        w,
        vec![
            page(same(), true),
            Ok(Fetch::Restart {
                reason: "page token expired".into(),
            }),
            page(same(), false),
        ],
    );
    let (a, _) = events(&scan.next_page(t(2, 0, 0, 0)).await.step);
    assert_ne!(a[0].id, a[1].id);
    let restarted = scan.next_page(t(2, 0, 0, 0)).await.step;
    assert!(matches!(restarted, Ok(ScanStep::Restarted { .. })));
    let (b, done) = events(&scan.next_page(t(2, 0, 0, 0)).await.step);
    assert!(done);
    assert_eq!(
        a.iter().map(|e| e.id).collect::<Vec<_>>(),
        b.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert_eq!(a[0].target.as_deref(), Some("+86 182 5188 5564"));
}

#[tokio::test]
async fn errors_keep_the_cursor_and_do_not_end_the_scan() {
    let w = Window::new(t(1, 0, 0, 0), t(2, 0, 0, 0)).unwrap();
    let (mut scan, _) = scan_of(
        w,
        vec![
            Err(SourceError::retryable("HTTP 503")),
            page(vec![rec(t(1, 1, 0, 0), "a")], false),
        ],
    );
    assert!(scan.next_page(t(2, 0, 0, 0)).await.step.is_err());
    assert!(!scan.is_done());
    assert_eq!(events(&scan.next_page(t(2, 0, 0, 0)).await.step).0.len(), 1);
}

#[tokio::test]
async fn the_horizon_moves_the_start_forward_and_always_ends() {
    let now = Utc.with_ymd_and_hms(2026, 9, 15, 10, 0, 0).unwrap();
    let w = Window::new(t(1, 0, 0, 0), t(31, 0, 0, 0)).unwrap();
    let horizon = || {
        Ok(Fetch::Horizon {
            reason: "Only provide report in recent 6 months".into(),
        })
    };
    let (mut scan, asked) = scan_of(w, vec![horizon(), horizon(), page(vec![], false)]);
    let r = scan.next_page(now).await.step;
    assert!(matches!(r, Ok(ScanStep::Restarted { .. })), "{r:?}");
    let expected = day_floor(now - Duration::days(182)) + Duration::days(1);
    assert_eq!(scan.window().start, expected);
    assert!(matches!(
        scan.next_page(now).await.step,
        Ok(ScanStep::Restarted { .. })
    ));
    assert_eq!(scan.window().start, expected + Duration::days(1));
    assert!(events(&scan.next_page(now).await.step).1);
    assert_eq!(asked.lock().unwrap()[2].start, expected + Duration::days(1));

    // A window wholly beyond the horizon ends with no events.
    let old = Window::new(t(1, 0, 0, 0), t(2, 0, 0, 0)).unwrap();
    let (mut scan, _) = scan_of(old, vec![horizon()]);
    assert_eq!(events(&scan.next_page(now).await.step), (vec![], true));
}

#[tokio::test]
async fn a_window_longer_than_the_api_allows_is_walked_in_pieces() {
    let w = Window::new(t(1, 0, 0, 0), t(1, 0, 0, 0) + Duration::days(45)).unwrap();
    let (mut scan, asked) = scan_of(w, vec![page(vec![], false), page(vec![], false)]);
    assert!(!events(&scan.next_page(t(1, 0, 0, 0)).await.step).1);
    assert!(events(&scan.next_page(t(1, 0, 0, 0)).await.step).1);
    let asked = asked.lock().unwrap();
    assert_eq!(asked[0].duration(), Duration::days(30));
    assert_eq!(asked[1].end, w.end);
}

#[tokio::test]
async fn records_that_do_not_parse_come_back_beside_the_good_ones() {
    let w = Window::new(t(1, 0, 0, 0), t(2, 0, 0, 0)).unwrap();
    let mut p = driver_page(vec![rec(t(1, 1, 0, 0), "good")], false, Follows::First);
    p.rejected = vec![Rejected {
        reason: "tenant acme, source zoom.operation_logs: record 1 does not parse: no time".into(),
        raw: r#"{"action":"Add"}"#.into(),
    }];
    let (mut scan, _) = scan_of(w, vec![Ok(Fetch::Page(p))]);
    match scan.next_page(t(2, 0, 0, 0)).await.step {
        Ok(ScanStep::Page {
            events,
            rejected,
            done: true,
            ..
        }) => {
            assert_eq!(events.len(), 1);
            assert_eq!(rejected.len(), 1);
            assert_eq!(rejected[0].raw, r#"{"action":"Add"}"#);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn records_before_the_window_answered_only_here_come_back_late() {
    let w = Window::new(t(2, 0, 0, 0), t(3, 0, 0, 0)).unwrap();
    let records = vec![
        rec(t(1, 23, 0, 0), "indexed late"),
        rec(t(2, 1, 0, 0), "in"),
        rec(t(3, 0, 0, 0), "next window's"),
    ];
    let mut p = driver_page(records.clone(), false, Follows::First);
    p.outside = Outside::Late;
    let (mut scan, _) = scan_of(w, vec![Ok(Fetch::Page(p))]);
    let Ok(ScanStep::Page { events, late, .. }) = scan.next_page(t(4, 0, 0, 0)).await.step else {
        panic!()
    };
    assert_eq!((events.len(), late.len()), (1, 1));
    assert_eq!(late[0].time, t(1, 23, 0, 0));
    // Whole dates: records outside are the neighbours' and dropped.
    let (mut scan, _) = scan_of(w, vec![page(records, false)]);
    let Ok(ScanStep::Page { events, late, .. }) = scan.next_page(t(4, 0, 0, 0)).await.step else {
        panic!()
    };
    assert_eq!((events.len(), late.len()), (1, 0));
}

/// Ids of every event the scan hands out until done.
async fn all_ids(scan: &mut WindowScan, now: DateTime<Utc>) -> Vec<trawl_model::EventId> {
    let mut ids = Vec::new();
    while !scan.is_done() {
        if let Ok(ScanStep::Page { events, .. }) = scan.next_page(now).await.step {
            ids.extend(events.iter().map(|e| e.id));
        }
    }
    ids
}

#[tokio::test]
async fn records_shown_again_at_the_top_of_the_next_page_are_counted_once() {
    let w = Window::new(t(1, 0, 0, 0), t(2, 0, 0, 0)).unwrap();
    let (a, b, c, d) = (
        rec(t(1, 9, 0, 0), "a"),
        rec(t(1, 8, 0, 0), "b"),
        rec(t(1, 7, 0, 0), "c"),
        rec(t(1, 6, 0, 0), "d"),
    );
    // Newest first, two new records arrived after page 1: b and c come again.
    let (mut scan, _, repeats) = scan_with_repeats(
        w,
        vec![
            page(vec![a.clone(), b.clone(), c.clone()], true),
            next(vec![b.clone(), c.clone(), d.clone()], false, None),
        ],
    );
    let ids = all_ids(&mut scan, t(1, 12, 0, 0)).await;
    assert_eq!(ids.len(), 4);
    assert_eq!(
        *repeats.lock().unwrap(),
        0,
        "two different records: a shift, no doubt"
    );
}

#[tokio::test]
async fn twins_across_a_page_boundary_are_two_events_once_the_list_is_shown_still() {
    let w = Window::new(t(1, 0, 0, 0), t(2, 0, 0, 0)).unwrap();
    let twin = rec(t(1, 8, 0, 0), "same");
    let first = vec![rec(t(1, 9, 0, 0), "a"), twin.clone()];
    // Settled (two days later): no doubt, two events, no extra request.
    let (mut scan, _, repeats) = scan_with_repeats(
        w,
        vec![
            page(first.clone(), true),
            next(vec![twin.clone(), rec(t(1, 7, 0, 0), "c")], false, None),
        ],
    );
    let ids = all_ids(&mut scan, t(4, 0, 0, 0)).await;
    assert_eq!(ids.len(), 4);
    assert_eq!(*repeats.lock().unwrap(), 0);
    // Still growing: the previous page is asked again; unchanged means twins.
    let (mut scan, _, repeats) = scan_with_repeats(
        w,
        vec![
            page(first.clone(), true),
            next(vec![twin.clone(), rec(t(1, 7, 0, 0), "c")], false, None),
            again(first.clone()),
        ],
    );
    let ids = all_ids(&mut scan, t(1, 12, 0, 0)).await;
    assert_eq!(ids.len(), 4);
    assert_eq!(*repeats.lock().unwrap(), 1);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "the twins have distinct ids");
    // ... moved by one: the record was shown again, one event.
    let (mut scan, _, _) = scan_with_repeats(
        w,
        vec![
            page(first.clone(), true),
            next(vec![twin.clone(), rec(t(1, 7, 0, 0), "c")], false, None),
            again(vec![rec(t(1, 10, 0, 0), "new"), rec(t(1, 9, 0, 0), "a")]),
        ],
    );
    assert_eq!(all_ids(&mut scan, t(1, 12, 0, 0)).await.len(), 3);
    // The Phone report's total unchanged: twins, without asking again.
    let (mut scan, _, repeats) = scan_with_repeats(
        w,
        vec![
            Ok(Fetch::Page(driver_page(
                first,
                true,
                Follows::Offset { total: Some(3) },
            ))),
            next(vec![twin, rec(t(1, 7, 0, 0), "c")], false, Some(3)),
        ],
    );
    assert_eq!(all_ids(&mut scan, t(1, 12, 0, 0)).await.len(), 4);
    assert_eq!(*repeats.lock().unwrap(), 0);
}
