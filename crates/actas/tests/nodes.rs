//! Several actas nodes on one PostgreSQL behave as one (SPEC §3, §5, §6,
//! §9): two `actas serve` processes on the same fresh database, driven over
//! real HTTP. Concurrent decisions and starts have one winner whichever
//! node they reach, a burst split across the nodes keeps one audit chain,
//! an ended session is refused and announced by the other node within two
//! seconds, tokens and key rotations are shared, and a node killed with
//! SIGKILL loses no acknowledged event.
//!
//! The tests run when `ACTAS_TEST_PG_URL` names a PostgreSQL server (each
//! makes and drops its own database) and are skipped otherwise, except on
//! CI, where a missing URL fails them.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::Barrier;

/// A reason for a change that needs a lead's approval.
const CHANGE_REASON: &str = "Customer can't update tax settings after plan change";

/// The one ticket of these tests.
const TICKET: &str = "48192";

/// The host app of these tests.
const APP: &str = "Acme Billing";

/// How long a change made through one node may take to reach the other.
const PROPAGATION: Duration = Duration::from_secs(2);

/// Two nodes on one fresh PostgreSQL database. Fields drop in order: the
/// servers stop before the database is dropped.
struct Cluster {
    a: Server,
    b: Server,
    env: Env,
    _db: PgDatabase,
}

/// Two nodes on a fresh database, or `None` when no PostgreSQL is configured.
async fn cluster() -> Option<Cluster> {
    let base = pg_base_url()?;
    let db = PgDatabase::create(&base).await;
    let env = Env::on(&db.url);
    env.ok(&["migrate"]);
    let a = env.serve();
    let b = env.serve();
    Some(Cluster { a, b, env, _db: db })
}

/// `POST /tickets` with the app key: ticket [`TICKET`] on Acme Corp.
async fn open_ticket(c: &reqwest::Client, node: &Server, app_key: &str) {
    let (status, ticket) = post(
        c,
        &node.api("/tickets"),
        app_key,
        &json!({
            "ref": TICKET,
            "account_id": "acct_42",
            "account_name": "Acme Corp",
            "subject": "Tax settings missing after plan change",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
}

/// `POST /requests` by `agent` under [`TICKET`]; answers the request.
async fn ask(c: &reqwest::Client, node: &Server, agent: &str, actions: &[&str], reason: &str) -> Value {
    node.http_api(c).request(agent).ticket(TICKET).actions(actions).reason(reason).send().await.answer
}

/// A view-only request approved by policy and its session, started on
/// `node`; answers the session id and the token.
async fn session_on(c: &reqwest::Client, node: &Server, agent: &str, action: &str) -> (String, String) {
    let s = node.http_api(c).session(agent).actions(&[action]).ticket(TICKET).reason(REASON).app(APP).start().await;
    assert_eq!(s.request["status"], "approved", "{}", s.request.answer);
    (s.id, s.token)
}

/// What `node` answers the host app (through its client) asking whether
/// `token` may do `settings.view`.
async fn ask_node(node: &Server, app_key: &str, token: &str) -> actas_client::api::AuthorizeResponse {
    let answer = actas_client::Client::new(&node.base, app_key).authorize(token, "settings.view").await;
    answer.unwrap_or_else(|e| panic!("{} did not answer authorize: {e}", node.base))
}

/// Asserts that `node` refuses `token` with `reason`.
async fn assert_refused(node: &Server, app_key: &str, token: &str, reason: &str) {
    let answer = ask_node(node, app_key, token).await;
    assert!(!answer.allowed, "{} allowed a token of an ended session: {answer:?}", node.base);
    assert_eq!(answer.reason.as_str(), reason, "{answer:?}");
}

/// Asserts that `node` allows `token` for `settings.view`.
async fn assert_allowed(node: &Server, app_key: &str, token: &str) {
    let answer = ask_node(node, app_key, token).await;
    assert!(answer.allowed, "{} refused the token: {answer:?}", node.base);
}

/// `GET /audit/verify` on `node`: the chain checks out; answers its event count.
async fn assert_verified(c: &reqwest::Client, node: &Server, auditor: &str) -> u64 {
    let (status, v) = get(c, &node.api("/audit/verify"), auditor).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], true, "{} says the trail is broken: {v}", node.base);
    v["events"].as_u64().expect("an event count")
}

/// How many events of each type the trail holds.
fn count_types(events: &[Value]) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for e in events {
        *n.entry(e["type"].as_str().unwrap_or_default().to_string()).or_insert(0) += 1;
    }
    n
}

