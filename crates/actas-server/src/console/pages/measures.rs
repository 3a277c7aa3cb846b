//! `GET /measures`: the measures of success of support access for leads
//! and auditors, over the last 7, 30 or 90 days, and `GET /measures.csv`,
//! the same window's sessions one row each. Both read
//! `service::support_metrics`, the API's computation, and draw their
//! charts as inline SVG on the server.

use actas_api as api;
use actas_core::Timestamp;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::{when, Answer};
use crate::authz::Act;
use crate::console::auth::{permit, SignedIn};
use crate::console::{layout, page, query_string, ConsoleError};
use crate::service::{self, MetricsQuery};
use crate::AppState;

/// The windows the page offers, in days.
const WINDOWS: [i64; 3] = [7, 30, 90];

/// The window shown when none is picked.
const DEFAULT_DAYS: i64 = 30;

/// What a refusal says the person may not do.
const WHAT: &str = "Reading the support measures";

/// Width of the charts' drawing, in SVG units.
const CHART_WIDTH: f64 = 360.0;

/// Width of the longest bar; the rest of the line holds its figure.
const BAR_SPACE: f64 = 220.0;

/// The bars' colour (the console's accent: 4.9:1 on white).
const BAR: &str = "#0969da";

/// An empty track behind a share's bar.
const TRACK: &str = "#eff2f5";

/// The charts' text colour.
const INK: &str = "#1f2328";

/// `GET /measures?days=` query.
#[derive(Debug, Default, Deserialize)]
pub struct MeasuresQuery {
    /// 7, 30 or 90.
    days: Option<String>,
}

/// `GET /measures.csv?since=&until=` query (RFC 3339 times).
#[derive(Debug, Default, Deserialize)]
pub struct CsvQuery {
    since: Option<String>,
    until: Option<String>,
}

/// `GET /measures`: the figures of the picked window.
pub async fn measures(State(state): State<AppState>, who: SignedIn, Query(q): Query<MeasuresQuery>) -> Answer {
    permit(&state, &who, Act::ReadSupportMetrics, WHAT)?;
    let days = match q.days.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_DAYS,
        Some(d) => match d.parse::<i64>() {
            Ok(n) if WINDOWS.contains(&n) => n,
            _ => {
                let body = html! {
                    p.alert role="alert" { "Pick a window of 7, 30 or 90 days." }
                    (picker(DEFAULT_DAYS))
                };
                return Ok(page(StatusCode::BAD_REQUEST, layout("Support measures", Some(&who), body)));
            }
        },
    };
    let until = state.ctx.clock.now();
    let query = MetricsQuery { since: Some(until - Duration::days(days)), until: Some(until), team: None };
    let report = service::support_metrics(&state.ctx, &who.staff, query).await?;
    let body = html! {
        (picker(days))
        (figures(days, &report.metrics))
    };
    Ok(page(StatusCode::OK, layout("Support measures", Some(&who), body)))
}

/// `GET /measures.csv`: the sessions of the window, one row each, as the
/// API's `format=csv` writes them.
pub async fn measures_csv(State(state): State<AppState>, who: SignedIn, Query(q): Query<CsvQuery>) -> Answer {
    permit(&state, &who, Act::ReadSupportMetrics, WHAT)?;
    let query = MetricsQuery { since: rfc3339("since", q.since)?, until: rfc3339("until", q.until)?, team: None };
    let report = service::support_metrics(&state.ctx, &who.staff, query).await?;
    let body = crate::export::sessions_csv(&report.sessions)?;
    let mut res = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"support-sessions.csv\""));
    Ok(res)
}

/// An optional RFC 3339 time of the query, or a page saying which one is
/// not one.
fn rfc3339(name: &str, v: Option<String>) -> Result<Option<Timestamp>, ConsoleError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| {
            ConsoleError::Page(StatusCode::BAD_REQUEST, format!("The {name} time must be like 2026-11-25T14:00:00Z."))
        }),
    }
}

/// The window picker: one link per window, the shown one marked current.
fn picker(days: i64) -> Markup {
    html! {
        nav.windows aria-label="Window" {
            ul.actions.row {
                @for d in WINDOWS {
                    li {
                        a.button href=(format!("/measures?days={d}")) aria-current=[(d == days).then_some("page")] {
                            "Last " (d) " days"
                        }
                    }
                }
            }
        }
    }
}

