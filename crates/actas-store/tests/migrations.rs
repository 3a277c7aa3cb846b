//! Migrations are forward-only, and a database at any schema this project
//! has had upgrades in place.
//!
//! For every schema version `k`, on SQLite and (when `ACTAS_TEST_PG_URL` is
//! set) PostgreSQL, a database is built at exactly schema `k` by sqlx's
//! migrator holding only the first `k` migrations (so `_sqlx_migrations`
//! is what that release left), and filled in plain SQL with the rows the
//! code of that schema wrote: staff, apps, tickets, requests with their
//! decisions, sessions, keys, a customer note, an audit trail whose hashes
//! are core's own, and what each later schema added (console sign-ins,
//! entry codes, connectors, grants, webhooks, ...). The current [`Store`]
//! then opens it, which migrates it, and
//!
//! - every migration is recorded once, with the checksum of its file, up to
//!   the latest schema;
//! - every column of schema `k` is still there with its type and
//!   nullability, and every column added since to one of its tables is
//!   nullable or has a default, so a node of that release keeps working;
//! - the old rows read back through the store's ports with the same values
//!   (a column added since holds what its migration backfilled);
//! - the trail verifies end to end with core's [`ChainVerifier`];
//! - new writes work and continue the trail;
//! - running the migrations again changes nothing.
//!
//! The rows of schema `k` are those of schema `k - 1` and what migration
//! `k` made room for: one step per migration in [`STEPS`], and the columns
//! each migration added in the row writers (`staff_row`, `app_row`, ...).
//! A new migration needs its step; `every_migration_has_a_fixture_step`
//! fails until it has one.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actas_core::audit::data::{self, StoredChange, Target};
use actas_core::audit::segment::{self, Manifest};
use actas_core::audit::{self, Actor, ChainVerifier, Checkpoint, Event, EventData, EventType, NewEvent, GENESIS};
use actas_core::clock::format_ms;
use actas_core::connector::{Connector, Mapping};
use actas_core::id::{Ids, RandomIds};
use actas_core::model::{
    App, Approver, Decision, DecisionKind, EndReason, Grant, NewRequest, Notice, NoticeData, Request, RequestKind,
    RequestStatus, Review, Role, Session, SessionState, Staff, Ticket, TicketSource, TicketStatus,
};
use actas_core::policy::Policy;
use actas_core::stepup::StepUp;
use actas_core::webhook::{Delivery, Selection, Webhook, WebhookState};
use actas_core::Timestamp;
use actas_store::testing::{pg_base_url, t0, PgDatabase};
use actas_store::{
    read_fn, schema_version, write_fn, ConnectorRecord, ConsoleSession, Engine, EntryCode, EventFilter, KeyRecord,
    KeyRole, Options, Segment, SessionFilter, StaffProfile, Store,
};
use anyhow::Context;
use chrono::Duration;
use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{ConnectOptions, Connection};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The migrations this build applies on `engine`.
fn migrations(engine: Engine) -> &'static Migrator {
    match engine {
        Engine::Sqlite => &SQLITE_MIGRATIONS,
        Engine::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// Where `engine`'s migration files are.
fn migrations_dir(engine: Engine) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(engine.as_str())
}

/// The first migrations of this build, as a migrator of an older release
/// held them.
#[derive(Debug)]
struct FirstMigrations(Vec<Migration>);

impl MigrationSource<'static> for FirstMigrations {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// sqlx's migrator with the migrations up to schema `k` only: what the
/// release of schema `k` ran.
async fn migrator_up_to(engine: Engine, k: i64) -> anyhow::Result<Migrator> {
    let first = migrations(engine).iter().filter(|m| m.version <= k).cloned().collect();
    Ok(Migrator::new(FirstMigrations(first)).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_schema_upgrades_in_place_on_sqlite() {
    for k in 1..=schema_version() {
        let db = Scratch::sqlite();
        upgrade(&db, k).await.with_context(|| format!("SQLite from schema {k}")).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_schema_upgrades_in_place_on_postgres() {
    let Some(base) = pg_base_url() else { return };
    for k in 1..=schema_version() {
        let db = Scratch::postgres(&base).await;
        upgrade(&db, k).await.with_context(|| format!("PostgreSQL from schema {k}")).unwrap();
    }
}

#[tokio::test]
async fn migrations_are_forward_only_and_built_from_their_files() {
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let dir = migrations_dir(engine);
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for name in &names {
            assert!(
                !name.ends_with(".down.sql") && !name.ends_with(".up.sql"),
                "{name}: migrations are forward-only, one file each and no way down"
            );
            // sqlx skips a file not named `<version>_<description>.sql`
            // without a word; here such a file fails.
            let version = name.split_once('_').and_then(|(v, _)| v.parse::<i64>().ok());
            assert!(version.is_some() && name.ends_with(".sql"), "{name} is not a migration sqlx would apply");
        }

        // The build embeds every file as it stands: same versions, same
        // checksums (what `_sqlx_migrations` records, checked in `upgrade`).
        let on_disk = Migrator::new(dir.clone()).await.unwrap();
        let files: Vec<(i64, Vec<u8>)> = on_disk.iter().map(|m| (m.version, m.checksum.to_vec())).collect();
        let built: Vec<(i64, Vec<u8>)> = migrations(engine).iter().map(|m| (m.version, m.checksum.to_vec())).collect();
        assert_eq!(files, built, "{}: the build's migrations are the files in {}", engine.as_str(), dir.display());
        assert_eq!(files.len(), names.len(), "every file is a migration");

        assert!(migrations(engine).iter().all(|m| m.migration_type == MigrationType::Simple));
        let versions: Vec<i64> = migrations(engine).iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=schema_version()).collect::<Vec<_>>(), "versions 1, 2, 3, ... without gaps");
    }
}

#[test]
fn every_migration_has_a_fixture_step() {
    let stepped: Vec<i64> = STEPS.iter().map(|(version, _)| *version).collect();
    assert_eq!(
        stepped,
        (2..=schema_version()).collect::<Vec<_>>(),
        "each migration after the first writes the rows it made room for (`STEPS` in this file)"
    );
}

/// One case: a database at schema `k`, filled as that release filled it,
/// opened by this build.
async fn upgrade(db: &Scratch, k: i64) -> anyhow::Result<()> {
    let f = fixture(k);
    let want = &f.want;
    let engine = db.engine;

    // The database as the release of schema `k` left it.
    let mut old = db.connect().await?;
    old.migrate(&migrator_up_to(engine, k).await?).await.context("the first migrations")?;
    assert_eq!(old.applied().await?.len(), usize::try_from(k)?, "schema {k} is built");
    let columns_before = old.columns().await?;
    write_rows(&mut old, k, &f).await.context("the rows of the old schema")?;
    old.close().await;

    // This build opens it, which migrates it to the latest schema.
    let store = Store::open(&Options::new(db.url.clone())).await.context("this build opens it")?;
    let mut conn = db.connect().await?;
    let recorded = conn.applied().await?;
    let files: Vec<(i64, Vec<u8>, bool)> =
        migrations(engine).iter().map(|m| (m.version, m.checksum.to_vec(), true)).collect();
    assert_eq!(recorded, files, "from schema {k}: every migration applied once, with the checksum of its file");
    assert_eq!(recorded.last().map(|m| m.0), Some(schema_version()), "from schema {k}: at the latest schema");
    assert_additive(&columns_before, &conn.columns().await?, k);

    // The old rows read back through the ports with the same values.
    let got = read_back(&store, want).await?;
    macro_rules! same {
        ($($field:ident),*) => {
            $(assert_eq!(got.$field, want.$field, "{} from schema {k}", stringify!($field));)*
        };
    }
    same!(
        staff,
        passwords,
        credentials,
        console_sessions,
        apps,
        entry_codes,
        connectors,
        grants,
        consent,
        tickets,
        requests,
        decisions,
        sessions,
        keys,
        notices,
        webhooks,
        deliveries,
        events,
        checkpoints,
        segments
    );
    check_lookups(&store, want, k).await?;

    // The trail verifies from its first event to its head.
    let head = want.events.last().map(|e| (e.seq, e.hash.clone()));
    assert_eq!(verify_trail(&store).await?, (want.events.len(), head), "the trail from schema {k}");

    // New writes work on the upgraded database and continue the trail.
    let appended = write_after_upgrade(&store, &f).await?;
    let (first, last) = (&appended[0], &appended[appended.len() - 1]);
    assert_eq!(first.seq, want.events.len() as i64 + 1, "schema {k}: the next event follows the old head");
    assert_eq!(Some(first.prev_hash.clone()), want.events.last().map(|e| e.hash.clone()));
    let total = want.events.len() + appended.len();
    assert_eq!(verify_trail(&store).await?, (total, Some((last.seq, last.hash.clone()))), "schema {k}");
    check_time_ranges(&store, total, k).await?;

    // Opening it again, or running the migrations again, changes nothing.
    drop(store);
    let before = conn.snapshot().await?;
    drop(Store::open(&Options::new(db.url.clone())).await.context("this build opens it again")?);
    conn.migrate(migrations(engine)).await.context("the migrations again")?;
    assert_eq!(conn.snapshot().await?, before, "schema {k}: the second run of the migrations is a no-op");
    conn.close().await;
    Ok(())
}

/// A column as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    table: String,
    name: String,
    /// PostgreSQL's type; SQLite's type affinity (`BIGINT` and `INTEGER`
    /// are one to SQLite).
    ty: String,
    not_null: bool,
    has_default: bool,
}

