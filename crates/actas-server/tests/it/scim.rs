//! SCIM 2.0 provisioning (`/scim/v2`) as identity providers drive it: the
//! request sequences Okta and Microsoft Entra ID document, replayed on the
//! wire, and every refusal with its SCIM error body and proof that nothing
//! changed.

use actas_core::scim::{ERROR_SCHEMA, LIST_SCHEMA, PATCH_SCHEMA, USER_SCHEMA};
use actas_store::{read_fn, StaffProfile};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use actas_core::model::{Role, Staff};
use actas_server::testing::*;

/// An answer of `/scim/v2`.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    content_type: Option<String>,
    location: Option<String>,
    body: Value,
}

impl Reply {
    /// Asserts a SCIM error: its status, `scimType` (or none) and a detail
    /// that says something.
    #[track_caller]
    fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.content_type.as_deref(), Some("application/scim+json"), "{}", self.body);
        assert_eq!(self.body["schemas"], json!([ERROR_SCHEMA]), "{}", self.body);
        assert_eq!(self.body["status"], status.to_string(), "the status is a string: {}", self.body);
        assert_eq!(self.body["scimType"].as_str(), scim_type, "{}", self.body);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", self.body);
    }

    /// Asserts a success with this status, answered as `application/scim+json`.
    #[track_caller]
    fn assert_ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.content_type.as_deref(), Some("application/scim+json"), "{}", self.body);
        &self.body
    }
}

/// `METHOD /scim/v2{path}` with `Authorization: Bearer {bearer}` and a body
/// sent as `application/scim+json`, as identity providers send it.
async fn scim(app: &TestApp, bearer: Option<&str>, method: Method, path: &str, body: Option<&Value>) -> Reply {
    let mut req =
        app.http.request(method, format!("{}/scim/v2{path}", app.base)).header("Accept", "application/scim+json");
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(b) = body {
        req = req.header("Content-Type", "application/scim+json; charset=utf-8").body(b.to_string());
    }
    raw(req).await
}

async fn raw(req: reqwest::RequestBuilder) -> Reply {
    let res = req.send().await.unwrap();
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, content_type, location) = (res.status(), header("content-type"), header("location"));
    let text = res.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Reply { status, content_type, location, body }
}

/// The identity provider: an app with the `scim` permission, named as the
/// provider is.
async fn provider(app: &TestApp, name: &str) -> String {
    app.host_app(name).scim().add().await.key
}

/// Every staff member with what provisioning keeps of them.
async fn staff(app: &TestApp) -> Vec<(Staff, StaffProfile)> {
    app.ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_staff_profiles().await }))).await.unwrap()
}

async fn staff_member(app: &TestApp, login: &str) -> Staff {
    let all = staff(app).await;
    all.into_iter().find(|(s, _)| s.id == login).map(|(s, _)| s).unwrap_or_else(|| panic!("no staff member {login}"))
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
}

/// The User resource as every answer must hold it.
#[track_caller]
fn assert_user(u: &Value, app: &TestApp, login: &str, active: bool) {
    assert_eq!(u["schemas"], json!([USER_SCHEMA]), "{u}");
    assert_eq!(u["id"], login, "{u}");
    assert_eq!(u["userName"], login, "{u}");
    assert_eq!(u["active"], active, "{u}");
    assert_eq!(u["meta"]["resourceType"], "User", "{u}");
    assert_eq!(u["meta"]["location"], format!("{}/scim/v2/Users/{login}", app.base), "{u}");
    for t in ["created", "lastModified"] {
        let at = u["meta"][t].as_str().unwrap_or_default();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "meta.{t} is a date-time: {u}");
    }
}

