//! The client crate against a real actas server.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actas_client::layer::{Acting, Guard, ImpersonationLayer, MaybeActing, TokenSource};
use actas_client::{Client, TokenError, Verifier};
use actas_core::audit::Actor;
use actas_core::model::{Role, Staff};
use actas_core::{Clock, ManualClock, SystemClock};
use actas_server::service::{self, Principal};
use actas_server::{Config, Ctx, Server};
use base64::Engine;
use futures::StreamExt;

struct Actas {
    base: String,
    addr: SocketAddr,
    ctx: Ctx,
    db: String,
    app_id: String,
    app_key: String,
    maria: Staff,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Arc<tempfile::TempDir>,
}

/// The key-encryption key of every test server, so a restart or another
/// process opens the same keys.
fn test_keys() -> actas_server::KeyAccess {
    static KEK: std::sync::OnceLock<Arc<actas_server::Kek>> = std::sync::OnceLock::new();
    actas_server::KeyAccess::Sealed(KEK.get_or_init(|| Arc::new(actas_server::Kek::generate())).clone())
}

async fn serve(db: &str, listen: SocketAddr, clock: Arc<dyn Clock>) -> (Server, SocketAddr) {
    let mut config = Config::new(db.to_string());
    config.keys = test_keys();
    config.listen = listen;
    config.clock = clock;
    config.reap_every = None;
    let server = Server::build(config).await.unwrap();
    let addr = server.addr();
    (server, addr)
}

impl Actas {
    async fn start(clock: Arc<dyn Clock>) -> Actas {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let db = dir.path().join("actas.db").to_string_lossy().to_string();
        let (server, addr) = serve(&db, "127.0.0.1:0".parse().unwrap(), clock).await;
        let ctx = server.ctx().clone();
        let (maria, _) =
            service::add_staff(&ctx, Actor::system(), "maria", "Maria Lopez", vec![Role::Agent], None).await.unwrap();
        let (app, app_key) = service::add_app(
            &ctx,
            Actor::system(),
            service::NewApp::new("Acme Billing", true, vec!["http://localhost:3000".into()]),
        )
        .await
        .unwrap();
        service::create_ticket(
            &ctx,
            &Principal::App(app.clone()),
            actas_api::NewTicket {
                reference: "48192".into(),
                account_id: "acct_42".into(),
                account_name: Some("Acme Corp".into()),
                subject: "Tax settings".into(),
                url: None,
            },
        )
        .await
        .unwrap();
        let mut a = Actas {
            base: format!("http://{addr}"),
            addr,
            ctx,
            db,
            app_id: app.id,
            app_key: app_key.expose().to_string(),
            maria,
            stop: None,
            done: None,
            _dir: dir,
        };
        a.run(server);
        a
    }

