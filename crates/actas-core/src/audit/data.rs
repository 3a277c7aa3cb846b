//! The typed `data` of each event type.
//!
//! An event's `data` column holds one of these payloads as JSON, the same
//! JSON the trail has always held; the event type is the variant of
//! [`EventData`](super::EventData) (see [`super::EventType`], made from the same list). Build
//! events only from an [`EventData`](super::EventData), and read `data` back with
//! [`super::Event::payload`].
//!
//! Adding an event type: one line in the `events!` list in
//! `audit/mod.rs` naming its payload here, one sentence function in
//! `audit/text.rs`, one case in that file's snapshot test.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// `ticket.created`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketCreated {
    /// The ticket's subject.
    pub subject: String,
    /// The account's display name, when the ticket system sent one.
    pub account_name: Option<String>,
    /// The ticket's address in the ticket system.
    pub url: Option<String>,
    /// Where it came from (`hand`, `app`, `zendesk`, `jira`); absent in
    /// events recorded before tickets had a source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Its status in its system, when a ticket system sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who it is assigned to, when a ticket system said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// `ticket.updated`: a ticket system sent a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketUpdated {
    /// Where the change came from (`zendesk`, `jira`, `app`).
    pub source: String,
    /// The fields that changed (`status`, `assignee`, `tags`, `subject`,
    /// `url`, `account_name`, `account_id`).
    pub changed: Vec<String>,
    /// The status before.
    pub old_status: String,
    /// The status now.
    pub status: String,
    /// The subject now.
    pub subject: String,
    /// The assignee now.
    pub assignee: Option<String>,
    /// The assignee before, when this change took the ticket from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_assignee: Option<String>,
    /// The tags now.
    pub tags: Vec<String>,
    /// The live sessions this change ended (a solved or closed ticket).
    pub sessions_ended: Vec<String>,
}

/// `request.created`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestCreated {
    /// The written reason.
    pub reason: String,
    /// The actions asked for.
    pub actions: Vec<String>,
    /// The minutes asked for.
    pub minutes: u32,
    /// Whether a person must approve.
    pub needs_approval: bool,
    /// The playbook of the ticket's kind of case; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<String>,
    /// The actions asked beyond the playbook's suggestion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub beyond_playbook: Vec<String>,
    /// Asked as break-glass: approved by nobody; absent when not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub breakglass: bool,
}

/// What a refused request asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Asked {
    /// A request for access (`POST /requests`).
    Access {
        /// The ticket named.
        ticket: String,
        /// The account named, if any.
        account_id: Option<String>,
        /// The actions asked for.
        actions: Vec<String>,
        /// The minutes asked for, if any.
        minutes: Option<u32>,
        /// The written reason.
        reason: String,
    },
    /// More actions for a live session (`POST /sessions/{id}/scope`).
    Scope {
        /// The session.
        session_id: String,
        /// The actions asked for.
        actions: Vec<String>,
        /// The written reason.
        reason: String,
    },
    /// One change in a live session (`POST /sessions/{id}/stepup`); its
    /// values are not kept.
    Stepup {
        /// The session.
        session_id: String,
        /// The action asked for.
        action: String,
        /// The written reason.
        reason: String,
    },
}

/// `request.refused`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRefused {
    /// The rule broken (`reason-too-short`, `unknown-ticket`, ...).
    pub code: String,
    /// The refusal in plain words.
    pub detail: String,
    /// What was asked.
    pub asked: Asked,
}

/// Actions and minutes, asked or granted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The actions.
    pub actions: Vec<String>,
    /// The minutes.
    pub minutes: u32,
}

/// `request.approved`, `scope.approved`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// What the request asked for.
    pub asked: Grant,
    /// What was granted.
    pub granted: Grant,
    /// Actions the approver removed.
    pub removed: Vec<String>,
    /// Actions the approver added.
    pub added: Vec<String>,
    /// The approver's note.
    pub note: Option<String>,
    /// Whether the policy approved it (no person needed).
    pub by_policy: bool,
}

/// `request.denied`, `scope.denied`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Denial {
    /// Why.
    pub note: String,
}

