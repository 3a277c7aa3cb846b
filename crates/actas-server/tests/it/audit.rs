//! The audit trail: filters, paging, formats, verification, redaction,
//! and failing closed when it cannot be written.

use reqwest::StatusCode;
use serde_json::json;

use actas_server::testing::*;

backend_test!(async fn audit_search_filters_pages_and_exports(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    for _ in 0..5 {
        app.authorize(&token, "settings.view").await;
    }
    app.clock.advance(mins(1));
    app.authorize(&token, "billing.update").await;

    let (_, v) = app
        .get(&format!("/api/v1/audit?session={sid}"), &app.audrey)
        .await;
    let types: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "session.started");
    assert_eq!(types.iter().filter(|t| **t == "record.viewed").count(), 5);
    assert_eq!(types.last(), Some(&"action.denied"));

    let (_, v) = app.get("/api/v1/audit?type=action.denied", &app.sam).await;
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    let (_, v) = app.get("/api/v1/audit?type=action.denied,record.viewed&account=acct_42&agent=maria&ticket=48192", &app.sam).await;
    assert_eq!(v["events"].as_array().unwrap().len(), 6);
    let (_, v) = app.get("/api/v1/audit?agent=jon", &app.sam).await;
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        1,
        "only the staff.created event about jon: {v}"
    );
    let (_, v) = app
        .get("/api/v1/audit?since=2026-11-25T14:01:00Z", &app.sam)
        .await;
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    let (_, v) = app
        .get(
            "/api/v1/audit?until=2026-11-25T14:01:00Z&type=action.denied",
            &app.sam,
        )
        .await;
    assert_eq!(v["events"].as_array().unwrap().len(), 0);

    // Paging: oldest first, without gaps or repeats.
    let all = app.events().await;
    let mut paged = Vec::new();
    let mut path = "/api/v1/audit?limit=4".to_string();
    loop {
        let (_, v) = app.get(&path, &app.audrey).await;
        paged.extend(
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/audit?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        paged,
        all.iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>()
    );
    assert!(paged.windows(2).all(|w| w[1] == w[0] + 1));

    for (format, ct) in [
        ("jsonl", "application/x-ndjson"),
        ("csv", "text/csv; charset=utf-8"),
        ("text", "text/plain; charset=utf-8"),
    ] {
        let res = app
            .http
            .get(format!(
                "{}/api/v1/audit?session={sid}&format={format}",
                app.base
            ))
            .bearer_auth(&app.audrey)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], ct);
        let body = res.text().await.unwrap();
        let lines = body.lines().count();
        match format {
            "csv" => {
                assert_eq!(lines, 8, "header and 7 rows: {body}");
                assert!(body.starts_with("seq,id,at,type,actor_kind"));
            }
            "jsonl" => {
                assert_eq!(lines, 7);
                for l in body.lines() {
                    serde_json::from_str::<serde_json::Value>(l).unwrap();
                }
            }
            _ => {
                assert_eq!(lines, 7);
                assert!(
                    body.contains("Maria Lopez was refused \"Change billing details\""),
                    "{body}"
                );
            }
        }
    }
    let res = app
        .http
        .get(format!("{}/api/v1/audit?limit=2&format=text", app.base))
        .bearer_auth(&app.audrey)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-next-cursor"], "2");
});

backend_test!(async fn only_leads_and_auditors_read_the_trail(app) {
    assert_problem(
        &app.get("/api/v1/audit", &app.maria).await,
        403,
        "role-required",
    );
    assert_problem(
        &app.get("/api/v1/audit", &app.ada).await,
        403,
        "role-required",
    );
    assert_problem(&app.get("/api/v1/audit", &app.app).await, 403, "staff-only");
    assert_problem(
        &app.get("/api/v1/audit/verify", &app.sam).await,
        403,
        "role-required",
    );
    assert_eq!(
        app.get("/api/v1/audit/verify", &app.ada).await.0,
        StatusCode::OK
    );
});

