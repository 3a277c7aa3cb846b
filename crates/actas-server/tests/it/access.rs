//! Need to know, as a table: every endpoint of the API × every kind of
//! caller, with the status each must get. A refusal changes nothing. An
//! endpoint of the OpenAPI document without a row fails the test, so a new
//! endpoint is refused until its row says otherwise.

use std::collections::BTreeSet;

use actas_core::connector::Connector;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use actas_server::testing::*;

/// The kinds of caller, in the order of every row's statuses.
const CALLERS: [&str; 20] = [
    "none",        // no Authorization header
    "garbage",     // a bearer that is nothing
    "unissued",    // a personal token of the right shape that was never issued
    "owner",       // maria, the agent who owns the request and the session
    "agent",       // jon, another agent
    "lead",        // lena, a lead
    "auditor",     // audrey
    "admin",       // ada
    "disabled",    // dina, an agent who was disabled
    "app",         // the host app the session was issued for
    "other_app",   // another host app
    "tickets_app", // an app that only pushes tickets
    "tok_this",    // the impersonation token of this session
    "tok_other",   // the token of another live session
    "tok_ended",   // the token of an ended session (before its exp)
    "forged_key",  // signed by a foreign key under a real kid
    "alg_none",    // alg: none
    "hs256",       // HS256 keyed with the public key
    "edited",      // payload edited, signature kept
    "scim_app",    // an app that only provisions staff (SCIM)
];

/// Everything a row needs: a server with two apps more, and live, ended
/// and pending things owned by maria.
struct Fx {
    app: TestApp,
    bearer: Vec<Option<String>>,
    /// maria's live session (settings.view, invoice_email.update).
    s1: String,
    /// maria's pending request.
    pending: String,
    /// maria's approved request, not started.
    approved: String,
    /// A one-time entry code for `s1`.
    code: String,
    /// A customer note of maria's ended session.
    notice: String,
    /// The ticket-only app Desk, which takes Zendesk's webhook.
    zendesk: String,
    /// An app that takes Jira's webhook.
    jira: String,
    /// A webhook out (to a port nobody listens on).
    webhook: String,
}

async fn fixture(backend: &Backend) -> Fx {
    let app = TestApp::on(backend.clone(), Policy::shipped()).await;
    let dina = app.staff("dina").name("Dina Shah").disabled().add().await;

    // maria: an ended session (with its customer note), then a live one.
    let LiveSession { id: s0, token: tok_ended, .. } = app.session(&app.maria).actions(&["plan.view"]).start().await;
    app.end(&app.maria, &s0).await;
    let LiveSession { id: s1, token: tok_this, .. } = app
        .session(&app.maria)
        .actions(&["settings.view", "invoice_email.update"])
        .approved_by(&app.lena)
        .start()
        .await;
    let pending = app.request(&app.maria).actions(&["billing.update"]).send().await.id;
    let approved = app.request(&app.maria).actions(&["plan.view"]).send().await.id;
    // jon: another live session.
    let tok_other = app.session(&app.jon).actions(&["plan.view"]).start().await.token;
    let (_, code) = app.post(&format!("/api/v1/sessions/{s1}/entry"), &app.maria, json!({})).await;
    let other_app = app.host_app("Other App").origin("https://other.test").add().await.key;
    let desk = app.host_app("Desk").connector(Connector::Zendesk, "zendesk-secret-of-the-desk-app").add().await;
    let (tickets_app, zendesk) = (desk.key, desk.id);
    let jira = app.host_app("Desk Jira").connector(Connector::Jira, "jira-secret-of-the-desk-app").add().await.id;
    let scim_app = app.host_app("Okta").scim().add().await.key;
    let notice = app.client.notices(0).await.unwrap()[0].id.clone();

    let forged = forgeries(&app, &tok_this);
    let bearer = vec![
        None,
        Some("garbage".to_string()),
        Some(format!("actas_pat_{}", "A".repeat(43))),
        Some(app.maria.clone()),
        Some(app.jon.clone()),
        Some(app.lena.clone()),
        Some(app.audrey.clone()),
        Some(app.ada.clone()),
        Some(dina),
        Some(app.app.clone()),
        Some(other_app),
        Some(tickets_app),
        Some(tok_this),
        Some(tok_other),
        Some(tok_ended),
        Some(forged[0].clone()),
        Some(forged[1].clone()),
        Some(forged[2].clone()),
        Some(forged[3].clone()),
        Some(scim_app),
    ];
    assert_eq!(bearer.len(), CALLERS.len());
    let events = vec!["session.started".to_string()];
    let webhook = actas_server::service::add_webhook(
        &app.ctx,
        actas_core::audit::Actor::system(),
        "http://127.0.0.1:9/actas",
        &events,
    )
    .await
    .unwrap()
    .0
    .id;
    Fx {
        app,
        webhook,
        bearer,
        s1,
        pending,
        approved,
        code: code["code"].as_str().unwrap().to_string(),
        notice: notice.into_string(),
        zendesk,
        jira,
    }
}

