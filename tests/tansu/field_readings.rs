//! One fleet through the engine and the `tansu` broker while the simulator plays every
//! reading the field reports at once: Zoom dates read in each account's time zone
//! (UTC+13, UTC-8, UTC+14, UTC-12), page tokens that are only offsets into lists that
//! keep growing while they are paged (identical records of one second in plenty, empty
//! pages with a token, last pages that still carry one), records that do not parse,
//! tokens voided by another holder of the credentials again and again, a Phone plan
//! missing (403 code 2031), Zoho ranges on index time with an exclusive `endTime` and
//! records indexed seconds late, and Zoho throttling as HTTP 400 and HTTP 200 with the
//! lock only in the message, extended by calls made during it.
//!
//! Kafka must hold exactly the ground truth, by content and multiplicity; each record
//! that does not parse must be on the dead-letter topic once; the voided tokens and the
//! throttling must cost a bounded number of requests; no stream may fail.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_model::SourceKind;
use trawl_sim::{
    DateZone, LastPage, NoPhone, PageTokens, SimConfig, SimFamily, Simulator, VoidMessage, ZohoEnd,
    ZohoSelect, ZohoThrottle,
};
use trawl_suite::field::*;
use trawl_suite::harness::{api_of, backfill_start, engine_toml, FleetTenant, EVENT_TOPICS};
use trawl_suite::TansuBroker;

const DAYS: i64 = 3;

