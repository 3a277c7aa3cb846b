//! Ticket systems' webhooks: who sent a delivery, and what ticket it
//! describes.
//!
//! Zendesk and Jira Service Management push ticket changes to
//! `POST /api/v1/connectors/{zendesk|jira}/{app_id}` in their own body
//! shapes, signed their own way with a secret shared with one connector
//! app ([`authenticate`]). What the body says about the ticket is read
//! through JSON pointers ([`Mapping`]), defaults for each system with the
//! account (an organization or a custom field) configurable.
//!
//! Pure: the caller passes the headers, the raw body and the time, and
//! keeps the deliveries it has seen ([`Delivery::replay_key`]) for
//! [`MAX_AGE`] to refuse a replay.

use chrono::{DateTime, Duration};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

use crate::Timestamp;

/// How old (or how far ahead of this clock) a delivery may be.
pub const MAX_AGE: Duration = Duration::minutes(5);

/// The ticket systems actas reads webhooks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, EnumString, Display, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Connector {
    /// Zendesk: `X-Zendesk-Webhook-Signature` = base64 HMAC-SHA256 of the
    /// `X-Zendesk-Webhook-Signature-Timestamp` value followed by the body.
    Zendesk,
    /// Jira Service Management: `X-Hub-Signature: sha256=<hex HMAC-SHA256
    /// of the body>`; the body's `timestamp` (milliseconds) dates it.
    Jira,
}

impl Connector {
    /// The name in paths, the command line and the store.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The system's name as its maker sells it, for the console's forms.
    pub fn product_name(self) -> &'static str {
        match self {
            Connector::Zendesk => "Zendesk",
            Connector::Jira => "Jira Service Management",
        }
    }
}

/// A ticket's state in its own system, as actas keeps it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum TicketStatus {
    /// Being worked on (Zendesk new or open; Jira to do).
    Open,
    /// Waiting on someone (Zendesk pending or on hold; Jira in progress).
    Pending,
    /// Answered (Zendesk solved; Jira resolved).
    Solved,
    /// Closed for good (Zendesk closed; Jira done, closed or canceled).
    Closed,
}

impl TicketStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a new request may name the ticket.
    pub fn takes_requests(self) -> bool {
        matches!(self, TicketStatus::Open | TicketStatus::Pending)
    }

    /// Whether the ticket's live sessions end on reaching it.
    pub fn ends_sessions(self) -> bool {
        !self.takes_requests()
    }
}

/// Why a delivery was not accepted. Nothing of a refused delivery is
/// stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A header the system always sends is missing or unreadable.
    #[error("the delivery has no readable {0} header")]
    MissingHeader(&'static str),
    /// The signature does not match the body and the connector's secret.
    #[error("the signature does not match the body and this connector's secret")]
    BadSignature,
    /// The delivery's time is missing or unreadable.
    #[error("the delivery does not say when it was sent")]
    NoTime,
    /// Sent more than [`MAX_AGE`] before (or after) now.
    #[error("the delivery was sent at {0}, more than 5 minutes from now")]
    Stale(Timestamp),
    /// The body is not the JSON the mapping reads.
    #[error("the body cannot be read: {0}")]
    Body(String),
}

/// An authenticated delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The system's id for the delivery when it sends one
    /// (`X-Zendesk-Webhook-Invocation-Id`, `X-Atlassian-Webhook-Identifier`),
    /// else the signature: a resent delivery carries the same.
    pub id: String,
    /// When the system sent it.
    pub sent_at: Timestamp,
}

impl Delivery {
    /// What the caller keeps for [`MAX_AGE`] to refuse the same delivery
    /// twice: SHA-256 of the app and the delivery's id, hex.
    pub fn replay_key(&self, app_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(app_id.as_bytes());
        h.update([0]);
        h.update(self.id.as_bytes());
        hex::encode(h.finalize())
    }
}

