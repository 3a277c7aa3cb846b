//! The audit trail in the console: search with every filter of
//! `GET /api/v1/audit`, cursor paging, downloads in the API's export
//! formats, and the verification of the chain.
//!
//! The filters are read into the API's [`AuditQuery`] and checked by the
//! API's own [`filter`]; downloads use the same [`render`] as the API, so
//! the console and the API never disagree about what a filter or a format
//! means. Lines on the page are shown with [`one_line`], like the text
//! export: one event, one line, whatever was typed into it.

use actas_core::audit::{Event, EventType};
use actas_core::limits::one_line;
use actas_core::Timestamp;
use axum::extract::{Query, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, SecondsFormat};
use maud::{html, Markup};
use serde::Deserialize;
use strum::VariantArray;

use super::{field_error, Answer, FieldError};
use crate::authz::Act;
use crate::console::auth::{permit, SignedIn};
use crate::console::ui::{event_badge, event_class, event_words, moment};
use crate::console::{encode, layout, page, query_string, ConsoleError};
use crate::export::render;
use crate::http::error::ApiError;
use crate::routes::audit::{filter, AuditQuery};
use crate::service;
use crate::AppState;

/// The search form as submitted: every value as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditForm {
    account: String,
    agent: String,
    ticket: String,
    session: String,
    #[serde(rename = "type")]
    kind: String,
    since: String,
    until: String,
    limit: String,
    cursor: String,
    format: String,
}

impl AuditForm {
    /// The filters (no paging, no format), for links.
    fn filters(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("account", self.account.trim()),
            ("agent", self.agent.trim()),
            ("ticket", self.ticket.trim()),
            ("session", self.session.trim()),
            ("type", self.kind.trim()),
            ("since", self.since.trim()),
            ("until", self.until.trim()),
        ]
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A `datetime-local` value (or an RFC 3339 time), read as UTC.
fn utc_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

fn time_field(field: &str, label: &str, s: &str) -> Result<Option<String>, FieldError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    utc_time(s).map(|t| Some(t.to_rfc3339_opts(SecondsFormat::Millis, true))).ok_or_else(|| FieldError {
        field: field.into(),
        detail: format!(
            "The \"{label}\" time is not a date and time. Pick one, or write it like 2026-11-25T14:00 (read as UTC)."
        ),
    })
}

/// The API's query for this form; `paged` keeps the limit and the cursor.
fn to_query(f: &AuditForm, paged: bool) -> Result<AuditQuery, FieldError> {
    if let Some(t) = opt(&f.kind) {
        t.parse::<EventType>()
            .map_err(|_| FieldError { field: "type".into(), detail: "Pick an event type from the list.".into() })?;
    }
    let limit = match opt(&f.limit).filter(|_| paged) {
        None => None,
        Some(l) => {
            Some(l.parse::<i64>().ok().filter(|n| (1..=service::MAX_PAGE).contains(n)).ok_or_else(|| FieldError {
                field: "limit".into(),
                detail: format!("Events per page must be a whole number from 1 to {}.", service::MAX_PAGE),
            })?)
        }
    };
    Ok(AuditQuery {
        account: opt(&f.account),
        agent: opt(&f.agent),
        ticket: opt(&f.ticket),
        session: opt(&f.session),
        kind: opt(&f.kind),
        since: time_field("since", "From", &f.since)?,
        until: time_field("until", "Until", &f.until)?,
        limit,
        cursor: opt(&f.cursor).filter(|_| paged),
        format: None,
    })
}

/// Reads the query string into the form; an unreadable one is a sentence.
fn read_form(raw: Option<String>) -> Result<AuditForm, FieldError> {
    let uri = format!("/?{}", raw.unwrap_or_default());
    uri.parse().ok().and_then(|u| Query::<AuditForm>::try_from_uri(&u).ok()).map(|Query(f)| f).ok_or_else(|| {
        FieldError { field: "form".into(), detail: "The search could not be read; search again.".into() }
    })
}

fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().chain(c).collect();
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}

fn api_sentence(e: ApiError) -> FieldError {
    let (_, _, detail, _) = e.parts();
    FieldError { field: "form".into(), detail: sentence(&detail) }
}

fn text_input(id: &str, name: &str, label: &str, value: &str, err: Option<&FieldError>) -> Markup {
    let e = FieldError::at(err, name);
    let eid = format!("{id}-error");
    html! {
        div {
            label for=(id) { (label) }
            (field_error(&eid, e))
            input type="text" id=(id) name=(name) value=(value) aria-describedby=[e.map(|_| eid.as_str())];
        }
    }
}

