//! Revocation stays instant under load and across nodes: no cache (of
//! verified tokens, of app keys) lets a call through once its session is
//! over. Host apps hammer `authorize` on two nodes of one database while
//! the session is revoked, expires or idles out; every call sent after
//! that moment is refused, on both nodes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use actas_server::testing::*;

/// What one call saw: when it was sent, and whether it was allowed.
type Seen = Vec<(Instant, bool, String)>;

/// The moment the session was over, once it is, and how many calls were
/// sent after it.
#[derive(Default)]
struct Over {
    at: std::sync::OnceLock<Instant>,
    calls_after: AtomicUsize,
}

/// Calls `authorize` with `token` from four tasks on each of `bases` until
/// `stop`, and answers what every call saw.
fn hammer(
    bases: &[String],
    key: &str,
    token: &str,
    stop: Arc<AtomicBool>,
    over: Arc<Over>,
) -> tokio::task::JoinHandle<Seen> {
    let mut tasks = Vec::new();
    for base in bases {
        for _ in 0..4 {
            let client = actas_client::Client::new(base.clone(), key.to_string());
            let token = token.to_string();
            let stop = stop.clone();
            let over = over.clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    if over.at.get().is_some_and(|at| sent > *at) {
                        over.calls_after.fetch_add(1, Ordering::SeqCst);
                    }
                    let v = client.authorize(&token, "settings.view").await.expect("an answer");
                    seen.push((sent, v.allowed, v.reason.as_str().to_string()));
                }
                seen
            }));
        }
    }
    tokio::spawn(async move {
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("a client task"));
        }
        all
    })
}

/// Starts Maria's session and runs the load, calls `end` with the
/// session's id once calls are being allowed, keeps the load on a little
/// longer, and checks that every call sent after `end` returned was
/// refused for `reason`.
async fn refused_after<F: std::future::Future<Output = ()>>(
    app: &TestApp,
    reason: &str,
    end: impl FnOnce(String) -> F,
) {
    let node = app.second_node().await;
    let LiveSession { id, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    let stop = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(Over::default());
    let load = hammer(&[app.base.clone(), node.base.clone()], &app.app, &token, stop.clone(), ended.clone());
    // Calls are allowed on both nodes first (and the caches are warm).
    tokio::time::sleep(Duration::from_millis(300)).await;
    end(id).await;
    let over = Instant::now();
    let _ = ended.at.set(over);
    // The load goes on until enough calls were sent after the end.
    wait_until(Duration::from_secs(20), "calls sent after the end", || async {
        ended.calls_after.load(Ordering::SeqCst) >= 40
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let before = seen.iter().filter(|(sent, allowed, _)| *sent < over && *allowed).count();
    let after: Vec<&(Instant, bool, String)> = seen.iter().filter(|(sent, _, _)| *sent > over).collect();
    assert!(before > 0, "calls were allowed before the end");
    assert!(after.len() >= 40, "calls kept coming after the end: {}", after.len());
    let let_through: Vec<_> = after.iter().filter(|(_, allowed, _)| *allowed).collect();
    assert!(let_through.is_empty(), "{} calls sent after the end were allowed", let_through.len());
    let other: Vec<&str> = after.iter().map(|(_, _, r)| r.as_str()).filter(|r| *r != reason).collect();
    assert!(other.is_empty(), "refused as {reason}, not {other:?}");
    assert_eq!(app.verify().await["ok"], true);
}

backend_test!(async fn a_revoked_session_is_refused_at_once_on_every_node_under_load(app) {
    let api = app.api.clone();
    let sam = app.sam.clone();
    refused_after(&app, "session_revoked", |id| async move {
        let (st, body) = api.post(&format!("/api/v1/sessions/{id}/revoke"), &sam, json!({"note": "done"})).await;
        assert_eq!(st.as_u16(), 200, "{body}");
    })
    .await;
});

backend_test!(async fn an_expired_session_is_refused_at_once_on_every_node_under_load(app) {
    // The calls keep it awake nine minutes on, then its 15 minutes are up.
    let clock = app.clock.clone();
    refused_after(&app, "session_expired", |_| async move {
        clock.advance(mins(9));
        tokio::time::sleep(Duration::from_millis(300)).await;
        clock.advance(mins(7));
    })
    .await;
});

backend_test!(async fn an_idle_session_is_refused_at_once_on_every_node_under_load(app) {
    // Calls keep a session awake only while they are allowed; the clock
    // jumps past the idle deadline in one step.
    let clock = app.clock.clone();
    refused_after(&app, "idle_timeout", |_| async move { clock.advance(mins(11)) }).await;
});

backend_test!(async fn a_customer_who_withdraws_their_permission_is_obeyed_at_once_on_every_node_under_load(app) {
    let api = app.api.clone();
    let key = app.app.clone();
    refused_after(&app, "customer_revoked", |_| async move {
        let (st, body) = api
            .send(reqwest::Method::DELETE, "/api/v1/accounts/acct_42/grants?revoked_by=pat%40acme.test", Some(&key), None)
            .await;
        assert_eq!(st.as_u16(), 200, "{body}");
        assert_eq!(body["sessions_ended"], 1, "{body}");
    })
    .await;
});