/// Checks a delivery's signature with the connector's `secret` and its
/// age against `now`. `header` looks a header up by its lowercase name.
pub fn authenticate(
    connector: Connector,
    secret: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now: Timestamp,
) -> Result<Delivery, Refused> {
    let (id, sent_at) = match connector {
        Connector::Zendesk => {
            const SIGNATURE: &str = "x-zendesk-webhook-signature";
            const TIMESTAMP: &str = "x-zendesk-webhook-signature-timestamp";
            let signature = header(SIGNATURE).ok_or(Refused::MissingHeader(SIGNATURE))?;
            let stamp = header(TIMESTAMP).ok_or(Refused::MissingHeader(TIMESTAMP))?;
            let given = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signature.trim())
                .map_err(|_| Refused::BadSignature)?;
            let mut mac = hmac(secret);
            mac.update(stamp.as_bytes());
            mac.update(body);
            mac.verify_slice(&given).map_err(|_| Refused::BadSignature)?;
            let sent_at = DateTime::parse_from_rfc3339(stamp.trim()).map_err(|_| Refused::NoTime)?.to_utc();
            (header("x-zendesk-webhook-invocation-id").unwrap_or(signature), sent_at)
        }
        Connector::Jira => {
            const SIGNATURE: &str = "x-hub-signature";
            let signature = header(SIGNATURE).ok_or(Refused::MissingHeader(SIGNATURE))?;
            let hex_mac = signature.trim().strip_prefix("sha256=").ok_or(Refused::BadSignature)?;
            let given = hex::decode(hex_mac).map_err(|_| Refused::BadSignature)?;
            let mut mac = hmac(secret);
            mac.update(body);
            mac.verify_slice(&given).map_err(|_| Refused::BadSignature)?;
            // Signed with the body, so it cannot be moved forward.
            let v: Value = serde_json::from_slice(body).map_err(|e| Refused::Body(e.to_string()))?;
            let millis = v.get("timestamp").and_then(Value::as_i64).ok_or(Refused::NoTime)?;
            let sent_at = DateTime::from_timestamp_millis(millis).ok_or(Refused::NoTime)?;
            (header("x-atlassian-webhook-identifier").unwrap_or(signature), sent_at)
        }
    };
    if (now - sent_at).abs() > MAX_AGE {
        return Err(Refused::Stale(sent_at));
    }
    Ok(Delivery { id, sent_at })
}

/// Zendesk's signature of a delivery: base64 HMAC-SHA256 of the
/// timestamp header's value followed by the body (what a test or a demo
/// sends in `X-Zendesk-Webhook-Signature`).
pub fn zendesk_signature(secret: &[u8], stamp: &str, body: &[u8]) -> String {
    let mut mac = hmac(secret);
    mac.update(stamp.as_bytes());
    mac.update(body);
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mac.finalize().into_bytes())
}

/// Jira's signature of a delivery: `sha256=` and the hex HMAC-SHA256 of
/// the body (what a test or a demo sends in `X-Hub-Signature`).
pub fn jira_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn hmac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// Where each field of a ticket sits in a system's body (RFC 6901 JSON
/// pointers). Stored as JSON with the connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// The ticket's reference.
    pub reference: String,
    /// The customer account: an organization or a custom field.
    pub account: String,
    /// The account's display name, when the body has it.
    pub account_name: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The status.
    pub status: String,
    /// The tags (a list of strings).
    pub tags: String,
    /// The assignee's staff id (login or e-mail, as the provider names
    /// staff).
    pub assignee: Option<String>,
    /// A link to the ticket; without one it is made from `url_base`.
    pub url: Option<String>,
    /// The ticket's link without one in the body: `url_base` followed by
    /// the reference (`https://acme.zendesk.com/agent/tickets/`).
    pub url_base: Option<String>,
}

