//! What the client sends again, through a faulty proxy in front of a real
//! actas: a read after a brief outage, never a change whose request may
//! have reached actas.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actas_client::{Client, ClientError};
use actas_server::testing::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to the first connections it takes.
#[derive(Clone, Copy)]
enum Fault {
    /// Answers 503 and closes, as a proxy whose upstream is restarting.
    Unavailable,
    /// Reads the request, then closes without an answer: the request may
    /// have been acted on.
    Cut,
}

/// A proxy to `upstream` that does `fault` to its first `faulty`
/// connections and passes the others on; answers its address and how many
/// connections it took.
async fn faulty_proxy(upstream: SocketAddr, fault: Fault, faulty: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let taken = Arc::new(AtomicUsize::new(0));
    let count = taken.clone();
    tokio::spawn(async move {
        while let Ok((mut down, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if n < faulty {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = down.read(&mut buf).await;
                    if let Fault::Unavailable = fault {
                        let _ = down
                            .write_all(
                                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                            )
                            .await;
                    }
                    return;
                }
                let Ok(mut up) = TcpStream::connect(upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
            });
        }
    });
    (base, taken)
}

fn upstream(actas: &TestApp) -> SocketAddr {
    actas.base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn a_read_is_asked_again_after_a_brief_outage() {
    let actas = TestApp::around(TestServer::builder().real_clock().spawn().await).await;
    let s = actas.session(&actas.maria).actions(&["settings.view"]).start().await;
    let (base, taken) = faulty_proxy(upstream(&actas), Fault::Unavailable, 2).await;
    let client = Client::new(base, &actas.app);
    let session = client.session(&s.id).await.unwrap();
    assert_eq!(session.state.as_str(), "live");
    assert_eq!(taken.load(Ordering::SeqCst), 3, "two refused attempts, then the answer");
}

#[tokio::test]
async fn a_read_gives_up_after_its_retries() {
    let actas = TestApp::around(TestServer::builder().real_clock().spawn().await).await;
    let s = actas.session(&actas.maria).actions(&["settings.view"]).start().await;
    let (base, taken) = faulty_proxy(upstream(&actas), Fault::Unavailable, usize::MAX).await;
    let client = Client::new(base, &actas.app);
    match client.session(&s.id).await {
        Err(ClientError::Api(p)) => assert_eq!(p.status, 503),
        other => panic!("the last 503, not {other:?}"),
    }
    assert_eq!(taken.load(Ordering::SeqCst), 3, "one attempt and two retries");
}

#[tokio::test]
async fn a_change_whose_request_may_have_arrived_is_not_sent_again() {
    let actas = TestApp::around(TestServer::builder().real_clock().spawn().await).await;
    let s = actas.session(&actas.maria).actions(&["settings.view"]).start().await;
    let (base, taken) = faulty_proxy(upstream(&actas), Fault::Cut, 1).await;
    let client = Client::new(base, &actas.app);
    let before = actas.events().await.len();
    match client.authorize(&s.token, "settings.view").await {
        Err(ClientError::Http(e)) => assert!(!e.is_connect(), "{e:?}"),
        other => panic!("the cut answer, not {other:?}"),
    }
    assert_eq!(taken.load(Ordering::SeqCst), 1, "authorize was not sent again");
    assert_eq!(actas.events().await.len(), before, "nothing reached actas");
    // The next call goes through.
    assert!(client.authorize(&s.token, "settings.view").await.unwrap().allowed);
}

#[tokio::test]
async fn a_change_is_sent_again_when_the_connection_failed_before_sending() {
    let actas = TestApp::around(TestServer::builder().real_clock().spawn().await).await;
    let s = actas.session(&actas.maria).actions(&["settings.view"]).start().await;
    // Nothing listens here until after the first attempt has failed.
    let spot = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = spot.local_addr().unwrap();
    drop(spot);
    let client = Client::new(format!("http://{addr}"), &actas.app);
    let upstream = upstream(&actas);
    let opened = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        let (mut down, _) = listener.accept().await.unwrap();
        let mut up = TcpStream::connect(upstream).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
    });
    let answer = client.authorize(&s.token, "settings.view").await.unwrap();
    assert!(answer.allowed, "{answer:?}");
    opened.abort();
}
