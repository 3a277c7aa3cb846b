//! Tickets from Zendesk and Jira Service Management: their webhooks, in
//! the shapes their documentation shows (`fixtures/`), signed their own
//! way; a solved or closed ticket ends its live sessions everywhere; and
//! every delivery that is not genuine, fresh and new is refused with
//! nothing stored.

use std::time::Duration;

use actas_core::connector::Connector;
use reqwest::StatusCode;
use serde_json::json;

use actas_server::testing::webhooks::{deliver, jira_event, jira_signed, zendesk_event, zendesk_signed, Delivery};
use actas_server::testing::*;

const ZENDESK_SECRET: &str = "dGhpc19pc19hX3plbmRlc2tfd2ViaG9va19zZWNyZXQ";
const JIRA_SECRET: &str = "jira-webhook-secret-for-the-tests-only";

fn now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    app.clock.now()
}

/// What a refused delivery must leave as it was: the trail's length, and
/// whether the ticket exists.
async fn state(app: &TestApp, reference: &str) -> (usize, StatusCode) {
    let events = app.audit(&app.audrey, "").await.len();
    let (ticket, _) = app.get(&format!("/api/v1/tickets/{reference}"), &app.sam).await;
    (events, ticket)
}

backend_test!(async fn a_zendesk_ticket_opens_requests_and_solving_it_ends_the_live_session(app) {
    let zendesk = app.host_app("Acme Zendesk").connector(Connector::Zendesk, ZENDESK_SECRET).add().await;
    let base = app.url("");
    let base = base.trim_end_matches('/');

    // The ticket arrives from Zendesk: mapped field by field.
    let d = zendesk_signed(ZENDESK_SECRET, now(&app), "inv-1", &zendesk_event("70001", "OPEN"));
    let (s, v) = deliver(base, "zendesk", &zendesk.id, &d).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["outcome"], "created");
    let (s, t) = app.get("/api/v1/tickets/70001", &app.sam).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["account_id"], "acct_42");
    assert_eq!(t["subject"], "Tax settings will not save");
    assert_eq!(t["status"], "open");
    assert_eq!(t["source"], "zendesk");
    assert_eq!(t["assignee"], "maria", "the e-mail's local part is Maria's login");
    assert_eq!(t["tags"], json!(["settings_not_saving", "billing"]));
    assert_eq!(t["playbook"]["name"], "settings_not_saving");
    let created = app.events_of_type("ticket.created").await;
    let line = created.last().unwrap()["text"].as_str().unwrap().to_string();
    assert!(line.contains("sent ticket 70001 from Zendesk"), "{line}");

    // Maria works it: the request records the playbook.
    let live = app.session(&app.maria).ticket("70001").actions(&["settings.view"]).start().await;
    let (_, r) = app.get(&format!("/api/v1/requests/{}", live.request.id), &app.maria).await;
    assert_eq!(r["playbook"], "settings_not_saving");
    assert!(app.authorize(&live.token, "settings.view").await.allowed);

    // The same ticket, unchanged, sent again under a new invocation: nothing new.
    app.clock.advance(mins(1));
    let events = app.audit(&app.audrey, "").await.len();
    let d = zendesk_signed(ZENDESK_SECRET, now(&app), "inv-2", &zendesk_event("70001", "OPEN"));
    let (s, v) = deliver(base, "zendesk", &zendesk.id, &d).await;
    assert_eq!((s, v["outcome"].as_str()), (StatusCode::OK, Some("unchanged")), "{v}");
    assert_eq!(app.audit(&app.audrey, "").await.len(), events);

    // Zendesk says it is solved: the live session ends, and says why.
    app.clock.advance(mins(2));
    let d = zendesk_signed(ZENDESK_SECRET, now(&app), "inv-3", &zendesk_event("70001", "SOLVED"));
    let (s, v) = deliver(base, "zendesk", &zendesk.id, &d).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["outcome"], "updated");
    assert_eq!(v["sessions_ended"], json!([live.id]));
    let (_, sess) = app.get(&format!("/api/v1/sessions/{}", live.id), &app.maria).await;
    assert_eq!(sess["state"], "ended");
    assert_eq!(sess["end_reason"], "ticket_closed");
    let answer = app.authorize(&live.token, "settings.view").await;
    assert!(!answer.allowed);
    assert_eq!(answer.reason.as_str(), "ticket_closed");

    let updated = app.events_of_type("ticket.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["changed"], json!(["status"]));
    assert_eq!(updated[0]["data"]["sessions_ended"], json!([live.id]));
    assert_eq!(
        updated[0]["text"],
        "Zendesk updated ticket 70001 for acct_42: status open to solved; its live session ended."
    );
    let ended = app.events_of_type("session.ticket_closed").await;
    assert_eq!(ended.len(), 1);
    let line = ended[0]["text"].as_str().unwrap();
    assert!(line.contains("because ticket 70001 was solved or closed in Acme Zendesk"), "{line}");

    // The customer note is queued for the host app.
    let (_, notes) = app.get("/api/v1/notices", &app.app).await;
    let note = notes["notices"].as_array().unwrap().iter().find(|n| n["session_id"] == live.id.as_str());
    let note = note.unwrap_or_else(|| panic!("a note for the session: {notes}"));
    assert_eq!(note["data"]["end_reason"], "ticket_closed");

    // A solved ticket takes no new request.
    let before = app.audit(&app.audrey, "type=request.created").await.len();
    let (s, v) = app
        .post(
            "/api/v1/requests",
            &app.jon,
            json!({"ticket": "70001", "reason": "Customer cannot save the tax settings page", "actions": ["settings.view"]}),
        )
        .await;
    assert_problem(&(s, v), 422, "ticket-closed");
    assert_eq!(app.audit(&app.audrey, "type=request.created").await.len(), before);
});