impl Mapping {
    /// The fields [`Mapping::set`] takes.
    pub const FIELDS: [&'static str; 9] =
        ["reference", "account", "account_name", "subject", "status", "tags", "assignee", "url", "url_base"];

    /// Points `field` elsewhere: a JSON pointer (`/detail/organization_id`),
    /// or for `url_base` the address the reference is appended to. An
    /// optional field set to the empty string is not read at all.
    pub fn set(&mut self, field: &str, value: &str) -> Result<(), String> {
        let value = value.trim();
        if field == "url_base" {
            if !(value.is_empty() || value.starts_with("https://") || value.starts_with("http://")) {
                return Err(format!("url_base must be an http(s) address, not {value:?}"));
            }
            self.url_base = (!value.is_empty()).then(|| value.to_string());
            return Ok(());
        }
        let optional = matches!(field, "account_name" | "assignee" | "url");
        if !(value.starts_with('/') || (optional && value.is_empty())) {
            return Err(format!("{field} must be a JSON pointer such as /detail/id, not {value:?}"));
        }
        let v = value.to_string();
        match field {
            "reference" => self.reference = v,
            "account" => self.account = v,
            "subject" => self.subject = v,
            "status" => self.status = v,
            "tags" => self.tags = v,
            "account_name" => self.account_name = (!v.is_empty()).then_some(v),
            "assignee" => self.assignee = (!v.is_empty()).then_some(v),
            "url" => self.url = (!v.is_empty()).then_some(v),
            other => return Err(format!("no field {other:?}; the fields are {}", Mapping::FIELDS.join(", "))),
        }
        Ok(())
    }

    /// The defaults for a system: Zendesk's ticket event (`detail`), with
    /// the organization as the account; Jira's `jira:issue_*` event
    /// (`issue`), with the first Service Management organization.
    pub fn default_for(connector: Connector) -> Mapping {
        match connector {
            Connector::Zendesk => Mapping {
                reference: "/detail/id".into(),
                account: "/detail/organization_id".into(),
                account_name: None,
                subject: "/detail/subject".into(),
                status: "/detail/status".into(),
                tags: "/detail/tags".into(),
                assignee: Some("/detail/assignee_id".into()),
                url: None,
                url_base: None,
            },
            Connector::Jira => Mapping {
                reference: "/issue/key".into(),
                account: "/issue/fields/customfield_10002/0/id".into(),
                account_name: Some("/issue/fields/customfield_10002/0/name".into()),
                subject: "/issue/fields/summary".into(),
                status: "/issue/fields/status/statusCategory/key".into(),
                tags: "/issue/fields/labels".into(),
                assignee: Some("/issue/fields/assignee/emailAddress".into()),
                url: None,
                url_base: None,
            },
        }
    }
}

/// What a delivery says about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketChange {
    /// The ticket's reference in its system.
    pub reference: String,
    /// The customer account.
    pub account_id: String,
    /// The account's display name.
    pub account_name: Option<String>,
    /// The subject line.
    pub subject: String,
    /// A link to the ticket.
    pub url: Option<String>,
    /// Its tags, as sent.
    pub tags: Vec<String>,
    /// Its status.
    pub status: TicketStatus,
    /// The assignee, as the system names them.
    pub assignee: Option<String>,
}

