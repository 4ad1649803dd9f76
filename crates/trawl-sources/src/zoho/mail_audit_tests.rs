//! Zoho answers over fixed bodies: the docs' (invalid) sample, its corrected form, empty
//! pages, errors inside envelopes; and the query a scan sends, over a scripted server.

use std::sync::Arc;

use chrono::TimeZone;
use tokio::time::Duration;
use trawl_model::{Provider, SourceKind, Window};

use super::*;
use crate::scan::ScanStep;
use crate::source::{build_source, SourceAccess, SourceSettings};
use crate::test_support::{
    answer, assert_schema_valid, fake_cache, fixture, scripted, tenant, FakeGrant,
};

const SCOPE: &str = "tenant globex, source zoho.mail_audit";

fn page_of(path: &str) -> Result<(Vec<Record>, Option<Cursor>), SourceError> {
    read_audit_page(&answer(200, &[], &fixture(path)), SCOPE).map(|p| (p.records, p.next))
}

#[test]
fn the_docs_sample_is_invalid_json_and_reported_malformed() {
    match page_of("zoho/audit_docs_sample_invalid.json") {
        Err(SourceError::Malformed { reason, body }) => {
            assert!(reason.contains("invalid JSON"), "{reason}");
            assert_eq!(body, fixture("zoho/audit_docs_sample_invalid.json"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_corrected_docs_sample_normalizes() {
    let (records, next) = page_of("zoho/audit_docs_sample.json").unwrap();
    assert_eq!(
        next,
        Some(Cursor {
            last_entity_id: "1710316191981002_sas@172.18.232.99".into(),
            last_index_time: "1710316191981002".into(),
        })
    );
    let r = &records[0];
    assert_eq!(r.time, Utc.timestamp_millis_opt(1_710_316_191_981).unwrap());
    let f = &r.fields;
    assert_eq!(f.actor.as_deref(), Some("admin@zylker.com"));
    assert_eq!(f.action, "add");
    assert_eq!(f.category.as_deref(), Some("Users"));
    assert_eq!(f.target.as_deref(), Some("user@zylker.com"));
    assert_eq!(f.detail.as_deref(), Some("ORG_INFO_ADD"));
    assert_eq!(f.outcome, Outcome::Success);
    assert_eq!(f.client_ip.as_deref(), Some("172.18.249.197"));
    assert_eq!(
        r.raw["data"],
        "{\"peopleInfo\":{},\"emailId\":\"user@zylker.com\"}"
    );
}

#[test]
fn failures_entities_and_fallback_category() {
    let (records, _) = page_of("zoho/audit_failure_entities.json").unwrap();
    let f = &records[0].fields;
    assert_eq!(f.outcome, Outcome::Failure);
    assert_eq!(f.action, "delete");
    assert_eq!(
        f.category.as_deref(),
        Some("MAIL_POLICY"),
        "empty mainCategory falls back"
    );
    assert_eq!(f.target.as_deref(), Some("bob@globex.example"));
    assert_eq!(f.detail.as_deref(), Some("Policy \"Strict\" & more"));
    assert_eq!(
        records[0].time,
        Utc.timestamp_millis_opt(1_772_359_200_000).unwrap()
    );
}

#[test]
fn empty_pages_and_bad_envelopes() {
    let (records, next) = page_of("zoho/audit_empty.json").unwrap();
    assert!(records.is_empty() && next.is_none());
    let wrong = r#"{"status":{"code":200},"data":{"audit":"[object Object]","lastEntityId":"x","lastIndexTime":"1"}}"#;
    assert!(matches!(
        read_audit_page(&answer(200, &[], wrong), SCOPE),
        Err(SourceError::Malformed { .. })
    ));
    assert!(matches!(
        read_audit_page(&answer(200, &[], "{\"data\":{}}"), SCOPE),
        Err(SourceError::Malformed { .. })
    ));
    let html = fixture("zoom/html_error_page.html");
    assert!(matches!(
        read_audit_page(&answer(200, &[], &html), SCOPE),
        Err(SourceError::Malformed { .. })
    ));
}

#[test]
fn a_record_that_does_not_parse_comes_back_beside_the_good_ones() {
    let body = r#"{"status":{"code":200,"description":"success"},"data":{"lastIndexTime":"1772359200000001","lastEntityId":"1772359200000001_x","audit":[
        {"requestTime":1772359200000,"performedBy":"a@globex.example","operationType":"ADD","operation":"USER_ADD","status":"success"},
        {"requestTime":"yesterday","performedBy":"b@globex.example"},
        "not a record"
    ]}}"#;
    let p = read_audit_page(&answer(200, &[], body), SCOPE).unwrap();
    assert_eq!(p.records.len(), 1);
    assert_eq!(p.rejected.len(), 2);
    assert!(
        p.rejected[0].reason.contains("tenant globex") && p.rejected[0].reason.contains("record 1")
    );
    assert!(p.rejected[0].raw.contains("yesterday"));
    assert_eq!(p.rejected[1].raw, "\"not a record\"");
    assert!(p.next.is_some(), "the page goes on");
}

fn settings(base: url::Url, search_key: Option<&str>) -> SourceSettings {
    let mut grant = FakeGrant::new(Duration::from_secs(3600));
    grant.provider = Provider::Zoho;
    SourceSettings {
        tenant: tenant(),
        access: SourceAccess::Zoho {
            zoid: "57047751".into(),
            mail_base: base,
            search_key: search_key.map(str::to_string),
        },
        tokens: Arc::new(fake_cache(grant)),
        client: reqwest::Client::new(),
        page_size: None,
    }
}

#[tokio::test]
async fn a_scan_sends_milliseconds_limit_search_key_and_the_cursor() {
    let server = scripted(vec![
        (200, fixture("zoho/audit_failure_entities.json")),
        (200, fixture("zoho/audit_empty.json")),
    ])
    .await;
    let s = settings(
        server.base.clone(),
        Some("category:1003::performedFor:user@zylker.com"),
    );
    let source = build_source(SourceKind::ZohoMailAudit, &s).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let w = Window::new(start, start + chrono::Duration::days(1)).unwrap();
    let mut scan = source.scan(w);
    let now = start + chrono::Duration::days(2);
    let Ok(ScanStep::Page {
        events,
        done: false,
        ..
    }) = scan.next_page(now).await.step
    else {
        panic!("first page")
    };
    assert_eq!(events.len(), 1);
    assert_schema_valid(&events);
    assert!(matches!(
        scan.next_page(now).await.step,
        Ok(ScanStep::Page { done: true, .. })
    ));
    let t = server.targets.lock().unwrap().clone();
    // endTime five minutes past the window (a record indexed late is still found).
    assert!(t[0].starts_with("/api/organization/57047751/activity?startTime=1772323200000&endTime=1772409900000&limit=200&searchKey=category%3A1003%3A%3AperformedFor%3Auser%40zylker.com"), "{}", t[0]);
    assert!(!t[0].contains("lastEntityId"));
    assert!(
        t[1].contains("lastEntityId=1772359200000001_x&lastIndexTime=1772359200000001"),
        "{}",
        t[1]
    );
}

#[test]
fn a_stream_of_another_provider_is_refused() {
    let s = settings(url::Url::parse("http://127.0.0.1:9").unwrap(), None);
    let e = build_source(SourceKind::ZoomOperationLogs, &s)
        .err()
        .unwrap();
    assert!(e.is_permanent() && e.to_string().contains("tenant acme"));
}