/// What a node of an older release needs of the migrated schema: every
/// column it knew, with its type and nullability, and no new column in a
/// table it writes that its INSERTs would have to fill.
fn assert_additive(before: &[Column], after: &[Column], k: i64) {
    let same = |a: &Column, b: &Column| a.table == b.table && a.name == b.name;
    for old in before {
        let Some(now) = after.iter().find(|c| same(c, old)) else {
            panic!("from schema {k}: {}.{} is gone, which an older node reads", old.table, old.name)
        };
        assert_eq!((&now.ty, now.not_null), (&old.ty, old.not_null), "from schema {k}: {}.{}", old.table, old.name);
    }
    for new in after.iter().filter(|c| before.iter().any(|o| o.table == c.table) && !before.iter().any(|o| same(o, c)))
    {
        assert!(
            !new.not_null || new.has_default,
            "from schema {k}: {}.{} is NOT NULL without a default, so an older node's INSERT fails",
            new.table,
            new.name
        );
    }
}

// ---------------------------------------------------------------------------
// What the database holds.

/// A credential's hash, what kind of owner it has and who (`staff`,
/// `maria`).
type Credential = (String, String, String);

/// What a database holds, as the store's ports read it, in the order they
/// read it.
#[derive(Debug, Clone, Default)]
struct State {
    /// By login.
    staff: Vec<(Staff, StaffProfile)>,
    /// Each staff member's console password hash, in the order of `staff`.
    passwords: Vec<(String, Option<String>)>,
    /// `(hash, owner kind, owner)`.
    credentials: Vec<Credential>,
    console_sessions: Vec<ConsoleSession>,
    /// By name.
    apps: Vec<App>,
    entry_codes: Vec<EntryCode>,
    /// In the order of `apps`.
    connectors: Vec<ConnectorRecord>,
    grants: Vec<Grant>,
    /// Accounts that say whether they need their customer's grant.
    consent: Vec<(String, bool)>,
    tickets: Vec<Ticket>,
    requests: Vec<Request>,
    /// In the order of `requests`.
    decisions: Vec<Decision>,
    sessions: Vec<Session>,
    /// Oldest first.
    keys: Vec<KeyRecord>,
    /// Of the sessions of each app, in the order of `apps`.
    notices: Vec<Notice>,
    webhooks: Vec<Webhook>,
    /// Of each webhook, in the order of `webhooks`.
    deliveries: Vec<Delivery>,
    events: Vec<Event>,
    checkpoints: Vec<Checkpoint>,
    /// Oldest first.
    segments: Vec<Segment>,
}

/// The rows of one schema: what the store must read back, and what it
/// keeps without a port to read it.
#[derive(Debug, Clone)]
struct Fixture {
    policy: Policy,
    want: State,
    /// The trail before it is sealed into `want.events` (in this order).
    trail: Vec<NewEvent>,
    /// `writer_probe`'s count (nothing reads it).
    probe: Option<i64>,
    /// Ticket-system deliveries taken: a replay of one is refused.
    deliveries_taken: Vec<(String, Timestamp)>,
}

/// `minutes` after the tests' [`t0`].
fn at(minutes: i64) -> Timestamp {
    t0() + Duration::minutes(minutes)
}