/// Four forgeries of `token`: a foreign key under the real `kid`, `alg:
/// none`, HS256 keyed with the published public key, an edited payload.
fn forgeries(app: &TestApp, token: &str) -> [String; 4] {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let kid = jws_header(token)["kid"].as_str().unwrap().to_string();
    let mut claims_v = claims(token);
    let foreign = {
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &claims_v, &jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap()
    };
    let none = format!("{}.{}.", b64.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#)), parts[1]);
    let hs256 = {
        let jwks = app.ctx.keys.jwks(app.clock.now());
        let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap();
        let public = b64.decode(key["x"].as_str().unwrap()).unwrap();
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &claims_v, &jsonwebtoken::EncodingKey::from_secret(&public)).unwrap()
    };
    claims_v["sub"] = json!("acct_7");
    let edited = format!("{}.{}.{}", parts[0], b64.encode(claims_v.to_string()), parts[2]);
    [foreign, none, hs256, edited]
}

type Call = fn(&Fx) -> (Method, String, Option<Value>);

/// One endpoint: the OpenAPI path it stands for, how to call it, and the
/// status for each caller in [`CALLERS`] order.
struct Row {
    endpoint: &'static str,
    call: Call,
    want: [u16; 20],
}

const U: u16 = 401;
const F: u16 = 403;
const N: u16 = 404;

//                 none gar uni own agt lead aud adm dis  app oth tkt tokT tokO tokE fKey none hs  edit scim
const STAFF_ONLY: [u16; 20] = [U, U, U, 0, 0, 0, 0, 0, U, F, F, F, U, U, U, U, U, U, U, F];

/// A staff-only row: `staff` gives the statuses of owner, agent, lead,
/// auditor and admin; apps get 403, tokens and bad credentials 401.
const fn staff(s: [u16; 5]) -> [u16; 20] {
    let mut w = STAFF_ONLY;
    w[3] = s[0];
    w[4] = s[1];
    w[5] = s[2];
    w[6] = s[3];
    w[7] = s[4];
    w
}

/// A SCIM row: only the app with the `scim` permission gets `ok`; staff and
/// other apps 403, tokens and bad credentials 401.
const fn scim(ok: u16) -> [u16; 20] {
    [U, U, U, F, F, F, F, F, U, F, F, F, U, U, U, U, U, U, U, ok]
}

