//! `GET /live`: the console's own event stream, which tells a signed-in
//! person's pages that something they may see changed.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;

use actas_server::testing::*;

use crate::console::Browser;

/// Opens `/live` with `b`'s cookies and answers its status, content type
/// and body.
async fn open(
    app: &TestApp,
    b: &Browser,
) -> (StatusCode, Option<String>, impl futures::Stream<Item = reqwest::Result<impl AsRef<[u8]>>> + Unpin) {
    let res = app.http.get(format!("{}/live", app.base)).header("cookie", b.cookie_header()).send().await.unwrap();
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    (res.status(), ct, Box::pin(res.bytes_stream()))
}

/// The next `event: changed` frame before `within` is over, skipping
/// keep-alive comments; `None` when there is none by then.
async fn next_changed<B: AsRef<[u8]>>(
    body: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    within: Duration,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = String::new();
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if frame.lines().any(|l| l == "event: changed") {
                return Some(frame);
            }
        }
        let chunk = tokio::time::timeout_at(deadline, body.next()).await.ok()??.unwrap();
        buf.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
}

backend_test!(async fn the_stream_refuses_a_caller_who_is_not_signed_in(app) {
    let res = app.http.get(format!("{}/live", app.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.http.get(format!("{}/live", app.base)).header("cookie", "actas_console=forged").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Signed out: the cookie it held no longer opens it.
    let (mut b, home) = Browser::signed_in(&app, "maria").await;
    let cookie = b.cookie_header();
    b.post("/logout", &[("csrf", &home.csrf())]).await;
    let res = app.http.get(format!("{}/live", app.base)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
});

backend_test!(async fn a_commit_wakes_the_streams_of_those_who_may_see_it_and_no_one_else(app) {
    let (maria, _) = Browser::signed_in(&app, "maria").await;
    let (sam, _) = Browser::signed_in(&app, "sam").await;
    let (jon, _) = Browser::signed_in(&app, "jon").await;
    let (status, ct, mut maria_live) = open(&app, &maria).await;
    assert_eq!((status, ct.as_deref()), (StatusCode::OK, Some("text/event-stream")));
    let (_, _, mut sam_live) = open(&app, &sam).await;
    let (_, _, mut jon_live) = open(&app, &jon).await;
    app.request(&app.maria).actions(&["settings.update"]).send().await;
    let frame = next_changed(&mut maria_live, Duration::from_secs(2)).await.expect("Maria hears of her request");
    assert_eq!(frame, "event: changed\ndata: changed\n\n", "only the word: nothing of the request");
    next_changed(&mut sam_live, Duration::from_secs(2)).await.expect("the lead hears of it");
    // The absence of an event is what is tested: Jon may not see Maria's
    // request, so his stream stays quiet (1 s is four polls of the tail).
    assert_eq!(next_changed(&mut jon_live, Duration::from_secs(1)).await, None);
});

backend_test!(async fn a_commit_of_another_process_reaches_the_stream(app) {
    let (sam, _) = Browser::signed_in(&app, "sam").await;
    let (_, _, mut live) = open(&app, &sam).await;
    let cli = app.other_process().await;
    actas_server::service::disable_staff(&cli, actas_core::audit::Actor::system(), "jon").await.unwrap();
    next_changed(&mut live, Duration::from_secs(2)).await.expect("the lead hears of the change made elsewhere");
});

backend_test!(async fn a_person_holds_a_bounded_number_of_streams(app) {
    let (maria, _) = Browser::signed_in(&app, "maria").await;
    let mut open_ones = Vec::new();
    for _ in 0..4 {
        let (status, _, body) = open(&app, &maria).await;
        assert_eq!(status, StatusCode::OK);
        open_ones.push(body);
    }
    let (status, _, _) = open(&app, &maria).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Closing one gives its place back.
    drop(open_ones.pop());
    wait_until(Duration::from_secs(5), "a stream's place given back", || async {
        open(&app, &maria).await.0 == StatusCode::OK
    })
    .await;
});

/// How long `body` takes to end (the server closing the stream), skipping
/// whatever it sends meanwhile; `None` when it is still open after `within`.
async fn ends_within<B: AsRef<[u8]>>(
    body: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    within: Duration,
) -> Option<Duration> {
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return None,
            Ok(None | Some(Err(_))) => return Some(started.elapsed()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

backend_test!(async fn a_stream_ends_within_two_seconds_of_its_sign_out_and_only_that_one(app) {
    let (mut b, home) = Browser::signed_in(&app, "maria").await;
    let (other, _) = Browser::signed_in(&app, "maria").await;
    let (status, _, mut live) = open(&app, &b).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, mut other_live) = open(&app, &other).await;
    let out = b.post("/logout", &[("csrf", &home.csrf())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    let took = ends_within(&mut live, Duration::from_secs(2)).await;
    assert!(took.is_some(), "the signed-out stream still runs after 2 s");
    // Her other sign-in still holds: its stream goes on and hears of her request.
    app.request(&app.maria).actions(&["settings.update"]).send().await;
    next_changed(&mut other_live, Duration::from_secs(2)).await.expect("the other sign-in's stream goes on");
});

backend_test!(async fn a_stream_ends_within_two_seconds_of_its_person_being_disabled_or_timing_out(app) {
    let (maria, _) = Browser::signed_in(&app, "maria").await;
    let (_, _, mut live) = open(&app, &maria).await;
    let (jon, _) = Browser::signed_in(&app, "jon").await;
    let (_, _, mut jon_live) = open(&app, &jon).await;
    // An admin disables Maria from the console: her sign-in is revoked.
    let (mut ada, _) = Browser::signed_in(&app, "ada").await;
    let csrf = ada.get("/staff/maria").await.csrf();
    let p = ada.post("/staff/maria/disable", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(ends_within(&mut live, Duration::from_secs(2)).await.is_some(), "Maria's stream still runs after 2 s");
    // Jon's console session idles out on the clock (nothing he did for 30
    // minutes: streams are not activity): his stream ends too.
    app.clock.advance(mins(31));
    assert!(ends_within(&mut jon_live, Duration::from_secs(2)).await.is_some(), "Jon's stream still runs after 2 s");
});

backend_test!(async fn an_agent_hears_of_tickets_assigned_to_them_and_not_of_others(app) {
    let (maria, _) = Browser::signed_in(&app, "maria").await;
    let (jon, _) = Browser::signed_in(&app, "jon").await;
    let (_, _, mut maria_live) = open(&app, &maria).await;
    let (_, _, mut jon_live) = open(&app, &jon).await;
    // A ticket system pushes a ticket for Maria through POST /api/v1/tickets.
    app.ticket("61001").subject("Invoices show the wrong tax rate").assignee("maria").create().await;
    next_changed(&mut maria_live, Duration::from_secs(2)).await.expect("Maria hears of her new ticket");
    // The absence of an event is what is tested: the ticket is not Jon's
    // (1 s is four polls of the tail).
    assert_eq!(next_changed(&mut jon_live, Duration::from_secs(1)).await, None, "Jon hears nothing of Maria's ticket");
    let f = maria_fragment(&app).await;
    assert!(f.contains("61001"), "and her inbox lists it: {f}");
    // Given to Jon: both hear of it (it leaves her inbox, enters his).
    app.ticket("61001").subject("Invoices show the wrong tax rate").assignee("jon").create().await;
    next_changed(&mut jon_live, Duration::from_secs(2)).await.expect("Jon hears of the ticket given to him");
    next_changed(&mut maria_live, Duration::from_secs(2)).await.expect("Maria hears of the ticket taken from her");
    assert!(!maria_fragment(&app).await.contains("61001"));
});

backend_test!(async fn an_agent_hears_of_a_connectors_ticket_assigned_to_their_email_address(app) {
    use actas_server::testing::webhooks::{deliver, zendesk_event, zendesk_signed};
    const SECRET: &str = "zendesk-secret-of-the-live-tests";
    let desk = app.host_app("Acme Zendesk").connector(actas_core::connector::Connector::Zendesk, SECRET).add().await.id;
    let profile = actas_store::StaffProfile { email: Some("jon.park@corp.example".into()), ..Default::default() };
    app.ctx
        .store
        .write(actas_store::write_fn(move |tx| Box::pin(async move { tx.set_staff_profile("jon", &profile).await })))
        .await
        .unwrap();
    let (jon, _) = Browser::signed_in(&app, "jon").await;
    let (maria, _) = Browser::signed_in(&app, "maria").await;
    let (_, _, mut jon_live) = open(&app, &jon).await;
    let (_, _, mut maria_live) = open(&app, &maria).await;
    let mut event = zendesk_event("70011", "OPEN");
    event["detail"]["assignee_id"] = serde_json::json!("jon.park@corp.example");
    let d = zendesk_signed(SECRET, app.clock.now(), "inv-70011", &event);
    let (s, v) = deliver(&app.base, "zendesk", &desk, &d).await;
    assert!(s.is_success(), "{v}");
    next_changed(&mut jon_live, Duration::from_secs(2)).await.expect("Jon hears of the ticket for his address");
    assert_eq!(next_changed(&mut maria_live, Duration::from_secs(1)).await, None, "not Maria");
});

/// Maria's home page live box, as her console fetches it.
async fn maria_fragment(app: &TestApp) -> String {
    let (mut b, _) = Browser::signed_in(app, "maria").await;
    b.get("/?fragment=1").await.html
}
