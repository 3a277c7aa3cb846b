//! The pages of Acme Billing.

use std::sync::Arc;

use actas_client::api::{AuthorizeRequest, Change, NewStepUp, Target};
use actas_client::api::{EndReason, Refusal, SessionState};
use actas_client::layer::{EndedPage, MaybeActing};
use actas_client::Impersonation;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use crate::{Account, Activity, Demo};

type St = State<Arc<Demo>>;

pub(crate) fn router(demo: Arc<Demo>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/support/ended", get(ended))
        .route("/support/stepup", post(ask_stepup))
        .route("/accounts/{id}", get(overview))
        .route("/accounts/{id}/settings", get(settings).post(save_settings))
        .route("/accounts/{id}/invoice-email", post(save_invoice_email))
        .route("/accounts/{id}/plan", get(plan).post(save_plan))
        .route("/accounts/{id}/invoices", get(invoices))
        .route("/accounts/{id}/bank", get(bank))
        .route("/accounts/{id}/export", post(export))
        .route("/accounts/{id}/password-reset", post(password_reset))
        .route("/accounts/{id}/activity", get(activity))
        .route("/accounts/{id}/access", get(access))
        .route("/accounts/{id}/permission", post(allow_support))
        .route("/accounts/{id}/permission/withdraw", post(withdraw_support))
        .with_state(demo)
}

#[allow(clippy::disallowed_methods)] // the demo app's own clock, not actas's
fn now_text() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (h, m) = ((secs / 3600) % 24, (secs / 60) % 60);
    format!("today {h:02}:{m:02} UTC")
}

/// A refusal of `authorize`, in the words this app shows its users.
fn refusal_words(r: Refusal) -> &'static str {
    match r {
        Refusal::NotInScope => "this action is not among those approved for the support session",
        Refusal::SessionEnded => "the support session has ended",
        Refusal::SessionExpired => "the support session has expired",
        Refusal::IdleTimeout => "the support session ended after a period without activity",
        Refusal::SessionRevoked => "a lead revoked the support session",
        Refusal::StaffDisabled => "the support agent's account was disabled",
        Refusal::TicketClosed => "the support ticket was solved or closed",
        Refusal::CustomerRevoked => "the customer withdrew their permission for support to access their account",
        Refusal::WrongAccount => "the support session is for another customer account",
        Refusal::UnknownAction => "actas does not know this action",
        Refusal::BadToken | Refusal::WrongApp => "the support session token is not valid",
    }
}

