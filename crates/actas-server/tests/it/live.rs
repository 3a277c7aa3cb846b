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