backend_test!(async fn every_event_type_is_written_by_the_flow_and_the_chain_verifies(app) {
    // A session with a scope change, actions, a refusal, a denial and an end.
    let id = &app.request(&app.maria).actions(&["settings.view", "settings.update"]).send().await.id;
    app.approve(&app.sam, id, json!({})).await;
    let (_, started) = app.start(&app.maria, id).await;
    let sid = started["session"]["id"].as_str().unwrap();
    let token = started["token"].as_str().unwrap();
    app.authorize_with(token, "settings.update", json!({"changes": [{"field": "timezone", "old": "UTC", "new": "CET"}]})).await;
    app.authorize(token, "billing.update").await;
    app.authorize(token, "settings.view").await;
    let (_, sr) = app.post(&format!("/api/v1/sessions/{sid}/scope"), &app.maria, json!({"actions": ["billing.update"], "reason": "Customer asked us to fix the card on file"})).await;
    app.approve(&app.sam, sr["id"].as_str().unwrap(), json!({}))
        .await;
    let (_, sr2) = app.post(&format!("/api/v1/sessions/{sid}/scope"), &app.maria, json!({"actions": ["refund.issue"], "reason": "Customer asked for a refund of the double charge"})).await;
    app.post(
        &format!("/api/v1/requests/{}/deny", sr2["id"].as_str().unwrap()),
        &app.sam,
        json!({"note": "Finance handles refunds"}),
    )
    .await;
    app.post(
        "/api/v1/requests",
        &app.maria,
        json!({"ticket": "48192", "reason": "debug", "actions": ["settings.view"]}),
    )
    .await;
    let w = app.request(&app.maria).actions(&["refund.issue"]).send().await;
    app.post(
        &format!("/api/v1/requests/{}/withdraw", w.id),
        &app.maria,
        json!({}),
    )
    .await;
    let d = app.request(&app.maria).actions(&["refund.issue"]).send().await;
    app.post(
        &format!("/api/v1/requests/{}/deny", d.id),
        &app.sam,
        json!({"note": "no"}),
    )
    .await;
    // Step-ups: one used, one denied.
    let plan = json!({"action": "refund.issue", "changes": [{"field": "amount", "new": "40"}], "reason": "Customer was charged twice for the October invoice"});
    let (_, su) = app.post(&format!("/api/v1/sessions/{sid}/stepup"), &app.maria, plan).await;
    app.approve(&app.sam, su["id"].as_str().unwrap(), json!({})).await;
    app.authorize_with(token, "refund.issue", json!({"changes": [{"field": "amount", "new": "40"}]})).await;
    let (_, su2) = app.post(&format!("/api/v1/sessions/{sid}/stepup"), &app.maria, json!({"action": "credit.issue", "reason": "Customer asked for a credit for the October outage"})).await;
    app.post(&format!("/api/v1/requests/{}/deny", su2["id"].as_str().unwrap()), &app.sam, json!({"note": "Credits go through finance"})).await;
    app.end(&app.maria, sid).await;
    let notices = app.client.notices(0).await.unwrap();
    app.client.notice_delivered(&notices[0].id).await.unwrap();
    // Expiry, idle timeout and revoke.
    let s2 = app.session(&app.maria).actions(&["plan.view"]).minutes(5).start().await.id;
    app.clock.advance(mins(6));
    actas_server::service::reap(&app.ctx).await.unwrap();
    let s3 = app.session(&app.maria).actions(&["plan.view"]).minutes(30).start().await.id;
    app.clock.advance(mins(11));
    actas_server::service::reap(&app.ctx).await.unwrap();
    let s4 = app.session(&app.maria).actions(&["plan.view"]).start().await.id;
    let (_, code) = app.post(&format!("/api/v1/sessions/{s4}/entry"), &app.maria, json!({})).await;
    app.client.enter(code["code"].as_str().unwrap()).await.unwrap();
    app.post(
        &format!("/api/v1/sessions/{s4}/revoke"),
        &app.sam,
        json!({"note": "Done here"}),
    )
    .await;
    let _ = (s2, s3);
    let unstarted = app.request(&app.maria).actions(&["plan.view"]).send().await;
    app.clock.advance(mins(11));
    actas_server::service::reap(&app.ctx).await.unwrap();
    let (_, u) = app.get(&format!("/api/v1/requests/{}", unstarted.id), &app.sam).await;
    assert_eq!(u["status"], "expired");
    app.ctx
        .keys
        .rotate(
            &app.ctx.store,
            app.clock.now(),
            actas_core::audit::Actor::system(),
            actas_store::KeyRole::Token,
        )
        .await
        .unwrap();
    actas_server::service::disable_staff(&app.ctx, actas_core::audit::Actor::system(), "jon")
        .await
        .unwrap();
    actas_server::service::enable_staff(&app.ctx, actas_core::audit::Actor::system(), "jon").await.unwrap();
    // Lena signs in through the identity provider, which now makes her an auditor too.
    let lena = actas_server::service::ProviderIdentity {
        login: "lena".into(),
        name: "Lena Ortiz".into(),
        email: None,
        roles: vec![actas_core::model::Role::Lead, actas_core::model::Role::Auditor],
    };
    actas_server::service::sync_staff_from_provider(&app.ctx, lena).await.unwrap();
    // A Zendesk ticket with a live session, then solved.
    use actas_server::testing::webhooks::{deliver, zendesk_event, zendesk_signed};
    let desk = app
        .host_app("Acme Zendesk")
        .connector(actas_core::connector::Connector::Zendesk, "zendesk-secret-of-the-flow-test")
        .add()
        .await;
    let base = app.url("");
    for (n, status) in ["OPEN", "SOLVED"].into_iter().enumerate() {
        if status == "SOLVED" {
            app.session(&app.maria).ticket("70001").actions(&["settings.view"]).start().await;
        }
        let d = zendesk_signed("zendesk-secret-of-the-flow-test", app.clock.now(), &format!("inv-{n}"), &zendesk_event("70001", status));
        let (s, v) = deliver(&base, "zendesk", &desk.id, &d).await;
        assert!(s.is_success(), "{v}");
    }
    // An app registered without a connector gets one.
    let setup = actas_server::service::ConnectorSetup {
        kind: actas_core::connector::Connector::Jira,
        secret: "jira-secret-of-the-flow-test".to_string().into(),
        mapping: actas_core::connector::Mapping::default_for(actas_core::connector::Connector::Jira),
    };
    actas_server::service::set_connector(&app.ctx, actas_core::audit::Actor::system(), &app.app_id, setup, true)
        .await
        .unwrap();

    // The customer allows support in, then withdraws it while a session is live.
    let (st, g) = app.post("/api/v1/accounts/acct_42/grants", &app.app, json!({"hours": 2, "granted_by": "pat@acme.test"})).await;
    assert_eq!(st.as_u16(), 201, "{g}");
    app.session(&app.maria).actions(&["plan.view"]).start().await;
    let (_, c) = app.api.send(reqwest::Method::DELETE, "/api/v1/accounts/acct_42/grants", Some(&app.app), None).await;
    assert_eq!(c["sessions_ended"], 1, "{c}");

    // An outage: Bea breaks the glass, and a lead reviews her session.
    let bea = app
        .staff("bea")
        .name("Bea Stone")
        .roles([actas_core::model::Role::Agent, actas_core::model::Role::Breakglass])
        .add()
        .await;
    let (st, bg) = app.post("/api/v1/requests", &bea, json!({"ticket": "48192", "reason": "Sync outage: every account stuck since the deploy", "actions": ["sync.reset"], "breakglass": true})).await;
    assert_eq!(st.as_u16(), 201, "{bg}");
    let (_, bs) = app.start(&bea, bg["id"].as_str().unwrap()).await;
    let bsid = bs["session"]["id"].as_str().unwrap();
    app.end(&bea, bsid).await;
    let (st, rv) = app.post(&format!("/api/v1/sessions/{bsid}/review"), &app.sam, json!({"note": "One sync reset during the outage"})).await;
    assert_eq!(st.as_u16(), 200, "{rv}");

    // A webhook to a receiver that is not there: retried, then paused, then resumed.
    let hook = actas_server::service::add_webhook(
        &app.ctx,
        actas_core::audit::Actor::system(),
        "http://127.0.0.1:9/actas",
        &["session.started".to_string()],
    )
    .await
    .unwrap()
    .0;
    app.session(&app.jon).actions(&["plan.view"]).start().await;
    actas_server::service::deliver(&app.ctx).await.unwrap();
    for n in 1..actas_core::webhook::PAUSE_AFTER {
        app.clock.advance(actas_core::webhook::backoff(n));
        actas_server::service::deliver(&app.ctx).await.unwrap();
    }
    let (st, v) = app.post(&format!("/api/v1/webhooks/{}/resume", hook.id), &app.ada, json!({})).await;
    assert_eq!(st.as_u16(), 200, "{v}");
    let (st, v) = app.api.send(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{}", hook.id), Some(&app.ada), None).await;
    assert_eq!(st.as_u16(), 200, "{v}");

    let events = app.events().await;
    let mut seen: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    seen.sort();
    seen.dedup();
    let all: Vec<&str> = <actas_core::audit::EventType as strum::VariantArray>::VARIANTS
        .iter()
        .map(|t| t.as_str())
        .collect();
    let mut all_sorted = all.clone();
    all_sorted.sort();
    assert_eq!(seen, all_sorted, "every event type of the SPEC appears");
    for e in &events {
        assert!(!e["text"].as_str().unwrap().is_empty());
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    }
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["events"].as_u64().unwrap() as usize, events.len());
    assert!(v["checkpoints"].as_u64().unwrap() > 0);
});

