//! criterion benches of trawl's per-record hot paths: parsing and normalizing a full
//! Zoom page (300 records) and a full Zoho page (200 records), event id hashing
//! (`OccurrenceCounter::assign`) and event serialization (`Event::to_json`).
//!
//! The page bodies are generated here in the shapes the simulator serves and the
//! fixtures under `crates/trawl-sources/tests/fixtures` show (HTML entities, emails and
//! phone numbers in Zoom's free text; Zoho's envelope and cursor), deterministically, so
//! runs compare. Run: `cargo bench --bench hot_paths`.

use std::fmt::Write as _;
use std::hint::black_box;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;
use trawl_model::{Event, OccurrenceCounter, SourceKind, StreamKey, TenantId};

/// A small deterministic generator (splitmix64), so bodies are the same every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "ana", "ben", "chloe", "dmitri", "eva", "farid", "grace", "hiro",
];
const LAST: &[&str] = &["smith", "okafor", "lindqvist", "tanaka", "garcia", "novak"];

fn person(r: &mut Mix) -> String {
    format!("{}.{}@acme-corp.example", r.pick(FIRST), r.pick(LAST))
}

/// Zoom operation-log details (the simulator's templates, user and phone filled in).
fn zoom_record(r: &mut Mix, time: DateTime<Utc>) -> Value {
    let user = person(r);
    let (category, action, detail) = match r.below(8) {
        0 => ("User", "Add", format!("Add User {user} ")),
        1 => ("User", "Update", format!("Activate User {user} ")),
        2 => ("User Settings", "Update", format!("Update User Settings {user} - Meeting: Allow participants to rename themselves: from &quot;On&quot; to &quot;Off&quot;")),
        3 => ("Account", "Update", "Update Account Settings - Security: Waiting Room: from &quot;Everyone&quot; to &quot;Guests only&quot;".to_string()),
        4 => ("Role", "Update", format!("Assign Role Billing Admin to {user}")),
        5 => ("Recording", "Delete", format!("Delete Recording &quot;Weekly sync&quot; (Meeting ID 812 {:04} {:04}) of {user}", r.below(10_000), r.below(10_000))),
        6 => ("Phone Contacts", "Add", format!("Add Phone Contact {user} +1 415 555 {:04}", r.below(10_000))),
        _ => ("Webinar", "Add", format!("Scheduled webinar {}", 1000 + r.below(9000))),
    };
    serde_json::json!({
        "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "operator": format!("admin{}@acme-corp.example", r.below(4)),
        "category_type": category,
        "action": action,
        "operation_detail": detail,
    })
}

/// Zoho Mail audit records, shaped like the docs sample.
fn zoho_record(r: &mut Mix, time: DateTime<Utc>) -> Value {
    let user = person(r);
    let (main, category, sub, op, op_type) = match r.below(5) {
        0 => ("Users", "MAILBOX", "MAILBOX_USER", "ORG_INFO_ADD", "ADD"),
        1 => (
            "Users",
            "MAILBOX",
            "MAILBOX_USER",
            "USER_PASSWORD_RESET",
            "UPDATE",
        ),
        2 => ("Groups", "GROUP", "GROUP_MEMBER", "GROUP_MEMBER_ADD", "ADD"),
        3 => (
            "Security",
            "POLICY",
            "MAIL_POLICY",
            "POLICY_UPDATE",
            "UPDATE",
        ),
        _ => (
            "Domains",
            "DOMAIN",
            "DOMAIN_ALIAS",
            "DOMAIN_ALIAS_DELETE",
            "DELETE",
        ),
    };
    serde_json::json!({
        "subCategory": sub,
        "data": format!("{{\"peopleInfo\":{{}},\"emailId\":\"{user}\"}}"),
        "type": "ADMIN",
        "requestTime": time.timestamp_millis() + r.below(1000) as i64,
        "performedBy": format!("admin{}@acme-corp.example", r.below(4)),
        "auditLogType": "ORGADMIN_AUDIT",
        "clientIp": format!("172.18.{}.{}", r.below(256), r.below(256)),
        "mainCategory": main,
        "operationType": op_type,
        "performedOn": user,
        "category": category,
        "operation": op,
        "status": if r.below(20) == 0 { "failure" } else { "success" },
    })
}

