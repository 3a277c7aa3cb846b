//! The admin pages of the console: adding staff, changing their roles,
//! disabling and enabling them, registering apps (with a connector), each
//! through the service the command line uses and audited the same way;
//! refused for anyone but an admin, and without this session's CSRF token.

use reqwest::StatusCode;

use crate::console::{Browser, Page};
use actas_server::testing::*;

const NEW_PASSWORD: &str = "a long enough console password";
const SECRET: &str = "zendesk-signing-secret-0123456789";

/// A refused form: its fields, the id of the error shown, words of it.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

/// The text of the element with id `id` (`<code id="token">...</code>`).
fn shown(html: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}""#);
    let at = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in {html}")) + marker.len();
    let start = at + html[at..].find('>').unwrap() + 1;
    html[start..].split('<').next().unwrap().to_string()
}

async fn admin(app: &TestApp) -> (Browser, String) {
    let (mut b, _) = Browser::signed_in(app, "ada").await;
    let p = b.get("/staff").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let csrf = p.csrf();
    (b, csrf)
}

fn with<'a>(csrf: &'a str, fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![("csrf", csrf)];
    v.extend_from_slice(fields);
    v
}

fn about<'a>(events: &'a [serde_json::Value], field: &str, value: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["data"][field] == value).collect()
}

