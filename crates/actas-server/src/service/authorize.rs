//! `POST /authorize`: the host app asks before every change and every view
//! of sensitive data.
//!
//! The decision is [`actas_core::authorize::verdict`]; here it is made
//! inside one transaction with its audit event, so that when the event
//! cannot be written the caller gets an error (503), never a yes.

use actas_api as api;
use actas_core::audit::data::Target;
use actas_core::audit::FieldChange;
use actas_core::authorize::{answer_event, verdict, Ask, Refusal, TokenSays};
use actas_core::model::App;
use actas_core::Result;
use actas_store::write_fn;

use super::input::Validate;
use super::{end_if_due, Committed, Ctx};
use crate::authz::{self, Act};

/// Answers whether the host app may let the agent do `req.action` now.
pub async fn authorize(ctx: &Ctx, app: &App, req: api::AuthorizeRequest) -> Result<api::AuthorizeResponse> {
    let now = ctx.clock.now();
    authz::allow(app, Act::Authorize, now)?;
    req.validate()?;
    let mut claims = ctx.keys.verify(req.token.expose()).ok();
    if claims.is_none() && ctx.keys.refresh_for(&ctx.store, req.token.expose()).await {
        claims = ctx.keys.verify(req.token.expose()).ok();
    }
    let ask = ask(app, req.action, req.target, req.changes);
    let policy = ctx.policy.clone();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let session = match &claims {
                Some(c) => tx.get_session(&c.sid).await?,
                None => None,
            };
            let (Some(claims), Some(session)) = (claims, session) else {
                let ev = tx.append_event(answer_event(&policy, None, ask, Err(Refusal::BadToken), now)).await?;
                return Ok(Committed::answer(answer(Some(Refusal::BadToken), ev.body.id)));
            };
            let (session, ended) = end_if_due(tx, &policy, session, now).await?;
            let token = TokenSays { app: &claims.aud, account: &claims.sub };
            let mut decided = verdict(&policy, &session, token, &ask);
            // An action the scope lacks may still be the one change a lead
            // approved for this session (a step-up), once.
            let mut stepup = None;
            if decided == Err(Refusal::NotInScope) {
                stepup = super::stepup::usable(tx, &session, &ask, now).await?;
                if stepup.is_some() {
                    decided = policy.action(&ask.action).ok_or(Refusal::UnknownAction);
                }
            }
            // Only the session's own app, with the session's own token, keeps it awake.
            if session.is_live() && decided.err().is_none_or(Refusal::from_the_session) {
                tx.touch_session(&session.id, now).await?;
            }
            let ev = tx.append_event(answer_event(&policy, Some(&session), ask, decided, now)).await?;
            let used = stepup.is_some();
            if let Some(r) = stepup {
                super::stepup::spend(tx, &policy, &session, r, ev.body.id.clone(), now).await?;
            }
            Ok(Committed::answer(answer(decided.err(), ev.body.id)).sessions_changed(ended || used))
        })
    }))
    .await
}

/// What the host app asked, in the domain's words.
fn ask(app: &App, action: String, target: Option<api::Target>, changes: Option<Vec<api::Change>>) -> Ask {
    Ask {
        app_id: app.id.clone(),
        app_name: app.name.clone(),
        action,
        target: target.map(|t| Target { account_id: t.account_id, kind: t.kind, id: t.id }),
        changes: changes
            .unwrap_or_default()
            .into_iter()
            .map(|c| FieldChange { field: c.field, old: c.old, new: c.new })
            .collect(),
    }
}

/// The answer: allowed, or why not, and the event that records it.
fn answer(refusal: Option<Refusal>, event_id: String) -> api::AuthorizeResponse {
    api::AuthorizeResponse {
        allowed: refusal.is_none(),
        reason: refusal.map_or(api::AuthorizeReason::Ok, api::AuthorizeReason::Refused),
        event_id: Some(event_id.into()),
    }
}
