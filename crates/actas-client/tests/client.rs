//! The client crate against a real actas server.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use actas_client::layer::{Acting, Guard, ImpersonationLayer, MaybeActing, TokenSource};
use actas_client::{Client, TokenError, Verifier};
use actas_core::audit::Actor;
use actas_server::service;
use actas_server::testing::*;
use base64::Engine;
use futures::StreamExt;

/// A server on the system clock (the host app checks tokens against real
/// time) with the cast of the examples.
async fn serve() -> TestApp {
    TestApp::around(TestServer::builder().real_clock().spawn().await).await
}

/// A started view-only session of Maria's: (session id, token).
async fn session(actas: &TestApp) -> (String, String) {
    let s = actas.session(&actas.maria).actions(&["settings.view"]).start().await;
    (s.id, s.token)
}

fn verifier(actas: &TestApp) -> Verifier {
    Verifier::new(&actas.base, &actas.app_id)
}

fn reencode(
    token: &str,
    header: Option<serde_json::Value>,
    claims: Option<serde_json::Value>,
    sig: Option<&str>,
) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let h = header.map(|h| b64.encode(h.to_string())).unwrap_or_else(|| parts[0].to_string());
    let c = claims.map(|c| b64.encode(c.to_string())).unwrap_or_else(|| parts[1].to_string());
    format!("{h}.{c}.{}", sig.unwrap_or(parts[2]))
}

fn part(token: &str, i: usize) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    serde_json::from_slice(&b64.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn a_valid_token_verifies_offline_into_the_impersonation_context() {
    let actas = serve().await;
    let (sid, token) = session(&actas).await;
    let v = verifier(&actas);
    let who = v.verify(&token).await.unwrap();
    assert_eq!(who.account_id, "acct_42");
    assert_eq!((who.agent.as_str(), who.agent_name.as_str()), ("maria", "Maria Lopez"));
    assert_eq!(who.session_id, sid);
    assert_eq!(who.scope, vec!["settings.view"]);
    assert_eq!(who.ticket, "48192");
    assert!(who.grants("settings.view") && !who.grants("billing.update"));
    // Cached: the second check fetches nothing.
    v.verify(&token).await.unwrap();
    assert_eq!(v.fetches(), 1);
}

/// A token with `claims`, signed by the checkpoint key (opened with the
/// test KEK, as only a holder of the KEK could), with `kid` in its header.
async fn signed_by_the_checkpoint_key(actas: &TestApp, claims: &serde_json::Value, kid: &str) -> String {
    use actas_server::keys::sealed;
    let keys =
        actas.ctx.store.read(actas_store::read_fn(|tx| Box::pin(async move { tx.list_keys().await }))).await.unwrap();
    let cp = keys.iter().find(|k| k.role == actas_store::KeyRole::Checkpoint).expect("a checkpoint key");
    let actas_server::KeyAccess::Sealed(kek) = test_keys() else { unreachable!() };
    let binding = sealed::Binding { role: cp.role.as_str(), kid: &cp.kid, public_key: &cp.public_key };
    let der = sealed::open(&kek, binding, &cp.private_key).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ed_der(&der)).unwrap()
}

#[tokio::test]
async fn a_token_signed_by_the_checkpoint_key_is_refused_offline_and_by_authorize() {
    let actas = serve().await;
    let (_, token) = session(&actas).await;
    let v = verifier(&actas);
    v.verify(&token).await.unwrap();
    let token_kid = part(&token, 0)["kid"].as_str().unwrap().to_string();
    let checkpoint_kid = actas.ctx.keys.current_checkpoint_kid();
    assert!(!checkpoint_kid.is_empty() && checkpoint_kid != token_kid);

    // The JWKS publishes the token key only; auditors find the checkpoint key elsewhere.
    assert_eq!(actas.jwks_kids().await, vec![token_kid.clone()]);
    let audit = actas_server::views::audit_keys(&actas.ctx.keys.public_keys());
    let audit_kids: Vec<&str> = audit.keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(audit_kids, vec![checkpoint_kid.as_str()]);

    // The same claims, signed by the checkpoint key: under its own kid the
    // key is unknown to host apps; under the token key's kid the signature fails.
    let claims = part(&token, 1);
    let own_kid = signed_by_the_checkpoint_key(&actas, &claims, &checkpoint_kid).await;
    assert_eq!(v.verify(&own_kid).await.unwrap_err(), TokenError::UnknownKey);
    let token_kid_header = signed_by_the_checkpoint_key(&actas, &claims, &token_kid).await;
    assert_eq!(v.verify(&token_kid_header).await.unwrap_err(), TokenError::BadSignature);

    let client = &actas.client;
    for forged in [&own_kid, &token_kid_header] {
        let answer = client.authorize(forged, "settings.view").await.unwrap();
        assert!(!answer.allowed, "{answer:?}");
        assert_eq!(answer.reason.as_str(), "bad_token", "{answer:?}");
    }
    // The real token still works.
    assert!(client.authorize(&token, "settings.view").await.unwrap().allowed);
}