const DECISION_ROUNDS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decide {
    Approve,
    Deny,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_decisions_on_two_nodes_have_exactly_one_winner() {
    let Some(k) = cluster().await else { return };
    let agent = k.env.add_staff("maria", "Maria Lopez", &["agent"]);
    let sam = k.env.add_staff("sam", "Sam Lee", &["lead"]);
    let lena = k.env.add_staff("lena", "Lena Park", &["lead"]);
    let auditor = k.env.add_staff("audrey", "Audrey Kim", &["auditor"]);
    let app_key = k.env.add_app(APP);
    let c = http();
    open_ticket(&c, &k.a, &app_key).await;

    // Who decides what, where: both leads, both verdicts, both nodes.
    let deciders = [
        (Decide::Approve, &k.a, ("sam", &sam)),
        (Decide::Deny, &k.b, ("lena", &lena)),
        (Decide::Approve, &k.b, ("lena", &lena)),
        (Decide::Deny, &k.a, ("sam", &sam)),
        (Decide::Approve, &k.b, ("sam", &sam)),
        (Decide::Deny, &k.a, ("lena", &lena)),
    ];
    let mut approved = Vec::new();
    let mut denied = 0;
    for round in 0..DECISION_ROUNDS {
        let request = ask(&c, &k.a, &agent, &["settings.update"], CHANGE_REASON).await;
        assert_eq!(request["status"], "pending", "{request}");
        let id = request["id"].as_str().expect("a request id").to_string();

        let barrier = Arc::new(Barrier::new(deciders.len()));
        let mut calls = Vec::new();
        for (verdict, node, (login, token)) in deciders {
            let (c, barrier, token, login) = (c.clone(), barrier.clone(), token.clone(), login.to_string());
            let (url, body) = match verdict {
                Decide::Approve => (node.api(&format!("/requests/{id}/approve")), json!({})),
                Decide::Deny => (
                    node.api(&format!("/requests/{id}/deny")),
                    json!({"note": "Tax settings are owned by the customer's admin; ask them first."}),
                ),
            };
            calls.push(tokio::spawn(async move {
                barrier.wait().await;
                let (status, body) = post(&c, &url, &token, &body).await;
                (verdict, login, url, status, body)
            }));
        }
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.expect("a deciding task"));
        }

        let winners: Vec<_> = answers.iter().filter(|a| a.3 == StatusCode::OK).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one decision wins: {answers:#?}");
        for (_, _, url, status, body) in answers.iter().filter(|a| a.3 != StatusCode::OK) {
            assert_eq!(*status, StatusCode::CONFLICT, "round {round}, {url}: {body}");
            assert_eq!(body["type"], "urn:actas:problem:already-decided", "round {round}, {url}: {body}");
        }
        let (verdict, login, _, _, body) = winners[0];
        let (status, kind) = match verdict {
            Decide::Approve => ("approved", "approve"),
            Decide::Deny => ("denied", "deny"),
        };
        assert_eq!(body["status"], status, "{body}");

        // Both nodes show the one decision.
        for node in [&k.a, &k.b] {
            let (s, seen) = get(&c, &node.api(&format!("/requests/{id}")), &sam).await;
            assert_eq!(s, StatusCode::OK, "{seen}");
            assert_eq!(seen["status"], status, "{seen}");
            let decisions = seen["decisions"].as_array().expect("the request's decisions");
            assert_eq!(decisions.len(), 1, "round {round}: one decision on {}: {seen}", node.base);
            assert_eq!(decisions[0]["kind"], kind, "{seen}");
            assert_eq!(decisions[0]["decider"], login.as_str(), "{seen}");
        }
        match verdict {
            Decide::Approve => approved.push(id),
            Decide::Deny => denied += 1,
        }
    }
    eprintln!("{} rounds: {} approved, {denied} denied", DECISION_ROUNDS, approved.len());

    // The approvals nobody will use are withdrawn, through either node.
    for (i, id) in approved.iter().enumerate() {
        let node = if i % 2 == 0 { &k.a } else { &k.b };
        let (status, body) = post(&c, &node.api(&format!("/requests/{id}/withdraw")), &agent, &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "withdrawn", "{body}");
    }

    // The trail holds one decision event per request, and one chain.
    let events = audit_events(&c, &k.b, &auditor, "").await;
    let n = count_types(&events);
    assert_eq!(n.get("request.approved").copied().unwrap_or(0), approved.len(), "{n:?}");
    assert_eq!(n.get("request.denied").copied().unwrap_or(0), denied, "{n:?}");
    assert_eq!(n.get("request.withdrawn").copied().unwrap_or(0), approved.len(), "{n:?}");
    for node in [&k.a, &k.b] {
        assert_eq!(assert_verified(&c, node, &auditor).await, events.len() as u64);
    }
}

