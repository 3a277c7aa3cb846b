//! Every free-text field and list is bounded at the edge: one over the
//! limit is refused with a `400` problem naming the field, nothing changes,
//! and the oversized text reaches neither the trail nor any table.

use actas_core::limits::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::console::Browser;
use actas_server::testing::*;

/// Text that is found in the database only if an oversized payload got in.
const MARK: &str = "OVERSIZE-PAYLOAD-";

/// `n` characters, starting with the marker.
fn over(n: usize) -> String {
    let mut s = MARK.repeat(n / MARK.len() + 1);
    s.truncate(n);
    s
}

/// The whole trail as JSON lines: its size in bytes.
async fn trail_bytes(app: &TestApp) -> usize {
    app.text("/api/v1/audit?format=jsonl&limit=1000", &app.audrey).await.len()
}

/// Sends `body` to `path` as `token`; asserts the problem, its field, and
/// that nothing changed anywhere.
async fn refused(app: &TestApp, path: &str, token: &str, body: Value, slug: &str, field: &str) {
    let before = app.counts().await;
    let bytes = trail_bytes(app).await;
    let got = app.post(path, token, body).await;
    assert_problem(&got, 400, slug);
    assert_eq!(got.1["field"], field, "{}", got.1);
    assert_eq!(app.counts().await, before, "{path} {field}: nothing changed");
    assert_eq!(trail_bytes(app).await, bytes, "{path} {field}: the trail did not grow");
}

