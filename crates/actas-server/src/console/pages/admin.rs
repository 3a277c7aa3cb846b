//! Administration views: staff and apps, which admins add and change here
//! (each change through the same service call, and audited the same way,
//! as from the `actas` command), and the loaded policy, read-only.

use actas_core::connector::{Connector, Mapping};
use actas_core::model::{App, Role, Staff};
use actas_core::policy::{Action, ActionKind, Approval};
use actas_core::{Code, Error};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{html, Markup};
use serde::Deserialize;
use strum::VariantArray;

use super::{field_error, refusal, urlencode, Answer, FieldError};
use crate::authz::Act;
use crate::console::auth::{permit, Fields, SignedIn};
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

/// The signed-in admin as the trail names them.
fn actor(who: &SignedIn) -> actas_core::audit::Actor {
    actas_core::audit::Actor::staff(&who.staff.id, &who.staff.name)
}

/// The roles as words, "agent, lead".
fn role_words(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

/// What a role lets its holder do, under its checkbox.
fn role_hint(r: Role) -> &'static str {
    match r {
        Role::Agent => "asks for access and works in sessions",
        Role::Lead => "decides requests and ends sessions",
        Role::Admin => "manages staff and apps",
        Role::Auditor => "reads the audit trail",
        Role::Breakglass => "with agent: starts a session without approval in an outage",
    }
}

/// The roles ticked in a form, in the order of [`Role`]; unknown names ignored.
fn roles_of(form: &Fields) -> Vec<Role> {
    let asked = form.all("roles");
    Role::VARIANTS.iter().copied().filter(|r| asked.iter().any(|a| a == r.as_str())).collect()
}

/// The role checkboxes, `ticked` ticked, with the error of the `roles` field.
fn role_choices(id: &str, ticked: &[Role], err: Option<&str>) -> Markup {
    let err_id = format!("{id}-error");
    html! {
        fieldset #(id) aria-describedby=[err.map(|_| err_id.as_str())] {
            legend { "Roles" }
            (field_error(&err_id, err))
            @for r in Role::VARIANTS {
                label {
                    input type="checkbox" name="roles" value=(r.as_str()) checked[ticked.contains(r)];
                    " " strong { (r.as_str()) } " " span.hint { "(" (role_hint(*r)) ")" }
                }
            }
        }
    }
}

/// A text input with its label, hint and error; `describe` is the hint's id.
#[allow(clippy::too_many_arguments)]
fn text_field(
    id: &str,
    label: &str,
    kind: &str,
    value: &str,
    hint: Option<&str>,
    err: Option<&str>,
    required: bool,
    autocomplete: &str,
) -> Markup {
    let hint_id = format!("{id}-hint");
    let err_id = format!("{id}-error");
    let described: Vec<&str> =
        [hint.map(|_| hint_id.as_str()), err.map(|_| err_id.as_str())].into_iter().flatten().collect();
    html! {
        label for=(id) { (label) }
        @if let Some(h) = hint { p.hint id=(hint_id) { (h) } }
        (field_error(&err_id, err))
        input type=(kind) id=(id) name=(id) value=(value) required[required] autocomplete=(autocomplete)
            aria-invalid=[err.map(|_| "true")]
            aria-describedby=[(!described.is_empty()).then(|| described.join(" "))];
    }
}

/// `detail` as a sentence: a capital first letter and a full stop.
fn sentence(detail: &str) -> String {
    let mut c = detail.chars();
    let first = c.next().map(|f| f.to_uppercase().collect::<String>()).unwrap_or_default();
    let rest: String = c.collect();
    let end = if rest.ends_with('.') { "" } else { "." };
    format!("{first}{rest}{end}")
}

/// At the top of a long page refused at one field: what happened, linked
/// to the field (`(error field, input id)` pairs name the inputs).
fn refused_summary(err: Option<&FieldError>, inputs: &[(&str, &str)]) -> Markup {
    let Some((e, input)) = err.and_then(|e| inputs.iter().find(|(f, _)| *f == e.field).map(|(_, i)| (e, *i))) else {
        return html! {};
    };
    html! {
        p.alert #refused-summary { "Nothing was changed. " a href={ "#" (input) } { (e.detail) } }
    }
}

