//! The server's own logs never carry secrets: not at debug level either.
//! They are JSON lines when asked, never colour codes in a file, and every
//! line of a request carries its id, which the answer quotes.

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

#[tokio::test]
async fn json_logs_carry_the_request_id_that_the_header_and_every_problem_quote() {
    let env = Env::new();
    let server =
        Server::start_with_vars(&env, &env.db, &["--log-format", "json"], &[("ACTAS_LOG", "info,tower_http=debug")]);
    let c = http();
    // The proxy's id is taken as it is.
    let res = c
        .get(server.api("/requests"))
        .bearer_auth("actas_pat_nope")
        .header("x-request-id", "trace-42.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["x-request-id"], "trace-42.abc");
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["request_id"], "trace-42.abc", "{problem}");
    // One that could forge a log line is replaced by a new one.
    let res = c.get(server.api("/requests")).header("x-request-id", "two words").send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(id.starts_with("rq_"), "{id}");
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["request_id"], id.as_str());

    let log_of = &server;
    wait_until(std::time::Duration::from_secs(5), "the request's lines are logged", || async move {
        log_of.log().contains("trace-42.abc")
    })
    .await;
    let log = server.log();
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect();
    assert!(lines.iter().any(|l| l["message"] == "actas is listening"), "{log}");
    let tagged: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["spans"].as_array().is_some_and(|s| s.iter().any(|s| s["request_id"] == "trace-42.abc")))
        .collect();
    assert!(!tagged.is_empty(), "{log}");
    assert!(tagged.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in JSON lines");
}

#[tokio::test]
async fn text_logs_written_to_a_pipe_have_no_colour_codes() {
    let env = Env::new();
    let server = Server::start_with_vars(&env, &env.db, &[], &[("ACTAS_LOG", "info")]);
    let (status, _) = get(&http(), &server.api("/requests"), "actas_pat_nope").await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let log = server.log();
    assert!(log.contains("actas is listening"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log that is not a terminal:\n{log}");
    // The head line operators copy reads as plain text.
    assert!(log.lines().any(|l| l.contains(" INFO ") && l.contains("addr=127.0.0.1:")), "{log}");
}
