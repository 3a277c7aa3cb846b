//! Connections: idle ones cannot starve the API, slow request heads are
//! cut off, and the session feed outlives the idle timeout. Every load
//! stays on 127.0.0.1, bounded in count and time.

use std::time::{Duration, Instant};

use actas_server::http::connections::Limits;
use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use actas_server::testing::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Short limits, so the tests take a second or two.
fn short(max_connections: usize) -> Limits {
    Limits {
        max_connections,
        header_timeout: ms(400),
        idle_timeout: ms(600),
        body_timeout: ms(400),
        ..Limits::default()
    }
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Opens `n` connections that send nothing.
async fn idle_connections(app: &TestApp, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(TcpStream::connect(addr(app)).await.unwrap());
    }
    out
}

/// Reads until the server closes the connection (or 5 s pass); answers
/// what was read and how long it took.
async fn read_until_closed(s: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Err(_) => panic!("still open after 5 s; read {:?}", String::from_utf8_lossy(&got)),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), start.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// `GET /healthz` from a new client; answers how long it took.
async fn healthz(app: &TestApp) -> Duration {
    let start = Instant::now();
    let res = reqwest::Client::new()
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    start.elapsed()
}

#[tokio::test]
async fn three_hundred_idle_connections_do_not_stop_the_api() {
    let app = TestApp::configured(|_| {}).await;
    let idle = idle_connections(&app, 300).await;
    let took = healthz(&app).await;
    // Well before the 10 s a new connection has for its head.
    assert!(took < Duration::from_secs(5), "{took:?}");
    let (s, _) = app.get("/api/v1/requests?status=pending", &app.sam).await;
    assert_eq!(s.as_u16(), 200);
    drop(idle);
}

#[tokio::test]
async fn past_the_connection_limit_a_newcomer_closes_the_longest_idle_connection() {
    let app = TestApp::configured(|c| c.connections = Limits { header_timeout: ms(30_000), ..short(16) }).await;
    // Far more idle connections than the limit, and timeouts far away.
    let mut idle = idle_connections(&app, 100).await;
    let took = healthz(&app).await;
    assert!(took < Duration::from_secs(5), "answered in {took:?}, not after a 30 s timeout");
    // The oldest idle connection made room.
    let (_, waited) = read_until_closed(&mut idle[0]).await;
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn past_the_limit_with_every_connection_busy_a_newcomer_waits_for_one_to_finish() {
    let app = TestApp::configured(|c| c.connections = short(2)).await;
    let feed = |app: &TestApp| app.http.get(format!("{}/api/v1/sessions/feed", app.base)).bearer_auth(&app.app).send();
    let _first = feed(&app).await.unwrap();
    let second = feed(&app).await.unwrap();
    let base = app.base.clone();
    let waiting = tokio::spawn(async move {
        let start = Instant::now();
        let res = reqwest::Client::new().get(format!("{base}/healthz")).send().await;
        (res.map(|r| r.status().as_u16()), start.elapsed())
    });
    // The wait is what is tested: half a second on, the newcomer still waits.
    tokio::time::sleep(ms(500)).await;
    assert!(!waiting.is_finished(), "two feeds hold both places");
    drop(second);
    let (status, took) = waiting.await.unwrap();
    assert_eq!(status.unwrap(), 200);
    assert!(took >= ms(450) && took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_request_head_sent_in_pieces_is_cut_off_after_the_header_timeout() {
    let app = TestApp::configured(|c| c.connections = short(64)).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: actas\r\n").await.unwrap();
    // A slow client keeps sending a header line now and then, never the end.
    let start = Instant::now();
    let (mut read, mut write) = s.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..30 {
            tokio::time::sleep(ms(100)).await;
            if write.write_all(format!("X-{i}: y\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), read.read(&mut buf)).await.expect("cut off").unwrap_or(0);
    let took = start.elapsed();
    assert_eq!(n, 0, "no answer, just closed: {:?}", String::from_utf8_lossy(&buf[..n]));
    assert!(took >= ms(350) && took < ms(3000), "{took:?}");
    trickle.abort();
    // A healthy client meanwhile is served.
    healthz(&app).await;
}

#[tokio::test]
async fn a_keep_alive_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let app = TestApp::configured(|c| c.connections = short(64)).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: actas\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (rest, idle) = read_until_closed(&mut s).await;
    assert!(rest.is_empty(), "{rest}");
    assert!(idle >= ms(550) && idle < ms(3000), "closed after {idle:?}");
}

#[tokio::test]
async fn a_new_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = TestApp::configured(|c| c.connections = short(64)).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let (_, took) = read_until_closed(&mut s).await;
    assert!(took >= ms(350) && took < ms(3000), "{took:?}");
}

#[tokio::test]
async fn a_request_body_that_never_arrives_is_given_up_on_after_the_body_timeout() {
    let app = TestApp::configured(|c| c.connections = short(64)).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: actas\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"reference\":",
        app.app
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (answer, took) = read_until_closed(&mut s).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(took >= ms(350) && took < ms(3000), "{took:?}");
}

#[tokio::test]
async fn the_session_feed_stays_open_past_the_idle_timeout() {
    let app = TestApp::configured(|c| c.connections = short(64)).await;
    let res = app.http.get(format!("{}/api/v1/sessions/feed", app.base)).bearer_auth(&app.app).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.bytes_stream();
    // Three idle timeouts without a byte on the wire: the time is the test.
    tokio::time::sleep(ms(1800)).await;
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    app.post(&format!("/api/v1/sessions/{sid}/revoke"), &app.sam, json!({"note": "Wrong account"})).await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while !seen.contains("session.revoked") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("the feed went quiet")
            .expect("the feed was closed")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&sid), "{seen}");
}