/// `request.withdrawn`, `request.expired`: nothing more than the event's
/// own fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nothing {}

/// `session.started`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStarted {
    /// The allowed actions.
    pub scope: Vec<String>,
    /// When it ends at the latest.
    #[serde(with = "crate::clock::millis_text")]
    pub ends_at: Timestamp,
    /// Who approved it (`policy` or a login).
    pub approver: String,
    /// The host app its token is for.
    pub audience: String,
}

/// `session.ended`, `session.expired`, `session.idle_timeout`,
/// `session.revoked`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEnd {
    /// How it ended (`ended`, `expired`, `revoked`, ...).
    pub end_reason: String,
    /// The note of whoever ended it.
    pub note: Option<String>,
    /// When it started.
    #[serde(with = "crate::clock::millis_text")]
    pub started_at: Timestamp,
}

/// `scope.requested`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeRequested {
    /// The written reason.
    pub reason: String,
    /// The actions asked for.
    pub actions: Vec<String>,
    /// The session's scope when asked.
    pub current: Vec<String>,
    /// Whether a person must approve.
    pub needs_approval: bool,
}

/// `breakglass.started`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakglassStarted {
    /// The request that broke the glass.
    pub request: String,
    /// The allowed actions.
    pub scope: Vec<String>,
    /// When it ends at the latest.
    #[serde(with = "crate::clock::millis_text")]
    pub ends_at: Timestamp,
    /// The written reason.
    pub reason: String,
}

/// `session.reviewed`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReviewed {
    /// What the lead found.
    pub note: String,
    /// The session's agent.
    pub agent: String,
}

/// `webhook.created`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookCreated {
    /// The endpoint.
    pub webhook: String,
    /// Where it sends, without its query or credentials.
    pub url: String,
    /// The event types it receives (`*`: every one).
    pub events: Vec<String>,
}

/// `webhook.paused`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPaused {
    /// The endpoint.
    pub webhook: String,
    /// Where it sends, without its query or credentials.
    pub url: String,
    /// Failed attempts in a row.
    pub failures: u32,
    /// The event it could not deliver.
    pub seq: i64,
    /// What the last attempt met.
    pub last_error: String,
}

/// `webhook.resumed`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookResumed {
    /// The endpoint.
    pub webhook: String,
    /// Where it sends, without its query or credentials.
    pub url: String,
    /// The first event it sends again.
    pub from_seq: i64,
}

/// `webhook.removed`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookRemoved {
    /// The endpoint.
    pub webhook: String,
    /// Where it sent, without its query or credentials.
    pub url: String,
    /// The last event it had taken.
    pub after_seq: i64,
}

/// `grant.created`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantCreated {
    /// The grant.
    pub grant: String,
    /// Who granted it, as the host app names the customer's user.
    pub granted_by: String,
    /// For how many hours.
    pub hours: u32,
    /// When it runs out.
    #[serde(with = "crate::clock::millis_text")]
    pub expires_at: Timestamp,
    /// The host app that recorded it.
    pub app: String,
}

/// `grant.revoked`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRevoked {
    /// The grants withdrawn.
    pub grants: Vec<String>,
    /// Who withdrew them, as the host app names the customer's user.
    pub revoked_by: String,
    /// The host app that recorded it.
    pub app: String,
    /// The live sessions it ended.
    pub sessions_ended: Vec<String>,
}

/// `stepup.requested`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepupRequested {
    /// The written reason.
    pub reason: String,
    /// The one action.
    pub action: String,
    /// Its label.
    pub label: String,
    /// What it is to be done to, when named.
    pub target: Option<Target>,
    /// The changes, redacted; empty when none were named.
    pub changes: Vec<StoredChange>,
    /// Whether a person must approve.
    pub needs_approval: bool,
}

/// `stepup.approved`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepupApproved {
    /// The approver's note.
    pub note: Option<String>,
    /// Whether the policy approved it (no person needed).
    pub by_policy: bool,
    /// It may be used once, until then.
    #[serde(with = "crate::clock::millis_text")]
    pub use_by: Timestamp,
}