/// The general refusal of a form, when it concerns none of `fields`.
fn general<'a>(err: Option<&'a FieldError>, fields: &[&str]) -> Option<&'a str> {
    err.filter(|e| !fields.contains(&e.field.as_str())).map(|e| e.detail.as_str())
}

/// What the add-staff form holds.
#[derive(Default)]
struct StaffDraft {
    login: String,
    name: String,
    roles: Vec<Role>,
}

fn add_staff_form(who: &SignedIn, d: &StaffDraft, err: Option<&FieldError>) -> Markup {
    let at = |f| FieldError::at(err, f);
    html! {
        section.card #add-staff aria-labelledby="add-staff-title" {
            div.card-head { h2 #add-staff-title { "Add a staff member" } }
            form method="post" action="/staff" {
                @if let Some(e) = general(err, &["login", "name", "roles", "password"]) { p.alert role="alert" { (e) } }
                input type="hidden" name="csrf" value=(who.csrf);
                (text_field("login", "Login", "text", &d.login,
                    Some("Lowercase letters, digits, '.', '_', '-' or one '@', starting with a letter; it never changes."),
                    at("login"), true, "off"))
                (text_field("name", "Name", "text", &d.name, None, at("name"), true, "off"))
                (role_choices("new-roles", &d.roles, at("roles")))
                (text_field("password", "Console password (optional)", "password", "",
                    Some("Leave empty when they sign in through the identity provider. A password is at least 12 characters; it is not shown again."),
                    at("password"), false, "new-password"))
                p { button.primary type="submit" { "Add the staff member" } }
            }
        }
    }
}

async fn staff_page(state: &AppState, who: &SignedIn, d: &StaffDraft, err: Option<&FieldError>) -> Answer {
    let all = service::list_staff(&state.ctx, &who.staff).await?;
    let status = if err.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let body = html! {
        (refused_summary(err, &[("login", "login"), ("name", "name"), ("roles", "new-roles"), ("password", "password")]))
        p.hint { "Open a staff member to change their roles, set their console password, or disable them." }
        div.wide {
            table.data #staff {
                thead { tr { th scope="col" { "Login" } th scope="col" { "Name" } th scope="col" { "Roles" } th scope="col" { "State" } th scope="col" { "Change" } } }
                tbody {
                    @for s in &all {
                        tr {
                            td data-label="Login" { code { (s.id) } }
                            td data-label="Name" { (s.name) }
                            td data-label="Roles" { (role_words(&s.roles)) }
                            td data-label="State" { @if s.disabled { (badge("denied", "disabled")) } @else { (badge("live", "active")) } }
                            td data-label="Change" { a href={ "/staff/" (urlencode(&s.id)) } { "Manage " span.visually-hidden { (s.name) } } }
                        }
                    }
                }
            }
        }
        (add_staff_form(who, d, err))
    };
    Ok(page(status, layout("Staff", Some(who), body)))
}

/// `GET /staff`.
pub async fn staff(State(state): State<AppState>, who: SignedIn) -> Answer {
    permit(&state, &who, Act::Administer, "The staff list")?;
    staff_page(&state, &who, &StaffDraft::default(), None).await
}