backend_test!(async fn okta_provisions_updates_deactivates_and_reactivates_a_staff_member(app) {
    let okta = provider(&app, "Okta").await;
    let k = Some(okta.as_str());

    // Test the connection: the first page of two users.
    let r = scim(&app, k, Method::GET, "/Users?count=2&startIndex=1", None).await;
    let list = r.assert_ok(200);
    assert_eq!(list["schemas"], json!([LIST_SCHEMA]));
    assert_eq!((&list["totalResults"], &list["itemsPerPage"], &list["startIndex"]), (&json!(6), &json!(2), &json!(1)));
    assert_eq!(list["Resources"][0]["userName"], "ada", "by login");

    // Assigned in Okta: does the user exist?
    let query = "/Users?filter=userName%20eq%20%22dana.ross%40support.example%22&startIndex=1&count=100";
    let list = scim(&app, k, Method::GET, query, None).await;
    let list = list.assert_ok(200);
    assert_eq!((&list["totalResults"], &list["Resources"]), (&json!(0), &json!([])));

    // No: create it, as Okta's SCIM 2.0 guide shows the request.
    let create = json!({
        "schemas": [USER_SCHEMA],
        "userName": "dana.ross@support.example",
        "name": {"givenName": "Dana", "familyName": "Ross"},
        "emails": [{"primary": true, "value": "dana.ross@support.example", "type": "work"}],
        "displayName": "Dana Ross",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    });
    let r = scim(&app, k, Method::POST, "/Users", Some(&create)).await;
    let user = r.assert_ok(201).clone();
    assert_user(&user, &app, "dana.ross@support.example", true);
    assert_eq!(r.location.as_deref(), user["meta"]["location"].as_str(), "Location is the user's address");
    assert_eq!(user["displayName"], "Dana Ross");
    assert_eq!(user["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(user["emails"][0]["value"], "dana.ross@support.example");
    assert_eq!(user["meta"]["created"], user["meta"]["lastModified"]);
    assert!(user.get("password").is_none(), "a password is never kept or answered");
    let dana = staff_member(&app, "dana.ross@support.example").await;
    assert_eq!((dana.name.as_str(), dana.roles.as_slice(), dana.disabled), ("Dana Ross", &[Role::Agent][..], false));
    let created = app.events_of_type("staff.created").await;
    let created = created.last().unwrap();
    assert_eq!(created["data"]["login"], "dana.ross@support.example");
    assert_eq!((&created["actor"]["kind"], &created["actor"]["name"]), (&json!("app"), &json!("Okta")));

    // Read back by id and by filter.
    let id = "/Users/dana.ross@support.example";
    let got = scim(&app, k, Method::GET, id, None).await;
    assert_eq!(got.assert_ok(200), &user, "GET answers what POST did");
    let list = scim(&app, k, Method::GET, query, None).await;
    let list = list.assert_ok(200);
    assert_eq!((&list["totalResults"], &list["Resources"][0]), (&json!(1), &user));

    // A profile change, by PUT of the whole user.
    app.clock.advance(mins(5));
    let mut put = user.clone();
    put["displayName"] = json!("Dana Ross-Park");
    put["name"] = json!({"givenName": "Dana", "familyName": "Ross-Park"});
    let changed = scim(&app, k, Method::PUT, id, Some(&put)).await;
    let changed = changed.assert_ok(200);
    assert_user(changed, &app, "dana.ross@support.example", true);
    assert_eq!(changed["displayName"], "Dana Ross-Park");
    assert_ne!(changed["meta"]["lastModified"], user["meta"]["lastModified"], "lastModified moves");
    assert_eq!(changed["meta"]["created"], user["meta"]["created"]);
    let updated = app.events_of_type("staff.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["changed"], json!(["name"]));
    assert_eq!(
        updated[0]["text"],
        "Staff member Dana Ross-Park (dana.ross@support.example) updated by Okta through SCIM: name from Dana Ross to Dana Ross-Park."
    );

    // The same PUT again changes nothing and records nothing.
    let events = app.events().await.len();
    scim(&app, k, Method::PUT, id, Some(&put)).await.assert_ok(200);
    assert_eq!(app.events().await.len(), events);

    // Unassigned in Okta: deactivated.
    let off = patch(json!([{"op": "replace", "value": {"active": false}}]));
    let r = scim(&app, k, Method::PATCH, id, Some(&off)).await;
    assert_user(r.assert_ok(200), &app, "dana.ross@support.example", false);
    assert!(staff_member(&app, "dana.ross@support.example").await.disabled);
    let disabled = app.events_of_type("staff.disabled").await;
    assert_eq!(disabled.last().unwrap()["data"], json!({"login": "dana.ross@support.example", "sessions_ended": []}));
    let list = scim(&app, k, Method::GET, query, None).await;
    assert_eq!(list.assert_ok(200)["Resources"][0]["active"], false, "a deactivated user is still found, inactive");

    // Assigned again: reactivated.
    let on = patch(json!([{"op": "replace", "value": {"active": true}}]));
    let r = scim(&app, k, Method::PATCH, id, Some(&on)).await;
    assert_user(r.assert_ok(200), &app, "dana.ross@support.example", true);
    assert!(!staff_member(&app, "dana.ross@support.example").await.disabled);
    let enabled = app.events_of_type("staff.enabled").await;
    assert_eq!(enabled.len(), 1);
    assert_eq!(enabled[0]["data"], json!({"login": "dana.ross@support.example"}));
    assert_eq!(enabled[0]["text"], "Okta enabled staff member Dana Ross-Park (dana.ross@support.example) again.");
    assert_eq!(app.verify().await["ok"], true);
});

backend_test!(async fn entra_id_provisions_updates_and_deprovisions_a_staff_member(app) {
    let entra = provider(&app, "Microsoft Entra ID").await;
    let k = Some(entra.as_str());
    let user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com";
    let login = user_name.to_ascii_lowercase();

    // Entra asks for the user by userName first.
    let query = format!("/Users?filter=userName+eq+%22{}%22", user_name.replace('@', "%40"));
    let list = scim(&app, k, Method::GET, &query, None).await;
    assert_eq!(list.assert_ok(200)["totalResults"], 0);

    // Then creates it, as its provisioning docs show the request.
    let create = json!({
        "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    });
    let r = scim(&app, k, Method::POST, "/Users", Some(&create)).await;
    let user = r.assert_ok(201).clone();
    assert_user(&user, &app, &login, true);
    assert_eq!(user["displayName"], "givenName familyName");
    assert_eq!(staff_member(&app, &login).await.name, "givenName familyName");

    // Found by the userName as Entra wrote it, and by externalId.
    let list = scim(&app, k, Method::GET, &query, None).await;
    assert_eq!(list.assert_ok(200)["Resources"][0], user);
    let by_ext = "/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22";
    let list = scim(&app, k, Method::GET, by_ext, None).await;
    assert_eq!(list.assert_ok(200)["totalResults"], 1);
    let id = format!("/Users/{login}");
    assert_eq!(scim(&app, k, Method::GET, &id, None).await.assert_ok(200), &user);

    // Attribute changes, with paths, in Entra's capitalisation.
    let change = patch(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@testuser.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Add", "path": "displayName", "value": "Updated Name"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Support"}
    ]));
    let r = scim(&app, k, Method::PATCH, &id, Some(&change)).await;
    let changed = r.assert_ok(200);
    assert_eq!(changed["displayName"], "Updated Name");
    assert_eq!(changed["emails"][0]["value"], "updatedEmail@testuser.com");
    assert_eq!(staff_member(&app, &login).await.name, "Updated Name");
    let updated = app.events_of_type("staff.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["name"], "Updated Name");
    assert_eq!(updated[0]["actor"]["name"], "Microsoft Entra ID");

    // Entra renames the user (a new e-mail address): the userName changes,
    // the id (the login the trail names) does not.
    let new_name = "Updated_User_7f3c@testuser.com";
    let rename = patch(json!([{"op": "Replace", "path": "userName", "value": new_name}]));
    let r = scim(&app, k, Method::PATCH, &id, Some(&rename)).await;
    let renamed = r.assert_ok(200).clone();
    assert_eq!(renamed["id"], login.as_str(), "{renamed}");
    assert_eq!(renamed["userName"], new_name.to_ascii_lowercase(), "{renamed}");
    assert_eq!(renamed["meta"]["location"], format!("{}/scim/v2/Users/{login}", app.base));
    assert_eq!(scim(&app, k, Method::GET, &id, None).await.assert_ok(200), &renamed);
    let by_new = format!("/Users?filter=userName+eq+%22{}%22", new_name.replace('@', "%40"));
    assert_eq!(scim(&app, k, Method::GET, &by_new, None).await.assert_ok(200)["Resources"][0], renamed);
    assert_eq!(scim(&app, k, Method::GET, &query, None).await.assert_ok(200)["totalResults"], 0, "not by the old name");
    let updated = app.events_of_type("staff.updated").await;
    assert_eq!(updated.len(), 2);
    assert_eq!(updated[1]["data"]["login"], login.as_str());
    assert_eq!(updated[1]["data"]["changed"], json!(["username"]));
    assert_eq!(updated[1]["data"]["username"], new_name.to_ascii_lowercase());
    assert_eq!(
        updated[1]["text"],
        format!(
            "Staff member Updated Name ({login}) updated by Microsoft Entra ID through SCIM: username at the identity \
             provider from {login} to {}.",
            new_name.to_ascii_lowercase()
        )
    );
    // The old name is free for someone else, and a PUT that repeats the
    // user as it is changes nothing.
    let events = app.events().await.len();
    let again = json!({"userName": new_name, "displayName": "Updated Name", "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "emails": [{"value": "updatedEmail@testuser.com", "primary": true}]});
    assert_eq!(scim(&app, k, Method::PUT, &id, Some(&again)).await.assert_ok(200)["userName"], renamed["userName"]);
    assert_eq!(app.events().await.len(), events, "nothing changed, nothing recorded");
    let someone = json!({"userName": "somebody.else@testuser.com"});
    scim(&app, k, Method::POST, "/Users", Some(&someone)).await.assert_ok(201);
    let taken = scim(&app, k, Method::POST, "/Users", Some(&json!({"userName": new_name}))).await;
    taken.assert_error(409, Some("uniqueness"));

    // Disabled with a string boolean.
    let off = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let r = scim(&app, k, Method::PATCH, &id, Some(&off)).await;
    assert_eq!(r.assert_ok(200)["active"], false);
    assert!(staff_member(&app, &login).await.disabled);
    assert_eq!(app.events_of_type("staff.disabled").await.len(), 1);

    // Deleted in Entra: deprovisioned, which keeps them disabled; nothing
    // more is recorded for someone disabled already.
    let events = app.events().await.len();
    let r = scim(&app, k, Method::DELETE, &id, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    let r = scim(&app, k, Method::DELETE, &id, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "deprovisioning twice is no error");
    assert_eq!(app.events().await.len(), events);
    let s = staff_member(&app, &login).await;
    assert!(s.disabled, "the staff member stays, disabled: the trail names them");
    assert_eq!(scim(&app, k, Method::GET, &id, None).await.assert_ok(200)["active"], false);

    // Enabled again with Entra's other boolean.
    let on = patch(json!([{"op": "Replace", "path": "active", "value": "True"}]));
    assert_eq!(scim(&app, k, Method::PATCH, &id, Some(&on)).await.assert_ok(200)["active"], true);
    assert_eq!(app.events_of_type("staff.enabled").await.len(), 1);
});

backend_test!(async fn deprovisioning_ends_a_live_session_as_staff_disabled(app) {
    let okta = provider(&app, "Okta").await;
    let k = Some(okta.as_str());
    let maria = app.session(&app.maria).actions(&["settings.view"]).start().await;
    let jon = app.session(&app.jon).actions(&["plan.view"]).start().await;

    // Okta's deactivation ends Maria's session.
    let off = patch(json!([{"op": "replace", "value": {"active": false}}]));
    scim(&app, k, Method::PATCH, "/Users/maria", Some(&off)).await.assert_ok(200);
    let (_, s) = app.get(&format!("/api/v1/sessions/{}", maria.id), &app.sam).await;
    assert_eq!((&s["state"], &s["end_reason"]), (&json!("ended"), &json!("staff_disabled")));
    assert_eq!(app.authorize(&maria.token, "settings.view").await.reason.as_str(), "staff_disabled");
    assert_problem(&app.get("/api/v1/requests", &app.maria).await, 401, "unauthorized");

    // Entra's deletion ends Jon's.
    let r = scim(&app, k, Method::DELETE, "/Users/jon", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (_, s) = app.get(&format!("/api/v1/sessions/{}", jon.id), &app.sam).await;
    assert_eq!(s["end_reason"], "staff_disabled");

    // The trail: each session's end, then the disabling that names it.
    let disabled = app.events_of_type("staff.disabled").await;
    assert_eq!(disabled.len(), 2);
    for (e, (login, session)) in disabled.iter().zip([("maria", &maria.id), ("jon", &jon.id)]) {
        assert_eq!(e["data"], json!({"login": login, "sessions_ended": [session]}));
        assert_eq!((&e["actor"]["kind"], &e["actor"]["name"]), (&json!("app"), &json!("Okta")));
        let ended = app.audit(&app.audrey, &format!("session={session}")).await;
        let end = ended.iter().find(|e| e["type"] == "session.ended").unwrap();
        assert_eq!(end["data"]["end_reason"], "staff_disabled", "{end}");
        assert!(end["seq"].as_i64() < e["seq"].as_i64(), "the session ends before the disabling is recorded");
    }
    assert_eq!(app.verify().await["ok"], true);
});

backend_test!(async fn users_are_listed_a_page_at_a_time_by_login(app) {
    let okta = provider(&app, "Okta").await;
    let k = Some(okta.as_str());
    let logins = |v: &Value| -> Vec<String> {
        v["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_string()).collect()
    };
    let r = scim(&app, k, Method::GET, "/Users", None).await;
    assert_eq!(logins(r.assert_ok(200)), ["ada", "audrey", "jon", "lena", "maria", "sam"]);
    let r = scim(&app, k, Method::GET, "/Users?startIndex=3&count=2", None).await;
    let page = r.assert_ok(200);
    assert_eq!(logins(page), ["jon", "lena"]);
    assert_eq!((&page["totalResults"], &page["startIndex"], &page["itemsPerPage"]), (&json!(6), &json!(3), &json!(2)));
    // RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count 0.
    let r = scim(&app, k, Method::GET, "/Users?startIndex=0&count=-5", None).await;
    let page = r.assert_ok(200);
    assert_eq!((&page["startIndex"], &page["itemsPerPage"], &page["totalResults"]), (&json!(1), &json!(0), &json!(6)));
    let r = scim(&app, k, Method::GET, "/Users?startIndex=7", None).await;
    assert_eq!(r.assert_ok(200)["Resources"], json!([]));
    // Attributes asked for are answered whole.
    let r = scim(&app, k, Method::GET, "/Users?filter=userName%20eq%20%22MARIA%22&attributes=userName", None).await;
    assert_eq!(logins(r.assert_ok(200)), ["maria"], "userName compares without case");
});

backend_test!(async fn the_discovery_endpoints_answer_the_provider(app) {
    let okta = provider(&app, "Okta").await;
    let k = Some(okta.as_str());
    let c = scim(&app, k, Method::GET, "/ServiceProviderConfig", None).await;
    let c = c.assert_ok(200);
    assert_eq!(c["patch"]["supported"], true);
    assert_eq!(c["meta"]["location"], format!("{}/scim/v2/ServiceProviderConfig", app.base));
    let t = scim(&app, k, Method::GET, "/ResourceTypes", None).await;
    assert_eq!(t.assert_ok(200)["Resources"][0]["endpoint"], "/Users");
    let s = scim(&app, k, Method::GET, "/Schemas", None).await;
    assert_eq!(s.assert_ok(200)["Resources"][0]["id"], USER_SCHEMA);
});

/// Everything a refusal must leave as it was: every staff member with what
/// provisioning keeps, and the trail.
async fn state(app: &TestApp) -> (Vec<(Staff, StaffProfile)>, usize) {
    (staff(app).await, app.events().await.len())
}

backend_test!(async fn callers_other_than_a_scim_app_are_refused_with_scim_errors(app) {
    let okta = provider(&app, "Okta").await;
    let session = app.session(&app.maria).actions(&["settings.view"]).start().await;
    let before = state(&app).await;
    let create = json!({"userName": "eve@support.example"});
    let off = patch(json!([{"op": "replace", "value": {"active": false}}]));
    let calls: [(Method, &str, Option<&Value>); 4] = [
        (Method::GET, "/Users", None),
        (Method::POST, "/Users", Some(&create)),
        (Method::PATCH, "/Users/maria", Some(&off)),
        (Method::DELETE, "/Users/maria", None),
    ];
    let callers: [(Option<&str>, u16, &str); 6] = [
        (None, 401, "no credentials"),
        (Some("garbage"), 401, "a bearer that is nothing"),
        (Some(app.ada.as_str()), 403, "an admin's personal token"),
        (Some(session.token.as_str()), 401, "an impersonation token"),
        (Some(app.app.as_str()), 403, "a host app without the scim permission"),
        (Some(&okta[..okta.len() - 1]), 401, "the scim app's key, cut short"),
    ];
    for (bearer, status, who) in callers {
        for (method, path, body) in &calls {
            let r = scim(&app, bearer, method.clone(), path, *body).await;
            assert_eq!(r.status.as_u16(), status, "{method} {path} as {who}: {}", r.body);
            r.assert_error(status, None);
            if status == 401 {
                assert!(r.body["detail"].is_string());
            }
        }
    }
    // A caller without the permission is refused before its body is read.
    let r = scim(&app, Some(&app.app), Method::POST, "/Users", Some(&json!("not a user"))).await;
    r.assert_error(403, None);
    assert_eq!(state(&app).await, before, "nothing changed");
    let (_, s) = app.get(&format!("/api/v1/sessions/{}", session.id), &app.sam).await;
    assert_eq!(s["state"], "live");
    // The scim app is no host app: it sees no sessions.
    assert_problem(&app.get("/api/v1/notices", &okta).await, 403, "not-a-host-app");
});

/// A call and the error it must get: method, path, body, status, `scimType`.
type Case = (Method, &'static str, Option<Value>, u16, Option<&'static str>);

backend_test!(async fn bad_requests_are_refused_with_their_scim_type_and_change_nothing(app) {
    let okta = provider(&app, "Okta").await;
    let k = Some(okta.as_str());
    let made = scim(&app, k, Method::POST, "/Users", Some(&json!({"userName": "dana", "externalId": "ext-dana"}))).await;
    made.assert_ok(201);
    let before = state(&app).await;

    // Not JSON.
    let r = raw(
        app.http
            .post(format!("{}/scim/v2/Users", app.base))
            .bearer_auth(&okta)
            .header("Content-Type", "application/scim+json")
            .body("{\"userName\": "),
    )
    .await;
    r.assert_error(400, Some("invalidSyntax"));
    let r = raw(app.http.patch(format!("{}/scim/v2/Users/maria", app.base)).bearer_auth(&okta).body("")).await;
    r.assert_error(400, Some("invalidSyntax"));

    let cases: Vec<Case> = vec![
        // Filters other than the two identity providers send.
        (Method::GET, "/Users?filter=userName%20sw%20%22m%22", None, 400, Some("invalidFilter")),
        (Method::GET, "/Users?filter=emails%20eq%20%22m%40x%22", None, 400, Some("invalidFilter")),
        (Method::GET, "/Users?filter=userName%20eq%20maria", None, 400, Some("invalidFilter")),
        (Method::GET, "/Users?count=many", None, 400, Some("invalidValue")),
        // Unknown users.
        (Method::GET, "/Users/nobody", None, 404, None),
        (Method::PUT, "/Users/nobody", Some(json!({"userName": "nobody"})), 404, None),
        (Method::PATCH, "/Users/nobody", Some(patch(json!([{"op": "replace", "value": {"active": false}}]))), 404, None),
        (Method::DELETE, "/Users/nobody", None, 404, None),
        // Taken: a login, in any case, and an external id.
        (Method::POST, "/Users", Some(json!({"userName": "Maria"})), 409, Some("uniqueness")),
        (Method::POST, "/Users", Some(json!({"userName": "nina", "externalId": "ext-dana"})), 409, Some("uniqueness")),
        (
            Method::PATCH,
            "/Users/maria",
            Some(patch(json!([{"op": "replace", "path": "externalId", "value": "ext-dana"}]))),
            409,
            Some("uniqueness"),
        ),
        // A userName someone else goes by, in any case; one actas does
        // not take as a login; none at all.
        (
            Method::PATCH,
            "/Users/maria",
            Some(patch(json!([{"op": "Replace", "path": "userName", "value": "Dana"}]))),
            409,
            Some("uniqueness"),
        ),
        (Method::PUT, "/Users/maria", Some(json!({"userName": "jon"})), 409, Some("uniqueness")),
        (
            Method::PATCH,
            "/Users/maria",
            Some(patch(json!([{"op": "Replace", "path": "userName", "value": "maría"}]))),
            400,
            Some("invalidValue"),
        ),
        (Method::PATCH, "/Users/maria", Some(patch(json!([{"op": "remove", "path": "userName"}]))), 400, Some("mutability")),
        // Values actas does not take.
        (Method::POST, "/Users", Some(json!({"displayName": "No Name"})), 400, Some("invalidValue")),
        (Method::POST, "/Users", Some(json!({"userName": "María"})), 400, Some("invalidValue")),
        (Method::POST, "/Users", Some(json!({"userName": "9lives"})), 400, Some("invalidValue")),
        (Method::POST, "/Users", Some(json!({"userName": "nina", "active": "maybe"})), 400, Some("invalidValue")),
        (Method::POST, "/Users", Some(json!({"userName": "nina", "displayName": "Nina\u{202e}Ross"})), 400, Some("invalidValue")),
        (Method::POST, "/Users", Some(json!({"userName": "nina", "externalId": "x".repeat(101)})), 400, Some("invalidValue")),
        (Method::POST, "/Users", Some(json!(["not", "a", "user"])), 400, Some("invalidSyntax")),
        (
            Method::PATCH,
            "/Users/maria",
            Some(patch(json!([{"op": "replace", "path": "displayName", "value": "x".repeat(101)}]))),
            400,
            Some("invalidValue"),
        ),
        // A PATCH that is not a PatchOp, or has an op SCIM does not know.
        (Method::PATCH, "/Users/maria", Some(json!({"Operations": []})), 400, Some("invalidSyntax")),
        (Method::PATCH, "/Users/maria", Some(patch(json!([{"op": "move", "path": "active"}]))), 400, Some("invalidSyntax")),
        // A refused operation leaves the ones before it undone.
        (
            Method::PATCH,
            "/Users/maria",
            Some(patch(json!([
                {"op": "replace", "path": "active", "value": false},
                {"op": "replace", "path": "displayName", "value": 7}
            ]))),
            400,
            Some("invalidValue"),
        ),
        // Addresses and methods SCIM here does not serve.
        (Method::GET, "/Groups", None, 404, None),
        (Method::DELETE, "/Users", None, 405, None),
    ];
    for (method, path, body, status, scim_type) in cases {
        let r = scim(&app, k, method.clone(), path, body.as_ref()).await;
        assert_eq!(r.status.as_u16(), status, "{method} {path} {body:?}: {}", r.body);
        r.assert_error(status, scim_type);
        assert_eq!(state(&app).await, before, "{method} {path} changed nothing");
    }
    assert!(!staff_member(&app, "maria").await.disabled);
});

backend_test!(async fn a_body_sent_as_plain_json_is_read_and_one_over_the_limit_refused(app) {
    let okta = provider(&app, "Okta").await;
    let url = format!("{}/scim/v2/Users", app.base);
    let r = raw(app.http.post(&url).bearer_auth(&okta).json(&json!({"userName": "nina", "displayName": "Nina Ross"})))
        .await;
    assert_eq!(r.assert_ok(201)["displayName"], "Nina Ross", "application/json is read like application/scim+json");
    let before = state(&app).await;
    let huge = json!({"userName": "omar", "displayName": "x".repeat(70 * 1024)});
    let r = raw(app.http.post(&url).bearer_auth(&okta).header("Content-Type", "application/scim+json").body(huge.to_string()))
        .await;
    r.assert_error(413, None);
    assert_eq!(state(&app).await, before);
});

backend_test!(async fn an_app_is_given_the_scim_permission_by_its_registration(app) {
    // Without it the key is refused, with it the same calls are answered.
    let desk = app.host_app("Desk").tickets().add().await.key;
    scim(&app, Some(&desk), Method::GET, "/Users", None).await.assert_error(403, None);
    let okta = provider(&app, "Okta").await;
    scim(&app, Some(&okta), Method::GET, "/Users", None).await.assert_ok(200);
    // Its answers are never cached.
    let res = app.http.get(format!("{}/scim/v2/Users", app.base)).bearer_auth(&okta).send().await.unwrap();
    assert_eq!(res.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
});
