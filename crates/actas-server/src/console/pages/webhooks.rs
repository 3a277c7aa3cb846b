//! `GET /webhooks`: the endpoints that receive audit events, for admins:
//! sending or paused, how far each got, and why one failed; a paused one
//! can be resumed. `GET /webhooks/{id}`: its delivery log (which event,
//! when, the receiver's answer; never the payload), each attempt with
//! "Send again". Endpoints are added with `actas webhook add`.

use actas_core::webhook::{Webhook, WebhookState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{html, Markup};
use serde::Deserialize;

use super::Answer;
use crate::authz::Act;
use crate::console::auth::{permit, Fields, SignedIn};
use crate::console::ui::{badge, moment};
use crate::console::{encode, layout, page};
use crate::service;
use crate::AppState;

fn state_badge(w: &Webhook) -> Markup {
    match w.state {
        WebhookState::Active if w.failures > 0 => badge("waiting", "retrying"),
        WebhookState::Active => badge("approved", "sending"),
        WebhookState::Paused => badge("denied", "paused"),
    }
}

fn events_words(w: &Webhook) -> String {
    w.events.to_string()
}

/// What went wrong, and when it is tried again.
fn trouble(now: actas_core::Timestamp, w: &Webhook) -> Markup {
    html! {
        @if let Some(e) = &w.last_error {
            (w.failures) " failed attempt" @if w.failures != 1 { "s" } " in a row at event #" (w.after_seq + 1)
            " (last: " (e) ")"
            @if w.state == WebhookState::Active { @if let Some(t) = w.next_attempt_at { "; next try " (moment(now, t)) } }
            "."
        }
    }
}

/// The alert an admin sees for paused endpoints, on this page and at home.
pub(crate) fn paused_alert(hooks: &[Webhook]) -> Markup {
    let paused: Vec<&Webhook> = hooks.iter().filter(|w| w.state == WebhookState::Paused).collect();
    html! {
        @if !paused.is_empty() {
            div.alert role="alert" #webhooks-paused {
                p {
                    strong { "Paused webhook" @if paused.len() > 1 { "s" } ": " }
                    "nothing is sent to "
                    @for (i, w) in paused.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(format!("/webhooks/{}", w.id)) { (w.url) }
                    }
                    " since it kept failing. Resume once the receiver works; it sends from where it stopped."
                }
            }
        }
    }
}

