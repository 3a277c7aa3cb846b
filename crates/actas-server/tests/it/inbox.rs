//! The agent's inbox and the request form from a ticket system's ticket:
//! the tickets listed with their kind of case and a Launch button, the
//! playbook's scope suggested and marked, anything beyond it marked for the
//! lead, and tickets typed in by hand marked as such.

use actas_core::connector::Connector;
use reqwest::StatusCode;
use serde_json::json;

use crate::console::Browser;
use actas_server::testing::webhooks::{deliver, zendesk_event, zendesk_signed};
use actas_server::testing::*;

const SECRET: &str = "zendesk-secret-of-the-inbox-tests";

/// Sends Zendesk's event for ticket `id`, assigned to `assignee` (none:
/// unassigned), with `tags`.
async fn zendesk_ticket(app: &TestApp, desk: &str, id: &str, assignee: Option<&str>, tags: &[&str]) {
    let mut event = zendesk_event(id, "OPEN");
    event["detail"]["assignee_id"] = json!(assignee);
    event["detail"]["tags"] = json!(tags);
    event["detail"]["subject"] = json!(format!("Subject of {id}"));
    let d = zendesk_signed(SECRET, app.clock.now(), &format!("inv-{id}"), &event);
    let (s, v) = deliver(&app.base, "zendesk", desk, &d).await;
    assert!(s.is_success(), "{v}");
}