fn search_form(f: &AuditForm, err: Option<&FieldError>) -> Markup {
    let general = err.filter(|e| !matches!(e.field.as_str(), "type" | "since" | "until" | "limit"));
    let type_err = FieldError::at(err, "type");
    let since_err = FieldError::at(err, "since");
    let until_err = FieldError::at(err, "until");
    let limit_err = FieldError::at(err, "limit");
    html! {
        form #audit-search method="get" action="/audit" {
            @if let Some(e) = general { p.alert role="alert" #audit-error { (e.detail) } }
            div.filters {
                (text_input("f-account", "account", "Customer account id", &f.account, err))
                (text_input("f-agent", "agent", "Staff login (their access, or what they did)", &f.agent, err))
                (text_input("f-ticket", "ticket", "Ticket reference", &f.ticket, err))
                (text_input("f-session", "session", "Session id", &f.session, err))
                div {
                    label for="f-type" { "Event type" }
                    (field_error("f-type-error", type_err))
                    select #f-type name="type" aria-describedby=[type_err.map(|_| "f-type-error")] {
                        option value="" { "Any type" }
                        @for t in EventType::VARIANTS {
                            option value=(t.as_str()) selected[f.kind.trim() == t.as_str()] { (event_words(*t)) " (" (t.as_str()) ")" }
                        }
                    }
                }
            }
            div.filters {
                div {
                    label for="f-since" { "From (UTC, included)" }
                    (field_error("f-since-error", since_err))
                    input type="datetime-local" #f-since name="since" step="1" value=(f.since)
                        aria-describedby=[since_err.map(|_| "f-since-error")];
                }
                div {
                    label for="f-until" { "Until (UTC, not included)" }
                    (field_error("f-until-error", until_err))
                    input type="datetime-local" #f-until name="until" step="1" value=(f.until)
                        aria-describedby=[until_err.map(|_| "f-until-error")];
                }
                div {
                    label for="f-limit" { "Events per page" }
                    (field_error("f-limit-error", limit_err))
                    input type="number" #f-limit name="limit" min="1" max=(service::MAX_PAGE) placeholder="100"
                        value=(f.limit) aria-describedby=[limit_err.map(|_| "f-limit-error")];
                }
            }
            div.actions { button.primary type="submit" { "Search" } a.button href="/audit" { "Clear the filters" } }
        }
    }
}

/// One event as a row: when, who, what (its kind in words and its
/// sentence), its session and its ticket. Denials are marked on the row
/// and by their badge.
fn event_row(now: Timestamp, e: &Event) -> Markup {
    html! {
        tr class=[event_class(e.kind)] {
            td.when data-label="Time" { (moment(now, e.at)) }
            td data-label="Who" { (one_line(&e.actor.name)) }
            td data-label="What" {
                (event_badge(e.kind))
                br;
                (one_line(&e.text))
            }
            td data-label="Session" {
                @match &e.session_id {
                    Some(sid) => {
                        a href=(format!("/sessions/{}", encode(sid))) title=(one_line(sid)) {
                            span.visually-hidden { "Session " } (one_line(&short_id(sid)))
                        }
                    }
                    None => { span.hint { "—" } }
                }
            }
            td data-label="Ticket" {
                @match &e.ticket {
                    Some(t) => { (one_line(t)) }
                    None => { span.hint { "—" } }
                }
            }
        }
    }
}

/// An id short enough for a table cell: its prefix and first characters.
fn short_id(id: &str) -> String {
    match id.char_indices().nth(10) {
        Some((i, _)) => format!("{}…", &id[..i]),
        None => id.to_string(),
    }
}

