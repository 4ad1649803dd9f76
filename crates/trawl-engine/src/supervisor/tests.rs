//! The supervisor's policy seen from outside: a fenced producer ends every stream as
//! failed, with the reason, and nothing is restarted or retried (not even streams a
//! reload adds later); a Kafka blip is a restart with backoff. The tenants' APIs are
//! never reached: the fence (or the blip) comes with each stream's first checkpoint,
//! before its first request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use secrecy::SecretString;
use trawl_kafka::KafkaError;
use trawl_model::{Plan, SourceKind};
use trawl_sources::{TenantAccess, ZoomCredentials};

use super::*;
use crate::config::StreamSettings;
use crate::publisher::Publisher;
use crate::status::{StreamState, StreamStatus};
use crate::test_support::MemorySink;

fn tenant(id: &str) -> TenantSpec {
    TenantSpec {
        id: TenantId::new(id).unwrap(),
        streams: vec![
            SourceKind::ZoomOperationLogs,
            SourceKind::ZoomPhoneOperationLogs,
        ],
        plan: Plan::Pro,
        access: TenantAccess::Zoom {
            credentials: ZoomCredentials {
                account_id: format!("{id}-acct"),
                client_id: "cid".into(),
                client_secret: SecretString::from("s"),
                // Nothing listens there: any request would fail (none is made).
                oauth_base: "http://127.0.0.1:9".parse().unwrap(),
            },
            api_base: "http://127.0.0.1:9".parse().unwrap(),
            category_type: None,
        },
        settings: StreamSettings::default(),
        rate_limits: BTreeMap::new(),
    }
}

struct Bed {
    sink: Arc<MemorySink>,
    metrics: Arc<Metrics>,
    status: StatusBoard,
    supervisor: Addr<Supervisor>,
}

fn start(sink: MemorySink) -> Bed {
    let metrics = Arc::new(Metrics::new(true));
    let status = StatusBoard::new(metrics.clone());
    let sink = Arc::new(sink);
    let publisher = Publisher::new(sink.clone(), metrics.clone()).start();
    let supervisor = Supervisor::new(SupervisorDeps {
        clock: Clock::System,
        metrics: metrics.clone(),
        status: status.clone(),
        publisher: PublisherHandle::new(publisher, sink.clone()),
        http: reqwest::Client::new(),
        requests: Arc::new(tokio::sync::Semaphore::new(4)),
        workers: Vec::new(),
        restart: RestartPolicy::default(),
    })
    .start();
    Bed {
        sink,
        metrics,
        status,
        supervisor,
    }
}

