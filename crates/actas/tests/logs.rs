//! The server's own logs never carry secrets: not at debug level either.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn secrets_never_reach_the_servers_log() {
    let env = Env::new();
    let server = Server::start_with_vars(&env, &env.db, &[], &[("ACTAS_LOG", "debug")]);
    let live = live_session(&env, &server).await;
    let c = http();
    let secret = "Sup3r-Secret-Passw0rd-in-a-log";
    // A change the session may not make, carrying a secret value, and a
    // wrong credential that looks like a real one.
    let (status, _) = post(
        &c,
        &server.api("/authorize"),
        &live.app_key,
        &json!({"token": live.token, "action": "password.reset", "changes": [{"field": "password", "new": secret}]}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (status, _) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (status, _) = get(&c, &server.api("/requests"), "actas_pat_ThisIsNotARealTokenButLooksLikeOne").await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let (status, _) = get(&c, &server.api(&format!("/sessions/{}", live.session_id)), &live.token).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let log = server.log();
    assert!(log.contains("actas is listening"), "the log was captured:\n{log}");
    assert!(log.lines().count() > 5, "debug logging is on:\n{log}");
    for (what, value) in [
        ("the app key", live.app_key.as_str()),
        ("a personal token", live.agent.as_str()),
        ("the impersonation token", live.token.as_str()),
        ("a redacted value", secret),
        ("a refused credential", "actas_pat_ThisIsNotARealTokenButLooksLikeOne"),
    ] {
        assert!(!log.contains(value), "{what} is in the server's log");
    }
    server.stop();
}
