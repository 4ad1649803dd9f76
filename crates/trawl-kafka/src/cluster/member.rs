//! [`Membership`]: this member's consumer in the cluster's group, polled by a thread of
//! its own, and what its rebalance callbacks report ([`Ownership`]).
//!
//! librdkafka runs the rebalance callbacks inside `poll`, on that thread. With the
//! cooperative-sticky assignor they are incremental: an assignment names only the
//! partitions added, a revocation only those taken away. A revocation blocks the
//! callback (at most `handover_timeout`, well below the rebalance timeout) until the
//! engine answers that the partitions' streams stopped and their writes were answered:
//! only then does librdkafka give the partitions up and the rebalance complete, so the
//! next owner starts after the last write of this one. Lost partitions (the session
//! expired: this member was cut off from the coordinator for `session.timeout.ms`, or
//! the group moved on without it) are closed in the [`Gate`] right in the callback,
//! before anyone is told: from then on nothing of theirs is published.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError as RdError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc;

use super::{ClusterSettings, Gate};
use crate::client::{apply_user, base, created, Heard, TrawlContext};
use crate::config::KafkaSettings;
use crate::error::{classify, classify_code, KafkaError};

/// What the group decided about this member's partitions.
#[derive(Debug)]
pub enum Ownership {
    /// These partitions are this member's now.
    Assigned(BTreeSet<i32>),
    /// These partitions go to another member: stop their streams, let their writes
    /// finish (they are closed in the gate already once `done` is sent), then send on
    /// `done`; the rebalance completes after that.
    Revoked {
        partitions: BTreeSet<i32>,
        done: std_mpsc::SyncSender<()>,
    },
    /// These partitions were lost (already closed in the gate): stop their streams.
    Lost(BTreeSet<i32>),
    /// The group's member count, as the coordinator lists it.
    Members(usize),
}

struct MemberContext {
    inner: TrawlContext,
    gate: Gate,
    events: mpsc::UnboundedSender<Ownership>,
    handover_timeout: Duration,
}

fn partitions(tpl: &TopicPartitionList) -> BTreeSet<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for MemberContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.inner.log(level, fac, message)
    }

    fn error(&self, error: RdError, reason: &str) {
        self.inner.error(error, reason)
    }
}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let ps = partitions(tpl);
        if ps.is_empty() {
            return;
        }
        if consumer.assignment_lost() {
            self.gate.close(&ps);
            tracing::warn!(partitions = ?ps, "cluster partitions lost (session expired): stopped publishing for their accounts at once");
            let _ = self.events.send(Ownership::Lost(ps));
            return;
        }
        let started = Instant::now();
        let (done, wait) = std_mpsc::sync_channel(1);
        let sent = self.events.send(Ownership::Revoked {
            partitions: ps.clone(),
            done,
        });
        if sent.is_ok() {
            match wait.recv_timeout(self.handover_timeout) {
                Ok(()) | Err(std_mpsc::RecvTimeoutError::Disconnected) => {}
                Err(std_mpsc::RecvTimeoutError::Timeout) => tracing::warn!(
                    partitions = ?ps,
                    timeout = ?self.handover_timeout,
                    "handover of revoked cluster partitions not finished in time: giving them up anyway (their writes are refused from now on)"
                ),
            }
        }
        self.gate.close(&ps);
        tracing::info!(partitions = ?ps, took = ?started.elapsed(), "cluster partitions handed over");
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let ps = partitions(tpl);
                if !ps.is_empty() {
                    tracing::info!(partitions = ?ps, "cluster partitions assigned");
                    let _ = self.events.send(Ownership::Assigned(ps));
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "cluster rebalance error"),
        }
    }
}

/// This member in the group; see the module doc.
pub struct Membership {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The coordination topic's partitions (as it exists, which may differ from the
    /// configured count when it was created before).
    pub partitions: i32,
}