backend_test!(async fn every_bounded_field_one_over_its_limit_is_refused_and_changes_nothing(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view", "settings.update"]).start().await;
    let pending = app.request(&app.maria).actions(&["billing.update"]).send().await.id;

    // Tickets (a ticket system's app key).
    let ticket = |k: &str, v: Value| {
        let mut t = json!({"ref": "48200", "account_id": "acct_43", "account_name": "Beta Ltd", "subject": "Invoices missing", "url": "https://desk.example/48200"});
        t[k] = v;
        t
    };
    for (field, max) in [("ref", ID_CHARS), ("account_id", ID_CHARS), ("account_name", ACCOUNT_NAME_CHARS), ("subject", SUBJECT_CHARS), ("url", URL_CHARS)] {
        refused(&app, "/api/v1/tickets", &app.app, ticket(field, json!(over(max + 1))), "too-long", field).await;
    }
    refused(&app, "/api/v1/tickets", &app.app, ticket("subject", json!("Invoices\n2026-11-25T14:00:00.000Z  forged")), "invalid-characters", "subject").await;
    refused(&app, "/api/v1/tickets", &app.app, ticket("ref", json!("48\u{202e}200")), "invalid-characters", "ref").await;
    refused(&app, "/api/v1/tickets", &app.app, ticket("assignee", json!(over(ASSIGNEE_CHARS + 1))), "too-long", "assignee").await;
    refused(&app, "/api/v1/tickets", &app.app, ticket("tags", json!([over(TAG_CHARS + 1)])), "too-long", "tags").await;
    refused(&app, "/api/v1/tickets", &app.app, ticket("tags", json!(vec!["billing"; TAGS_PER_TICKET + 1])), "too-many", "tags").await;
    // At the limit is fine.
    let (s, v) = app.post("/api/v1/tickets", &app.app, ticket("subject", json!("s".repeat(SUBJECT_CHARS)))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // Requests.
    let request = |k: &str, v: Value| {
        let mut r = json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view"]});
        r[k] = v;
        r
    };
    refused(&app, "/api/v1/requests", &app.maria, request("ticket", json!(over(ID_CHARS + 1))), "too-long", "ticket").await;
    refused(&app, "/api/v1/requests", &app.maria, request("account_id", json!(over(ID_CHARS + 1))), "too-long", "account_id").await;
    refused(&app, "/api/v1/requests", &app.maria, request("reason", json!(over(REASON_CHARS + 1))), "too-long", "reason").await;
    refused(&app, "/api/v1/requests", &app.maria, request("actions", json!(vec!["settings.view"; ACTIONS_PER_LIST + 1])), "too-many", "actions").await;
    refused(&app, "/api/v1/requests", &app.maria, request("actions", json!([over(ACTION_NAME_CHARS + 1)])), "too-long", "actions").await;
    refused(&app, "/api/v1/requests", &app.maria, request("reason", json!(format!("{REASON}\u{1b}[2J"))), "invalid-characters", "reason").await;

    // Decisions.
    let approve = format!("/api/v1/requests/{pending}/approve");
    refused(&app, &approve, &app.sam, json!({"note": over(NOTE_CHARS + 1)}), "too-long", "note").await;
    refused(&app, &approve, &app.sam, json!({"actions": vec!["billing.update"; ACTIONS_PER_LIST + 1]}), "too-many", "actions").await;
    refused(&app, &format!("/api/v1/requests/{pending}/deny"), &app.sam, json!({"note": over(NOTE_CHARS + 1)}), "too-long", "note").await;
    refused(&app, &format!("/api/v1/requests/{pending}/start"), &app.maria, json!({"app": over(ID_CHARS + 1)}), "too-long", "app").await;

    // The session.
    refused(&app, &format!("/api/v1/sessions/{sid}/revoke"), &app.sam, json!({"note": over(NOTE_CHARS + 1)}), "too-long", "note").await;
    let scope = format!("/api/v1/sessions/{sid}/scope");
    refused(&app, &scope, &app.maria, json!({"actions": ["billing.update"], "reason": over(REASON_CHARS + 1)}), "too-long", "reason").await;
    refused(&app, &scope, &app.maria, json!({"actions": vec!["billing.update"; ACTIONS_PER_LIST + 1], "reason": REASON}), "too-many", "actions").await;
    refused(&app, "/api/v1/entry", &app.app, json!({"code": over(ID_CHARS + 1)}), "too-long", "code").await;

    // Authorize: the action, the target, the changes.
    let authorize = |extra: Value| {
        let mut b = json!({"token": token, "action": "settings.update"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let change = |field: &str, new: &str| json!({"field": field, "new": new});
    let cases = [
        (json!({"action": over(ACTION_NAME_CHARS + 1)}), "too-long", "action"),
        (json!({"target": {"account_id": over(ID_CHARS + 1)}}), "too-long", "target.account_id"),
        (json!({"target": {"type": over(ID_CHARS + 1)}}), "too-long", "target.type"),
        (json!({"target": {"id": over(ID_CHARS + 1)}}), "too-long", "target.id"),
        (json!({"target": {"id": "inv\n2026"}}), "invalid-characters", "target.id"),
        (json!({"changes": [change(&over(FIELD_NAME_CHARS + 1), "x")]}), "too-long", "changes.field"),
        (json!({"changes": [change("timezone", &over(VALUE_CHARS + 1))]}), "too-long", "changes.new"),
        (json!({"changes": [{"field": "timezone", "old": over(VALUE_CHARS + 1)}]}), "too-long", "changes.old"),
        (json!({"changes": [change("timezone", "CET\0")]}), "invalid-characters", "changes.new"),
        (json!({"changes": vec![change("timezone", "CET"); CHANGES_PER_CALL + 1]}), "too-many", "changes"),
        (json!({"changes": vec![change("timezone", &over(VALUE_CHARS)); VALUES_PER_CALL_CHARS / VALUE_CHARS + 1]}), "too-long", "changes"),
    ];
    for (extra, slug, field) in cases {
        refused(&app, "/api/v1/authorize", &app.app, authorize(extra), slug, field).await;
    }
    let (_, v) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(v["state"], "live");

    // The oversized text is nowhere in the database.
    assert!(!app.stored_anywhere(MARK).await);
});

backend_test!(async fn a_huge_reason_never_reaches_the_trail_and_policy_refusals_stay_small(app) {
    // Just under the 64 KiB body limit: refused at the edge, no request.refused.
    let before = app.counts().await;
    let bytes = trail_bytes(&app).await;
    let huge = over(60 * 1024);
    let got = app
        .post("/api/v1/requests", &app.maria, json!({"ticket": "48192", "reason": huge, "actions": ["settings.view"]}))
        .await;
    assert_problem(&got, 400, "too-long");
    assert!(got.1["detail"].as_str().unwrap().contains("at most 2000"), "{}", got.1);
    assert_eq!(app.counts().await, before);
    assert_eq!(trail_bytes(&app).await, bytes);
    assert!(!app.stored_anywhere(MARK).await);

    // A refusal by a rule is audited, with everything at its largest: the
    // event stays a few kilobytes.
    let actions: Vec<String> = (0..ACTIONS_PER_LIST).map(|i| format!("teleport.n{i:0>90}")).collect();
    let got = app
        .post(
            "/api/v1/requests",
            &app.maria,
            json!({"ticket": "48192", "reason": "r".repeat(REASON_CHARS), "actions": actions}),
        )
        .await;
    assert_problem(&got, 422, "unknown-action");
    let refused = app.events_of_type("request.refused").await;
    let size = serde_json::to_string(refused.last().unwrap()).unwrap().len();
    assert!(size < 16 * 1024, "{size} bytes");
});

backend_test!(async fn the_console_shows_a_bound_next_to_its_field(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let form = b.get("/launch?ticket=48192").await;
    assert!(form.html.contains(r#"maxlength="2000""#), "the browser knows the bound too");
    let before = app.counts().await;
    let reason = over(REASON_CHARS + 1);
    let p = b
        .post(
            "/requests",
            &[("csrf", &form.csrf()), ("ticket", "48192"), ("reason", &reason), ("actions", "settings.view"), ("minutes", "15")],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.html);
    let at = p.html.find(r#"id="reason-error""#).expect("the sentence is next to the reason field");
    assert!(p.html[at..].contains("reason is 2001 characters long; at most 2000 are accepted."), "{}", &p.html[at..at + 200]);
    assert_eq!(app.counts().await, before);
});
