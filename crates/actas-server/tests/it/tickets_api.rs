//! `POST /api/v1/tickets` as a ticket system without a connector uses it:
//! a ticket's status, assignee and tags arrive with it, a ticket sent again
//! is updated, and a solved or closed ticket ends its live sessions as a
//! connector's would. Staff typing a ticket in by hand may give tags, never
//! a status or an assignee.

use std::time::Duration;

use actas_core::limits::{TAGS_PER_TICKET, TAG_CHARS};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use actas_server::testing::*;

/// What a refused call must leave as it was: the trail's length and the
/// ticket as Sam reads it (`404` when it does not exist).
async fn state(app: &TestApp, reference: &str) -> (usize, StatusCode, Value) {
    let events = app.events().await.len();
    let (s, mut ticket) = app.get(&format!("/api/v1/tickets/{reference}"), &app.sam).await;
    // A problem document names its own request: not part of the state.
    if let Some(p) = ticket.as_object_mut() {
        p.remove("request_id");
    }
    (events, s, ticket)
}

fn ticket(reference: &str, more: Value) -> Value {
    let mut t = json!({"ref": reference, "account_id": "acct_42", "account_name": "Acme Corp", "subject": "Tax settings will not save"});
    for (k, v) in more.as_object().expect("more fields, as a JSON object") {
        t[k] = v.clone();
    }
    t
}