fn days_ago(days: i64) -> Timestamp {
    t0() - Duration::days(days)
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// What a migration made room for, added to the rows of the schema before.
type Step = fn(&mut Fixture);

/// The migrations after the first, each with the rows it made room for.
const STEPS: [(i64, Step); 13] = [
    (2, v2_console_sessions),
    (3, v3_entry_codes),
    (4, v4_writer_probe),
    (5, v5_key_roles),
    (6, v6_trail_at_any_size),
    (7, v7_ticket_systems),
    (8, v8_scim),
    (9, v9_staff_username),
    (10, v10_stepup),
    (11, v11_customer_consent),
    (12, v12_breakglass),
    (13, v13_webhooks),
    (14, v14_audit_segments),
];

/// The rows the release of schema `k` wrote, and their trail.
fn fixture(k: i64) -> Fixture {
    let mut f = v1_schema();
    for (version, step) in STEPS {
        if version <= k {
            step(&mut f);
        }
    }
    f.seal();
    f
}

impl Fixture {
    fn staff(&self, login: &str) -> &Staff {
        &self.want.staff.iter().find(|(s, _)| s.id == login).unwrap().0
    }
    fn profile(&mut self, login: &str) -> &mut StaffProfile {
        &mut self.want.staff.iter_mut().find(|(s, _)| s.id == login).unwrap().1
    }
    fn app(&mut self, id: &str) -> &mut App {
        self.want.apps.iter_mut().find(|a| a.id == id).unwrap()
    }
    fn ticket(&mut self, reference: &str) -> &mut Ticket {
        self.want.tickets.iter_mut().find(|t| t.reference == reference).unwrap()
    }
    fn request(&mut self, id: &str) -> &mut Request {
        self.want.requests.iter_mut().find(|r| r.id == id).unwrap()
    }
    fn session(&self, id: &str) -> &Session {
        self.want.sessions.iter().find(|s| s.id == id).unwrap()
    }
    /// Replaces the session with `s`'s id by `s`.
    fn update_session(&mut self, s: Session) {
        let kept = self.want.sessions.iter_mut().find(|x| x.id == s.id).unwrap();
        *kept = s;
    }

    /// Records `r`'s creation (its event too).
    fn ask(&mut self, r: Request, needs_approval: bool) {
        let requester = Actor::staff(&r.requester, &r.requester_name);
        let e = NewEvent::new(
            r.created_at,
            requester,
            audit::request_created(&self.policy, &r),
            EventData::RequestCreated(data::RequestCreated {
                reason: r.reason.clone(),
                actions: r.actions.clone(),
                minutes: r.minutes,
                needs_approval,
                playbook: None,
                beyond_playbook: Vec::new(),
                breakglass: r.kind == RequestKind::Breakglass,
            }),
        )
        .about_request(&r);
        self.trail.push(e);
        self.want.requests.push(r);
    }

    /// Approves request `id` as asked, by `by` (the policy, a lead, or
    /// nobody for break-glass), at `when`; its decision and event.
    fn approve(&mut self, id: &str, by: Approver, when: Timestamp, note: Option<&str>) {
        let valid = Duration::minutes(i64::from(self.policy.session.approval_valid_minutes));
        let r = self.request(id);
        r.status = RequestStatus::Approved;
        r.granted_actions = Some(r.actions.clone());
        r.granted_minutes = Some(r.minutes);
        r.decided_by = Some(by.id.clone());
        r.decided_by_name = Some(by.name.clone());
        r.decided_at = Some(when);
        r.decision_note = note.map(str::to_string);
        r.start_by = Some(when + valid);
        r.updated_at = when;
        let r = r.clone();
        let kind = if by.is_policy() {
            DecisionKind::Policy
        } else if by.is_breakglass() {
            DecisionKind::Breakglass
        } else {
            DecisionKind::Approve
        };
        self.want.decisions.push(Decision {
            id: id.replace("req_", "dec_"),
            request_id: r.id.clone(),
            kind,
            decider: by.id.clone(),
            decider_name: by.name.clone(),
            actions: r.actions.clone(),
            minutes: r.minutes,
            removed: Vec::new(),
            added: Vec::new(),
            note: r.decision_note.clone(),
            at: when,
        });
        if by.is_breakglass() {
            // Nobody approves break-glass; its request.created says so.
            return;
        }
        let actor = if by.is_policy() { Actor::policy() } else { Actor::staff(&by.id, &by.name) };
        let granted = data::Grant { actions: r.actions.clone(), minutes: r.minutes };
        let text = audit::request_approved(
            &self.policy,
            (!by.is_policy()).then_some(by.name.as_str()),
            &r,
            &r.actions,
            r.minutes,
        );
        let e = NewEvent::new(
            when,
            actor,
            text,
            EventData::RequestApproved(data::Approval {
                asked: granted.clone(),
                granted,
                removed: Vec::new(),
                added: Vec::new(),
                note: r.decision_note.clone(),
                by_policy: by.is_policy(),
            }),
        )
        .about_request(&r);
        self.trail.push(e);
    }

    /// Starts approved request `id` as session `session_id` for `app` at
    /// `when`; the session and its `session.started`.
    fn start(&mut self, id: &str, session_id: &str, app: &str, when: Timestamp) -> Session {
        let r = self.request(id);
        r.status = RequestStatus::Started;
        r.session_id = Some(session_id.into());
        r.updated_at = when;
        let r = r.clone();
        let approver = Approver {
            id: r.decided_by.clone().unwrap_or_default(),
            name: r.decided_by_name.clone().unwrap_or_default(),
        };
        let s = session(session_id, &r, approver, app, when);
        let e = NewEvent::new(
            when,
            Actor::staff(&s.agent, &s.agent_name),
            audit::session_started(&self.policy, &s),
            EventData::SessionStarted(data::SessionStarted {
                scope: s.scope.clone(),
                ends_at: s.ends_at,
                approver: s.approver.clone(),
                audience: s.app_id.clone(),
            }),
        )
        .about_session(&s);
        self.trail.push(e);
        self.want.sessions.push(s.clone());
        s
    }

    /// Seals the trail into the chain (ids, seqs, hashes, as the store
    /// appends), and signs its head with the newest key that signs the trail.
    fn seal(&mut self) {
        let mut prev = GENESIS.to_string();
        for (n, mut e) in std::mem::take(&mut self.trail).into_iter().enumerate() {
            let seq = n as i64 + 1;
            e.id = RandomIds.ordered_id("evt", seq as u64);
            let event = e.seal(seq, &prev);
            prev = event.hash.clone();
            self.want.events.push(event);
        }
        let head = self.want.events.last().unwrap();
        let signer = self.want.keys.iter().rev().find(|k| k.role.serves(KeyRole::Checkpoint)).unwrap();
        self.want.checkpoints.push(Checkpoint {
            seq: head.seq,
            hash: head.hash.clone(),
            kid: signer.kid.clone(),
            signature: "c2lnbmF0dXJlIG9mIHRoZSBoZWFk".into(),
            at: head.at + Duration::seconds(1),
        });
        // A segment's manifest names the events it seals.
        for s in &mut self.want.segments {
            let (first, last) =
                (&self.want.events[s.first_seq as usize - 1], &self.want.events[s.last_seq as usize - 1]);
            let manifest = Manifest {
                format: segment::FORMAT.into(),
                file: Manifest::file_name(s.first_seq, s.last_seq),
                first_seq: s.first_seq,
                last_seq: s.last_seq,
                prev_hash: first.prev_hash.clone(),
                last_hash: last.hash.clone(),
                first_at: format_ms(first.at),
                last_at: format_ms(last.at),
                sha256: "f6".repeat(32),
                sealed_at: format_ms(s.sealed_at),
                kid: signer.kid.clone(),
                signature: "c2lnbmF0dXJlIG9mIHRoZSBzZWdtZW50".into(),
            };
            s.manifest = json(&manifest);
        }
        // A delivery names the event it carried.
        for d in &mut self.want.deliveries {
            let e = self.want.events.iter().find(|e| e.kind == d.event_type).unwrap();
            d.seq = e.seq;
            d.event_id = e.id.clone();
            for w in self.want.webhooks.iter_mut().filter(|w| w.id == d.webhook_id) {
                w.after_seq = e.seq - 1;
            }
        }
    }
}

fn person(login: &str, name: &str, role: Role) -> Staff {
    Staff { id: login.into(), name: name.into(), roles: vec![role], disabled: false, created_at: days_ago(30) }
}

/// `requester`'s request `id` for `actions` under `ticket`, made at `when`.
fn request(id: &str, requester: &Staff, ticket: &Ticket, actions: &[&str], reason: &str, when: Timestamp) -> Request {
    let new = NewRequest {
        kind: RequestKind::Access,
        ticket: ticket.reference.clone(),
        account_id: ticket.account_id.clone(),
        account_name: ticket.account_name.clone(),
        reason: reason.into(),
        actions: strings(actions),
        minutes: 15,
        session_id: None,
        playbook: None,
        stepup: None,
    };
    Request::pending(id.into(), new, requester, when)
}

/// The live session `id` of started request `r`, approved by `approver`,
/// for `app`, from `when` for the minutes granted.
fn session(id: &str, r: &Request, approver: Approver, app: &str, when: Timestamp) -> Session {
    Session {
        id: id.into(),
        request_id: r.id.clone(),
        ticket: r.ticket.clone(),
        account_id: r.account_id.clone(),
        account_name: r.account_name.clone(),
        agent: r.requester.clone(),
        agent_name: r.requester_name.clone(),
        approver: approver.id.clone(),
        approver_name: approver.name.clone(),
        approvers: vec![approver],
        app_id: app.into(),
        scope: r.granted_actions.clone().unwrap_or_default(),
        reason: r.reason.clone(),
        started_at: when,
        ends_at: when + Duration::minutes(i64::from(r.granted_minutes.unwrap_or(r.minutes))),
        last_activity_at: when,
        state: SessionState::Live,
        end_reason: None,
        ended_at: None,
        ended_by: None,
        end_note: None,
        breakglass: r.kind == RequestKind::Breakglass,
        review: None,
    }
}

/// Ends `s` for `reason` at `when`, by `by`.
fn end(s: &Session, reason: EndReason, when: Timestamp, by: &str) -> Session {
    Session {
        state: SessionState::Ended,
        end_reason: Some(reason),
        ended_at: Some(when),
        ended_by: Some(by.into()),
        ..s.clone()
    }
}

/// The event of `s`'s end.
fn end_event(s: &Session, actor: Actor) -> NewEvent {
    let (reason, at) = (s.end_reason.unwrap(), s.ended_at.unwrap());
    let end =
        data::SessionEnd { end_reason: reason.as_str().into(), note: s.end_note.clone(), started_at: s.started_at };
    let payload = match reason {
        EndReason::Expired => EventData::SessionExpired(end),
        _ => EventData::SessionEnded(end),
    };
    NewEvent::new(at, actor, audit::session_end(s, reason, at, 10, None, None), payload).about_session(s)
}

/// Schema 1: staff, apps, tickets, requests, decisions, sessions, a signing
/// key, a customer note and the trail.
fn v1_schema() -> Fixture {
    let policy = Policy::shipped();
    let mut f = Fixture {
        policy: policy.clone(),
        want: State::default(),
        trail: Vec::new(),
        probe: None,
        deliveries_taken: Vec::new(),
    };
    f.trail.push(NewEvent::new(
        days_ago(30),
        Actor::system(),
        audit::policy_loaded(&policy),
        EventData::PolicyLoaded(data::PolicyLoaded {
            sha256: policy.digest().to_string(),
            actions: policy.actions().len(),
            scope_change: policy.session.scope_change.as_str().into(),
        }),
    ));

    let jon = person("jon", "Jon Park", Role::Agent);
    let maria = person("maria", "Maria Lopez", Role::Agent);
    let sam = person("sam", "Sam Lee", Role::Lead);
    for s in [&jon, &maria, &sam] {
        let roles = s.roles.iter().map(|r| r.as_str().to_string()).collect();
        f.trail.push(NewEvent::new(
            s.created_at,
            Actor::system(),
            audit::staff_created("actas", s),
            EventData::StaffCreated(data::StaffCreated { login: s.id.clone(), name: s.name.clone(), roles }),
        ));
    }
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
    f.want.passwords =
        vec![("jon".into(), None), ("maria".into(), Some(hash.into())), ("sam".into(), Some(hash.into()))];
    f.want.staff = [jon.clone(), maria.clone(), sam.clone()].map(|s| (s, StaffProfile::default())).into();
    f.want.credentials =
        vec![("a1".repeat(32), "staff".into(), "maria".into()), ("b2".repeat(32), "app".into(), "app_billing".into())];

    let billing = App {
        id: "app_billing".into(),
        name: "Acme Billing".into(),
        tickets: false,
        scim: false,
        consent: false,
        origins: strings(&["https://billing.example", "https://admin.billing.example"]),
        entry_url: None,
        created_at: days_ago(20),
    };
    let desk = App {
        id: "app_desk".into(),
        name: "Support desk".into(),
        tickets: true,
        origins: Vec::new(),
        ..billing.clone()
    };
    for a in [&billing, &desk] {
        f.trail.push(NewEvent::new(
            a.created_at,
            Actor::system(),
            audit::app_created("actas", a, None),
            EventData::AppCreated(data::AppCreated {
                app: a.id.clone(),
                name: a.name.clone(),
                tickets: a.tickets,
                origins: a.origins.clone(),
                scim: false,
                connector: None,
                consent: false,
            }),
        ));
    }
    f.want.apps = vec![billing, desk];

    // A ticket typed in by Maria and one the support desk pushed. Before
    // schema 7 a ticket had no status, assignee, tags or source: the
    // migration makes both open, the first `hand` (its creator is staff)
    // and the second `app`.
    let typed = Ticket {
        reference: "48192".into(),
        account_id: "acct_42".into(),
        account_name: Some("Acme Corp".into()),
        subject: "Invoices still go to the old e-mail address".into(),
        url: None,
        created_by: "maria".into(),
        created_at: at(-60),
        status: TicketStatus::Open,
        assignee: None,
        tags: Vec::new(),
        source: TicketSource::Hand,
        updated_at: at(-60),
    };
    let pushed = Ticket {
        reference: "48193".into(),
        account_id: "acct_7".into(),
        account_name: Some("Globex".into()),
        subject: "Refund for a double charge".into(),
        url: Some("https://desk.example/tickets/48193".into()),
        created_by: "app_desk".into(),
        created_at: at(-50),
        source: TicketSource::App,
        updated_at: at(-50),
        ..typed.clone()
    };
    for (t, actor) in
        [(&typed, Actor::staff("maria", "Maria Lopez")), (&pushed, Actor::app("app_desk", "Support desk"))]
    {
        let text = audit::ticket_created(&actor.name, t);
        let e = NewEvent::new(
            t.created_at,
            actor,
            text,
            EventData::TicketCreated(data::TicketCreated {
                subject: t.subject.clone(),
                account_name: t.account_name.clone(),
                url: t.url.clone(),
                source: None,
                status: None,
                assignee: None,
                tags: Vec::new(),
            }),
        );
        f.trail.push(e.account(&t.account_id).ticket(&t.reference));
    }
    f.want.tickets = vec![typed.clone(), pushed.clone()];

    // Jon's session, approved by the policy, ran out; the customer was told.
    let policy_approver = Approver { id: "policy".into(), name: "Policy".into() };
    f.ask(
        request("req_done", &jon, &typed, &["settings.view"], "Customer cannot see the saved settings", at(-40)),
        false,
    );
    f.approve("req_done", policy_approver.clone(), at(-40), None);
    let done = f.start("req_done", "ses_done", "app_billing", at(-40));
    let done = Session { last_activity_at: at(-30), ..end(&done, EndReason::Expired, at(-25), "system") };
    f.trail.push(end_event(&done, Actor::system()));
    f.update_session(done.clone());
    let note = NoticeData {
        agent_name: done.agent_name.clone(),
        approver_name: done.approver_name.clone(),
        changes: Vec::new(),
        end_reason: done.end_reason,
        ended_at: at(-25),
        reason: done.reason.clone(),
        started_at: done.started_at,
        ticket: done.ticket.clone(),
    };
    let notice = Notice {
        id: "ntc_done".into(),
        seq: 1,
        session_id: done.id.clone(),
        account_id: done.account_id.clone(),
        text: audit::customer_note(&done, &[], at(-25)),
        data: note,
        created_at: at(-25),
        delivered_at: Some(at(-24)),
    };
    f.trail.push(
        NewEvent::new(
            at(-24),
            Actor::app("app_billing", "Acme Billing"),
            audit::customer_notified("Acme Billing", &done.account_label(), &done.agent_name, &done.ticket),
            EventData::CustomerNotified(data::CustomerNotified {
                notice: notice.id.clone(),
                text: notice.text.clone(),
            }),
        )
        .about_session(&done),
    );
    f.want.notices = vec![notice];

    // Maria's session, approved by Sam, is live.
    let reason = "Customer says invoices still go to their old address; check and fix the invoice e-mail";
    f.ask(request("req_live", &maria, &typed, &["settings.view", "invoice_email.update"], reason, at(0)), true);
    let sam_approves = Approver { id: sam.id.clone(), name: sam.name.clone() };
    f.approve("req_live", sam_approves, at(2), Some("Only the invoice address"));
    let live = f.start("req_live", "ses_live", "app_billing", at(5));
    let live = Session { last_activity_at: at(7), ..live };
    f.update_session(live);

    // Jon's request under the desk's ticket is approved, not started yet.
    let reason = "Customer was charged twice for November; look at the invoices";
    f.ask(request("req_ready", &jon, &pushed, &["invoices.view"], reason, at(10)), false);
    f.approve("req_ready", policy_approver, at(10), None);

    f.want.keys = vec![KeyRecord {
        kid: "key_2026a".into(),
        role: KeyRole::Legacy,
        private_key: "v1:kek_2026:bm9uY2Vub25jZW5vbmNlbm9uY2U:c2VhbGVkIHByaXZhdGUga2V5".into(),
        public_key: "cHVibGljIGtleSBvZiBrZXlfMjAyNmE".into(),
        created_at: days_ago(20),
        retired_at: None,
    }];
    f
}

/// Schema 2: console sign-ins.
fn v2_console_sessions(f: &mut Fixture) {
    f.want.console_sessions.push(ConsoleSession {
        id_hash: "c3".repeat(32),
        staff_id: "maria".into(),
        csrf: "Jm9yIGV2ZXJ5IGZvcm0gb2YgdGhpcyBzZXNzaW9u".into(),
        created_at: at(-120),
        last_seen_at: at(6),
    });
}

/// Schema 3: a session's app and approvers (backfilled before: the app from
/// its `session.started`, the approver alone), an app's entry address, and
/// one-time entry codes.
fn v3_entry_codes(f: &mut Fixture) {
    f.app("app_billing").entry_url = Some("https://billing.example/support/enter".into());
    let live = f.session("ses_live").clone();
    let used = at(5) + Duration::seconds(30);
    f.want.entry_codes.push(EntryCode {
        hash: "d4".repeat(32),
        session_id: live.id.clone(),
        created_at: at(5),
        expires_at: at(7),
        used_at: Some(used),
    });
    f.trail.push(
        NewEvent::new(
            used,
            Actor::app("app_billing", "Acme Billing"),
            audit::session_entered(&live, "Acme Billing", used),
            EventData::SessionEntered(data::SessionEntered { app: "app_billing".into() }),
        )
        .about_session(&live),
    );
}

/// Schema 4: the writer's probe row.
fn v4_writer_probe(f: &mut Fixture) {
    f.probe = Some(3);
}

/// Schema 5: a key's role (keys from before are `legacy`); a checkpoint
/// key made since signs the head.
fn v5_key_roles(f: &mut Fixture) {
    let key = KeyRecord {
        kid: "key_2026b".into(),
        role: KeyRole::Checkpoint,
        private_key: "v1:kek_2026:b3RoZXJub25jZW90aGVybm9uY2U:YSBjaGVja3BvaW50IGtleQ".into(),
        public_key: "cHVibGljIGtleSBvZiBrZXlfMjAyNmI".into(),
        created_at: days_ago(2),
        retired_at: None,
    };
    f.trail.push(NewEvent::new(
        key.created_at,
        Actor::system(),
        audit::key_rotated("actas", false, &key.kid, None),
        EventData::KeyRotated(data::KeyRotated::SigningKey {
            kid: key.kid.clone(),
            role: "checkpoint".into(),
            retired: Vec::new(),
        }),
    ));
    f.want.keys.push(key);
}

/// Schema 6: nothing new to hold; the release of schema 6 also kept the
/// trail's time index (see `write_rows`), which the migration builds for
/// older trails.
fn v6_trail_at_any_size(_: &mut Fixture) {}

/// Schema 7: tickets from the ticket systems (status, assignee, tags,
/// source), a request's playbook, a connector and the deliveries it took.
fn v7_ticket_systems(f: &mut Fixture) {
    let before = f.ticket("48193").clone();
    let t = f.ticket("48193");
    t.status = TicketStatus::Pending;
    t.assignee = Some("maria".into());
    t.tags = strings(&["billing", "refund"]);
    t.source = TicketSource::Zendesk;
    t.updated_at = at(-20);
    let after = t.clone();
    let changed = strings(&["status", "assignee", "tags"]);
    f.trail.push(
        NewEvent::new(
            at(-20),
            Actor::app("app_desk", "Support desk"),
            audit::ticket_updated("Zendesk", &before, &after, &changed, 0),
            EventData::TicketUpdated(data::TicketUpdated {
                source: "zendesk".into(),
                changed,
                old_status: before.status.as_str().into(),
                status: after.status.as_str().into(),
                subject: after.subject.clone(),
                assignee: after.assignee.clone(),
                old_assignee: None,
                tags: after.tags.clone(),
                sessions_ended: Vec::new(),
            }),
        )
        .account(&after.account_id)
        .ticket(&after.reference),
    );
    f.request("req_live").playbook = Some("invoice_page_wrong".into());

    let desk = f.app("app_desk").clone();
    f.want.connectors.push(ConnectorRecord {
        app_id: desk.id.clone(),
        kind: Connector::Zendesk,
        secret: "v1:kek_2026:emVuZGVza25vbmNlemVuZGVzaw:YSBzaGFyZWQgc2VjcmV0".into(),
        mapping: Mapping::default_for(Connector::Zendesk),
        created_at: days_ago(10),
    });
    f.trail.push(NewEvent::new(
        days_ago(10),
        Actor::system(),
        audit::app_connector_set("actas", &desk, "Zendesk", false),
        EventData::AppUpdated(data::AppUpdated {
            app: desk.id.clone(),
            name: desk.name.clone(),
            changed: strings(&["connector"]),
            connector: "zendesk".into(),
        }),
    ));
    f.deliveries_taken.push(("zendesk:48193:1795615200".into(), at(-20)));
}

/// Schema 8: SCIM provisioning (an app's permission, what the identity
/// provider knows of a staff member).
fn v8_scim(f: &mut Fixture) {
    f.app("app_desk").scim = true;
    let p = f.profile("maria");
    p.external_id = Some("00u1maria".into());
    p.email = Some("maria@support.example".into());
    p.updated_at = Some(days_ago(1));
}

/// Schema 9: the name the identity provider knows a staff member by.
fn v9_staff_username(f: &mut Fixture) {
    f.profile("maria").username = Some("maria.lopez@support.example".into());
}

/// Schema 10: a step-up and the one change it is for.
fn v10_stepup(f: &mut Fixture) {
    let maria = f.staff("maria").clone();
    let ticket = f.want.tickets[0].clone();
    let reason = "Customer wants invoices sent to billing@acme.example from now on";
    let mut r = request("req_stepup", &maria, &ticket, &["billing.update"], reason, at(15));
    r.kind = RequestKind::Stepup;
    r.minutes = 5;
    r.session_id = Some("ses_live".into());
    let target = Target { account_id: Some("acct_42".into()), kind: Some("invoice".into()), id: Some("inv_7".into()) };
    let changes = vec![StoredChange {
        field: "billing_email".into(),
        old: Some("old@acme.example".into()),
        new: Some("billing@acme.example".into()),
    }];
    r.stepup = Some(StepUp { target: Some(target.clone()), changes: changes.clone(), values: Some("e5".repeat(32)) });
    let action = f.policy.action("billing.update").unwrap().clone();
    f.trail.push(
        NewEvent::new(
            r.created_at,
            Actor::staff(&maria.id, &maria.name),
            audit::stepup_requested(&f.policy, &r),
            EventData::StepupRequested(data::StepupRequested {
                reason: r.reason.clone(),
                action: action.name.clone(),
                label: action.label.clone(),
                target: Some(target),
                changes,
                needs_approval: true,
            }),
        )
        .about_request(&r)
        .session("ses_live"),
    );
    f.want.requests.push(r);
}

/// Schema 11: customer consent (an app's setting, grants, an account's own
/// setting).
fn v11_customer_consent(f: &mut Fixture) {
    f.app("app_billing").consent = true;
    let grant = Grant {
        id: "grt_1".into(),
        account_id: "acct_42".into(),
        app_id: "app_billing".into(),
        granted_by: "u_981 (owner of Acme Corp)".into(),
        hours: 24,
        created_at: at(-90),
        expires_at: at(-90) + Duration::hours(24),
        revoked_at: None,
        revoked_by: None,
    };
    f.trail.push(
        NewEvent::new(
            grant.created_at,
            Actor::app("app_billing", "Acme Billing"),
            audit::grant_created(&grant, "Acme Billing"),
            EventData::GrantCreated(data::GrantCreated {
                grant: grant.id.clone(),
                granted_by: grant.granted_by.clone(),
                hours: grant.hours,
                expires_at: grant.expires_at,
                app: grant.app_id.clone(),
            }),
        )
        .account(&grant.account_id),
    );
    f.want.grants.push(grant);
    f.want.consent.push(("acct_7".into(), true));
}

/// Schema 12: break-glass: a session started without a lead's approval,
/// and a lead's review of it once it ended.
fn v12_breakglass(f: &mut Fixture) {
    let jon = f.staff("jon").clone();
    let ticket = f.want.tickets[1].clone();
    let reason = "Checkout fails for every Globex user since 14:05; the outage needs a fix now";
    let mut r = request("req_glass", &jon, &ticket, &["settings.view", "settings.update"], reason, at(12));
    r.kind = RequestKind::Breakglass;
    f.ask(r, false);
    f.approve("req_glass", Approver::breakglass(), at(12), None);
    let s = f.start("req_glass", "ses_glass", "app_billing", at(12));
    f.trail.push(
        NewEvent::new(
            at(12),
            Actor::staff(&jon.id, &jon.name),
            audit::breakglass_started(&f.policy, &s),
            EventData::BreakglassStarted(data::BreakglassStarted {
                request: s.request_id.clone(),
                scope: s.scope.clone(),
                ends_at: s.ends_at,
                reason: s.reason.clone(),
            }),
        )
        .about_session(&s),
    );
    let mut s = end(&s, EndReason::Ended, at(14), "jon");
    f.trail.push(end_event(&s, Actor::staff(&jon.id, &jon.name)));
    let review = Review { by: "sam".into(), by_name: "Sam Lee".into(), at: at(16), note: "Outage confirmed".into() };
    f.trail.push(
        NewEvent::new(
            review.at,
            Actor::staff(&review.by, &review.by_name),
            audit::session_reviewed(&s, &review.by_name, &review.note),
            EventData::SessionReviewed(data::SessionReviewed { note: review.note.clone(), agent: s.agent.clone() }),
        )
        .about_session(&s),
    );
    s.review = Some(review);
    f.update_session(s);
}

/// Schema 13: a webhook out and its delivery log.
fn v13_webhooks(f: &mut Fixture) {
    let events = Selection::parse(&["session.started", "breakglass.started"]).unwrap();
    let hook = Webhook {
        id: "whk_1".into(),
        url: "https://siem.example/actas".into(),
        events: events.clone(),
        secret: "v1:kek_2026:d2ViaG9va25vbmNld2ViaG9vaw:YSB3ZWJob29rIHNlY3JldA".into(),
        created_at: at(18),
        created_by: "sam".into(),
        // Set when the trail is sealed: up to the event before the one
        // that failed.
        after_seq: 0,
        state: WebhookState::Active,
        failures: 1,
        next_attempt_at: Some(at(19)),
        last_error: Some("HTTP 503".into()),
        lease_until: None,
    };
    f.trail.push(NewEvent::new(
        hook.created_at,
        Actor::staff("sam", "Sam Lee"),
        audit::webhook_created("Sam Lee", &hook.url, &events.to_string()),
        EventData::WebhookCreated(data::WebhookCreated {
            webhook: hook.id.clone(),
            url: hook.url.clone(),
            events: events.names(),
        }),
    ));
    f.want.deliveries.push(Delivery {
        id: "whd_1".into(),
        webhook_id: hook.id.clone(),
        // The first `session.started`, set when the trail is sealed.
        seq: 0,
        event_id: String::new(),
        event_type: EventType::SessionStarted,
        attempt: 1,
        at: at(18) + Duration::seconds(30),
        status: Some(503),
        ok: false,
        error: Some("HTTP 503".into()),
        replay: false,
    });
    f.want.webhooks.push(hook);
}

/// Schema 14: sealed segments of the trail (`actas audit archive`). The
/// first events are sealed in a segment whose files are written; they are
/// still in the table, as between recording a segment and removing its
/// events.
fn v14_audit_segments(f: &mut Fixture) {
    // The manifest is made when the trail is sealed.
    f.want.segments.push(Segment { first_seq: 1, last_seq: 4, manifest: String::new(), sealed_at: at(19) });
}

// ---------------------------------------------------------------------------
// Writing the rows as the old release did, in plain SQL.

/// A column's value.
#[derive(Debug, Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// One `INSERT`: a table and its columns' values.
#[derive(Debug)]
struct Row {
    table: &'static str,
    columns: Vec<&'static str>,
    values: Vec<Value>,
}

impl Row {
    fn insert_into(table: &'static str) -> Row {
        Row { table, columns: Vec::new(), values: Vec::new() }
    }
    fn set(mut self, column: &'static str, value: Value) -> Row {
        self.columns.push(column);
        self.values.push(value);
        self
    }
    fn text(self, column: &'static str, v: impl Into<String>) -> Row {
        self.set(column, Value::Text(Some(v.into())))
    }
    fn opt_text(self, column: &'static str, v: Option<impl Into<String>>) -> Row {
        self.set(column, Value::Text(v.map(Into::into)))
    }
    /// A list, as the store keeps one: names separated by spaces.
    fn list(self, column: &'static str, v: &[String]) -> Row {
        self.text(column, v.join(" "))
    }
    fn int(self, column: &'static str, v: i64) -> Row {
        self.set(column, Value::Int(Some(v)))
    }
    fn opt_int(self, column: &'static str, v: Option<i64>) -> Row {
        self.set(column, Value::Int(v))
    }
    /// A time, as the store keeps one: microseconds since the epoch.
    fn time(self, column: &'static str, t: Timestamp) -> Row {
        self.int(column, t.timestamp_micros())
    }
    fn opt_time(self, column: &'static str, t: Option<Timestamp>) -> Row {
        self.opt_int(column, t.map(|t| t.timestamp_micros()))
    }
    fn bool(self, column: &'static str, v: bool) -> Row {
        self.set(column, Value::Bool(v))
    }
    fn bytes(self, column: &'static str, v: &[u8]) -> Row {
        self.set(column, Value::Bytes(v.to_vec()))
    }

    fn sql(&self) -> String {
        let places: Vec<String> = (1..=self.values.len()).map(|n| format!("${n}")).collect();
        format!("INSERT INTO {} ({}) VALUES ({})", self.table, self.columns.join(", "), places.join(", "))
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

fn staff_row(k: i64, s: &Staff, p: &StaffProfile, password: Option<&str>) -> Row {
    let roles: Vec<String> = s.roles.iter().map(|r| r.as_str().to_string()).collect();
    let mut row = Row::insert_into("staff")
        .text("id", &s.id)
        .text("name", &s.name)
        .list("roles", &roles)
        .opt_text("password_hash", password)
        .bool("disabled", s.disabled)
        .time("created_at", s.created_at);
    if k >= 8 {
        row = row
            .opt_text("external_id", p.external_id.as_deref())
            .opt_text("email", p.email.as_deref())
            .opt_time("updated_at", p.updated_at);
    }
    if k >= 9 {
        row = row.opt_text("username", p.username.as_deref());
    }
    row
}

fn app_row(k: i64, a: &App) -> Row {
    let mut row = Row::insert_into("apps")
        .text("id", &a.id)
        .text("name", &a.name)
        .bool("tickets", a.tickets)
        .list("origins", &a.origins)
        .time("created_at", a.created_at);
    if k >= 3 {
        row = row.opt_text("entry_url", a.entry_url.as_deref());
    }
    if k >= 8 {
        row = row.bool("scim", a.scim);
    }
    if k >= 11 {
        row = row.bool("consent", a.consent);
    }
    row
}

fn ticket_row(k: i64, t: &Ticket) -> Row {
    let mut row = Row::insert_into("tickets")
        .text("ref", &t.reference)
        .text("account_id", &t.account_id)
        .opt_text("account_name", t.account_name.as_deref())
        .text("subject", &t.subject)
        .opt_text("url", t.url.as_deref())
        .text("created_by", &t.created_by)
        .time("created_at", t.created_at);
    if k >= 7 {
        row = row
            .text("status", t.status.as_str())
            .opt_text("assignee", t.assignee.as_deref())
            .text("tags", json(&t.tags))
            .text("source", t.source.as_str())
            .time("updated_at", t.updated_at);
    }
    row
}

fn request_row(k: i64, r: &Request) -> Row {
    let mut row = Row::insert_into("requests")
        .text("id", &r.id)
        .text("kind", r.kind.as_str())
        .text("ticket", &r.ticket)
        .text("account_id", &r.account_id)
        .opt_text("account_name", r.account_name.as_deref())
        .text("requester", &r.requester)
        .text("requester_name", &r.requester_name)
        .text("reason", &r.reason)
        .list("actions", &r.actions)
        .int("minutes", i64::from(r.minutes))
        .text("status", r.status.as_str())
        .opt_text("session_id", r.session_id.as_deref())
        .opt_text("granted_actions", r.granted_actions.as_ref().map(|a| a.join(" ")))
        .opt_int("granted_minutes", r.granted_minutes.map(i64::from))
        .opt_text("decided_by", r.decided_by.as_deref())
        .opt_text("decided_by_name", r.decided_by_name.as_deref())
        .opt_time("decided_at", r.decided_at)
        .opt_text("decision_note", r.decision_note.as_deref())
        .opt_time("start_by", r.start_by)
        .time("created_at", r.created_at)
        .time("updated_at", r.updated_at);
    if k >= 7 {
        row = row.opt_text("playbook", r.playbook.as_deref());
    }
    if k >= 10 {
        row = row.opt_text("stepup", r.stepup.as_ref().map(json));
    }
    row
}

fn decision_row(d: &Decision) -> Row {
    Row::insert_into("decisions")
        .text("id", &d.id)
        .text("request_id", &d.request_id)
        .text("kind", d.kind.as_str())
        .text("decider", &d.decider)
        .text("decider_name", &d.decider_name)
        .list("actions", &d.actions)
        .int("minutes", i64::from(d.minutes))
        .list("removed", &d.removed)
        .list("added", &d.added)
        .opt_text("note", d.note.as_deref())
        .time("at", d.at)
}

fn session_row(k: i64, s: &Session) -> Row {
    let mut row = Row::insert_into("sessions")
        .text("id", &s.id)
        .text("request_id", &s.request_id)
        .text("ticket", &s.ticket)
        .text("account_id", &s.account_id)
        .opt_text("account_name", s.account_name.as_deref())
        .text("agent", &s.agent)
        .text("agent_name", &s.agent_name)
        .text("approver", &s.approver)
        .text("approver_name", &s.approver_name)
        .list("scope", &s.scope)
        .text("reason", &s.reason)
        .time("started_at", s.started_at)
        .time("ends_at", s.ends_at)
        .time("last_activity_at", s.last_activity_at)
        .text("state", s.state.as_str())
        .opt_text("end_reason", s.end_reason.map(|r| r.as_str()))
        .opt_time("ended_at", s.ended_at)
        .opt_text("ended_by", s.ended_by.as_deref())
        .opt_text("end_note", s.end_note.as_deref());
    if k >= 3 {
        let approvers: Vec<[&str; 2]> = s.approvers.iter().map(|a| [a.id.as_str(), a.name.as_str()]).collect();
        row = row.text("app_id", &s.app_id).text("approvers", json(&approvers));
    }
    if k >= 12 {
        let review = s.review.as_ref();
        row = row
            .bool("breakglass", s.breakglass)
            .opt_text("reviewed_by", review.map(|r| r.by.as_str()))
            .opt_text("reviewed_by_name", review.map(|r| r.by_name.as_str()))
            .opt_time("reviewed_at", review.map(|r| r.at))
            .opt_text("review_note", review.map(|r| r.note.as_str()));
    }
    row
}

fn key_row(k: i64, key: &KeyRecord) -> Row {
    let mut row = Row::insert_into("signing_keys")
        .text("kid", &key.kid)
        .text("private_key", &key.private_key)
        .text("public_key", &key.public_key)
        .time("created_at", key.created_at)
        .opt_time("retired_at", key.retired_at);
    if k >= 5 {
        row = row.text("role", key.role.as_str());
    }
    row
}

fn event_row(e: &Event) -> Row {
    Row::insert_into("audit_events")
        .int("seq", e.seq)
        .text("id", &e.id)
        .text("at", format_ms(e.at))
        .text("type", e.kind.as_str())
        .text("actor", e.actor.to_json().to_string())
        .opt_text("account_id", e.account_id.as_deref())
        .opt_text("ticket", e.ticket.as_deref())
        .opt_text("request_id", e.request_id.as_deref())
        .opt_text("session_id", e.session_id.as_deref())
        .opt_text("agent", e.agent.as_deref())
        .text("data", e.data.to_string())
        .text("text", &e.text)
        .text("prev_hash", &e.prev_hash)
        .text("hash", &e.hash)
}

/// Writes the rows of schema `k` into a database at schema `k`, tables
/// before the tables that refer to them.
async fn write_rows(db: &mut Conn, k: i64, f: &Fixture) -> anyhow::Result<()> {
    let s = &f.want;
    let mut rows = Vec::new();
    for ((staff, profile), (_, password)) in s.staff.iter().zip(&s.passwords) {
        rows.push(staff_row(k, staff, profile, password.as_deref()));
    }
    for (hash, kind, owner) in &s.credentials {
        rows.push(
            Row::insert_into("credentials")
                .text("hash", hash)
                .text("owner_kind", kind)
                .text("owner_id", owner)
                .time("created_at", days_ago(20)),
        );
    }
    rows.extend(s.apps.iter().map(|a| app_row(k, a)));
    rows.extend(s.tickets.iter().map(|t| ticket_row(k, t)));
    rows.extend(s.requests.iter().map(|r| request_row(k, r)));
    rows.extend(s.decisions.iter().map(decision_row));
    rows.extend(s.sessions.iter().map(|x| session_row(k, x)));
    rows.extend(s.keys.iter().map(|key| key_row(k, key)));
    for n in &s.notices {
        rows.push(
            Row::insert_into("notices")
                .text("id", &n.id)
                .text("session_id", &n.session_id)
                .text("account_id", &n.account_id)
                .text("text", &n.text)
                .text("data", json(&n.data))
                .time("created_at", n.created_at)
                .opt_time("delivered_at", n.delivered_at),
        );
    }
    for c in &s.console_sessions {
        rows.push(
            Row::insert_into("console_sessions")
                .text("id_hash", &c.id_hash)
                .text("staff_id", &c.staff_id)
                .text("csrf", &c.csrf)
                .time("created_at", c.created_at)
                .time("last_seen_at", c.last_seen_at),
        );
    }
    for c in &s.entry_codes {
        rows.push(
            Row::insert_into("entry_codes")
                .text("hash", &c.hash)
                .text("session_id", &c.session_id)
                .time("created_at", c.created_at)
                .time("expires_at", c.expires_at)
                .opt_time("used_at", c.used_at),
        );
    }
    if let Some(n) = f.probe {
        rows.push(Row::insert_into("writer_probe").int("id", 1).int("n", n));
    }
    for c in &s.connectors {
        rows.push(
            Row::insert_into("connectors")
                .text("app_id", &c.app_id)
                .text("kind", c.kind.as_str())
                .bytes("secret", c.secret.as_bytes())
                .text("mapping", json(&c.mapping))
                .time("created_at", c.created_at),
        );
    }
    for (key, when) in &f.deliveries_taken {
        rows.push(Row::insert_into("connector_deliveries").text("key", key).time("received_at", *when));
    }
    for g in &s.grants {
        rows.push(
            Row::insert_into("grants")
                .text("id", &g.id)
                .text("account_id", &g.account_id)
                .text("app_id", &g.app_id)
                .text("granted_by", &g.granted_by)
                .int("hours", i64::from(g.hours))
                .time("created_at", g.created_at)
                .time("expires_at", g.expires_at)
                .opt_time("revoked_at", g.revoked_at)
                .opt_text("revoked_by", g.revoked_by.as_deref()),
        );
    }
    for (account, required) in &s.consent {
        rows.push(
            Row::insert_into("account_consent")
                .text("account_id", account)
                .bool("required", *required)
                .text("set_by", "sam")
                .time("updated_at", at(-100)),
        );
    }
    for w in &s.webhooks {
        rows.push(
            Row::insert_into("webhooks")
                .text("id", &w.id)
                .text("url", &w.url)
                .list("events", &w.events.names())
                .text("secret", &w.secret)
                .time("created_at", w.created_at)
                .text("created_by", &w.created_by)
                .int("after_seq", w.after_seq)
                .text("state", w.state.as_str())
                .int("failures", i64::from(w.failures))
                .opt_time("next_attempt_at", w.next_attempt_at)
                .opt_text("last_error", w.last_error.as_deref())
                .opt_time("lease_until", w.lease_until),
        );
    }
    for d in &s.deliveries {
        rows.push(
            Row::insert_into("webhook_deliveries")
                .text("id", &d.id)
                .text("webhook_id", &d.webhook_id)
                .int("seq", d.seq)
                .text("event_id", &d.event_id)
                .text("event_type", d.event_type.as_str())
                .int("attempt", i64::from(d.attempt))
                .time("at", d.at)
                .opt_int("status", d.status.map(i64::from))
                .bool("ok", d.ok)
                .opt_text("error", d.error.as_deref())
                .bool("replay", d.replay),
        );
    }
    rows.extend(s.events.iter().map(event_row));
    if k >= 6 {
        // From schema 6 on, each batch stored the earliest and latest time
        // of every 4096 seqs it appended to.
        let mut blocks: BTreeMap<i64, (String, String)> = BTreeMap::new();
        for e in &s.events {
            let at = format_ms(e.at);
            let (first, last) = blocks.entry(e.seq / 4096).or_insert_with(|| (at.clone(), at.clone()));
            if at < *first {
                *first = at.clone();
            }
            if at > *last {
                *last = at;
            }
        }
        for (block, (first, last)) in blocks {
            rows.push(
                Row::insert_into("audit_time_index").int("block", block).text("first_at", first).text("last_at", last),
            );
        }
    }
    for segment in &s.segments {
        rows.push(
            Row::insert_into("audit_segments")
                .int("last_seq", segment.last_seq)
                .int("first_seq", segment.first_seq)
                .text("manifest", &segment.manifest)
                .time("sealed_at", segment.sealed_at),
        );
    }
    for c in &s.checkpoints {
        rows.push(
            Row::insert_into("audit_checkpoints")
                .int("seq", c.seq)
                .text("hash", &c.hash)
                .text("kid", &c.kid)
                .text("signature", &c.signature)
                .time("at", c.at),
        );
    }
    for row in &rows {
        db.insert(row).await.with_context(|| row.sql())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading and writing through the store.

/// Reads through the ports what `want` holds: lists whole, single rows by
/// the ids `want` names.
async fn read_back(store: &Store, want: &State) -> anyhow::Result<State> {
    let want = want.clone();
    let got = store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let mut got = State {
                    staff: tx.list_staff_profiles().await?,
                    apps: tx.list_apps().await?,
                    keys: tx.list_keys().await?,
                    webhooks: tx.list_webhooks().await?,
                    events: tx.list_events(&EventFilter { limit: 100_000, ..Default::default() }).await?,
                    checkpoints: tx.list_checkpoints(0, i64::MAX).await?,
                    segments: tx.list_segments().await?,
                    ..State::default()
                };
                for (s, _) in &want.staff {
                    got.passwords.push((s.id.clone(), tx.get_staff_password(&s.id).await?));
                }
                for (hash, _, _) in &want.credentials {
                    if let Some((kind, owner)) = tx.find_credential(hash).await? {
                        got.credentials.push((hash.clone(), kind, owner));
                    }
                }
                for c in &want.console_sessions {
                    got.console_sessions.extend(tx.get_console_session(&c.id_hash).await?);
                }
                for c in &want.entry_codes {
                    got.entry_codes.extend(tx.get_entry_code(&c.hash).await?);
                }
                for a in &want.apps {
                    got.connectors.extend(tx.get_connector(&a.id).await?);
                    got.notices.extend(tx.list_notices(&a.id, 0, 100).await?);
                }
                let mut accounts: Vec<&str> = want.grants.iter().map(|g| g.account_id.as_str()).collect();
                accounts.dedup();
                for account in accounts {
                    got.grants.extend(tx.list_grants(account, 100).await?);
                }
                for (account, _) in &want.consent {
                    if let Some(required) = tx.account_consent(account).await? {
                        got.consent.push((account.clone(), required));
                    }
                }
                for t in &want.tickets {
                    got.tickets.extend(tx.get_ticket(&t.reference).await?);
                }
                for r in &want.requests {
                    got.requests.extend(tx.get_request(&r.id).await?);
                    got.decisions.extend(tx.list_decisions(&r.id).await?);
                }
                for s in &want.sessions {
                    got.sessions.extend(tx.get_session(&s.id).await?);
                }
                for w in &got.webhooks {
                    got.deliveries.extend(tx.list_deliveries(&w.id, 100).await?);
                }
                Ok(got)
            })
        }))
        .await?;
    Ok(got)
}

