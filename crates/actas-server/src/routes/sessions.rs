//! `/api/v1/sessions`

use std::convert::Infallible;
use std::time::Duration;

use actas_api as api;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use axum::Json;
use futures::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

use crate::http::error::ApiError;
use crate::http::extract::{Body, Caller};
use crate::service;
use crate::views;
use crate::AppState;

/// A session. Staff, apps, and the session's own token may read it.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = api::Session), (status = 401, body = api::Problem), (status = 404, body = api::Problem)))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Session>, ApiError> {
    let s = service::get_session(&st.ctx, &caller.0, &id).await?;
    let stepups = service::stepups_of(&st.ctx, &s).await?;
    let mut view = views::session(&st.ctx.policy, &s);
    view.stepups = stepups.iter().map(|r| views::stepup(&st.ctx.policy, r)).collect();
    Ok(Json(view))
}

/// The agent (or the banner with the session's token) ends the session.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/end", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = api::Session), (status = 403, body = api::Problem), (status = 409, body = api::Problem)))]
pub async fn end(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Session>, ApiError> {
    let s = service::end(&st.ctx, &caller.0, &id).await?;
    Ok(Json(views::session(&st.ctx.policy, &s)))
}

/// A lead revokes the session, with a note.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/revoke", tag = "sessions", params(("id" = String, Path)), request_body = api::Note,
    responses((status = 200, body = api::Session), (status = 403, body = api::Problem), (status = 409, body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::Note>,
) -> Result<Json<api::Session>, ApiError> {
    let staff = caller.staff()?;
    let s = service::revoke(&st.ctx, &staff, &id, input.note).await?;
    Ok(Json(views::session(&st.ctx.policy, &s)))
}

/// A lead reviews a break-glass session after it ended, with a note of
/// what they found (`session.reviewed`). Never their own; once.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/review", tag = "sessions", params(("id" = String, Path)), request_body = api::Note,
    responses((status = 200, body = api::Session), (status = 403, body = api::Problem), (status = 404, body = api::Problem), (status = 409, body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn review(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::Note>,
) -> Result<Json<api::Session>, ApiError> {
    let staff = caller.staff()?;
    let s = service::review(&st.ctx, &staff, &id, input).await?;
    Ok(Json(views::session(&st.ctx.policy, &s)))
}

/// The agent asks for more actions; decided like any request.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/scope", tag = "sessions", params(("id" = String, Path)), request_body = api::ScopeChange,
    responses((status = 201, body = api::Request), (status = 403, body = api::Problem), (status = 409, body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn scope(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::ScopeChange>,
) -> Result<Response, ApiError> {
    let staff = caller.staff()?;
    let r = service::request_scope(&st.ctx, &staff, &id, input).await?;
    Ok(super::created(views::request(&st.ctx.policy, &r)))
}

/// The agent, or the host app with the session's token, asks a lead for
/// one change the scope lacks; decided like any request, used once.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/stepup", tag = "sessions", params(("id" = String, Path)), request_body = api::NewStepUp,
    responses((status = 201, body = api::Request), (status = 403, body = api::Problem), (status = 409, body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn stepup(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::NewStepUp>,
) -> Result<Response, ApiError> {
    let r = service::request_stepup(&st.ctx, &caller.0, &id, input).await?;
    Ok(super::created(views::request(&st.ctx.policy, &r)))
}

/// The session's agent asks for a one-time code to enter the host app; a
/// new code voids the unused ones.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/entry", tag = "sessions", params(("id" = String, Path)),
    responses((status = 201, body = api::EntryCode), (status = 401, body = api::Problem), (status = 403, body = api::Problem),
        (status = 404, body = api::Problem), (status = 409, body = api::Problem)))]
pub async fn entry(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let staff = caller.staff()?;
    let code = service::open_entry(&st.ctx, &staff, &id).await?;
    Ok(super::created(code))
}

/// The host app exchanges a one-time entry code for the session's token.
/// A used, expired, replaced or unknown code is refused.
#[utoipa::path(post, path = "/api/v1/entry", tag = "sessions", request_body = api::EntryExchange,
    responses((status = 200, body = api::Started), (status = 401, body = api::Problem), (status = 403, body = api::Problem),
        (status = 409, body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn exchange(
    State(st): State<AppState>,
    caller: Caller,
    Body(input): Body<api::EntryExchange>,
) -> Result<Json<api::Started>, ApiError> {
    let app = caller.app()?;
    let (s, token) = service::exchange_entry(&st.ctx, &app, &input.code).await?;
    Ok(Json(api::Started { session: views::session(&st.ctx.policy, &s), token }))
}

/// Activity from the agent's screen.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/heartbeat", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = api::Session), (status = 409, body = api::Problem)))]
pub async fn heartbeat(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Session>, ApiError> {
    let s = service::heartbeat(&st.ctx, &caller.0, &id).await?;
    Ok(Json(views::session(&st.ctx.policy, &s)))
}

/// The session's events, oldest first, each with its plain line.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/timeline", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = api::Timeline), (status = 404, body = api::Problem)))]
pub async fn timeline(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Timeline>, ApiError> {
    let staff = caller.staff()?;
    let events = service::timeline(&st.ctx, &staff, &id).await?;
    Ok(Json(api::Timeline { session_id: id.into(), events: events.into_iter().map(views::timeline_event).collect() }))
}

/// Server-Sent Events: every session state change (`session.started`,
/// `session.ended`, `session.expired`, `session.idle_timeout`,
/// `session.revoked`, `session.ticket_closed`, `scope.changed`), in trail
/// order, each with the session as it stands when the change is sent (so a
/// change read late may already show a later one's state).
#[utoipa::path(get, path = "/api/v1/sessions/feed", tag = "sessions",
    responses((status = 200, description = "text/event-stream of SessionChange", body = api::SessionChange, content_type = "text/event-stream"), (status = 401, body = api::Problem)))]
pub async fn feed(
    State(st): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    crate::authz::allow(&caller.0, crate::authz::Act::Feed, st.ctx.clock.now())?;
    // An app follows only the sessions issued for it.
    let only_app = match &caller.0 {
        service::Principal::App(a) => Some(a.id.clone()),
        _ => None,
    };
    let visible = move |c: &api::SessionChange| only_app.as_ref().is_none_or(|a| &c.session.app_id == a);
    let backlog_visible = visible.clone();
    // Subscribe before reading the backlog, so nothing falls in between.
    let rx = st.ctx.feed.subscribe();
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let (backlog, mut last) = match resume {
        Some(after) => crate::feed::changes_after(&st.ctx.store, &st.ctx.policy, after).await?,
        None => (Vec::new(), 0),
    };
    if resume.is_none() {
        last = i64::MIN;
    }
    let live = BroadcastStream::new(rx).filter_map(move |item| item.ok().filter(|c| c.seq > last && visible(c)));
    let backlog: Vec<api::SessionChange> = backlog.into_iter().filter(|c| backlog_visible(c)).collect();
    let stream = tokio_stream::iter(backlog).chain(live).filter_map(|change| {
        let data = serde_json::to_string(&change).ok()?;
        Some(Ok(Event::default().event(change.kind.as_str()).id(change.seq.to_string()).data(data)))
    });
    let mut closing = st.closing.clone();
    let closed = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    // When the server stops, the stream ends with a hint to reconnect soon
    // (to another node, or this one once it is back), from `Last-Event-ID`.
    let goodbye = futures::stream::once(async {
        Ok(Event::default().retry(crate::http::connections::RECONNECT_AFTER).comment("actas is stopping: reconnect"))
    });
    let stream = futures::StreamExt::chain(futures::StreamExt::take_until(stream, closed), goodbye);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