/// Everything the page shows of one window's metrics.
fn figures(days: i64, m: &api::SupportMetrics) -> Markup {
    let csv = format!(
        "/measures.csv?{}",
        query_string(&[("since", &m.since.to_rfc3339()), ("until", &m.until.to_rfc3339())])
    );
    let nothing = m.sessions.started == 0
        && m.denials.total == 0
        && m.refusals.requests.total == 0
        && m.refusals.authorize.total == 0;
    html! {
        p #window {
            "From " (when(m.since)) " to " (when(m.until)) ": "
            (m.sessions.started) " sessions started, " (m.sessions.ended) " ended, " (m.sessions.live) " still live."
        }
        @if m.sessions.breakglass > 0 {
            p #breakglass class=[(m.sessions.awaiting_review > 0).then_some("alert")] {
                strong { "Break-glass: " } (m.sessions.breakglass) " session" @if m.sessions.breakglass != 1 { "s" }
                " started without a lead's approval; "
                @if m.sessions.awaiting_review == 0 { "every one was reviewed." }
                @else { (m.sessions.awaiting_review) " ended and still wait" @if m.sessions.awaiting_review == 1 { "s" } " for a lead's review (" a href="/queue" { "the approval queue" } " lists them)." }
            }
        }
        p { a #csv href=(csv) download { "Download CSV" } " (one row per session of this window)" }
        @if nothing {
            p #empty.note { "Nothing happened in the last " (days) " days: no session started and no request was denied or refused." }
        } @else {
            @if m.sessions.started == 0 {
                p #empty.note { "No session started in the last " (days) " days." }
            } @else {
                section.card #speed {
                    h2 { "How fast support gets to work" }
                    p.hint { "Median minutes of each step, over the sessions started in the window." }
                    (medians_chart(&m.median_minutes))
                }
                section.card #narrow {
                    h2 { "Access stays narrow" }
                    (use_chart(&m.actions))
                    @if m.actions.suggestions.is_empty() {
                        p { "No suggestion: every playbook's actions are used often enough." }
                    } @else {
                        h3 { "Suggestions" }
                        ul #suggestions { @for s in &m.actions.suggestions { li { (s.text) } } }
                    }
                }
                section.card #explained {
                    h2 { "Every session can be explained" }
                    (explained_meter(&m.explainable))
                    (unexplained_list(&m.explainable.not_explainable))
                }
            }
            section.card #denials {
                h2 { "Denials and refusals" }
                (refusal_table(m))
            }
        }
    }
}

/// A number of minutes in words: "1.5 min", or "40 s" under a minute.
fn minutes(v: f64) -> String {
    if v > 0.0 && v < 1.0 {
        format!("{} s", (v * 60.0).round())
    } else {
        format!("{} min", trim(v))
    }
}

/// A share from 0 to 1 as a percentage: "37.5 %".
fn percent(share: f64) -> String {
    format!("{} %", trim(share * 100.0))
}

/// A figure with at most one decimal and none when it is whole.
fn trim(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// One line of a bar chart: its label, the bar's length from 0 to 1 (none:
/// no bar), and the figure written after it.
struct Line {
    label: String,
    length: Option<f64>,
    figure: String,
}

/// Horizontal bars, each under its label with its figure after it, named
/// `name` for assistive technology.
fn bars(name: &str, lines: &[Line], track: bool) -> Markup {
    const STEP: f64 = 44.0;
    let height = STEP * lines.len() as f64 + 4.0;
    html! {
        svg.chart role="img" aria-label=(name) viewBox=(format!("0 0 {CHART_WIDTH} {height}")) width="100%"
            xmlns="http://www.w3.org/2000/svg" {
            title { (name) }
            @for (i, l) in lines.iter().enumerate() {
                @let top = STEP * i as f64;
                @let length = l.length.unwrap_or(0.0).clamp(0.0, 1.0) * BAR_SPACE;
                text x="0" y=(top + 14.0) font-size="13" fill=(INK) { (l.label) }
                @if track { rect x="0" y=(top + 20.0) width=(BAR_SPACE) height="16" fill=(TRACK) stroke="#8c959f" {} }
                @if l.length.is_some() { rect.bar x="0" y=(top + 20.0) width=(length) height="16" fill=(BAR) {} }
                @let after = if track { BAR_SPACE } else { length } + 6.0;
                text x=(after) y=(top + 33.0) font-size="13" fill=(INK) { (l.figure) }
            }
        }
    }
}

/// The three medians as bars on one scale, a minute long at least, so
/// steps of a few seconds draw short bars.
fn medians_chart(m: &api::MedianMinutes) -> Markup {
    let steps = [
        ("Request to decision", m.request_to_decision),
        ("Decision to start", m.decision_to_start),
        ("Start to end", m.start_to_end),
    ];
    let top = steps.iter().filter_map(|(_, v)| *v).fold(1.0_f64, f64::max);
    let lines: Vec<Line> = steps
        .iter()
        .map(|(label, v)| Line {
            label: (*label).to_string(),
            length: v.map(|v| v / top),
            figure: v.map(minutes).unwrap_or_else(|| "no session had this step".into()),
        })
        .collect();
    let name = format!(
        "Median minutes: {}",
        lines.iter().map(|l| format!("{}, {}", l.label.to_lowercase(), l.figure)).collect::<Vec<_>>().join("; ")
    );
    bars(&name, &lines, false)
}

/// The share of granted actions used, overall and per playbook.
fn use_chart(a: &api::ActionUse) -> Markup {
    let lines: Vec<Line> = a
        .playbooks
        .iter()
        .map(|p| Line {
            label: p.label.clone().or_else(|| p.playbook.clone()).unwrap_or_else(|| "No playbook".into()),
            length: p.used_share,
            figure: match p.used_share {
                Some(s) => format!("{} ({} of {})", percent(s), p.used, p.granted),
                None => "nothing granted".into(),
            },
        })
        .collect();
    let name = format!(
        "Granted actions used, per playbook: {}",
        lines.iter().map(|l| format!("{}, {}", l.label, l.figure)).collect::<Vec<_>>().join("; ")
    );
    html! {
        p #used {
            @match a.used_share {
                Some(s) => { "Of " (a.granted) " actions granted, " (a.used) " were used (" (percent(s)) ")." }
                None => "No action was granted.",
            }
        }
        @if !lines.is_empty() { (bars(&name, &lines, true)) }
    }
}