backend_test!(async fn an_agents_home_lists_their_open_tickets_then_unassigned_ones_with_a_launch_button(app) {
    let desk = app.host_app("Acme Zendesk").connector(Connector::Zendesk, SECRET).add().await.id;
    zendesk_ticket(&app, &desk, "70001", Some("maria@support.example"), &["settings_not_saving"]).await;
    app.clock.advance(mins(1));
    zendesk_ticket(&app, &desk, "70002", None, &["login"]).await;
    zendesk_ticket(&app, &desk, "70003", Some("jon"), &[]).await;
    // A solved ticket of Maria's leaves her inbox.
    zendesk_ticket(&app, &desk, "70004", Some("maria"), &[]).await;
    let solved = zendesk_signed(SECRET, app.clock.now(), "inv-70004-solved", &zendesk_event("70004", "SOLVED"));
    assert!(deliver(&app.base, "zendesk", &desk, &solved).await.0.is_success());

    let (_, home) = Browser::signed_in(&app, "maria").await;
    let mine = &home.html[home.html.find(r#"id="assigned""#).expect("Maria's tickets")..];
    let mine = &mine[..mine.find("</table>").unwrap()];
    assert!(mine.contains("70001") && mine.contains("Subject of 70001") && mine.contains("acct_42"), "{mine}");
    assert!(mine.contains("Settings are not saving"), "the kind of case: {mine}");
    assert!(mine.contains(r#"href="/launch?ticket=70001""#), "{mine}");
    assert!(!mine.contains("70003") && !mine.contains("70004"), "{mine}");
    let free = &home.html[home.html.find(r#"id="unassigned""#).expect("unassigned tickets")..];
    let free = &free[..free.find("</table>").unwrap()];
    assert!(free.contains("70002") && free.contains("The customer cannot log in"), "{free}");
    assert!(!free.contains("70001") && !free.contains("70003"), "{free}");

    // A ticket assigned to an e-mail address that is no login reaches the
    // agent whose identity provider gave that address.
    zendesk_ticket(&app, &desk, "70005", Some("jon.park@corp.example"), &[]).await;
    let profile = actas_store::StaffProfile { email: Some("jon.park@corp.example".into()), ..Default::default() };
    app.ctx
        .store
        .write(actas_store::write_fn(move |tx| Box::pin(async move { tx.set_staff_profile("jon", &profile).await })))
        .await
        .unwrap();
    let (_, jon) = Browser::signed_in(&app, "jon").await;
    let his = &jon.html[jon.html.find(r#"id="assigned""#).expect("Jon's tickets")..];
    let his = &his[..his.find("</table>").unwrap()];
    assert!(his.contains("70005") && his.contains("70003"), "{his}");

    // Leads without the agent role have no inbox.
    let (_, lena) = Browser::signed_in(&app, "lena").await;
    assert!(!lena.html.contains(r#"id="inbox""#));
});

backend_test!(async fn the_request_form_suggests_the_playbook_and_the_queue_marks_what_goes_beyond_it(app) {
    let desk = app.host_app("Acme Zendesk").connector(Connector::Zendesk, SECRET).add().await.id;
    zendesk_ticket(&app, &desk, "70001", Some("maria"), &["settings_not_saving"]).await;
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let form = b.get("/launch?ticket=70001").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.html.contains("Kind of case: <strong>Settings are not saving</strong>"), "{}", form.html);
    for action in ["settings.view", "activity.view", "settings.update"] {
        let at = form.html.find(&format!(r#"value="{action}""#)).unwrap();
        let label = &form.html[at..at + form.html[at..].find("</label>").unwrap()];
        assert!(label.contains(" checked"), "{action} is ticked: {label}");
        assert!(label.contains("suggested for this kind of case"), "{label}");
    }
    let at = form.html.find(r#"value="billing.update""#).unwrap();
    let label = &form.html[at..at + form.html[at..].find("</label>").unwrap()];
    assert!(!label.contains(" checked") && !label.contains("suggested"), "{label}");

    // Maria asks for more than the playbook: the request records it, and
    // the lead sees what goes beyond.
    let csrf = form.csrf();
    let p = b
        .post(
            "/requests",
            &[("csrf", &csrf), ("ticket", "70001"), ("reason", REASON), ("actions", "settings.view"), ("actions", "settings.update"), ("actions", "billing.update"), ("minutes", "15")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let id = p.location().trim_start_matches("/requests/").to_string();
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(r["playbook"], "settings_not_saving");
    let (mut lead, _) = Browser::signed_in(&app, "sam").await;
    let queue = lead.get("/queue").await;
    let card = &queue.html[queue.html.find(&format!(r#"id="h-{id}""#)).unwrap()..];
    assert!(card.contains("Suggested for this kind of case (Settings are not saving)"), "{card}");
    assert!(card.contains("<strong>Beyond the suggestion: </strong>Change billing details."), "{card}");
    // In the list of what is asked, what goes beyond is highlighted where it stands.
    assert!(card.contains(r#"<mark class="beyond-mark">Change billing details</mark>"#), "{card}");
    assert!(card.contains(r#"Ticket 70001: <span class="subject">Subject of 70001</span>"#), "{card}");
    // The trail says it too.
    let created = app.events_of_type("request.created").await;
    let e = created.last().unwrap();
    assert_eq!(e["data"]["playbook"], "settings_not_saving");
    assert_eq!(e["data"]["beyond_playbook"], json!(["billing.update"]));
    assert!(e["text"].as_str().unwrap().ends_with("beyond its suggestion: Change billing details."), "{e}");
});

backend_test!(async fn a_ticket_typed_in_by_hand_in_the_console_is_marked(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let missing = b.get("/launch?ticket=PHONE-7").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.html.contains("Type the ticket in by hand"), "{}", missing.html);
    let csrf = missing.csrf();
    let before = app.audit(&app.audrey, "").await.len();
    // A refusal (no subject) keeps what was typed and records nothing.
    let p = b.post("/tickets", &[("csrf", &csrf), ("ref", "PHONE-7"), ("account_id", "acct_42"), ("subject", "")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    assert!(p.html.contains(r#"value="PHONE-7""#) && p.html.contains(r#"role="alert""#));
    assert_eq!(app.audit(&app.audrey, "").await.len(), before);

    let p = b.post("/tickets", &[("csrf", &csrf), ("ref", "PHONE-7"), ("account_id", "acct_42"), ("subject", "Called in: tax settings")]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/launch?ticket=PHONE-7"), "{}", p.html);
    let form = b.get("/launch?ticket=PHONE-7").await;
    assert!(form.html.contains("Typed in by hand: no ticket system confirmed this ticket."), "{}", form.html);
    let created = app.events_of_type("ticket.created").await;
    assert!(created.last().unwrap()["text"].as_str().unwrap().contains("entered ticket PHONE-7 by hand"));
    // Without the CSRF token nothing is recorded.
    let p = b.post("/tickets", &[("ref", "PHONE-8"), ("account_id", "acct_42"), ("subject", "x")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let (s, _) = app.get("/api/v1/tickets/PHONE-8", &app.sam).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});