fn rows() -> Vec<Row> {
    fn get(p: String) -> (Method, String, Option<Value>) {
        (Method::GET, p, None)
    }
    fn post(p: String, b: Value) -> (Method, String, Option<Value>) {
        (Method::POST, p, Some(b))
    }
    const REASON: &str = "Customer reports the invoice email bounces since the plan change";
    vec![
        Row {
            endpoint: "POST /api/v1/tickets",
            call: |_| {
                post(
                    "/api/v1/tickets".into(),
                    json!({"ref": "T-1", "account_id": "acct_1", "subject": "Cannot log in"}),
                )
            },
            //     none gar uni own  agt  lead aud adm dis  app  oth tkt  tokT tokO tokE fk an hs ed
            want: [U, U, U, 201, 201, F, F, F, U, 201, F, 201, U, U, U, U, U, U, U, F],
        },
        // The ticket systems' webhooks take no credentials but their own
        // signature: whoever calls without one is refused, whatever bearer
        // they hold.
        Row {
            endpoint: "POST /api/v1/connectors/zendesk/{app_id}",
            call: |f| post(format!("/api/v1/connectors/zendesk/{}", f.zendesk), json!({"detail": {"id": "T-2"}})),
            want: [U; 20],
        },
        Row {
            endpoint: "POST /api/v1/connectors/jira/{app_id}",
            call: |f| post(format!("/api/v1/connectors/jira/{}", f.jira), json!({"issue": {"key": "T-3"}})),
            want: [U; 20],
        },
        Row {
            endpoint: "GET /api/v1/tickets/{ref}",
            call: |_| get("/api/v1/tickets/48192".into()),
            want: staff([200, 200, 200, 200, F]),
        },
        Row {
            endpoint: "POST /api/v1/requests",
            call: |_| {
                post(
                    "/api/v1/requests".into(),
                    json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view"]}),
                )
            },
            want: staff([201, 201, F, F, F]),
        },
        Row {
            endpoint: "GET /api/v1/requests",
            call: |_| get("/api/v1/requests?status=pending".into()),
            want: staff([200, 200, 200, 200, F]),
        },
        Row {
            endpoint: "GET /api/v1/requests/{id}",
            call: |f| get(format!("/api/v1/requests/{}", f.pending)),
            want: staff([200, F, 200, 200, F]),
        },
        Row {
            endpoint: "POST /api/v1/requests/{id}/approve",
            call: |f| post(format!("/api/v1/requests/{}/approve", f.pending), json!({})),
            want: staff([F, F, 200, F, F]),
        },
        Row {
            endpoint: "POST /api/v1/requests/{id}/deny",
            call: |f| post(format!("/api/v1/requests/{}/deny", f.pending), json!({"note": "Not for this ticket"})),
            want: staff([F, F, 200, F, F]),
        },
        Row {
            endpoint: "POST /api/v1/requests/{id}/withdraw",
            call: |f| post(format!("/api/v1/requests/{}/withdraw", f.pending), json!({})),
            want: staff([200, F, F, F, F]),
        },
        Row {
            // The owner is allowed; her live session makes it a 409 (one live session per agent).
            endpoint: "POST /api/v1/requests/{id}/start",
            call: |f| post(format!("/api/v1/requests/{}/start", f.approved), json!({"app": "Acme Billing"})),
            want: staff([409, F, F, F, F]),
        },
        Row {
            endpoint: "GET /api/v1/sessions/{id}",
            call: |f| get(format!("/api/v1/sessions/{}", f.s1)),
            //     none gar uni own  agt lead aud  adm dis app  oth tkt tokT tokO tokE fk an hs ed
            want: [U, U, U, 200, F, 200, 200, F, U, 200, N, N, 200, F, F, U, U, U, U, N],
        },
        Row {
            endpoint: "POST /api/v1/sessions/{id}/end",
            call: |f| post(format!("/api/v1/sessions/{}/end", f.s1), json!({})),
            want: [U, U, U, 200, F, F, F, F, U, F, F, F, 200, F, F, U, U, U, U, F],
        },
        Row {
            endpoint: "POST /api/v1/sessions/{id}/revoke",
            call: |f| post(format!("/api/v1/sessions/{}/revoke", f.s1), json!({"note": "Wrong customer"})),
            want: staff([F, F, 200, F, F]),
        },
        Row {
            // s1 was approved by a lead: a lead gets as far as `not-breakglass`
            // (the review itself: tests/it/breakglass.rs).
            endpoint: "POST /api/v1/sessions/{id}/review",
            call: |f| post(format!("/api/v1/sessions/{}/review", f.s1), json!({"note": "Looked at it"})),
            want: staff([F, F, 409, F, F]),
        },
        Row {
            endpoint: "POST /api/v1/sessions/{id}/scope",
            call: |f| {
                post(format!("/api/v1/sessions/{}/scope", f.s1), json!({"actions": ["plan.view"], "reason": REASON}))
            },
            want: staff([201, F, F, F, F]),
        },
        Row {
            endpoint: "POST /api/v1/accounts/{id}/grants",
            call: |_| {
                post("/api/v1/accounts/acct_42/grants".into(), json!({"hours": 2, "granted_by": "pat@acme.test"}))
            },
            //     none gar uni own agt lead aud adm dis app  oth  tkt tokT tokO tokE fk an hs ed scim
            want: [U, U, U, F, F, F, F, F, U, 201, 201, F, U, U, U, U, U, U, U, F],
        },
        Row {
            endpoint: "DELETE /api/v1/accounts/{id}/grants",
            call: |_| (Method::DELETE, "/api/v1/accounts/acct_42/grants?revoked_by=pat".into(), None),
            want: [U, U, U, F, F, F, F, F, U, 200, 200, F, U, U, U, U, U, U, U, F],
        },
        Row {
            endpoint: "GET /api/v1/webhooks",
            call: |_| get("/api/v1/webhooks".into()),
            want: staff([F, F, F, F, 200]),
        },
        Row {
            endpoint: "DELETE /api/v1/webhooks/{id}",
            call: |f| (Method::DELETE, format!("/api/v1/webhooks/{}", f.webhook), None),
            want: staff([F, F, F, F, 200]),
        },
        Row {
            endpoint: "GET /api/v1/webhooks/{id}/deliveries",
            call: |f| get(format!("/api/v1/webhooks/{}/deliveries", f.webhook)),
            want: staff([F, F, F, F, 200]),
        },
        Row {
            // No such delivery: an admin gets as far as 404.
            endpoint: "POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/replay",
            call: |f| post(format!("/api/v1/webhooks/{}/deliveries/whd_none/replay", f.webhook), json!({})),
            want: staff([F, F, F, F, 404]),
        },
        Row {
            // It is sending: an admin gets as far as `not-paused`.
            endpoint: "POST /api/v1/webhooks/{id}/resume",
            call: |f| post(format!("/api/v1/webhooks/{}/resume", f.webhook), json!({})),
            want: staff([F, F, F, F, 409]),
        },
        Row {
            endpoint: "GET /api/v1/accounts/{id}/grants",
            call: |_| get("/api/v1/accounts/acct_42/grants".into()),
            want: [U, U, U, F, F, 200, 200, F, U, 200, 200, F, U, U, U, U, U, U, U, F],
        },
        Row {
            endpoint: "PUT /api/v1/accounts/{id}/consent",
            call: |_| {
                (
                    Method::PUT,
                    "/api/v1/accounts/acct_42/consent".into(),
                    Some(json!({"required": true, "set_by": "pat"})),
                )
            },
            want: [U, U, U, F, F, F, F, F, U, 200, 200, F, U, U, U, U, U, U, U, F],
        },
        Row {
            // The agent, or the host app with the session's own token.
            endpoint: "POST /api/v1/sessions/{id}/stepup",
            call: |f| {
                post(
                    format!("/api/v1/sessions/{}/stepup", f.s1),
                    json!({"action": "billing.update", "changes": [{"field": "plan", "new": "Basic"}], "reason": REASON}),
                )
            },
            //     none gar uni own  agt lead aud adm dis app oth tkt tokT tokO tokE fk an hs ed scim
            want: [U, U, U, 201, F, F, F, F, U, F, F, F, 201, F, F, U, U, U, U, F],
        },
        Row {
            endpoint: "POST /api/v1/sessions/{id}/heartbeat",
            call: |f| post(format!("/api/v1/sessions/{}/heartbeat", f.s1), json!({})),
            want: [U, U, U, 200, F, F, F, F, U, 200, N, N, 200, F, F, U, U, U, U, N],
        },
        Row {
            endpoint: "GET /api/v1/sessions/{id}/timeline",
            call: |f| get(format!("/api/v1/sessions/{}/timeline", f.s1)),
            want: staff([200, F, 200, 200, F]),
        },
        Row {
            endpoint: "POST /api/v1/sessions/{id}/entry",
            call: |f| post(format!("/api/v1/sessions/{}/entry", f.s1), json!({})),
            want: staff([201, F, F, F, F]),
        },
        Row {
            endpoint: "POST /api/v1/entry",
            call: |f| post("/api/v1/entry".into(), json!({"code": f.code})),
            want: [U, U, U, F, F, F, F, F, U, 200, 422, 422, U, U, U, U, U, U, U, 422],
        },
        Row {
            // Another app is answered (allowed: false, wrong_app) and the attempt audited.
            endpoint: "POST /api/v1/authorize",
            call: |f| {
                let token = f.bearer[12].clone().unwrap();
                post("/api/v1/authorize".into(), json!({"token": token, "action": "settings.view"}))
            },
            want: [U, U, U, F, F, F, F, F, U, 200, 200, F, U, U, U, U, U, U, U, F],
        },
        Row {
            endpoint: "GET /api/v1/sessions/feed",
            call: |_| get("/api/v1/sessions/feed".into()),
            want: [U, U, U, F, F, 200, 200, F, U, 200, 200, F, U, U, U, U, U, U, U, F],
        },
        Row {
            endpoint: "GET /api/v1/notices",
            call: |_| get("/api/v1/notices".into()),
            want: [U, U, U, F, F, F, F, F, U, 200, 200, F, U, U, U, U, U, U, U, F],
        },
        Row {
            endpoint: "POST /api/v1/notices/{id}/delivered",
            call: |f| post(format!("/api/v1/notices/{}/delivered", f.notice), json!({})),
            want: [U, U, U, F, F, F, F, F, U, 200, N, N, U, U, U, U, U, U, U, N],
        },
        Row {
            endpoint: "GET /api/v1/accounts/{id}/access-log",
            call: |_| get("/api/v1/accounts/acct_42/access-log".into()),
            want: [U, U, U, F, F, 200, 200, F, U, 200, 200, F, U, U, U, U, U, U, U, F],
        },
        Row { endpoint: "GET /api/v1/audit", call: |_| get("/api/v1/audit".into()), want: staff([F, F, 200, 200, F]) },
        Row {
            endpoint: "GET /api/v1/audit/verify",
            call: |_| get("/api/v1/audit/verify".into()),
            want: staff([F, F, F, 200, 200]),
        },
        Row {
            endpoint: "GET /api/v1/audit/keys",
            call: |_| get("/api/v1/audit/keys".into()),
            want: staff([F, F, F, 200, 200]),
        },
        Row {
            endpoint: "GET /api/v1/metrics/support",
            call: |_| get("/api/v1/metrics/support".into()),
            want: staff([F, F, 200, 200, F]),
        },
        Row { endpoint: "GET /metrics", call: |_| get("/metrics".into()), want: staff([F, F, F, 200, 200]) },
        Row { endpoint: "GET /healthz", call: |_| get("/healthz".into()), want: [200; 20] },
        Row { endpoint: "GET /.well-known/jwks.json", call: |_| get("/.well-known/jwks.json".into()), want: [200; 20] },
        Row {
            endpoint: "GET /scim/v2/ServiceProviderConfig",
            call: |_| get("/scim/v2/ServiceProviderConfig".into()),
            want: scim(200),
        },
        Row { endpoint: "GET /scim/v2/ResourceTypes", call: |_| get("/scim/v2/ResourceTypes".into()), want: scim(200) },
        Row { endpoint: "GET /scim/v2/Schemas", call: |_| get("/scim/v2/Schemas".into()), want: scim(200) },
        Row {
            endpoint: "GET /scim/v2/Users",
            call: |_| get("/scim/v2/Users?filter=userName%20eq%20%22maria%22".into()),
            want: scim(200),
        },
        Row { endpoint: "GET /scim/v2/Users/{id}", call: |_| get("/scim/v2/Users/maria".into()), want: scim(200) },
        Row {
            endpoint: "POST /scim/v2/Users",
            call: |_| {
                post("/scim/v2/Users".into(), json!({"userName": "nina@support.example", "displayName": "Nina Ross"}))
            },
            want: scim(201),
        },
        Row {
            endpoint: "PUT /scim/v2/Users/{id}",
            call: |_| {
                (
                    Method::PUT,
                    "/scim/v2/Users/maria".into(),
                    Some(json!({"userName": "maria", "displayName": "Maria L."})),
                )
            },
            want: scim(200),
        },
        Row {
            endpoint: "PATCH /scim/v2/Users/{id}",
            call: |_| {
                let patch = json!({"schemas": [actas_core::scim::PATCH_SCHEMA],
                    "Operations": [{"op": "replace", "value": {"active": false}}]});
                (Method::PATCH, "/scim/v2/Users/maria".into(), Some(patch))
            },
            want: scim(200),
        },
        Row {
            endpoint: "DELETE /scim/v2/Users/{id}",
            call: |_| (Method::DELETE, "/scim/v2/Users/maria".into(), None),
            want: scim(204),
        },
    ]
}

