//! The session feed read from a server that splits its stream anywhere,
//! even inside a character.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use actas_client::api::{Session, SessionChange};
use actas_client::Client;
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn change(reason: &str) -> SessionChange {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 14, 0, 0).unwrap();
    SessionChange {
        kind: actas_api::EventType::SessionStarted,
        seq: 7,
        session: Session {
            id: "ses_1".into(),
            request_id: "req_1".into(),
            ticket: "48192".into(),
            account_id: "acct_42".into(),
            account_name: Some("Société Générale d'Été".into()),
            agent: "maria".into(),
            agent_name: "María López".into(),
            approver: "policy".into(),
            approver_name: "the support policy".into(),
            approvers: Vec::new(),
            approved_by: "approved automatically by the support policy".into(),
            app_id: "app_1".into(),
            scope: Vec::new(),
            reason: reason.into(),
            started_at: at,
            ends_at: at,
            idle_deadline: at,
            last_activity_at: at,
            state: actas_api::SessionState::Live,
            end_reason: None,
            ended_at: None,
            ended_by: None,
            end_note: None,
            stepups: Vec::new(),
            breakglass: false,
            review: None,
        },
    }
}

/// Serves one `GET` with `body` cut at `cuts` (byte offsets), each piece its
/// own HTTP chunk written a moment after the last, then holds the stream
/// open.
async fn serve_in_pieces(body: Vec<u8>, cuts: Vec<usize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client hung up before its request was read");
            head.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let mut from = 0;
        for to in cuts.into_iter().chain([body.len()]) {
            let piece = &body[from..to];
            conn.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await.unwrap();
            conn.write_all(piece).await.unwrap();
            conn.write_all(b"\r\n").await.unwrap();
            conn.flush().await.unwrap();
            // Apart in time, so that each piece reaches the client on its own.
            tokio::time::sleep(Duration::from_millis(100)).await;
            from = to;
        }
        // The stream stays open, as a feed does, until the test is over.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_character_split_across_chunks_arrives_whole() {
    let reason = "Le client a changé son adresse 🏠 et veut la facture en €";
    let sent = change(reason);
    let data = serde_json::to_string(&sent).unwrap();
    let body = format!(": keep-alive\n\nevent: session.started\nid: 7\ndata: {data}\n\n").into_bytes();
    // Cut inside an "é" (two bytes), the emoji (four) and "€" (three).
    let text = String::from_utf8(body.clone()).unwrap();
    let inside = |c: char, k: usize| text.find(c).unwrap() + k;
    let cuts = vec![inside('é', 1), inside('🏠', 2), inside('€', 1)];
    assert!(cuts.iter().all(|&c| std::str::from_utf8(&body[..c]).is_err()), "every cut splits a character");
    let base = serve_in_pieces(body, cuts).await;
    let mut feed = Client::new(base, "actas_app_test").follow();
    let got = tokio::time::timeout(Duration::from_secs(10), feed.next()).await.unwrap().unwrap();
    assert_eq!(got.session.reason, reason);
    assert_eq!(got, sent);
}
