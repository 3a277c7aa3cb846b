//! `GET /accounts?id=`, the account look-up, and
//! `GET /accounts/{id}/access-log`: who from support entered a customer's
//! account, why, and what they changed, newest first.
use actas_core::limits::one_line;
use actas_core::model::{Role, SessionState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{html, Markup};
use serde::Deserialize;

use super::{field_error, Answer};
use crate::authz::Act;
use crate::console::auth::{permit, SignedIn};
use crate::console::ui::{moment, session_badge};
use crate::console::{encode, layout, page};
use crate::service::{self, Principal};
use crate::AppState;

/// The account look-up form that leads to an access log.
pub(super) fn account_form(value: &str, err: Option<&str>) -> Markup {
    html! {
        form #account-lookup method="get" action="/accounts" {
            label for="account-id" { "Customer account id" }
            (field_error("account-id-error", err))
            div.row {
                input type="text" id="account-id" name="id" value=(value) required
                    aria-describedby=[err.map(|_| "account-id-error")];
                button.primary type="submit" { "Show who accessed it" }
            }
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// `GET /accounts?id=`: the account look-up form leads to the access log.
pub async fn find_account(State(state): State<AppState>, who: SignedIn, Query(q): Query<AccountQuery>) -> Answer {
    permit(&state, &who, Act::ReadAccessLog, "An account's access log")?;
    let id = q.id.trim();
    if id.is_empty() {
        let body = account_form("", Some("Write the customer account id, like acct_42."));
        return Ok(page(StatusCode::BAD_REQUEST, layout("An account's access log", Some(&who), body)));
    }
    Ok(Redirect::to(&format!("/accounts/{}/access-log", encode(id))).into_response())
}

/// `GET /accounts?id=` query.
#[derive(Debug, Default, Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    id: String,
}

/// `GET /accounts/{id}/access-log`: who entered the account, newest first.
pub async fn access_log(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>) -> Answer {
    let entries = service::access_log(&state.ctx, &Principal::Staff(who.staff.clone()), &id, 200).await?;
    let reviewer = who.staff.has(Role::Lead) || who.staff.has(Role::Auditor) || who.staff.has(Role::Admin);
    let now = state.ctx.clock.now();
    let body = html! {
        p { "Support sessions on account " strong { (id) } ", newest first, as the customer is told about them." }
        (account_form(&id, None))
        @if entries.is_empty() { p #no-sessions { "No one from support has entered this account." } }
        @for e in &entries {
            article.card.access {
                div.card-head {
                    h2 { (e.agent_name) ", ticket " (e.ticket) }
                    (session_badge(e.state, e.end_reason))
                }
                p {
                    @if e.state == SessionState::Live {
                        "From " (moment(now, e.started_at)) ", " strong { "in progress" } " (until " (moment(now, e.ended_at)) " at the latest)."
                    } @else {
                        "From " (moment(now, e.started_at)) " to " (moment(now, e.ended_at))
                        @if let Some(r) = &e.end_reason { " (" (r.as_str().replace('_', " ")) ")" } "."
                    }
                }
                p { (capitalized(&e.approved_by)) "." }
                p { "Reason: " q { (one_line(&e.reason)) } }
                p { "Allowed: " (e.allowed.join(", ")) "." }
                @if e.changes.is_empty() {
                    p { "Nothing was changed." }
                } @else {
                    p { "What changed:" }
                    ul.changes { @for c in &e.changes { li { (c) } } }
                }
                @if reviewer { p { a href=(format!("/sessions/{}", e.session_id)) { "The session and its timeline" } } }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Access log", Some(&who), body)))
}