/// What a caller may see through the API, reduced to a comparable value:
/// the trail's length and every request's and session's state.
async fn state(f: &Fx) -> (usize, Vec<(String, String)>, Vec<(String, String)>) {
    let c = f.app.counts().await;
    (c.events, c.requests, c.sessions)
}

/// Status, body and `Cache-Control` of one call.
async fn send(f: &Fx, who: usize, call: Call) -> (StatusCode, Value, Option<String>) {
    let (method, path, body) = call(f);
    let mut req = f.app.http.request(method, format!("{}{path}", f.app.base));
    if let Some(b) = &f.bearer[who] {
        req = req.bearer_auth(b);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let cache = res.headers().get("cache-control").and_then(|v| v.to_str().ok()).map(str::to_string);
    // The feed never ends: its status is enough.
    if res.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")) {
        return (status, Value::Null, cache);
    }
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), cache)
}

fn openapi_endpoints() -> BTreeSet<String> {
    let doc = serde_json::to_value(actas_server::http::openapi()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    out
}

#[test]
fn every_endpoint_of_the_api_has_a_row() {
    let rows: BTreeSet<String> = rows().iter().map(|r| r.endpoint.to_string()).collect();
    let missing: Vec<_> = openapi_endpoints().difference(&rows).cloned().collect();
    assert!(missing.is_empty(), "endpoints without a row in the need-to-know table: {missing:?}");
    let stale: Vec<_> = rows
        .iter()
        .filter(|r| !r.starts_with("GET /healthz") && !r.contains("jwks"))
        .filter(|r| !openapi_endpoints().contains(*r))
        .collect();
    assert!(stale.is_empty(), "rows for endpoints that do not exist: {stale:?}");
}

/// Whether the answers of an endpoint must say `Cache-Control: no-store`.
fn never_cached(endpoint: &str) -> bool {
    endpoint.contains(" /api/v1/") || endpoint.contains(" /scim/v2/")
}

async fn run_table(backend: Backend) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows() {
        let shared = fixture(&backend).await;
        let read_only = (row.call)(&shared).0 == Method::GET;
        for (who, want) in row.want.iter().enumerate() {
            let success = (200..300).contains(want);
            if success && !read_only {
                continue; // below, each on a server of its own
            }
            let before = if success { None } else { Some(state(&shared).await) };
            let (got, body, cache) = send(&shared, who, row.call).await;
            checked += 1;
            if got.as_u16() != *want {
                failures.push(format!("{} as {}: want {want}, got {got} {body}", row.endpoint, CALLERS[who]));
                continue;
            }
            if never_cached(row.endpoint) && cache != Some("no-store".to_string()) {
                failures.push(format!("{} as {}: Cache-Control {cache:?}", row.endpoint, CALLERS[who]));
            }
            if let Some(before) = before {
                if row.endpoint.contains(" /scim/v2/") {
                    if body["schemas"][0] != actas_core::scim::ERROR_SCHEMA || body["status"] != got.as_str() {
                        failures.push(format!("{} as {}: no SCIM error: {body}", row.endpoint, CALLERS[who]));
                    }
                } else if !success && got.as_u16() != 409 {
                    let t = body["type"].as_str().unwrap_or_default();
                    if !t.starts_with("urn:actas:problem:") {
                        failures.push(format!("{} as {}: no problem document: {body}", row.endpoint, CALLERS[who]));
                    }
                }
                let after = state(&shared).await;
                if after != before {
                    failures.push(format!("{} as {}: a refusal changed something", row.endpoint, CALLERS[who]));
                }
            }
        }
        for (who, want) in row.want.iter().enumerate() {
            if (200..300).contains(want) && !read_only {
                let own = fixture(&backend).await;
                let (got, body, cache) = send(&own, who, row.call).await;
                if never_cached(row.endpoint) && cache != Some("no-store".to_string()) {
                    failures.push(format!("{} as {}: Cache-Control {cache:?}", row.endpoint, CALLERS[who]));
                }
                checked += 1;
                if got.as_u16() != *want {
                    failures.push(format!("{} as {}: want {want}, got {got} {body}", row.endpoint, CALLERS[who]));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cells are wrong:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, rows().len() * CALLERS.len());
}

#[tokio::test]
async fn every_endpoint_answers_every_kind_of_caller_as_the_table_says_sqlite() {
    run_table(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_endpoint_answers_every_kind_of_caller_as_the_table_says_postgres() {
    let Some(backend) = Backend::postgres() else { return };
    run_table(backend).await;
}