#[tokio::test]
async fn expired_foreign_forged_and_unsigned_tokens_are_refused() {
    // A clock far in the past issues tokens that expired long ago.
    let past = chrono::DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z").unwrap().to_utc();
    let actas = TestApp::around(TestServer::builder().starting_at(past).spawn().await).await;
    let (_, old) = session(&actas).await;
    assert_eq!(verifier(&actas).verify(&old).await.unwrap_err(), TokenError::Expired);

    let actas = serve().await;
    let (_, token) = session(&actas).await;
    let v = verifier(&actas);
    assert_eq!(Verifier::new(&actas.base, "app_other").verify(&token).await.unwrap_err(), TokenError::WrongAudience);
    let unreachable = Verifier::new("http://127.0.0.1:1", &actas.app_id).verify(&token).await.unwrap_err();
    assert!(matches!(unreachable, TokenError::Unavailable(_)), "{unreachable:?}");

    let mut claims = part(&token, 1);
    claims["scope"] = "settings.view billing.update".into();
    assert_eq!(v.verify(&reencode(&token, None, Some(claims), None)).await.unwrap_err(), TokenError::BadSignature);

    let none = reencode(&token, Some(serde_json::json!({"alg": "none", "typ": "JWT"})), None, Some(""));
    assert_eq!(v.verify(&none).await.unwrap_err(), TokenError::UnsupportedAlgorithm);
    let hs = reencode(&token, Some(serde_json::json!({"alg": "HS256", "typ": "JWT"})), None, None);
    assert_eq!(v.verify(&hs).await.unwrap_err(), TokenError::UnsupportedAlgorithm);
    assert_eq!(v.verify("not a token").await.unwrap_err(), TokenError::Malformed);

    let mut header = part(&token, 0);
    header["kid"] = "k_unknown".into();
    assert_eq!(v.verify(&reencode(&token, Some(header), None, None)).await.unwrap_err(), TokenError::UnknownKey);
}

#[tokio::test]
async fn a_flood_of_unknown_keys_does_not_hammer_actas_and_rotation_is_followed() {
    let actas = serve().await;
    let (_, token) = session(&actas).await;
    let v = verifier(&actas).refetch_every(Duration::from_millis(500));
    v.verify(&token).await.unwrap();
    let mut header = part(&token, 0);
    header["kid"] = "k_unknown".into();
    let bad = reencode(&token, Some(header), None, None);
    for _ in 0..200 {
        assert_eq!(v.verify(&bad).await.unwrap_err(), TokenError::UnknownKey);
    }
    assert!(v.fetches() <= 2, "{} fetches for 200 bad tokens", v.fetches());

    // A new key on the server: the next token with it triggers one refetch,
    // once the refetch interval is over (the interval is what is tested).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let now = actas.ctx.clock.now();
    actas.ctx.keys.rotate(&actas.ctx.store, now, Actor::system(), actas_store::KeyRole::Token).await.unwrap();
    let (s, ended) = actas.end(&actas.maria, &v.verify(&token).await.unwrap().session_id).await;
    assert!(s.is_success(), "{ended}");
    let (_, fresh) = session(&actas).await;
    assert_ne!(part(&fresh, 0)["kid"], part(&token, 0)["kid"]);
    let who = v.verify(&fresh).await.unwrap();
    assert_eq!(who.agent, "maria");
}

#[tokio::test]
async fn authorize_answers_through_the_client() {
    let actas = serve().await;
    let (_, token) = session(&actas).await;
    let c = &actas.client;
    let yes = c.authorize(&token, "settings.view").await.unwrap();
    assert!(yes.allowed);
    let no = c.authorize(&token, "billing.update").await.unwrap();
    assert_eq!((no.allowed, no.reason.as_str()), (false, "not_in_scope"));
    let err = Client::new(&actas.base, "actas_app_wrong").authorize(&token, "settings.view").await.unwrap_err();
    match err {
        actas_client::ClientError::Api(p) => {
            assert_eq!((p.status, p.kind.as_str()), (401, "urn:actas:problem:unauthorized"))
        }
        other => panic!("{other:?}"),
    }
    let log = c.access_log("acct_42").await.unwrap();
    assert_eq!(log.entries.len(), 1);
}