const START_ROUNDS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_live_session_per_agent_holds_across_nodes() {
    let Some(k) = cluster().await else { return };
    let agent = k.env.add_staff("maria", "Maria Lopez", &["agent"]);
    let auditor = k.env.add_staff("audrey", "Audrey Kim", &["auditor"]);
    let app_key = k.env.add_app(APP);
    let c = http();
    open_ticket(&c, &k.a, &app_key).await;

    for round in 0..START_ROUNDS {
        let first = ask(&c, &k.a, &agent, &["settings.view"], REASON).await;
        let second = ask(&c, &k.b, &agent, &["plan.view"], REASON).await;
        assert_eq!(first["status"], "approved", "{first}");
        assert_eq!(second["status"], "approved", "{second}");
        let ids = [first["id"].as_str().expect("a request id"), second["id"].as_str().expect("a request id")];
        // Which node gets which request alternates between rounds.
        let nodes = [&k.a, &k.b];
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };

        let barrier = Arc::new(Barrier::new(2));
        let mut calls = Vec::new();
        for (node, id) in order.into_iter().zip(ids) {
            let (c, barrier, agent) = (c.clone(), barrier.clone(), agent.clone());
            let url = nodes[node].api(&format!("/requests/{id}/start"));
            let id = id.to_string();
            calls.push(tokio::spawn(async move {
                barrier.wait().await;
                let (status, body) = post(&c, &url, &agent, &json!({"app": APP})).await;
                (node, id, status, body)
            }));
        }
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.expect("a starting task"));
        }
        let started: Vec<_> = answers.iter().filter(|a| a.2 == StatusCode::CREATED).collect();
        let refused: Vec<_> = answers.iter().filter(|a| a.2 != StatusCode::CREATED).collect();
        assert_eq!(started.len(), 1, "round {round}: exactly one start wins: {answers:#?}");
        let (_, loser, status, body) = refused[0];
        assert_eq!(*status, StatusCode::CONFLICT, "round {round}: {body}");
        assert_eq!(body["type"], "urn:actas:problem:live-session-exists", "round {round}: {body}");

        let (winner_node, winner, _, body) = started[0];
        let session = body["session"]["id"].as_str().expect("a session id").to_string();
        assert_eq!(body["session"]["state"], "live", "{body}");
        for node in nodes {
            let (s, seen) = get(&c, &node.api(&format!("/sessions/{session}")), &agent).await;
            assert_eq!(s, StatusCode::OK, "{seen}");
            assert_eq!(seen["state"], "live", "{seen}");
            assert_eq!(seen["request_id"], winner.as_str(), "{seen}");
        }

        // The refused request is still approved and started nothing.
        let (s, seen) = get(&c, &k.a.api(&format!("/requests/{loser}")), &agent).await;
        assert_eq!(s, StatusCode::OK, "{seen}");
        assert_eq!(seen["status"], "approved", "{seen}");
        assert!(seen["sessions"].as_array().is_none_or(Vec::is_empty), "{seen}");

        // The agent ends the session through the other node, and lets the other approval go.
        let other = nodes[1 - winner_node];
        let (s, ended) = post(&c, &other.api(&format!("/sessions/{session}/end")), &agent, &json!({})).await;
        assert_eq!(s, StatusCode::OK, "{ended}");
        assert_eq!(ended["state"], "ended", "{ended}");
        assert_eq!(ended["end_reason"], "ended", "{ended}");
        let (s, withdrawn) = post(&c, &other.api(&format!("/requests/{loser}/withdraw")), &agent, &json!({})).await;
        assert_eq!(s, StatusCode::OK, "{withdrawn}");
    }

    let events = audit_events(&c, &k.a, &auditor, "").await;
    let n = count_types(&events);
    assert_eq!(n.get("session.started").copied().unwrap_or(0), START_ROUNDS, "{n:?}");
    assert_eq!(n.get("session.ended").copied().unwrap_or(0), START_ROUNDS, "{n:?}");
    for node in [&k.a, &k.b] {
        assert_eq!(assert_verified(&c, node, &auditor).await, events.len() as u64);
    }
}

