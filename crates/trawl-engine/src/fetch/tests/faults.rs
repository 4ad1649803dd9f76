//! What the loop does with each kind of answer: a 429 goes back to the bucket and the
//! page is asked again; a 5xx is retried with backoff; a page that never parses is
//! dead-lettered and its window becomes a gap, tried again an hour later while the
//! stream goes on (it is not skipped for good); credentials, a missing API and Kafka
//! failures end the loop with the typed reason the supervisor decides on.

use std::time::Duration as StdDuration;

use trawl_kafka::KafkaError;
use trawl_sources::SourceError;

use super::*;
use crate::fetch::window::TRANSIENT_TRIES;
use crate::status::StreamState;
use crate::supervisor::policy::{decide, Decision};
use crate::test_support::Fault;

fn small_api() -> ScriptedApi {
    ScriptedApi::new(ScriptedApi::records(t0(), 2, 100), 50)
}

/// One window at a time, so the faults fall on one window's pages in order.
fn one_window() -> Cadence {
    Cadence {
        max_windows: 1,
        ..cadence(1)
    }
}

#[actix::test]
async fn faults_that_pass_lose_nothing_and_are_counted() {
    tokio::time::pause();
    let api = small_api();
    api.with(|a| {
        a.faults.extend([
            Fault::RateLimited {
                daily: false,
                retry_after: Some(t0() + Duration::seconds(2)),
            },
            Fault::ServerError,
            Fault::Malformed,
            Fault::Malformed,
            Fault::Malformed,
        ])
    });
    let b = bed(api, one_window(), MemorySink::default());
    let run = b.start();
    // The window whose page did not parse three times is a gap: the stream goes on to
    // its other windows and to live polling without it.
    b.until("live", StdDuration::from_secs(3600), |s| {
        s.state == StreamState::Live
    })
    .await;
    let s = b.status();
    assert_eq!(s.gaps.len(), 1, "{s:#?}");
    let gap = s.gaps[0].clone();
    assert!(!gap.reason.is_empty(), "{gap:?}");
    assert_eq!(b.metric("trawl_gaps"), 1.0);
    let without_gap: BTreeMap<EventId, usize> = b.api.with(|a| {
        a.records
            .iter()
            .filter(|r| r.time >= midnight(9) && !gap.window.contains(r.time))
            .map(|r| (id_of(r), 1))
            .collect()
    });
    assert!(!without_gap.is_empty() && without_gap.len() < b.truth(midnight(9)).len());
    assert_eq!(
        b.published(),
        without_gap,
        "every other window's records, once"
    );
    // An hour later the gap is tried again, fetched and closed.
    b.until("gap closed", StdDuration::from_secs(3 * 3600), |s| {
        s.gaps.is_empty()
    })
    .await;
    run.abort();
    assert_eq!(b.metric("trawl_gaps"), 0.0);
    assert_eq!(
        b.published(),
        b.truth(midnight(9)),
        "nothing lost, nothing twice"
    );
    let s = b.status();
    assert_eq!(s.rate_limited, 1);
    assert!(s.degraded, "a page went to the dead-letter topic");
    assert_eq!(b.sink.with(|s| s.dead_letters.len()), 1);
    assert_eq!(b.metric("trawl_malformed_pages_total"), 3.0);
    assert_eq!(b.metric("trawl_dead_letters_total"), 1.0);
    assert!(b
        .metrics
        .render()
        .contains(r#"trawl_rate_limited_total{label="Heavy",source="zoom.operation_logs",tenant="acme",type="qps"} 1"#));
}

async fn exit_with(api: ScriptedApi, sink: MemorySink) -> Exit {
    let b = bed(api, one_window(), sink);
    tokio::time::timeout(StdDuration::from_secs(24 * 3600), b.start())
        .await
        .expect("the loop ends")
        .unwrap()
}

#[actix::test]
async fn failures_a_person_must_fix_end_the_loop_with_their_reason() {
    tokio::time::pause();
    let api = small_api();
    api.with(|a| a.faults.push_back(Fault::BadCredentials));
    let exit = exit_with(api, MemorySink::default()).await;
    assert!(
        matches!(exit, Exit::Source(SourceError::Permanent { .. })),
        "{exit}"
    );
    assert_eq!(decide(&exit), Decision::RetrySlowly);
    assert!(exit.to_string().contains("credentials"), "{exit}");

    let api = small_api();
    api.with(|a| a.faults.push_back(Fault::NotEnabled));
    let exit = exit_with(api, MemorySink::default()).await;
    assert_eq!(decide(&exit), Decision::Disable, "{exit}");
}

#[actix::test]
async fn an_api_down_for_long_ends_the_loop_for_a_restart() {
    tokio::time::pause();
    let api = small_api();
    api.with(|a| {
        for _ in 0..=TRANSIENT_TRIES {
            a.faults.push_back(Fault::ServerError);
        }
    });
    let exit = exit_with(api.clone(), MemorySink::default()).await;
    assert!(
        matches!(exit, Exit::Source(SourceError::Retryable { .. })),
        "{exit}"
    );
    assert_eq!(decide(&exit), Decision::Restart);
    assert_eq!(api.with(|a| a.requests), TRANSIENT_TRIES as usize + 1);
}

#[actix::test]
async fn kafka_failures_keep_their_kind_a_fenced_producer_is_a_stop() {
    tokio::time::pause();
    let sink = MemorySink::default();
    sink.with(|s| {
        s.failures.push_back(KafkaError::Retryable {
            op: "produce",
            reason: "all brokers down".into(),
        })
    });
    let exit = exit_with(small_api(), sink).await;
    assert!(
        matches!(
            &exit,
            Exit::Kafka {
                during: "storing the first checkpoint",
                error: KafkaError::Retryable { .. }
            }
        ),
        "{exit}"
    );
    assert_eq!(decide(&exit), Decision::Restart);

    let sink = MemorySink::default();
    sink.with(|s| {
        s.failures.push_back(KafkaError::Fenced {
            transactional_id: "trawl-1".into(),
            reason: "producer fenced".into(),
        })
    });
    let exit = exit_with(small_api(), sink).await;
    assert!(
        matches!(
            &exit,
            Exit::Kafka {
                error: KafkaError::Fenced { .. },
                ..
            }
        ),
        "{exit}"
    );
    assert_eq!(decide(&exit), Decision::Stop);
}

#[actix::test]
async fn events_too_large_for_kafka_are_dead_lettered_once_and_the_stream_goes_on() {
    tokio::time::pause();
    let sink = MemorySink::default();
    // Every event is larger than this producer's message.max.bytes.
    sink.with(|s| s.max_message_bytes = 100);
    let b = bed(small_api(), cadence(1), sink);
    let run = b.start();
    b.until("live", StdDuration::from_secs(3600), |s| {
        s.state == StreamState::Live
    })
    .await;
    // Live polls re-read the lookback: what was dead-lettered is not sent again.
    tokio::time::sleep(StdDuration::from_secs(1800)).await;
    run.abort();
    let truth = b.truth(midnight(9));
    let letters = b.sink.with(|s| s.dead_letters.clone());
    assert!(b.published().is_empty(), "Kafka refuses them all");
    assert_eq!(letters.len(), truth.len(), "each one dead-lettered once");
    assert!(
        letters[0]
            .1
            .contains("larger than the producer's message.max.bytes (100): not published"),
        "{}",
        letters[0].1
    );
    assert_eq!(b.metric("trawl_dead_letters_total"), truth.len() as f64);
    assert!(b.status().degraded, "said in /status");
    // The watermark moved on: the stored checkpoint is near now.
    let cp = b.sink.with(|s| s.stored.last().unwrap().1.clone());
    assert!(b.deps.clock.now() - cp.watermark < Duration::hours(1));
}
