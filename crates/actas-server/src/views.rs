//! Domain values to wire types, at the edge.

use actas_api as api;
use actas_core::audit::Event;
use actas_core::clock::format_ms;
use actas_core::flow;
use actas_core::model::{Decision, Request, Session, Ticket};
use actas_core::policy::Policy;

/// Names with labels.
pub fn actions(p: &Policy, names: &[String]) -> Vec<api::ActionRef> {
    names.iter().map(|n| api::ActionRef { name: n.clone(), label: p.label(n).to_string() }).collect()
}

/// A ticket.
pub fn ticket(p: &Policy, t: &Ticket) -> api::Ticket {
    api::Ticket {
        reference: t.reference.clone(),
        account_id: t.account_id.clone(),
        account_name: t.account_name.clone(),
        subject: t.subject.clone(),
        url: t.url.clone(),
        created_by: t.created_by.clone(),
        created_at: t.created_at,
        status: t.status,
        assignee: t.assignee.clone(),
        tags: t.tags.clone(),
        source: t.source,
        updated_at: t.updated_at,
        playbook: p.playbook_for(&t.tags).map(|b| playbook(p, b)),
        requests: Vec::new(),
        sessions: Vec::new(),
    }
}

/// A playbook.
pub fn playbook(p: &Policy, b: &actas_core::policy::Playbook) -> api::Playbook {
    api::Playbook { name: b.name.clone(), label: b.label.clone(), actions: actions(p, &b.actions), minutes: b.minutes }
}

/// A request.
pub fn request(p: &Policy, r: &Request) -> api::Request {
    api::Request {
        id: r.id.clone().into(),
        kind: r.kind,
        status: r.status,
        ticket: r.ticket.clone(),
        account_id: r.account_id.clone(),
        account_name: r.account_name.clone(),
        requester: r.requester.clone(),
        requester_name: r.requester_name.clone(),
        reason: r.reason.clone(),
        actions: actions(p, &r.actions),
        minutes: r.minutes,
        needs_approval: flow::needs_person(p, &r.actions),
        granted_actions: r.granted_actions.as_deref().map(|a| actions(p, a)),
        granted_minutes: r.granted_minutes,
        decided_by: r.decided_by.clone(),
        decided_at: r.decided_at,
        decision_note: r.decision_note.clone(),
        start_by: r.start_by,
        session_id: r.session_id.clone().map(Into::into),
        created_at: r.created_at,
        playbook: r.playbook.clone(),
        stepup: r.stepup.as_ref().map(stepup_change),
        decisions: Vec::new(),
        sessions: Vec::new(),
    }
}

/// A decision.
pub fn decision(p: &Policy, d: &Decision) -> api::Decision {
    api::Decision {
        id: d.id.clone().into(),
        kind: d.kind,
        decider: d.decider.clone(),
        decider_name: d.decider_name.clone(),
        actions: actions(p, &d.actions),
        minutes: d.minutes,
        removed: d.removed.clone(),
        added: d.added.clone(),
        note: d.note.clone(),
        at: d.at,
    }
}

/// A session.
pub fn session(p: &Policy, s: &Session) -> api::Session {
    api::Session {
        id: s.id.clone().into(),
        request_id: s.request_id.clone().into(),
        ticket: s.ticket.clone(),
        account_id: s.account_id.clone(),
        account_name: s.account_name.clone(),
        agent: s.agent.clone(),
        agent_name: s.agent_name.clone(),
        approver: s.approver.clone(),
        approver_name: s.approver_name.clone(),
        approvers: s.approvers.iter().map(|a| api::Approver { id: a.id.clone(), name: a.name.clone() }).collect(),
        approved_by: actas_core::audit::approved_by(&s.approvers),
        app_id: s.app_id.clone(),
        scope: actions(p, &s.scope),
        reason: s.reason.clone(),
        started_at: s.started_at,
        ends_at: s.ends_at,
        idle_deadline: s.idle_deadline(p.session.idle_minutes).min(s.ends_at),
        last_activity_at: s.last_activity_at,
        state: s.state,
        end_reason: s.end_reason,
        ended_at: s.ended_at,
        ended_by: s.ended_by.clone(),
        end_note: s.end_note.clone(),
        stepups: Vec::new(),
        breakglass: s.breakglass,
        review: s.review.as_ref().map(|r| api::Review {
            by: r.by.clone(),
            by_name: r.by_name.clone(),
            at: r.at,
            note: r.note.clone(),
        }),
    }
}

/// What a step-up is for, as the trail keeps it.
pub fn stepup_change(x: &actas_core::stepup::StepUp) -> api::StepUpChange {
    api::StepUpChange {
        target: x.target.as_ref().map(|t| api::Target {
            account_id: t.account_id.clone(),
            kind: t.kind.clone(),
            id: t.id.clone(),
        }),
        changes: x
            .changes
            .iter()
            .map(|c| api::Change { field: c.field.clone(), old: c.old.clone(), new: c.new.clone() })
            .collect(),
    }
}