/// `POST /staff`: adds a staff member and shows their first personal token
/// once; a refusal shows the form again with what was typed.
pub async fn add_staff(State(state): State<AppState>, who: SignedIn, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Adding staff")?;
    let d = StaffDraft {
        login: form.get("login").trim().to_string(),
        name: form.get("name").to_string(),
        roles: roles_of(&form),
    };
    let password = Some(form.get("password").to_string()).filter(|p| !p.is_empty());
    match service::add_staff(&state.ctx, actor(&who), &d.login, &d.name, d.roles.clone(), password).await {
        Ok((s, token)) => {
            let body = html! {
                p.ok role="status" { "Added " (s.name) " (" code { (s.id) } ") as " (role_words(&s.roles)) "." }
                section.card #token-card aria-labelledby="token-title" {
                    div.card-head { h2 #token-title { "Their personal token" } }
                    p.alert #shown-once {
                        strong { "Copy it now: it is shown only this once and never again." }
                        " Give it to " (s.name) " by a safe way; it lets them call the API as themselves. "
                        "Lost, it cannot be shown again."
                    }
                    p { code.shown-once #token { (token.expose()) } }
                }
                p { a href="/staff" { "Back to the staff list" } }
            };
            Ok(page(StatusCode::OK, layout("Staff member added", Some(&who), body)))
        }
        Err(e @ (Error::Refused { .. } | Error::BadRequest { .. } | Error::Conflict { .. })) => {
            let (status, mut err) = refusal(e);
            if err.field == "form" && status == StatusCode::CONFLICT {
                err.field = "login".into();
            }
            if err.field == "password" {
                err.detail = sentence(&err.detail);
            }
            let mut res = staff_page(&state, &who, &d, Some(&err)).await?;
            *res.status_mut() = status;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /staff/{login}?done=` query.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn find_staff(state: &AppState, who: &SignedIn, login: &str) -> Result<Staff, crate::console::ConsoleError> {
    let all = service::list_staff(&state.ctx, &who.staff).await?;
    all.into_iter().find(|s| s.id == login).ok_or_else(|| Error::not_found(format!("No staff member {login}.")).into())
}

async fn member_page(
    state: &AppState,
    who: &SignedIn,
    login: &str,
    done: Option<&str>,
    roles: Option<&[Role]>,
    err: Option<&FieldError>,
) -> Answer {
    let s = find_staff(state, who, login).await?;
    let ticked = roles.unwrap_or(&s.roles);
    let action = format!("/staff/{}", urlencode(&s.id));
    let done_words = match done {
        Some("roles") => Some(format!("{} now has the roles {}.", s.name, role_words(&s.roles))),
        Some("disabled") => {
            Some(format!("{} is disabled: they are signed out and any live session of theirs has ended.", s.name))
        }
        Some("enabled") => Some(format!("{} is enabled again and may sign in.", s.name)),
        Some("password") => Some(format!(
            "A new console password is set for {}; tell them by a safe way. It is not shown again.",
            s.name
        )),
        _ => None,
    };
    let status = err.map(|_| StatusCode::UNPROCESSABLE_ENTITY).unwrap_or(StatusCode::OK);
    let body = html! {
        (refused_summary(err, &[("roles", "roles"), ("password", "password")]))
        @if let Some(w) = done_words { p.ok role="status" { (w) } }
        p { "Login " code { (s.id) } ", roles " (role_words(&s.roles)) ", "
            @if s.disabled { (badge("denied", "disabled")) } @else { (badge("live", "active")) } }
        section.card #roles-card aria-labelledby="roles-title" {
            div.card-head { h2 #roles-title { "Roles" } }
            form method="post" action={ (action) "/roles" } {
                @if let Some(e) = general(err, &["roles", "password"]) { p.alert role="alert" { (e) } }
                input type="hidden" name="csrf" value=(who.csrf);
                (role_choices("roles", ticked, FieldError::at(err, "roles")))
                p { button.primary type="submit" { "Save the roles" } }
            }
        }
        section.card #password-card aria-labelledby="password-title" {
            div.card-head { h2 #password-title { "Console password" } }
            form method="post" action={ (action) "/password" } {
                input type="hidden" name="csrf" value=(who.csrf);
                (text_field("password", "New console password", "password", "",
                    Some("At least 12 characters. It replaces the password they sign in with; only its hash is kept, and it is not shown again."),
                    FieldError::at(err, "password"), true, "new-password"))
                p { button.primary type="submit" { "Set the password" } }
            }
        }
        @if s.disabled {
            section.card #enable-card aria-labelledby="enable-title" {
                div.card-head { h2 #enable-title { "Enable again" } }
                p { (s.name) " may sign in again; their ended sessions stay ended." }
                form method="post" action={ (action) "/enable" } {
                    input type="hidden" name="csrf" value=(who.csrf);
                    button.primary type="submit" { "Enable " (s.name) }
                }
            }
        } @else {
            section.card #disable-card aria-labelledby="disable-title" {
                div.card-head { h2 #disable-title { "Disable" } }
                p #disable-effect {
                    "Disabling " (s.name) " signs them out of the console at once, "
                    strong { "ends their live impersonation session" } " if they have one, and stops their personal token. "
                    "It is recorded in the audit trail; you can enable them again later."
                }
                form method="post" action={ (action) "/disable" } {
                    input type="hidden" name="csrf" value=(who.csrf);
                    button.danger type="submit" aria-describedby="disable-effect" { "Disable " (s.name) " now" }
                }
            }
        }
        p { a href="/staff" { "Back to the staff list" } }
    };
    Ok(page(status, layout(&format!("Staff member {}", s.name), Some(who), body)))
}

/// `GET /staff/{login}`: one staff member, their roles and state to change.
pub async fn member(
    State(state): State<AppState>,
    who: SignedIn,
    Path(login): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Answer {
    permit(&state, &who, Act::Administer, "Managing staff")?;
    member_page(&state, &who, &login, q.done.as_deref(), None, None).await
}

fn done(login: &str, what: &str) -> Answer {
    Ok(Redirect::to(&format!("/staff/{}?done={what}", urlencode(login))).into_response())
}

/// `POST /staff/{login}/roles`.
pub async fn set_roles(
    State(state): State<AppState>,
    who: SignedIn,
    Path(login): Path<String>,
    form: Fields,
) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Changing roles")?;
    let roles = roles_of(&form);
    match service::set_staff_roles(&state.ctx, actor(&who), &login, roles.clone()).await {
        Ok(_) => done(&login, "roles"),
        Err(e @ (Error::Refused { .. } | Error::BadRequest { .. } | Error::Conflict { .. })) => {
            let (status, err) = refusal(e);
            let mut res = member_page(&state, &who, &login, None, Some(&roles), Some(&err)).await?;
            *res.status_mut() = status;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /staff/{login}/password`: sets their console password through the
/// command line's service call (`staff.updated`, naming `password`); the
/// password is never sent back, not even when it is refused.
pub async fn set_password(
    State(state): State<AppState>,
    who: SignedIn,
    Path(login): Path<String>,
    form: Fields,
) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Setting passwords")?;
    match service::set_password(&state.ctx, actor(&who), &login, form.get("password")).await {
        Ok(_) => done(&login, "password"),
        Err(e @ (Error::Refused { .. } | Error::BadRequest { .. })) => {
            let (status, mut err) = refusal(e);
            if err.field == "password" {
                err.detail = sentence(&err.detail);
            }
            let mut res = member_page(&state, &who, &login, None, None, Some(&err)).await?;
            *res.status_mut() = status;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /staff/{login}/disable`: disables them and ends their live session.
pub async fn disable(State(state): State<AppState>, who: SignedIn, Path(login): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Disabling staff")?;
    if login == who.staff.id {
        let err = FieldError { field: "form".into(), detail: "You cannot disable yourself; ask another admin.".into() };
        let mut res = member_page(&state, &who, &login, None, None, Some(&err)).await?;
        *res.status_mut() = StatusCode::CONFLICT;
        return Ok(res);
    }
    match service::disable_staff(&state.ctx, actor(&who), &login).await {
        Ok(_) => done(&login, "disabled"),
        Err(e @ Error::Conflict { .. }) => {
            let (status, err) = refusal(e);
            let mut res = member_page(&state, &who, &login, None, None, Some(&err)).await?;
            *res.status_mut() = status;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /staff/{login}/enable`.
pub async fn enable(State(state): State<AppState>, who: SignedIn, Path(login): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Enabling staff")?;
    match service::enable_staff(&state.ctx, actor(&who), &login).await {
        Ok(_) => done(&login, "enabled"),
        Err(e @ Error::Conflict { .. }) => {
            let (status, err) = refusal(e);
            let mut res = member_page(&state, &who, &login, None, None, Some(&err)).await?;
            *res.status_mut() = status;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// What the register-app form holds (never the secret).
#[derive(Default)]
struct AppDraft {
    name: String,
    tickets: bool,
    scim: bool,
    origins: String,
    entry_url: String,
    connector: String,
}

fn add_app_form(state: &AppState, who: &SignedIn, d: &AppDraft, err: Option<&FieldError>) -> Markup {
    let at = |f| FieldError::at(err, f);
    let origins_err = at("origins").or(at("origin"));
    let connector_err = at("connector");
    let has_kek = state.ctx.keys.kek().is_some();
    html! {
        section.card #add-app aria-labelledby="add-app-title" {
            div.card-head { h2 #add-app-title { "Register an app" } }
            form method="post" action="/apps" {
                @if let Some(e) = general(err, &["name", "origins", "origin", "entry_url", "connector", "secret"]) { p.alert role="alert" { (e) } }
                input type="hidden" name="csrf" value=(who.csrf);
                (text_field("name", "Name", "text", &d.name, None, at("name"), true, "off"))
                fieldset #permissions {
                    legend { "Permissions" }
                    label { input type="checkbox" name="tickets" value="on" checked[d.tickets]; " May push tickets" }
                    label { input type="checkbox" name="scim" value="on" checked[d.scim]; " Provisions staff (SCIM)" }
                }
                label for="origins" { "Web origins" }
                p.hint #origins-hint { "One per line, like https://app.example.com: where the banner runs." }
                (field_error("origins-error", origins_err))
                textarea #origins name="origins" rows="3" aria-invalid=[origins_err.map(|_| "true")]
                    aria-describedby=(if origins_err.is_some() { "origins-hint origins-error" } else { "origins-hint" }) { (d.origins) }
                (text_field("entry_url", "Entry address (optional)", "text", &d.entry_url,
                    Some("Where the app takes one-time entry codes, like https://app.example.com/support/enter."),
                    at("entry_url"), false, "off"))
                fieldset #connector-fields aria-describedby="connector-hint" {
                    legend { "Ticket system connector (optional)" }
                    p.hint #connector-hint {
                        "A Zendesk or Jira webhook that tells actas about tickets; it needs “May push tickets”. "
                        "Its secret is stored sealed under the server's key-encryption key."
                        @if !has_kek { " " strong { "This server has no key-encryption key, so it cannot take a connector." } }
                    }
                    label for="connector" { "Ticket system" }
                    (field_error("connector-error", connector_err))
                    select #connector name="connector" aria-describedby=[connector_err.map(|_| "connector-error")] {
                        option value="" selected[d.connector.is_empty()] { "None" }
                        @for kind in Connector::VARIANTS {
                            option value=(kind.as_str()) selected[d.connector == kind.as_str()] { (kind.product_name()) }
                        }
                    }
                    (text_field("secret", "Webhook secret", "password", "",
                        Some("The signing secret the ticket system shows, 16 to 512 characters; it is not shown again."),
                        at("secret"), false, "off"))
                }
                p { button.primary type="submit" { "Register the app" } }
            }
        }
    }
}

async fn apps_page(state: &AppState, who: &SignedIn, d: &AppDraft, err: Option<&FieldError>) -> Answer {
    let all: Vec<App> = service::list_apps(&state.ctx, &who.staff).await?;
    let body = html! {
        (refused_summary(err, &[
            ("name", "name"), ("origins", "origins"), ("origin", "origins"), ("entry_url", "entry_url"),
            ("connector", "connector"), ("secret", "secret"),
        ]))
        @if all.is_empty() { p { "No app is registered yet." } }
        @else {
            div.wide {
                table.data #apps {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "May push tickets" } th scope="col" { "Provisions staff (SCIM)" } th scope="col" { "Web origins" } th scope="col" { "Change" } } }
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
                                td data-label="Change" { a href={ "/apps/" (urlencode(&a.id)) } { "Manage " span.visually-hidden { (a.name) } } }
                            }
                        }
                    }
                }
            }
        }
        (add_app_form(state, who, d, err))
    };
    let status = if err.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(page(status, layout("Apps", Some(who), body)))
}