/// The searches that go through what the migrations added or rebuilt:
/// sessions by app, an agent's inbox, the unassigned tickets.
async fn check_lookups(store: &Store, want: &State, k: i64) -> anyhow::Result<()> {
    let (by_app, inbox, unassigned) = store
        .read(read_fn(|tx| {
            Box::pin(async move {
                let f = SessionFilter { app_id: Some("app_billing".into()), ..SessionFilter::default() };
                Ok((
                    tx.list_sessions(&f).await?,
                    tx.list_open_tickets(Some("maria"), 10).await?,
                    tx.list_open_tickets(None, 10).await?,
                ))
            })
        }))
        .await?;
    let ids = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let want_by_app = want.sessions.iter().filter(|s| s.app_id == "app_billing").map(|s| s.id.clone()).collect();
    assert_eq!(ids(by_app.into_iter().map(|s| s.id).collect()), ids(want_by_app), "sessions by app, schema {k}");
    let open = |assignee: Option<&str>| -> Vec<String> {
        let v = want.tickets.iter().filter(|t| t.assignee.as_deref() == assignee).map(|t| t.reference.clone());
        ids(v.collect())
    };
    assert_eq!(ids(inbox.into_iter().map(|t| t.reference).collect()), open(Some("maria")), "inbox, schema {k}");
    assert_eq!(ids(unassigned.into_iter().map(|t| t.reference).collect()), open(None), "unassigned, schema {k}");
    Ok(())
}

