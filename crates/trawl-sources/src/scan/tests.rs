//! The shared window walk, over a scripted driver: filtering, early stop only when the
//! order is proven, restarts with repeatable ids, the retention horizon, long windows.

use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use serde_json::json;
use trawl_model::SourceKind;

use super::*;
use crate::test_support::{assert_schema_valid, stream};
use crate::zoom::normalize;

type Script = Arc<Mutex<VecDeque<Result<Fetch, SourceError>>>>;

struct Scripted {
    script: Script,
    asked: Arc<Mutex<Vec<Window>>>,
}

impl Driver for Scripted {
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

fn page(records: Vec<Record>, more: bool) -> Result<Fetch, SourceError> {
    Ok(Fetch::Page { records, more })
}

fn scan_of(
    window: Window,
    script: Vec<Result<Fetch, SourceError>>,
) -> (WindowScan, Arc<Mutex<Vec<Window>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let driver = Scripted {
        script: Arc::new(Mutex::new(script.into())),
        asked: asked.clone(),
    };
    let scan = WindowScan::new(
        stream(SourceKind::ZoomOperationLogs),
        window,
        Duration::days(30),
        Duration::days(182),
        Box::new(driver),
    );
    (scan, asked)
}

fn events(step: &Result<ScanStep, SourceError>) -> (Vec<Event>, bool) {
    match step {
        Ok(ScanStep::Page { events, done }) => (events.clone(), *done),
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