/// `GET /apps`.
pub async fn apps(State(state): State<AppState>, who: SignedIn) -> Answer {
    permit(&state, &who, Act::Administer, "The list of apps")?;
    apps_page(&state, &who, &AppDraft::default(), None).await
}

/// `POST /apps`: registers an app (with a connector, when one is chosen)
/// and shows its key once; a refusal shows the form again.
pub async fn add_app(State(state): State<AppState>, who: SignedIn, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Registering apps")?;
    let d = AppDraft {
        name: form.get("name").to_string(),
        tickets: form.get("tickets") == "on",
        scim: form.get("scim") == "on",
        origins: form.get("origins").to_string(),
        entry_url: form.get("entry_url").trim().to_string(),
        connector: form.get("connector").to_string(),
    };
    let connector = match d.connector.as_str() {
        "" => Ok(None),
        kind => kind
            .parse::<Connector>()
            .map(Some)
            .map_err(|_| Error::refused(Code::FieldRequired, Some("connector"), "Pick Zendesk, Jira or none.")),
    };
    let system = connector.as_ref().ok().and_then(|c| *c);
    let outcome = match connector {
        Err(e) => Err(e),
        Ok(Some(_)) if state.ctx.keys.kek().is_none() => Err(Error::refused(
            Code::FieldRequired,
            Some("connector"),
            "This server has no key-encryption key, so it cannot store a connector's secret sealed: nothing was \
             registered. Start the server with --key-encryption-key-file to add a connector, or register the app \
             without one.",
        )),
        Ok(kind) => {
            let setup = kind.map(|kind| service::ConnectorSetup {
                kind,
                secret: form.get("secret").to_string().into(),
                mapping: Mapping::default_for(kind),
            });
            let origins: Vec<String> =
                d.origins.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
            let new = service::NewApp {
                entry_url: Some(d.entry_url.clone()).filter(|u| !u.is_empty()),
                scim: d.scim,
                connector: setup,
                ..service::NewApp::new(&d.name, d.tickets, origins)
            };
            service::add_app(&state.ctx, actor(&who), new).await
        }
    };
    match outcome {
        Ok((app, key)) => {
            let body = html! {
                p.ok role="status" { "Registered " (app.name) " as " code { (app.id) } "." }
                @if let Some(kind) = system {
                    p #webhook {
                        "Point the " (match kind { Connector::Zendesk => "Zendesk", Connector::Jira => "Jira" }) " webhook at this server's "
                        code { "/api/v1/connectors/" (kind.as_str()) "/" (app.id) } ", signed with the secret given."
                    }
                }
                section.card #key-card aria-labelledby="key-title" {
                    div.card-head { h2 #key-title { "Its app key" } }
                    p.alert #shown-once {
                        strong { "Copy it now: it is shown only this once and never again." }
                        " Put it in the app's configuration; it is the app's password to actas. "
                        "Lost, it cannot be shown again."
                    }
                    p { code.shown-once #key { (key.expose()) } }
                }
                p { a href="/apps" { "Back to the apps" } }
            };
            Ok(page(StatusCode::OK, layout("App registered", Some(&who), body)))
        }
        Err(e @ (Error::Refused { .. } | Error::BadRequest { .. } | Error::Conflict { .. })) => {
            let (status, mut err) = refusal(e);
            if err.field == "form" && status == StatusCode::CONFLICT {
                err.field = "name".into();
            }
            let mut res = apps_page(&state, &who, &d, Some(&err)).await?;
            *res.status_mut() = status;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// The page of app `id`: its facts and its connector card; `done` says
/// what was just changed, `err` what was refused.
async fn app_page(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    done: Option<&str>,
    chosen: &str,
    err: Option<&FieldError>,
) -> Answer {
    let (app, connector) = service::get_app(&state.ctx, &who.staff, id).await?;
    let has_kek = state.ctx.keys.kek().is_some();
    let action = format!("/apps/{}/connector", urlencode(&app.id));
    let at = |f| FieldError::at(err, f);
    let secret_hint =
        "The signing secret the ticket system shows, 16 to 512 characters. It is stored sealed under the \
         server's key-encryption key and never shown again.";
    let done_words = match (done, connector) {
        (Some("connector"), Some(kind)) => Some(format!(
            "{} now takes tickets from {}. Point its webhook at this server's address below, signed with the secret given.",
            app.name,
            kind.product_name()
        )),
        (Some("secret"), Some(kind)) => Some(format!(
            "The {} connector of {} has its new secret; deliveries signed with the old one are refused.",
            kind.product_name(),
            app.name
        )),
        _ => None,
    };
    let body = html! {
        (refused_summary(err, &[("connector", if connector.is_none() && app.tickets { "connector" } else { "connector-card" }), ("secret", "secret")]))
        @if let Some(w) = done_words { p.ok role="status" { (w) } }
        table.data #app-facts {
            tbody {
                tr { th scope="row" { "Id" } td { code { (app.id) } } }
                tr { th scope="row" { "May push tickets" } td { (yes_no(app.tickets)) } }
                tr { th scope="row" { "Provisions staff (SCIM)" } td { (yes_no(app.scim)) } }
                tr { th scope="row" { "Web origins" } td {
                    @if app.origins.is_empty() { "none" } @else { ul { @for o in &app.origins { li { (o) } } } }
                } }
                tr { th scope="row" { "Entry address" } td { @match &app.entry_url { Some(u) => { (u) } None => { "none" } } } }
            }
        }
        section.card #connector-card aria-labelledby="connector-title" {
            div.card-head { h2 #connector-title { "Ticket system connector" } }
            @if !has_kek {
                p.alert #no-kek { "This server has no key-encryption key, so it cannot store a connector's secret: "
                    "start it with " code { "--key-encryption-key-file" } " to add a connector or replace its secret." }
            }
            @match connector {
                Some(kind) => {
                    p #connector-now {
                        "Takes tickets from " (kind.product_name()) "'s webhook at this server's "
                        code { "/api/v1/connectors/" (kind.as_str()) "/" (app.id) } ". Its secret is stored sealed and is never shown."
                    }
                    form method="post" action=(action) {
                        @if let Some(e) = general(err, &["connector", "secret"]) { p.alert role="alert" { (e) } }
                        input type="hidden" name="csrf" value=(who.csrf);
                        input type="hidden" name="connector" value=(kind.as_str());
                        (field_error("connector-error", at("connector")))
                        (text_field("secret", "New webhook secret", "password", "", Some(secret_hint), at("secret"), true, "off"))
                        p { button.primary type="submit" { "Replace the secret" } }
                    }
                }
                None if !app.tickets => {
                    (field_error("connector-error", at("connector")))
                    p #connector-now {
                        "None. This app may not push tickets, so it cannot take a connector: register an app with "
                        "“May push tickets” for a ticket system."
                    }
                }
                None => {
                    p #connector-now { "None yet: tickets reach actas from this app only through " code { "POST /api/v1/tickets" } "." }
                    form method="post" action=(action) {
                        @if let Some(e) = general(err, &["connector", "secret"]) { p.alert role="alert" { (e) } }
                        input type="hidden" name="csrf" value=(who.csrf);
                        label for="connector" { "Ticket system" }
                        (field_error("connector-error", at("connector")))
                        select #connector name="connector" required
                            aria-invalid=[at("connector").map(|_| "true")]
                            aria-describedby=[at("connector").map(|_| "connector-error")] {
                            @for kind in Connector::VARIANTS {
                                option value=(kind.as_str()) selected[chosen == kind.as_str()] { (kind.product_name()) }
                            }
                        }
                        (text_field("secret", "Webhook secret", "password", "", Some(secret_hint), at("secret"), true, "off"))
                        p { button.primary type="submit" { "Add the connector" } }
                    }
                }
            }
        }
        p { a href="/apps" { "Back to the apps" } }
    };
    let status = if err.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(page(status, layout(&format!("App {}", app.name), Some(who), body)))
}