fn results(now: Timestamp, f: &AuditForm, events: &[Event], next: Option<i64>) -> Markup {
    let filters = f.filters();
    let with = |extra: &[(&'static str, &str)]| {
        let mut pairs = filters.clone();
        pairs.extend_from_slice(extra);
        query_string(&pairs)
    };
    let next_cursor = next.map(|n| n.to_string()).unwrap_or_default();
    let limit = f.limit.trim();
    html! {
        section aria-labelledby="results-h" {
            h2 #results-h { "Events" }
            p.hint { "Oldest first; times in UTC (hover a time for the full date). Denials are marked in red." }
            @if events.is_empty() {
                p #no-events { "No event matches these filters." }
            } @else {
                div.wide {
                    table.data #events {
                        caption.visually-hidden { "Audit events" }
                        thead {
                            tr {
                                th scope="col" { "Time" } th scope="col" { "Who" } th scope="col" { "What happened" }
                                th scope="col" { "Session" } th scope="col" { "Ticket" }
                            }
                        }
                        tbody { @for e in events { (event_row(now, e)) } }
                    }
                }
            }
            @if next.is_some() {
                div.actions { a.button #next-page rel="next" href=(format!("/audit?{}", with(&[("limit", limit), ("cursor", &next_cursor)]))) { "Next page" } }
            }
            h2 { "Download" }
            p { "Every event matching these filters, not only this page:" }
            ul.actions.downloads {
                li { a.button href=(format!("/audit/export?{}", with(&[("format", "jsonl")]))) download { "JSON lines (.jsonl)" } }
                li { a.button href=(format!("/audit/export?{}", with(&[("format", "csv")]))) download { "CSV (.csv)" } }
                li { a.button href=(format!("/audit/export?{}", with(&[("format", "text")]))) download { "Plain text (.txt)" } }
            }
        }
    }
}

fn refused(who: &SignedIn, f: &AuditForm, err: &FieldError) -> Response {
    page(StatusCode::BAD_REQUEST, layout("Audit trail", Some(who), search_form(f, Some(err))))
}

/// `GET /audit`: the search form and one page of events.
pub async fn search(State(state): State<AppState>, who: SignedIn, RawQuery(raw): RawQuery) -> Answer {
    permit(&state, &who, Act::ReadAudit, "Reading the audit trail")?;
    let f = match read_form(raw) {
        Ok(f) => f,
        Err(e) => return Ok(refused(&who, &AuditForm::default(), &e)),
    };
    let q = match to_query(&f, true) {
        Ok(q) => q,
        Err(e) => return Ok(refused(&who, &f, &e)),
    };
    let ef = match filter(q) {
        Ok((ef, _)) => ef,
        Err(e) => return Ok(refused(&who, &f, &api_sentence(e))),
    };
    let (events, next) = service::list_events(&state.ctx, &who.staff, ef).await?;
    let now = state.ctx.clock.now();
    let body = html! { (search_form(&f, None)) (results(now, &f, &events, next)) };
    Ok(page(StatusCode::OK, layout("Audit trail", Some(&who), body)))
}

/// `GET /audit/export?format=jsonl|csv|text&...`: every matching event as
/// a download, in the API's formats.
pub async fn export(State(state): State<AppState>, who: SignedIn, RawQuery(raw): RawQuery) -> Answer {
    permit(&state, &who, Act::ReadAudit, "Reading the audit trail")?;
    let f = match read_form(raw) {
        Ok(f) => f,
        Err(e) => return Ok(refused(&who, &AuditForm::default(), &e)),
    };
    let format = f.format.trim().to_string();
    let ext = match format.as_str() {
        "jsonl" => "jsonl",
        "csv" => "csv",
        "text" => "txt",
        _ => {
            let e = FieldError {
                field: "form".into(),
                detail: "Pick a download format: JSON lines, CSV or plain text.".into(),
            };
            return Ok(refused(&who, &f, &e));
        }
    };
    let q = match to_query(&f, false) {
        Ok(q) => q,
        Err(e) => return Ok(refused(&who, &f, &e)),
    };
    let ef = match filter(q) {
        Ok((ef, _)) => ef,
        Err(e) => return Ok(refused(&who, &f, &api_sentence(e))),
    };
    let mut events = Vec::new();
    service::all_events(&state.ctx, ef, |e| {
        events.push(e.clone());
        Ok(())
    })
    .await?;
    let (ct, body) = match render(&events, &format) {
        Ok(v) => v,
        Err(e) => {
            let (status, _, detail, _) = ApiError::from(e).parts();
            return Err(ConsoleError::Page(status, detail));
        }
    };
    let mut res = ([(header::CONTENT_TYPE, ct)], body).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"actas-audit.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(res)
}

/// `GET /audit/verify`: re-computes the chain and checks its checkpoints.
pub async fn verify(State(state): State<AppState>, who: SignedIn) -> Answer {
    permit(&state, &who, Act::VerifyAudit, "Verifying the audit trail")?;
    let v = service::verify(&state.ctx).await?;
    let body = html! {
        @if v.ok {
            div.ok role="status" #verdict {
                p { "The audit trail checks out: every event chains to the one before it, and every signed checkpoint matches." }
            }
        } @else {
            div.alert role="alert" #verdict {
                p {
                    "The audit trail does not check out. "
                    @if let Some(n) = v.first_bad { "The first bad event is number " (n) ": " }
                    (sentence(v.problem.as_deref().unwrap_or("a problem was found")))
                }
            }
        }
        div.card {
            p #counts { (v.events) " events and " (v.checkpoints) " signed checkpoints checked." }
            @if let Some(h) = &v.head { p { "Head of the chain: " code { (h) } } }
            p.hint { "The same check runs with " code { "actas audit verify" } " on the command line." }
            div.actions { a.button.primary href="/audit/verify" { "Verify again" } }
        }
    };
    Ok(page(StatusCode::OK, layout("Audit trail verification", Some(&who), body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_values_are_read_as_utc() {
        let want = "2026-11-25T14:00:00.000Z";
        assert_eq!(time_field("since", "From", "2026-11-25T14:00").unwrap().as_deref(), Some(want));
        assert_eq!(time_field("since", "From", "2026-11-25T14:00:00").unwrap().as_deref(), Some(want));
        assert_eq!(time_field("since", "From", "2026-11-25T15:00:00+01:00").unwrap().as_deref(), Some(want));
        assert_eq!(time_field("since", "From", " ").unwrap(), None);
        assert!(time_field("since", "From", "yesterday").unwrap_err().detail.starts_with("The \"From\" time"));
    }

    #[test]
    fn problems_become_sentences() {
        assert_eq!(sentence("cursor is not one this server gave"), "Cursor is not one this server gave.");
    }
}