const BURST_TASKS: usize = 32;
const BURST_CALLS_PER_TASK: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chain_stays_one_chain_under_a_burst_on_two_nodes() {
    let Some(k) = cluster().await else { return };
    let live = Arc::new(live_session(&k.env, &k.a).await);
    let c = http();
    let urls = [k.a.api("/authorize"), k.b.api("/authorize")];

    let begun = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..BURST_TASKS {
        let (c, live, url) = (c.clone(), live.clone(), urls[t % 2].clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"token": live.token, "action": "settings.view"});
            let mut ids = Vec::with_capacity(BURST_CALLS_PER_TASK);
            for _ in 0..BURST_CALLS_PER_TASK {
                let (status, answer) = post(&c, &url, &live.app_key, &body).await;
                assert_eq!(status, StatusCode::OK, "{url}: {answer}");
                assert_eq!(answer["allowed"], true, "{url}: {answer}");
                ids.push(answer["event_id"].as_str().expect("an event id").to_string());
            }
            ids
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.expect("a calling task"));
    }
    let calls = BURST_TASKS * BURST_CALLS_PER_TASK;
    eprintln!("{calls} authorize calls over two nodes answered in {:?}", begun.elapsed());
    assert_eq!(acknowledged.len(), calls);
    let unique: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(unique.len(), calls, "event ids are unique");

    // One chain: seqs 1..N without gaps, every acknowledged event in it.
    let events = audit_events(&c, &k.b, &live.auditor, "").await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("a seq")).collect();
    let expected: Vec<i64> = (1..=events.len() as i64).collect();
    assert!(seqs == expected, "the seqs are 1..{} without gaps or repeats", events.len());
    let stored: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    let lost = acknowledged.iter().filter(|id| !stored.contains(id.as_str())).count();
    assert_eq!(lost, 0, "every acknowledged event is in the trail");
    let viewed = events.iter().filter(|e| e["type"] == "record.viewed" && e["session_id"] == live.session_id).count();
    assert_eq!(viewed, calls, "one record.viewed event per call");
    for pair in events.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "event {} follows event {}", pair[1]["seq"], pair[0]["seq"]);
    }

    for node in [&k.a, &k.b] {
        assert_eq!(assert_verified(&c, node, &live.auditor).await, events.len() as u64);
    }
    let out = k.env.ok(&["audit", "verify"]);
    assert!(out.contains(&format!("intact: {} events", events.len())), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_ended_on_one_node_is_refused_by_the_other_within_two_seconds() {
    let Some(k) = cluster().await else { return };
    let agent = k.env.add_staff("maria", "Maria Lopez", &["agent"]);
    let lead = k.env.add_staff("sam", "Sam Lee", &["lead"]);
    let auditor = k.env.add_staff("audrey", "Audrey Kim", &["auditor"]);
    let app_key = k.env.add_app(APP);
    let c = http();
    open_ticket(&c, &k.a, &app_key).await;
    let is = |kind: &'static str, session: String| move |f: &Value| f["type"] == kind && f["session"]["id"] == session;

    // Ended by the agent through node A; node B refuses and announces it.
    let mut feed_b = FeedSubscription::open(&k.b, &app_key).await;
    let (session, token) = session_on(&c, &k.a, &agent, "settings.view").await;
    let seen = feed_b.next_where(Instant::now() + PROPAGATION, is("session.started", session.clone())).await;
    assert!(seen.is_some(), "node B's feed announced the session started on node A");
    assert_allowed(&k.b, &app_key, &token).await;
    let sent = Instant::now();
    let (status, ended) = post(&c, &k.a.api(&format!("/sessions/{session}/end")), &agent, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_refused(&k.b, &app_key, &token, "session_ended").await;
    let (at, frame) = feed_b
        .next_where(sent + PROPAGATION, is("session.ended", session.clone()))
        .await
        .expect("node B's feed announced the end within two seconds");
    assert_eq!(frame["session"]["state"], "ended", "{frame}");
    assert_eq!(frame["session"]["end_reason"], "ended", "{frame}");
    eprintln!("node B announced the end {:?} after the call", at - sent);

    // Revoked by a lead through node A; the same.
    let (session, token) = session_on(&c, &k.a, &agent, "plan.view").await;
    let sent = Instant::now();
    let (status, revoked) = post(
        &c,
        &k.a.api(&format!("/sessions/{session}/revoke")),
        &lead,
        &json!({"note": "The ticket was closed; no further access is needed."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_refused(&k.b, &app_key, &token, "session_revoked").await;
    let (at, frame) = feed_b
        .next_where(sent + PROPAGATION, is("session.revoked", session.clone()))
        .await
        .expect("node B's feed announced the revocation within two seconds");
    assert_eq!(frame["session"]["end_reason"], "revoked", "{frame}");
    eprintln!("node B announced the revocation {:?} after the call", at - sent);
    drop(feed_b);

    // The other way round: started on node B, the agent disabled at the
    // command line (neither node made the change); node A's feed announces it.
    let mut feed_a = FeedSubscription::open(&k.a, &app_key).await;
    let (session, token) = session_on(&c, &k.b, &agent, "settings.view").await;
    assert_allowed(&k.a, &app_key, &token).await;
    let sent = Instant::now();
    k.env.ok(&["staff", "disable", "maria"]);
    let done = Instant::now();
    for node in [&k.a, &k.b] {
        assert_refused(node, &app_key, &token, "staff_disabled").await;
    }
    let (at, frame) = feed_a
        .next_where(done + PROPAGATION, |f| {
            f["type"] == "session.ended"
                && f["session"]["id"] == session.as_str()
                && f["session"]["end_reason"] == "staff_disabled"
        })
        .await
        .expect("node A's feed announced the end by staff_disabled within two seconds");
    assert_eq!(frame["session"]["state"], "ended", "{frame}");
    eprintln!(
        "node A announced the disabled agent's end {:?} after the command ended ({:?} after it began)",
        at - done,
        at - sent
    );

    for node in [&k.a, &k.b] {
        assert_verified(&c, node, &auditor).await;
    }
}

/// The kid `actas key rotate` reports in `New signing key KID; ...`.
fn rotated_kid(out: &str) -> String {
    let rest = out.split("New signing key ").nth(1).unwrap_or_else(|| panic!("no new key named: {out}"));
    rest.chars().take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_').collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_issued_by_one_node_verifies_on_the_other_and_rotation_reaches_both() {
    let Some(k) = cluster().await else { return };
    let maria = k.env.add_staff("maria", "Maria Lopez", &["agent"]);
    let jon = k.env.add_staff("jon", "Jon Berg", &["agent"]);
    let auditor = k.env.add_staff("audrey", "Audrey Kim", &["auditor"]);
    let app_key = k.env.add_app(APP);
    let c = http();
    open_ticket(&c, &k.a, &app_key).await;

    let (_, before) = session_on(&c, &k.a, &maria, "settings.view").await;
    let old_kid = jws_header(&before)["kid"].as_str().expect("a kid in the token header").to_string();
    for node in [&k.a, &k.b] {
        assert!(jwks_kids(&c, node).await.contains(&old_kid), "{} publishes {old_kid}", node.base);
        assert_allowed(node, &app_key, &before).await;
    }

    let out = k.env.ok(&["key", "rotate"]);
    let rotated = Instant::now();
    let new_kid = rotated_kid(&out);
    assert!(new_kid.starts_with("k_") && new_kid != old_kid, "{out}");
    for node in [&k.a, &k.b] {
        let within = (rotated + Duration::from_secs(3)).saturating_duration_since(Instant::now());
        let what = format!("{} to publish {new_kid} within 3 s of the rotation", node.base);
        let kids = wait_for(within, &what, || async {
            let kids = jwks_kids(&c, node).await;
            if kids.contains(&new_kid) {
                Ok(kids)
            } else {
                Err(format!("{kids:?}"))
            }
        })
        .await;
        assert!(kids.contains(&old_kid), "{} still publishes the previous key: {kids:?}", node.base);
        eprintln!("{} published the new key {:?} after the rotation", node.base, rotated.elapsed());
    }

    // A session started on node B now carries the new key, and node A accepts it.
    let (_, after) = session_on(&c, &k.b, &jon, "settings.view").await;
    assert_eq!(jws_header(&after)["kid"], new_kid.as_str(), "node B signs with the new key");
    for node in [&k.a, &k.b] {
        assert_allowed(node, &app_key, &after).await;
        // The token signed before the rotation keeps working until its session ends.
        assert_allowed(node, &app_key, &before).await;
    }

    for node in [&k.a, &k.b] {
        assert_verified(&c, node, &auditor).await;
    }
    k.env.ok(&["audit", "verify"]);
}

const CALLERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_with_sigkill_loses_no_acknowledged_event() {
    let Some(mut k) = cluster().await else { return };
    let live = Arc::new(live_session(&k.env, &k.a).await);
    let url = Arc::new(k.a.api("/authorize"));
    let c = http();

    let answered = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let (c, live, url, answered) = (c.clone(), live.clone(), url.clone(), answered.clone());
        callers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let body = json!({"token": live.token, "action": "settings.view"});
            // Runs until node A is gone: the kill lands mid-flight.
            loop {
                let sent = c
                    .post(url.as_str())
                    .bearer_auth(&live.app_key)
                    .timeout(Duration::from_secs(10))
                    .json(&body)
                    .send()
                    .await;
                let Ok(r) = sent else { break };
                if r.status() != StatusCode::OK {
                    continue;
                }
                let Ok(answer) = r.json::<Value>().await else { break };
                assert_eq!(answer["allowed"], true, "{answer}");
                acknowledged.push(answer["event_id"].as_str().expect("an event id").to_string());
                answered.fetch_add(1, Ordering::Relaxed);
            }
            acknowledged
        }));
    }
    // The kill comes once the traffic is in full flow: twenty answers a caller.
    let what = format!("{} acknowledged calls", CALLERS * 20);
    wait_until(Duration::from_secs(60), &what, || async { answered.load(Ordering::Relaxed) >= CALLERS * 20 }).await;
    assert!(callers.iter().all(|t| !t.is_finished()), "every caller was still calling when node A was killed");
    k.a.kill();

    let mut acknowledged = Vec::new();
    for t in callers {
        acknowledged.extend(t.await.expect("a caller task"));
    }
    eprintln!("{} authorize calls were acknowledged by node A before the kill", acknowledged.len());
    assert!(!acknowledged.is_empty(), "some calls were acknowledged before the kill");
    let unique: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(unique.len(), acknowledged.len(), "event ids are unique");

    // Node B, still running, holds every acknowledged event.
    let events = audit_events(&c, &k.b, &live.auditor, &format!("session={}", live.session_id)).await;
    let stored: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events were lost, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );

    // Node B keeps working on the same session and the chain is whole.
    let (status, body) = authorize(&c, &k.b, &live, "settings.view").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allowed"], true, "{body}");
    let all = audit_events(&c, &k.b, &live.auditor, "").await;
    assert_eq!(assert_verified(&c, &k.b, &live.auditor).await, all.len() as u64);
    let out = k.env.run(&["audit", "verify"]);
    assert_success(&out, &["audit", "verify"]);
}