fn layout(demo: &Demo, title: &str, who: Option<&Impersonation>, account: Option<&Account>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Acme Billing" }
                style { (maud::PreEscaped(CSS)) }
                @if let Some(w) = who {
                    script src=(format!("{}/banner.js", demo.actas_public)) data-token=(w.token.expose()) data-leave-url="/support/leave" defer {}
                }
            }
            body {
                header.top {
                    a.brand href="/" { "Acme Billing" }
                    @if let Some(a) = account {
                        nav aria-label="Account" {
                            a href=(format!("/accounts/{}", a.id)) { "Overview" }
                            a href=(format!("/accounts/{}/settings", a.id)) { "Settings" }
                            a href=(format!("/accounts/{}/plan", a.id)) { "Plan" }
                            a href=(format!("/accounts/{}/invoices", a.id)) { "Invoices" }
                            a href=(format!("/accounts/{}/bank", a.id)) { "Bank details" }
                            a href=(format!("/accounts/{}/activity", a.id)) { "Activity" }
                            a href=(format!("/accounts/{}/access", a.id)) { "Who accessed my account" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}\
header.top{background:#0b3d91;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}\
header.top a{color:#fff}.brand{font-weight:700;text-decoration:none}nav{display:flex;flex-wrap:wrap;gap:.8rem}\
main{padding:1rem;max-width:52rem}form{margin:.8rem 0;padding:.8rem;background:#fff;border:1px solid #d0d7de;border-radius:6px}\
label{display:block;margin:.3rem 0}input,select,textarea{font:inherit;padding:.3rem;max-width:100%;box-sizing:border-box}button{font:inherit;padding:.35rem .8rem}\
.support{color:#8a4b00;font-weight:600}.refusal{background:#ffebe9;border:1px solid #cf222e;padding:.8rem;border-radius:6px}\
.ok{background:#dafbe1;border:1px solid #1a7f37;padding:.8rem;border-radius:6px}table{border-collapse:collapse}.scroll{overflow-x:auto;max-width:100%}td,th{padding:.3rem .6rem;border-bottom:1px solid #d0d7de;text-align:left}";

fn page(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

/// Why actas said no, and, for a change the session's scope lacks, the one
/// change a lead could approve.
pub(crate) struct Refused {
    why: String,
    offer: Option<Offer>,
}

impl Refused {
    fn plain(why: impl Into<String>) -> Refused {
        Refused { why: why.into(), offer: None }
    }

    /// Where "Back to the page" goes after a lead is asked.
    fn back_to(mut self, path: String) -> Refused {
        if let Some(o) = self.offer.as_mut() {
            o.back = path;
        }
        self
    }
}

/// A change refused as `not_in_scope`: what "Ask a lead for this one
/// change" sends, and the page to go back to.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
struct Offer {
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    changes: Vec<Change>,
    back: String,
}

impl Offer {
    /// "plan from Pro to Basic", for the agent.
    fn words(&self) -> String {
        let parts: Vec<String> = self
            .changes
            .iter()
            .map(|c| {
                let field = c.field.replace(['_', '.'], " ");
                match (&c.old, &c.new) {
                    (Some(o), Some(n)) => format!("{field} from {o} to {n}"),
                    (None, Some(n)) => format!("{field} to {n}"),
                    _ => field,
                }
            })
            .collect();
        if parts.is_empty() {
            format!("this change ({})", self.action)
        } else {
            parts.join(", ")
        }
    }
}

fn refusal(demo: &Demo, who: Option<&Impersonation>, account: Option<&Account>, r: &Refused) -> Response {
    refusal_page(demo, who, account, r, None, "")
}

/// The refusal page; with an offer, the form that asks a lead for the one
/// change (`error` is a refused ask's sentence, `reason` what was typed).
fn refusal_page(
    demo: &Demo,
    who: Option<&Impersonation>,
    account: Option<&Account>,
    r: &Refused,
    error: Option<&str>,
    reason: &str,
) -> Response {
    let body = html! {
        p.refusal #refusal role="alert" { "actas refused this, so nothing was done: " (r.why) "." }
        @if let (Some(o), Some(_)) = (&r.offer, who) {
            form #stepup-form method="post" action="/support/stepup" {
                h2 { "Ask a lead for this one change" }
                p { "A lead can allow exactly this change, once, within 5 minutes: " strong #stepup-what { (o.words()) } "." }
                @if let Some(e) = error { p.refusal #stepup-error role="alert" { (e) } }
                input type="hidden" name="offer" value=(serde_json::to_string(o).unwrap_or_default());
                label for="stepup-reason" { "Why (name what the customer asked for)" }
                textarea #stepup-reason name="reason" required rows="3" cols="60" { (reason) }
                p { button type="submit" { "Ask a lead for this one change" } }
            }
        }
        @if let Some(a) = account { p { a href=(format!("/accounts/{}", a.id)) { "Back to the account" } } }
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::FORBIDDEN };
    page(status, layout(demo, "Not allowed", who, account, body))
}

#[derive(Deserialize)]
struct StepUpForm {
    offer: String,
    reason: String,
}

/// `POST /support/stepup`: asks a lead for the one change, with the
/// session's token, in the agent's name.
async fn ask_stepup(State(demo): St, MaybeActing(who): MaybeActing, Form(f): Form<StepUpForm>) -> Response {
    let Some(w) = who else { return Redirect::to("/").into_response() };
    let Ok(offer) = serde_json::from_str::<Offer>(&f.offer) else {
        return page(
            StatusCode::BAD_REQUEST,
            layout(&demo, "Not allowed", Some(&w), None, html! { p { "That form is not one of ours." } }),
        );
    };
    // Only a page of this app, never an address elsewhere.
    let back = if offer.back.starts_with("/accounts/") { offer.back.clone() } else { landing(&w) };
    let account = load(&demo, &w.account_id).await;
    let ask = NewStepUp {
        action: offer.action.clone(),
        target: Some(Target {
            account_id: Some(w.account_id.clone()),
            kind: offer.target_type.clone(),
            id: offer.target_id.clone(),
        }),
        changes: (!offer.changes.is_empty()).then(|| offer.changes.clone()),
        reason: f.reason.clone(),
    };
    match demo.actas.ask_stepup(w.token.expose(), &w.session_id, &ask).await {
        Ok(_) => {
            let body = html! {
                p.ok #stepup-asked role="status" {
                    "Asked a lead for this one change: " strong { (offer.words()) } ". "
                    "The support banner shows the answer. Once it is approved, make the change again within 5 minutes; it is allowed once."
                }
                p { a #stepup-back href=(back) { "Back to the page" } }
            };
            layout(&demo, "Asked a lead", Some(&w), account.as_ref(), body).into_response()
        }
        Err(e) => {
            let detail = match &e {
                actas_client::ClientError::Api(p) => p.detail.clone(),
                other => {
                    tracing::warn!(error = %other, "actas did not answer");
                    "actas could not be asked right now; try again.".to_string()
                }
            };
            let r = Refused { why: refusal_words(Refusal::NotInScope).to_string(), offer: Some(offer) };
            refusal_page(&demo, Some(&w), account.as_ref(), &r, Some(&detail), &f.reason)
        }
    }
}

async fn load(demo: &Demo, id: &str) -> Option<Account> {
    demo.accounts.read().await.get(id).cloned()
}

/// Asks actas when support is acting; customers act for themselves. A
/// change the scope lacks comes back with the offer to ask a lead for it.
async fn ask(
    demo: &Demo,
    who: Option<&Impersonation>,
    account: &str,
    action: &str,
    target: Option<(&str, &str)>,
    changes: Vec<Change>,
) -> Result<(), Refused> {
    let Some(who) = who else { return Ok(()) };
    let offer = Offer {
        action: action.into(),
        target_type: target.map(|t| t.0.to_string()),
        target_id: target.map(|t| t.1.to_string()),
        changes: changes.clone(),
        back: format!("/accounts/{account}"),
    };
    let req = AuthorizeRequest {
        token: who.token.clone(),
        action: action.into(),
        target: Some(Target {
            account_id: Some(account.into()),
            kind: target.map(|t| t.0.to_string()),
            id: target.map(|t| t.1.to_string()),
        }),
        changes: (!changes.is_empty()).then_some(changes),
    };
    match demo.actas.authorize_with(&req).await {
        Ok(a) => match a.reason.refusal() {
            None => Ok(()),
            Some(r) => {
                if r.session_is_over() {
                    demo.guard.mark_ended(&who.session_id);
                }
                let change = !action.ends_with(".view");
                let offer = (r == Refusal::NotInScope && change).then_some(offer);
                Err(Refused { why: refusal_words(r).to_string(), offer })
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "actas did not answer");
            Err(Refused::plain("actas could not be asked right now"))
        }
    }
}

/// A view: allowed offline when the token grants it, else asked of actas
/// (the scope may have grown, and a refusal is audited).
async fn view(demo: &Demo, who: Option<&Impersonation>, account: &str, action: &str) -> Result<(), Refused> {
    match who {
        Some(w) if w.account_id == account && w.grants(action) => Ok(()),
        _ => ask(demo, who, account, action, None, vec![]).await,
    }
}

async fn record(demo: &Demo, id: &str, who: Option<&Impersonation>, what: &str) {
    if let Some(a) = demo.accounts.write().await.get_mut(id) {
        let (text, by_support) = match who {
            Some(w) => {
                (format!("{} from support, acting for you under ticket {}, {what}", w.agent_name, w.ticket), true)
            }
            None => (format!("You {what}"), false),
        };
        a.activity.push(Activity { at: now_text(), text, by_support });
    }
}

/// Where support lands: the first page its session may see.
pub(crate) fn landing(who: &Impersonation) -> String {
    let page = [
        ("account.view", ""),
        ("settings.view", "/settings"),
        ("invoices.view", "/invoices"),
        ("plan.view", "/plan"),
        ("activity.view", "/activity"),
    ]
    .into_iter()
    .find(|(action, _)| who.grants(action))
    .map(|(_, page)| page)
    .unwrap_or("");
    format!("/accounts/{}{page}", who.account_id)
}

async fn home(State(demo): St, MaybeActing(who): MaybeActing) -> Response {
    if let Some(w) = &who {
        return Redirect::to(&landing(w)).into_response();
    }
    let accounts: Vec<Account> = demo.accounts.read().await.values().cloned().collect();
    let body = html! {
        p { "Sign in as a customer:" }
        ul { @for a in &accounts { li { a href=(format!("/accounts/{}", a.id)) { (a.name) " (" (a.id) ")" } } } }
        p { "Support enters an account from the actas staff console (" em { "Open in the host app" } "), with a one-time code." }
    };
    layout(&demo, "Welcome", None, None, body).into_response()
}

/// Where the layer sends an agent whose session ended, who left, or whose
/// entry link was refused: what happened, why, and the way back.
async fn ended(State(demo): St, page: EndedPage) -> Response {
    let console = |sid: Option<&str>| match sid {
        Some(id) => format!("{}/sessions/{id}", demo.actas_public),
        None => format!("{}/", demo.actas_public),
    };
    let session = match &page.session {
        Some(id) => demo.actas.session(id).await.ok(),
        None => None,
    };
    let (title, body) = match (&session, &page.refused) {
        (_, Some(slug)) => (
            "Support entry refused",
            html! {
                p #ended-why role="alert" { (EndedPage::refusal_words(slug)) }
                p { "Open the customer's account again from the staff console: each "
                    em { "Open in the host app" } " makes a new link." }
                p { a #to-console href=(console(None)) { "Back to the staff console" } }
            },
        ),
        (Some(s), None) if s.state == SessionState::Live => (
            "You left the customer's account",
            html! {
                p #ended-why role="status" {
                    "You left " (account_words(s)) ". The support session is still live until " (s.ends_at.format("%H:%M UTC"))
                    "; end it in the staff console when you are done."
                }
                p { a #to-console href=(console(Some(s.id.as_str()))) { "Back to the staff console" } }
            },
        ),
        (Some(s), None) => (
            "Support session ended",
            html! {
                p #ended-why role="status" {
                    "The support session on " (account_words(s)) " ended: "
                    (s.end_reason.unwrap_or(EndReason::Ended).words())
                    @if let Some(n) = &s.end_note { " (\u{201c}" (n) "\u{201d})" }
                    "."
                }
                p { "Nothing more can be done in this account under that session. To continue, ask for a new session from the ticket." }
                p { a #to-console href=(console(Some(s.id.as_str()))) { "Back to the staff console" } }
            },
        ),
        (None, None) => (
            "Support session ended",
            html! {
                p #ended-why role="status" { "The support session has ended." }
                p { a #to-console href=(console(None)) { "Back to the staff console" } }
            },
        ),
    };
    layout(&demo, title, None, None, body).into_response()
}

fn account_words(s: &actas_client::api::Session) -> String {
    match &s.account_name {
        Some(n) if n != &s.account_id => format!("{n} ({})", s.account_id),
        _ => s.account_id.clone(),
    }
}

macro_rules! account_or_404 {
    ($demo:expr, $who:expr, $id:expr) => {
        match load(&$demo, &$id).await {
            Some(a) => a,
            None => {
                return page(
                    StatusCode::NOT_FOUND,
                    layout(&$demo, "No such account", $who, None, html! { p { "There is no account " ($id) "." } }),
                )
            }
        }
    };
}

async fn overview(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if let Err(why) = view(&demo, who.as_ref(), &id, "account.view").await {
        return refusal(&demo, who.as_ref(), Some(&a), &why);
    }
    let body = html! {
        p { "Plan: " strong { (a.plan) } }
        p { "Invoices go to " (a.invoice_email) }
        @if !a.inbox.is_empty() {
            section #inbox aria-label="Messages" {
                h2 { "Messages" }
                @for n in &a.inbox { p.ok { (n) } }
            }
        }
        @if who.is_some() { p { a href="/support/leave" { "Leave the account" } } }
    };
    layout(&demo, &a.name, who.as_ref(), Some(&a), body).into_response()
}

async fn settings(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if let Err(why) = view(&demo, who.as_ref(), &id, "settings.view").await {
        return refusal(&demo, who.as_ref(), Some(&a), &why);
    }
    settings_page(&demo, who.as_ref(), &a, None).into_response()
}

fn settings_page(demo: &Demo, who: Option<&Impersonation>, a: &Account, notice: Option<&str>) -> Markup {
    let body = html! {
        @if let Some(n) = notice { p.ok #saved role="status" { (n) } }
        form method="post" action=(format!("/accounts/{}/settings", a.id)) {
            h2 { "Account settings" }
            label { "Time zone " input name="timezone" value=(a.timezone); }
            label { "Tax id " input name="tax_id" value=(a.tax_id); }
            button type="submit" { "Save settings" }
        }
        form method="post" action=(format!("/accounts/{}/invoice-email", a.id)) {
            h2 { "Invoice email" }
            label { "Send invoices to " input name="invoice_email" type="email" value=(a.invoice_email); }
            button type="submit" { "Save invoice email" }
        }
        form method="post" action=(format!("/accounts/{}/password-reset", a.id)) {
            h2 { "Password" }
            p { "Send the account owner a password reset link." }
            button type="submit" { "Reset password" }
        }
        form method="post" action=(format!("/accounts/{}/export", a.id)) {
            h2 { "Export" }
            button type="submit" { "Export all account data" }
        }
        button #open-help type="button" onclick="document.getElementById('help').showModal()" { "Open help" }
        dialog #help aria-label="Help" {
            p { "Settings apply to every user of the account." }
            form method="dialog" { button { "Close" } }
        }
    };
    layout(demo, "Settings", who, Some(a), body)
}

#[derive(Deserialize)]
struct SettingsForm {
    timezone: String,
    tax_id: String,
}

async fn save_settings(
    State(demo): St,
    MaybeActing(who): MaybeActing,
    Path(id): Path<String>,
    Form(f): Form<SettingsForm>,
) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    let mut changes = Vec::new();
    if f.timezone != a.timezone {
        changes.push(Change { field: "timezone".into(), old: Some(a.timezone.clone()), new: Some(f.timezone.clone()) });
    }
    if f.tax_id != a.tax_id {
        changes.push(Change { field: "tax_id".into(), old: Some(a.tax_id.clone()), new: Some(f.tax_id.clone()) });
    }
    if let Err(why) = ask(&demo, who.as_ref(), &id, "settings.update", Some(("settings", "account")), changes).await {
        return refusal(&demo, who.as_ref(), Some(&a), &why.back_to(format!("/accounts/{id}/settings")));
    }
    let updated = {
        let mut all = demo.accounts.write().await;
        let Some(acc) = all.get_mut(&id) else { return StatusCode::NOT_FOUND.into_response() };
        acc.timezone = f.timezone;
        acc.tax_id = f.tax_id;
        acc.clone()
    };
    record(&demo, &id, who.as_ref(), "changed the account settings").await;
    settings_page(&demo, who.as_ref(), &updated, Some("Settings saved.")).into_response()
}

#[derive(Deserialize)]
struct EmailForm {
    invoice_email: String,
}

async fn save_invoice_email(
    State(demo): St,
    MaybeActing(who): MaybeActing,
    Path(id): Path<String>,
    Form(f): Form<EmailForm>,
) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    let change = Change {
        field: "invoice_email".into(),
        old: Some(a.invoice_email.clone()),
        new: Some(f.invoice_email.clone()),
    };
    if let Err(why) =
        ask(&demo, who.as_ref(), &id, "invoice_email.update", Some(("settings", "invoice_email")), vec![change]).await
    {
        return refusal(&demo, who.as_ref(), Some(&a), &why.back_to(format!("/accounts/{id}/settings")));
    }
    let updated = {
        let mut all = demo.accounts.write().await;
        let Some(acc) = all.get_mut(&id) else { return StatusCode::NOT_FOUND.into_response() };
        acc.invoice_email = f.invoice_email.clone();
        acc.clone()
    };
    record(&demo, &id, who.as_ref(), &format!("changed the invoice email to {}", f.invoice_email)).await;
    settings_page(&demo, who.as_ref(), &updated, Some("Invoice email saved.")).into_response()
}

async fn plan(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if let Err(why) = view(&demo, who.as_ref(), &id, "plan.view").await {
        return refusal(&demo, who.as_ref(), Some(&a), &why);
    }
    let body = html! {
        p { "Current plan: " strong #plan { (a.plan) } }
        form method="post" action=(format!("/accounts/{}/plan", a.id)) {
            label { "Change to " select name="plan" { @for p in ["Starter", "Business", "Enterprise"] { option selected[p == a.plan] { (p) } } } }
            button type="submit" { "Change plan" }
        }
    };
    layout(&demo, "Plan", who.as_ref(), Some(&a), body).into_response()
}

#[derive(Deserialize)]
struct PlanForm {
    plan: String,
}

async fn save_plan(
    State(demo): St,
    MaybeActing(who): MaybeActing,
    Path(id): Path<String>,
    Form(f): Form<PlanForm>,
) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    let change = Change { field: "plan".into(), old: Some(a.plan.clone()), new: Some(f.plan.clone()) };
    if let Err(why) = ask(&demo, who.as_ref(), &id, "billing.update", Some(("plan", &a.plan)), vec![change]).await {
        return refusal(&demo, who.as_ref(), Some(&a), &why.back_to(format!("/accounts/{id}/plan")));
    }
    if let Some(acc) = demo.accounts.write().await.get_mut(&id) {
        acc.plan = f.plan.clone();
    }
    record(&demo, &id, who.as_ref(), &format!("changed the plan to {}", f.plan)).await;
    Redirect::to(&format!("/accounts/{id}/plan")).into_response()
}

async fn invoices(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if let Err(why) = view(&demo, who.as_ref(), &id, "invoices.view").await {
        return refusal(&demo, who.as_ref(), Some(&a), &why);
    }
    let body = html! {
        table {
            thead { tr { th { "Invoice" } th { "Amount" } th { "Status" } } }
            tbody { @for (n, amt, st) in &a.invoices { tr { td { (n) } td { (amt) } td { (st) } } } }
        }
    };
    layout(&demo, "Invoices", who.as_ref(), Some(&a), body).into_response()
}

async fn bank(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    // Sensitive: always asked, so the view is recorded.
    if let Err(why) = ask(&demo, who.as_ref(), &id, "sensitive.view", Some(("bank account", "primary")), vec![]).await {
        return refusal(&demo, who.as_ref(), Some(&a), &why);
    }
    let body = html! { p { "IBAN: " code { (a.bank_account) } } };
    layout(&demo, "Bank details", who.as_ref(), Some(&a), body).into_response()
}

async fn export(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if let Err(why) = ask(&demo, who.as_ref(), &id, "data.export", Some(("export", "all data")), vec![]).await {
        return refusal(&demo, who.as_ref(), Some(&a), &why);
    }
    record(&demo, &id, who.as_ref(), "exported the account data").await;
    let body = html! { p.ok #saved role="status" { "The export is being prepared and will be emailed to the account owner." } };
    layout(&demo, "Export", who.as_ref(), Some(&a), body).into_response()
}

async fn password_reset(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    // The reset link and any new password stay here: actas hears only that it happened.
    let change = Change { field: "password".into(), old: None, new: None };
    if let Err(why) = ask(&demo, who.as_ref(), &id, "password.reset", Some(("user", "owner")), vec![change]).await {
        return refusal(&demo, who.as_ref(), Some(&a), &why);
    }
    record(&demo, &id, who.as_ref(), "sent a password reset link to the account owner").await;
    let body = html! { p.ok #saved role="status" { "A password reset link was sent to the account owner." } };
    layout(&demo, "Password reset", who.as_ref(), Some(&a), body).into_response()
}

async fn activity(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if let Err(why) = view(&demo, who.as_ref(), &id, "activity.view").await {
        return refusal(&demo, who.as_ref(), Some(&a), &why);
    }
    let body = html! {
        ul #activity {
            @for e in a.activity.iter().rev() {
                li class=[e.by_support.then_some("support")] { (e.at) ": " (e.text) }
            }
        }
        @if !a.inbox.is_empty() {
            h2 { "Messages from support" }
            @for n in &a.inbox { p.ok.note { (n) } }
        }
    };
    layout(&demo, "Activity", who.as_ref(), Some(&a), body).into_response()
}

#[derive(Deserialize)]
struct AccessQuery {
    done: Option<String>,
}

async fn access(
    State(demo): St,
    MaybeActing(who): MaybeActing,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<AccessQuery>,
) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if who.is_some() {
        return refusal(&demo, who.as_ref(), Some(&a), &Refused::plain("this page is for the customer"));
    }
    let permission = permission_section(&demo, &a, q.done.as_deref()).await;
    let log = match demo.actas.access_log(&id).await {
        Ok(log) if log.entries.is_empty() => html! { p { "Nobody from support has accessed this account." } },
        Ok(log) => html! {
            div.scroll { table #access-log {
                thead { tr { th { "Who" } th { "When" } th { "Why" } th { "Allowed" } th { "Changed" } } }
                tbody {
                    @for e in &log.entries {
                        tr {
                            td { (e.agent_name) " (" (e.approved_by) ")" }
                            td {
                                (e.started_at.format("%Y-%m-%d %H:%M"))
                                @if e.state == SessionState::Live { " UTC, in progress" } @else { "–" (e.ended_at.format("%H:%M UTC")) }
                            }
                            td { "Ticket " (e.ticket) ": " (e.reason) }
                            td { (e.allowed.join(", ")) }
                            td { @if e.changes.is_empty() { "nothing" } @else { (e.changes.join("; ")) } }
                        }
                    }
                }
            } }
        },
        Err(_) => html! { p.refusal { "The access log cannot be read right now." } },
    };
    let body = html! { (permission) (log) };
    layout(&demo, "Who accessed my account", None, Some(&a), body).into_response()
}

/// The customer's say over support access: allow it for some hours, or
/// withdraw it at once (the kill switch).
async fn permission_section(demo: &Demo, a: &Account, done: Option<&str>) -> Markup {
    let consent = demo.actas.consent(&a.id).await;
    html! {
        section #support-permission aria-labelledby="support-permission-h" {
            h2 #support-permission-h { "Support access" }
            @match done {
                Some("allowed") => { p.ok #permission-done role="status" { "You allowed support to access your account." } }
                Some("withdrawn") => {
                    p.ok #permission-done role="status" { "You withdrew support's access; any live support session ended." }
                }
                _ => {}
            }
            @match &consent {
                Ok(c) => @match &c.grant {
                    Some(g) => {
                        p #permission-state {
                            "Support may access your account until " (g.expires_at.format("%Y-%m-%d %H:%M UTC"))
                            " (allowed by " (g.granted_by) ")."
                        }
                        form method="post" action=(format!("/accounts/{}/permission/withdraw", a.id)) {
                            button type="submit" { "Withdraw permission now" }
                        }
                    }
                    None => {
                        p #permission-state {
                            @if c.required { "Support cannot access your account unless you allow it." }
                            @else { "Support may access your account when you ask for help." }
                        }
                        form method="post" action=(format!("/accounts/{}/permission", a.id)) {
                            label for="permission-hours" { "For how long" }
                            " "
                            select #permission-hours name="hours" {
                                option value="1" { "1 hour" }
                                option value="4" { "4 hours" }
                                option value="24" { "24 hours" }
                            }
                            " "
                            button type="submit" { "Allow support to access my account" }
                        }
                    }
                },
                Err(_) => { p.refusal { "Support access cannot be read right now." } }
            }
        }
    }
}

#[derive(Deserialize)]
struct PermissionForm {
    hours: u32,
}

/// `POST /accounts/{id}/permission`: the customer allows support in.
async fn allow_support(
    State(demo): St,
    MaybeActing(who): MaybeActing,
    Path(id): Path<String>,
    Form(f): Form<PermissionForm>,
) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if who.is_some() {
        return refusal(&demo, who.as_ref(), Some(&a), &Refused::plain("this page is for the customer"));
    }
    match demo.actas.grant_access(&a.id, f.hours, &a.name).await {
        Ok(_) => Redirect::to(&format!("/accounts/{}/access?done=allowed", a.id)).into_response(),
        Err(e) => refusal(&demo, None, Some(&a), &Refused::plain(format!("support access could not be allowed ({e})"))),
    }
}

/// `POST /accounts/{id}/permission/withdraw`: the customer's kill switch.
async fn withdraw_support(State(demo): St, MaybeActing(who): MaybeActing, Path(id): Path<String>) -> Response {
    let a = account_or_404!(demo, who.as_ref(), id);
    if who.is_some() {
        return refusal(&demo, who.as_ref(), Some(&a), &Refused::plain("this page is for the customer"));
    }
    match demo.actas.withdraw_access(&a.id, Some(&a.name)).await {
        Ok(_) => Redirect::to(&format!("/accounts/{}/access?done=withdrawn", a.id)).into_response(),
        Err(e) => {
            refusal(&demo, None, Some(&a), &Refused::plain(format!("support access could not be withdrawn ({e})")))
        }
    }
}