impl Membership {
    /// Creates the coordination topic when missing and joins the group. Ownership
    /// events arrive on the returned receiver.
    pub async fn join(
        kafka: &KafkaSettings,
        cluster: &ClusterSettings,
        gate: Gate,
    ) -> Result<(Membership, mpsc::UnboundedReceiver<Ownership>), KafkaError> {
        let partitions = ensure_topic(kafka, cluster).await?;
        let (events, rx) = mpsc::unbounded_channel();
        let mut config = base(kafka);
        config
            .set("client.id", format!("trawl-member-{}", cluster.member))
            .set("group.id", &cluster.group)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set(
                "session.timeout.ms",
                cluster.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (cluster.session_timeout.as_millis() / 5)
                    .clamp(100, 3000)
                    .to_string(),
            )
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest");
        apply_user(&mut config, kafka, false);
        let context = MemberContext {
            inner: TrawlContext::new(kafka, Heard::default()),
            gate,
            events: events.clone(),
            handover_timeout: cluster.handover_timeout,
        };
        let consumer: BaseConsumer<MemberContext> = created(
            kafka,
            "join the cluster",
            config.create_with_context(context),
            "",
        )?;
        consumer
            .subscribe(&[cluster.topic.as_str()])
            .map_err(|e| classify("join the cluster", &e, ""))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, group) = (stop.clone(), cluster.group.clone());
            let linger = cluster.handover_timeout + Duration::from_secs(10);
            std::thread::Builder::new()
                .name("trawl-member".into())
                .spawn(move || poll_loop(consumer, &group, &stop, &events, linger))
                .map_err(|e| KafkaError::permanent("join the cluster", e.to_string()))?
        };
        tracing::info!(member = %cluster.member, group = %cluster.group, topic = %cluster.topic, partitions, "joined the trawl cluster");
        Ok((
            Membership {
                stop,
                thread: Some(thread),
                partitions,
            },
            rx,
        ))
    }

    /// Leaves the group: every partition is revoked through the handover (so the
    /// engine must still answer [`Ownership::Revoked`]), then the consumer closes.
    pub async fn leave(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// How often the group's member count is asked for.
const MEMBERS_EVERY: Duration = Duration::from_secs(10);

fn poll_loop(
    consumer: BaseConsumer<MemberContext>,
    group: &str,
    stop: &AtomicBool,
    events: &mpsc::UnboundedSender<Ownership>,
    linger: Duration,
) {
    let mut asked: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            tracing::debug!(error = %e, "cluster consumer");
        }
        if asked.is_none_or(|at| at.elapsed() > MEMBERS_EVERY) {
            asked = Some(Instant::now());
            if let Ok(list) = consumer.fetch_group_list(Some(group), Duration::from_secs(2)) {
                if let Some(g) = list.groups().iter().find(|g| g.name() == group) {
                    let _ = events.send(Ownership::Members(g.members().len()));
                }
            }
        }
    }
    // Give every partition back through the revocation callback (the handover), then
    // leave the group.
    consumer.unsubscribe();
    let deadline = Instant::now() + linger;
    while Instant::now() < deadline {
        consumer.poll(Duration::from_millis(100));
        if consumer.assignment().map_or(true, |a| a.count() == 0) {
            break;
        }
    }
    drop(consumer);
    tracing::info!("left the trawl cluster");
}

/// Creates the coordination topic (compacted, `cluster.partitions`) when missing;
/// returns its partition count. An existing topic with another count is used as it is.
async fn ensure_topic(kafka: &KafkaSettings, cluster: &ClusterSettings) -> Result<i32, KafkaError> {
    let mut config = base(kafka);
    config.set("allow.auto.create.topics", "false");
    apply_user(&mut config, kafka, false);
    let admin: Arc<AdminClient<TrawlContext>> = Arc::new(created(
        kafka,
        "create admin client",
        config.create_with_context(TrawlContext::new(kafka, Heard::default())),
        "",
    )?);
    let replicas = kafka.replication.map_or(-1, i32::from);
    let topic = NewTopic::new(
        &cluster.topic,
        cluster.partitions,
        TopicReplication::Fixed(replicas),
    )
    .set("cleanup.policy", "compact");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&topic], &opts)
        .await
        .map_err(|e| classify("create the cluster topic", &e, ""))?;
    for r in results {
        match r {
            Ok(name) => {
                tracing::info!(topic = %name, partitions = cluster.partitions, "created the cluster's coordination topic")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(classify_code(
                    "create the cluster topic",
                    code,
                    format!("topic {name}: {code}"),
                    "",
                ))
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (name, admin) = (cluster.topic.clone(), admin.clone());
        let found = tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(Some(&name), Duration::from_secs(10))
                .map(|md| {
                    md.topics()
                        .first()
                        .map_or(0, |t| t.partitions().len() as i32)
                })
        })
        .await
        .map_err(|e| KafkaError::retryable("look up the cluster topic", e.to_string()))?
        .map_err(|e| classify("look up the cluster topic", &e, ""))?;
        if found > 0 {
            if found != cluster.partitions {
                tracing::warn!(topic = %cluster.topic, existing = found, configured = cluster.partitions,
                    "the cluster topic exists with another partition count: using it as it is (the count is fixed at creation)");
            }
            return Ok(found);
        }
        if Instant::now() > deadline {
            return Err(KafkaError::retryable(
                "look up the cluster topic",
                format!(
                    "{} has no partitions in the brokers' metadata",
                    cluster.topic
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
