//! `GET /launch?ticket=REF`, the request form for a ticket (the actions
//! with the allowed / not-allowed lists, the reason and the duration), and
//! `POST /requests`, which opens the request or shows the form again with
//! the refusal next to its field; `POST /tickets`, a ticket typed in by
//! hand where no ticket system sends it.
use actas_api as api;
use actas_core::limits;
use actas_core::model::{Role, Ticket};
use actas_core::policy::Policy;
use actas_core::Code;
use actas_core::{Error, Timestamp};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    action_choices, clock_words, field_error, lists, minute_choices, playbook_note, refusal, ticket_card, urlencode,
    Answer, FieldError,
};
use crate::authz::Act;
use crate::console::auth::{permit, Fields, SignedIn};
use crate::console::ui::moment;
use crate::console::{layout, page, ConsoleError};
use crate::service::{self, Principal};
use crate::AppState;

/// The ticket reference form that leads to the request form.
pub(super) fn ticket_form(value: &str) -> Markup {
    html! {
        form method="get" action="/launch" {
            label for="ticket" { "Ticket reference" }
            div.row {
                input type="text" id="ticket" name="ticket" value=(value) required inputmode="text";
                button type="submit" { "Open the request form" }
            }
        }
    }
}

/// `GET /launch?ticket=REF` query.
#[derive(Debug, Deserialize)]
pub struct LaunchQuery {
    #[serde(default)]
    ticket: String,
}

struct Draft {
    reason: String,
    actions: Vec<String>,
    minutes: u32,
    breakglass: bool,
}

fn request_form(
    policy: &Policy,
    who: &SignedIn,
    t: &Ticket,
    d: &Draft,
    now: Timestamp,
    err: Option<&FieldError>,
    grant: Option<Option<Timestamp>>,
) -> Markup {
    let general = err.filter(|e| !matches!(e.field.as_str(), "reason" | "actions" | "minutes"));
    let actions_err = FieldError::at(err, "actions");
    let reason_err = FieldError::at(err, "reason");
    let minutes_err = FieldError::at(err, "minutes");
    let needs = service_needs_person(policy, &d.actions);
    let needs_text = "A lead must approve this request before you can start the session.";
    let none_text = "Approved by policy at once: every action ticked needs no approval.";
    let playbook = policy.playbook_for(&t.tags);
    let (start, end) = plan_words(needs, d.minutes, now);
    html! {
        (ticket_card(policy, t))
        @match grant {
            Some(None) => {
                p.alert #consent {
                    (t.account_label()) " lets support in only with the customer's permission, and none is live. "
                    "Ask the customer to allow support access from their account; until then a request is refused."
                }
            }
            Some(Some(until)) => {
                p.hint #consent {
                    "The customer allowed support in until " (moment(now, until)) "; a session ends no later than that."
                }
            }
            None => {}
        }
        @if let Some(b) = playbook {
            p.playbook {
                "Suggested for this kind of case: " (policy.labels(&b.actions)) " for " (b.minutes)
                " minutes. Ask for more only when the case needs it; a lead sees anything beyond the suggestion."
            }
        }
        form #request-form method="post" action="/requests" {
            @if let Some(e) = general { p.alert role="alert" { (e.detail) } }
            input type="hidden" name="csrf" value=(who.csrf);
            input type="hidden" name="ticket" value=(t.reference);
            fieldset aria-describedby=[actions_err.map(|_| "actions-error")] {
                legend { "What do you need to do?" }
                (field_error("actions-error", actions_err))
                (action_choices(policy, "g", |_| true, &d.actions, |a| {
                    playbook
                        .is_some_and(|b| b.actions.contains(&a.name))
                        .then(|| html! { span.suggested { "suggested for this kind of case" } })
                }))
            }
            label for="reason" { "Reason" }
            p.hint #reason-hint {
                "At least " (policy.reason.min_chars) " characters that name the customer's problem: what is wrong, and where."
            }
            (field_error("reason-error", reason_err))
            textarea #reason name="reason" required maxlength=(limits::REASON_CHARS)
                aria-describedby=(if reason_err.is_some() { "reason-hint reason-error" } else { "reason-hint" }) { (d.reason) }
            label for="minutes" { "For how long" }
            (field_error("minutes-error", minutes_err))
            div.duration {
                select #minutes name="minutes" aria-describedby=(if minutes_err.is_some() { "plan minutes-error" } else { "plan" }) {
                    @for m in minute_choices(policy.session.max_minutes, policy.session.default_minutes) {
                        option value=(m) selected[m == d.minutes] { (m) " minutes" }
                    }
                }
                p.plan #plan aria-live="polite" data-now=(now.timestamp_millis()) {
                    "Planned start: " strong #plan-start { (start) }
                    " · Planned end: " strong #plan-end { (end) }
                }
            }
            (lists(policy, &d.actions, true))
            (playbook_note(policy, playbook.map(|b| b.name.as_str()), &d.actions))
            @if let (Some(g), true) = (&policy.breakglass, who.staff.has(Role::Breakglass)) {
                fieldset #breakglass.breakglass {
                    legend { "An outage, and no lead to reach?" }
                    label.check {
                        input type="checkbox" name="breakglass" value="1" checked[d.breakglass]
                            aria-describedby="breakglass-hint";
                        " Break glass: start without a lead's approval"
                    }
                    p.hint #breakglass-hint {
                        "Only for " (policy.labels(&g.actions)) ", for at most " (g.max_minutes) " minutes. "
                        "Every lead is told at once, the customer's screen and the trail mark the session, "
                        "and a lead reviews it after it ends."
                    }
                }
            }
            p #approval data-needs=(needs_text) data-none=(none_text) {
                @if d.actions.is_empty() { "Tick at least one action." } @else if needs { (needs_text) } @else { (none_text) }
            }
            p { button.primary type="submit" { "Ask for access" } }
        }
    }
}