    fn run(&mut self, server: Server) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.done = Some(tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        })));
    }

    async fn restart(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = d.await;
        }
        let (server, _) = serve(&self.db, self.addr, Arc::new(SystemClock)).await;
        self.ctx = server.ctx().clone();
        self.run(server);
    }

    /// A started view-only session of Maria: (session id, token).
    async fn session(&self) -> (String, String) {
        let r = service::create_request(
            &self.ctx,
            &self.maria,
            actas_api::NewRequest {
                ticket: "48192".into(),
                reason: "Customer can't update tax settings after plan change".into(),
                actions: vec!["settings.view".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let (s, token) = service::start(&self.ctx, &self.maria, &r.id, None).await.unwrap();
        (s.id, token.expose().to_string())
    }

    fn client(&self) -> Client {
        Client::new(&self.base, &self.app_key)
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(&self.base, &self.app_id)
    }
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
    let actas = Actas::start(Arc::new(SystemClock)).await;
    let (sid, token) = actas.session().await;
    let v = actas.verifier();
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
async fn signed_by_the_checkpoint_key(actas: &Actas, claims: &serde_json::Value, kid: &str) -> String {
    use actas_server::keys::sealed;
    let keys =
        actas.ctx.store.read(actas_store::tx_fn(|tx| Box::pin(async move { tx.list_keys().await }))).await.unwrap();
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
    let actas = Actas::start(Arc::new(SystemClock)).await;
    let (_, token) = actas.session().await;
    let v = actas.verifier();
    v.verify(&token).await.unwrap();
    let token_kid = part(&token, 0)["kid"].as_str().unwrap().to_string();
    let checkpoint_kid = actas.ctx.keys.current_checkpoint_kid();
    assert!(!checkpoint_kid.is_empty() && checkpoint_kid != token_kid);

    // The JWKS publishes the token key only; auditors find the checkpoint key elsewhere.
    let jwks: serde_json::Value =
        reqwest::get(format!("{}/.well-known/jwks.json", actas.base)).await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids, vec![token_kid.as_str()], "{jwks}");
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

    let client = actas.client();
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
    let past =
        Arc::new(ManualClock::new(chrono::DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z").unwrap().to_utc()));
    let actas = Actas::start(past).await;
    let (_, old) = actas.session().await;
    assert_eq!(actas.verifier().verify(&old).await.unwrap_err(), TokenError::Expired);

    let actas = Actas::start(Arc::new(SystemClock)).await;
    let (_, token) = actas.session().await;
    let v = actas.verifier();
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
    let actas = Actas::start(Arc::new(SystemClock)).await;
    let (_, token) = actas.session().await;
    let v = actas.verifier().refetch_every(Duration::from_millis(500));
    v.verify(&token).await.unwrap();
    let mut header = part(&token, 0);
    header["kid"] = "k_unknown".into();
    let bad = reencode(&token, Some(header), None, None);
    for _ in 0..200 {
        assert_eq!(v.verify(&bad).await.unwrap_err(), TokenError::UnknownKey);
    }
    assert!(v.fetches() <= 2, "{} fetches for 200 bad tokens", v.fetches());

    // A new key on the server: the next token with it triggers one refetch.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let now = actas.ctx.clock.now();
    actas.ctx.keys.rotate(&actas.ctx.store, now, Actor::system(), actas_store::KeyRole::Token).await.unwrap();
    service::end(&actas.ctx, &Principal::Staff(actas.maria.clone()), &v.verify(&token).await.unwrap().session_id)
        .await
        .unwrap();
    let (_, fresh) = actas.session().await;
    assert_ne!(part(&fresh, 0)["kid"], part(&token, 0)["kid"]);
    let who = v.verify(&fresh).await.unwrap();
    assert_eq!(who.agent, "maria");
}

#[tokio::test]
async fn authorize_answers_through_the_client() {
    let actas = Actas::start(Arc::new(SystemClock)).await;
    let (_, token) = actas.session().await;
    let c = actas.client();
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
async fn the_feed_reconnects_across_a_restart_and_resumes_where_it_left_off() {
    let mut actas = Actas::start(Arc::new(SystemClock)).await;
    let mut feed = actas.client().follow();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sid, _) = actas.session().await;
    let first = tokio::time::timeout(Duration::from_secs(2), feed.next()).await.unwrap().unwrap();
    assert_eq!((first.kind.as_str(), first.session.id.as_str()), ("session.started", sid.as_str()));

    // The server goes away; meanwhile the command line ends the session.
    actas
        .restart_after(|db| async move {
            let other = actas_server::open_ctx(
                &db,
                actas_core::policy::Policy::shipped(),
                Arc::new(SystemClock),
                "http://x".into(),
                test_keys(),
            )
            .await
            .unwrap();
            service::disable_staff(&other, Actor::system(), "maria").await.unwrap();
        })
        .await;
    let next =
        tokio::time::timeout(Duration::from_secs(10), feed.next()).await.expect("no change after the restart").unwrap();
    assert_eq!((next.kind.as_str(), next.session.id.as_str()), ("session.ended", sid.as_str()));
    assert_eq!(next.session.end_reason.map(|r| r.as_str()), Some("staff_disabled"));
    assert!(next.seq > first.seq);
}

impl Actas {
    /// Stops the server, runs `meanwhile` on the database, starts it again
    /// on the same address.
    async fn restart_after<F, Fut>(&mut self, meanwhile: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = d.await;
        }
        meanwhile(self.db.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.restart().await;
    }
}

#[tokio::test]
async fn the_layer_gives_handlers_the_context_and_refuses_ended_sessions() {
    use axum::routing::get;
    let actas = Actas::start(Arc::new(SystemClock)).await;
    let (sid, token) = actas.session().await;
    let guard = Arc::new(Guard::new(actas.verifier(), TokenSource::Cookie("actas_token".into())));
    let _following = guard.clone().follow(&actas.client());
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    service::end(&actas.ctx, &Principal::Staff(actas.maria.clone()), &sid).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !guard.has_ended(&sid) {
        assert!(tokio::time::Instant::now() < deadline, "the guard never heard the session ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = get("/page", cookie).await;
    assert_eq!(status, 401);
    assert!(body.contains("ended"), "{body}");
}