/// `stepup.used`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepupUsed {
    /// The action.
    pub action: String,
    /// The `action.performed` event of the change it let through.
    pub performed: String,
}

/// `scope.changed`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeChanged {
    /// The scope before.
    pub old: Vec<String>,
    /// The scope after.
    pub new: Vec<String>,
    /// The actions added.
    pub added: Vec<String>,
    /// The scope request that changed it.
    pub scope_request: String,
}

/// What an action was done to, as the host app named it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Target {
    /// The account.
    pub account_id: Option<String>,
    /// The record type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The record id.
    pub id: Option<String>,
}

impl Target {
    /// "invoice inv_7", "inv_7", "invoice", or nothing.
    pub fn words(&self) -> Option<String> {
        match (&self.kind, &self.id) {
            (Some(k), Some(i)) => Some(format!("{k} {i}")),
            (None, Some(i)) => Some(i.clone()),
            (Some(k), None) => Some(k.clone()),
            (None, None) => None,
        }
    }
}

/// One changed field as stored: values already redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChange {
    /// The field's name.
    pub field: String,
    /// The old value, or [`super::NOT_STORED`].
    pub old: Option<String>,
    /// The new value, or [`super::NOT_STORED`].
    pub new: Option<String>,
}

impl From<&super::FieldChange> for StoredChange {
    fn from(c: &super::FieldChange) -> Self {
        StoredChange { field: c.field.clone(), old: c.old.clone(), new: c.new.clone() }
    }
}

/// `action.performed`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionPerformed {
    /// The action's dotted name.
    pub action: String,
    /// The action's label.
    pub label: String,
    /// Always true.
    pub allowed: bool,
    /// Always `ok`.
    pub reason: String,
    /// What it was done to.
    pub target: Option<Target>,
    /// The changes, redacted.
    pub changes: Vec<StoredChange>,
    /// What changed, in words, for the customer's note.
    pub summary: String,
    /// The host app that asked.
    pub app: String,
}

/// `record.viewed`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordViewed {
    /// The action's dotted name.
    pub action: String,
    /// The action's label.
    pub label: String,
    /// Always true.
    pub allowed: bool,
    /// Always `ok`.
    pub reason: String,
    /// What was viewed.
    pub target: Option<Target>,
    /// Whether the policy marks the view sensitive.
    pub sensitive: bool,
    /// The host app that asked.
    pub app: String,
}

/// `action.denied`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionDenied {
    /// The action's dotted name, as asked.
    pub action: String,
    /// The action's label; absent when no session was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Always false.
    pub allowed: bool,
    /// Why not (`not_in_scope`, `bad_token`, ...).
    pub reason: String,
    /// What it was for.
    pub target: Option<Target>,
    /// The host app that asked; absent when no session was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// `staff.created`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffCreated {
    /// Their login.
    pub login: String,
    /// Their name.
    pub name: String,
    /// Their roles.
    pub roles: Vec<String>,
}

/// `staff.updated`: name or roles changed (at sign-in through the
/// identity provider, by its SCIM provisioning, or by an admin), or an
/// admin set a new console password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffUpdated {
    /// Their login.
    pub login: String,
    /// Their name now.
    pub name: String,
    /// Their roles now.
    pub roles: Vec<String>,
    /// What changed (`name`, `roles`, `username`, `password`: a new
    /// console password was set, never stored here).
    pub changed: Vec<String>,
    /// The name the identity provider knows them by now, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `staff.enabled`: a disabled staff member may sign in again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffEnabled {
    /// Their login.
    pub login: String,
}

/// `staff.disabled`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffDisabled {
    /// Their login.
    pub login: String,
    /// The sessions ended with it.
    pub sessions_ended: Vec<String>,
}

/// `app.created`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppCreated {
    /// The app's id.
    pub app: String,
    /// Its name.
    pub name: String,
    /// Whether it may push tickets.
    pub tickets: bool,
    /// The web origins the banner runs on.
    pub origins: Vec<String>,
    /// Whether it provisions staff through SCIM; absent when not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scim: bool,
    /// The ticket system whose webhook it takes (`zendesk`, `jira`); absent
    /// when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// Whether support needs the customer's grant; absent when not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consent: bool,
}