backend_test!(async fn a_redacted_value_is_stored_nowhere(app) {
    let secret = "Sup3r-Secret-Passw0rd-value";
    let token = app.session(&app.maria).actions(&["password.reset", "settings.update"]).start().await.token;
    let change = json!({"changes": [{"field": "password", "old": "old-Passw0rd-value", "new": secret}]});
    let v = app.authorize_with(&token, "password.reset", change).await;
    assert!(v.allowed, "{v:?}");
    // A secret-looking field is redacted even under an action that is not.
    let v = app.authorize_with(&token, "settings.update", json!({"changes": [{"field": "api_key", "new": secret}]})).await;
    assert!(v.allowed, "{v:?}");
    let performed = app.events_of_type("action.performed").await;
    assert_eq!(performed[0]["text"].as_str().unwrap(), "Maria Lopez changed password (value not stored) on Acme Corp (acct_42) at 14:00 UTC under ticket 48192, acting as the customer.");
    assert_eq!(
        performed[0]["data"]["changes"][0]["new"],
        "(value not stored)"
    );
    for format in ["json", "jsonl", "csv", "text"] {
        let body = app.text(&format!("/api/v1/audit?format={format}&limit=1000"), &app.audrey).await;
        assert!(
            !body.contains(secret) && !body.contains("old-Passw0rd"),
            "{format}"
        );
    }
    // The whole answer as sent, not what the client reads of it.
    let (_, log) = app.get("/api/v1/accounts/acct_42/access-log", &app.app).await;
    assert!(!log.to_string().contains(secret));
    // Not in the database (the SQLite file and its log, or any PostgreSQL table).
    assert!(!app.stored_anywhere(secret).await);
    assert!(!app.stored_anywhere("old-Passw0rd-value").await);
    assert!(app.stored_anywhere("(value not stored)").await, "the search itself works");
});