fn day() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// Records of one day, newest first, a few identical twins in the same second.
fn records(n: usize, make: fn(&mut Mix, DateTime<Utc>) -> Value) -> Vec<Value> {
    let mut r = Mix(7);
    let mut out: Vec<Value> = Vec::with_capacity(n);
    let mut t = day() + chrono::Duration::hours(23);
    for i in 0..n {
        if i % 33 == 5 {
            out.push(out[i - 1].clone());
            continue;
        }
        t -= chrono::Duration::seconds(1 + r.below(200) as i64);
        out.push(make(&mut r, t));
    }
    out
}

fn zoom_body(n: usize) -> String {
    let page = serde_json::json!({
        "from": "2026-03-01",
        "to": "2026-03-01",
        "page_size": 300,
        "next_page_token": "BJLYC6PABbAHdjwSkGVQeeR6B1juwHqj3G2",
        "operation_logs": records(n, zoom_record),
    });
    page.to_string()
}

fn zoho_body(n: usize) -> String {
    let mut s = String::from(r#"{"status":{"code":200,"description":"success"},"data":{"#);
    let _ = write!(
        s,
        r#""lastIndexTime":"1772326800000002","lastEntityId":"1772326800000002_sas@172.18.232.99","audit":{}}}}}"#,
        Value::Array(records(n, zoho_record))
    );
    s
}

fn stream(kind: SourceKind) -> StreamKey {
    StreamKey::new(TenantId::new("acme").unwrap(), kind)
}

fn parse_and_normalize(c: &mut Criterion) {
    let now = day() + chrono::Duration::days(1);
    let mut g = c.benchmark_group("parse_normalize");
    for (name, kind, body, n) in [
        (
            "zoom_page_300",
            SourceKind::ZoomOperationLogs,
            zoom_body(300),
            300,
        ),
        (
            "zoho_page_200",
            SourceKind::ZohoMailAudit,
            zoho_body(200),
            200,
        ),
    ] {
        let key = stream(kind);
        let events = trawl_sources::normalize_page(&key, body.clone(), now)
            .expect("body parses")
            .events;
        assert_eq!(events.len(), n, "{name}: every record becomes an event");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || body.clone(),
                |body| black_box(trawl_sources::normalize_page(&key, body, now).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn event_ids(c: &mut Criterion) {
    let key = stream(SourceKind::ZoomOperationLogs);
    let raws = records(300, zoom_record);
    let seconds: Vec<i64> = raws
        .iter()
        .map(|r| {
            DateTime::parse_from_rfc3339(r["time"].as_str().unwrap())
                .unwrap()
                .timestamp()
        })
        .collect();
    let mut g = c.benchmark_group("event_id");
    g.throughput(Throughput::Elements(raws.len() as u64));
    g.bench_function("assign_300", |b| {
        b.iter(|| {
            let mut counter = OccurrenceCounter::new();
            for (raw, s) in raws.iter().zip(&seconds) {
                black_box(counter.assign(&key, raw, *s));
            }
        })
    });
    g.finish();
}

fn event_json(c: &mut Criterion) {
    let now = day() + chrono::Duration::days(1);
    let mut g = c.benchmark_group("event_json");
    for (name, kind, body) in [
        ("zoom_300", SourceKind::ZoomOperationLogs, zoom_body(300)),
        ("zoho_200", SourceKind::ZohoMailAudit, zoho_body(200)),
    ] {
        let events: Vec<Event> = trawl_sources::normalize_page(&stream(kind), body, now)
            .unwrap()
            .events;
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                for e in &events {
                    black_box(e.to_json());
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse_and_normalize, event_ids, event_json);
criterion_main!(benches);