backend_test!(async fn an_app_sends_a_tickets_status_assignee_and_tags_and_they_are_kept(app) {
    let (s, t) = app
        .post(
            "/api/v1/tickets",
            &app.app,
            ticket("60001", json!({"status": "pending", "assignee": "maria@support.example", "tags": ["settings_not_saving", "billing"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (s, t) = app.get("/api/v1/tickets/60001", &app.sam).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["assignee"], "maria", "the e-mail's local part is Maria's login, as connectors map it");
    assert_eq!(t["tags"], json!(["settings_not_saving", "billing"]));
    assert_eq!(t["source"], "app");
    assert_eq!(t["playbook"]["name"], "settings_not_saving");
    let created = app.events_of_type("ticket.created").await;
    let data = &created.last().unwrap()["data"];
    assert_eq!((data["status"].as_str(), data["assignee"].as_str()), (Some("pending"), Some("maria")));
    assert_eq!(data["tags"], json!(["settings_not_saving", "billing"]));

    // Without a status, a new ticket is open; an assignee who is no staff
    // member is kept as sent.
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60002", json!({"assignee": "outsourced@partner.example"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!((t["status"].as_str(), t["assignee"].as_str()), (Some("open"), Some("outsourced@partner.example")));
    assert_eq!(t["tags"], json!([]));

    // A ticket that arrives solved is stored solved, and takes no request.
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60003", json!({"status": "solved"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (_, t) = app.get("/api/v1/tickets/60003", &app.sam).await;
    assert_eq!(t["status"], "solved");
    let asked = app
        .post("/api/v1/requests", &app.maria, json!({"ticket": "60003", "reason": REASON, "actions": ["settings.view"]}))
        .await;
    assert_problem(&asked, 422, "ticket-closed");

    // Sent again with changes: updated, and a field left out stays.
    app.clock.advance(mins(1));
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60001", json!({"status": "open", "assignee": "jon"}))).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!((t["status"].as_str(), t["assignee"].as_str()), (Some("open"), Some("jon")));
    assert_eq!(t["tags"], json!(["settings_not_saving", "billing"]), "tags left out stay");
    let updated = app.events_of_type("ticket.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["changed"], json!(["status", "assignee"]));
    assert_eq!(updated[0]["data"]["source"], "app");
    assert_eq!(updated[0]["actor"]["id"], app.app_id.as_str());
    assert_eq!(
        updated[0]["text"],
        "Acme Billing updated ticket 60001 for Acme Corp (acct_42): status pending to open and assigned to jon."
    );

    // An empty assignee is nobody; an empty list of tags removes them.
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60001", json!({"assignee": "", "tags": []}))).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!((t["assignee"].clone(), t["tags"].clone()), (Value::Null, json!([])));
    assert!(t["playbook"].is_null(), "{t}");
});

backend_test!(async fn an_app_saying_a_ticket_is_solved_ends_its_live_session(app) {
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60010", json!({"tags": ["billing"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let mut feed = app.client.follow();
    app.wait_for_followers(1).await;
    let live = app.session(&app.maria).ticket("60010").actions(&["settings.view"]).start().await;
    assert!(app.authorize(&live.token, "settings.view").await.allowed);
    let started = tokio::time::timeout(Duration::from_secs(2), feed.next()).await.expect("feed too slow").unwrap();
    assert_eq!(started.kind.as_str(), "session.started");

    // The same ticket, unchanged (status and all), sent again: no event.
    app.clock.advance(mins(1));
    let events = app.events().await.len();
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60010", json!({"status": "open", "tags": ["billing"]}))).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60010", json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(app.events().await.len(), events, "an unchanged ticket writes nothing");

    // Solved: the live session ends, says why, and the feed tells at once.
    app.clock.advance(mins(2));
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60010", json!({"status": "solved"}))).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "solved");
    let ended = tokio::time::timeout(Duration::from_secs(2), feed.next()).await.expect("feed too slow").unwrap();
    assert_eq!(ended.kind.as_str(), "session.ticket_closed");
    assert_eq!(ended.session.id.as_str(), live.id);
    let (_, sess) = app.get(&format!("/api/v1/sessions/{}", live.id), &app.maria).await;
    assert_eq!((sess["state"].as_str(), sess["end_reason"].as_str()), (Some("ended"), Some("ticket_closed")));
    let answer = app.authorize(&live.token, "settings.view").await;
    assert!(!answer.allowed);
    assert_eq!(answer.reason.as_str(), "ticket_closed");

    let updated = app.events_of_type("ticket.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["changed"], json!(["status"]));
    assert_eq!(updated[0]["data"]["sessions_ended"], json!([live.id]));
    assert_eq!(updated[0]["ticket"], "60010");
    let closed = app.events_of_type("session.ticket_closed").await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["session_id"], live.id.as_str());
    let line = closed[0]["text"].as_str().unwrap();
    assert!(line.contains("because ticket 60010 was solved or closed in Acme Billing"), "{line}");
    // The ticket's update and the session's end are one transaction, in
    // the trail side by side.
    let seq = |e: &Value| e["seq"].as_i64().unwrap();
    assert_eq!(seq(&closed[0]) + 1, seq(&updated[0]));
    assert_eq!(app.verify().await["ok"], true);
});

#[tokio::test]
async fn a_ticket_solved_through_the_api_ends_its_session_on_every_node_within_two_seconds() {
    let app = TestApp::spawn().await;
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60020", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let live = app.session(&app.maria).ticket("60020").actions(&["settings.view"]).start().await;
    let other = app.second_node().await;
    let there = actas_client::Client::new(other.base.clone(), app.app.clone());
    assert!(there.authorize(&live.token, "settings.view").await.unwrap().allowed);
    let mut feed = there.follow();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Closed through the other node: refused on both, and the first node's
    // followers hear of it, within 2 s.
    let closed = there
        .create_ticket(&actas_client::api::NewTicket {
            reference: "60020".into(),
            account_id: "acct_42".into(),
            subject: "Tax settings will not save".into(),
            status: Some(actas_client::api::TicketStatus::Closed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(closed.status.as_str(), "closed");
    refused_everywhere(&[&there, &app.client], &live.token, "settings.view", Duration::from_secs(2)).await;
    let change = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let c = feed.next().await.expect("the feed goes on");
            if c.kind.as_str() == "session.ticket_closed" {
                return c;
            }
        }
    })
    .await
    .expect("the other node's feed tells within 2 s");
    assert_eq!(change.session.id.as_str(), live.id);
}

backend_test!(async fn staff_may_not_say_a_tickets_status_or_assignee(app) {
    // On a ticket its system sent: refused, nothing changed.
    let before = state(&app, "48192").await;
    assert_eq!(before.1, StatusCode::OK);
    for (more, field) in [
        (json!({"status": "solved"}), "status"),
        (json!({"status": "pending"}), "status"),
        (json!({"assignee": "maria"}), "assignee"),
        (json!({"assignee": ""}), "assignee"),
        (json!({"status": "open", "assignee": "jon", "tags": ["billing"]}), "assignee"),
    ] {
        let body = ticket("48192", more.clone());
        for who in [&app.maria, &app.sam] {
            let got = app.post("/api/v1/tickets", who, body.clone()).await;
            assert_problem(&got, 422, "ticket-system-only");
            assert_eq!(got.1["field"], field, "{more}: {}", got.1);
            assert_eq!(state(&app, "48192").await, before, "{more}: nothing changed");
        }
    }

    // On a new ticket: refused, nothing stored.
    let before = state(&app, "H-2").await;
    assert_eq!(before.1, StatusCode::NOT_FOUND);
    for more in [json!({"status": "closed"}), json!({"assignee": "maria"})] {
        let got = app.post("/api/v1/tickets", &app.maria, ticket("H-2", more.clone())).await;
        assert_problem(&got, 422, "ticket-system-only");
        assert_eq!(state(&app, "H-2").await, before, "{more}: nothing stored");
    }

    // Tags (and an open status) are fine: a playbook may suggest a scope.
    let (s, t) =
        app.post("/api/v1/tickets", &app.maria, ticket("H-2", json!({"status": "open", "tags": ["settings_not_saving"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!((t["source"].as_str(), t["status"].as_str()), (Some("hand"), Some("open")));
    assert_eq!(t["tags"], json!(["settings_not_saving"]));
    assert_eq!(t["playbook"]["name"], "settings_not_saving");

    // Typed in again with other tags: answered as it stands.
    let before = state(&app, "H-2").await;
    let (s, t) = app.post("/api/v1/tickets", &app.jon, ticket("H-2", json!({"tags": ["billing"], "subject": "Other words"}))).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["tags"], json!(["settings_not_saving"]));
    assert_eq!(state(&app, "H-2").await, before);
});

backend_test!(async fn an_app_may_not_move_a_ticket_to_another_account(app) {
    let (s, t) = app.post("/api/v1/tickets", &app.app, ticket("60030", json!({"tags": ["billing"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let before = state(&app, "60030").await;
    let mut moved = ticket("60030", json!({"status": "solved", "tags": []}));
    moved["account_id"] = json!("acct_7");
    let got = app.post("/api/v1/tickets", &app.app, moved).await;
    assert_problem(&got, 409, "ticket-exists");
    assert_eq!(state(&app, "60030").await, before, "nothing changed");
});

backend_test!(async fn tags_over_their_bounds_are_refused_and_nothing_is_stored(app) {
    let before = state(&app, "60040").await;
    let over = |n: usize| "t".repeat(n);
    for (tags, slug) in [
        (json!(vec!["billing"; TAGS_PER_TICKET + 1]), "too-many"),
        (json!([over(TAG_CHARS + 1)]), "too-long"),
        (json!(["billing\nforged"]), "invalid-characters"),
    ] {
        for who in [&app.app, &app.maria] {
            let got = app.post("/api/v1/tickets", who, ticket("60040", json!({ "tags": tags }))).await;
            assert_problem(&got, 400, slug);
            assert_eq!(got.1["field"], "tags", "{}", got.1);
            assert_eq!(state(&app, "60040").await, before, "{slug}: nothing stored");
        }
    }
    let got = app.post("/api/v1/tickets", &app.app, ticket("60040", json!({"tags": ["  "]}))).await;
    assert_problem(&got, 422, "field-required");
    assert_eq!(state(&app, "60040").await, before);
    let got = app.post("/api/v1/tickets", &app.app, ticket("60040", json!({"status": "archived"}))).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(state(&app, "60040").await, before);

    // At the bounds is fine.
    let (s, t) = app
        .post("/api/v1/tickets", &app.app, ticket("60040", json!({"tags": vec![over(TAG_CHARS); TAGS_PER_TICKET]})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["tags"].as_array().map(Vec::len), Some(TAGS_PER_TICKET));
});
