//! Zoom answers over fixed bodies: the docs' samples (both shapes), empty and last
//! pages, HTML and truncated bodies, every error form, every 429 form, fixed id vectors;
//! and, over a scripted local server, the Phone datetime fallback and the 401 rule.

use std::sync::Arc;

use chrono::TimeZone;
use tokio::time::Duration;
use trawl_model::{SourceKind, Window};

use super::*;
use crate::classify::rate_limit_from;
use crate::error::{LimitType, RetryAfterIssue};
use crate::scan::ScanStep;
use crate::source::{build_source, SourceAccess, SourceSettings};
use crate::test_support::{
    answer, assert_schema_valid, fake_cache, fixture, scripted, tenant, FakeGrant,
};

fn page_of(path: &str) -> Result<(Vec<Record>, Option<String>), SourceError> {
    read_log_page(
        &answer(200, &[], &fixture(path)),
        "tenant acme, source zoom.operation_logs",
    )
    .map(|p| (p.records, p.next))
}

#[test]
fn the_docs_sample_parses_and_normalizes() {
    let (records, next) = page_of("zoom/operation_logs_docs_sample.json").unwrap();
    assert_eq!(next.as_deref(), Some("czxcxdvxvddc"));
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(r.time, Utc.with_ymd_and_hms(2019, 8, 20, 19, 9, 1).unwrap());
    assert_eq!(r.fields.actor.as_deref(), Some("someuser@sfksfhksdfsf.com"));
    assert_eq!(r.fields.action, "update");
    assert_eq!(r.fields.category.as_deref(), Some("User"));
    assert_eq!(r.fields.target.as_deref(), Some("sjkfhdsf@jdfgkhgd.com"));
    assert_eq!(
        r.fields.detail.as_deref(),
        Some("Activate User sjkfhdsf@jdfgkhgd.com")
    );
    assert_eq!(r.fields.outcome, Outcome::Success);
    assert_eq!(
        r.raw["operation_detail"], "Activate User sjkfhdsf@jdfgkhgd.com ",
        "raw unchanged"
    );
    assert_eq!(
        records[1].fields.target.as_deref(),
        Some("mynewemail@jdfkdshfhjdsf.ffasdm")
    );
}

#[test]
fn ids_of_the_docs_samples_are_fixed_vectors() {
    let key = |k| trawl_model::StreamKey::new(tenant(), k);
    let (records, _) = page_of("zoom/operation_logs_docs_sample.json").unwrap();
    let mut c = trawl_model::OccurrenceCounter::new();
    let ids: Vec<String> = records
        .iter()
        .map(|r| {
            c.assign(
                &key(SourceKind::ZoomOperationLogs),
                &r.raw,
                r.time.timestamp(),
            )
            .to_string()
        })
        .collect();
    // The first equals trawl-model's own vector for this record.
    assert_eq!(ids, ["3cd2911f24172b6beb9d10aaf7c1843f", DOCS_SECOND_ID]);
    let (records, _) = page_of("zoom/phone_operation_logs_docs_sample.json").unwrap();
    let mut c = trawl_model::OccurrenceCounter::new();
    let ids: Vec<String> = records
        .iter()
        .map(|r| {
            c.assign(
                &key(SourceKind::ZoomPhoneOperationLogs),
                &r.raw,
                r.time.timestamp(),
            )
            .to_string()
        })
        .collect();
    assert_eq!(ids, PHONE_IDS);
}

