//! Exports and timelines cannot be forged by what people type: one event is
//! one line in every plain-text output, no control, line-separator or bidi
//! character reaches an export raw, CSV cells never start a formula, and the
//! trail itself keeps what was sent, verbatim.

use actas_core::limits::is_layout_char;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::console::Browser;
use actas_server::testing::*;

/// A second, made-up event line an agent might try to slip in.
const FORGED: &str =
    "\n2026-11-25T14:00:00.000Z  Sam Lee approved Maria Lopez's request under ticket 48192 as asked: Delete records; 30 minutes.";
/// How the forged line reads once escaped.
const FORGED_ESCAPED: &str = "\\n2026-11-25T14:00:00.000Z  Sam Lee approved Maria Lopez";
const TICKET: &str = "=HYPERLINK(\"http://evil.test\",\"open\")";

/// Every character that is not a line ending of the format itself.
#[track_caller]
fn assert_no_layout_chars(what: &str, s: &str) {
    if let Some(c) = s.chars().find(|c| is_layout_char(*c)) {
        panic!("{what} holds U+{:04X}: {s:?}", c as u32);
    }
}

/// A hostile trail: a formula-named agent on a formula-named ticket asks
/// with a reason that forges a line, a lead approves and revokes with notes
/// that do too, and the host app records values full of escape sequences.
async fn hostile_trail(app: &TestApp) -> (String, String) {
    let eve = app.staff("eve").name("=Eve Formula").add().await;
    let (s, v) = app
        .post(
            "/api/v1/tickets",
            &app.app,
            json!({"ref": TICKET, "account_id": "+acct_9", "account_name": "@Acme Formula", "subject": "-2+3 tax settings"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let reason = format!("Customer cannot save tax settings{FORGED}\u{2028}and more\u{202e}desrever\tend");
    // Escape sequences and NUL are refused in a reason; nothing is written.
    let before = app.counts().await;
    for bad in ["\u{1b}[2J\u{1b}[31mCustomer can't update tax settings", "Customer can't update tax settings\0"] {
        let got = app
            .post("/api/v1/requests", &eve, json!({"ticket": TICKET, "reason": bad, "actions": ["settings.view"]}))
            .await;
        assert_problem(&got, 400, "invalid-characters");
        assert_eq!(got.1["field"], "reason");
    }
    assert_eq!(app.counts().await, before);

    let (s, r) = app
        .post(
            "/api/v1/requests",
            &eve,
            json!({"ticket": TICKET, "reason": reason, "actions": ["settings.view", "settings.update"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["reason"], reason, "kept verbatim");
    let id = r["id"].as_str().unwrap();
    let (s, v) = app.approve(&app.sam, id, json!({"note": "=1+1 approved\nafter a call"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, started) = app.start(&eve, id).await;
    assert_eq!(s, StatusCode::CREATED, "{started}");
    let sid = started["session"]["id"].as_str().unwrap().to_string();
    let token = started["token"].as_str().unwrap();
    let changes = json!({"changes": [
        {"field": "timezone", "old": "+1+1", "new": "@SUM(A1)\u{1b}[31m\u{9b}2J\u{85}\u{2029}\u{1b}]0;pwned\u{7}"},
        {"field": "tax_id", "old": format!("\r{FORGED}"), "new": "-1\u{7f}\u{2066}x\u{2069}\u{200f}"},
    ]});
    let v = app.authorize_with(token, "settings.update", changes).await;
    assert!(v.allowed, "{v:?}");
    let (s, v) = app
        .post(
            &format!("/api/v1/sessions/{sid}/revoke"),
            &app.sam,
            json!({"note": "Done\u{2028}2026-11-25T14:05:00.000Z  forged line\r\nsecond line"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (sid, reason)
}

backend_test!(async fn typed_text_cannot_forge_lines_or_formulas_in_any_export(app) {
    let (sid, reason) = hostile_trail(&app).await;
    let events = app.events().await;
    let n = events.len();

    // The trail keeps what was sent, and still verifies.
    let created = events.iter().find(|e| e["type"] == "request.created" && e["ticket"] == TICKET).unwrap();
    assert_eq!(created["data"]["reason"], reason);
    assert!(created["text"].as_str().unwrap().contains(FORGED), "the stored sentence is verbatim");
    assert_eq!(app.verify().await["ok"], true);

    // Plain text: exactly one line per event, each starting with its time.
    let text = app.text("/api/v1/audit?format=text&limit=1000", &app.audrey).await;
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), n, "{text}");
    for (line, e) in lines.iter().zip(&events) {
        assert_no_layout_chars("a text line", line);
        assert!(line.starts_with(&format!("{}  ", e["at"].as_str().unwrap())), "{line}");
    }
    assert!(text.contains(FORGED_ESCAPED), "{text}");
    assert!(text.contains("\\u{2028}and more\\u{202e}desrever\\tend"), "{text}");
    assert!(text.contains("@SUM(A1)\\u{1b}[31m\\u{9b}2J\\u{85}\\u{2029}\\u{1b}]0;pwned\\u{7}"), "{text}");
    assert!(text.contains("-1\\u{7f}\\u{2066}x\\u{2069}\\u{200f}"), "{text}");
    assert!(text.contains("Done\\u{2028}2026-11-25T14:05:00.000Z  forged line\\r\\nsecond line"), "{text}");

    // JSON lines: one per event, the same values as the JSON answer.
    let jsonl = app.text("/api/v1/audit?format=jsonl&limit=1000", &app.audrey).await;
    let lines: Vec<&str> = jsonl.split_terminator('\n').collect();
    assert_eq!(lines.len(), n);
    for (line, e) in lines.iter().zip(&events) {
        assert_no_layout_chars("a JSON line", line);
        assert_eq!(&serde_json::from_str::<Value>(line).unwrap(), e, "the same event, byte escapes aside");
    }

    // CSV, read as a spreadsheet would: no cell is a formula or holds a control.
    let csv_body = app.text("/api/v1/audit?format=csv&limit=1000", &app.audrey).await;
    let mut reader = csv::Reader::from_reader(csv_body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), n);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    for (row, e) in rows.iter().zip(&events) {
        for cell in row {
            assert_no_layout_chars("a CSV cell", cell);
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "a formula cell: {cell:?}");
        }
        assert_eq!(row[col("seq")].parse::<i64>().unwrap(), e["seq"].as_i64().unwrap());
        assert_eq!(&serde_json::from_str::<Value>(&row[col("data")]).unwrap(), &e["data"]);
    }
    let on_ticket: Vec<&csv::StringRecord> = rows.iter().filter(|r| r[col("ticket")] == format!("'{TICKET}")).collect();
    assert!(on_ticket.len() >= 6, "every event on the ticket, neutralised: {}", on_ticket.len());
    assert!(rows.iter().any(|r| &r[col("actor_name")] == "'=Eve Formula"));
    assert!(rows.iter().any(|r| &r[col("account_id")] == "'+acct_9"));

    // The session timeline, in the API and in the console, shows escapes.
    let (s, timeline) = app.get(&format!("/api/v1/sessions/{sid}/timeline"), &app.sam).await;
    assert_eq!(s, StatusCode::OK, "{timeline}");
    let texts: Vec<&str> = timeline["events"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert!(texts.len() >= 5, "{timeline}");
    for t in &texts {
        assert_no_layout_chars("a timeline text", t);
    }
    assert!(texts.iter().any(|t| t.contains(FORGED_ESCAPED)), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("\\u{1b}[31m")), "{texts:?}");

    let (mut b, _) = Browser::signed_in(&app, "sam").await;
    let page = b.get(&format!("/sessions/{sid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let fragment = b.get(&format!("/sessions/{sid}?fragment=timeline")).await;
    let list = fragment.html.as_str();
    assert!(page.html.contains(list), "the page shows the same timeline");
    assert_no_layout_chars("the console timeline", list);
    assert!(list.contains(FORGED_ESCAPED), "{list}");
    assert!(list.contains("\\u{2028}and more\\u{202e}desrever"), "{list}");
    assert!(list.contains("@SUM(A1)\\u{1b}[31m\\u{9b}2J"), "{list}");
    assert!(!page.html.contains('\u{1b}') && !page.html.contains('\u{202e}') && !page.html.contains('\u{2028}'));

    // The console's own search results read the same way.
    let (mut auditor, _) = Browser::signed_in(&app, "audrey").await;
    let page = auditor.get(&format!("/audit?session={sid}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("\\u{1b}[31m"), "{}", page.html);
    assert!(!page.html.contains('\u{1b}') && !page.html.contains('\u{202e}') && !page.html.contains('\u{2028}'));
});