fn restarts_total(m: &Metrics) -> f64 {
    m.render()
        .lines()
        .filter(|l| l.starts_with("trawl_fetcher_restarts_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

async fn settle() {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix::test]
async fn a_fenced_producer_ends_its_streams_as_failed_not_restarted() {
    tokio::time::pause();
    let sink = MemorySink::default();
    sink.with(|s| {
        s.failures.push_back(KafkaError::Fenced {
            transactional_id: "trawl-prod".into(),
            reason: "Broker: Producer attempted to produce with an old epoch".into(),
        })
    });
    let b = start(sink);
    b.supervisor
        .do_send(ApplyTenants(vec![tenant("acme"), tenant("globex")]));
    settle().await;

    let failed_fenced = |s: &StreamStatus| {
        s.state == StreamState::Failed
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("fenced") && e.contains("trawl-prod"))
    };
    let snapshot = b.status.snapshot();
    assert_eq!(snapshot.len(), 4);
    assert!(snapshot.iter().all(failed_fenced), "{snapshot:#?}");
    let writes = b.sink.with(|s| s.writes);
    assert!(
        writes <= 4,
        "at most each stream's first checkpoint: {writes}"
    );

    // An hour later (past every backoff and the slow retry of failed streams): nothing
    // was restarted, nothing tried Kafka again.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    settle().await;
    assert_eq!(b.sink.with(|s| s.writes), writes);
    assert_eq!(restarts_total(&b.metrics), 0.0);
    assert!(b
        .status
        .snapshot()
        .iter()
        .all(|s| s.restarts == 0 && failed_fenced(s)));

    // A tenant added by a reload does not start either.
    b.supervisor.do_send(ApplyTenants(vec![
        tenant("acme"),
        tenant("globex"),
        tenant("initech"),
    ]));
    settle().await;
    assert_eq!(b.sink.with(|s| s.writes), writes);
    let snapshot = b.status.snapshot();
    assert_eq!(snapshot.len(), 6);
    assert!(snapshot.iter().all(failed_fenced), "{snapshot:#?}");
}

#[actix::test]
async fn a_broker_blip_is_a_restart_with_backoff() {
    tokio::time::pause();
    let sink = MemorySink::default();
    sink.with(|s| {
        s.failures.push_back(KafkaError::Retryable {
            op: "produce",
            reason: "all brokers down".into(),
        })
    });
    let b = start(sink);
    let mut one = tenant("acme");
    one.streams = vec![SourceKind::ZoomOperationLogs];
    b.supervisor.do_send(ApplyTenants(vec![one]));
    settle().await;
    let s = &b.status.snapshot()[0];
    assert_eq!(
        (s.state, s.restarts),
        (StreamState::BackingOff, 1),
        "{s:#?}"
    );
    // The restart (after about a second) stores the first checkpoint this time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(b.sink.with(|s| s.stored.len()), 1);
    assert_eq!(restarts_total(&b.metrics), 1.0);
}

/// A late exit report of a fetcher that is not the stream's current one (a stalled
/// fetcher already replaced, one of a changed tenant) changes nothing: acting on it
/// would mark the running stream ended and start a second fetcher beside it.
#[actix::test]
async fn a_late_exit_report_of_a_replaced_fetcher_is_ignored() {
    use crate::fetch::{Cadence, FetcherDeps, StreamFetcher};
    use crate::limiter::{BucketSpec, LimiterHandle, RateLimiter};
    use crate::test_support::{Fault, ScriptedApi, ScriptedSource};

    tokio::time::pause();
    let b = start(MemorySink::default());
    let mut one = tenant("acme");
    one.streams = vec![SourceKind::ZoomOperationLogs];
    let key = one.stream_keys().next().unwrap();
    b.supervisor.do_send(ApplyTenants(vec![one]));
    settle().await;
    let before = b.status.get(&key).unwrap();
    assert_ne!(before.state, StreamState::Disabled);

    // Another fetcher of the same stream, unknown to the supervisor, ends at once and
    // reports to it: the API is "not enabled".
    let api = ScriptedApi::new(Vec::new(), 10);
    api.with(|a| a.faults.push_back(Fault::NotEnabled));
    let metrics = Arc::new(Metrics::new(true));
    let sink = Arc::new(MemorySink::default());
    let publisher = Publisher::new(sink.clone(), metrics.clone()).start();
    let spec = BucketSpec {
        per_second: 20.0,
        daily: None,
        share: 1.0,
    };
    let clock = Clock::System;
    let limiter = RateLimiter::new("stale", spec, clock.clone(), Vec::new()).start();
    let deps = FetcherDeps {
        source: Arc::new(ScriptedSource {
            stream: key.clone(),
            api: api.clone(),
        }),
        limiter: LimiterHandle::new(limiter),
        publisher: PublisherHandle::new(publisher, sink),
        cadence: Cadence::from(&StreamSettings::default()),
        clock,
        probe: StreamProbe::new(&key, &metrics, &StatusBoard::new(metrics.clone())),
        requests: Arc::new(tokio::sync::Semaphore::new(1)),
    };
    StreamFetcher::new(deps, b.supervisor.clone().recipient()).start();
    settle().await;
    assert!(
        api.with(|a| a.faults.is_empty()),
        "the stale fetcher ran and ended"
    );
    let after = b.status.get(&key).unwrap();
    assert_ne!(after.state, StreamState::Disabled, "{after:#?}");
    assert_eq!(after.restarts, before.restarts);
}