/// The events of the docs sample: the same fixed ids, and `raw` is the record's
/// canonical JSON (the bytes hashed), serializing as the record's `Value` did.
#[test]
fn events_carry_the_hashed_canonical_record_as_raw() {
    let key = trawl_model::StreamKey::new(tenant(), SourceKind::ZoomOperationLogs);
    let body = fixture("zoom/operation_logs_docs_sample.json");
    let events = crate::page::normalize_page(&key, body, now())
        .unwrap()
        .events;
    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, ["3cd2911f24172b6beb9d10aaf7c1843f", DOCS_SECOND_ID]);
    let (records, _) = page_of("zoom/operation_logs_docs_sample.json").unwrap();
    for (e, r) in events.iter().zip(&records) {
        assert_eq!(e.raw.as_str(), trawl_model::canonical_json(&r.raw));
        assert_eq!(e.raw.to_value(), r.raw);
        assert_eq!(
            serde_json::to_vec(&e.raw).unwrap(),
            serde_json::to_vec(&r.raw).unwrap()
        );
    }
    assert_eq!(
        events[0].raw.to_value()["operation_detail"],
        "Activate User sjkfhdsf@jdfgkhgd.com "
    );
    assert_schema_valid(&events);
}

const DOCS_SECOND_ID: &str = "42cc8e74f99db0c441b7e178b810b994";
const PHONE_IDS: [&str; 2] = [
    "998eabe8141c1a358f913219e1de5548",
    "167944eef8a576080f3d081eb97f620c",
];

#[test]
fn the_phone_sample_keeps_both_identical_records() {
    let (records, next) = page_of("zoom/phone_operation_logs_docs_sample.json").unwrap();
    assert_eq!(next.as_deref(), Some("BJLYC6PABbAHdjwSkGVQeeR6B1juwHqj3G2"));
    assert_eq!(records.len(), 2);
    assert_eq!(records[0], records[1]);
    assert_eq!(records[0].fields.action, "add");
    assert_eq!(
        records[0].fields.target.as_deref(),
        Some("+86 182 5188 5564")
    );
}

#[test]
fn last_and_empty_pages_have_no_cursor() {
    let (records, next) = page_of("zoom/operation_logs_last_page_no_token.json").unwrap();
    assert_eq!((records.len(), next), (1, None));
    assert_eq!(records[0].fields.action, "leave");
    assert_eq!(
        records[0].fields.target, None,
        "a webinar number is not a phone number"
    );
    let (records, next) = page_of("zoom/operation_logs_empty.json").unwrap();
    assert_eq!((records.len(), next), (0, None));
}

#[test]
fn html_entities_are_decoded() {
    let (records, _) = page_of("zoom/operation_logs_html_entities.json").unwrap();
    let f = &records[0].fields;
    assert_eq!(
        f.detail.as_deref(),
        Some("Changed setting \"Allow & join\" for 'Sales' <team@acme.example>")
    );
    assert_eq!(f.target.as_deref(), Some("team@acme.example"));
}