/// Checks the whole trail with core's verifier as the stored rows hold it,
/// a few events per read: how many events it holds, and its head.
async fn verify_trail(store: &Store) -> anyhow::Result<(usize, Option<(i64, String)>)> {
    let mut chain = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.read(read_fn(move |tx| Box::pin(async move { tx.read_chain(after, 7).await }))).await?;
        for e in page.iter() {
            chain.push_stored(&e).map_err(|bad| anyhow::anyhow!("the trail does not verify: {bad:?}"))?;
        }
        match page.last_seq() {
            Some(last) => after = last,
            None => break,
        }
    }
    let stored_head = store.read(read_fn(|tx| Box::pin(async move { tx.get_event_head().await }))).await?;
    let (seq, hash) = chain.head();
    let head = (seq > 0).then(|| (seq, hash.to_string()));
    assert_eq!(stored_head, head, "the head the store reports is the verified one");
    Ok((usize::try_from(chain.count())?, head))
}

/// Writes as this build does: Maria ends her session, Jon starts his
/// approved request, a customer note is queued, and a ticket-system
/// delivery taken before the upgrade is still refused as a replay. Answers
/// the events appended.
async fn write_after_upgrade(store: &Store, f: &Fixture) -> anyhow::Result<Vec<Event>> {
    let p = &f.policy;
    let ended = end(f.session("ses_live"), EndReason::Ended, at(20), "maria");
    let mut started = f.want.requests.iter().find(|r| r.id == "req_ready").unwrap().clone();
    started.status = RequestStatus::Started;
    started.session_id = Some("ses_new".into());
    started.updated_at = at(21);
    let policy = Approver { id: "policy".into(), name: "Policy".into() };
    let new = session("ses_new", &started, policy, "app_billing", at(21));
    let notice = Notice {
        id: "ntc_live".into(),
        seq: 0,
        session_id: ended.id.clone(),
        account_id: ended.account_id.clone(),
        text: audit::customer_note(&ended, &[], at(20)),
        data: NoticeData {
            agent_name: ended.agent_name.clone(),
            approver_name: ended.approver_name.clone(),
            changes: Vec::new(),
            end_reason: ended.end_reason,
            ended_at: at(20),
            reason: ended.reason.clone(),
            started_at: ended.started_at,
            ticket: ended.ticket.clone(),
        },
        created_at: at(20),
        delivered_at: None,
    };
    let end_e = end_event(&ended, Actor::staff("maria", "Maria Lopez"));
    let start_e = NewEvent::new(
        at(21),
        Actor::staff(&new.agent, &new.agent_name),
        audit::session_started(p, &new),
        EventData::SessionStarted(data::SessionStarted {
            scope: new.scope.clone(),
            ends_at: new.ends_at,
            approver: new.approver.clone(),
            audience: new.app_id.clone(),
        }),
    )
    .about_session(&new);
    let taken: Vec<String> = f.deliveries_taken.iter().map(|(key, _)| key.clone()).collect();

    let (e, s, q) = (ended.clone(), new.clone(), started.clone());
    let (events, queued, replays) = store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.update_session(&e).await?;
                let first = tx.append_event(end_e).await?;
                let queued = tx.insert_notice(&notice).await?;
                tx.update_request(&q).await?;
                tx.insert_session(&s).await?;
                let second = tx.append_event(start_e).await?;
                let mut replays = Vec::new();
                for key in &taken {
                    replays.push(tx.record_delivery(key, at(21)).await?);
                }
                Ok((vec![first, second], queued, replays))
            })
        }))
        .await?;
    assert!(replays.iter().all(|taken_now| !taken_now), "a delivery taken before the upgrade is refused again");
    assert_eq!(queued.seq, f.want.notices.len() as i64 + 1, "the note queues after the old ones");

    let (live, fresh, request) = store
        .read(read_fn(|tx| {
            Box::pin(async move {
                Ok((
                    tx.get_session("ses_live").await?,
                    tx.get_session("ses_new").await?,
                    tx.get_request("req_ready").await?,
                ))
            })
        }))
        .await?;
    assert_eq!(live, Some(ended));
    assert_eq!(fresh, Some(new));
    assert_eq!(request, Some(started));
    Ok(events)
}