backend_test!(async fn when_the_audit_cannot_be_written_the_answer_is_no(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view", "settings.update"]).start().await;
    let (_, before) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    let events_before = app.events().await.len();
    app.break_audit().await;
    app.clock.advance(mins(2));
    // The host app is answered with a problem, not a yes.
    let asked = json!({"token": token, "action": "settings.update", "changes": [{"field": "timezone", "new": "CET"}]});
    let got = app.post("/api/v1/authorize", &app.app, asked).await;
    assert_problem(&got, 503, "unavailable");
    assert!(
        !got.1["detail"].as_str().unwrap().contains("disk on fire"),
        "internal detail stays in the log"
    );
    // A refusal cannot be recorded either: still no answer.
    assert_problem(
        &app.post(
            "/api/v1/requests",
            &app.maria,
            json!({"ticket": "48192", "reason": "debug", "actions": ["settings.view"]}),
        )
        .await,
        503,
        "unavailable",
    );
    assert_problem(&app.end(&app.maria, &sid).await, 503, "unavailable");
    app.repair_audit().await;
    let (_, after) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(
        after["last_activity_at"], before["last_activity_at"],
        "the refused call counted for nothing"
    );
    assert_eq!(after["state"], "live");
    assert_eq!(app.events().await.len(), events_before);
    let v = app.authorize(&token, "settings.update").await;
    assert!(v.allowed, "recovers by itself");
    assert_eq!(app.verify().await["ok"], true);
});

backend_test!(async fn the_plain_lines_read_as_sentences(app) {
    let id = &app.request(&app.maria).actions(&["settings.view", "settings.update"]).send().await.id;
    app.approve(
        &app.sam,
        id,
        json!({"actions": ["settings.view", "invoice_email.update"]}),
    )
    .await;
    app.clock.advance(mins(2));
    let (_, started) = app.start(&app.maria, id).await;
    let token = started["token"].as_str().unwrap();
    app.clock.advance(mins(1));
    app.authorize_with(token, "invoice_email.update", json!({"changes": [{"field": "invoice_email", "old": "old@acme.test", "new": "new@acme.test"}]})).await;
    app.authorize_with(token, "settings.view", json!({"target": {"type": "settings page", "id": "tax"}})).await;
    app.authorize_with(token, "settings.view", json!({"target": {"account_id": "acct_7"}})).await;
    app.clock.advance(mins(11));
    app.authorize(token, "settings.view").await;
    // Setup lines carry random ids; the story is everything under the ticket.
    let lines: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["ticket"] == "48192")
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect();
    insta::assert_snapshot!("plain_lines", lines.join("\n"));
});

backend_test!(async fn secret_looking_and_unlisted_values_are_stored_nowhere(app) {
    let token = app.session(&app.maria).actions(&["settings.update", "bulk.edit"]).start().await.token;
    let secret_fields =
        ["newPassword", "x-api-key", "stripe_webhook_secret", "user.pin", "TOTPSeed", "cardCVC", "2fa_code", "session_cookie", "Authorization"];
    let value = |i: usize| format!("Leaked-Value-{i}-9f3c");
    // bulk.edit lists no store_values: ordinary fields are stored, secret-looking ones never.
    let mut changes: Vec<serde_json::Value> =
        secret_fields.iter().enumerate().map(|(i, f)| json!({"field": f, "old": value(i), "new": value(i + 100)})).collect();
    changes.push(json!({"field": "passenger_count", "old": "1", "new": "2"}));
    let v = app.authorize_with(&token, "bulk.edit", json!({"changes": changes})).await;
    assert!(v.allowed, "{v:?}");
    // settings.update lists its fields: an ordinary but unlisted field is not stored either.
    let changes = json!({"changes": [{"field": "timezone", "old": "UTC", "new": "CET"}, {"field": "nickname", "old": value(200), "new": value(201)}]});
    let v = app.authorize_with(&token, "settings.update", changes).await;
    assert!(v.allowed, "{v:?}");

    let performed = app.events_of_type("action.performed").await;
    let bulk = &performed[0]["data"]["changes"];
    for (i, f) in secret_fields.iter().enumerate() {
        assert_eq!(bulk[i]["field"], *f, "the field's name is kept");
        assert_eq!(bulk[i]["new"], "(value not stored)", "{f}");
    }
    assert_eq!(bulk[secret_fields.len()]["new"], "2", "an ordinary field of an unlisted action is stored");
    assert_eq!(
        performed[1]["text"].as_str().unwrap(),
        "Maria Lopez changed timezone from UTC to CET and nickname (value not stored) on Acme Corp (acct_42) at 14:00 UTC under ticket 48192, acting as the customer."
    );
    for i in [0, 100, 8, 108, 200, 201] {
        assert!(!app.stored_anywhere(&value(i)).await, "{}", value(i));
    }
    assert!(app.stored_anywhere("passenger").await, "the search itself works");
});

backend_test!(async fn a_checkpoint_key_put_in_behind_the_servers_back_is_not_taken_on(app) {
    // Someone with write access to the database but not the KEK adds a
    // checkpoint key of their own and a checkpoint signed with it.
    let token = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");
    let head = v["events"].as_u64().unwrap();
    let sealed_kek = "v1:kek_0000000000000000:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAA";
    app.sql(&format!(
        "INSERT INTO signing_keys (kid, role, private_key, public_key, created_at) \
         VALUES ('k_put_in', 'checkpoint', '{sealed_kek}', '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', 9999999999999999); \
         DELETE FROM audit_checkpoints WHERE seq = {head}; \
         INSERT INTO audit_checkpoints (seq, hash, kid, signature, at) \
         SELECT seq, hash, 'k_put_in', 'AAAA', 0 FROM audit_events WHERE seq = {head}"
    ))
    .await;
    // The server keeps the keys it loaded, so the checkpoint has no valid
    // signature, and verifying says so instead of failing.
    let v = app.verify().await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_bad"].as_u64(), Some(head), "{v}");
    assert!(v["problem"].as_str().unwrap().contains("no valid signature"), "{v}");
    let (status, keys) = app.get("/api/v1/audit/keys", &app.audrey).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert!(keys["keys"].as_array().unwrap().iter().all(|k| k["kid"] != "k_put_in"), "{keys}");
    // Tokens still work: the loaded keys were not replaced.
    let v = app.authorize(&token, "settings.view").await;
    assert!(v.allowed, "{v:?}");
});