backend_test!(async fn jira_issues_arrive_and_a_done_issue_ends_its_session(app) {
    let jira = app.host_app("Acme Jira").connector(Connector::Jira, JIRA_SECRET).add().await;
    let base = app.url("");
    let base = base.trim_end_matches('/');

    let d = jira_signed(JIRA_SECRET, "wh-1", &jira_event("SUP-121", "indeterminate", now(&app)));
    let (s, v) = deliver(base, "jira", &jira.id, &d).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let t = &v["ticket"];
    assert_eq!(t["ref"], "SUP-121");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["account_id"], "acct_42");
    assert_eq!(t["account_name"], "Acme Corp");
    assert_eq!(t["url"], "https://acme-support.atlassian.net/browse/SUP-121");
    assert_eq!(t["assignee"], "maria");
    assert_eq!(t["playbook"]["name"], "invoice_page_wrong");

    let live = app.session(&app.maria).ticket("SUP-121").actions(&["invoices.view"]).start().await;
    app.clock.advance(mins(3));
    let d = jira_signed(JIRA_SECRET, "wh-2", &jira_event("SUP-121", "done", now(&app)));
    let (s, v) = deliver(base, "jira", &jira.id, &d).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ticket"]["status"], "closed");
    assert_eq!(v["sessions_ended"], json!([live.id]));
    assert_eq!(app.authorize(&live.token, "invoices.view").await.reason.as_str(), "ticket_closed");
});

#[tokio::test]
async fn a_closed_ticket_ends_its_session_on_every_node_within_two_seconds() {
    let app = TestApp::spawn().await;
    let zendesk = app.host_app("Acme Zendesk").connector(Connector::Zendesk, ZENDESK_SECRET).add().await;
    let other = app.second_node().await;
    let base = app.url("");
    let d = zendesk_signed(ZENDESK_SECRET, now(&app), "inv-1", &zendesk_event("70002", "OPEN"));
    assert_eq!(deliver(base.trim_end_matches('/'), "zendesk", &zendesk.id, &d).await.0, StatusCode::CREATED);
    let live = app.session(&app.maria).ticket("70002").actions(&["settings.view"]).start().await;
    let there = actas_client::Client::new(other.base.clone(), app.app.clone());
    assert!(there.authorize(&live.token, "settings.view").await.unwrap().allowed);

    // Closed through the other node: refused on both within 2 s.
    let d = zendesk_signed(ZENDESK_SECRET, now(&app), "inv-2", &zendesk_event("70002", "CLOSED"));
    assert_eq!(deliver(&other.base, "zendesk", &zendesk.id, &d).await.0, StatusCode::OK);
    refused_everywhere(&[&there, &app.client], &live.token, "settings.view", Duration::from_secs(2)).await;
}

