//! What the plan tests run: every method of the store's transaction, with
//! every search the server makes, against a trail of 30,000 events over 40
//! sessions of 10 agents on 20 accounts.

use actas_core::audit::data::{ActionPerformed, PolicyLoaded};
use actas_core::audit::{Actor, EventData, EventType, NewEvent};
use actas_core::model::{Decision, DecisionKind, Notice, NoticeData};
use actas_core::Timestamp;
use actas_store::testing::{agent, approved_request, live_session, t0, ticket};
use actas_store::{
    read_fn, write_fn, ConsoleSession, EntryCode, EventFilter, KeyRecord, KeyRole, RequestFilter, SessionFilter, Store,
};

fn minutes(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

fn event(i: usize, at: Timestamp, session: &actas_core::model::Session) -> NewEvent {
    if i % 7 == 0 {
        let data = PolicyLoaded { sha256: format!("{i:064x}"), actions: 1, scope_change: "reapprove".into() };
        NewEvent::new(at, Actor::system(), format!("event {i}"), EventData::PolicyLoaded(data))
    } else {
        let done = ActionPerformed {
            action: "settings.update".into(),
            label: "Update account settings".into(),
            allowed: true,
            reason: "ok".into(),
            target: None,
            changes: Vec::new(),
            summary: format!("changed setting {i}"),
            app: "app_1".into(),
        };
        NewEvent::new(
            at,
            Actor::staff(&session.agent, &session.agent_name),
            format!("event {i}"),
            EventData::ActionPerformed(done),
        )
        .about_session(session)
    }
}

/// Tables whose rows grow with use: a plan may search them, never scan them.
pub const GROWING: &[&str] = &[
    "audit_events",
    "sessions",
    "requests",
    "decisions",
    "notices",
    "entry_codes",
    "credentials",
    "console_sessions",
    "tickets",
    "connector_deliveries",
    "webhook_deliveries",
];

/// Partial indexes that hold only what is live or waiting (live sessions,
/// approvals not yet started): bounded by what is going on now, so walking
/// one whole is fine.
pub const BOUNDED: &[&str] = &[
    "sessions_live",
    "sessions_live_by_end",
    "sessions_live_by_activity",
    "requests_approved_by_start",
    // Break-glass sessions no lead has reviewed yet: leads clear them.
    "sessions_awaiting_review",
];

/// Seeds the trail and calls every port; fails when a search does not find
/// what it looks for (the plans are of real work).
pub async fn run(store: &Store) {
    // A trail of 30,000 events over 40 sessions of 10 agents on 20 accounts.
    let mut sessions = Vec::new();
    for n in 0..40 {
        let t = ticket(&format!("T{n}"), &format!("acct_{}", n % 20));
        let r = approved_request(&format!("req_{n}"), &t, &format!("agent{}", n % 10));
        let mut s = live_session(&format!("ses_{n}"), &r, &format!("agent{}", n % 10));
        s.state = actas_core::model::SessionState::Ended;
        sessions.push((t, r, s));
    }
    let rows = sessions.clone();
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                for n in 0..10 {
                    tx.insert_staff(&agent(&format!("agent{n}"), "A")).await?;
                }
                for (t, r, s) in &rows {
                    tx.insert_ticket(t).await?;
                    tx.insert_request(r).await?;
                    tx.insert_session(s).await?;
                }
                Ok(())
            })
        }))
        .await
        .unwrap();
    for chunk in 0..6 {
        let batch: Vec<NewEvent> = (0..5000)
            .map(|i| {
                let i = chunk * 5000 + i;
                event(i, t0() + chrono::Duration::seconds(i as i64), &sessions[i % 40].2)
            })
            .collect();
        store
            .write(write_fn(move |tx| {
                Box::pin(async move {
                    for e in batch {
                        tx.append_event(e).await?;
                    }
                    Ok(())
                })
            }))
            .await
            .unwrap();
    }

    // Every method of the transaction, and every search the server makes.
    let (t, r, s) = sessions[3].clone();
    let live = {
        let mut l = live_session("ses_live", &r, "agent3");
        l.ends_at = t0() + minutes(30);
        l
    };
    let at = t0() + minutes(60);
    store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.get_ticket(&t.reference).await?;
                tx.update_ticket(&actas_core::model::Ticket { assignee: Some("agent1".into()), ..t.clone() }).await?;
                assert_eq!(tx.list_open_tickets(Some("agent1"), 50).await?.len(), 1, "the inbox finds the ticket");
                assert_eq!(tx.list_open_tickets(None, 20).await?.len(), 20, "and the unassigned ones, to the limit");
                tx.get_staff("agent1").await?;
                tx.list_staff().await?;
                tx.update_staff(&agent("agent1", "B")).await?;
                tx.set_staff_password("agent1", Some("x")).await?;
                tx.get_staff_password("agent1").await?;
                let profile = actas_store::StaffProfile {
                    external_id: Some("ext-1".into()),
                    email: Some("agent1@example.test".into()),
                    updated_at: Some(at),
                    username: Some("agent.one@example.test".into()),
                };
                tx.set_staff_profile("agent1", &profile).await?;
                tx.get_staff_profile("agent1").await?;
                tx.list_staff_profiles().await?;
                let found = tx.find_staff_by_username("agent.one@example.test").await?;
                assert_eq!(found.map(|(s, _)| s.id).as_deref(), Some("agent1"), "found by the name it was given");
                assert!(tx.find_staff_by_username("agent1").await?.is_none(), "not by its login once renamed");
                assert!(tx.find_staff_by_username("agent2").await?.is_some(), "a login never renamed is its name");
                let cs = ConsoleSession {
                    id_hash: "h".into(),
                    staff_id: "agent1".into(),
                    csrf: "c".into(),
                    created_at: at,
                    last_seen_at: at,
                };
                tx.insert_console_session(&cs).await?;
                tx.get_console_session("h").await?;
                tx.touch_console_session("h", at).await?;
                tx.delete_console_session("h").await?;
                tx.insert_credential("ch", "staff", "agent1", at).await?;
                tx.find_credential("ch").await?;
                let app = actas_core::model::App {
                    id: "app_1".into(),
                    name: "App".into(),
                    tickets: true,
                    scim: false,
                    consent: true,
                    origins: vec![],
                    entry_url: None,
                    created_at: at,
                };
                tx.insert_app(&app).await?;
                tx.get_app("app_1").await?;
                tx.list_apps().await?;
                let grant = actas_core::model::Grant {
                    id: "grt_1".into(),
                    account_id: "acct_1".into(),
                    app_id: "app_1".into(),
                    granted_by: "pat@acme.test".into(),
                    hours: 24,
                    created_at: at,
                    expires_at: at + minutes(24 * 60),
                    revoked_at: None,
                    revoked_by: None,
                };
                tx.insert_grant(&grant).await?;
                assert_eq!(tx.list_grants("acct_1", 10).await?, vec![grant.clone()]);
                tx.revoke_grant("grt_1", at, "pat@acme.test").await?;
                assert_eq!(tx.list_grants("acct_1", 10).await?[0].revoked_by.as_deref(), Some("pat@acme.test"));
                assert_eq!(tx.account_consent("acct_1").await?, None);
                tx.set_account_consent("acct_1", true, "pat@acme.test", at).await?;
                tx.set_account_consent("acct_1", false, "pat@acme.test", at).await?;
                assert_eq!(tx.account_consent("acct_1").await?, Some(false));
                let connector = actas_store::ConnectorRecord {
                    app_id: "app_1".into(),
                    kind: actas_core::connector::Connector::Zendesk,
                    secret: "v1:sealed".into(),
                    mapping: actas_core::connector::Mapping::default_for(actas_core::connector::Connector::Zendesk),
                    created_at: at,
                };
                tx.insert_connector(&connector).await?;
                assert_eq!(tx.get_connector("app_1").await?, Some(connector.clone()));
                let replaced = actas_store::ConnectorRecord { secret: "v1:sealed-again".into(), ..connector };
                assert!(tx.replace_connector(&replaced).await?);
                assert_eq!(tx.get_connector("app_1").await?, Some(replaced.clone()));
                let none = actas_store::ConnectorRecord { app_id: "app_none".into(), ..replaced };
                assert!(!tx.replace_connector(&none).await?, "no connector to replace");
                assert!(tx.record_delivery("d1", at).await?);
                assert!(!tx.record_delivery("d1", at).await?, "a replay is seen");
                tx.prune_deliveries(at - minutes(10)).await?;
                tx.insert_session(&live).await?;
                let code = EntryCode {
                    hash: "e".into(),
                    session_id: live.id.clone(),
                    created_at: at,
                    expires_at: at,
                    used_at: None,
                };
                tx.insert_entry_code(&code).await?;
                tx.get_entry_code("e").await?;
                tx.use_entry_code("e", at).await?;
                tx.update_request(&r).await?;
                tx.get_request(&r.id).await?;
                tx.list_lapsed_requests(at).await?;
                for f in [
                    RequestFilter { status: Some(actas_core::model::RequestStatus::Pending), ..Default::default() },
                    RequestFilter { requester: Some("agent1".into()), ..Default::default() },
                    RequestFilter { ticket: Some(t.reference.clone()), ..Default::default() },
                    RequestFilter { session_id: Some(s.id.clone()), ..Default::default() },
                ] {
                    tx.list_requests(&f).await?;
                }
                let d = Decision {
                    id: "dec_1".into(),
                    request_id: r.id.clone(),
                    kind: DecisionKind::Approve,
                    decider: "lead".into(),
                    decider_name: "Lead".into(),
                    actions: vec![],
                    minutes: 15,
                    removed: vec![],
                    added: vec![],
                    note: None,
                    at,
                };
                tx.insert_decision(&d).await?;
                tx.list_decisions(&r.id).await?;
                tx.update_session(&s).await?;
                tx.touch_session(&live.id, at).await?;
                tx.get_session(&s.id).await?;
                tx.find_live_session("agent3").await?;
                tx.list_due_sessions(at, at - minutes(10), 64).await?;
                for f in [
                    SessionFilter { account_id: Some("acct_3".into()), ..Default::default() },
                    SessionFilter {
                        account_id: Some("acct_3".into()),
                        app_id: Some("app_1".into()),
                        ..Default::default()
                    },
                    SessionFilter { ticket: Some(t.reference.clone()), ..Default::default() },
                    SessionFilter { ticket: Some(t.reference.clone()), live_only: true, ..Default::default() },
                    SessionFilter { agent: Some("agent3".into()), ..Default::default() },
                    SessionFilter { request_id: Some(r.id.clone()), ..Default::default() },
                    SessionFilter { app_id: Some("app_1".into()), ..Default::default() },
                    SessionFilter { live_only: true, ..Default::default() },
                    SessionFilter { awaiting_review: true, ..Default::default() },
                ] {
                    tx.list_sessions(&f).await?;
                }
                // The support metrics: the sessions of a window and their requests.
                tx.get_sessions(&[s.id.clone(), live.id.clone(), "ses_missing".into()]).await?;
                tx.get_requests(&[r.id.clone(), "req_missing".into()]).await?;
                let key = KeyRecord {
                    kid: "k".into(),
                    role: KeyRole::Token,
                    private_key: "p".into(),
                    public_key: "q".into(),
                    created_at: at,
                    retired_at: None,
                };
                tx.insert_key(&key).await?;
                tx.update_key_secret("k", "p2").await?;
                tx.retire_key("k", at).await?;
                tx.list_keys().await?;
                tx.get_event_head().await?;
                tx.append_event(event(1, at, &s)).await?;
                let cp = actas_core::audit::Checkpoint {
                    seq: 1,
                    hash: "h".into(),
                    kid: "k".into(),
                    signature: "s".into(),
                    at,
                };
                tx.insert_checkpoint(&cp).await?;
                tx.list_checkpoints(0, i64::MAX).await?;
                tx.list_checkpoints(10_000, 14_096).await?;
                tx.count_checkpoints(20_000).await?;
                tx.read_chain(25_000, 4096).await?;
                // The archive: its segments, and the removal of sealed
                // events (none here: nothing is sealed through seq 0).
                tx.list_segments().await?;
                tx.remove_sealed_events(0, 2000).await?;
                let n = Notice {
                    id: "ntc_1".into(),
                    seq: 0,
                    session_id: s.id.clone(),
                    account_id: s.account_id.clone(),
                    text: "t".into(),
                    data: NoticeData {
                        agent_name: "a".into(),
                        approver_name: "b".into(),
                        changes: vec![],
                        end_reason: None,
                        ended_at: at,
                        reason: "r".into(),
                        started_at: at,
                        ticket: "T".into(),
                    },
                    created_at: at,
                    delivered_at: None,
                };
                tx.insert_notice(&n).await?;
                tx.list_notices("app_1", 0, 100).await?;
                tx.get_notice("ntc_1").await?;
                tx.set_notice_delivered("ntc_1", at).await?;
                // Webhooks out: the endpoints, a lease, an attempt, the log.
                let hook = actas_core::webhook::Webhook {
                    id: "whk_1".into(),
                    url: "https://siem.test/in".into(),
                    events: actas_core::webhook::Selection::All,
                    secret: "sealed".into(),
                    created_at: at,
                    created_by: "ada".into(),
                    after_seq: 10,
                    state: actas_core::webhook::WebhookState::Active,
                    failures: 0,
                    next_attempt_at: None,
                    last_error: None,
                    lease_until: None,
                };
                tx.insert_webhook(&hook).await?;
                assert!(tx.lease_webhook("whk_1", at, at + minutes(1)).await?);
                assert!(!tx.lease_webhook("whk_1", at, at + minutes(1)).await?, "held by the first lease");
                tx.update_webhook(&hook).await?;
                for n in 0..3 {
                    tx.insert_delivery(&actas_core::webhook::Delivery {
                        id: format!("whd_{n}"),
                        webhook_id: "whk_1".into(),
                        seq: 11,
                        event_id: "evt_11".into(),
                        event_type: EventType::ActionPerformed,
                        attempt: n + 1,
                        at: at + minutes(i64::from(n)),
                        status: Some(503),
                        ok: false,
                        error: None,
                        replay: false,
                    })
                    .await?;
                }
                assert_eq!(tx.list_webhooks().await?, vec![hook.clone()]);
                assert_eq!(tx.get_webhook("whk_1").await?, Some(hook));
                let log = tx.list_deliveries("whk_1", 100).await?;
                assert_eq!(log.iter().map(|d| d.attempt).collect::<Vec<_>>(), [3, 2, 1], "the latest first");
                assert_eq!(tx.get_delivery("whd_1").await?.map(|d| d.attempt), Some(2));
                tx.delete_webhook("whk_1").await?;
                assert_eq!(tx.get_webhook("whk_1").await?, None);
                assert!(tx.list_deliveries("whk_1", 100).await?.is_empty());
                Ok(())
            })
        }))
        .await
        .unwrap();

    let (t, r, s) = sessions[5].clone();
    let searches = vec![
        EventFilter { limit: 100, ..Default::default() },
        EventFilter { after_seq: Some(20_000), limit: 100, ..Default::default() },
        EventFilter { account_id: Some(s.account_id.clone()), limit: 100, ..Default::default() },
        EventFilter { agent: Some(s.agent.clone()), limit: 100, ..Default::default() },
        EventFilter { ticket: Some(t.reference.clone()), limit: 100, ..Default::default() },
        EventFilter { session_id: Some(s.id.clone()), limit: 100, ..Default::default() },
        EventFilter { types: vec![EventType::PolicyLoaded], limit: 100, ..Default::default() },
        EventFilter {
            types: vec![EventType::SessionStarted, EventType::SessionEnded],
            after_seq: Some(10),
            limit: 1000,
            ..Default::default()
        },
        EventFilter {
            since: Some(t0() + minutes(100)),
            until: Some(t0() + minutes(200)),
            limit: 100,
            ..Default::default()
        },
        EventFilter { since: Some(t0() + minutes(100)), limit: 100, ..Default::default() },
        EventFilter { until: Some(t0() + minutes(100)), after_seq: Some(50), limit: 100, ..Default::default() },
        EventFilter {
            account_id: Some(s.account_id.clone()),
            since: Some(t0() + minutes(100)),
            until: Some(t0() + minutes(300)),
            types: vec![EventType::ActionPerformed],
            limit: 100,
            ..Default::default()
        },
        // The support metrics: sessions started in a window, and its
        // denials and refusals, a page at a time.
        EventFilter {
            types: vec![EventType::SessionStarted],
            since: Some(t0() + minutes(100)),
            until: Some(t0() + minutes(300)),
            limit: 1000,
            ..Default::default()
        },
        EventFilter {
            types: vec![
                EventType::RequestDenied,
                EventType::ScopeDenied,
                EventType::RequestRefused,
                EventType::ActionDenied,
            ],
            since: Some(t0() + minutes(100)),
            until: Some(t0() + minutes(300)),
            after_seq: Some(10),
            limit: 1000,
            ..Default::default()
        },
        // The customer note's changes, and a session's timeline.
        EventFilter {
            session_id: Some(s.id.clone()),
            types: vec![EventType::ActionPerformed],
            limit: 1000,
            ..Default::default()
        },
        EventFilter {
            ticket: Some(t.reference.clone()),
            request_id: Some(r.id.clone()),
            limit: 10_000,
            ..Default::default()
        },
    ];
    let many_sessions: Vec<String> = sessions.iter().take(50).map(|(_, _, s)| s.id.clone()).collect();
    let found = store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let mut n = Vec::new();
                for f in &searches {
                    n.push(tx.list_events(f).await?.len());
                }
                // The access log's changes of many sessions at once.
                n.push(tx.list_session_events(&many_sessions, EventType::ActionPerformed, 10_000).await?.len());
                Ok(n)
            })
        }))
        .await
        .unwrap();
    // The searches found what they look for (the plans are of real work).
    assert!(found[0] == 100 && found[2] == 100 && found[8] == 100 && found[16] > 50, "{found:?}");
}