#[actix_rt::test]
async fn every_reading_at_once_delivers_exactly_the_ground_truth() {
    let broker = TansuBroker::start();
    let mut tenants: Vec<FleetTenant> = Vec::new();
    let mut config = SimConfig {
        seed: 12,
        zoom_dates: DateZone::Account,
        ..SimConfig::default()
    };
    config.paging.tokens = PageTokens::Offset;
    config.paging.last_page = LastPage::Dangling;
    config.paging.empty_page_rate = 0.05;
    config.data.duplicate_share = 0.1;
    config.data.late_share = 0.0;
    config.data.unparseable_share = 0.003;
    config.data.index_delay_ms = 5_000;
    config.zoho.select_on = ZohoSelect::IndexTime;
    config.zoho.end_time = ZohoEnd::Exclusive;
    for (id, phone, offset) in [
        ("east13", true, 13 * 60),
        ("west8", true, -8 * 60),
        ("east14", false, 14 * 60),
        ("west12", false, -12 * 60),
    ] {
        let (t, mut a) = zoom(id, phone, 1500, DAYS as u32 + 2);
        a.utc_offset_minutes = offset;
        tenants.push(t);
        config.zoom_accounts.push(a);
    }
    let (t, mut a) = zoom("voided", false, 1500, DAYS as u32 + 2);
    a.void_tokens_every_secs = 40;
    a.void_message = VoidMessage::Mixed;
    tenants.push(t);
    config.zoom_accounts.push(a);
    // trawl asks for Phone; the account has none.
    let (mut t, mut a) = zoom("nophone", false, 800, DAYS as u32 + 2);
    t.phone = true;
    a.no_phone = NoPhone::Forbidden;
    tenants.push(t);
    config.zoom_accounts.push(a);
    let (t, o) = zoho("zidx", 1000, DAYS as u32 + 2);
    tenants.push(t);
    config.zoho_orgs.push(o);
    for (id, form) in [
        ("z400", ZohoThrottle::Http400),
        ("z200", ZohoThrottle::Http200),
    ] {
        let (t, mut o) = zoho(id, 600, DAYS as u32 + 2);
        o.requests_per_minute = 25;
        o.lock_secs = 10;
        o.throttle = form;
        o.lock_extends = true;
        tenants.push(t);
        config.zoho_orgs.push(o);
    }
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &broker.bootstrap(),
        "",
        &format!("poll_interval = \"2s\"\nbackfill = \"{DAYS}d\"\nlookback = \"1h\"\nrecheck = \"every poll\"\n"),
    );
    let engine_config = trawl::config::load_str(&toml).expect("test config loads");
    let start = backfill_start(DAYS).await;
    let engine = Engine::start(engine_config.engine, EngineOptions::default())
        .await
        .unwrap();
    let streams: Vec<(FleetTenant, SourceKind)> = tenants
        .iter()
        .flat_map(|t| t.streams().into_iter().map(move |k| (t.clone(), k)))
        .collect();
    let disabled = |t: &FleetTenant, k: SourceKind| {
        t.id == "nophone" && k == SourceKind::ZoomPhoneOperationLogs
    };
    let wait_live = |min_wm: Option<chrono::DateTime<Utc>>, within: Duration| {
        let engine = &engine;
        let streams = &streams;
        async move {
            let deadline = tokio::time::Instant::now() + within;
            let mut polls = 0u32;
            loop {
                polls += 1;
                let s = engine.status.snapshot();
                let by_key: BTreeMap<(String, String), _> = s
                    .iter()
                    .map(|r| ((r.tenant.clone(), r.source.clone()), r))
                    .collect();
                let ready = streams.iter().all(|(t, k)| {
                    let Some(r) = by_key.get(&(t.id.clone(), k.as_str().to_string())) else {
                        return false;
                    };
                    if disabled(t, *k) {
                        return r.state == StreamState::Disabled;
                    }
                    r.state == StreamState::Live
                        && min_wm.is_none_or(|m| r.watermark.is_some_and(|w| w >= m))
                });
                if ready {
                    return s;
                }
                if polls.is_multiple_of(30) {
                    let behind: Vec<_> = s
                        .iter()
                        .filter(|r| {
                            r.state != StreamState::Live
                                || min_wm.is_some_and(|m| r.watermark.is_none_or(|w| w < m))
                        })
                        .map(|r| {
                            format!(
                                "{}/{} {:?} {:?} {:?}",
                                r.tenant, r.source, r.state, r.watermark, r.last_error
                            )
                        })
                        .collect();
                    eprintln!("behind: {behind:?}");
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "not all streams live (or the phone stream not disabled): {s:#?}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    let began = tokio::time::Instant::now();
    wait_live(None, Duration::from_secs(240)).await;
    eprintln!("all live after {:?}", began.elapsed());

    // Live for a while: new records arrive in every Zoom list while it is paged (offset
    // tokens: pages shift), tokens get voided (periodically, and three times in a row
    // here), Zoho orgs get throttled.
    for second in 0..15 {
        for (t, k) in &streams {
            if t.zoom && !disabled(t, *k) {
                sim.inject(&t.account(), api_of(*k), 3, 0, ChronoDuration::zero());
            }
        }
        if second % 5 == 0 {
            sim.void_tokens("voided-acct");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let check = sim.now();
    // Every stream past the check moment (Zoho records are indexed up to 5 s late).
    let s = wait_live(
        Some(check + ChronoDuration::seconds(8)),
        Duration::from_secs(120),
    )
    .await;
    eprintln!("caught up past the check after {:?}", began.elapsed());
    let b = broker.bootstrap();
    let (events, dead) = tokio::task::spawn_blocking(move || {
        (
            published(&b, &EVENT_TOPICS).unwrap(),
            dead_letters(&b, "trawl.dead_letter").unwrap(),
        )
    })
    .await
    .unwrap();
    let stats = sim.stats();
    engine.stop().await;

    let mut problems = Vec::new();
    let mut total = 0;
    for (t, k) in &streams {
        if disabled(t, *k) {
            let r = s
                .iter()
                .find(|r| r.tenant == t.id && r.source == k.as_str())
                .unwrap();
            let why = r.last_error.clone().unwrap_or_default();
            assert!(why.contains("Zoom Phone"), "{why}");
            continue;
        }
        let key = t.key(*k);
        let (good, bad) = truth(&sim, t, *k, start, check);
        let got = published_in(&events, &key, start, check);
        if got != good {
            let missing = good.iter().filter(|r| !got.contains(r)).count();
            let extra = got.len() as i64 - (good.len() as i64 - missing as i64);
            problems.push(format!(
                "{key}: {} published, {} in the ground truth: {missing} missing, {extra} extra or twice",
                got.len(),
                good.len()
            ));
        }
        // Records that do not parse: on the dead-letter topic, once each.
        let mut lettered: Vec<String> = dead
            .iter()
            .filter(|d| d.tenant == t.id && d.source == k.as_str())
            .filter_map(|d| serde_json::from_str(&d.body).ok())
            .map(|v: serde_json::Value| trawl_model::canonical_json(&v))
            .collect();
        lettered.sort();
        let lettered_in: Vec<String> = lettered
            .iter()
            .filter(|r| bad.contains(r))
            .cloned()
            .collect();
        if lettered_in != bad {
            problems.push(format!(
                "{key}: {} dead letters of the window for {} records that do not parse",
                lettered_in.len(),
                bad.len()
            ));
        }
        assert!(!good.is_empty(), "{key}: the simulator holds records");
        total += good.len();
    }
    assert!(
        problems.is_empty(),
        "not exactly the ground truth: {problems:#?}"
    );
    assert!(total > 20_000, "a busy fleet: {total}");
    assert!(
        dead.iter().all(|d| d.reason.contains(&d.tenant)),
        "reasons name the tenant"
    );

    // Voided again and again: refreshed, never failed, at a bounded pace.
    let voided = stats.account("voided-acct").cloned().unwrap();
    assert!(voided.unauthorized >= 2, "{voided:?}");
    assert!(
        voided.tokens_issued <= voided.unauthorized + 2,
        "{voided:?}"
    );
    // Throttled: each lock waited out, not extended by calls during it.
    for id in ["z400-acct", "z200-acct"] {
        let l = stats.limit(id, SimFamily::ZohoMail).unwrap();
        assert!(l.rate_limited_qps >= 1, "{id} was throttled: {l:?}");
        assert!(
            l.rate_limited_qps * 4 <= l.ok,
            "{id}: throttled requests stay rare: {l:?}"
        );
    }
    sim.stop().await;
}