backend_test!(async fn deliveries_not_genuine_fresh_and_new_are_refused_with_nothing_stored(app) {
    let zendesk = app.host_app("Acme Zendesk").connector(Connector::Zendesk, ZENDESK_SECRET).add().await;
    let jira = app.host_app("Acme Jira").connector(Connector::Jira, JIRA_SECRET).add().await;
    let base = app.url("");
    let base = base.trim_end_matches('/').to_string();
    let at = now(&app);
    let event = zendesk_event("70003", "OPEN");
    let good = zendesk_signed(ZENDESK_SECRET, at, "inv-1", &event);
    let before = state(&app, "70003").await;
    assert_eq!(before.1, StatusCode::NOT_FOUND);

    let mut tampered = zendesk_signed(ZENDESK_SECRET, at, "inv-2", &event);
    tampered.body = serde_json::to_vec(&zendesk_event("70003", "SOLVED")).unwrap();
    let mut unsigned = zendesk_signed(ZENDESK_SECRET, at, "inv-3", &event);
    unsigned.headers.retain(|(k, _)| *k != "x-zendesk-webhook-signature");
    let mut no_stamp = zendesk_signed(ZENDESK_SECRET, at, "inv-4", &event);
    no_stamp.headers.retain(|(k, _)| *k != "x-zendesk-webhook-signature-timestamp");
    let mut no_ref = event.clone();
    no_ref["detail"].as_object_mut().unwrap().remove("id");
    let cases: Vec<(&str, &str, String, Delivery, u16)> = vec![
        ("another secret", "zendesk", zendesk.id.clone(), zendesk_signed("not-the-secret-at-all", at, "inv-5", &event), 401),
        ("a body changed after signing", "zendesk", zendesk.id.clone(), tampered, 401),
        ("no signature", "zendesk", zendesk.id.clone(), unsigned, 401),
        ("no timestamp", "zendesk", zendesk.id.clone(), no_stamp, 401),
        ("sent 6 minutes ago", "zendesk", zendesk.id.clone(), zendesk_signed(ZENDESK_SECRET, at - mins(6), "inv-6", &event), 401),
        ("sent 6 minutes ahead", "zendesk", zendesk.id.clone(), zendesk_signed(ZENDESK_SECRET, at + mins(6), "inv-7", &event), 401),
        ("an unknown app", "zendesk", "app_nobody".into(), zendesk_signed(ZENDESK_SECRET, at, "inv-8", &event), 404),
        ("the Jira path for a Zendesk app", "jira", zendesk.id.clone(), zendesk_signed(ZENDESK_SECRET, at, "inv-9", &event), 404),
        ("Jira's secret on Zendesk's path", "zendesk", jira.id.clone(), zendesk_signed(JIRA_SECRET, at, "inv-10", &event), 404),
        ("a body without the ticket's id", "zendesk", zendesk.id.clone(), zendesk_signed(ZENDESK_SECRET, at, "inv-11", &no_ref), 400),
        ("a status actas does not know", "zendesk", zendesk.id.clone(), zendesk_signed(ZENDESK_SECRET, at, "inv-12", &zendesk_event("70003", "ARCHIVED")), 400),
        ("a Jira delivery sent 10 minutes ago", "jira", jira.id.clone(), jira_signed(JIRA_SECRET, "wh-1", &jira_event("SUP-9", "new", at - mins(10))), 401),
    ];
    for (what, system, app_id, d, status) in &cases {
        let (s, v) = deliver(&base, system, app_id, d).await;
        assert_eq!(s.as_u16(), *status, "{what}: {v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: a problem that says why: {v}");
        assert_eq!(state(&app, "70003").await, before, "{what}: nothing stored");
    }

    // The genuine delivery is taken once; its replay is refused.
    let (s, v) = deliver(&base, "zendesk", &zendesk.id, &good).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let after = state(&app, "70003").await;
    let replayed = deliver(&base, "zendesk", &zendesk.id, &good).await;
    assert_problem(&replayed, 409, "delivery-replayed");
    assert_eq!(state(&app, "70003").await, after, "a replay stores nothing");

    // A delivery that moves the ticket to another account is refused.
    let mut moved = zendesk_event("70003", "PENDING");
    moved["detail"]["organization_id"] = json!("acct_7");
    let (s, v) = deliver(&base, "zendesk", &zendesk.id, &zendesk_signed(ZENDESK_SECRET, at, "inv-13", &moved)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(state(&app, "70003").await, after);
    let (_, t) = app.get("/api/v1/tickets/70003", &app.sam).await;
    assert_eq!((t["account_id"].as_str(), t["status"].as_str()), (Some("acct_42"), Some("open")));
});

backend_test!(async fn a_ticket_typed_in_by_hand_is_marked_and_the_policy_may_refuse_it(app = {
    let src = actas_core::policy::DEFAULT_POLICY_TOML.replace("require_system = \"never\"", "require_system = \"changes\"");
    Policy::parse(&src).unwrap()
}) {
    let (s, t) = app
        .post("/api/v1/tickets", &app.maria, json!({"ref": "H-1", "account_id": "acct_42", "subject": "Called in by phone"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["source"], "hand");
    let created = app.events_of_type("ticket.created").await;
    let line = created.last().unwrap()["text"].as_str().unwrap().to_string();
    assert!(line.contains("entered ticket H-1 by hand"), "{line}");
    // The ticket system's tickets are not marked.
    let (_, t) = app.get("/api/v1/tickets/48192", &app.sam).await;
    assert_eq!(t["source"], "app");

    // A view is allowed on a hand-typed ticket; a change is not.
    let view = app
        .post("/api/v1/requests", &app.maria, json!({"ticket": "H-1", "reason": "Customer says the settings page is blank", "actions": ["settings.view"]}))
        .await;
    assert_eq!(view.0, StatusCode::CREATED, "{}", view.1);
    let before = app.audit(&app.audrey, "type=request.created").await.len();
    let change = app
        .post("/api/v1/requests", &app.jon, json!({"ticket": "H-1", "reason": "Customer asked us to fix the tax settings", "actions": ["settings.update"]}))
        .await;
    assert_problem(&change, 422, "ticket-by-hand");
    assert_eq!(app.audit(&app.audrey, "type=request.created").await.len(), before);
});

backend_test!(async fn an_approved_request_does_not_start_once_its_ticket_is_closed(app) {
    let zendesk = app.host_app("Acme Zendesk").connector(Connector::Zendesk, ZENDESK_SECRET).add().await;
    let base = app.url("");
    let d = zendesk_signed(ZENDESK_SECRET, now(&app), "inv-1", &zendesk_event("70004", "OPEN"));
    assert_eq!(deliver(&base, "zendesk", &zendesk.id, &d).await.0, StatusCode::CREATED);
    let r = app.request(&app.maria).ticket("70004").actions(&["settings.view"]).send().await;
    assert_eq!(r["status"], "approved");
    let d = zendesk_signed(ZENDESK_SECRET, now(&app), "inv-2", &zendesk_event("70004", "CLOSED"));
    assert_eq!(deliver(&base, "zendesk", &zendesk.id, &d).await.0, StatusCode::OK);

    let before = app.audit(&app.audrey, "").await.len();
    let started = app.start(&app.maria, &r.id).await;
    assert_problem(&started, 409, "ticket-closed");
    let (_, req) = app.get(&format!("/api/v1/requests/{}", r.id), &app.maria).await;
    assert_eq!(req["status"], "approved", "nothing changed: {req}");
    assert_eq!(app.audit(&app.audrey, "").await.len(), before);
});

#[tokio::test]
async fn without_a_key_encryption_key_a_connector_is_refused_and_nothing_is_stored() {
    let app = TestApp::configured(|c| c.keys = actas_server::KeyAccess::Plaintext).await;
    let before = app.events().await.len();
    let kind = Connector::Zendesk;
    let new = actas_server::service::NewApp {
        connector: Some(actas_server::service::ConnectorSetup {
            kind,
            secret: ZENDESK_SECRET.into(),
            mapping: actas_core::connector::Mapping::default_for(kind),
        }),
        ..actas_server::service::NewApp::new("Acme Zendesk", true, vec![])
    };
    let refused = actas_server::service::add_app(&app.ctx, actas_core::audit::Actor::system(), new).await;
    match &refused {
        Err(e @ actas_core::Error::Refused { .. }) => {
            let said = e.to_string();
            assert!(said.contains("no key-encryption key") && said.contains("nothing was changed"), "{said}");
            assert!(said.contains("--key-encryption-key-file"), "says how to give one: {said}");
        }
        other => panic!("a refusal, not {other:?}"),
    }
    assert_eq!(app.events().await.len(), before, "no event");
    assert!(!app.stored_anywhere(ZENDESK_SECRET).await, "the secret is nowhere");
    assert!(!app.stored_anywhere("Acme Zendesk").await, "no app");
}
