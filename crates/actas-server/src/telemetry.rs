//! The figures `GET /metrics` serves, in the Prometheus text format
//! (through `prometheus-client`, the Prometheus project's own client).
//!
//! Counted as they happen, on this node: `POST /authorize` answers by
//! outcome and reason, with a latency histogram, and decisions by kind.
//! Read at scrape time ([`Snapshot`]): live sessions and the trail's length
//! (from the database, so every node tells the same), the writer's
//! committed batches and writes, the session feed's subscribers and the
//! console's streams (this node's).

use std::fmt;
use std::time::Duration;

use actas_core::model::{DecisionKind, Request};
use prometheus_client::encoding::text::{encode, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An answer of `POST /authorize`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    /// `allowed`, `refused` (`allowed: false`) or `failed` (no answer: a
    /// problem document, such as a bad app key or the trail unwritable).
    outcome: &'static str,
    /// `ok`, the refusal code, or the problem's status.
    reason: &'static str,
}

/// A decision on a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    /// `policy`, `approve` or `deny`.
    kind: &'static str,
}

/// What happened on this node since it started, and the registry that
/// writes it out.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    answers: Family<AnswerLabels, Counter>,
    latency: Histogram,
    decisions: Family<KindLabels, Counter>,
}

impl Default for Telemetry {
    fn default() -> Self {
        let answers = Family::<AnswerLabels, Counter>::default();
        // From half a millisecond to about four seconds, doubling.
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let decisions = Family::<KindLabels, Counter>::default();
        let mut registry = Registry::with_prefix("actas");
        registry.register("authorize_calls", "POST /authorize answers, by outcome and reason", answers.clone());
        registry.register(
            "authorize_seconds",
            "Time to answer POST /authorize, audit commit included",
            latency.clone(),
        );
        registry.register("decisions", "Decisions on requests, by kind", decisions.clone());
        Telemetry { registry, answers, latency, decisions }
    }
}

/// What is read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Live sessions, in the database.
    pub live_sessions: u64,
    /// Events in the audit trail (its head's seq).
    pub trail_events: u64,
    /// Write transactions this node's writer committed.
    pub writer_batches: u64,
    /// Writes those transactions held.
    pub writer_writes: u64,
    /// Open subscriptions to the session feed on this node.
    pub feed_subscribers: u64,
    /// Open console streams on this node.
    pub console_streams: u64,
    /// Events written and not yet sent to webhooks, summed over them
    /// (events an endpoint did not choose count until it passes them).
    pub webhook_backlog: u64,
    /// Webhooks paused after failing.
    pub webhooks_paused: u64,
    /// Break-glass sessions no lead has reviewed yet.
    pub breakglass_awaiting_review: u64,
}

impl Telemetry {
    /// Counts an answer of `POST /authorize`: `Ok(reason)` with `ok` or a
    /// refusal code, `Err(status)` for a problem document.
    pub fn authorize_answered(&self, answer: Result<&'static str, u16>, took: Duration) {
        let labels = match answer {
            Ok("ok") => AnswerLabels { outcome: "allowed", reason: "ok" },
            Ok(code) => AnswerLabels { outcome: "refused", reason: code },
            Err(status) => AnswerLabels { outcome: "failed", reason: status_word(status) },
        };
        self.answers.get_or_create(&labels).inc();
        self.latency.observe(took.as_secs_f64());
    }

    /// Counts the policy's decision on a request just made, when the
    /// policy made one (a request answered already decided).
    pub fn asked(&self, r: &Request) {
        if r.decided_at.is_some() {
            self.decided(DecisionKind::Policy);
        }
    }

    /// Counts a decision.
    pub fn decided(&self, kind: DecisionKind) {
        self.decisions.get_or_create(&KindLabels { kind: kind.as_str() }).inc();
    }

    /// The text exposition: the counted figures, then the snapshot's.
    pub fn render(&self, now: &Snapshot) -> Result<String, fmt::Error> {
        let mut out = String::new();
        encode_registry(&mut out, &self.registry)?;
        encode(&mut out, &snapshot_registry(now))?;
        Ok(out)
    }
}

/// The figures read at scrape time, as a registry of constants.
fn snapshot_registry(now: &Snapshot) -> Registry {
    let mut r = Registry::with_prefix("actas");
    r.register("live_sessions", "Live impersonation sessions", ConstGauge::new(gauge(now.live_sessions)));
    r.register("audit_events", "Events in the audit trail", ConstGauge::new(gauge(now.trail_events)));
    r.register(
        "writer_batches",
        "Write transactions committed by this node's writer",
        ConstCounter::new(now.writer_batches),
    );
    r.register("writer_writes", "Writes held by those transactions", ConstCounter::new(now.writer_writes));
    r.register(
        "feed_subscribers",
        "Open session feed subscriptions on this node",
        ConstGauge::new(gauge(now.feed_subscribers)),
    );
    r.register("console_streams", "Open console streams on this node", ConstGauge::new(gauge(now.console_streams)));
    r.register(
        "webhook_backlog",
        "Audit events not yet sent to the webhooks, summed over them",
        ConstGauge::new(gauge(now.webhook_backlog)),
    );
    r.register("webhooks_paused", "Webhooks paused after failing", ConstGauge::new(gauge(now.webhooks_paused)));
    r.register(
        "breakglass_awaiting_review",
        "Break-glass sessions no lead has reviewed yet",
        ConstGauge::new(gauge(now.breakglass_awaiting_review)),
    );
    r
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A label value for a problem's status (label values are few and fixed).
fn status_word(status: u16) -> &'static str {
    match status {
        400 => "400",
        401 => "401",
        403 => "403",
        413 => "413",
        503 => "503",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_answers_and_tells_the_snapshot() {
        let t = Telemetry::default();
        t.authorize_answered(Ok("ok"), Duration::from_millis(2));
        t.authorize_answered(Ok("ok"), Duration::from_millis(3));
        t.authorize_answered(Ok("not_in_scope"), Duration::from_millis(1));
        t.authorize_answered(Err(401), Duration::from_millis(1));
        t.decided(DecisionKind::Policy);
        let text = t.render(&Snapshot { live_sessions: 2, trail_events: 40, ..Default::default() }).unwrap();
        for line in [
            r#"actas_authorize_calls_total{outcome="allowed",reason="ok"} 2"#,
            r#"actas_authorize_calls_total{outcome="refused",reason="not_in_scope"} 1"#,
            r#"actas_authorize_calls_total{outcome="failed",reason="401"} 1"#,
            "actas_authorize_seconds_count 4",
            r#"actas_decisions_total{kind="policy"} 1"#,
            "actas_live_sessions 2",
            "actas_audit_events 40",
            "actas_writer_batches_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert_eq!(text.matches("# EOF").count(), 1);
        assert!(text.ends_with("# EOF\n"));
    }
}
