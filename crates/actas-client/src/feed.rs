//! Following `GET /sessions/feed` with reconnect and resume.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::api::SessionChange;

/// A stream of session changes that reconnects by itself. Dropping it stops
/// following.
#[derive(Debug)]
pub struct Feed {
    rx: mpsc::Receiver<SessionChange>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for Feed {
    type Item = SessionChange;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionChange>> {
        self.rx.poll_recv(cx)
    }
}

impl Feed {
    pub(crate) fn start(http: reqwest::Client, url: String, key: String, after: Option<i64>) -> Feed {
        let (tx, rx) = mpsc::channel(256);
        let task = tokio::spawn(follow(http, url, key, after, tx));
        Feed { rx, task }
    }
}

async fn follow(
    http: reqwest::Client,
    url: String,
    key: String,
    mut last: Option<i64>,
    tx: mpsc::Sender<SessionChange>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut req = http.get(&url).bearer_auth(&key).timeout(Duration::from_secs(24 * 3600));
        if let Some(seq) = last {
            req = req.header("last-event-id", seq.to_string());
        }
        match req.send().await.and_then(|r| r.error_for_status()) {
            Ok(res) => {
                backoff = Duration::from_millis(200);
                // Bytes to text (a character split across chunks waits for
                // its rest) to events, as the EventSource standard reads them.
                let mut events = res.bytes_stream().eventsource();
                while let Some(Ok(event)) = events.next().await {
                    match serde_json::from_str::<SessionChange>(&event.data) {
                        Ok(change) => {
                            if last.is_some_and(|l| change.seq <= l) {
                                continue;
                            }
                            last = Some(change.seq);
                            if tx.send(change).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "unreadable session change"),
                    }
                }
                tracing::info!("session feed closed; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "session feed unavailable; retrying"),
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
