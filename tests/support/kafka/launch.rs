//! Launching the nodes of a [`KafkaBroker`]: each node's `server.properties` (KRaft,
//! combined broker and controller, test-sized thread pools and timeouts), formatting
//! the log directories, starting the JVMs and waiting until each node serves.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use super::process;
use super::KafkaBroker;

/// Heap and JIT settings: a broker under test needs little, and starts faster with C1.
const JVM_OPTS: &[&str] = &[
    "-Xms64m",
    "-Xmx320m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
];

fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin/java"))
        .filter(|j| j.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}

impl KafkaBroker {
    /// `server.properties` of node `i`.
    pub(super) fn properties(&self, i: usize) -> String {
        let n = self.nodes.len();
        let node = &self.nodes[i];
        let voters: Vec<String> = self
            .nodes
            .iter()
            .map(|o| format!("{}@127.0.0.1:{}", o.id, o.controller_port))
            .collect();
        let min_isr = n.saturating_sub(1).max(1);
        let mut listeners = format!(
            "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            node.port, node.controller_port
        );
        let mut advertised = format!("PLAINTEXT://127.0.0.1:{}", node.port);
        if let Some(p) = node.secure_port {
            listeners.push_str(&format!(",SASL_SSL://127.0.0.1:{p}"));
            advertised.push_str(&format!(",SASL_SSL://127.0.0.1:{p}"));
        }
        let mut s = format!(
            "process.roles=broker,controller\n\
             node.id={id}\n\
             controller.quorum.voters={voters}\n\
             controller.listener.names=CONTROLLER\n\
             listeners={listeners}\n\
             advertised.listeners={advertised}\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL\n\
             log.dirs={data}\n\
             auto.create.topics.enable=false\n\
             num.partitions=1\n\
             default.replication.factor={n}\n\
             min.insync.replicas={min_isr}\n\
             offsets.topic.replication.factor={n}\n\
             offsets.topic.num.partitions=1\n\
             transaction.state.log.replication.factor={n}\n\
             transaction.state.log.min.isr={min_isr}\n\
             transaction.state.log.num.partitions=1\n\
             share.coordinator.state.topic.replication.factor={n}\n\
             share.coordinator.state.topic.min.isr={min_isr}\n\
             group.initial.rebalance.delay.ms=0\n\
             num.network.threads=2\n\
             num.io.threads=2\n\
             background.threads=2\n\
             num.recovery.threads.per.data.dir=1\n\
             log.cleaner.threads=1\n\
             log.cleaner.dedupe.buffer.size=4194304\n\
             replica.lag.time.max.ms=10000\n\
             broker.heartbeat.interval.ms=500\n\
             broker.session.timeout.ms=3000\n\
             transaction.abort.timed.out.transaction.cleanup.interval.ms=1000\n",
            id = node.id,
            voters = voters.join(","),
            data = node.dir.join("data").display(),
        );
        if let Some(sec) = &self.secure {
            s.push_str(&format!(
                "sasl.enabled.mechanisms=SCRAM-SHA-512\n\
                 listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
                 listener.name.sasl_ssl.ssl.keystore.type=PEM\n\
                 listener.name.sasl_ssl.ssl.keystore.location={}\n",
                sec.tls.keystore.display()
            ));
        }
        s
    }

    fn java_command(&self, i: usize) -> Command {
        let mut c = Command::new(java());
        c.args(JVM_OPTS)
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(self.home.join("libs/*"))
            .current_dir(&self.nodes[i].dir)
            .stdin(Stdio::null());
        c
    }

    /// `kafka.tools.StorageTool format` of every node's log directory (in parallel).
    pub(super) fn format(&self, cluster_id: &str) -> anyhow::Result<()> {
        let mut running = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let mut c = self.java_command(i);
            // `--cluster-id=`: an id may start with '-', which a separate argument would
            // make an option.
            c.args(["kafka.tools.StorageTool", "format"])
                .arg(format!("--cluster-id={cluster_id}"))
                .arg("--config")
                .arg(node.dir.join("server.properties"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(sec) = &self.secure {
                c.arg("--add-scram").arg(format!(
                    "SCRAM-SHA-512=[name={},password={}]",
                    sec.username, sec.password
                ));
            }
            let child = process::spawn_guarded(c)
                .context("running java (install OpenJDK 17; scripts/test.sh does)")?;
            running.push(child);
        }
        for (i, child) in running.into_iter().enumerate() {
            let out = child.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "formatting node {} failed: {}{}",
                    i + 1,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(())
    }

    pub(super) fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.nodes[i].dir.join("broker.log"))?;
        let mut c = self.java_command(i);
        c.arg("kafka.Kafka")
            .arg(self.nodes[i].dir.join("server.properties"))
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = process::spawn_guarded(c).context("running java")?;
        process::register_pid(child.id());
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// Waits until each of `which` answers metadata requests itself and lists as many
    /// live brokers as there are running nodes.
    pub(super) fn wait_ready(&mut self, which: &[usize], within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        for &i in which {
            // A client of this node alone: its first request goes to this node.
            let (port, id) = (self.nodes[i].port, self.nodes[i].id as i32);
            let probe = || -> Option<usize> {
                let p: BaseProducer = ClientConfig::new()
                    .set("bootstrap.servers", format!("127.0.0.1:{port}"))
                    .set("log_level", "0")
                    .create()
                    .ok()?;
                let md = p
                    .client()
                    .fetch_metadata(None, Duration::from_millis(500))
                    .ok()?;
                md.brokers()
                    .iter()
                    .any(|b| b.id() == id)
                    .then(|| md.brokers().len())
            };
            loop {
                let running = (0..self.nodes.len())
                    .filter(|n| self.nodes[*n].child.is_some())
                    .count();
                if probe().is_some_and(|listed| listed >= running) {
                    break;
                }
                if let Some(status) = self.nodes[i]
                    .child
                    .as_mut()
                    .map(Child::try_wait)
                    .transpose()?
                    .flatten()
                {
                    self.nodes[i].child = None;
                    bail!(
                        "Kafka node {} exited with {status}: {}",
                        i + 1,
                        self.log_tail()
                    );
                }
                if Instant::now() > deadline {
                    bail!(
                        "Kafka node {} not ready within {within:?}: {}",
                        i + 1,
                        self.log_tail()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }
}