/// `app.updated`: an app's ticket-system connector was added, or its
/// secret replaced (the secret itself is never in the trail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppUpdated {
    /// The app's id.
    pub app: String,
    /// Its name.
    pub name: String,
    /// What changed: `connector` (one was added) or `connector_secret`
    /// (its secret was replaced).
    pub changed: Vec<String>,
    /// The ticket system whose webhook it takes (`zendesk`, `jira`).
    pub connector: String,
}

/// `policy.loaded`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyLoaded {
    /// SHA-256 of the policy file, hex.
    pub sha256: String,
    /// How many actions it defines.
    pub actions: usize,
    /// What a scope change does (`reapprove` or `new_session`).
    pub scope_change: String,
}

/// `key.rotated`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyRotated {
    /// A new signing key.
    SigningKey {
        /// The new key's id.
        kid: String,
        /// `token` or `checkpoint`.
        role: String,
        /// The keys it replaces.
        retired: Vec<String>,
    },
    /// Every signing key sealed again under a new key-encryption key.
    KeyEncryptionKey {
        /// The new key-encryption key's id.
        key_encryption_key: String,
        /// The key-encryption key it replaces.
        retired: String,
        /// The signing keys sealed again.
        kids: Vec<String>,
    },
}

/// `customer.notified`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerNotified {
    /// The note's id.
    pub notice: String,
    /// The note as delivered.
    pub text: String,
}