/// The checkpoints stored, by seq.
async fn checkpoint_seqs(app: &TestApp) -> Vec<i64> {
    let cps = app
        .ctx
        .store
        .read(actas_store::read_fn(|tx| Box::pin(async move { tx.list_checkpoints(0, i64::MAX).await })))
        .await
        .unwrap();
    cps.into_iter().map(|c| c.seq).collect()
}

async fn head_seq(app: &TestApp) -> i64 {
    let head = app
        .ctx
        .store
        .read(actas_store::read_fn(|tx| Box::pin(async move { tx.get_event_head().await })))
        .await
        .unwrap();
    head.map_or(0, |h| h.0)
}

#[tokio::test]
async fn the_head_is_signed_every_n_events_not_for_every_write() {
    let schedule = actas_store::CheckpointSchedule { events: 8, every: std::time::Duration::from_secs(3600) };
    let app = TestApp::configured(move |c| c.checkpoints = schedule).await;
    let token = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    let before = checkpoint_seqs(&app).await;
    let from = head_seq(&app).await;
    // One after the other: each its own write batch.
    for _ in 0..40 {
        assert!(app.authorize(&token, "settings.view").await.allowed);
    }
    let signed: Vec<i64> = checkpoint_seqs(&app).await.into_iter().filter(|s| !before.contains(s)).collect();
    assert!((4..=6).contains(&signed.len()), "40 events, a signature every 8: {signed:?} after {from}");
    for pair in signed.windows(2) {
        assert!(pair[1] - pair[0] >= 8, "signed closer than 8 events apart: {signed:?}");
    }
    // Before stopping, the server signs the head it leaves.
    let head = head_seq(&app).await;
    assert!(!checkpoint_seqs(&app).await.contains(&head), "the last events wait for their signature");
    app.ctx.store.sign_head().await.unwrap();
    assert!(checkpoint_seqs(&app).await.contains(&head));
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn a_head_left_unsigned_is_signed_by_itself_within_the_interval() {
    let schedule = actas_store::CheckpointSchedule { events: 1_000_000, every: std::time::Duration::from_millis(300) };
    let app = TestApp::configured(move |c| c.checkpoints = schedule).await;
    let token = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    let before = checkpoint_seqs(&app).await.len();
    let started = std::time::Instant::now();
    for _ in 0..30 {
        assert!(app.authorize(&token, "settings.view").await.allowed);
    }
    let took = started.elapsed().as_millis() as usize;
    let head = head_seq(&app).await;
    // No write comes after the last one; the writer signs its head anyway.
    wait_until(std::time::Duration::from_secs(3), "the last head to be signed", || async {
        checkpoint_seqs(&app).await.contains(&head)
    })
    .await;
    let added = checkpoint_seqs(&app).await.len() - before;
    assert!(added <= took / 300 + 2, "{added} signatures for 30 writes in {took} ms, at most one per 300 ms");
}

/// The verification as it was before it read ahead and streamed the
/// checkpoints: every checkpoint first, into one map with the heads and
/// witness lines, then one page of events after the other. Kept as the
/// reference whose verdicts and words the service must repeat.
async fn verify_as_before(
    ctx: &actas_server::Ctx,
    known_heads: &[(i64, String)],
    witnessed: &[actas_server::witness::Line],
) -> actas_core::Result<actas_api::Verification> {
    use std::collections::BTreeMap;

    use actas_core::audit::ChainVerifier;
    use actas_store::{read_fn, EventFilter};

    #[derive(Debug, Clone)]
    enum Vouch {
        Checkpoint,
        Head,
        Witness { at: String },
    }
    impl Vouch {
        fn says(&self) -> String {
            match self {
                Vouch::Checkpoint => "a signed checkpoint vouches for".into(),
                Vouch::Head => "the head given to check is".into(),
                Vouch::Witness { at } => format!("the witness recorded, at {at}, a head at"),
            }
        }
        fn mismatch(&self, seq: i64) -> String {
            match self {
                Vouch::Checkpoint => format!("event {seq} does not match its signed checkpoint"),
                Vouch::Head => format!("event {seq} does not match the head given to check"),
                Vouch::Witness { at } => format!(
                    "event {seq} does not match the head the witness recorded at {at}: the trail was rewritten at or before event {seq}"
                ),
            }
        }
    }

    let _ = ctx.keys.refresh(&ctx.store).await;
    let checkpoints =
        ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_checkpoints(0, i64::MAX).await }))).await?;
    let mut bad: Option<(i64, String)> = None;
    let mut vouched: BTreeMap<i64, (String, Vouch)> = BTreeMap::new();
    for cp in &checkpoints {
        if !ctx.keys.verify_checkpoint(cp) {
            bad.get_or_insert((cp.seq, format!("the checkpoint for event {} has no valid signature", cp.seq)));
        }
        vouched.insert(cp.seq, (cp.hash.clone(), Vouch::Checkpoint));
    }
    for (seq, hash) in known_heads {
        vouched.insert(*seq, (hash.clone(), Vouch::Head));
    }
    for w in witnessed {
        if !ctx.keys.verify_head(&w.kid, w.seq, &w.hash, &w.signature) {
            let problem = format!(
                "the witness line for event {} (recorded at {}) does not verify with checkpoint key {} of this database: its checkpoint keys were replaced",
                w.seq, w.at, w.kid
            );
            bad = Some(match bad {
                Some(prev) if prev.0 <= w.seq => prev,
                _ => (w.seq, problem),
            });
        }
        vouched.insert(w.seq, (w.hash.clone(), Vouch::Witness { at: w.at.clone() }));
    }
    let mut chain = ChainVerifier::default();
    let mut f = EventFilter { limit: 1000, ..Default::default() };
    'pages: loop {
        let page = {
            let f = f.clone();
            ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await?
        };
        for e in &page {
            if let Err(b) = chain.push(e) {
                bad = Some(match bad {
                    Some(prev) if prev.0 < b.seq => prev,
                    _ => (b.seq, b.problem),
                });
                break 'pages;
            }
            if let Some((h, by)) = vouched.get(&e.seq) {
                if *h != e.hash {
                    bad = Some(match bad {
                        Some(prev) if prev.0 <= e.seq => prev,
                        _ => (e.seq, by.mismatch(e.seq)),
                    });
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => f.after_seq = Some(last.seq),
            _ => break,
        }
    }
    let (head_seq, head_hash) = chain.head();
    if let Some((&seq, (_, by))) = vouched.range(head_seq + 1..).next() {
        if bad.is_none() {
            bad = Some((
                head_seq + 1,
                format!(
                    "the chain ends at event {head_seq}, but {} event {seq}: events after {head_seq} were removed",
                    by.says()
                ),
            ));
        }
    }
    Ok(actas_api::Verification {
        ok: bad.is_none(),
        events: chain.count(),
        head: (head_seq > 0).then(|| head_hash.to_string()),
        first_bad: bad.as_ref().map(|b| b.0),
        problem: bad.map(|b| b.1),
        checkpoints: checkpoints.len() as u64,
    })
}

