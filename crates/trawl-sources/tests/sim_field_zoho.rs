//! The Zoho source against the simulator playing the field's readings: ranges that
//! select on `requestTime` or on index time, `endTime` inclusive or not, records indexed
//! late, records that do not parse, auth text inside records, and throttling in each of
//! its forms. Checked against the ground truth by content and multiplicity.

mod support;

use chrono::{Duration, DurationRound};
use trawl_model::{SourceKind, Window};
use trawl_sim::{SimApi, ZohoEnd, ZohoOrg, ZohoSelect, ZohoThrottle};
use trawl_sources::SourceError;

use support::*;

fn org(zoid: &str, per_day: u32) -> ZohoOrg {
    let mut o = ZohoOrg::new(zoid);
    o.records_per_day = per_day;
    o.history_days = 20;
    o
}

/// Day windows over the last `days`, then a live window of an hour; every scan's events
/// and late events, deduped by id.
async fn read_days(sim: &trawl_sim::SimHandle, zoid: &str, days: i64) -> (Window, Driven) {
    let source = source(
        SourceKind::ZohoMailAudit,
        &zoho_settings(sim, "globex", zoid),
    );
    let now = sim.now();
    let from = (now - Duration::days(days))
        .duration_trunc(Duration::days(1))
        .unwrap();
    let mut all = Driven::default();
    for w in Window::new(from, now).unwrap().split_days() {
        all.absorb(drive(&mut source.clone().scan(w), &Drive::new(sim)).await);
    }
    let live = Window::new(now - Duration::hours(1), now).unwrap();
    all.absorb(drive(&mut source.scan(live), &Drive::new(sim)).await);
    (Window::new(from, now).unwrap(), all)
}

#[tokio::test]
async fn window_edges_hold_under_both_readings_and_both_ends() {
    for select in [ZohoSelect::RequestTime, ZohoSelect::IndexTime] {
        for end in [ZohoEnd::Inclusive, ZohoEnd::Exclusive] {
            let mut config = frozen_unlimited();
            config.zoho.select_on = select;
            config.zoho.end_time = end;
            config.data.late_share = 0.0;
            // Every record indexed up to 5 s after its time: many cross a window's end.
            config.data.index_delay_ms = 5_000;
            config.zoho_orgs = vec![org("edges", 3000)];
            let sim = start(config).await;
            let (span, got) = read_days(&sim, "edges", 6).await;
            assert!(got.errors.is_empty(), "{:?}", got.errors);
            let truth = sim.ground_truth("edges", SimApi::ZohoMailAudit, span.start, span.end);
            assert_eq!(
                content(got.events.values()),
                content_of(&truth),
                "{select:?}, {end:?}"
            );
            assert!(got.late.is_empty());
            sim.stop().await;
        }
    }
}

#[tokio::test]
async fn records_indexed_late_come_back_late_when_the_range_is_on_index_time() {
    let mut config = frozen_unlimited();
    config.zoho.select_on = ZohoSelect::IndexTime;
    config.data.late_share = 0.3;
    config.data.late_max_minutes = 600;
    config.zoho_orgs = vec![org("late", 1500)];
    let sim = start(config).await;
    let (span, got) = read_days(&sim, "late", 6).await;
    assert!(got.late.len() > 10, "{} late", got.late.len());
    // Events and late events together are every record, once; a record before the span
    // indexed inside it is late too, and real.
    let mut by_id = got.events.clone();
    by_id.extend(got.late.clone());
    let all: Vec<_> = by_id.values().filter(|e| span.contains(e.time)).collect();
    let truth = sim.ground_truth("late", SimApi::ZohoMailAudit, span.start, span.end);
    assert_eq!(content(all), content_of(&truth));
    sim.stop().await;
}

#[tokio::test]
async fn records_that_do_not_parse_come_back_and_auth_words_in_records_are_records() {
    let mut config = frozen_unlimited();
    config.data.unparseable_share = 0.03;
    config.zoho_orgs = vec![org("bad", 1000)];
    let sim = start(config).await;
    let (span, got) = read_days(&sim, "bad", 3).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let truth = sim.ground_truth("bad", SimApi::ZohoMailAudit, span.start, span.end);
    let (bad, good): (Vec<_>, Vec<_>) = truth
        .iter()
        .cloned()
        .partition(|r| r["requestTime"] == "a while ago");
    assert!(bad.len() > 10);
    assert_eq!(content(got.events.values()), content_of(&good));
    assert!(got.rejected.len() >= bad.len());
    sim.stop().await;
}

#[tokio::test]
async fn throttling_in_every_form_pauses_for_the_stated_lock_and_is_no_credentials_failure() {
    for form in [
        ZohoThrottle::Http429,
        ZohoThrottle::Http400,
        ZohoThrottle::Http200,
    ] {
        let mut config = frozen_unlimited();
        config.unlimited = false;
        let mut o = org("thr", 1000);
        o.requests_per_minute = 2;
        o.lock_secs = 22 * 60;
        o.throttle = form;
        config.zoho_orgs = vec![o];
        let sim = start(config).await;
        let source = source(
            SourceKind::ZohoMailAudit,
            &zoho_settings(&sim, "globex", "thr"),
        );
        let mut scan = source.scan(yesterday(&sim));
        let now = sim.now();
        let info = loop {
            match scan.next_page(now).await.step {
                Err(SourceError::RateLimited(info)) => break info,
                Err(e) => panic!("{form:?}: {e}"),
                Ok(_) => {}
            }
        };
        assert!(!SourceError::RateLimited(info.clone()).is_permanent());
        match form {
            ZohoThrottle::Http429 => assert_eq!(info.retry_after, None),
            _ => assert_eq!(
                info.retry_after.map(|r| r.at()),
                Some(now + Duration::minutes(22)),
                "{form:?}: the lock from the message"
            ),
        }
        assert!(info.scope.contains("globex"));
        sim.stop().await;
    }
}