/// The share of ended sessions that can be explained, as a meter.
fn explained_meter(e: &api::Explainability) -> Markup {
    let Some(share) = e.share else {
        return html! { p { "No session of this window has ended yet." } };
    };
    let figure = format!("{} ({} of {})", percent(share), e.explainable, e.ended);
    let name =
        format!("Sessions fully explainable: {} ({} of {} ended sessions)", percent(share), e.explainable, e.ended);
    let line = Line { label: "Fully explainable".into(), length: Some(share), figure };
    html! {
        p #share {
            (e.explainable) " of " (e.ended) " ended sessions (" (percent(share)) ") have a ticket, a specific reason, \
             an approver or the policy, an end reason and the customer's note delivered."
        }
        (bars(&name, &[line], true))
    }
}

/// The sessions that cannot be fully explained, each with what is missing.
fn unexplained_list(list: &[api::Unexplained]) -> Markup {
    html! {
        @if list.is_empty() {
            p { "Every ended session can be explained." }
        } @else {
            h3 { "Sessions that cannot be fully explained" }
            ul.boxed #unexplained {
                @for u in list {
                    li {
                        a href=(format!("/sessions/{}", u.session_id)) { "Session " (u.session_id) }
                        ", ticket " (u.ticket) ", agent " (u.agent)
                        @if let Some(t) = u.ended_at { ", ended " (when(t)) }
                        ". Missing: " (u.missing.join("; ")) "."
                    }
                }
            }
        }
    }
}

/// Denials by the lead's note and refusals by code, as one small table.
fn refusal_table(m: &api::SupportMetrics) -> Markup {
    let groups = [
        ("Denied by a lead", &m.denials),
        ("Request refused by a rule", &m.refusals.requests),
        ("Action refused to the host app", &m.refusals.authorize),
    ];
    html! {
        table.data #refusals {
            thead { tr { th scope="col" { "Kind" } th scope="col" { "Reason" } th scope="col" { "Count" } } }
            tbody {
                @for (kind, tally) in groups {
                    @if tally.by_reason.is_empty() {
                        tr { td data-label="Kind" { (kind) } td data-label="Reason" { "none" } td data-label="Count" { "0" } }
                    }
                    @for r in &tally.by_reason {
                        tr { td data-label="Kind" { (kind) } td data-label="Reason" { (r.reason) } td data-label="Count" { (r.count) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_keep_one_decimal_at_most() {
        assert_eq!(minutes(1.5), "1.5 min");
        assert_eq!(minutes(6.0), "6 min");
        assert_eq!(minutes(0.5), "30 s");
        assert_eq!(minutes(0.0), "0 min");
        assert_eq!(percent(0.375), "37.5 %");
        assert_eq!(percent(0.6667), "66.7 %");
        assert_eq!(percent(0.0), "0 %");
    }
}