backend_test!(async fn verifying_a_trail_of_many_pages_finds_what_it_always_found(app) {
    use actas_core::audit::{data::Nothing, Actor, Checkpoint, EventData, NewEvent};
    use actas_server::witness::Line;
    use actas_store::{read_fn, write_fn, HeadSigner};

    // Write batches of many sizes, each signing a checkpoint of its head,
    // so that checkpoints fall on, just before and just after the pages'
    // ends (every 1000 events).
    app.ctx.store.set_checkpoint_schedule(actas_store::CheckpointSchedule::every_batch());
    for (b, n) in [1usize, 3, 990, 5, 1, 999, 2, 1, 500, 497, 1, 250, 249, 3, 700].into_iter().enumerate() {
        let at = app.clock.now();
        app.ctx
            .store
            .write(write_fn(move |tx| {
                Box::pin(async move {
                    for i in 0..n {
                        let e = NewEvent::new(at, Actor::system(), format!("batch {b}, event {i}"), EventData::RequestWithdrawn(Nothing {}));
                        tx.append_event(e).await?;
                    }
                    Ok(())
                })
            }))
            .await
            .unwrap();
    }
    let head = app.verify().await["events"].as_i64().unwrap();
    assert!(head > 4200, "{head} events");
    let signer = actas_server::keys::HeadSigner { keys: app.ctx.keys.clone(), clock: app.clock.clone(), witness: None };
    let sign = |seq: i64, hash: &str| signer.sign_head(seq, hash).unwrap();
    let line = |cp: &Checkpoint| Line {
        seq: cp.seq,
        hash: cp.hash.clone(),
        at: format!("{}", cp.at),
        kid: cp.kid.clone(),
        signature: cp.signature.clone(),
    };
    let checkpoints = app.ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_checkpoints(0, i64::MAX).await }))).await.unwrap();
    assert!(checkpoints.len() > 12);
    let hash_of = |seq: i64| checkpoints.iter().find(|cp| cp.seq == seq).map(|cp| cp.hash.clone());
    let mid = &checkpoints[checkpoints.len() / 2];
    let late = &checkpoints[checkpoints.len() - 3];
    let f64s = "f".repeat(64);
    // What the caller brings: nothing; heads and witness lines that hold
    // (and one head beyond the end); lines that do not verify or name
    // another hash, on either side of the damage below.
    type Heads = Vec<(i64, String)>;
    let asks: Vec<(Heads, Vec<Line>)> = vec![
        (vec![], vec![]),
        (vec![(mid.seq, mid.hash.clone()), (head + 7, f64s.clone())], vec![line(mid), line(late)]),
        (vec![(1000, f64s.clone())], vec![line(&sign(late.seq, &f64s)), Line { signature: "AAAA".into(), ..line(mid) }]),
        (vec![], vec![line(&sign(head + 2, &f64s)), line(&sign(1500, &f64s))]),
        (vec![(2500, f64s.clone())], vec![Line { signature: "AAAA".into(), ..line(&sign(2500, &f64s)) }]),
        (vec![(head + 3, f64s.clone())], vec![]),
        (vec![(3999, f64s.clone())], vec![]),
    ];
    let insert = |cp: Checkpoint| {
        format!(
            "DELETE FROM audit_checkpoints WHERE seq = {seq}; INSERT INTO audit_checkpoints (seq, hash, kid, signature, at) VALUES ({seq}, '{}', '{}', '{}', 0)",
            cp.hash,
            cp.kid,
            cp.signature,
            seq = cp.seq
        )
    };
    // Each damage lands before the ones made earlier, so the first problem
    // moves forward through the pages; the last two make rows that cannot
    // be read, after the chain's break (neither walk reads that far) and
    // before it: the old walk failed there, the walk now names the row.
    let damages = vec![
        String::new(),
        insert(sign(head + 3, &f64s)),
        format!("DELETE FROM audit_events WHERE seq > {}", head - 5),
        insert(sign(4100, &f64s)),
        insert(Checkpoint { signature: "AAAA".into(), ..sign(3999, &hash_of(3999).unwrap_or_else(|| f64s.clone())) }),
        insert(Checkpoint { signature: "AAAA".into(), ..sign(3001, &f64s) }),
        "UPDATE audit_events SET text = text || '!' WHERE seq = 3001".into(),
        "DELETE FROM audit_events WHERE seq = 2001".into(),
        format!("UPDATE audit_events SET prev_hash = '{f64s}' WHERE seq = 1000"),
        "UPDATE audit_events SET type = 'no.such_type' WHERE seq = 1500".into(),
        "UPDATE audit_events SET type = 'no.such_type' WHERE seq = 600".into(),
    ];
    app.unlock_trail().await;
    let mut unreadable = 0;
    for damage in damages {
        if !damage.is_empty() {
            app.sql(&damage).await;
        }
        for (heads, lines) in &asks {
            let now = actas_server::service::verify_against(&app.ctx, heads, lines).await;
            let before = verify_as_before(&app.ctx, heads, lines).await;
            match (now, before) {
                (Ok(now), Ok(before)) => assert_eq!(
                    serde_json::to_value(&now).unwrap(),
                    serde_json::to_value(&before).unwrap(),
                    "after {damage:?}, given {heads:?}"
                ),
                (Ok(now), Err(_)) => {
                    assert_eq!(now.first_bad, Some(600), "after {damage:?}, given {heads:?}: {now:?}");
                    assert!(now.problem.as_deref().is_some_and(|p| p.contains("cannot be read")), "{now:?}");
                    unreadable += 1;
                }
                (now, before) => panic!("after {damage:?}, given {heads:?}: {now:?} but before {before:?}"),
            }
        }
    }
    assert_eq!(unreadable, asks.len(), "only a row the walk reaches is named");
});

