//! Administration views: staff, apps and the loaded policy, for admins.
//! They are read-only; staff and apps are added with the `actas` command
//! and the policy is a file read at start.

use actas_core::policy::{Action, ActionKind, Approval};
use axum::extract::State;
use axum::http::StatusCode;
use maud::{html, Markup};

use super::Answer;
use crate::authz::Act;
use crate::console::auth::{permit, SignedIn};
use crate::console::ui::{action_badges, badge};
use crate::console::{layout, page};
use crate::service;
use crate::AppState;

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `GET /staff`.
pub async fn staff(State(state): State<AppState>, who: SignedIn) -> Answer {
    permit(&state, &who, Act::Administer, "The staff list")?;
    let all = service::list_staff(&state.ctx, &who.staff).await?;
    let body = html! {
        p.hint #read-only {
            "This page is read-only. Staff are added, given a password or disabled on the command line: "
            code { "actas staff add LOGIN --name NAME --role ROLE" } ", "
            code { "actas staff password LOGIN" } ", " code { "actas staff disable LOGIN" } "."
        }
        div.wide {
            table.data #staff {
                thead { tr { th scope="col" { "Login" } th scope="col" { "Name" } th scope="col" { "Roles" } th scope="col" { "State" } } }
                tbody {
                    @for s in &all {
                        @let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
                        tr {
                            td data-label="Login" { code { (s.id) } }
                            td data-label="Name" { (s.name) }
                            td data-label="Roles" { (roles.join(", ")) }
                            td data-label="State" { @if s.disabled { (badge("denied", "disabled")) } @else { (badge("live", "active")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Staff", Some(&who), body)))
}

/// `GET /apps`.
pub async fn apps(State(state): State<AppState>, who: SignedIn) -> Answer {
    permit(&state, &who, Act::Administer, "The list of apps")?;
    let all = service::list_apps(&state.ctx, &who.staff).await?;
    let body = html! {
        p.hint #read-only {
            "This page is read-only. Apps are registered on the command line: "
            code { "actas app add NAME [--tickets [--connector zendesk|jira --secret-stdin]] [--scim] [--origin URL]" }
            ", which prints the app key once."
        }
        @if all.is_empty() { p { "No app is registered yet." } }
        @else {
            div.wide {
                table.data #apps {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "May push tickets" } th scope="col" { "Provisions staff (SCIM)" } th scope="col" { "Web origins" } } }
                    tbody {
                        @for a in &all {
                            tr {
                                td data-label="Name" { (a.name) }
                                td data-label="Id" { code { (a.id) } }
                                td data-label="May push tickets" { (yes_no(a.tickets)) }
                                td data-label="Provisions staff (SCIM)" { (yes_no(a.scim)) }
                                td data-label="Web origins" {
                                    @if a.origins.is_empty() { "none" }
                                    @else { ul { @for o in &a.origins { li { (o) } } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Apps", Some(&who), body)))
}

/// Which values a change action keeps, in words.
fn stored_values(a: &Action) -> Markup {
    match (&a.store_values, a.kind, a.redact) {
        (_, ActionKind::View, _) => html! { "—" },
        (_, _, true) => html! { "none" },
        (Some(list), _, _) if list.is_empty() => html! { "none" },
        (Some(list), _, _) => html! { @for (i, f) in list.iter().enumerate() { @if i > 0 { ", " } code { (f) } } },
        (None, _, _) => html! { "all but secret-looking fields" },
    }
}

/// `GET /policy`.
pub async fn policy(State(state): State<AppState>, who: SignedIn) -> Answer {
    permit(&state, &who, Act::Administer, "The policy")?;
    let p = &state.ctx.policy;
    let body = html! {
        p.hint #read-only {
            "This page is read-only. The policy is the file given to " code { "actas serve --policy FILE" }
            " (or the shipped default), read when the server starts; check a new file with "
            code { "actas policy check FILE" } " and restart to load it."
        }
        p { "Policy digest: " code { (p.digest()) } }
        h2 { "Sessions" }
        table.data #session-rules {
            tbody {
                tr { th scope="row" { "Default length" } td { (p.session.default_minutes) " minutes" } }
                tr { th scope="row" { "Longest allowed" } td { (p.session.max_minutes) " minutes" } }
                tr { th scope="row" { "Ends after no activity for" } td { (p.session.idle_minutes) " minutes" } }
                tr { th scope="row" { "An approval must be used within" } td { (p.session.approval_valid_minutes) " minutes" } }
                tr { th scope="row" { "More actions mid-session" } td { (p.session.scope_change.as_str()) } }
            }
        }
        h2 { "Reasons" }
        p { "A reason has at least " (p.reason.min_chars) " characters and is none of these vague phrases (case and punctuation ignored):" }
        ul #vague { @for v in &p.reason.vague { li { q { (v) } } } }
        h2 { "Actions" }
        div.wide {
            table.data #actions {
                thead {
                    tr {
                        th scope="col" { "Name" } th scope="col" { "Label" } th scope="col" { "Kind" }
                        th scope="col" { "Approval" } th scope="col" { "Approvers" } th scope="col" { "Sensitive" }
                        th scope="col" { "Values redacted" } th scope="col" { "Values stored" }
                    }
                }
                tbody {
                    @for a in p.actions() {
                        @let approvers: Vec<&str> = a.approvers.iter().map(|r| r.as_str()).collect();
                        tr {
                            td data-label="Name" { code { (a.name) } }
                            td data-label="Label" { (a.label) @if a.approval != Approval::None || a.sensitive { br; (action_badges(a)) } }
                            td data-label="Kind" { (a.kind.as_str()) }
                            td data-label="Approval" { (a.approval.as_str()) }
                            td data-label="Approvers" { @if a.approval == Approval::Required { (approvers.join(", ")) } @else { "—" } }
                            td data-label="Sensitive" { (yes_no(a.sensitive)) }
                            td data-label="Values redacted" { (yes_no(a.redact)) }
                            td data-label="Values stored" { (stored_values(a)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Policy", Some(&who), body)))
}