/// The planned start and end beside the duration, in the words
/// `assets/console.js` writes as the boxes and the duration change: a
/// request approved by policy starts when the agent starts it; one a lead
/// must approve, once a lead approves.
fn plan_words(needs: bool, minutes: u32, now: Timestamp) -> (&'static str, String) {
    let end = clock_words(now + actas_core::clock::minutes(minutes));
    if needs {
        ("as soon as a lead approves", format!("{minutes} minutes after you start it: {end} at the earliest"))
    } else {
        ("now, when you start it", format!("{end} if you start it now ({minutes} minutes)"))
    }
}

fn service_needs_person(policy: &Policy, actions: &[String]) -> bool {
    actas_core::flow::needs_person(policy, actions)
}

async fn find_ticket_as(state: &AppState, who: &SignedIn, reference: &str) -> Result<Option<Ticket>, ConsoleError> {
    match service::get_ticket(&state.ctx, &Principal::Staff(who.staff.clone()), reference).await {
        Ok((t, _, _)) => Ok(Some(t)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn no_ticket(state: &AppState, who: &SignedIn, reference: &str) -> Response {
    let body = html! {
        p.alert role="alert" { "There is no ticket " (reference) ". Check the reference, or ask for the ticket to be sent to actas first." }
        (ticket_form(reference))
        (by_hand_form(state, who, reference, "", "", None))
    };
    page(StatusCode::NOT_FOUND, layout("No such ticket", Some(who), body))
}

/// Typing a ticket in by hand, where no ticket system sends it: the ticket
/// is marked as such everywhere, and the policy may refuse requests on it.
fn by_hand_form(
    state: &AppState,
    who: &SignedIn,
    reference: &str,
    account: &str,
    subject: &str,
    err: Option<&FieldError>,
) -> Markup {
    use actas_core::policy::RequireSystem;
    let rule = state.ctx.policy.tickets.require_system;
    html! {
        form #by-hand method="post" action="/tickets" {
            h2 { "Type the ticket in by hand" }
            p.hint {
                "Only where no ticket system sends its tickets to actas. The ticket is marked as typed in by hand in the trail and here."
                @match rule {
                    RequireSystem::Never => {},
                    RequireSystem::Changes => { " The policy allows only view actions on such tickets." },
                    RequireSystem::Always => { " The policy takes no request on such tickets." },
                }
            }
            @if let Some(e) = err { p.alert role="alert" { (e.detail) } }
            input type="hidden" name="csrf" value=(who.csrf);
            label for="h-ref" { "Ticket reference" }
            input type="text" id="h-ref" name="ref" value=(reference) required maxlength="100";
            label for="h-account" { "Customer account id" }
            input type="text" id="h-account" name="account_id" value=(account) required maxlength="100";
            label for="h-subject" { "Subject" }
            input type="text" id="h-subject" name="subject" value=(subject) required maxlength="500";
            p { button type="submit" { "Record the ticket" } }
        }
    }
}

/// `POST /tickets`: records a ticket typed in by hand, then opens its
/// request form; a refusal shows the form again.
pub async fn create_ticket(State(state): State<AppState>, who: SignedIn, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::CreateTicket, "Recording a ticket")?;
    let input = api::NewTicket {
        reference: form.get("ref").trim().to_string(),
        account_id: form.get("account_id").trim().to_string(),
        account_name: None,
        subject: form.get("subject").trim().to_string(),
        url: None,
        ..Default::default()
    };
    match service::create_ticket(&state.ctx, &Principal::Staff(who.staff.clone()), input.clone()).await {
        Ok((t, _)) => Ok(Redirect::to(&format!("/launch?ticket={}", urlencode(&t.reference))).into_response()),
        Err(e @ (Error::Refused { .. } | Error::BadRequest { .. } | Error::Conflict { .. })) => {
            let (status, err) = refusal(e);
            let body = by_hand_form(&state, &who, &input.reference, &input.account_id, &input.subject, Some(&err));
            Ok(page(status, layout("Type a ticket in by hand", Some(&who), body)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /launch?ticket=REF`: the request form for a ticket.
pub async fn launch(State(state): State<AppState>, who: SignedIn, Query(q): Query<LaunchQuery>) -> Answer {
    permit(&state, &who, Act::CreateRequest, "Asking for access")?;
    let reference = q.ticket.trim();
    if reference.is_empty() {
        let body = ticket_form("");
        return Ok(page(StatusCode::OK, layout("Ask for access", Some(&who), body)));
    }
    let Some(t) = find_ticket_as(&state, &who, reference).await? else { return Ok(no_ticket(&state, &who, reference)) };
    let policy = &state.ctx.policy;
    // A ticket whose tags name a playbook opens with its scope ticked.
    let draft = match policy.playbook_for(&t.tags) {
        Some(b) => Draft { reason: String::new(), actions: b.actions.clone(), minutes: b.minutes, breakglass: false },
        None => Draft {
            reason: String::new(),
            actions: Vec::new(),
            minutes: policy.session.default_minutes,
            breakglass: false,
        },
    };
    let grant = service::grant_for_request(&state.ctx, &who.staff, &t.account_id).await?;
    let body = request_form(policy, &who, &t, &draft, state.ctx.clock.now(), None, grant);
    Ok(page(StatusCode::OK, layout("Ask for access", Some(&who), body)))
}

/// `POST /requests`: opens a request; a refusal shows the form again.
pub async fn create_request(State(state): State<AppState>, who: SignedIn, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::CreateRequest, "Asking for access")?;
    let policy = state.ctx.policy.clone();
    let reference = form.get("ticket").trim().to_string();
    let minutes = form.get("minutes").trim().parse::<u32>().ok();
    let draft = Draft {
        reason: form.get("reason").to_string(),
        actions: form.all("actions"),
        minutes: minutes.unwrap_or(policy.session.default_minutes),
        breakglass: form.get("breakglass") == "1",
    };
    let outcome = match minutes {
        None => Err(Error::refused(Code::DurationInvalid, Some("minutes"), "Pick a duration from the list.")),
        Some(m) => {
            let input = api::NewRequest {
                ticket: reference.clone(),
                account_id: None,
                reason: draft.reason.clone(),
                actions: draft.actions.clone(),
                minutes: Some(m),
                breakglass: draft.breakglass,
            };
            service::create_request(&state.ctx, &who.staff, input).await
        }
    };
    match outcome {
        Ok(r) => Ok(Redirect::to(&format!("/requests/{}", r.id)).into_response()),
        Err(e @ (Error::Refused { .. } | Error::BadRequest { .. })) => {
            let Some(t) = find_ticket_as(&state, &who, &reference).await? else {
                return Ok(no_ticket(&state, &who, &reference));
            };
            let (status, err) = refusal(e);
            let grant = service::grant_for_request(&state.ctx, &who.staff, &t.account_id).await?;
            let body = request_form(&policy, &who, &t, &draft, state.ctx.clock.now(), Some(&err), grant);
            Ok(page(status, layout("Ask for access", Some(&who), body)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_says_when_it_starts_and_ends_in_clock_times() {
        let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 25, 14, 0, 30).single().unwrap();
        assert_eq!(
            plan_words(false, 15, now),
            ("now, when you start it", "14:15 UTC if you start it now (15 minutes)".into())
        );
        assert_eq!(
            plan_words(true, 20, now),
            ("as soon as a lead approves", "20 minutes after you start it: 14:20 UTC at the earliest".into())
        );
    }
}
