//! Ticket systems' webhook deliveries, signed as Zendesk and Jira sign
//! them, for tests of `/api/v1/connectors`. The bodies are the shapes their
//! documentation shows (`tests/it/fixtures/`).

use reqwest::StatusCode;
use serde_json::Value;

use actas_core::Timestamp;

/// Zendesk's ticket event (`zen:event-type:ticket.status_changed`) for
/// ticket `id` of organization `acct_42`, with `status` as Zendesk writes
/// it (`OPEN`, `PENDING`, `SOLVED`, `CLOSED`).
pub fn zendesk_event(id: &str, status: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!("../../tests/it/fixtures/zendesk-ticket-status-changed.json"))
        .unwrap_or_default();
    v["detail"]["id"] = Value::from(id);
    v["detail"]["status"] = Value::from(status);
    v["event"]["current"] = Value::from(status);
    v["subject"] = Value::from(format!("zen:ticket:{id}"));
    v
}

/// Jira Service Management's `jira:issue_updated` for issue `key` of
/// organization `acct_42`, in status category `category` (`new`,
/// `indeterminate`, `done`), sent at `sent`.
pub fn jira_event(key: &str, category: &str, sent: Timestamp) -> Value {
    let mut v: Value =
        serde_json::from_str(include_str!("../../tests/it/fixtures/jira-issue-updated.json")).unwrap_or_default();
    v["issue"]["key"] = Value::from(key);
    v["issue"]["fields"]["status"]["statusCategory"]["key"] = Value::from(category);
    v["timestamp"] = Value::from(sent.timestamp_millis());
    v
}

/// One delivery as the system sends it: its headers and raw body.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Header names (lowercase) and values.
    pub headers: Vec<(&'static str, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

/// Zendesk's delivery of `body` stamped `stamp`, with invocation `id`:
/// `X-Zendesk-Webhook-Signature` is the base64 HMAC-SHA256 of the
/// timestamp followed by the body.
pub fn zendesk_signed(secret: &str, stamp: Timestamp, id: &str, body: &Value) -> Delivery {
    let body = serde_json::to_vec(body).unwrap_or_default();
    let stamp = stamp.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let sig = actas_core::connector::zendesk_signature(secret.as_bytes(), &stamp, &body);
    Delivery {
        headers: vec![
            ("x-zendesk-webhook-signature", sig),
            ("x-zendesk-webhook-signature-timestamp", stamp),
            ("x-zendesk-webhook-invocation-id", id.to_string()),
        ],
        body,
    }
}

/// Jira's delivery of `body` with webhook identifier `id`:
/// `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`.
pub fn jira_signed(secret: &str, id: &str, body: &Value) -> Delivery {
    let body = serde_json::to_vec(body).unwrap_or_default();
    let sig = actas_core::connector::jira_signature(secret.as_bytes(), &body);
    Delivery { headers: vec![("x-hub-signature", sig), ("x-atlassian-webhook-identifier", id.to_string())], body }
}

/// Posts `d` to `{base}/api/v1/connectors/{system}/{app_id}`; answers the
/// status and the body (JSON, or the text as a string).
pub async fn deliver(base: &str, system: &str, app_id: &str, d: &Delivery) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/connectors/{system}/{app_id}", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .body(d.body.clone());
    for (k, v) in &d.headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("delivering to {system}: {e}"));
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