/// Searches by time find exactly the events in the range, old and new:
/// through `audit_time_index`, which the migration built for a trail older
/// than it, or the old release kept.
async fn check_time_ranges(store: &Store, total: usize, k: i64) -> anyhow::Result<()> {
    let all = store
        .read(read_fn(|tx| {
            Box::pin(async move { tx.list_events(&EventFilter { limit: 100_000, ..Default::default() }).await })
        }))
        .await?;
    assert_eq!(all.len(), total);
    let ranges = [
        (Some(days_ago(25)), Some(days_ago(5))),
        (Some(at(-45)), Some(at(8))),
        (Some(at(19)), None),
        (None, Some(at(-60))),
    ];
    for (since, until) in ranges {
        let want: Vec<i64> = all
            .iter()
            .filter(|e| since.is_none_or(|s| e.at >= s) && until.is_none_or(|u| e.at < u))
            .map(|e| e.seq)
            .collect();
        let filter = EventFilter { since, until, limit: 100_000, ..Default::default() };
        let got = store.read(read_fn(move |tx| Box::pin(async move { tx.list_events(&filter).await }))).await?;
        assert!(!want.is_empty(), "the range {since:?}..{until:?} holds events");
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), want, "{since:?}..{until:?}, schema {k}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The databases.

/// A database for one case: a temporary SQLite file or a fresh database on
/// the PostgreSQL test server, gone when dropped.
struct Scratch {
    engine: Engine,
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl Scratch {
    fn sqlite() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("actas.db").to_string_lossy().into_owned();
        Scratch { engine: Engine::Sqlite, url, _dir: Some(dir), _pg: None }
    }

    async fn postgres(base: &str) -> Scratch {
        let db = PgDatabase::create(base).await;
        Scratch { engine: Engine::Postgres, url: db.url.clone(), _dir: None, _pg: Some(db) }
    }

    /// A connection of its own, for plain SQL.
    async fn connect(&self) -> anyhow::Result<Conn> {
        Ok(match self.engine {
            Engine::Sqlite => Conn::Sqlite(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&self.url)
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .connect()
                    .await?,
            ),
            Engine::Postgres => Conn::Postgres(sqlx::PgConnection::connect(&self.url).await?),
        })
    }
}

