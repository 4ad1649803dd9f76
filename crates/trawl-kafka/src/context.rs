//! The context of every librdkafka client trawl makes: librdkafka's log lines and error
//! callbacks go to `tracing` with secret property values removed, at levels an operator
//! can trust, and what the brokers said is remembered so that trawl's errors name it.
//!
//! librdkafka reports a refused password only through the error callback (and a log
//! line); the call that needed the broker just times out ("all brokers down"). [`Heard::explain`] turns
//! such an error into a permanent one that says the broker refused the credentials, so
//! trawl stops with the cause instead of waiting forever. Reaching the end of a
//! partition is how a read-back knows it is done: not logged as an error.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError as RdError;
use rdkafka::types::RDKafkaErrorCode as Code;

use crate::config::KafkaSettings;
use crate::error::KafkaError;

/// What the brokers said last, shared between a client's context and its owner.
#[derive(Debug, Default, Clone)]
pub(crate) struct Heard(Arc<Mutex<Said>>);

#[derive(Debug, Default)]
struct Said {
    /// The broker refused the credentials (SASL authentication failed).
    refused: Option<(Instant, String)>,
    /// The last other connection-level error (TLS, resolution, transport).
    last: Option<(Instant, String)>,
}

/// How long what a broker said explains a later failure.
const RECENT: Duration = Duration::from_secs(120);

fn recent(said: &Option<(Instant, String)>) -> Option<&str> {
    said.as_ref()
        .filter(|(at, _)| at.elapsed() < RECENT)
        .map(|(_, s)| s.as_str())
}

impl Heard {
    fn said(&self) -> std::sync::MutexGuard<'_, Said> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A retryable error of a call that needed the brokers, told what they said: a
    /// refusal of the credentials makes it permanent; another connection error is named.
    pub(crate) fn explain(&self, e: KafkaError) -> KafkaError {
        let KafkaError::Retryable { op, reason } = e else {
            return e;
        };
        let said = self.said();
        match (recent(&said.refused), recent(&said.last)) {
            (Some(refused), _) => KafkaError::Permanent {
                op,
                reason: format!(
                    "the broker refused trawl's credentials (check sasl.username and \
                     sasl.password): {refused}"
                ),
            },
            (None, Some(last)) => KafkaError::Retryable {
                op,
                reason: format!("{reason} (last broker error: {last})"),
            },
            (None, None) => KafkaError::Retryable { op, reason },
        }
    }
}

/// The context of trawl's clients (producers, readers, admin).
pub(crate) struct TrawlContext {
    settings: KafkaSettings,
    heard: Heard,
}

impl TrawlContext {
    /// Logs with `settings`' secrets removed; tells `heard` what the brokers say.
    pub(crate) fn new(settings: &KafkaSettings, heard: Heard) -> Self {
        Self {
            settings: settings.clone(),
            heard,
        }
    }
}

impl ClientContext for TrawlContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let message = self.settings.redact(message);
        // Clients that never poll their main queue (the admin client) get no error
        // callback; a refused login still shows as a FAIL log line.
        if message.contains("SASL authentication error") {
            self.heard.said().refused = Some((Instant::now(), message.clone()));
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", %fac, "{message}"),
            // What librdkafka retries by itself ("Coordinator load in progress: retrying")
            // is not a warning; if it never succeeds, the caller's error says so.
            RDKafkaLogLevel::Warning if message.ends_with(": retrying") => {
                tracing::info!(target: "librdkafka", %fac, "{message}")
            }
            // trawl's producers set `isolation.level` on purpose (client.rs: where a
            // partition ends); librdkafka calls it a consumer property, yet uses it.
            RDKafkaLogLevel::Warning
                if fac == "CONFWARN" && message.contains("isolation.level") =>
            {
                tracing::debug!(target: "librdkafka", %fac, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", %fac, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", %fac, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", %fac, "{message}"),
        }
    }

    fn error(&self, error: RdError, reason: &str) {
        let code = error.rdkafka_error_code();
        let reason = self.settings.redact(reason);
        match code {
            Some(Code::PartitionEOF) => tracing::trace!(%reason, "end of partition"),
            Some(Code::Authentication | Code::SaslAuthenticationFailed) => {
                tracing::error!(target: "librdkafka", %reason, "Kafka refused the credentials");
                self.heard.said().refused = Some((Instant::now(), reason));
            }
            // Brokers down, restarting or unreachable: the callers retry and say so.
            Some(Code::AllBrokersDown | Code::BrokerTransportFailure | Code::Resolve) => {
                tracing::warn!(target: "librdkafka", %reason, "Kafka connection error");
                self.heard.said().last = Some((Instant::now(), reason));
            }
            _ => {
                let error = self.settings.redact(&error.to_string());
                tracing::error!(target: "librdkafka", %error, %reason, "Kafka client error");
                self.heard.said().last = Some((Instant::now(), reason));
            }
        }
    }
}

impl ConsumerContext for TrawlContext {}
