//! `POST /authorize`: the host app asks before every change and every view
//! of sensitive data.
//!
//! The answer and its audit event are one transaction: when the event
//! cannot be written the caller gets an error (503), never a yes. A valid
//! signature is necessary, never sufficient: the session must be live,
//! within its deadlines, on the token's account, with the action in scope.

use actas_api as api;
use actas_core::audit::{self as text, Actor, EventType, FieldChange, NewEvent};
use actas_core::flow;
use actas_core::model::App;
use actas_core::{Error, Result};
use actas_store::tx_fn;

use super::input::Validate;
use super::{end_if_due, Ctx};
use crate::authz::{self, Act};

fn target_words(t: Option<&api::Target>) -> Option<String> {
    let t = t?;
    match (&t.kind, &t.id) {
        (Some(k), Some(i)) => Some(format!("{k} {i}")),
        (None, Some(i)) => Some(i.clone()),
        (Some(k), None) => Some(k.clone()),
        (None, None) => None,
    }
}

/// Answers whether the host app may let the agent do `req.action` now.
pub async fn authorize(ctx: &Ctx, app: &App, req: api::AuthorizeRequest) -> Result<api::AuthorizeResponse> {
    let now = ctx.clock.now();
    authz::allow(app, Act::Authorize, now)?;
    req.validate()?;
    let policy = ctx.policy.clone();
    let mut claims = ctx.keys.verify(&req.token).ok();
    if claims.is_none() && ctx.keys.refresh_for(&ctx.store, &req.token).await {
        claims = ctx.keys.verify(&req.token).ok();
    }
    let app = app.clone();
    let target = req.target.clone();
    let target_json = serde_json::to_value(&req.target).unwrap_or_default();
    let (answer, changes) = ctx
        .store
        .write(tx_fn(move |tx| {
            Box::pin(async move {
                let action = req.action.clone();
                let deny_unknown = |code: &'static str| {
                    NewEvent::new(
                        EventType::ActionDenied,
                        now,
                        Actor::app(&app.id, &app.name),
                        text::action_denied_unknown(&app.name, &action, code, now),
                        serde_json::json!({"action": action, "allowed": false, "reason": code, "target": target_json}),
                    )
                };
                let Some(claims) = claims else {
                    let ev = tx.append_event(deny_unknown("bad_token")).await?;
                    return Ok((api::AuthorizeResponse { allowed: false, reason: "bad_token".into(), event_id: Some(ev.id) }, vec![]));
                };
                let Some(session) = tx.get_session(&claims.sid).await? else {
                    let ev = tx.append_event(deny_unknown("bad_token")).await?;
                    return Ok((api::AuthorizeResponse { allowed: false, reason: "bad_token".into(), event_id: Some(ev.id) }, vec![]));
                };
                let mut published = Vec::new();
                let (session, ended_now) = end_if_due(tx, &policy, session, now).await?;
                if let Some(ev) = &ended_now {
                    published.push((ev.kind, session.clone(), ev.seq));
                }
                let verdict: Result<(), &'static str> = if claims.aud != app.id {
                    Err("wrong_app")
                } else if claims.sub != session.account_id {
                    Err("bad_token")
                } else if let Some(reason) = session.end_reason {
                    Err(reason.authorize_code())
                } else {
                    flow::check_action(&policy, &session, &action, target.as_ref().and_then(|t| t.account_id.as_deref()))
                };
                let actor = Actor::staff(&session.agent, &session.agent_name);
                let tried_account = target.as_ref().and_then(|t| t.account_id.as_deref());
                let scope_to_session = |e: NewEvent| {
                    e.about_session(&session)
                };
                let event = match verdict {
                    Err(code) => scope_to_session(NewEvent::new(
                        EventType::ActionDenied,
                        now,
                        actor,
                        text::action_denied(&policy, &session, &action, code, tried_account, now),
                        serde_json::json!({"action": action, "label": policy.label(&action), "allowed": false, "reason": code, "target": target_json, "app": app.id}),
                    )),
                    Ok(()) => {
                        let def = policy.action(&action).ok_or_else(|| Error::Internal(anyhow::anyhow!("checked action vanished")))?;
                        let changes: Vec<FieldChange> = req
                            .changes
                            .unwrap_or_default()
                            .into_iter()
                            .map(|c| FieldChange { field: c.field, old: c.old, new: c.new })
                            .collect();
                        let changes = flow::redact(def, changes);
                        let changes_json: Vec<serde_json::Value> =
                            changes.iter().map(|c| serde_json::json!({"field": c.field, "old": c.old, "new": c.new})).collect();
                        if flow::is_view(def) {
                            scope_to_session(NewEvent::new(
                                EventType::RecordViewed,
                                now,
                                actor,
                                text::record_viewed(&policy, &session, &action, target_words(target.as_ref()).as_deref(), now),
                                serde_json::json!({"action": action, "label": def.label, "allowed": true, "reason": "ok", "target": target_json, "sensitive": def.sensitive, "app": app.id}),
                            ))
                        } else {
                            let summary = if changes.is_empty() {
                                def.label.clone()
                            } else {
                                format!("changed {}", changes.iter().map(FieldChange::words).collect::<Vec<_>>().join(", "))
                            };
                            scope_to_session(NewEvent::new(
                                EventType::ActionPerformed,
                                now,
                                actor,
                                text::action_performed(&policy, &session, &action, &changes, now),
                                serde_json::json!({"action": action, "label": def.label, "allowed": true, "reason": "ok", "target": target_json, "changes": changes_json, "summary": summary, "app": app.id}),
                            ))
                        }
                    }
                };
                // Only the session's own app, with the session's own token, keeps it awake.
                let own = !matches!(verdict, Err("wrong_app" | "bad_token"));
                if session.is_live() && own {
                    tx.touch_session(&session.id, now).await?;
                }
                let ev = tx.append_event(event).await?;
                let (allowed, reason) = match verdict {
                    Ok(()) => (true, "ok".to_string()),
                    Err(code) => (false, code.to_string()),
                };
                Ok((api::AuthorizeResponse { allowed, reason, event_id: Some(ev.id) }, published))
            })
        }))
        .await?;
    if !changes.is_empty() {
        ctx.publish();
    }
    Ok(answer)
}