#[tokio::test]
async fn a_refused_change_is_asked_of_a_lead_and_then_allowed_once() {
    use actas_client::api::{Change, NewStepUp, RequestKind, RequestStatus};
    let actas = serve().await;
    let (sid, token) = session(&actas).await;
    let c = &actas.client;
    let change = || Some(vec![Change { field: "plan".into(), old: Some("Pro".into()), new: Some("Basic".into()) }]);
    let call = api_call(&token, change());
    assert!(!c.authorize_with(&call).await.unwrap().allowed);
    let ask = NewStepUp {
        action: "billing.update".into(),
        changes: change(),
        reason: "Customer asked to move from Pro to Basic before the renewal".into(),
        ..Default::default()
    };
    let asked = c.ask_stepup(&token, &sid, &ask).await.unwrap();
    assert_eq!((asked.kind, asked.status), (RequestKind::Stepup, RequestStatus::Pending));
    assert_eq!(c.session(&sid).await.unwrap().stepups[0].status, RequestStatus::Pending);
    let vague = NewStepUp { reason: "need access".into(), ..ask.clone() };
    match c.ask_stepup(&token, &sid, &vague).await.unwrap_err() {
        actas_client::ClientError::Api(p) => assert_eq!(p.kind, "urn:actas:problem:reason-vague"),
        other => panic!("{other:?}"),
    }
    actas.approve(&actas.sam, asked.id.as_str(), serde_json::json!({})).await;
    let s = c.session(&sid).await.unwrap();
    assert_eq!(s.stepups[0].status, RequestStatus::Approved);
    assert!(
        s.stepups[0].summary.starts_with("Change billing details (plan from Pro to Basic"),
        "{}",
        s.stepups[0].summary
    );
    assert!(c.authorize_with(&call).await.unwrap().allowed);
    assert!(!c.authorize_with(&call).await.unwrap().allowed);
    assert_eq!(c.session(&sid).await.unwrap().stepups[0].status, RequestStatus::Used);
}

fn api_call(token: &str, changes: Option<Vec<actas_client::api::Change>>) -> actas_client::api::AuthorizeRequest {
    actas_client::api::AuthorizeRequest {
        token: token.to_string().into(),
        action: "billing.update".into(),
        target: None,
        changes,
    }
}

#[tokio::test]
async fn the_feed_reconnects_across_a_restart_and_resumes_where_it_left_off() {
    let mut actas = serve().await;
    let mut feed = actas.client.follow();
    actas.wait_for_followers(1).await;
    let (sid, _) = session(&actas).await;
    let first = tokio::time::timeout(Duration::from_secs(2), feed.next()).await.unwrap().unwrap();
    assert_eq!((first.kind.as_str(), first.session.id.as_str()), ("session.started", sid.as_str()));

    // The server goes away; meanwhile the command line ends the session.
    actas.stop().await;
    let cli = actas.other_process().await;
    service::disable_staff(&cli, Actor::system(), "maria").await.unwrap();
    drop(cli);
    // Down for a while, so that the feed's reconnects find nobody first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    actas.start_again().await;
    let next =
        tokio::time::timeout(Duration::from_secs(10), feed.next()).await.expect("no change after the restart").unwrap();
    assert_eq!((next.kind.as_str(), next.session.id.as_str()), ("session.ended", sid.as_str()));
    assert_eq!(next.session.end_reason.map(|r| r.as_str()), Some("staff_disabled"));
    assert!(next.seq > first.seq);
}

#[tokio::test]
async fn the_layer_gives_handlers_the_context_and_refuses_ended_sessions() {
    use axum::routing::get;
    let actas = serve().await;
    let (sid, token) = session(&actas).await;
    let guard = Arc::new(Guard::new(verifier(&actas), TokenSource::Cookie("actas_token".into())));
    let _following = guard.clone().follow(&actas.client);
    let app =
        axum::Router::new()
            .route(
                "/support",
                get(|Acting(who): Acting| async move { format!("{} for {}", who.agent_name, who.account_id) }),
            )
            .route(
                "/page",
                get(|MaybeActing(who): MaybeActing| async move {
                    who.map(|w| w.agent).unwrap_or_else(|| "customer".into())
                }),
            )
            .layer(ImpersonationLayer::new(guard.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let get = |path: &str, cookie: Option<String>| {
        let mut r = http.get(format!("{host}{path}"));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        async move {
            let res = r.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let cookie = Some(format!("theme=dark; actas_token={token}"));
    assert_eq!(get("/support", cookie.clone()).await, (200, "Maria Lopez for acct_42".to_string()));
    assert_eq!(get("/page", cookie.clone()).await, (200, "maria".to_string()));
    assert_eq!(get("/page", None).await, (200, "customer".to_string()));
    assert_eq!(get("/support", None).await.0, 401);
    assert_eq!(get("/page", Some("actas_token=forged.token.here".into())).await.0, 401);
    // The session ends at actas; the feed tells the guard.
    actas.wait_for_followers(1).await;
    let (s, ended) = actas.end(&actas.maria, &sid).await;
    assert!(s.is_success(), "{ended}");
    wait_until(Duration::from_secs(2), "the guard to hear the session ended", || async { guard.has_ended(&sid) }).await;
    let (status, body) = get("/page", cookie).await;
    assert_eq!(status, 401);
    assert!(body.contains("ended"), "{body}");
}