/// `session.entered`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEntered {
    /// The host app that exchanged the code.
    pub app: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{EventData, EventType};
    use chrono::{TimeZone, Utc};
    use strum::VariantArray;

    /// One payload of each event type. A new event type is not complete
    /// until it has a case here: the match names it.
    fn sample(kind: EventType) -> EventData {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 14, 2, 0).unwrap();
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let grant = || Grant { actions: list(&["settings.view"]), minutes: 15 };
        let approval = || Approval {
            asked: grant(),
            granted: grant(),
            removed: vec![],
            added: vec![],
            note: Some("ok".into()),
            by_policy: false,
        };
        let end = || SessionEnd { end_reason: "revoked".into(), note: None, started_at: at };
        let target = Some(Target { account_id: Some("acct_42".into()), kind: Some("invoice".into()), id: None });
        match kind {
            EventType::TicketCreated => EventData::TicketCreated(TicketCreated {
                subject: "Tax settings".into(),
                account_name: Some("Acme Corp".into()),
                url: None,
                source: Some("zendesk".into()),
                status: Some("open".into()),
                assignee: Some("maria".into()),
                tags: list(&["settings"]),
            }),
            EventType::TicketUpdated => EventData::TicketUpdated(TicketUpdated {
                source: "zendesk".into(),
                changed: list(&["status"]),
                old_status: "open".into(),
                status: "solved".into(),
                subject: "Tax settings".into(),
                assignee: Some("maria".into()),
                old_assignee: None,
                tags: list(&["settings"]),
                sessions_ended: list(&["ses_1"]),
            }),
            EventType::RequestCreated => EventData::RequestCreated(RequestCreated {
                reason: "Customer cannot see the tax settings".into(),
                actions: list(&["settings.view"]),
                minutes: 15,
                needs_approval: false,
                playbook: Some("settings_not_saving".into()),
                beyond_playbook: list(&["billing.update"]),
                breakglass: false,
            }),
            EventType::RequestRefused => EventData::RequestRefused(RequestRefused {
                code: "reason-too-short".into(),
                detail: "Say more.".into(),
                asked: Asked::Access {
                    ticket: "48192".into(),
                    account_id: None,
                    actions: list(&["settings.view"]),
                    minutes: None,
                    reason: "debug".into(),
                },
            }),
            EventType::RequestApproved => EventData::RequestApproved(approval()),
            EventType::RequestDenied => EventData::RequestDenied(Denial { note: "Not needed".into() }),
            EventType::RequestWithdrawn => EventData::RequestWithdrawn(Nothing {}),
            EventType::RequestExpired => EventData::RequestExpired(Nothing {}),
            EventType::SessionStarted => EventData::SessionStarted(SessionStarted {
                scope: list(&["settings.view"]),
                ends_at: at,
                approver: "policy".into(),
                audience: "app_1".into(),
            }),
            EventType::SessionEnded => EventData::SessionEnded(end()),
            EventType::SessionExpired => EventData::SessionExpired(end()),
            EventType::SessionIdleTimeout => EventData::SessionIdleTimeout(end()),
            EventType::SessionRevoked => EventData::SessionRevoked(end()),
            EventType::SessionTicketClosed => EventData::SessionTicketClosed(end()),
            EventType::ScopeRequested => EventData::ScopeRequested(ScopeRequested {
                reason: "Needs the invoice email changed".into(),
                actions: list(&["invoice_email.update"]),
                current: list(&["settings.view"]),
                needs_approval: true,
            }),
            EventType::ScopeApproved => EventData::ScopeApproved(approval()),
            EventType::ScopeDenied => EventData::ScopeDenied(Denial { note: "No".into() }),
            EventType::ScopeChanged => EventData::ScopeChanged(ScopeChanged {
                old: list(&["settings.view"]),
                new: list(&["settings.view", "invoice_email.update"]),
                added: list(&["invoice_email.update"]),
                scope_request: "req_2".into(),
            }),
            EventType::GrantCreated => EventData::GrantCreated(GrantCreated {
                grant: "grt_1".into(),
                granted_by: "pat@acme.test".into(),
                hours: 24,
                expires_at: at,
                app: "app_1".into(),
            }),
            EventType::GrantRevoked => EventData::GrantRevoked(GrantRevoked {
                grants: list(&["grt_1"]),
                revoked_by: "pat@acme.test".into(),
                app: "app_1".into(),
                sessions_ended: list(&["ses_1"]),
            }),
            EventType::SessionCustomerRevoked => EventData::SessionCustomerRevoked(end()),
            EventType::BreakglassStarted => EventData::BreakglassStarted(BreakglassStarted {
                request: "req_1".into(),
                scope: list(&["settings.view", "sync.reset"]),
                ends_at: at,
                reason: "Sync outage: every account stuck since the 14:00 deploy".into(),
            }),
            EventType::WebhookCreated => EventData::WebhookCreated(WebhookCreated {
                webhook: "whk_1".into(),
                url: "https://siem.acme.test/actas".into(),
                events: list(&["*"]),
            }),
            EventType::WebhookPaused => EventData::WebhookPaused(WebhookPaused {
                webhook: "whk_1".into(),
                url: "https://siem.acme.test/actas".into(),
                failures: 10,
                seq: 1234,
                last_error: "HTTP 503".into(),
            }),
            EventType::WebhookResumed => EventData::WebhookResumed(WebhookResumed {
                webhook: "whk_1".into(),
                url: "https://siem.acme.test/actas".into(),
                from_seq: 1234,
            }),
            EventType::WebhookRemoved => EventData::WebhookRemoved(WebhookRemoved {
                webhook: "whk_1".into(),
                url: "https://siem.acme.test/actas".into(),
                after_seq: 1240,
            }),
            EventType::SessionReviewed => EventData::SessionReviewed(SessionReviewed {
                note: "Reset one sync during the outage; nothing else touched".into(),
                agent: "maria".into(),
            }),
            EventType::StepupRequested => EventData::StepupRequested(StepupRequested {
                reason: "Customer asked to move from Pro to Basic before the renewal".into(),
                action: "billing.update".into(),
                label: "Change billing details".into(),
                target: target.clone(),
                changes: vec![StoredChange {
                    field: "plan".into(),
                    old: Some("Pro".into()),
                    new: Some("Basic".into()),
                }],
                needs_approval: true,
            }),
            EventType::StepupApproved => {
                EventData::StepupApproved(StepupApproved { note: None, by_policy: false, use_by: at })
            }
            EventType::StepupDenied => EventData::StepupDenied(Denial { note: "Not for this ticket".into() }),
            EventType::StepupUsed => {
                EventData::StepupUsed(StepupUsed { action: "billing.update".into(), performed: "evt_9".into() })
            }
            EventType::ActionPerformed => EventData::ActionPerformed(ActionPerformed {
                action: "invoice_email.update".into(),
                label: "Update invoice email".into(),
                allowed: true,
                reason: "ok".into(),
                target,
                changes: vec![StoredChange {
                    field: "invoice_email".into(),
                    old: Some("a@acme.test".into()),
                    new: Some("b@acme.test".into()),
                }],
                summary: "changed invoice email from a@acme.test to b@acme.test".into(),
                app: "app_1".into(),
            }),
            EventType::ActionDenied => EventData::ActionDenied(ActionDenied {
                action: "billing.update".into(),
                label: None,
                allowed: false,
                reason: "bad_token".into(),
                target: None,
                app: None,
            }),
            EventType::RecordViewed => EventData::RecordViewed(RecordViewed {
                action: "settings.view".into(),
                label: "View account settings".into(),
                allowed: true,
                reason: "ok".into(),
                target,
                sensitive: false,
                app: "app_1".into(),
            }),
            EventType::StaffCreated => EventData::StaffCreated(StaffCreated {
                login: "maria".into(),
                name: "Maria Lopez".into(),
                roles: list(&["agent"]),
            }),
            EventType::StaffDisabled => {
                EventData::StaffDisabled(StaffDisabled { login: "maria".into(), sessions_ended: list(&["ses_1"]) })
            }
            EventType::StaffUpdated => EventData::StaffUpdated(StaffUpdated {
                login: "maria".into(),
                name: "Maria Lopez".into(),
                roles: list(&["agent", "lead"]),
                changed: list(&["roles"]),
                username: None,
            }),
            EventType::StaffEnabled => EventData::StaffEnabled(StaffEnabled { login: "maria".into() }),
            EventType::AppCreated => EventData::AppCreated(AppCreated {
                scim: false,
                consent: false,
                connector: Some("zendesk".into()),
                app: "app_1".into(),
                name: "Acme Billing".into(),
                tickets: true,
                origins: list(&["https://app.acme.test"]),
            }),
            EventType::AppUpdated => EventData::AppUpdated(AppUpdated {
                app: "app_1".into(),
                name: "Acme Billing".into(),
                changed: list(&["connector"]),
                connector: "zendesk".into(),
            }),
            EventType::PolicyLoaded => EventData::PolicyLoaded(PolicyLoaded {
                sha256: "53888ab9b18c".into(),
                actions: 22,
                scope_change: "reapprove".into(),
            }),
            EventType::KeyRotated => EventData::KeyRotated(KeyRotated::SigningKey {
                kid: "k_2".into(),
                role: "token".into(),
                retired: list(&["k_1"]),
            }),
            EventType::CustomerNotified => {
                EventData::CustomerNotified(CustomerNotified { notice: "ntc_1".into(), text: "Maria...".into() })
            }
            EventType::SessionEntered => EventData::SessionEntered(SessionEntered { app: "app_1".into() }),
        }
    }

    #[test]
    fn every_event_type_has_a_payload_that_reads_back_as_itself() {
        let mut lines = Vec::new();
        for kind in EventType::VARIANTS {
            let data = sample(*kind);
            assert_eq!(data.kind(), *kind);
            let json = data.to_json();
            assert_eq!(EventData::from_json(*kind, &json).unwrap(), data, "{kind}");
            lines.push(format!("{kind}: {json}"));
        }
        let kek = EventData::KeyRotated(KeyRotated::KeyEncryptionKey {
            key_encryption_key: "kek_2".into(),
            retired: "kek_1".into(),
            kids: vec!["k_1".into()],
        });
        assert_eq!(EventData::from_json(EventType::KeyRotated, &kek.to_json()).unwrap(), kek);
        lines.push(format!("key.rotated (key-encryption key): {}", kek.to_json()));
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn data_of_another_type_does_not_read_back() {
        let json = sample(EventType::SessionEntered).to_json();
        assert!(EventData::from_json(EventType::TicketCreated, &json).is_err());
    }
}