/// `GET /webhooks`.
pub async fn webhooks(State(state): State<AppState>, who: SignedIn) -> Answer {
    permit(&state, &who, Act::Administer, "Webhooks")?;
    let hooks = service::list_webhooks(&state.ctx, &who.staff).await?;
    let now = state.ctx.clock.now();
    let body = html! {
        (paused_alert(&hooks))
        p.hint {
            "Each webhook receives the audit events it chose as signed JSON (Standard Webhooks), in trail order, "
            "retried with backoff; one that fails " (actas_core::webhook::PAUSE_AFTER) " times in a row is paused. "
            "Add one with " code { "actas webhook add URL --events TYPE…" } " (or " code { "'*'" } ")."
        }
        @if hooks.is_empty() {
            p.empty { "No webhook is set up." }
        } @else {
            div.wide {
                table.data #webhooks {
                    thead { tr { th scope="col" { "Address" } th scope="col" { "Events" } th scope="col" { "State" } th scope="col" { "Progress" } } }
                    tbody {
                        @for w in &hooks {
                            tr {
                                td data-label="Address" { a href=(format!("/webhooks/{}", w.id)) { (w.url) } }
                                td data-label="Events" { (events_words(w)) }
                                td data-label="State" { (state_badge(w)) }
                                td data-label="Progress" { "Sent through event #" (w.after_seq) ". " (trouble(now, w)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Webhooks", Some(&who), body)))
}

/// `GET /webhooks/{id}` query: what was just done.
#[derive(Debug, Default, Deserialize)]
pub struct WebhookQuery {
    #[serde(default)]
    replayed: Option<String>,
    #[serde(default)]
    resumed: Option<String>,
}

/// `GET /webhooks/{id}`.
pub async fn webhook(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<WebhookQuery>,
) -> Answer {
    permit(&state, &who, Act::Administer, "Webhooks")?;
    let (w, log) = service::deliveries(&state.ctx, &who.staff, &id).await?;
    let now = state.ctx.clock.now();
    let replayed = q.replayed.as_deref().and_then(|d| log.iter().find(|x| x.id == d));
    let body = html! {
        @if let Some(d) = replayed {
            p.ok role="status" #replayed {
                "Event #" (d.seq) " was sent again: "
                @if d.ok { "the receiver took it." } @else { "it failed (" (d.status.map_or_else(|| d.error.clone().unwrap_or_default(), |s| format!("HTTP {s}"))) ")." }
            }
        }
        @if q.resumed.is_some() && w.state == WebhookState::Active {
            p.ok role="status" #resumed { "Resumed: it sends again from event #" (w.after_seq + 1) "." }
        }
        div.card {
            div.card-head { h2 { (w.url) } (state_badge(&w)) }
            p { "Events: " (events_words(&w)) "." }
            p { "Sent through event #" (w.after_seq) ". " (trouble(now, &w)) }
            p.meta { "Added " (moment(now, w.created_at)) " by " (w.created_by) "." }
            form #remove-form method="post" action=(format!("/webhooks/{}/remove", w.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                p.hint #remove-hint { "Removing it stops sending to it for good and deletes its delivery log; the events stay in the audit trail." }
                button.danger type="submit" aria-describedby="remove-hint" { "Remove this webhook" }
            }
            @if w.state == WebhookState::Paused {
                form #resume-form method="post" action=(format!("/webhooks/{}/resume", w.id)) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    p.hint #resume-hint { "It kept failing. Once the receiver works, resume it: it sends from the event it stopped at, in order." }
                    button.primary type="submit" aria-describedby="resume-hint" { "Resume sending" }
                }
            }
        }
        h2 { "Deliveries" }
        p.hint { "The latest " (service::DELIVERIES_SHOWN) " attempts, the latest first. The log keeps no payload: the events themselves are in the audit trail." }
        @if log.is_empty() {
            p.empty { "Nothing was sent yet." }
        } @else {
            div.wide {
                table.data #deliveries {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Attempt" }
                        th scope="col" { "Answer" } th scope="col" { span.hidden { "Send again" } }
                    } }
                    tbody {
                        @for d in &log {
                            tr {
                                td data-label="When" { (moment(now, d.at)) }
                                td data-label="Event" { "#" (d.seq) " " code { (d.event_type.as_str()) } }
                                td data-label="Attempt" { (d.attempt) @if d.replay { " (sent again by hand)" } }
                                td data-label="Answer" {
                                    @if d.ok { (badge("approved", "taken")) " " } @else { (badge("denied", "failed")) " " }
                                    @match (d.status, &d.error) {
                                        (Some(s), _) => { "HTTP " (s) }
                                        (None, Some(e)) => { (e) }
                                        (None, None) => {}
                                    }
                                }
                                td {
                                    form method="post" action=(format!("/webhooks/{}/deliveries/{}/replay", w.id, d.id)) {
                                        input type="hidden" name="csrf" value=(who.csrf);
                                        button type="submit" aria-label=(format!("Send again: event #{}", d.seq)) { "Send again" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Webhook", Some(&who), body)))
}

/// `POST /webhooks/{id}/resume`.
pub async fn resume(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Webhooks")?;
    service::resume_webhook(&state.ctx, &who.staff, &id).await?;
    Ok(Redirect::to(&format!("/webhooks/{}?resumed=1", encode(&id))).into_response())
}

/// `POST /webhooks/{id}/remove`.
pub async fn remove(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Webhooks")?;
    service::remove_webhook_as(&state.ctx, &who.staff, &id).await?;
    Ok(Redirect::to("/webhooks?removed=1").into_response())
}

/// `POST /webhooks/{id}/deliveries/{delivery}/replay`: sends the event
/// again, then shows how it went.
pub async fn replay(
    State(state): State<AppState>,
    who: SignedIn,
    Path((id, delivery)): Path<(String, String)>,
    form: Fields,
) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Webhooks")?;
    let d = service::replay_delivery(&state.ctx, &who.staff, &id, &delivery).await?;
    Ok(Redirect::to(&format!("/webhooks/{}?replayed={}", encode(&id), encode(&d.id))).into_response())
}