/// `POST /authorize` to the first node that answers, as a proxy in front
/// of the nodes does: a node that is down refuses the connection.
async fn authorize_any(c: &reqwest::Client, nodes: [&Server; 2], live: &Live) -> (String, Value) {
    let body = json!({"token": live.token, "action": "settings.view"});
    for node in nodes {
        let sent = c.post(node.api("/authorize")).bearer_auth(&live.app_key).json(&body).send().await;
        if let Ok(res) = sent {
            let status = res.status();
            let v: Value = res.json().await.expect("a JSON answer");
            assert_eq!(status, StatusCode::OK, "{} answered {status}: {v}", node.base);
            return (node.base.clone(), v);
        }
    }
    panic!("no node answered");
}

/// The order of an upgrade (docs/upgrading.md): `actas migrate` once, then
/// each node in turn is stopped and started again. Every authorization is
/// answered throughout by the node that is up, and the trail is one chain
/// after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_two_nodes_answers_every_authorization() {
    let Some(mut cl) = cluster().await else { return };
    let live = live_session(&cl.env, &cl.a).await;
    let c = http();
    let out = cl.env.ok(&["migrate"]);
    assert!(out.contains("current schema"), "{out}");
    let mut allowed = 0;
    for turn in 0..2 {
        let (down, up) = if turn == 0 { (&mut cl.a, &cl.b) } else { (&mut cl.b, &cl.a) };
        let status = down.terminate(Duration::from_secs(15)).expect("the node stops within its drain time");
        assert!(status.success(), "{}", down.log());
        for _ in 0..20 {
            let (by, v) = authorize_any(&c, [&*down, up], &live).await;
            assert_eq!(by, up.base, "only the node that is up answers");
            allowed += usize::from(v["allowed"] == true);
        }
        *down = cl.env.serve();
        for _ in 0..20 {
            let (_, v) = authorize_any(&c, [&*down, up], &live).await;
            allowed += usize::from(v["allowed"] == true);
        }
    }
    assert_eq!(allowed, 80, "every authorization was answered and allowed");
    assert!(assert_verified(&c, &cl.a, &live.auditor).await > 80);
}