/// Reads a ticket out of a delivery's body.
pub fn read_ticket(connector: Connector, mapping: &Mapping, body: &[u8]) -> Result<TicketChange, Refused> {
    let v: Value = serde_json::from_slice(body).map_err(|e| Refused::Body(e.to_string()))?;
    let text = |pointer: &str| -> Option<String> {
        match v.pointer(pointer)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let required =
        |what: &str, pointer: &str| text(pointer).ok_or_else(|| Refused::Body(format!("no {what} at {pointer}")));
    let reference = required("ticket reference", &mapping.reference)?;
    let status_text = required("status", &mapping.status)?;
    let status = status_of(connector, &status_text)
        .ok_or_else(|| Refused::Body(format!("the status {status_text:?} is not one actas knows")))?;
    let tags = match v.pointer(&mapping.tags) {
        Some(Value::Array(items)) => items.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let url = mapping
        .url
        .as_deref()
        .and_then(text)
        .or_else(|| mapping.url_base.as_ref().map(|base| format!("{base}{reference}")))
        .or_else(|| jira_browse_url(connector, &v, &reference));
    Ok(TicketChange {
        account_id: required("account", &mapping.account)?,
        account_name: mapping.account_name.as_deref().and_then(text),
        subject: required("subject", &mapping.subject)?,
        url,
        tags,
        status,
        assignee: mapping.assignee.as_deref().and_then(text),
        reference,
    })
}

/// A system's status name as actas's: Zendesk's statuses (any case; `new`
/// is open, `hold` pending); Jira's status category keys (`new`,
/// `indeterminate`, `done`) or the usual status names.
pub fn status_of(connector: Connector, name: &str) -> Option<TicketStatus> {
    let name = name.trim().to_ascii_lowercase();
    Some(match (connector, name.as_str()) {
        (Connector::Zendesk, "new" | "open") => TicketStatus::Open,
        (Connector::Zendesk, "pending" | "hold") => TicketStatus::Pending,
        (Connector::Zendesk, "solved") => TicketStatus::Solved,
        (Connector::Zendesk, "closed") => TicketStatus::Closed,
        (Connector::Jira, "new" | "to do" | "open" | "waiting for support") => TicketStatus::Open,
        (Connector::Jira, "indeterminate" | "in progress" | "pending" | "waiting for customer") => {
            TicketStatus::Pending
        }
        (Connector::Jira, "resolved") => TicketStatus::Solved,
        (Connector::Jira, "done" | "closed" | "canceled" | "cancelled") => TicketStatus::Closed,
        _ => return None,
    })
}

/// Jira's link to an issue: the site of its `self` URL, `/browse/KEY`.
fn jira_browse_url(connector: Connector, v: &Value, key: &str) -> Option<String> {
    if connector != Connector::Jira {
        return None;
    }
    let api = v.pointer("/issue/self")?.as_str()?;
    let site = api.split("/rest/").next()?;
    (site.starts_with("https://") || site.starts_with("http://")).then(|| format!("{site}/browse/{key}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mapping_points_each_field_elsewhere_and_refuses_what_is_not_a_pointer() {
        let mut m = Mapping::default_for(Connector::Zendesk);
        m.set("account", "/detail/custom_fields/0/value").unwrap();
        m.set("url_base", "https://acme.zendesk.com/agent/tickets/").unwrap();
        m.set("assignee", "").unwrap();
        assert_eq!(m.account, "/detail/custom_fields/0/value");
        assert_eq!(m.url_base.as_deref(), Some("https://acme.zendesk.com/agent/tickets/"));
        assert_eq!(m.assignee, None);
        assert!(m.set("account", "detail.org").is_err());
        assert!(m.set("reference", "").is_err());
        assert!(m.set("url_base", "ftp://x").is_err());
        assert!(m.set("colour", "/x").is_err());
        let round: Mapping = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(round, m);
    }

    use super::*;
    use chrono::{TimeZone, Utc};
    use std::collections::HashMap;

    const SECRET: &[u8] = b"dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 25, 14, 3, 0).unwrap()
    }

    /// A Zendesk ticket event, in the shape of Zendesk's documentation.
    fn zendesk_body(status: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "account_id": 9242270,
            "detail": {
                "actor_id": "20978392",
                "assignee_id": "maria@support.example",
                "brand_id": "360002",
                "created_at": "2026-11-25T13:50:12Z",
                "custom_status": "18602",
                "description": "Customer can't update tax settings after plan change",
                "external_id": null,
                "form_id": "360000",
                "group_id": "360001",
                "id": "48192",
                "is_public": true,
                "organization_id": "acct_42",
                "priority": "NORMAL",
                "requester_id": "398801",
                "status": status,
                "subject": "Tax settings will not save",
                "submitter_id": "398801",
                "tags": ["settings_not_saving", "billing"],
                "type": "INCIDENT",
                "updated_at": "2026-11-25T14:02:58Z",
                "via": {"channel": "web_form"}
            },
            "event": {"current": status, "previous": "OPEN"},
            "id": "cbe4028c-7239-495d-b020-f22348516046",
            "subject": "zen:ticket:48192",
            "time": "2026-11-25T14:02:59.000000000Z",
            "type": "zen:event-type:ticket.status_changed",
            "zendesk_event_version": "2022-11-06"
        }))
        .unwrap()
    }

    /// A Jira Service Management `jira:issue_updated` event.
    fn jira_body(category: &str, sent: Timestamp) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "timestamp": sent.timestamp_millis(),
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": {"accountId": "557058:c9eb", "displayName": "Sam Lee", "active": true},
            "issue": {
                "id": "46384",
                "self": "https://acme-support.atlassian.net/rest/api/2/issue/46384",
                "key": "SUP-121",
                "fields": {
                    "summary": "Invoice page shows the wrong plan",
                    "labels": ["invoice_page_wrong"],
                    "assignee": {"accountId": "5b10a2844c20165700ede21g", "emailAddress": "maria@support.example", "displayName": "Maria Lopez"},
                    "status": {"name": "In Progress", "statusCategory": {"id": 4, "key": category, "name": "In Progress"}},
                    "customfield_10002": [{"id": "acct_42", "name": "Acme Corp"}]
                }
            },
            "changelog": {"items": [{"field": "status", "fromString": "To Do", "toString": "In Progress"}]}
        }))
        .unwrap()
    }

    /// A delivery's headers, its body, and how it is refused.
    type Case<'a> = (Vec<(&'a str, String)>, Vec<u8>, Refused);

    fn headers(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn a_zendesk_delivery_is_taken_only_with_its_signature_within_five_minutes() {
        let body = zendesk_body("OPEN");
        let stamp = "2026-11-25T14:02:59Z";
        let signed = |stamp: &str, secret: &[u8], body: &[u8]| {
            vec![
                ("x-zendesk-webhook-signature", zendesk_signature(secret, stamp, body)),
                ("x-zendesk-webhook-signature-timestamp", stamp.to_string()),
                ("x-zendesk-webhook-invocation-id", "8350205582".to_string()),
            ]
        };
        let good =
            authenticate(Connector::Zendesk, SECRET, &headers(&signed(stamp, SECRET, &body)), &body, now()).unwrap();
        assert_eq!(good.id, "8350205582");
        assert_eq!(good.sent_at, Utc.with_ymd_and_hms(2026, 11, 25, 14, 2, 59).unwrap());
        assert_ne!(good.replay_key("app_1"), good.replay_key("app_2"));

        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        let cases: Vec<Case> = vec![
            (signed(stamp, b"another secret", &body), body.clone(), Refused::BadSignature),
            (signed(stamp, SECRET, &body), tampered, Refused::BadSignature),
            (
                vec![("x-zendesk-webhook-signature-timestamp", stamp.to_string())],
                body.clone(),
                Refused::MissingHeader("x-zendesk-webhook-signature"),
            ),
            (
                vec![
                    ("x-zendesk-webhook-signature", "not base64!".into()),
                    ("x-zendesk-webhook-signature-timestamp", stamp.into()),
                ],
                body.clone(),
                Refused::BadSignature,
            ),
            (
                signed("2026-11-25T13:57:58Z", SECRET, &body),
                body.clone(),
                Refused::Stale(Utc.with_ymd_and_hms(2026, 11, 25, 13, 57, 58).unwrap()),
            ),
            (
                signed("2026-11-25T14:08:01Z", SECRET, &body),
                body.clone(),
                Refused::Stale(Utc.with_ymd_and_hms(2026, 11, 25, 14, 8, 1).unwrap()),
            ),
            (signed("yesterday", SECRET, &body), body.clone(), Refused::NoTime),
            (
                vec![("x-zendesk-webhook-signature", zendesk_signature(SECRET, stamp, &body))],
                body.clone(),
                Refused::MissingHeader("x-zendesk-webhook-signature-timestamp"),
            ),
        ];
        for (h, b, refused) in cases {
            assert_eq!(authenticate(Connector::Zendesk, SECRET, &headers(&h), &b, now()), Err(refused));
        }
        // The timestamp is signed: moving it forward breaks the signature.
        let mut moved = signed(stamp, SECRET, &body);
        moved[1].1 = "2026-11-25T14:03:00Z".into();
        assert_eq!(
            authenticate(Connector::Zendesk, SECRET, &headers(&moved), &body, now()),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn a_jira_delivery_is_taken_only_with_its_signature_and_a_recent_timestamp() {
        let sent = now() - Duration::seconds(30);
        let body = jira_body("indeterminate", sent);
        let h = vec![
            ("x-hub-signature", jira_signature(SECRET, &body)),
            ("x-atlassian-webhook-identifier", "1f6ffea3-2c8b".to_string()),
        ];
        let good = authenticate(Connector::Jira, SECRET, &headers(&h), &body, now()).unwrap();
        assert_eq!((good.id.as_str(), good.sent_at), ("1f6ffea3-2c8b", sent));

        let old = jira_body("indeterminate", now() - Duration::minutes(6));
        let cases: Vec<Case> = vec![
            (vec![("x-hub-signature", jira_signature(b"wrong", &body))], body.clone(), Refused::BadSignature),
            (
                vec![("x-hub-signature", jira_signature(SECRET, &body).replace("sha256=", "sha1="))],
                body.clone(),
                Refused::BadSignature,
            ),
            (vec![], body.clone(), Refused::MissingHeader("x-hub-signature")),
            (
                vec![("x-hub-signature", jira_signature(SECRET, &old))],
                old.clone(),
                Refused::Stale(now() - Duration::minutes(6)),
            ),
            (vec![("x-hub-signature", jira_signature(SECRET, b"{}"))], b"{}".to_vec(), Refused::NoTime),
            (
                vec![("x-hub-signature", jira_signature(SECRET, b"not json"))],
                b"not json".to_vec(),
                Refused::Body("expected ident at line 1 column 2".into()),
            ),
        ];
        for (h, b, refused) in cases {
            assert_eq!(authenticate(Connector::Jira, SECRET, &headers(&h), &b, now()), Err(refused));
        }
    }

    #[test]
    fn each_field_of_a_zendesk_ticket_is_read_from_its_place() {
        let mut m = Mapping::default_for(Connector::Zendesk);
        m.url_base = Some("https://acme.zendesk.com/agent/tickets/".into());
        let t = read_ticket(Connector::Zendesk, &m, &zendesk_body("SOLVED")).unwrap();
        assert_eq!(
            t,
            TicketChange {
                reference: "48192".into(),
                account_id: "acct_42".into(),
                account_name: None,
                subject: "Tax settings will not save".into(),
                url: Some("https://acme.zendesk.com/agent/tickets/48192".into()),
                tags: vec!["settings_not_saving".into(), "billing".into()],
                status: TicketStatus::Solved,
                assignee: Some("maria@support.example".into()),
            }
        );
        // The account from a custom field instead of the organization.
        let mut body: Value = serde_json::from_slice(&zendesk_body("hold")).unwrap();
        body["detail"]["custom_fields"] = serde_json::json!([{"id": 360011, "value": "acct_77"}]);
        m.account = "/detail/custom_fields/0/value".into();
        let t = read_ticket(Connector::Zendesk, &m, &serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!((t.account_id.as_str(), t.status), ("acct_77", TicketStatus::Pending));
    }

    #[test]
    fn each_field_of_a_jira_issue_is_read_from_its_place() {
        let m = Mapping::default_for(Connector::Jira);
        let t = read_ticket(Connector::Jira, &m, &jira_body("indeterminate", now())).unwrap();
        assert_eq!(
            t,
            TicketChange {
                reference: "SUP-121".into(),
                account_id: "acct_42".into(),
                account_name: Some("Acme Corp".into()),
                subject: "Invoice page shows the wrong plan".into(),
                url: Some("https://acme-support.atlassian.net/browse/SUP-121".into()),
                tags: vec!["invoice_page_wrong".into()],
                status: TicketStatus::Pending,
                assignee: Some("maria@support.example".into()),
            }
        );
        let done = read_ticket(Connector::Jira, &m, &jira_body("done", now())).unwrap();
        assert!(done.status.ends_sessions() && !done.status.takes_requests());
    }

    #[test]
    fn a_body_without_what_the_mapping_reads_is_refused_by_name() {
        let m = Mapping::default_for(Connector::Zendesk);
        let mut body: Value = serde_json::from_slice(&zendesk_body("OPEN")).unwrap();
        body["detail"]["organization_id"] = Value::Null;
        let refused = read_ticket(Connector::Zendesk, &m, &serde_json::to_vec(&body).unwrap()).unwrap_err();
        assert_eq!(refused, Refused::Body("no account at /detail/organization_id".into()));
        let refused = read_ticket(Connector::Zendesk, &m, &zendesk_body("ARCHIVED")).unwrap_err();
        assert!(matches!(refused, Refused::Body(ref s) if s.contains("ARCHIVED")), "{refused:?}");
        assert!(matches!(read_ticket(Connector::Zendesk, &m, b"not json"), Err(Refused::Body(_))));
    }

    #[test]
    fn statuses_read_in_any_case_and_only_open_or_pending_take_requests() {
        for (c, name, want) in [
            (Connector::Zendesk, "NEW", TicketStatus::Open),
            (Connector::Zendesk, "Pending", TicketStatus::Pending),
            (Connector::Zendesk, "hold", TicketStatus::Pending),
            (Connector::Zendesk, "closed", TicketStatus::Closed),
            (Connector::Jira, "new", TicketStatus::Open),
            (Connector::Jira, "Waiting for customer", TicketStatus::Pending),
            (Connector::Jira, "Resolved", TicketStatus::Solved),
            (Connector::Jira, "done", TicketStatus::Closed),
        ] {
            assert_eq!(status_of(c, name), Some(want), "{c} {name}");
        }
        assert_eq!(status_of(Connector::Jira, "hold"), None);
        assert!(TicketStatus::Open.takes_requests() && TicketStatus::Pending.takes_requests());
        assert!(TicketStatus::Solved.ends_sessions() && TicketStatus::Closed.ends_sessions());
    }
}