/// `GET /apps/{id}`: one app, and its ticket-system connector to add or
/// whose secret to replace.
pub async fn app(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Answer {
    permit(&state, &who, Act::Administer, "Managing apps")?;
    app_page(&state, &who, &id, q.done.as_deref(), "", None).await
}

/// `POST /apps/{id}/connector`: adds a connector to the app, or replaces
/// the secret of the one it has, through the command line's service call
/// (`app.updated`); the secret is taken once and never sent back.
pub async fn set_connector(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    form: Fields,
) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::Administer, "Changing apps")?;
    let kind = form
        .get("connector")
        .parse::<Connector>()
        .map_err(|_| Error::refused(Code::FieldRequired, Some("connector"), "Pick Zendesk or Jira."));
    let outcome = match kind {
        Err(e) => Err(e),
        Ok(kind) => {
            let setup = service::ConnectorSetup {
                kind,
                secret: form.get("secret").to_string().into(),
                mapping: Mapping::default_for(kind),
            };
            service::set_connector(&state.ctx, actor(&who), &id, setup, true).await
        }
    };
    match outcome {
        Ok((app, change)) => {
            let what = match change {
                service::ConnectorChange::Added => "connector",
                service::ConnectorChange::SecretReplaced => "secret",
            };
            Ok(Redirect::to(&format!("/apps/{}?done={what}", urlencode(&app.id))).into_response())
        }
        Err(e @ (Error::Refused { .. } | Error::BadRequest { .. } | Error::Conflict { .. })) => {
            let (status, mut err) = refusal(e);
            if err.field == "form" {
                err.field = "connector".into();
            }
            let mut res = app_page(&state, &who, &id, None, form.get("connector"), Some(&err)).await?;
            *res.status_mut() = status;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
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
        p {
            "It also names the problem: two words other than common words and support words (access, account, check, "
            "customer, help, issue, please, …), or one such word from the ticket's subject."
        }
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