/// Appends ten batches of 100 events a minute apart, and answers when the
/// sixth began: an archive before then seals the first five (and all
/// before them).
async fn ten_minutes_of_events(app: &TestApp) -> actas_core::Timestamp {
    use actas_core::audit::{data::Nothing, Actor, EventData, NewEvent};
    use actas_store::write_fn;
    let mut sixth = app.clock.now();
    for b in 0..10 {
        if b == 5 {
            sixth = app.clock.now();
        }
        let at = app.clock.now();
        app.ctx
            .store
            .write(write_fn(move |tx| {
                Box::pin(async move {
                    for i in 0..100 {
                        let text = format!("batch {b}, event {i}");
                        tx.append_event(NewEvent::new(
                            at,
                            Actor::system(),
                            text,
                            EventData::RequestWithdrawn(Nothing {}),
                        ))
                        .await?;
                    }
                    Ok(())
                })
            }))
            .await
            .unwrap();
        app.clock.advance(mins(1));
    }
    sixth
}

/// Pages of 100 events read one at a time; before the page after seq
/// `at`, an archive of the events before `before` into `dir` runs to its
/// end.
fn archiving_before_page(
    app: &TestApp,
    at: i64,
    before: actas_core::Timestamp,
    dir: &std::path::Path,
) -> actas_server::service::Paging {
    let (ctx, dir) = (app.ctx.clone(), dir.to_path_buf());
    actas_server::service::Paging::of(100, 1).before_each_read(std::sync::Arc::new(move |after| {
        let (ctx, dir) = (ctx.clone(), dir.clone());
        Box::pin(async move {
            if after == at {
                let done = actas_server::service::archive(&ctx, before, &dir, 100).await.unwrap();
                assert!(!done.segments.is_empty(), "the archive sealed nothing");
            }
        })
    }))
}