#[test]
fn bad_bodies_are_malformed_never_empty_and_keep_the_body() {
    for path in [
        "zoom/operation_logs_truncated.json",
        "zoom/operation_logs_wrong_shape.json",
        "zoom/html_error_page.html",
    ] {
        match page_of(path) {
            Err(SourceError::Malformed { reason, body }) => {
                assert_eq!(body, fixture(path));
                assert!(reason.contains("tenant acme"), "{reason}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    assert!(matches!(
        read_log_page(&answer(200, &[], "{\"page_size\":30}"), "x"),
        Ok(p) if p.records.is_empty() && p.next.is_none()
    ));
    assert!(matches!(
        read_log_page(&answer(200, &[], "{}"), "x"),
        Err(SourceError::Malformed { .. })
    ));
}

#[test]
fn error_answers_are_recognised() {
    let s = "tenant acme, source zoom.operation_logs";
    let a = answer(400, &[], &fixture("zoom/error_page_token_expired.json"));
    assert!(matches!(
        shared_special(&a, true, s),
        Some(Ok(Answered::Restart { .. }))
    ));
    assert!(
        shared_special(&a, false, s).is_none(),
        "no cursor sent: not a restart"
    );
    let a = answer(400, &[], &fixture("zoom/error_horizon_400.json"));
    assert!(matches!(
        shared_special(&a, false, s),
        Some(Ok(Answered::Horizon { .. }))
    ));
    let a = answer(
        300,
        &[("content-type", "text/plain")],
        &fixture("zoom/error_horizon_300.txt"),
    );
    assert!(matches!(
        shared_special(&a, true, s),
        Some(Ok(Answered::Horizon { .. }))
    ));
    let a = answer(300, &[], "");
    assert!(matches!(
        shared_special(&a, false, s),
        Some(Ok(Answered::Horizon { .. }))
    ));
    let a = answer(400, &[], &fixture("zoom/error_no_permission.json"));
    match shared_special(&a, false, s) {
        Some(Err(e @ SourceError::Permanent { .. })) => {
            assert!(e.to_string().contains("No permission."));
            assert_eq!(e.cause(), crate::Cause::Plan);
        }
        other => panic!("{other:?}"),
    }
    let a = answer(400, &[], &fixture("zoom/error_bad_date_format.json"));
    assert!(shared_special(&a, false, s).is_none());
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

#[test]
fn every_429_form_is_read() {
    let qps = answer(
        429,
        &[
            ("X-RateLimit-Category", "Heavy"),
            ("X-RateLimit-Type", "QPS"),
            ("X-RateLimit-Limit", "10"),
            ("X-RateLimit-Remaining", "0"),
            ("Retry-After", "2"),
        ],
        &fixture("zoom/rate_limit_qps.json"),
    );
    let i = rate_limit_from(&qps, "tenant acme, source zoom.operation_logs", now());
    assert_eq!(i.label.as_deref(), Some("Heavy"));
    assert_eq!(i.kind, LimitType::Qps);
    assert_eq!((i.limit, i.remaining), (Some(10), Some(0)));
    assert_eq!(
        i.retry_after.unwrap().at(),
        now() + chrono::Duration::seconds(2)
    );
    let daily = answer(
        429,
        &[
            ("X-RateLimit-Type", "Daily-limit"),
            ("Retry-After", "2026-03-02T00:00:00Z"),
        ],
        &fixture("zoom/rate_limit_daily.json"),
    );
    let i = rate_limit_from(&daily, "s", now());
    assert_eq!(i.kind, LimitType::Daily);
    assert_eq!(
        i.retry_after.unwrap().at(),
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    );
    // Headers missing: the body still tells the kind.
    let bare = answer(429, &[], &fixture("zoom/rate_limit_daily.json"));
    let i = rate_limit_from(&bare, "s", now());
    assert_eq!(
        (i.kind, i.retry_after, i.label, i.limit),
        (LimitType::Daily, None, None, None)
    );
    let bare = answer(429, &[], &fixture("zoom/rate_limit_qps.json"));
    assert_eq!(rate_limit_from(&bare, "s", now()).kind, LimitType::Qps);
    let nothing = answer(429, &[], "");
    assert_eq!(
        rate_limit_from(&nothing, "s", now()).kind,
        LimitType::Unknown
    );
    let text = SourceError::RateLimited(rate_limit_from(
        &qps,
        "tenant acme, source zoom.operation_logs",
        now(),
    ))
    .to_string();
    assert!(
        text.contains("tenant acme, source zoom.operation_logs"),
        "{text}"
    );
}

fn zoom_settings(base: url::Url, grant: FakeGrant) -> SourceSettings {
    SourceSettings {
        tenant: tenant(),
        access: SourceAccess::Zoom {
            api_base: base,
            category_type: None,
        },
        tokens: Arc::new(fake_cache(grant)),
        client: reqwest::Client::new(),
        page_size: None,
    }
}

#[tokio::test]
async fn phone_falls_back_to_dates_once_and_remembers() {
    let empty = || (200, fixture("zoom/operation_logs_empty.json"));
    let server = scripted(vec![
        (400, fixture("zoom/error_bad_date_format.json")),
        (200, fixture("zoom/phone_operation_logs_docs_sample.json")),
        empty(),
        empty(),
        empty(),
        empty(),
    ])
    .await;
    let settings = zoom_settings(
        server.base.clone(),
        FakeGrant::new(Duration::from_secs(3600)),
    );
    let source = build_source(SourceKind::ZoomPhoneOperationLogs, &settings).unwrap();
    let day = Utc.with_ymd_and_hms(2022, 2, 1, 0, 0, 0).unwrap();
    let w = Window::new(day, day + chrono::Duration::days(1)).unwrap();
    let now = day + chrono::Duration::days(3);
    let mut scan = source.clone().scan(w);
    assert!(matches!(
        scan.next_page(now).await.step,
        Ok(ScanStep::Restarted { .. })
    ));
    let Ok(ScanStep::Page {
        events,
        done: false,
        ..
    }) = scan.next_page(now).await.step
    else {
        panic!("a page")
    };
    assert_eq!(events.len(), 2);
    assert_schema_valid(&events);
    // The date's two records, at 02:36, prove neither edge of the UTC day: whether Zoom
    // reads the date in UTC or in the account's zone, the dates on both sides are asked.
    for _ in 0..2 {
        assert!(matches!(
            scan.next_page(now).await.step,
            Ok(ScanStep::Page { done: false, .. })
        ));
    }
    assert!(matches!(
        scan.next_page(now).await.step,
        Ok(ScanStep::Page { done: true, .. })
    ));
    let mut again = source.scan(w);
    assert!(matches!(
        again.next_page(now).await.step,
        Ok(ScanStep::Page { .. })
    ));
    let targets = server.targets.lock().unwrap().clone();
    assert!(
        targets[0].contains("from=2022-02-01T00%3A00%3A00Z"),
        "{}",
        targets[0]
    );
    assert!(
        targets[1].contains("from=2022-02-01&to=2022-02-01"),
        "{}",
        targets[1]
    );
    assert!(targets[2].contains("next_page_token=BJLYC6PABbAHdjwSkGVQeeR6B1juwHqj3G2"));
    assert!(
        targets[3].contains("from=2022-01-31&to=2022-01-31"),
        "{}",
        targets[3]
    );
    assert!(
        targets[4].contains("from=2022-02-02&to=2022-02-02"),
        "{}",
        targets[4]
    );
    assert!(
        targets[5].contains("from=2022-02-01&to=2022-02-01"),
        "remembered: {}",
        targets[5]
    );
    assert!(targets
        .iter()
        .all(|t| t.starts_with("/v2/phone/reports/operationlogs?")));
}

#[tokio::test]
async fn phone_without_a_plan_is_not_enabled() {
    let server = scripted(vec![(404, fixture("zoom/error_phone_not_enabled.json"))]).await;
    let settings = zoom_settings(
        server.base.clone(),
        FakeGrant::new(Duration::from_secs(3600)),
    );
    let source = build_source(SourceKind::ZoomPhoneOperationLogs, &settings).unwrap();
    let w = Window::new(now() - chrono::Duration::days(1), now()).unwrap();
    match source.scan(w).next_page(now()).await.step {
        Err(e @ SourceError::NotEnabled { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("tenant acme") && text.contains("Zoom Phone"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_voided_token_is_refreshed_again_and_again_never_a_failure() {
    let expired = r#"{"code":124,"message":"Access token is expired."}"#;
    let server = scripted(vec![
        (401, fixture("zoom/error_invalid_access_token.json")),
        (401, expired.to_string()),
        (200, fixture("zoom/operation_logs_last_page_no_token.json")),
    ])
    .await;
    let grant = FakeGrant::new(Duration::from_secs(3600));
    let calls = grant.calls.clone();
    let settings = zoom_settings(server.base.clone(), grant);
    let source = build_source(SourceKind::ZoomOperationLogs, &settings).unwrap();
    let day = Utc.with_ymd_and_hms(2025, 8, 11, 0, 0, 0).unwrap();
    let w = Window::new(day, day + chrono::Duration::days(1)).unwrap();
    let mut scan = source.scan(w);
    let calls = || calls.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..2 {
        let r = scan.next_page(now()).await;
        assert_eq!(r.exchange.unwrap().status, Some(401));
        match r.step {
            Ok(ScanStep::Restarted { reason }) => assert!(reason.contains("401"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(calls(), 2, "refreshed at once after the first void");
    // Voided again right away: the next token request waits, and says why.
    let r = scan.next_page(now()).await;
    assert!(r.exchange.is_none(), "no API request without a token");
    match r.step {
        Err(e @ SourceError::Retryable { .. }) => {
            assert!(e.to_string().contains("voided"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = scan.next_page(now()).await;
    assert!(matches!(r.step, Ok(ScanStep::Page { .. })), "{:?}", r.step);
    assert_eq!(calls(), 3);
}

#[tokio::test]
async fn a_token_without_the_scope_is_permanent_and_names_it() {
    let body = r#"{"code":4711,"message":"Invalid access token, does not contain scopes:[report:read:admin, report:read:operation_logs:admin]."}"#;
    for status in [400, 401] {
        let server = scripted(vec![(status, body.to_string())]).await;
        let settings = zoom_settings(
            server.base.clone(),
            FakeGrant::new(Duration::from_secs(3600)),
        );
        let source = build_source(SourceKind::ZoomOperationLogs, &settings).unwrap();
        let w = Window::new(now() - chrono::Duration::days(1), now()).unwrap();
        match source.scan(w).next_page(now()).await.step {
            Err(e @ SourceError::Permanent { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("report:read:admin") && text.contains("4711"),
                    "{text}"
                );
                assert!(text.contains("tenant acme"), "{text}");
                assert_eq!(e.cause(), crate::Cause::Scope);
            }
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn rate_limit_labels_are_only_the_known_ones() {
    for (header, label) in [
        ("Heavy", Some("Heavy")),
        ("heavy", Some("Heavy")),
        ("Resource-intensive", Some("Resource-intensive")),
        ("resource intensive", Some("Resource-intensive")),
        ("Light", Some("Light")),
        ("Heavy\"; DROP", None),
        ("x".repeat(500).as_str(), None),
    ] {
        let a = answer(429, &[("X-RateLimit-Category", header)], "");
        assert_eq!(
            rate_limit_from(&a, "s", now()).label.as_deref(),
            label,
            "{header}"
        );
    }
}

#[test]
fn pauses_are_bounded_whatever_retry_after_says() {
    let far = answer(
        429,
        &[
            ("X-RateLimit-Type", "QPS"),
            ("Retry-After", "2031-03-09T12:00:00Z"),
        ],
        "",
    );
    let i = rate_limit_from(&far, "s", now());
    assert_eq!(
        i.retry_after.unwrap().at(),
        now() + chrono::Duration::minutes(1),
        "a per-second limit pauses a minute at most"
    );
    let unknown = answer(429, &[("Retry-After", "2031-03-09T12:00:00Z")], "");
    let u = rate_limit_from(&unknown, "s", now());
    assert_eq!(
        u.retry_after.unwrap().at(),
        now() + chrono::Duration::hours(1)
    );
    assert!(matches!(
        i.retry_after_issue.as_deref(),
        Some(RetryAfterIssue::TooFar { .. })
    ));
    let daily = answer(
        429,
        &[
            ("X-RateLimit-Type", "Daily-limit"),
            ("Retry-After", "99999999999"),
        ],
        "",
    );
    let i = rate_limit_from(&daily, "s", now());
    assert_eq!(
        i.retry_after.unwrap().at(),
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 5, 0).unwrap(),
        "next UTC midnight plus the margin"
    );
    let junk = answer(429, &[("Retry-After", "after the storm")], "");
    let i = rate_limit_from(&junk, "s", now());
    assert_eq!(i.retry_after, None);
    assert_eq!(
        i.retry_after_issue.as_deref(),
        Some(&RetryAfterIssue::Unreadable {
            said: "after the storm".into()
        })
    );
    assert!(SourceError::RateLimited(i)
        .to_string()
        .contains("not a time"));
    // Daily 429s seen without type and Retry-After: the body still says daily.
    let bare = answer(
        429,
        &[("X-RateLimit-Remaining", "8")],
        &fixture("zoom/rate_limit_daily.json"),
    );
    let i = rate_limit_from(&bare, "s", now());
    assert_eq!((i.kind, i.retry_after), (LimitType::Daily, None));
}