backend_test!(async fn an_admin_adds_staff_and_sees_their_token_once(app) {
    let (mut b, csrf) = admin(&app).await;
    let form = [("login", "nora"), ("name", "Nora Diaz"), ("roles", "auditor"), ("roles", "agent"), ("password", NEW_PASSWORD)];
    let p = b.post("/staff", &with(&csrf, &form)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("shown only this once"), "{}", p.html);
    assert_eq!(p.headers["cache-control"], "no-store");
    let token = shown(&p.html, "token");

    let created = app.events_of_type("staff.created").await;
    let created = about(&created, "login", "nora");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"]["id"], "ada");
    assert_eq!(created[0]["data"]["roles"], serde_json::json!(["agent", "auditor"]));

    // The token is a bearer of Nora's; the password signs her in.
    let (s, body) = app.get("/api/v1/audit?type=staff.created", &token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let mut nora = Browser::new(&app);
    assert_eq!(nora.sign_in("nora", NEW_PASSWORD).await.status, StatusCode::SEE_OTHER);

    // Never shown again.
    for path in ["/staff", "/staff/nora"] {
        let again = b.get(path).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(!again.html.contains(&token), "{path} shows the token again");
        assert!(again.html.contains("Nora Diaz"));
    }
});

backend_test!(async fn a_refused_new_staff_member_is_shown_at_the_field_with_the_input_kept(app) {
    let (mut b, csrf) = admin(&app).await;
    let before = app.events().await.len();
    let cases: [Case; 5] = [
        (&[("login", "maria"), ("name", "Other Maria"), ("roles", "agent")], "login-error", "exists already"),
        (&[("login", "nora"), ("name", "Nora Diaz"), ("roles", "agent"), ("password", "short")], "password-error", "at least 12 characters"),
        (&[("login", "Nora Diaz"), ("name", "Nora Diaz"), ("roles", "agent")], "login-error", "A login is"),
        (&[("login", "nora"), ("name", "Nora Diaz")], "new-roles-error", "at least one role"),
        (&[("login", "nora"), ("name", ""), ("roles", "agent")], "name-error", "A name is"),
    ];
    for (fields, error_id, words) in cases {
        let p = b.post("/staff", &with(&csrf, fields)).await;
        assert!(p.status.is_client_error(), "{}: {}", p.status, p.html);
        let error = shown(&p.html, error_id);
        assert!(error.contains(words), "{error_id}: {error}");
        let name = fields.iter().find(|(k, _)| *k == "name").unwrap().1;
        assert!(p.html.contains(&format!(r#"value="{name}""#)), "the name is kept: {}", p.html);
        assert!(!p.html.contains("id=\"token\""));
    }
    assert_eq!(app.events().await.len(), before, "nothing was written");
    let p = b.get("/staff/nora").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
});

backend_test!(async fn an_admin_changes_roles_but_not_the_last_admins(app) {
    let (mut b, csrf) = admin(&app).await;
    let p = b.post("/staff/maria/roles", &with(&csrf, &[("roles", "agent"), ("roles", "lead")])).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/staff/maria?done=roles"), "{}", p.html);
    let updated = app.events_of_type("staff.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["actor"]["id"], "ada");
    assert_eq!(updated[0]["data"]["login"], "maria");
    assert_eq!(updated[0]["data"]["roles"], serde_json::json!(["agent", "lead"]));
    assert!(b.get("/staff/maria?done=roles").await.html.contains("now has the roles agent, lead"));
    // Maria may now decide requests.
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    assert_eq!(maria.get("/queue").await.status, StatusCode::OK);

    // No role, or the last admin without admin: refused, nothing written.
    let p = b.post("/staff/maria/roles", &with(&csrf, &[])).await;
    assert!(p.status.is_client_error());
    assert!(shown(&p.html, "roles-error").contains("at least one role"));
    let p = b.post("/staff/ada/roles", &with(&csrf, &[("roles", "agent")])).await;
    assert!(p.status.is_client_error(), "{}", p.html);
    assert!(shown(&p.html, "roles-error").contains("the last admin"), "{}", p.html);
    assert!(p.html.contains(r#"value="agent" checked"#), "the choice is kept");
    assert_eq!(app.events_of_type("staff.updated").await.len(), 1);
    assert_eq!(b.get("/staff").await.status, StatusCode::OK, "Ada is still an admin");
});

backend_test!(async fn disabling_ends_the_live_session_and_enabling_lets_them_back(app) {
    let live = app.session(&app.maria).actions(&["settings.view"]).start().await;
    let (mut b, csrf) = admin(&app).await;
    let page = b.get("/staff/maria").await;
    assert!(page.html.contains("ends their live impersonation session"), "{}", page.html);
    let p = b.post("/staff/maria/disable", &with(&csrf, &[])).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/staff/maria?done=disabled"), "{}", p.html);
    let disabled = app.events_of_type("staff.disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["actor"]["id"], "ada");
    assert_eq!(disabled[0]["data"]["sessions_ended"], serde_json::json!([live.id]));
    let (s, _) = app.get("/api/v1/requests", &app.maria).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Twice: a sentence, nothing more written.
    let p = b.post("/staff/maria/disable", &with(&csrf, &[])).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.html);
    assert_eq!(app.events_of_type("staff.disabled").await.len(), 1);
    // Ada may not disable herself.
    let p = b.post("/staff/ada/disable", &with(&csrf, &[])).await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert!(p.html.contains("cannot disable yourself"));

    let p = b.post("/staff/maria/enable", &with(&csrf, &[])).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/staff/maria?done=enabled"), "{}", p.html);
    let enabled = app.events_of_type("staff.enabled").await;
    assert_eq!((enabled.len(), &enabled[0]["actor"]["id"]), (1, &serde_json::json!("ada")));
    let (s, _) = app.get("/api/v1/requests", &app.maria).await;
    assert_eq!(s, StatusCode::OK);
});

backend_test!(async fn an_admin_registers_an_app_with_a_connector_and_sees_its_key_once(app) {
    let (mut b, _) = admin(&app).await;
    let csrf = b.get("/apps").await.csrf();
    let form = [
        ("name", "Acme Support Desk"),
        ("tickets", "on"),
        ("origins", "https://desk.acme.example\r\n\r\nhttps://admin.acme.example:8443\r\n"),
        ("entry_url", "https://desk.acme.example/support/enter"),
        ("connector", "zendesk"),
        ("secret", SECRET),
    ];
    let p = b.post("/apps", &with(&csrf, &form)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("shown only this once"));
    assert!(!p.html.contains(SECRET), "the secret is never shown");
    let key = shown(&p.html, "key");
    let created = app.events_of_type("app.created").await;
    let created = about(&created, "name", "Acme Support Desk");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"]["id"], "ada");
    assert_eq!(created[0]["data"]["connector"], "zendesk");
    assert_eq!(created[0]["data"]["tickets"], true);
    assert_eq!(
        created[0]["data"]["origins"],
        serde_json::json!(["https://desk.acme.example", "https://admin.acme.example:8443"])
    );
    let id = created[0]["data"]["app"].as_str().unwrap().to_string();
    assert!(p.html.contains(&format!("/api/v1/connectors/zendesk/{id}")));
    // The key is the app's bearer.
    let (s, body) = app.get("/api/v1/notices", &key).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let again = b.get("/apps").await;
    assert!(again.html.contains("Acme Support Desk") && !again.html.contains(&key));
});

backend_test!(async fn a_refused_app_is_shown_at_the_field_and_nothing_is_registered(app) {
    let (mut b, _) = admin(&app).await;
    let csrf = b.get("/apps").await.csrf();
    let before = app.events().await.len();
    let cases: [Case; 5] = [
        (&[("name", "Desk"), ("origins", "https://desk.example/path")], "origins-error", "is not a web origin"),
        (&[("name", "Desk"), ("entry_url", "ftp://desk.example")], "entry_url-error", "is not an address"),
        (&[("name", "Acme Billing")], "name-error", "exists already"),
        (&[("name", "Desk"), ("connector", "jira"), ("secret", SECRET)], "connector-error", "tickets permission"),
        (&[("name", "Desk"), ("tickets", "on"), ("connector", "jira"), ("secret", "short")], "secret-error", "16 to 512"),
    ];
    for (fields, error_id, words) in cases {
        let p = b.post("/apps", &with(&csrf, fields)).await;
        assert!(p.status.is_client_error(), "{}: {}", p.status, p.html);
        assert!(shown(&p.html, error_id).contains(words), "{error_id}: {}", p.html);
        let name = fields[0].1;
        assert!(p.html.contains(&format!(r#"value="{name}""#)), "the name is kept");
        assert!(!p.html.contains(SECRET), "the secret is not sent back");
        assert!(!p.html.contains(r#"id="key""#));
    }
    let p = b.post("/apps", &with(&csrf, &[("name", "Desk"), ("origins", "https://ok.example\nnot an origin")])).await;
    assert!(p.html.contains("https://ok.example\nnot an origin</textarea>"), "the origins are kept: {}", p.html);
    assert_eq!(app.events().await.len(), before, "nothing was written");
});

#[tokio::test]
async fn without_a_key_encryption_key_a_connector_is_refused_in_a_sentence() {
    let app = TestApp::configured(|c| c.keys = actas_server::KeyAccess::Plaintext).await;
    let (mut b, _) = admin(&app).await;
    let p = b.get("/apps").await;
    assert!(p.html.contains("This server has no key-encryption key"), "{}", p.html);
    let before = app.events().await.len();
    let form = [("name", "Desk"), ("tickets", "on"), ("connector", "zendesk"), ("secret", SECRET)];
    let p = b.post("/apps", &with(&p.csrf(), &form)).await;
    assert!(p.status.is_client_error(), "{}", p.html);
    assert!(shown(&p.html, "connector-error").contains("no key-encryption key"), "{}", p.html);
    assert_eq!(app.events().await.len(), before, "nothing was registered");
}

/// Every admin form, as (path, fields): the console's side of the
/// endpoint × caller table (only an admin, with this session's CSRF token).
fn admin_forms(app: &TestApp) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    vec![
        ("/staff".into(), vec![("login", "nora"), ("name", "Nora Diaz"), ("roles", "admin")]),
        ("/staff/maria/roles".into(), vec![("roles", "admin")]),
        ("/staff/maria/disable".into(), vec![]),
        ("/staff/ada/disable".into(), vec![]),
        ("/staff/audrey/enable".into(), vec![]),
        ("/staff/maria/password".into(), vec![("password", NEW_PASSWORD)]),
        ("/apps".into(), vec![("name", "Desk"), ("tickets", "on"), ("scim", "on")]),
        (format!("/apps/{}/connector", app.app_id), vec![("connector", "zendesk"), ("secret", SECRET)]),
    ]
}

async fn refused_all(app: &TestApp, b: &mut Browser, csrf: Option<&str>) -> Vec<Page> {
    let mut pages = Vec::new();
    for (path, fields) in admin_forms(app) {
        let mut f: Vec<(&str, &str)> = csrf.map(|c| vec![("csrf", c)]).unwrap_or_default();
        f.extend(fields);
        pages.push(b.post(&path, &f).await);
    }
    pages
}

/// What the forms of [`admin_forms`] would change beyond the trail: the
/// password hash of Maria, and the connector of Acme Billing.
async fn untouched_state(app: &TestApp) -> (Option<String>, Option<actas_store::ConnectorRecord>) {
    let id = app.app_id.clone();
    app.ctx
        .store
        .read(actas_store::read_fn(move |tx| {
            Box::pin(async move { Ok((tx.get_staff_password("maria").await?, tx.get_connector(&id).await?)) })
        }))
        .await
        .unwrap()
}

backend_test!(async fn only_admins_may_post_the_forms(app) {
    let before = app.events().await.len();
    let state = untouched_state(&app).await;
    for login in ["maria", "lena", "audrey", "sam"] {
        let (mut b, home) = Browser::signed_in(&app, login).await;
        let csrf = home.csrf();
        for p in refused_all(&app, &mut b, Some(&csrf)).await {
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{login}: {}", p.html);
            assert!(p.html.contains("is not for you"), "{}", p.html);
        }
        for path in ["/staff".to_string(), "/staff/maria".into(), "/apps".into(), format!("/apps/{}", app.app_id)] {
            assert_eq!(b.get(&path).await.status, StatusCode::FORBIDDEN, "{login} {path}");
        }
    }
    assert_eq!(app.events().await.len(), before, "nothing was written");
    // Signing in set Maria's password above; the forms did not.
    assert_eq!(untouched_state(&app).await.1, state.1, "no connector was added");
    let mut maria = Browser::new(&app);
    assert_eq!(maria.sign_in("maria", NEW_PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(maria.sign_in("maria", crate::console::PASSWORD).await.status, StatusCode::SEE_OTHER);
});

backend_test!(async fn an_admin_form_without_the_csrf_token_is_refused(app) {
    let (mut b, _) = admin(&app).await;
    app.set_password("maria", crate::console::PASSWORD).await;
    let before = app.events().await.len();
    let state = untouched_state(&app).await;
    for csrf in [None, Some("forged")] {
        for p in refused_all(&app, &mut b, csrf).await {
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
            assert!(p.html.contains("did not come from the console"), "{}", p.html);
        }
    }
    assert_eq!(app.events().await.len(), before, "nothing was written");
    assert_eq!(untouched_state(&app).await, state, "neither the password nor the connector changed");
});

backend_test!(async fn an_admin_sets_a_password_that_signs_them_in_and_is_never_shown(app) {
    app.set_password("maria", crate::console::PASSWORD).await;
    let (mut b, _) = admin(&app).await;
    let p = b.get("/staff/maria").await;
    assert!(p.html.contains(r#"action="/staff/maria/password""#), "{}", p.html);
    assert!(p.html.contains(r#"type="password" id="password" name="password" value="" required autocomplete="new-password""#), "{}", p.html);
    let csrf = p.csrf();
    let p = b.post("/staff/maria/password", &with(&csrf, &[("password", NEW_PASSWORD)])).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/staff/maria?done=password"), "{}", p.html);
    let p = b.get("/staff/maria?done=password").await;
    assert!(p.html.contains("A new console password is set for Maria Lopez"), "{}", p.html);
    assert!(!p.html.contains(NEW_PASSWORD), "the password is never shown");

    // The command line's event: staff.updated naming the password, never its value.
    let updated = app.events_of_type("staff.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["actor"]["id"], "ada");
    assert_eq!(updated[0]["data"]["login"], "maria");
    assert_eq!(updated[0]["data"]["changed"], serde_json::json!(["password"]));
    assert_eq!(updated[0]["text"], "Ada Quinn set a new console password for staff member Maria Lopez (maria).");
    assert!(!app.events().await.iter().any(|e| e.to_string().contains(NEW_PASSWORD)), "the trail has no password");
    // Stored as an argon2id hash; the new password signs her in, the old one no more.
    let (hash, _) = untouched_state(&app).await;
    let hash = hash.expect("a password hash");
    assert!(hash.starts_with("$argon2id$") && !hash.contains(NEW_PASSWORD), "{hash}");
    let mut maria = Browser::new(&app);
    assert_eq!(maria.sign_in("maria", crate::console::PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let mut maria = Browser::new(&app);
    assert_eq!(maria.sign_in("maria", NEW_PASSWORD).await.status, StatusCode::SEE_OTHER);
});

backend_test!(async fn a_refused_password_changes_nothing_and_is_not_sent_back(app) {
    app.set_password("maria", crate::console::PASSWORD).await;
    let (mut b, _) = admin(&app).await;
    let csrf = b.get("/staff/maria").await.csrf();
    let before = app.events().await.len();
    let state = untouched_state(&app).await;
    for weak in ["", "short-pw-11"] {
        let p = b.post("/staff/maria/password", &with(&csrf, &[("password", weak)])).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
        assert!(shown(&p.html, "password-error").contains("at least 12 characters"), "{}", p.html);
        assert!(p.html.contains(r#"id="password" name="password" value="""#), "the input is empty again");
        assert!(weak.is_empty() || !p.html.contains(weak), "the refused password is not sent back");
        assert!(p.html.contains(r##"href="#password""##), "the summary leads to the field: {}", p.html);
    }
    let p = b.post("/staff/nobody/password", &with(&csrf, &[("password", NEW_PASSWORD)])).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND, "{}", p.html);
    assert_eq!(app.events().await.len(), before, "nothing was written");
    assert_eq!(untouched_state(&app).await, state, "the hash stayed");
    let mut maria = Browser::new(&app);
    assert_eq!(maria.sign_in("maria", crate::console::PASSWORD).await.status, StatusCode::SEE_OTHER);
});

/// The connector row of app `id`.
async fn connector_of(app: &TestApp, id: &str) -> Option<actas_store::ConnectorRecord> {
    let id = id.to_string();
    app.ctx
        .store
        .read(actas_store::read_fn(move |tx| Box::pin(async move { tx.get_connector(&id).await })))
        .await
        .unwrap()
}

backend_test!(async fn an_admin_adds_a_connector_to_an_existing_app_then_replaces_its_secret(app) {
    use actas_server::testing::webhooks::{deliver, zendesk_event, zendesk_signed};
    const NEW_SECRET: &str = "zendesk-signing-secret-rotated-9876";
    let (mut b, _) = admin(&app).await;
    let path = format!("/apps/{}", app.app_id);
    assert!(b.get("/apps").await.html.contains(&format!(r#"href="{path}""#)), "the list leads to the app's page");
    let p = b.get(&path).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Add the connector") && !p.html.contains(r#"id="no-kek""#), "{}", p.html);
    let csrf = p.csrf();
    let p = b.post(&format!("{path}/connector"), &with(&csrf, &[("connector", "zendesk"), ("secret", SECRET)])).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("{path}?done=connector").as_str()), "{}", p.html);
    let updated = app.events_of_type("app.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["actor"]["id"], "ada");
    assert_eq!(updated[0]["data"]["app"], app.app_id.as_str());
    assert_eq!(updated[0]["data"]["changed"], serde_json::json!(["connector"]));
    assert_eq!(updated[0]["data"]["connector"], "zendesk");
    let p = b.get(&format!("{path}?done=connector")).await;
    assert!(p.html.contains("Acme Billing now takes tickets from Zendesk"), "{}", p.html);
    assert!(p.html.contains(&format!("/api/v1/connectors/zendesk/{}", app.app_id)), "{}", p.html);
    assert!(p.html.contains("Replace the secret") && !p.html.contains(SECRET), "{}", p.html);
    // Sealed under the key-encryption key, as the command line seals it.
    let first = connector_of(&app, &app.app_id).await.expect("a connector");
    assert!(first.secret.starts_with("v1:") && !first.secret.contains(SECRET), "{}", first.secret);
    let d = zendesk_signed(SECRET, app.clock.now(), "inv-a1", &zendesk_event("80001", "OPEN"));
    assert!(deliver(&app.base, "zendesk", &app.app_id, &d).await.0.is_success(), "a delivery signed with it is taken");

    // Its secret replaced: the old one is refused, the new one taken.
    let p = b.post(&format!("{path}/connector"), &with(&csrf, &[("connector", "zendesk"), ("secret", NEW_SECRET)])).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("{path}?done=secret").as_str()), "{}", p.html);
    let updated = app.events_of_type("app.updated").await;
    assert_eq!(updated.len(), 2);
    assert_eq!(updated[1]["data"]["changed"], serde_json::json!(["connector_secret"]));
    assert!(!app.events().await.iter().any(|e| e.to_string().contains(SECRET) || e.to_string().contains(NEW_SECRET)));
    let now = connector_of(&app, &app.app_id).await.expect("a connector");
    assert_ne!(now.secret, first.secret);
    assert_eq!((now.kind, &now.mapping, now.created_at), (first.kind, &first.mapping, first.created_at));
    let d = zendesk_signed(SECRET, app.clock.now(), "inv-a2", &zendesk_event("80001", "PENDING"));
    assert_eq!(deliver(&app.base, "zendesk", &app.app_id, &d).await.0, StatusCode::UNAUTHORIZED);
    let d = zendesk_signed(NEW_SECRET, app.clock.now(), "inv-a3", &zendesk_event("80001", "PENDING"));
    assert!(deliver(&app.base, "zendesk", &app.app_id, &d).await.0.is_success());
    assert!(b.get(&format!("{path}?done=secret")).await.html.contains("has its new secret"));
});

backend_test!(async fn a_refused_connector_is_shown_at_the_field_and_changes_nothing(app) {
    let shop = app.host_app("Acme Shop").add().await.id;
    let desk = app.host_app("Acme Desk").tickets().connector(actas_core::connector::Connector::Zendesk, SECRET).add().await.id;
    let (mut b, _) = admin(&app).await;
    let csrf = b.get("/apps").await.csrf();
    let before = app.events().await.len();
    let desk_before = connector_of(&app, &desk).await;
    let cases: [(&str, Case); 5] = [
        (&app.app_id, (&[("connector", "servicenow"), ("secret", SECRET)], "connector-error", "Pick Zendesk or Jira")),
        (&app.app_id, (&[("connector", "jira"), ("secret", "too short")], "secret-error", "16 to 512")),
        (&app.app_id, (&[("connector", "jira")], "secret-error", "16 to 512")),
        (&shop, (&[("connector", "jira"), ("secret", SECRET)], "connector-error", "may not push tickets")),
        (&desk, (&[("connector", "jira"), ("secret", "jira-secret-that-is-long-enough")], "connector-error", "takes tickets from Zendesk already")),
    ];
    for (id, (fields, error_id, words)) in cases {
        let p = b.post(&format!("/apps/{id}/connector"), &with(&csrf, fields)).await;
        assert!(p.status.is_client_error(), "{}: {}", p.status, p.html);
        assert!(shown(&p.html, error_id).contains(words), "{error_id}: {}", p.html);
        assert!(p.html.contains("Nothing was changed."), "{}", p.html);
        assert!(!p.html.contains(SECRET) && !p.html.contains("jira-secret-that"), "the secret is not sent back");
    }
    let p = b.post("/apps/app_nope/connector", &with(&csrf, &[("connector", "jira"), ("secret", SECRET)])).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND, "{}", p.html);
    assert_eq!(b.get("/apps/app_nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.events().await.len(), before, "nothing was written");
    assert_eq!(connector_of(&app, &app.app_id).await, None);
    assert_eq!(connector_of(&app, &shop).await, None);
    assert_eq!(connector_of(&app, &desk).await, desk_before);
});

#[tokio::test]
async fn without_a_key_encryption_key_an_existing_app_gets_no_connector_and_says_why() {
    let app = TestApp::configured(|c| c.keys = actas_server::KeyAccess::Plaintext).await;
    let (mut b, _) = admin(&app).await;
    let path = format!("/apps/{}", app.app_id);
    let p = b.get(&path).await;
    assert!(shown(&p.html, "no-kek").contains("no key-encryption key"), "{}", p.html);
    let before = app.events().await.len();
    let p =
        b.post(&format!("{path}/connector"), &with(&p.csrf(), &[("connector", "zendesk"), ("secret", SECRET)])).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    let error = shown(&p.html, "secret-error");
    assert!(error.contains("no key-encryption key") && error.contains("nothing was changed"), "{error}");
    assert!(!p.html.contains(SECRET));
    assert_eq!(app.events().await.len(), before, "nothing was written");
    assert_eq!(connector_of(&app, &app.app_id).await, None);
}