backend_test!(async fn a_verification_goes_on_past_events_an_archive_seals_and_removes_meanwhile(app) {
    use actas_server::service::verify_trail_paged;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // Three pages are checked; then an archive seals and removes them and
    // more. The walk goes on past the newest sealed head, as a
    // verification started then would.
    let before = ten_minutes_of_events(&app).await;
    let paging = archiving_before_page(&app, 300, before, dir);
    let (v, sealed) = verify_trail_paged(&app.ctx, &[], &[], None, &paging).await.unwrap();
    let (head, through) = (head_seq(&app).await, sealed.sealed_through.unwrap());
    assert!(v.ok, "{v:?}");
    assert!(through > 400, "the archive sealed the page read next: through {through}");
    assert_eq!(v.events, 300 + (head - through) as u64, "{v:?}, sealed through {through}");
    assert_eq!(sealed.segments as i64, (through + 99) / 100);
    let started_now = actas_server::service::verify_trail(&app.ctx, &[], &[], None).await.unwrap();
    assert_eq!((started_now.0.ok, started_now.0.head.clone(), started_now.1.sealed_through), (true, v.head.clone(), Some(through)));

    // With the archive's folder: the new segments are checked from their
    // files, and every event is counted once.
    let before = ten_minutes_of_events(&app).await;
    let paging = archiving_before_page(&app, through + 200, before, dir);
    let (v, sealed) = verify_trail_paged(&app.ctx, &[], &[], Some(dir), &paging).await.unwrap();
    let (head, now_through) = (head_seq(&app).await, sealed.sealed_through.unwrap());
    assert!(v.ok, "{v:?}");
    assert!(now_through > through + 300, "sealed through {now_through}");
    assert_eq!((v.events, sealed.archived_events), (head as u64, now_through as u64), "{v:?}");
    let started_now = actas_server::service::verify_trail(&app.ctx, &[], &[], Some(dir)).await.unwrap();
    assert_eq!((started_now.0.events, started_now.0.checkpoints), (v.events, v.checkpoints));

    // Events missing beyond what was sealed are still missing.
    let before = ten_minutes_of_events(&app).await;
    let gone = head_seq(&app).await - 50;
    app.unlock_trail().await;
    app.sql(&format!("DELETE FROM audit_events WHERE seq = {gone}")).await;
    let through = now_through;
    for archive in [None, Some(dir)] {
        let at = head_seq(&app).await - 1000 + 100;
        let paging = archiving_before_page(&app, at.max(through), before, dir);
        let (v, _) = verify_trail_paged(&app.ctx, &[], &[], archive, &paging).await.unwrap();
        assert_eq!(v.first_bad, Some(gone), "{v:?}");
        assert!(v.problem.as_deref().is_some_and(|p| p.contains(&format!("event {gone} is missing"))), "{v:?}");
    }
});

backend_test!(async fn a_verification_says_so_when_the_segments_it_began_with_change_while_it_walks(app) {
    use actas_server::service::{archive, verify_trail_paged, Paging};
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let before = ten_minutes_of_events(&app).await;
    let sealed = archive(&app.ctx, before, dir, 100).await.unwrap().sealed_through.unwrap();
    // Halfway through the walk, someone with write access to the database
    // removes the next events and puts, in place of the segments recorded
    // when the walk began, one that claims to seal them.
    let (at, cut) = (sealed + 100, sealed + 150);
    let segments =
        app.ctx.store.read(actas_store::read_fn(|tx| Box::pin(async move { tx.list_segments().await }))).await.unwrap();
    let last = segments.last().unwrap();
    let mut forged: serde_json::Value = serde_json::from_str(&last.manifest).unwrap();
    forged["last_seq"] = json!(cut);
    app.unlock_trail().await;
    app.unlock_segments().await;
    let sql = app.sql_later();
    let tamper = format!(
        "DELETE FROM audit_events WHERE seq > {at} AND seq <= {cut}; DELETE FROM audit_segments; \
         INSERT INTO audit_segments (last_seq, first_seq, manifest, sealed_at) VALUES ({cut}, {}, '{}', 0);",
        last.first_seq,
        forged.to_string().replace('\'', "''"),
    );
    let paging = Paging::of(100, 1).before_each_read(std::sync::Arc::new(move |after| {
        let (sql, tamper) = (sql.clone(), tamper.clone());
        Box::pin(async move {
            if after == at {
                sql.run(&tamper).await;
            }
        })
    }));
    let (v, _) = verify_trail_paged(&app.ctx, &[], &[], None, &paging).await.unwrap();
    assert!(!v.ok, "{v:?}");
    assert_eq!(v.first_bad, Some(at + 1), "{v:?}");
    let problem = v.problem.as_deref().unwrap_or_default();
    assert!(problem.contains("the segments recorded before are not all there as they were"), "{v:?}");
    // A walk begun now finds the forged segment before any event.
    let (now, _) = actas_server::service::verify_trail(&app.ctx, &[], &[], Some(dir)).await.unwrap();
    assert!(!now.ok, "{now:?}");
});

backend_test!(async fn an_archive_that_finds_events_another_sealed_meanwhile_stops_and_says_so(app) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let before = ten_minutes_of_events(&app).await;
    // This run seals two segments; then another seals the rest.
    let paging = archiving_before_page(&app, 200, before, dir);
    let err = actas_server::service::archive_paged(&app.ctx, before, dir, 100, &paging).await.unwrap_err().to_string();
    assert!(err.contains("another archive sealed events through") && err.contains("stopped after event 200"), "{err}");
    // What both recorded is in the folder as recorded, and a run again
    // has nothing left to do.
    let (v, sealed) = actas_server::service::verify_trail(&app.ctx, &[], &[], Some(dir)).await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.events as i64, head_seq(&app).await);
    let again = actas_server::service::archive(&app.ctx, before, dir, 100).await.unwrap();
    assert!(again.segments.is_empty(), "{again:?}");
    assert_eq!(again.sealed_through, sealed.sealed_through);
});