/// A session's step-up, for its banner and its page.
pub fn stepup(p: &Policy, r: &Request) -> api::StepUp {
    api::StepUp {
        id: r.id.clone().into(),
        action: actions(p, &r.actions)
            .into_iter()
            .next()
            .unwrap_or_else(|| api::ActionRef { name: String::new(), label: String::new() }),
        change: r.stepup.as_ref().map(stepup_change).unwrap_or(api::StepUpChange { target: None, changes: Vec::new() }),
        summary: actas_core::audit::stepup_change(p, r),
        reason: r.reason.clone(),
        status: r.status,
        decided_by: r.decided_by_name.clone(),
        decision_note: r.decision_note.clone(),
        use_by: r.start_by.filter(|_| r.status == actas_core::model::RequestStatus::Approved),
        created_at: r.created_at,
    }
}

/// An audit event.
pub fn event(e: &Event) -> api::AuditEvent {
    into_event(e.clone())
}

/// [`event`], taking the event: a page of them is answered without a
/// copy of each one's data.
pub fn into_event(e: Event) -> api::AuditEvent {
    let Event { seq, body, prev_hash, hash } = e;
    api::AuditEvent {
        seq,
        id: body.id.into(),
        at: format_ms(body.at),
        kind: body.kind,
        actor: api::Actor { kind: body.actor.kind, id: body.actor.id, name: body.actor.name },
        account_id: body.account_id,
        ticket: body.ticket,
        request_id: body.request_id.map(Into::into),
        session_id: body.session_id.map(Into::into),
        agent: body.agent,
        data: body.data,
        text: body.text,
        prev_hash,
        hash,
    }
}

/// An audit event in a session's timeline: the event with its `text` as
/// one line ([`actas_core::limits::one_line`]), as people read it. The stored
/// text, which its hash covers, is what `GET /audit` answers.
pub fn timeline_event(e: Event) -> api::AuditEvent {
    let text = actas_core::limits::one_line(&e.text).into_owned();
    api::AuditEvent { text, ..into_event(e) }
}

/// The keys that sign or signed the audit trail's head.
pub fn audit_keys(keys: &[crate::keys::PublicKeyInfo]) -> api::AuditKeys {
    use actas_store::KeyRole;
    api::AuditKeys {
        keys: keys
            .iter()
            .filter(|k| k.role.serves(KeyRole::Checkpoint))
            .map(|k| api::AuditKey {
                kid: k.kid.clone(),
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                alg: "EdDSA".into(),
                x: k.public_key.clone(),
                role: if k.role == KeyRole::Legacy { api::AuditKeyRole::Legacy } else { api::AuditKeyRole::Checkpoint },
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
            .collect(),
        signed_message: "actas-audit-head\n{seq}\n{hash}".into(),
    }
}

/// A customer's grant.
pub fn grant(g: &actas_core::model::Grant, now: actas_core::Timestamp) -> api::Grant {
    api::Grant {
        id: g.id.clone(),
        account_id: g.account_id.clone(),
        app_id: g.app_id.clone(),
        granted_by: g.granted_by.clone(),
        hours: g.hours,
        created_at: g.created_at,
        expires_at: g.expires_at,
        revoked_at: g.revoked_at,
        revoked_by: g.revoked_by.clone(),
        live: g.is_live(now),
    }
}

/// An account's consent: whether it needs a grant, the live one, the latest.
pub fn consent(
    account_id: &str,
    required: bool,
    grants: &[actas_core::model::Grant],
    now: actas_core::Timestamp,
) -> api::Consent {
    api::Consent {
        account_id: account_id.to_string(),
        required,
        grant: grants.iter().find(|g| g.is_live(now)).map(|g| grant(g, now)),
        grants: grants.iter().map(|g| grant(g, now)).collect(),
        sessions_ended: None,
    }
}

/// An endpoint as admins see it.
pub fn webhook(w: &actas_core::webhook::Webhook) -> api::Webhook {
    api::Webhook {
        id: w.id.clone(),
        url: w.url.clone(),
        events: w.events.names(),
        state: w.state.as_str().to_string(),
        after_seq: w.after_seq,
        failures: w.failures,
        next_attempt_at: w.next_attempt_at,
        last_error: w.last_error.clone(),
        created_at: w.created_at,
    }
}

/// One attempt of the delivery log.
pub fn delivery(d: &actas_core::webhook::Delivery) -> api::WebhookDelivery {
    api::WebhookDelivery {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        seq: d.seq,
        kind: d.event_type,
        attempt: d.attempt,
        at: d.at,
        status: d.status,
        ok: d.ok,
        error: d.error.clone(),
        replay: d.replay,
    }
}
