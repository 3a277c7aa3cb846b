//! The staff console in a browser's place: cookies kept by hand, redirects
//! not followed, forms posted as a browser posts them.

use std::collections::HashMap;

use actas_core::audit::Actor;
use actas_core::model::Role;
use actas_server::service;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";

/// One browser: its own cookie jar.
struct Browser {
    http: reqwest::Client,
    base: String,
    jar: HashMap<String, String>,
    /// The `Set-Cookie` lines of the last answer.
    set_cookies: Vec<String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).map(|v| v.to_str().unwrap()).unwrap_or("")
    }

    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let start = self.html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
        self.html[start..].split('"').next().unwrap().to_string()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        Browser { http, base: app.base.clone(), jar: HashMap::new(), set_cookies: Vec::new() }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = if cookies.is_empty() { req } else { req.header("cookie", cookies.join("; ")) };
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

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(fields);
        self.send(req).await
    }

    async fn sign_in(&mut self, login: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.html);
        let csrf = form.csrf();
        self.post("/login", &[("csrf", &csrf), ("login", login), ("password", password)]).await
    }

    /// Signs in and answers the home page.
    async fn signed_in(app: &TestApp, login: &str) -> (Browser, Page) {
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
});

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

backend_test!(async fn five_wrong_passwords_pause_that_login_but_not_another(app) {
    app.set_password("maria", PASSWORD).await;
    app.set_password("jon", PASSWORD).await;
    let mut b = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(b.sign_in("maria", "not the password").await.status, StatusCode::UNAUTHORIZED);
    }
    let p = b.sign_in("maria", PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert!(p.html.contains("Too many failed sign-ins"), "{}", p.html);
    assert!(!b.jar.contains_key("actas_console"));
    let p = b.sign_in("jon", PASSWORD).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/"), "{}", p.html);
});

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
    assert!(p.html.contains("needs the agent role"), "{}", p.html);
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

backend_test!(async fn the_request_form_lists_what_will_and_will_not_be_allowed(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    let p = b.get("/launch?ticket=48192").await;
    assert!(p.html.contains("Acme Corp (acct_42)"), "{}", p.html);
    assert!(p.html.contains("Tax settings broken after plan change"));
    assert!(p.html.contains("You will be able to…") && p.html.contains("You will not be able to…"));
    assert!(p.html.contains(r#"<label for="reason">Reason</label>"#));
    assert!(p.html.contains(r#"<label for="minutes">For how long</label>"#));
    assert!(p.html.contains("View account settings <span class=\"hint\">(no approval needed)</span>"), "{}", p.html);
    assert!(p.html.contains("Update account settings <span class=\"hint\">(needs approval by a lead)</span>"));
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
    assert!(req.html.contains("Approved: start it before 2026-11-25 14:10 UTC"), "{}", req.html);
    assert!(req.html.contains("<li>View account settings</li>"));
    assert!(req.html.contains("Decided by Policy"));

    // Another agent cannot see it.
    let (mut jon, _) = Browser::signed_in(&app, "jon").await;
    assert_eq!(jon.get(&req_path).await.status, StatusCode::FORBIDDEN);

    let started = b.post(&format!("{req_path}/start"), &[("csrf", &csrf)]).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.html);
    let at = started.html.find("http://localhost:3000/support/enter?token=").expect("a link into the host app");
    let token = started.html[at..].split('"').next().unwrap().rsplit('=').next().unwrap().to_string();
    assert!(started.html.contains(">Open in the host app</a>"));
    assert!(started.html.contains("asked to act as Acme Corp (acct_42)"), "the timeline: {}", started.html);
    let (_, v) = app.authorize(&token, "settings.view", json!({})).await;
    assert_eq!(v["allowed"], true, "{v}");

    let home = b.get("/").await;
    assert!(home.html.contains("Acting as <strong>Acme Corp (acct_42)</strong>"), "{}", home.html);
    let sid = claims(&token)["sid"].as_str().unwrap().to_string();
    let p = b.post(&format!("/sessions/{sid}/end"), &[("csrf", &csrf)]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("/sessions/{sid}").as_str()));
    let page = b.get(&format!("/sessions/{sid}")).await;
    assert!(page.html.contains("Ended (ended) at 2026-11-25 14:00 UTC"), "{}", page.html);
    assert!(!page.html.contains("End the session"));
    let (_, s) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(s["end_reason"], "ended");
    let (_, v) = app.authorize(&token, "settings.view", json!({})).await;
    assert_eq!(v["reason"], "session_ended");
    assert!(b.get("/").await.html.contains("You have no live session."));
});

backend_test!(async fn a_lead_narrows_shortens_and_denies_from_the_queue(app) {
    let r = app.request(&app.maria, &["settings.view", "settings.update"], Some(20)).await;
    let id = r["id"].as_str().unwrap().to_string();
    let (mut sam, _) = Browser::signed_in(&app, "sam").await;
    let q = sam.get("/queue").await;
    assert_eq!(q.status, StatusCode::OK);
    assert!(q.html.contains("Maria Lopez, ticket 48192"), "{}", q.html);
    assert!(q.html.contains(r#"name="actions" value="settings.update" checked"#), "pre-ticked with what was asked");
    assert!(!q.html.contains(r#"<option value="25""#), "minutes only up to what was asked");
    let csrf = q.csrf();
    let p = sam.post(&format!("/requests/{id}/approve"), &[("csrf", &csrf), ("actions", "settings.view"), ("actions", "invoices.view"), ("minutes", "10"), ("note", "views only")]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/queue"), "{}", p.html);
    let (_, got) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(got["status"], "approved");
    assert_eq!(got["granted_minutes"], 10);
    let granted: Vec<&str> = got["granted_actions"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(granted, vec!["settings.view", "invoices.view"]);
    assert_eq!(got["decisions"][0]["removed"], json!(["settings.update"]));

    // Deny needs a note: the sentence is shown at the request, nothing changes.
    let r = app.request(&app.jon, &["billing.update"], None).await;
    let id = r["id"].as_str().unwrap().to_string();
    let p = sam.post(&format!("/requests/{id}/deny"), &[("csrf", &csrf), ("note", "  ")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains(&format!(r#"id="e-{id}">A denial needs a note that says why."#)), "{}", p.html);
    let (_, got) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(got["status"], "pending");
    let p = sam.post(&format!("/requests/{id}/deny"), &[("csrf", &csrf), ("note", "Billing changes go through finance")]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let (_, got) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(got["status"], "denied");
    assert!(sam.get("/queue").await.html.contains("No request waits for a decision."));

    // Sam's own request is shown without buttons.
    let own = app.request(&app.sam, &["billing.update"], None).await;
    let q = sam.get("/queue").await;
    assert!(q.html.contains("You asked for this; another lead decides it."));
    assert!(!q.html.contains(&format!("/requests/{}/approve", own["id"].as_str().unwrap())));
});

backend_test!(async fn names_and_ticket_text_from_people_are_escaped(app) {
    service::add_staff(&app.ctx, Actor::system(), "mallory", "<script>alert('name')</script>", vec![Role::Agent], Some(PASSWORD.into()))
        .await
        .unwrap();
    let (_, _) = app
        .post(
            "/api/v1/tickets",
            &app.app,
            json!({"ref": "666", "account_id": "acct_<b>", "account_name": "<img src=x onerror=alert(1)>", "subject": "<script>alert('subject')</script>"}),
        )
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
