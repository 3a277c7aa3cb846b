//! The staff console in a browser's place: cookies kept by hand, redirects
//! not followed, forms posted as a browser posts them.

use std::collections::HashMap;

use actas_client::ClientError;
use actas_core::audit::Actor;
use actas_server::service;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::json;

use actas_server::testing::*;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// One browser: its own cookie jar.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    jar: HashMap<String, String>,
    /// The `Set-Cookie` lines of the last answer.
    set_cookies: Vec<String>,
    /// An `X-Forwarded-For` sent with every request, as a proxy would.
    forwarded_for: Option<String>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) html: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers.get(LOCATION).map(|v| v.to_str().unwrap()).unwrap_or("")
    }

    /// The value of the first hidden `csrf` field.
    pub(crate) fn csrf(&self) -> String {
        let start = self.html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
        self.html[start..].split('"').next().unwrap().to_string()
    }
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Browser {
        Browser::at(app, "127.0.0.1")
    }

    /// A browser connecting from `local`, an address of the loopback
    /// network (127.0.0.0/8): a client of its own address.
    fn at(app: &TestApp, local: &str) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .local_address(local.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap();
        Browser { http, base: app.base.clone(), jar: HashMap::new(), set_cookies: Vec::new(), forwarded_for: None }
    }

    /// A browser behind a proxy at 127.0.0.1 that forwards `client`.
    fn behind_proxy(app: &TestApp, client: &str) -> Browser {
        Browser { forwarded_for: Some(client.to_string()), ..Browser::new(app) }
    }

    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = if cookies.is_empty() { req } else { req.header("cookie", cookies.join("; ")) };
        let req = match &self.forwarded_for {
            Some(f) => req.header("x-forwarded-for", f),
            None => req,
        };
        let res = req.send().await.unwrap();
        self.set_cookies = res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for line in &self.set_cookies {
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || v.is_empty() {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_string(), v.to_string());
            }
        }
        let status = res.status();
        let headers = res.headers().clone();
        Page { status, headers, html: res.text().await.unwrap() }
    }

    /// The `Cookie` header this browser sends.
    pub(crate) fn cookie_header(&self) -> String {
        self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(fields);
        self.send(req).await
    }

    pub(crate) async fn sign_in(&mut self, login: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.html);
        let csrf = form.csrf();
        self.post("/login", &[("csrf", &csrf), ("login", login), ("password", password)]).await
    }

    /// Signs in and answers the home page.
    pub(crate) async fn signed_in(app: &TestApp, login: &str) -> (Browser, Page) {
        app.set_password(login, PASSWORD).await;
        let mut b = Browser::new(app);
        let p = b.sign_in(login, PASSWORD).await;
        assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/"), "{}", p.html);
        let home = b.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.html);
        (b, home)
    }
}

backend_test!(async fn a_good_password_signs_in_with_an_httponly_strict_cookie(app) {
    app.set_password("maria", PASSWORD).await;
    let mut b = Browser::new(&app);
    let p = b.sign_in("maria", PASSWORD).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/");
    let cookie = b.set_cookies.iter().find(|c| c.starts_with("actas_console=")).expect("a session cookie");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(!cookie.contains("Secure"), "served over plain http here: {cookie}");
    assert!(!app.stored_anywhere(&b.jar["actas_console"]).await, "only the hash of the session id is stored");
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("Signed in as <strong>Maria Lopez</strong>"), "{}", home.html);
    assert_eq!(home.headers["cache-control"], "no-store");
    assert!(home.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(home.headers.get("strict-transport-security").is_none(), "not behind HTTPS here");
});

#[tokio::test]
async fn behind_https_every_answer_pins_https_and_the_cookies_are_secure() {
    // A network attacker between the browser and the TLS-ending proxy
    // gets no plain-HTTP answer to rewrite and no cookie sent in the clear.
    let app = TestApp::configured(|c| c.base_url = Some("https://actas.example.test".into())).await;
    app.set_password("maria", PASSWORD).await;
    let mut b = Browser::new(&app);
    let p = b.sign_in("maria", PASSWORD).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(!b.set_cookies.is_empty());
    for cookie in &b.set_cookies {
        assert!(cookie.contains("; Secure"), "{cookie}");
    }
    let hsts =
        |h: &reqwest::header::HeaderMap| h.get("strict-transport-security").map(|v| v.to_str().unwrap().to_string());
    let pinned = Some("max-age=31536000; includeSubDomains".to_string());
    assert_eq!(hsts(&p.headers), pinned);
    assert_eq!(hsts(&b.get("/").await.headers), pinned);
    for path in ["/healthz", "/api/v1/requests", "/banner.js", "/.well-known/jwks.json", "/no/such/page"] {
        let r = app.http.get(format!("{}{path}", app.base)).bearer_auth(&app.maria).send().await.unwrap();
        assert_eq!(hsts(r.headers()), pinned, "{path}");
    }
}

backend_test!(async fn a_wrong_password_is_refused_with_a_sentence_and_no_cookie(app) {
    app.set_password("maria", PASSWORD).await;
    let mut b = Browser::new(&app);
    let p = b.sign_in("maria", "wrong horse battery staple").await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("The login or the password is not right."), "{}", p.html);
    assert!(p.html.contains(r#"value="maria""#), "the login is kept");
    assert!(!b.jar.contains_key("actas_console"));
    // An unknown login reads the same.
    let p = b.sign_in("nobody", PASSWORD).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("The login or the password is not right."));
    // A member without a password cannot sign in at all.
    let p = b.sign_in("jon", "").await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(!b.jar.contains_key("actas_console"));
    assert_eq!(b.get("/").await.location(), "/login");
});

backend_test!(async fn five_wrong_passwords_pause_that_login_from_that_address_but_not_another(app) {
    app.set_password("maria", PASSWORD).await;
    app.set_password("jon", PASSWORD).await;
    let mut b = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(b.sign_in("maria", "not the password").await.status, StatusCode::UNAUTHORIZED);
    }
    let p = b.sign_in("maria", PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert!(p.html.contains("Too many failed sign-ins for this login from your network. Try again in 15 minutes"), "{}", p.html);
    assert_eq!(p.headers["retry-after"], "900");
    assert!(!b.jar.contains_key("actas_console"));
    let p = b.sign_in("jon", PASSWORD).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/"), "{}", p.html);
});

// The throttle lives in memory, whatever the database: these run on SQLite.

/// Gets a sign-in form's token (and its cookie) once, for many posts.
async fn login_form(b: &mut Browser) -> String {
    let form = b.get("/login").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    form.csrf()
}

