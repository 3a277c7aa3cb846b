//! `GET /live`: a Server-Sent Events stream that tells a signed-in person's
//! open console pages that something they show may have changed, so their
//! live boxes refresh at once instead of at their next poll.
//!
//! Fed by the session feed's tail (`crate::feed`), which reads every new
//! event of the trail, whichever node committed it, while a console stream
//! is open on this node. An event is only the word `changed`: the boxes
//! fetch their own fragments, which are checked as every page is. A person
//! hears only of events about their own requests and sessions and about
//! tickets assigned to them (their inbox), unless they are a lead or
//! auditor (who see everyone's). A person holds at most
//! [`MAX_STREAMS`] streams on a node; a stream ends when the server stops
//! or when a check of the sign-in ([`RECHECK`]) finds it ended (signed out,
//! timed out, disabled).

use std::convert::Infallible;
use std::time::Duration;

use actas_core::model::Role;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use super::SignedIn;
use crate::feed::ConsoleChange;
use crate::AppState;

/// Streams one person may hold open on one node (tabs and windows). Low
/// on purpose: a browser opens at most six HTTP/1.1 connections to a host,
/// so tabs past this poll instead and leave connections for fetches.
pub const MAX_STREAMS: usize = 4;

/// How often an open stream checks that its sign-in still holds, so that
/// a stream ends within about a second of its console session being signed
/// out, timing out or its person being disabled, on whichever node that
/// happened (a sign-out is no event of the trail, so the stream asks the
/// database: one small read per open stream per interval).
pub const RECHECK: Duration = Duration::from_secs(1);

/// How often a comment keeps an idle stream open through proxies.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /live`: `event: changed` whenever something the person may see changed.
pub async fn live(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let Some(who) = signed_in(&st, &headers).await else {
        return refused(StatusCode::UNAUTHORIZED, "Sign in to the console first.");
    };
    let Some(slot) = st.ctx.feed.open_stream(&who.staff.id, MAX_STREAMS) else {
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many console pages are following changes; close some tabs. The others still refresh themselves.",
        );
    };
    let rx = st.ctx.feed.watch_console();
    // Subscribed first, then the head read: whatever is committed after it
    // comes in a change with seqs past it; events at or before it are from
    // before this stream (the tail may read them late when no stream was
    // open) and not this stream's to hear of.
    let opened_at = trail_head(&st).await;
    let sees_all = who.staff.has(Role::Lead) || who.staff.has(Role::Auditor);
    let me = who.staff.id.clone();
    // A ticket system may name an agent by the e-mail address their
    // identity provider gave; their inbox lists those tickets too.
    let email = if who.staff.has(Role::Agent) { email_of(&st, &me).await } else { None };
    let concerns = move |c: &ConsoleChange| {
        if sees_all {
            return c.last > opened_at;
        }
        c.names(opened_at, |who| who == me || email.as_deref() == Some(who))
    };
    let state = Watch { st, headers, rx, _slot: slot, next_check: tokio::time::Instant::now() + RECHECK };
    let stream = futures::stream::unfold(Some(state), move |w| {
        let concerns = concerns.clone();
        async move { next(w?, concerns).await }
    });
    let mut res = Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}

struct Watch {
    st: AppState,
    headers: HeaderMap,
    rx: tokio::sync::broadcast::Receiver<ConsoleChange>,
    /// Gives the person's place back when the stream ends.
    _slot: crate::feed::StreamSlot,
    next_check: tokio::time::Instant,
}

/// The next event of the stream, or its end.
async fn next(
    mut w: Watch,
    concerns: impl Fn(&ConsoleChange) -> bool,
) -> Option<(Result<Event, Infallible>, Option<Watch>)> {
    let mut closing = w.st.closing.clone();
    loop {
        if *closing.borrow() {
            return None;
        }
        tokio::select! {
            got = w.rx.recv() => match got {
                Ok(c) if concerns(&c) => return Some((Ok(changed()), Some(w))),
                Ok(_) => {}
                // Missed some: say "changed", the boxes will look.
                Err(RecvError::Lagged(_)) => return Some((Ok(changed()), Some(w))),
                Err(RecvError::Closed) => return None,
            },
            _ = tokio::time::sleep_until(w.next_check) => {
                signed_in(&w.st, &w.headers).await?;
                w.next_check = tokio::time::Instant::now() + RECHECK;
            }
            _ = closing.changed() => return None,
        }
    }
}

/// The seq of the trail's head; 0 when it cannot be read (the stream
/// then hears of every change it is told of).
async fn trail_head(st: &AppState) -> i64 {
    match crate::feed::head_seq(&st.ctx.store).await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::warn!(error = %e, "a console stream cannot read the trail's head");
            0
        }
    }
}

/// The e-mail address kept for staff member `login`, when there is one
/// (and none when it cannot be read: the stream then hears of tickets
/// assigned to the login only).
async fn email_of(st: &AppState, login: &str) -> Option<String> {
    let login = login.to_string();
    let profile = st
        .ctx
        .store
        .read(actas_store::read_fn(move |tx| Box::pin(async move { tx.get_staff_profile(&login).await })))
        .await;
    profile.ok().flatten().and_then(|(_, p)| p.email)
}

fn changed() -> Event {
    Event::default().event("changed").data("changed")
}

/// The person of the console cookie in `headers`, while their sign-in
/// holds; a stream is not activity.
async fn signed_in(st: &AppState, headers: &HeaderMap) -> Option<SignedIn> {
    SignedIn::from_cookie(headers, "/live", st, false).await.ok()
}

fn refused(status: StatusCode, sentence: &'static str) -> Response {
    let mut res = (status, sentence).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}
