//! What an operator watches, in Prometheus' text format (`AKIN_METRICS_LISTEN`): requests
//! by route and status, flow executions, enrollments, invitation claims by outcome,
//! password hashing's queue and the outbox. Counters count in this process (each node has
//! its own, as Prometheus expects); the gauges are read when scraped.
//!
//! Labels come from bounded sets only: a route as matched (not the path asked for), a
//! flow that exists, a refusal's code; never anything a visitor can invent.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route as matched (`/api/v3/core/users/{id}/`), or `unmatched`.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    pub flow: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

/// The metrics of this process. Cheap to share (the families are handles).
pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    /// Executions begun: a visitor's flow planned.
    pub flow_executions: Family<FlowLabels, Counter>,
    /// Accounts written by enrollment flows.
    pub enrollments: Counter,
    /// `claimed`, or why an invitation was refused when the account was written.
    pub invitation_claims: Family<OutcomeLabels, Counter>,
    pub hashes_running: Gauge,
    pub hashes_waiting: Gauge,
    /// Messages not sent yet, by status (`queued`, `failed`).
    pub outbox: Family<StatusLabels, Gauge>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("akin");
        let metrics = Metrics {
            requests: Family::default(),
            flow_executions: Family::default(),
            enrollments: Counter::default(),
            invitation_claims: Family::default(),
            hashes_running: Gauge::default(),
            hashes_waiting: Gauge::default(),
            outbox: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            metrics.requests.clone(),
        );
        registry.register(
            "flow_executions",
            "Flow executions begun (a visitor's flow planned), by flow",
            metrics.flow_executions.clone(),
        );
        registry.register(
            "enrollments",
            "Accounts written by enrollment flows",
            metrics.enrollments.clone(),
        );
        registry.register(
            "invitation_claims",
            "Invitations put to use when an account was written, by outcome",
            metrics.invitation_claims.clone(),
        );
        registry.register(
            "password_hashes_running",
            "Password hashes being computed",
            metrics.hashes_running.clone(),
        );
        registry.register(
            "password_hashes_waiting",
            "Password hashes waiting for a place",
            metrics.hashes_waiting.clone(),
        );
        registry.register(
            "outbox_messages",
            "Messages not sent yet, by status",
            metrics.outbox.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// Counts one outcome of an invitation's claim.
    pub fn claim(&self, outcome: &str) {
        self.invitation_claims
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Everything, in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