#[tokio::test]
async fn an_attackers_five_failures_for_sam_slow_sam_elsewhere_but_never_stop_him() {
    let app = TestApp::configured(|_| {}).await;
    app.set_password("sam", PASSWORD).await;
    app.set_password("jon", PASSWORD).await;
    let mut attacker = Browser::at(&app, "127.0.0.2");
    for _ in 0..5 {
        assert_eq!(attacker.sign_in("sam", "guess guess guess").await.status, StatusCode::UNAUTHORIZED);
    }
    // The attacker's address may not try sam again for 15 minutes.
    let p = attacker.sign_in("sam", PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert!(p.html.contains("for this login from your network"), "{}", p.html);
    // Sam, elsewhere, is asked to wait a second: slowed, not stopped.
    let mut sam = Browser::at(&app, "127.0.0.3");
    let p = sam.sign_in("sam", PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert!(p.html.contains("sign-ins for it are slowed down. Try again in 1 second."), "{}", p.html);
    assert_eq!(p.headers["retry-after"], "1");
    app.clock.advance(chrono::Duration::seconds(1));
    let p = sam.sign_in("sam", PASSWORD).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/"), "{}", p.html);
    // His success cleared the backoff, not the attacker's ban on sam.
    let mut again = Browser::at(&app, "127.0.0.3");
    assert_eq!(again.sign_in("sam", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(attacker.sign_in("sam", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    // The attacker's address is not banned from everything.
    assert_eq!(attacker.sign_in("jon", PASSWORD).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn behind_a_trusted_proxy_twenty_failures_from_one_client_do_not_block_another() {
    let app = TestApp::configured(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.set_password("maria", PASSWORD).await;
    let mut attacker = Browser::behind_proxy(&app, "203.0.113.7");
    for i in 0..20 {
        let p = attacker.sign_in(&format!("guess{i}"), "guess guess guess").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.html);
    }
    let p = attacker.sign_in("maria", PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert!(p.html.contains("Too many failed sign-ins from your network."), "{}", p.html);
    // Everybody comes through the same proxy; only the attacker is stopped.
    let mut maria = Browser::behind_proxy(&app, "198.51.100.9, 127.0.0.1");
    let p = maria.sign_in("maria", PASSWORD).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/"), "{}", p.html);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    // A proxy is trusted, but not this client's address.
    let app = TestApp::configured(|c| c.trusted_proxies = vec!["192.0.2.0/24".parse().unwrap()]).await;
    app.set_password("maria", PASSWORD).await;
    let mut b = Browser::new(&app);
    for i in 0..20 {
        b.forwarded_for = Some(format!("198.51.100.{i}"));
        let p = b.sign_in(&format!("guess{i}"), "guess guess guess").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.html);
    }
    b.forwarded_for = Some("198.51.100.200".into());
    let p = b.sign_in("maria", PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "the header did not make a new client: {}", p.html);
    assert!(p.html.contains("Too many failed sign-ins from your network."), "{}", p.html);
    // Without the header, the same.
    b.forwarded_for = None;
    assert_eq!(b.sign_in("maria", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_hundred_concurrent_wrong_guesses_check_no_more_passwords_than_the_limit() {
    let app = TestApp::configured(|c| c.password_checks = 2).await;
    app.set_password("maria", PASSWORD).await;
    let mut b = Browser::new(&app);
    let csrf = login_form(&mut b).await;
    let cookie = format!("actas_login={}", b.jar["actas_login"]);
    let before = app.throttle.verifications().done;
    let guesses = (0..100).map(|i| {
        let req = b.http.post(format!("{}/login", app.base)).header("cookie", &cookie).form(&[
            ("csrf", csrf.as_str()),
            ("login", "maria"),
            ("password", &format!("guess number {i}")),
        ]);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let wrong = answers.iter().filter(|(s, _)| *s == StatusCode::UNAUTHORIZED).count();
    let refused = answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(wrong, 5, "only the limit was checked");
    assert_eq!(wrong + refused, 100);
    assert!(answers.iter().all(|(s, html)| *s != StatusCode::TOO_MANY_REQUESTS || html.contains("Try again in")));
    let v = app.throttle.verifications();
    assert_eq!(v.done - before, 5, "passwords verified");
    assert!(v.peak <= v.limit, "{v:?}");
    // Maria, from her own address, gets in after the backoff's second.
    let mut maria = Browser::at(&app, "127.0.0.5");
    assert_eq!(maria.sign_in("maria", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(maria.sign_in("maria", PASSWORD).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn concurrent_sign_ins_never_run_more_password_checks_than_configured() {
    let app = TestApp::configured(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.password_checks = 2;
    })
    .await;
    let mut b = Browser::new(&app);
    let csrf = login_form(&mut b).await;
    let cookie = format!("actas_login={}", b.jar["actas_login"]);
    // Twelve clients, twelve logins: nothing to throttle, everything to verify.
    let sign_ins = (0..12).map(|i| {
        let req = b
            .http
            .post(format!("{}/login", app.base))
            .header("cookie", &cookie)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .form(&[("csrf", csrf.as_str()), ("login", &format!("nobody{i}")), ("password", "guess guess")]);
        async move { req.send().await.unwrap().status() }
    });
    let answers = futures::future::join_all(sign_ins).await;
    assert!(answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{answers:?}");
    let v = app.throttle.verifications();
    assert!(v.done >= 12);
    assert_eq!(v.limit, 2);
    assert!(v.peak <= 2, "never more than two argon2id checks at once: {v:?}");
}

backend_test!(async fn a_form_without_this_sessions_csrf_token_is_refused_and_changes_nothing(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let before = app.counts().await;
    let fields = [("ticket", "48192"), ("reason", REASON), ("actions", "settings.view"), ("minutes", "15")];
    let p = b.post("/requests", &fields).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    assert!(p.html.contains("did not come from the console"), "{}", p.html);
    let mut forged = fields.to_vec();
    forged.push(("csrf", "forged"));
    assert_eq!(b.post("/requests", &forged).await.status, StatusCode::FORBIDDEN);
    assert_eq!(b.post("/logout", &[("csrf", "forged")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.counts().await, before);
    assert_eq!(b.get("/").await.status, StatusCode::OK, "still signed in");

    // The sign-in form's token must match its cookie.
    app.set_password("jon", PASSWORD).await;
    let mut other = Browser::new(&app);
    let p = other.post("/login", &[("csrf", "x"), ("login", "jon"), ("password", PASSWORD)]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(!other.jar.contains_key("actas_console"));
});

backend_test!(async fn signing_out_ends_the_console_session(app) {
    let (mut b, home) = Browser::signed_in(&app, "maria").await;
    let old = b.jar["actas_console"].clone();
    let p = b.post("/logout", &[("csrf", &home.csrf())]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/login"));
    assert!(!b.jar.contains_key("actas_console"), "the cookie is cleared");
    // The old cookie, replayed, no longer works.
    b.jar.insert("actas_console".into(), old);
    assert_eq!(b.get("/").await.location(), "/login");
});

backend_test!(async fn an_idle_console_session_sends_back_to_sign_in(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    app.clock.advance(mins(20));
    assert_eq!(b.get("/").await.status, StatusCode::OK, "activity keeps it alive");
    app.clock.advance(mins(20));
    assert_eq!(b.get("/").await.status, StatusCode::OK);
    app.clock.advance(mins(31));
    let p = b.get("/").await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/login"));
    assert!(!b.jar.contains_key("actas_console"));
});

backend_test!(async fn a_console_session_ends_twelve_hours_after_sign_in_however_busy(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    for _ in 0..24 {
        app.clock.advance(mins(29));
        assert_eq!(b.get("/").await.status, StatusCode::OK);
    }
    app.clock.advance(mins(25));
    assert_eq!(b.get("/").await.location(), "/login");
});

backend_test!(async fn a_disabled_staff_member_is_signed_out_at_once(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    service::disable_staff(&app.ctx, Actor::system(), "maria").await.unwrap();
    let p = b.get("/").await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/login"));
    let p = b.sign_in("maria", PASSWORD).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("This account is disabled"), "{}", p.html);
    assert!(!b.jar.contains_key("actas_console"));
});

backend_test!(async fn roles_decide_which_pages_and_links_exist(app) {
    let (mut maria, home) = Browser::signed_in(&app, "maria").await;
    assert!(!home.html.contains(r#"href="/queue""#), "{}", home.html);
    assert!(home.html.contains("My requests"));
    assert_eq!(maria.get("/queue").await.status, StatusCode::FORBIDDEN);

    let (mut audrey, home) = Browser::signed_in(&app, "audrey").await;
    assert!(!home.html.contains("My requests"));
    assert!(!home.html.contains(r#"action="/launch""#));
    let p = audrey.get("/launch?ticket=48192").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("Asking for access is not for you: This needs one of the roles: agent."), "{}", p.html);
    let csrf = home.csrf();
    let p = audrey.post("/requests", &[("csrf", &csrf), ("ticket", "48192"), ("reason", REASON), ("actions", "settings.view"), ("minutes", "15")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);

    let (mut lena, home) = Browser::signed_in(&app, "lena").await;
    assert!(home.html.contains(r#"href="/queue""#));
    assert!(!home.html.contains("My requests"), "a lead without the agent role asks for nothing");
    assert_eq!(lena.get("/queue").await.status, StatusCode::OK);
    assert_eq!(lena.get("/launch?ticket=48192").await.status, StatusCode::FORBIDDEN);
});

backend_test!(async fn a_vague_reason_is_shown_next_to_the_reason_field_and_creates_nothing(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let form = b.get("/launch?ticket=48192").await;
    assert_eq!(form.status, StatusCode::OK);
    let before = app.counts().await;
    let csrf = form.csrf();
    let p = b
        .post(
            "/requests",
            &[("csrf", &csrf), ("ticket", "48192"), ("reason", "Need access!"), ("actions", "settings.view"), ("actions", "settings.update"), ("minutes", "20")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    let at = p.html.find(r#"id="reason-error""#).expect("the sentence is next to the reason field");
    assert!(p.html[at..].starts_with(r#"id="reason-error" role="alert">&quot;Need access!&quot; is too vague"#), "{}", &p.html[at..at + 120]);
    assert!(at < p.html.find(r#"<textarea id="reason""#).unwrap(), "the sentence comes just before the field");
    assert!(p.html.contains(r#"aria-describedby="reason-hint reason-error""#));
    assert!(p.html.contains(">Need access!</textarea>"), "the input is kept");
    assert!(p.html.contains(r#"value="settings.update" data-label="Update account settings" data-approval="required" checked"#), "{}", p.html);
    assert!(p.html.contains(r#"<option value="20" selected>"#));
    // The planned start and end follow what was asked: a lead decides, 20 minutes.
    assert!(p.html.contains(r#"id="plan-start">as soon as a lead approves</strong>"#), "{}", p.html);
    assert!(p.html.contains(r#"id="plan-end">20 minutes after you start it: 14:20 UTC at the earliest</strong>"#), "{}", p.html);
    assert!(!p.html.contains("urn:actas:problem"), "never a problem document");
    let after = app.counts().await;
    assert_eq!(after.requests, before.requests);
    assert_eq!(after.events, before.events + 1, "only request.refused");
    // Too many minutes: the sentence goes next to the duration.
    let p = b.post("/requests", &[("csrf", &csrf), ("ticket", "48192"), ("reason", REASON), ("actions", "settings.view"), ("minutes", "45")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains(r#"id="minutes-error" role="alert">45 minutes is more than the policy's maximum"#), "{}", p.html);
    // No action: next to the actions.
    let p = b.post("/requests", &[("csrf", &csrf), ("ticket", "48192"), ("reason", REASON), ("minutes", "15")]).await;
    assert!(p.html.contains(r#"id="actions-error" role="alert">Name at least one action."#), "{}", p.html);
    assert_eq!(app.counts().await.requests, before.requests);
});

backend_test!(async fn a_reason_that_names_nothing_is_refused_at_the_field_with_the_ticket_as_example(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let form = b.get("/launch?ticket=48192").await;
    assert!(form.html.contains("characters that name the customer's problem: what is wrong, and where."), "{}", form.html);
    let before = app.counts().await;
    let csrf = form.csrf();
    let reason = "Checking the customer account please";
    let p = b
        .post("/requests", &[("csrf", &csrf), ("ticket", "48192"), ("reason", reason), ("actions", "settings.view"), ("minutes", "15")])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    let at = p.html.find(r#"id="reason-error""#).expect("the sentence is next to the reason field");
    let sentence = "&quot;Checking the customer account please&quot; does not say what is wrong: name the problem, \
                    for example &quot;Tax settings broken after plan change&quot;.";
    assert!(p.html[at..].starts_with(&format!(r#"id="reason-error" role="alert">{sentence}"#)), "{}", &p.html[at..at + 200]);
    assert!(p.html.contains(&format!(">{reason}</textarea>")), "the input is kept");
    let after = app.counts().await;
    assert_eq!((after.requests, after.sessions), (before.requests, before.sessions), "nothing is stored");
    assert_eq!(after.events, before.events + 1, "only request.refused");
    let refused = app.events_of_type("request.refused").await;
    assert_eq!(refused.last().unwrap()["data"]["code"], "reason-vague");
});

backend_test!(async fn the_request_form_lists_what_will_and_will_not_be_allowed(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let p = b.get("/launch?ticket=48192").await;
    assert!(p.html.contains("Acme Corp (acct_42)"), "{}", p.html);
    assert!(p.html.contains("Tax settings broken after plan change"));
    assert!(p.html.contains("You will be able to…") && p.html.contains("You will not be able to…"));
    assert!(p.html.contains(r#"<label for="reason">Reason</label>"#));
    assert!(p.html.contains(r#"<label for="minutes">For how long</label>"#));
    // The actions in their groups, each action in one group only, with its badges.
    let view = group(&p.html, "g-view");
    assert!(view.contains(r#"<h3 id="g-view">View <span class="hint">no approval needed</span></h3>"#), "{view}");
    assert!(view.contains(r#"value="settings.view""#) && !view.contains(r#"value="settings.update""#), "{view}");
    assert!(!view.contains(r#"value="sensitive.view""#), "a sensitive view is in Sensitive: {view}");
    let lead = group(&p.html, "g-lead");
    assert!(lead.contains(r#"<h3 id="g-lead">Needs a lead's approval "#), "{lead}");
    for risky in ["settings.update", "billing.update", "password.reset", "data.export"] {
        assert!(lead.contains(&format!(r#"value="{risky}""#)), "{risky} needs a lead: {lead}");
    }
    assert!(lead.contains(r#"<span class="badge risky">needs a lead's approval</span>"#), "{lead}");
    let sensitive = group(&p.html, "g-sensitive");
    assert!(sensitive.contains(r#"value="sensitive.view""#) && sensitive.contains(r#"<span class="badge sensitive">"#), "{sensitive}");
    assert!(!p.html.contains(r#"id="g-change""#), "no change of the shipped policy goes without a lead");
    assert_eq!(p.html.matches(r#"name="actions""#).count(), 22, "every action once");
    // The planned start and end beside the duration, as clock times.
    assert!(p.html.contains(r#"id="plan-start">now, when you start it</strong>"#), "{}", p.html);
    assert!(p.html.contains(r#"id="plan-end">14:15 UTC if you start it now (15 minutes)</strong>"#), "{}", p.html);
    let max = p.html.matches("<option ").count();
    assert_eq!(max, 6, "5 to 30 minutes");
    let p = b.get("/launch?ticket=99999").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.html.contains("There is no ticket 99999."));
});

backend_test!(async fn a_view_request_from_launch_is_approved_by_policy_then_started_and_ended(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let form = b.get("/launch?ticket=48192").await;
    let csrf = form.csrf();
    let p = b.post("/requests", &[("csrf", &csrf), ("ticket", "48192"), ("reason", REASON), ("actions", "settings.view"), ("actions", "plan.view"), ("minutes", "15")]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let req_path = p.location().to_string();
    assert!(req_path.starts_with("/requests/"));
    let req = b.get(&req_path).await;
    assert!(
        req.html.contains(r#"Approved: start it; the approval runs out <time datetime="2026-11-25T14:10:00Z" title="2026-11-25 14:10:00 UTC">in 10 min · 14:10 UTC</time>"#),
        "{}",
        req.html
    );
    assert!(req.html.contains("<li>View account settings</li>"));
    assert!(req.html.contains("Decided by Policy"));

    // Another agent cannot see it.
    let (mut jon, _) = Browser::signed_in(&app, "jon").await;
    assert_eq!(jon.get(&req_path).await.status, StatusCode::FORBIDDEN);

    let started = b.post(&format!("{req_path}/start"), &[("csrf", &csrf)]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let session_path = started.location().to_string();
    assert!(session_path.starts_with("/sessions/ses_") && session_path.ends_with("?started=1"), "{session_path}");
    let started = b.get(&session_path).await;
    assert!(!started.html.contains("eyJ"), "the console never shows the token: {}", started.html);
    assert!(started.html.contains("The session has started."));
    assert!(started.html.contains("asked to act as Acme Corp (acct_42)"), "the timeline: {}", started.html);
    let sid = app.events_of_type("session.started").await[0]["session_id"].as_str().unwrap().to_string();
    // "Open in the host app" sends the browser to the app's entry address with a one-time code.
    let open = b.post(&format!("/sessions/{sid}/open"), &[("csrf", &csrf)]).await;
    assert_eq!(open.status, StatusCode::SEE_OTHER, "{}", open.html);
    let url = open.location().to_string();
    let code = url.strip_prefix("http://localhost:3000/support/enter?code=").expect(&url).to_string();
    assert!(code.starts_with("actas_entry_"), "{code}");
    let token = app.client.enter(&code).await.unwrap().token.expose().to_string();
    let v = app.authorize(&token, "settings.view").await;
    assert!(v.allowed, "{v:?}");

    let home = b.get("/").await;
    assert!(home.html.contains("Acting as <strong>Acme Corp (acct_42)</strong>"), "{}", home.html);
    assert_eq!(claims(&token)["sid"], sid.as_str());
    let p = b.post(&format!("/sessions/{sid}/end"), &[("csrf", &csrf)]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("/sessions/{sid}").as_str()));
    let page = b.get(&format!("/sessions/{sid}")).await;
    assert!(
        page.html.contains(r#"Ended <time datetime="2026-11-25T14:00:00Z" title="2026-11-25 14:00:00 UTC">just now · 14:00 UTC</time>: the agent ended it"#),
        "{}",
        page.html
    );
    assert!(!page.html.contains("End the session"));
    let (_, s) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(s["end_reason"], "ended");
    let v = app.authorize(&token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "session_ended");
    assert!(b.get("/").await.html.contains("You have no live session."));
});

/// The part of a page from the group of actions `id` to the next group.
fn group<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!(r#"<h3 id="{id}">"#)).unwrap_or_else(|| panic!("no group {id}: {html}"));
    let rest = &html[start..];
    let end = rest[4..].find("<h3 ").map(|e| e + 4).unwrap_or(rest.len());
    &rest[..end]
}

/// The queue card of request `id`.
fn queue_card<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!(r#"id="r-{id}""#)).unwrap_or_else(|| panic!("no card of {id}: {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</article>").unwrap()]
}

/// The fields the card's one-click Approve posts (its hidden inputs).
fn one_click_fields(card: &str) -> Vec<(String, String)> {
    let form = &card[card.find(r#"<form class="approve""#).expect(card)..];
    let form = &form[..form.find("</form>").unwrap()];
    form.split("<input ")
        .skip(1)
        .map(|i| {
            let attr = |n: &str| {
                let at = i.find(&format!(r#"{n}=""#)).unwrap() + n.len() + 2;
                i[at..].split('"').next().unwrap().to_string()
            };
            assert_eq!(attr("type"), "hidden", "{form}");
            (attr("name"), attr("value"))
        })
        .collect()
}

/// The sentence that confirms a decision on the queue page, if any.
fn confirmation(html: &str) -> Option<&str> {
    let at = html.find(r#"id="decided""#)?;
    let p = &html[html[..at].rfind("<p ").unwrap()..];
    assert!(p.starts_with("<p ") && p[..p.find('>').unwrap()].contains(r#"role="status""#), "{p}");
    assert!(p[..p.find('>').unwrap()].contains(r#"class="ok""#), "{p}");
    Some(&p[p.find('>').unwrap() + 1..p.find("</p>").unwrap()])
}

backend_test!(async fn one_click_approves_as_asked_and_the_queue_confirms_it_in_a_sentence(app) {
    let r = app.request(&app.maria).actions(&["settings.view", "settings.update"]).send().await;
    let id = r.id.clone();
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    let q = sam.get("/queue").await;
    let card = queue_card(&q.html, &id);
    // One glance: who, which ticket and its subject, the account, why, how long and until when.
    assert!(card.contains("Maria Lopez, ticket 48192"), "{card}");
    assert!(card.contains(r#"Ticket 48192: <span class="subject">Tax settings broken after plan change</span>"#), "{card}");
    assert!(card.contains("<strong>Acme Corp (acct_42)</strong>"), "{card}");
    assert!(card.contains(&format!("<q>{REASON}</q>")), "{card}");
    assert!(card.contains("<strong>15 minutes</strong> · starts when Maria Lopez starts it, at the latest"), "{card}");
    assert!(card.contains(r#"<time datetime="2026-11-25T14:10:00Z">14:10 UTC</time> · ends at the latest <time datetime="2026-11-25T14:25:00Z">14:25 UTC</time>"#), "{card}");
    // No checkbox to read before the one click: they wait in "Change before approving".
    let change = card.find(&format!(r#"id="c-{id}""#)).expect(card);
    assert!(!card[..change].contains(r#"type="checkbox""#), "{card}");
    assert!(card[..change].contains(r#"<button class="primary" type="submit">Approve</button>"#), "{card}");
    assert!(card.contains("<summary>Change before approving</summary>"), "{card}");
    let fields = one_click_fields(card);
    let names: Vec<&str> = fields.iter().filter(|(k, _)| k == "actions").map(|(_, v)| v.as_str()).collect();
    assert_eq!(names, vec!["settings.view", "settings.update"]);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let p = sam.post(&format!("/requests/{id}/approve"), &fields).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("/queue?decided={id}").as_str()), "{}", p.html);
    let (_, got) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(got["status"], "approved");
    assert_eq!(got["granted_minutes"], 15);
    assert_eq!(got["decisions"][0]["removed"], json!([]));
    assert_eq!(got["decisions"][0]["added"], json!([]));
    let done = sam.get(p.location()).await;
    assert_eq!(
        confirmation(&done.html),
        Some("Approved Maria Lopez's request for ticket 48192: it can be started until 14:10 UTC and ends at the latest 14:25 UTC."),
        "{}",
        done.html
    );
    assert!(!done.html.contains(&format!(r#"id="r-{id}""#)), "the card left the queue");
    // The confirmation is Sam's: another lead reading the address sees none.
    let (mut lena, _) = Browser::signed_in(&app, "lena").await;
    assert_eq!(confirmation(&lena.get(&format!("/queue?decided={id}")).await.html), None);
    // A stale card: deciding again is refused in words, and nothing changes.
    let again = sam.post(&format!("/requests/{id}/approve"), &fields).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
    let alert = again.html.find(r#"<p class="alert" role="alert">"#).expect(&again.html);
    assert!(alert < again.html.find(r#"id="queue-list""#).unwrap(), "the sentence is above the queue");
    assert_eq!(app.events_of_type("request.approved").await.len(), 1);
});

backend_test!(async fn the_queue_groups_what_is_asked_and_a_risky_action_needs_a_lead(app) {
    let r = app.request(&app.maria).actions(&["settings.view", "settings.update", "sensitive.view"]).send().await;
    let id = r.id.clone();
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    let q = sam.get("/queue").await;
    let card = queue_card(&q.html, &id);
    let asked = &card[card.find(r#"<ul class="asked">"#).expect(card)..];
    let asked = &asked[..asked.find("</ul>").unwrap()];
    assert!(asked.contains(r#"<li class="g-view"><span class="group-name">View</span> View account settings</li>"#), "{asked}");
    assert!(asked.contains(r#"<li class="g-lead"><span class="badge risky">Needs a lead</span> Update account settings</li>"#), "{asked}");
    assert!(asked.contains(r#"<li class="g-sensitive"><span class="badge sensitive">Sensitive</span> View sensitive records</li>"#), "{asked}");
    // In "Change before approving" the boxes are grouped too: the risky one under its heading, flagged.
    let lead = group(card, &format!("g-{id}-lead"));
    assert!(lead.contains("Needs a lead's approval"), "{lead}");
    assert!(lead.contains(r#"value="settings.update""#) && lead.contains("badge risky"), "{lead}");
    assert!(lead.contains(r#"value="billing.update""#), "expanding is offered too: {lead}");
    assert!(!group(card, &format!("g-{id}-view")).contains(r#"value="settings.update""#));
    assert!(group(card, &format!("g-{id}-sensitive")).contains(r#"value="sensitive.view""#));
    // What was asked is ticked, the rest not.
    let change = &card[card.find(&format!(r#"id="c-{id}""#)).unwrap()..];
    let at = change.find(r#"value="settings.update""#).unwrap();
    assert!(change[at..at + change[at..].find('>').unwrap()].contains(" checked"), "{change}");
    let at = change.find(r#"value="billing.update""#).unwrap();
    assert!(!change[at..at + change[at..].find('>').unwrap()].contains(" checked"), "{change}");
});

backend_test!(async fn a_scope_request_shows_the_sessions_scope_and_reason_and_only_what_it_adds(app) {
    let sid = app.session(&app.maria).actions(&["settings.view", "activity.view"]).start().await.id;
    let more = "Customer now asks us to correct the tax id on the settings page";
    let (s, r) = app.post(&format!("/api/v1/sessions/{sid}/scope"), &app.maria, json!({"actions": ["settings.view", "settings.update"], "reason": more})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    let q = sam.get("/queue").await;
    let card = queue_card(&q.html, &id);
    assert!(card.contains("Maria Lopez, ticket 48192 (more actions for a live session)"), "{card}");
    let now = &card[card.find(r#"class="scope-now""#).expect(card)..];
    let now = &now[..now.find("</ul>").unwrap()];
    assert!(now.contains("View account settings, View recent activity"), "the session's scope: {now}");
    let add = &card[card.find(r#"class="scope-add""#).expect(card)..];
    let add = &add[..add.find("</ul>").unwrap()];
    assert!(add.contains("Update account settings") && !add.contains("View account settings"), "only what it adds: {add}");
    assert!(card.contains("Why the session was opened") && card.contains("Customer can"), "{card}");
    assert!(card.contains(&format!("<q>{more}</q>")), "{card}");
    assert!(!card.contains(r#"name="minutes""#), "no minutes to choose for a live session: {card}");
    let change = &card[card.find(&format!(r#"id="c-{id}""#)).unwrap()..];
    assert!(!change.contains(r#"value="settings.view""#) && !change.contains(r#"value="activity.view""#), "what it allows is not offered again");
    assert!(change.contains(r#"value="settings.update""#), "{change}");
    let fields = one_click_fields(card);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(fields.iter().filter(|(k, _)| *k == "actions").count(), 1, "{fields:?}");
    let p = sam.post(&format!("/requests/{id}/approve"), &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let done = sam.get(p.location()).await;
    let line = confirmation(&done.html).expect(&done.html);
    assert!(line.ends_with("for more actions under ticket 48192: the live session now also allows Update account settings."), "{line}");
    let (_, s) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    let scope: Vec<&str> = s["scope"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap_or_else(|| a.as_str().unwrap())).collect();
    assert!(scope.contains(&"settings.update"), "{s}");
});

backend_test!(async fn a_lead_narrows_shortens_and_denies_from_the_queue(app) {
    let r = app.request(&app.maria).actions(&["settings.view", "settings.update"]).minutes(20).send().await;
    let id = r.id.clone();
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    let q = sam.get("/queue").await;
    assert_eq!(q.status, StatusCode::OK);
    assert!(q.html.contains("Maria Lopez, ticket 48192"), "{}", q.html);
    let change = &q.html[q.html.find(&format!(r#"id="c-{id}""#)).expect(&q.html)..];
    assert!(change.contains(r#"name="actions" value="settings.update" data-label="Update account settings" data-approval="required" checked"#), "pre-ticked with what was asked");
    assert!(!q.html.contains(r#"<option value="25""#), "minutes only up to what was asked");
    let csrf = q.csrf();
    let p = sam.post(&format!("/requests/{id}/approve"), &[("csrf", &csrf), ("actions", "settings.view"), ("actions", "invoices.view"), ("minutes", "10"), ("note", "views only")]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("/queue?decided={id}").as_str()), "{}", p.html);
    let done = sam.get(p.location()).await;
    let line = confirmation(&done.html).expect(&done.html);
    assert!(line.ends_with("ticket 48192: it can be started until 14:10 UTC and ends at the latest 14:20 UTC. As changed: View account settings, View invoices; 10 minutes."), "{line}");
    let (_, got) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(got["status"], "approved");
    assert_eq!(got["granted_minutes"], 10);
    let granted: Vec<&str> = got["granted_actions"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(granted, vec!["settings.view", "invoices.view"]);
    assert_eq!(got["decisions"][0]["removed"], json!(["settings.update"]));

    // Deny needs a note: the sentence is shown at the request, nothing changes.
    let r = app.request(&app.jon).actions(&["billing.update"]).send().await;
    let id = r.id.clone();
    let p = sam.post(&format!("/requests/{id}/deny"), &[("csrf", &csrf), ("note", "  ")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let card = queue_card(&p.html, &id);
    assert!(card.contains(&format!(r#"id="e-{id}">A denial needs a note that says why."#)), "next to the request: {card}");
    assert!(card.contains(&format!(r#"<details class="deny" id="d-{id}" open>"#)), "the deny form is open again: {card}");
    assert_eq!(confirmation(&p.html), None);
    let (_, got) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(got["status"], "pending");
    let p = sam.post(&format!("/requests/{id}/deny"), &[("csrf", &csrf), ("note", "Billing changes go through finance")]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("/queue?decided={id}").as_str()));
    let (_, got) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(got["status"], "denied");
    let done = sam.get(p.location()).await;
    assert!(done.html.contains("No request waits for a decision."));
    let line = confirmation(&done.html).expect(&done.html);
    assert!(line.starts_with("Denied Jon Park"), "{line}");
    assert!(line.ends_with("s request for ticket 48192. Your reason is on the request: \u{201c}Billing changes go through finance\u{201d}"), "{line}");

    // Sam's own request is shown without buttons, and posting a decision is refused next to it.
    let own = app.request(&app.sam).actions(&["billing.update"]).send().await;
    let q = sam.get("/queue").await;
    assert!(q.html.contains("You asked for this; another lead decides it."));
    assert!(!q.html.contains(&format!("/requests/{}/approve", own.id)));
    let p = sam.post(&format!("/requests/{}/approve", own.id), &[("csrf", &csrf), ("actions", "billing.update")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    let card = queue_card(&p.html, &own.id);
    assert!(card.contains(&format!(r#"id="e-{}">Nobody may decide their own request."#, own.id)), "{card}");
});

backend_test!(async fn names_and_ticket_text_from_people_are_escaped(app) {
    app.staff("mallory").name("<script>alert('name')</script>").password(PASSWORD).add().await;
    app.ticket("666")
        .account("acct_<b>")
        .account_name("<img src=x onerror=alert(1)>")
        .subject("<script>alert('subject')</script>")
        .create()
        .await;
    let mut b = Browser::new(&app);
    let p = b.sign_in("mallory", PASSWORD).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let home = b.get("/").await;
    assert!(home.html.contains("&lt;script&gt;alert('name')&lt;/script&gt;"), "{}", home.html);
    let form = b.get("/launch?ticket=666").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    for raw in ["<script>alert('", "<img src=x", "acct_<b>"] {
        assert!(!home.html.contains(raw) && !form.html.contains(raw), "{raw} is not escaped");
    }
    assert!(form.html.contains("&lt;script&gt;alert('subject')&lt;/script&gt;"));
    assert!(form.html.contains("&lt;img src=x onerror=alert(1)&gt; (acct_&lt;b&gt;)"));
    let p = b.get("/launch?ticket=%3Cscript%3E").await;
    assert!(p.html.contains("There is no ticket &lt;script&gt;."), "{}", p.html);
});

backend_test!(async fn pages_need_a_signed_in_person(app) {
    let mut b = Browser::new(&app);
    for path in ["/", "/queue", "/launch?ticket=48192", "/requests/req_x", "/sessions/ses_x"] {
        let p = b.get(path).await;
        assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/login"), "{path}");
    }
    assert_eq!(b.post("/requests", &[("ticket", "48192")]).await.location(), "/login");
    assert_eq!(b.get("/api/v1/tickets/48192").await.status, StatusCode::UNAUTHORIZED, "the API is untouched");
});

/// The `href` of the link whose text is `text`, unescaped.
fn link(html: &str, text: &str) -> String {
    let end = html.find(&format!(">{text}</a>")).unwrap_or_else(|| panic!("a link {text}: {html}"));
    let start = html[..end].rfind("href=\"").unwrap() + "href=\"".len();
    html[start..end].split('"').next().unwrap().replace("&amp;", "&")
}

/// The rows of the events table.
fn rows(html: &str) -> usize {
    html.matches(r#"<td class="when""#).count()
}

backend_test!(async fn the_audit_page_filters_and_pages_with_a_cursor(app) {
    app.session(&app.maria).actions(&["settings.view"]).start().await;
    let (mut b, home) = Browser::signed_in(&app, "audrey").await;
    assert!(home.html.contains(r#"href="/audit""#), "{}", home.html);
    let p = b.get("/audit").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    for label in [r#"<label for="f-account">"#, r#"<label for="f-agent">"#, r#"<label for="f-ticket">"#, r#"<label for="f-session">"#, r#"<label for="f-type">"#, r#"<label for="f-since">"#, r#"<label for="f-until">"#, r#"<label for="f-limit">"#] {
        assert!(p.html.contains(label), "{label}");
    }
    assert!(p.html.contains(r#"<option value="customer.notified">"#), "every event type is offered");
    assert!(p.html.contains(r#"type="datetime-local""#));
    let all = app.events().await.len();
    assert_eq!(rows(&p.html), all);

    let p = b.get("/audit?type=session.started&account=&agent=maria").await;
    assert_eq!(rows(&p.html), 1, "{}", p.html);
    assert!(p.html.contains("Maria Lopez started"), "{}", p.html);
    assert!(p.html.contains(r#"<option value="session.started" selected>"#));
    let p = b.get("/audit?ticket=99999").await;
    assert!(p.html.contains("No event matches these filters."));

    // Paging: two at a time, oldest first, until the end.
    let mut page = b.get("/audit?limit=2").await;
    let mut seen = Vec::new();
    loop {
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(rows(&page.html) <= 2);
        seen.push(rows(&page.html));
        if !page.html.contains(">Next page</a>") {
            break;
        }
        let next = link(&page.html, "Next page");
        assert!(next.contains("limit=2") && next.contains("cursor="), "{next}");
        page = b.get(&next).await;
    }
    assert_eq!(seen.iter().sum::<usize>(), all);
    assert!(seen.len() >= 2);

    // Agents do not read the trail.
    let (mut maria, home) = Browser::signed_in(&app, "maria").await;
    assert!(!home.html.contains(r#"href="/audit""#));
    assert_eq!(maria.get("/audit").await.status, StatusCode::FORBIDDEN);
    assert_eq!(maria.get("/audit/export?format=csv").await.status, StatusCode::FORBIDDEN);
});

backend_test!(async fn each_audit_export_has_the_apis_content_type_and_one_line_per_event(app) {
    app.session(&app.maria).actions(&["settings.view"]).start().await;
    let n = app.events().await.iter().filter(|e| e["ticket"] == "48192").count();
    assert!(n >= 3);
    let (mut b, _) = Browser::signed_in(&app, "sam").await;
    let p = b.get("/audit?ticket=48192").await;
    for (text, format, ct, ext, lines) in [
        ("JSON lines (.jsonl)", "jsonl", "application/x-ndjson", "jsonl", n),
        ("CSV (.csv)", "csv", "text/csv; charset=utf-8", "csv", n + 1),
        ("Plain text (.txt)", "text", "text/plain; charset=utf-8", "txt", n),
    ] {
        let href = link(&p.html, text);
        assert_eq!(href, format!("/audit/export?ticket=48192&format={format}"));
        let d = b.get(&href).await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.html);
        assert_eq!(d.headers["content-type"], ct);
        assert_eq!(d.headers["content-disposition"], format!("attachment; filename=\"actas-audit.{ext}\""));
        assert_eq!(d.html.lines().count(), lines, "{format}: {}", d.html);
    }
    let d = b.get("/audit/export?format=xml").await;
    assert_eq!(d.status, StatusCode::BAD_REQUEST);
    assert!(d.html.contains("Pick a download format"), "{}", d.html);
});

backend_test!(async fn an_invalid_audit_filter_is_a_sentence_next_to_its_field(app) {
    let (mut b, _) = Browser::signed_in(&app, "audrey").await;
    let p = b.get("/audit?since=yesterday&ticket=48192").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let at = p.html.find(r#"id="f-since-error" role="alert">The &quot;From&quot; time is not a date and time."#).expect(&p.html);
    assert!(at < p.html.find(r#"id="f-since""#).unwrap());
    assert!(p.html.contains(r#"value="48192""#), "the filters are kept");
    assert!(!p.html.contains("urn:actas:problem"));
    let p = b.get("/audit?limit=5000").await;
    assert!(p.html.contains(r#"id="f-limit-error" role="alert">Events per page must be a whole number from 1 to 1000."#), "{}", p.html);
    let p = b.get("/audit?type=nonsense").await;
    assert!(p.html.contains(r#"id="f-type-error""#));
    let p = b.get("/audit?cursor=abc").await;
    assert!(p.html.contains(r#"id="audit-error" role="alert">The query is not valid: cursor is not one this server gave."#), "{}", p.html);
    // datetime-local values are read as UTC: everything so far happened at 14:00.
    let p = b.get("/audit?until=2026-11-25T14%3A00").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("No event matches these filters."));
    let p = b.get("/audit?since=2026-11-25T14%3A00&type=ticket.created").await;
    assert_eq!(rows(&p.html), 1, "{}", p.html);
});

backend_test!(async fn the_access_log_lists_a_session_with_its_change(app) {
    let token = app.session(&app.maria).actions(&["settings.view", "invoice_email.update"]).start().await.token;
    let change = json!({"changes": [{"field": "invoice_email", "old": "old@acme.test", "new": "new@acme.test"}]});
    let v = app.authorize_with(&token, "invoice_email.update", change).await;
    assert!(v.allowed, "{v:?}");
    // Another agent has no need to know who entered the account.
    let (mut jon, home) = Browser::signed_in(&app, "jon").await;
    assert_eq!(jon.get("/accounts/acct_42/access-log").await.status, StatusCode::FORBIDDEN);
    assert_eq!(jon.get("/accounts?id=acct_42").await.status, StatusCode::FORBIDDEN);
    assert!(!home.html.contains("account-lookup"), "no form that leads to a refusal");
    let (mut lena, home) = Browser::signed_in(&app, "lena").await;
    assert!(home.html.contains(r#"<form id="account-lookup" method="get" action="/accounts">"#), "{}", home.html);
    assert!(home.html.contains(r#"<label for="account-id">"#));
    let p = lena.get("/accounts?id=acct_42").await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/accounts/acct_42/access-log"));
    let p = lena.get("/accounts/acct_42/access-log").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Maria Lopez, ticket 48192"), "{}", p.html);
    assert!(p.html.contains("Approved by Sam Lee."));
    assert!(p.html.contains("<strong>in progress</strong>"));
    assert!(p.html.contains("Allowed: View account settings, Update invoice email."), "{}", p.html);
    assert!(p.html.contains("new@acme.test"), "the change: {}", p.html);
    let p = lena.get("/accounts/acct_7/access-log").await;
    assert!(p.html.contains("No one from support has entered this account."));
    let p = lena.get("/accounts?id=+").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.html.contains(r#"id="account-id-error""#));
});

backend_test!(async fn the_requester_withdraws_a_pending_request_from_its_page(app) {
    let r = app.request(&app.maria).actions(&["billing.update"]).send().await;
    let id = r.id.clone();
    let path = format!("/requests/{id}");
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    assert!(!sam.get(&path).await.html.contains("Withdraw the request"), "only the requester withdraws");
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    let p = maria.get(&path).await;
    assert!(p.html.contains(&format!(r#"action="/requests/{id}/withdraw""#)), "{}", p.html);
    let csrf = p.csrf();
    assert_eq!(maria.post(&format!("{path}/withdraw"), &[("csrf", "forged")]).await.status, StatusCode::FORBIDDEN);
    let p = maria.post(&format!("{path}/withdraw"), &[("csrf", &csrf)]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, path.as_str()));
    let (_, got) = app.get(&format!("/api/v1/{}", &path[1..]), &app.sam).await;
    assert_eq!(got["status"], "withdrawn");
    let p = maria.get(&path).await;
    assert!(p.html.contains("Status: <span class=\"status\" id=\"status\">Withdrawn"), "{}", p.html);
    assert!(!p.html.contains("Withdraw the request"));
    let p = maria.post(&format!("{path}/withdraw"), &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert!(p.html.contains("The request is withdrawn; it cannot be withdrawn."), "{}", p.html);
});

/// The markup of one group (`view`, `lead`, `sensitive`) of the session
/// page's "Ask for more actions" form.
fn scope_group<'a>(form: &'a str, key: &str) -> &'a str {
    let group = &form
        [form.find(&format!(r#"<div class="group g-{key}""#)).unwrap_or_else(|| panic!("no {key} group: {form}"))..];
    &group[..group.find("</div>").unwrap()]
}

backend_test!(async fn the_agent_asks_for_more_actions_from_the_session_page(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let path = format!("/sessions/{sid}");
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    let p = maria.get(&path).await;
    let form = &p.html[p.html.find(r#"<form id="scope-form""#).expect(&p.html)..];
    assert!(!form.contains(r#"value="settings.view""#), "actions in scope are not offered");
    assert!(form.contains(r#"<label for="scope-reason">"#));
    // Grouped as on the request form: what only looks, what needs a lead
    // (marked so), what shows sensitive data; nothing ticked yet.
    let view = scope_group(form, "view");
    assert!(view.contains(r#"id="scope-view">View <span class="hint">no approval needed</span>"#), "{view}");
    assert!(view.contains(r#"value="account.view" data-label="View the account overview" data-approval="none">"#), "{view}");
    let lead = scope_group(form, "lead");
    assert!(lead.contains("Needs a lead's approval"), "{lead}");
    assert!(lead.contains(r#"value="settings.update" data-label="Update account settings" data-approval="required">"#), "{lead}");
    assert!(lead.contains(r#"<span class="badge risky">needs a lead's approval</span>"#), "{lead}");
    let sensitive = scope_group(form, "sensitive");
    assert!(sensitive.contains(r#"value="sensitive.view""#) && sensitive.contains(r#"<span class="badge sensitive">sensitive</span>"#), "{sensitive}");
    assert!(!form.contains(" checked"), "nothing is ticked before the agent ticks it");
    let csrf = p.csrf();
    let p = maria.post(&format!("{path}/scope"), &[("csrf", &csrf), ("actions", "settings.update"), ("reason", "debug")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    assert!(p.html.contains(r#"id="scope-reason-error" role="alert">"#), "{}", p.html);
    let form = &p.html[p.html.find(r#"<form id="scope-form""#).expect(&p.html)..];
    let lead = scope_group(form, "lead");
    assert!(
        lead.contains(r#"value="settings.update" data-label="Update account settings" data-approval="required" checked>"#),
        "the input is kept, in its group: {lead}"
    );
    assert_eq!(form.matches(" checked>").count(), 1, "only what was ticked is ticked again");
    let p = maria.post(&format!("{path}/scope"), &[("csrf", &csrf), ("actions", "settings.update"), ("reason", REASON)]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, path.as_str()), "{}", p.html);
    let p = maria.get(&path).await;
    assert!(p.html.contains("More actions asked for"), "{}", p.html);
    assert!(p.html.contains("Update account settings</a> — <span class=\"status\">Waiting for a lead's decision"), "{}", p.html);
    // Another agent has no form; a lead approves and the page says so.
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    assert!(!sam.get(&path).await.html.contains("scope-form"));
    let (_, q) = app.get("/api/v1/requests?status=pending", &app.sam).await;
    let rid = q["requests"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(app.approve(&app.sam, &rid, json!({})).await.0, StatusCode::OK);
    let p = maria.get(&format!("{path}?fragment=1")).await;
    assert!(p.html.contains("<li>Update account settings</li>"), "the scope grew: {}", p.html);
});

backend_test!(async fn a_lead_revokes_a_session_only_with_a_note(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    let path = format!("/sessions/{sid}");
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    assert!(!maria.get(&path).await.html.contains("revoke-form"), "agents do not revoke");
    let (mut lena, _) = Browser::signed_in(&app, "lena").await;
    let p = lena.get(&path).await;
    assert!(p.html.contains(r#"<label for="revoke-note">Why revoke it (required)</label>"#), "{}", p.html);
    let csrf = p.csrf();
    let p = lena.post(&format!("{path}/revoke"), &[("csrf", &csrf), ("note", "   ")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    let at = p.html.find(r#"id="revoke-note-error" role="alert">A revocation needs a note that says why."#).expect(&p.html);
    assert!(at < p.html.find(r#"<textarea id="revoke-note""#).unwrap());
    let v = app.authorize(&token, "settings.view").await;
    assert!(v.allowed, "still live");
    let p = lena.post(&format!("{path}/revoke"), &[("csrf", &csrf), ("note", "Customer withdrew consent")]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, path.as_str()), "{}", p.html);
    let (_, s) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(s["end_reason"], "revoked");
    let p = lena.get(&path).await;
    assert!(p.html.contains(": a lead revoked it"), "{}", p.html);
    assert!(p.html.contains("Customer withdrew consent"));
    assert!(!p.html.contains("revoke-form"));
});

backend_test!(async fn admin_pages_are_for_admins_and_forbidden_to_the_others(app) {
    let (mut ada, home) = Browser::signed_in(&app, "ada").await;
    for link in [r#"href="/staff""#, r#"href="/apps""#, r#"href="/policy""#, r#"href="/audit/verify""#] {
        assert!(home.html.contains(link), "{link}: {}", home.html);
    }
    let p = ada.get("/staff").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains(r#"<td data-label="Login"><code>maria</code></td><td data-label="Name">Maria Lopez</td><td data-label="Roles">agent</td><td data-label="State"><span class="badge live">active</span></td>"#), "{}", p.html);
    assert!(p.html.contains(r#"<td data-label="Roles">lead, agent</td>"#));
    assert!(p.html.contains(r#"<form method="post" action="/staff">"#), "the add form: {}", p.html);
    let p = ada.get("/apps").await;
    assert!(p.html.contains(r#"<td data-label="Name">Acme Billing</td>"#) && p.html.contains(&app.app_id) && p.html.contains("http://localhost:3000"), "{}", p.html);
    let p = ada.get("/policy").await;
    assert!(p.html.contains(r#"<td data-label="Name"><code>password.reset</code></td>"#), "{}", p.html);
    assert!(p.html.contains(r#"<td data-label="Kind">change</td><td data-label="Approval">required</td><td data-label="Approvers">lead</td><td data-label="Sensitive">no</td><td data-label="Values redacted">yes</td>"#), "redacted: {}", p.html);
    assert!(p.html.contains("30 minutes") && p.html.contains("look around"));
    assert_eq!(ada.get("/audit").await.status, StatusCode::FORBIDDEN, "admins do not read the trail");
    for login in ["maria", "lena", "audrey"] {
        let (mut b, home) = Browser::signed_in(&app, login).await;
        assert!(!home.html.contains(r#"href="/staff""#));
        for path in ["/staff", "/apps", "/policy"] {
            let p = b.get(path).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{login} {path}");
            assert!(p.html.contains("is not for you: This needs one of the roles: admin."), "{}", p.html);
        }
    }
});

backend_test!(async fn the_verify_page_says_the_trail_checks_out(app) {
    app.session(&app.maria).actions(&["settings.view"]).start().await;
    let events = app.events().await.len();
    for login in ["audrey", "ada"] {
        let (mut b, _) = Browser::signed_in(&app, login).await;
        let p = b.get("/audit/verify").await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        assert!(p.html.contains("The audit trail checks out"), "{}", p.html);
        assert!(p.html.contains(&format!("{events} events and ")), "{}", p.html);
    }
    for login in ["maria", "lena"] {
        let (mut b, _) = Browser::signed_in(&app, login).await;
        assert_eq!(b.get("/audit/verify").await.status, StatusCode::FORBIDDEN);
    }
});

backend_test!(async fn live_boxes_refresh_from_a_fragment_that_holds_only_the_list(app) {
    app.request(&app.maria).actions(&["billing.update"]).send().await;
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    let q = sam.get("/queue").await;
    assert!(q.html.contains(r#"<div id="queue-list" data-live="/queue?fragment=1" data-version=""#), "{}", q.html);
    let csp = q.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let f = sam.get("/queue?fragment=1").await;
    assert_eq!(f.status, StatusCode::OK);
    assert!(f.html.contains("Maria Lopez, ticket 48192"), "{}", f.html);
    for whole in ["<html", "<nav", "<header", "<script", "<h1>"] {
        assert!(!f.html.contains(whole), "{whole} in {}", f.html);
    }
    let v = f.headers["x-fragment-version"].to_str().unwrap().to_string();
    assert!(q.html.contains(&format!(r#"data-version="{v}""#)), "the page and its fragment agree");
    app.request(&app.jon).actions(&["billing.update"]).send().await;
    let f = sam.get("/queue?fragment=1").await;
    assert_ne!(f.headers["x-fragment-version"].to_str().unwrap(), v, "a new request changes the version");
    assert!(f.html.contains("Jon Park, ticket 48192"));

    let (mut maria, home) = Browser::signed_in(&app, "maria").await;
    assert!(home.html.contains(r#"data-live="/?fragment=1""#));
    let f = maria.get("/?fragment=1").await;
    assert!(f.html.contains("My requests") && f.html.contains("Waiting for a lead's decision"), "{}", f.html);
    assert!(!f.html.contains("<html") && !f.html.contains("Ask for access from a ticket"));

    // Polling is not activity: the console session still idles out.
    app.clock.advance(mins(20));
    assert_eq!(maria.get("/?fragment=1").await.status, StatusCode::OK);
    app.clock.advance(mins(11));
    assert_eq!(maria.get("/?fragment=1").await.location(), "/login");
});

backend_test!(async fn the_session_page_state_refreshes_from_its_fragment(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    let p = maria.get(&format!("/sessions/{sid}")).await;
    assert!(p.html.contains(&format!(r#"data-live="/sessions/{sid}?fragment=1""#)), "{}", p.html);
    let f = maria.get(&format!("/sessions/{sid}?fragment=1")).await;
    assert!(f.html.contains(r#"<span class="status" id="state">Live: ends <time"#), "{}", f.html);
    app.end(&app.maria, &sid).await;
    let f = maria.get(&format!("/sessions/{sid}?fragment=1")).await;
    assert!(f.html.contains(r#"id="state">Ended <time datetime=""#), "{}", f.html);
    assert!(f.html.contains("the agent ended it"), "{}", f.html);
    assert!(!f.html.contains("<html"));
    let t = maria.get(&format!("/sessions/{sid}?fragment=timeline")).await;
    assert!(t.html.starts_with("<ol>") && t.html.contains("session on Acme Corp"), "{}", t.html);
});

backend_test!(async fn the_session_page_and_an_approved_request_say_their_times_relative_to_the_clock(app) {
    // Approved at 14:00, to be started within 10 minutes; three minutes
    // later the page says how long is left, the exact time in `datetime`.
    let r = app.request(&app.maria).actions(&["settings.view"]).send().await;
    app.clock.advance(mins(3));
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    let p = maria.get(&format!("/requests/{}", r.id)).await;
    let start_by = r#"Approved: start it; the approval runs out <time datetime="2026-11-25T14:10:00Z" title="2026-11-25 14:10:00 UTC">in 7 min · 14:10 UTC</time>"#;
    assert!(p.html.contains(start_by), "{}", p.html);
    assert!(maria.get("/?fragment=1").await.html.contains(start_by), "the home page says it the same way");

    // A session started at 14:03 for 15 minutes, idle after 10; at 14:08
    // its state line and timeline count from the clock.
    let (status, started) = app.start(&app.maria, &r.id).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let sid = started["session"]["id"].as_str().unwrap().to_string();
    app.clock.advance(mins(5));
    let f = maria.get(&format!("/sessions/{sid}?fragment=1")).await;
    let state = &f.html[f.html.find(r#"id="state">"#).expect(&f.html)..];
    let state = &state[..state.find("</span>").unwrap()];
    assert_eq!(
        state,
        r#"id="state">Live: ends <time datetime="2026-11-25T14:18:00Z" title="2026-11-25 14:18:00 UTC">in 10 min · 14:18 UTC</time>, or <time datetime="2026-11-25T14:13:00Z" title="2026-11-25 14:13:00 UTC">in 5 min · 14:13 UTC</time> without activity"#
    );
    let t = maria.get(&format!("/sessions/{sid}?fragment=timeline")).await;
    assert!(
        t.html.contains(r#"<span class="hint"><time datetime="2026-11-25T14:03:00Z" title="2026-11-25 14:03:00 UTC">5 min ago · 14:03 UTC</time></span> Maria Lopez started"#),
        "{}",
        t.html
    );
    assert!(!t.html.contains("2026-11-25 14:03 UTC<"), "no bare absolute time left: {}", t.html);

    // Ended: when, relative, and why.
    app.clock.advance(mins(2));
    app.end(&app.maria, &sid).await;
    app.clock.advance(mins(1));
    let f = maria.get(&format!("/sessions/{sid}?fragment=1")).await;
    assert!(
        f.html.contains(r#"id="state">Ended <time datetime="2026-11-25T14:10:00Z" title="2026-11-25 14:10:00 UTC">1 min ago · 14:10 UTC</time>: the agent ended it</span>"#),
        "{}",
        f.html
    );
});

backend_test!(async fn a_sessions_printable_story_is_for_whoever_may_read_the_session(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    app.end(&app.maria, &sid).await;
    let path = format!("/sessions/{sid}/story");
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    let p = maria.get(&format!("/sessions/{sid}")).await;
    assert_eq!(link(&p.html, "Print this session's story"), path, "the session page links to its story");
    // The agent of the session, a lead and an auditor read it, as they read the session page.
    for login in ["maria", "sam", "audrey"] {
        let (mut b, _) = Browser::signed_in(&app, login).await;
        assert_eq!(b.get(&format!("/sessions/{sid}")).await.status, StatusCode::OK, "{login}");
        let p = b.get(&path).await;
        assert_eq!(p.status, StatusCode::OK, "{login}: {}", p.html);
        assert!(p.html.contains(r#"id="story""#), "{login}: {}", p.html);
        assert!(p.html.contains("asked to act as Acme Corp (acct_42)"), "{login}: {}", p.html);
        assert!(p.html.contains("the agent ended it"), "{login}: {}", p.html);
        assert!(p.html.contains("@media print"), "the page has its print style");
        assert_eq!(p.headers["cache-control"], "no-store");
        assert!(p.headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    }
    // Another agent and an admin may not read the session, nor its story.
    for login in ["jon", "ada"] {
        let (mut b, _) = Browser::signed_in(&app, login).await;
        assert_eq!(b.get(&format!("/sessions/{sid}")).await.status, StatusCode::FORBIDDEN, "{login}");
        let p = b.get(&path).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{login}: {}", p.html);
        assert!(!p.html.contains("asked to act as"), "{login}: {}", p.html);
    }
    // Nobody signed in is sent to the sign-in page; an unknown session is not found.
    assert_eq!(Browser::new(&app).get(&path).await.location(), "/login");
    assert_eq!(maria.get("/sessions/ses_nosuchsession/story").await.status, StatusCode::NOT_FOUND);
});

backend_test!(async fn an_unknown_console_path_is_an_html_page_and_the_api_keeps_its_problem(app) {
    let mut b = Browser::new(&app);
    let p = b.get("/nope").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.headers["content-type"].to_str().unwrap().starts_with("text/html"), "{:?}", p.headers);
    assert!(p.html.contains("<title>Not found · actas</title>"), "{}", p.html);
    assert!(p.html.contains("There is no page at this address."));
    assert!(p.headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let p = b.get("/api/v1/nowhere").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(p.headers["content-type"], "application/problem+json");
    assert!(p.html.contains("urn:actas:problem:not-found"));
    assert_eq!(b.get("/.well-known/nothing").await.headers["content-type"], "application/problem+json");
});

backend_test!(async fn the_session_page_offers_entry_while_live_and_every_click_makes_a_new_code(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    // A reload of the page never loses the way in.
    for _ in 0..2 {
        let p = maria.get(&format!("/sessions/{sid}")).await;
        assert!(p.html.contains(r#"id="open-host""#), "{}", p.html);
        assert!(!p.html.contains("eyJ"), "no token on the page");
        // Its form may lead to the host app's entry address, and nowhere else.
        let csp = p.headers.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("form-action 'self' http://localhost:3000;"), "{csp}");
    }
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    let csp = sam.get(&format!("/sessions/{sid}")).await.headers["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("form-action 'self';"), "only the session's agent gets the wider policy: {csp}");
    let csrf = maria.get(&format!("/sessions/{sid}")).await.csrf();
    let one = maria.post(&format!("/sessions/{sid}/open"), &[("csrf", &csrf)]).await.location().to_string();
    let two = maria.post(&format!("/sessions/{sid}/open"), &[("csrf", &csrf)]).await.location().to_string();
    assert_ne!(one, two);
    let code = |url: &str| url.rsplit("code=").next().unwrap().to_string();
    let voided = app.client.enter(&code(&one)).await;
    assert!(matches!(&voided, Err(ClientError::Api(p)) if p.status == 422), "the older code was voided: {voided:?}");
    app.client.enter(&code(&two)).await.unwrap();
    // Another agent, a lead and a form without CSRF get no code.
    let (mut jon, _) = Browser::signed_in(&app, "jon").await;
    let jc = jon.get("/").await.csrf();
    assert_eq!(jon.post(&format!("/sessions/{sid}/open"), &[("csrf", &jc)]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(maria.post(&format!("/sessions/{sid}/open"), &[]).await.status, StatusCode::FORBIDDEN);
    // Ended: no entry offered, none given.
    app.end(&app.maria, &sid).await;
    let p = maria.get(&format!("/sessions/{sid}")).await;
    assert!(!p.html.contains(r#"id="open-host""#), "{}", p.html);
    assert_eq!(maria.post(&format!("/sessions/{sid}/open"), &[("csrf", &csrf)]).await.status, StatusCode::CONFLICT);
});

backend_test!(async fn starting_with_a_live_session_links_to_it_in_words(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let r = app.request(&app.maria).actions(&["plan.view"]).send().await;
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    let csrf = maria.get("/").await.csrf();
    let p = maria.post(&format!("/requests/{}/start", r.id), &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.html);
    assert!(
        p.html.contains("You have a live session on Acme Corp (acct_42) under ticket 48192; end it before starting another."),
        "{}",
        p.html
    );
    assert!(p.html.contains(&format!(r#"<a id="fix-link" href="/sessions/{sid}">Go to your live session</a>"#)), "{}", p.html);
});

/// A server whose console also signs in through an identity provider that
/// is down (nothing listens on port 9 of the loopback address).
async fn with_provider_down(password_sign_in: bool) -> TestApp {
    TestApp::configured(move |c| {
        c.oidc = Some(actas_server::console::oidc::OidcConfig::new("http://127.0.0.1:9", "actas-console"));
        c.password_sign_in = password_sign_in;
    })
    .await
}

#[tokio::test]
async fn with_password_sign_in_off_the_form_is_gone_and_a_posted_password_is_refused() {
    let app = with_provider_down(false).await;
    app.set_password("maria", PASSWORD).await;
    let mut b = Browser::new(&app);
    let page = b.get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(r#"href="/login/oidc""#), "{}", page.html);
    assert!(!page.html.contains(r#"type="password""#) && !page.html.contains(r#"action="/login""#), "{}", page.html);
    assert!(!b.jar.contains_key("actas_login"), "no form token is handed out");
    // The right password with a matching double-submit token, as the form
    // would have sent it.
    b.jar.insert("actas_login".into(), "t0ken".into());
    let p = b.post("/login", &[("csrf", "t0ken"), ("login", "maria"), ("password", PASSWORD)]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    assert!(p.html.contains("Password sign-in is turned off"), "{}", p.html);
    assert!(!b.jar.contains_key("actas_console"));
    assert_eq!(b.get("/").await.location(), "/login");
}

#[tokio::test]
async fn password_sign_in_off_without_a_provider_is_refused_at_start() {
    let config = actas_server::Config { password_sign_in: false, ..actas_server::Config::new("unused.db") };
    let e = actas_server::Server::build(config).await.err().expect("refused");
    assert!(e.to_string().contains("nobody could sign in"), "{e}");
}

#[tokio::test]
async fn the_provider_down_is_a_page_that_says_so_and_the_password_still_works() {
    let app = with_provider_down(true).await;
    let mut b = Browser::new(&app);
    let login = b.get("/login").await;
    assert!(login.html.contains("Sign in with your company account") && login.html.contains(r#"type="password""#));
    let p = b.get("/login/oidc").await;
    assert_eq!(p.status, StatusCode::SERVICE_UNAVAILABLE, "{}", p.html);
    assert!(p.html.contains("The identity provider cannot be reached"), "{}", p.html);
    assert!(!b.jar.contains_key("actas_oidc"));
    Browser::signed_in(&app, "maria").await;
}

#[tokio::test]
async fn a_callback_without_its_sign_in_or_with_a_forged_one_is_refused_and_signs_nobody_in() {
    let app = with_provider_down(true).await;
    let mut b = Browser::new(&app);
    let p = b.get("/login/oidc/callback?code=c&state=s").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.html);
    assert!(p.html.contains("not begun in this browser"), "{}", p.html);
    b.jar.insert("actas_oidc".into(), "Zm9yZ2Vk".into());
    let p = b.get("/login/oidc/callback?code=c&state=s").await;
    assert!(p.html.contains("not begun by this server"), "{}", p.html);
    assert!(!b.jar.contains_key("actas_oidc"), "the pending sign-in is used up whatever happens");
    let p = b.get("/login/oidc/callback?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    assert!(p.html.contains("did not sign you in (access_denied: &lt;b&gt;no&lt;/b&gt;)"), "{}", p.html);
    assert!(!b.jar.contains_key("actas_console"));
    assert_eq!(b.get("/").await.location(), "/login");
}

backend_test!(async fn a_provider_sign_in_adds_then_keeps_the_staff_row_in_step_with_the_provider(app) {
    use actas_core::model::Role;
    use service::{ProviderIdentity, ProviderSignIn};
    let who = |login: &str, name: &str, roles: Vec<Role>| ProviderIdentity {
        login: login.into(),
        name: name.into(),
        email: None,
        roles,
    };
    let profile = || async {
        let read = actas_store::read_fn(|tx| Box::pin(async move { tx.get_staff_profile("nina").await }));
        app.ctx.store.read(read).await.unwrap().expect("a staff row").1
    };
    let row = || async {
        let read = actas_store::read_fn(|tx| Box::pin(async move { tx.get_staff("nina").await }));
        app.ctx.store.read(read).await.unwrap().expect("a staff row")
    };
    // No role: refused before anything is written.
    let e = service::sync_staff_from_provider(&app.ctx, who("nina", "Nina", vec![])).await.unwrap_err();
    assert!(e.to_string().contains("no actas role"), "{e}");
    // A login actas cannot take: refused, nothing written.
    assert!(service::sync_staff_from_provider(&app.ctx, who("Nina Q", "Nina", vec![Role::Agent])).await.is_err());
    assert!(app.events_of_type("staff.created").await.iter().all(|e| e["data"]["login"] != "nina"));

    // First sign-in: added by themselves, with no password.
    let ProviderSignIn::Staff(s) =
        service::sync_staff_from_provider(&app.ctx, who("nina", "Nina Park", vec![Role::Agent])).await.unwrap()
    else {
        panic!("signed in")
    };
    assert_eq!((s.id.as_str(), s.roles.as_slice()), ("nina", [Role::Agent].as_slice()));
    let created: Vec<_> =
        app.events_of_type("staff.created").await.into_iter().filter(|e| e["data"]["login"] == "nina").collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"]["id"], "nina");
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("nina", PASSWORD).await.status, StatusCode::UNAUTHORIZED, "no password was set");

    // The same again: nothing changes, nothing is written.
    service::sync_staff_from_provider(&app.ctx, who("nina", "Nina Park", vec![Role::Agent])).await.unwrap();
    assert!(app.events_of_type("staff.updated").await.is_empty());

    // New roles and a new name from the provider: one staff.updated.
    service::sync_staff_from_provider(&app.ctx, who("nina", "Nina Park-Lee", vec![Role::Agent, Role::Lead]))
        .await
        .unwrap();
    let updated = app.events_of_type("staff.updated").await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0]["data"]["changed"], json!(["name", "roles"]));
    assert_eq!(updated[0]["data"]["roles"], json!(["agent", "lead"]));
    let nina = row().await;
    assert_eq!((nina.name.as_str(), nina.roles.len()), ("Nina Park-Lee", 2));

    // The e-mail address the provider gives is kept (the inbox matches
    // ticket assignees by it), without an event.
    let with_email = ProviderIdentity {
        email: Some("nina.park@support.example".into()),
        ..who("nina", "Nina Park-Lee", vec![Role::Agent, Role::Lead])
    };
    service::sync_staff_from_provider(&app.ctx, with_email).await.unwrap();
    assert_eq!(profile().await.email.as_deref(), Some("nina.park@support.example"));
    assert_eq!(app.events_of_type("staff.updated").await.len(), 1);

    // Renamed at the provider (through SCIM): found by the new name, and
    // the old one, still her login, no longer signs anyone in.
    let renamed = actas_store::StaffProfile { username: Some("nina.lee".into()), ..profile().await };
    let write = actas_store::write_fn(move |tx| Box::pin(async move { tx.set_staff_profile("nina", &renamed).await }));
    app.ctx.store.write(write).await.unwrap();
    let answer = service::sync_staff_from_provider(&app.ctx, who("nina.lee", "Nina Park-Lee", vec![Role::Agent, Role::Lead]))
        .await
        .unwrap();
    assert!(matches!(answer, ProviderSignIn::Staff(s) if s.id == "nina"));
    let e = service::sync_staff_from_provider(&app.ctx, who("nina", "Someone Else", vec![Role::Agent])).await.unwrap_err();
    assert!(e.to_string().contains("now knows by another name"), "{e}");
    assert_eq!(row().await.name, "Nina Park-Lee", "nothing changed");
    assert_eq!(app.events_of_type("staff.updated").await.len(), 1);

    // Disabled in actas: nothing changes, whatever the provider says.
    service::disable_staff(&app.ctx, Actor::system(), "nina").await.unwrap();
    let answer = service::sync_staff_from_provider(&app.ctx, who("nina.lee", "Nina", vec![Role::Admin])).await.unwrap();
    assert!(matches!(answer, ProviderSignIn::Disabled(_)));
    assert_eq!(app.events_of_type("staff.updated").await.len(), 1);
});