/// The affinity SQLite gives a column of declared type `ty`
/// (<https://www.sqlite.org/datatype3.html#determination_of_column_affinity>).
fn sqlite_affinity(ty: &str) -> &'static str {
    let ty = ty.to_ascii_uppercase();
    if ty.contains("INT") {
        "INTEGER"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|t| ty.contains(t)) {
        "TEXT"
    } else if ty.contains("BLOB") || ty.is_empty() {
        "BLOB"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|t| ty.contains(t)) {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// A connection to a scratch database.
enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// `sql` with `values` bound in order, for database `$db`.
macro_rules! bound {
    ($db:ty, $sql:expr, $values:expr) => {{
        let mut q = sqlx::query::<$db>($sql);
        for v in $values {
            q = match v {
                Value::Text(s) => q.bind(s.clone()),
                Value::Int(n) => q.bind(*n),
                Value::Bool(b) => q.bind(*b),
                Value::Bytes(b) => q.bind(b.clone()),
            };
        }
        q
    }};
}

impl Conn {
    async fn migrate(&mut self, migrator: &Migrator) -> anyhow::Result<()> {
        match self {
            Conn::Sqlite(c) => migrator.run(&mut *c).await?,
            Conn::Postgres(c) => migrator.run(&mut *c).await?,
        }
        Ok(())
    }

    async fn insert(&mut self, row: &Row) -> anyhow::Result<()> {
        let sql = row.sql();
        match self {
            Conn::Sqlite(c) => {
                bound!(sqlx::Sqlite, &sql, &row.values).execute(&mut *c).await?;
            }
            Conn::Postgres(c) => {
                bound!(sqlx::Postgres, &sql, &row.values).execute(&mut *c).await?;
            }
        }
        Ok(())
    }

    /// Each migration sqlx recorded: version, checksum, success.
    async fn applied(&mut self) -> anyhow::Result<Vec<(i64, Vec<u8>, bool)>> {
        let sql = "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version";
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut *c).await?,
            Conn::Postgres(c) => sqlx::query_as(sql).fetch_all(&mut *c).await?,
        })
    }

    /// Every column of the application's tables.
    async fn columns(&mut self) -> anyhow::Result<Vec<Column>> {
        type Described = (String, String, String, bool, bool);
        let rows: Vec<Described> = match self {
            Conn::Sqlite(c) => {
                let sql = "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value IS NOT NULL \
                           FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                           WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
                           ORDER BY m.name, p.cid";
                let rows: Vec<Described> = sqlx::query_as(sql).fetch_all(&mut *c).await?;
                rows.into_iter().map(|(t, n, ty, nn, d)| (t, n, sqlite_affinity(&ty).into(), nn, d)).collect()
            }
            Conn::Postgres(c) => {
                let sql = "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'NO', \
                           column_default IS NOT NULL FROM information_schema.columns \
                           WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' \
                           ORDER BY table_name, ordinal_position";
                sqlx::query_as(sql).fetch_all(&mut *c).await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(table, name, ty, not_null, has_default)| Column { table, name, ty, not_null, has_default })
            .collect())
    }

    async fn strings(&mut self, sql: &str) -> anyhow::Result<Vec<String>> {
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_scalar(sql).fetch_all(&mut *c).await?,
            Conn::Postgres(c) => sqlx::query_scalar(sql).fetch_all(&mut *c).await?,
        })
    }

    async fn count(&mut self, table: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT count(*) FROM \"{table}\"");
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_scalar(&sql).fetch_one(&mut *c).await?,
            Conn::Postgres(c) => sqlx::query_scalar(&sql).fetch_one(&mut *c).await?,
        })
    }

    /// The schema, the migrations sqlx recorded (with when and how long)
    /// and each table's row count.
    async fn snapshot(&mut self) -> anyhow::Result<Vec<String>> {
        let (queries, tables) = match self {
            Conn::Sqlite(_) => (
                vec![
                    "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
                    "SELECT version || ' ' || description || ' ' || success || ' ' || hex(checksum) || ' ' \
                     || installed_on || ' ' || execution_time FROM _sqlx_migrations ORDER BY version",
                ],
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            ),
            Conn::Postgres(_) => (
                vec![
                    "SELECT table_name::text || '.' || column_name::text || ' ' || data_type::text || ' ' \
                     || is_nullable::text || ' ' || coalesce(column_default::text, '') \
                     FROM information_schema.columns WHERE table_schema = 'public' \
                     ORDER BY table_name, ordinal_position",
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
                    "SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname",
                    "SELECT version::text || ' ' || description || ' ' || success::text || ' ' \
                     || encode(checksum, 'hex') || ' ' || installed_on::text || ' ' || execution_time::text \
                     FROM _sqlx_migrations ORDER BY version",
                ],
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
            ),
        };
        let mut out = Vec::new();
        for q in queries {
            out.extend(self.strings(q).await?);
        }
        for table in self.strings(tables).await? {
            let n = self.count(&table).await?;
            out.push(format!("{table}: {n} rows"));
        }
        Ok(out)
    }

    async fn close(self) {
        let _ = match self {
            Conn::Sqlite(c) => c.close().await,
            Conn::Postgres(c) => c.close().await,
        };
    }
}
