//! The seeded audit trail: the events a support team leaves over a year,
//! written through the store's own append code (so the chain, its hashes
//! and its signed checkpoints are the product's own and `audit verify`
//! accepts them).
//!
//! Sessions follow one another: a ticket recorded by the host app (one per
//! two sessions), a request, its approval (by the policy for views, by a
//! lead for changes), the session's start, one to twelve answers of
//! authorize (views, changes with their values, refusals), its end (by the
//! agent, expiry, idleness or a lead), and half the time the customer's
//! note delivered. A few requests are refused or denied instead. They spread
//! over [`ACCOUNTS`] accounts and [`AGENTS`] agents, with times spread
//! evenly over the window each growth step is given (the past year), so a
//! time-range search finds more events as the trail grows.
//!
//! The sequence is the same each run (a seeded random source).

use std::collections::VecDeque;
use std::time::Instant;

use actas_core::audit::{self as text, data, Actor, EventData, FieldChange, NewEvent};
use actas_core::authorize::{answer_event, verdict, Ask, TokenSays};
use actas_core::model::{
    Approver, EndReason, Request, RequestKind, RequestStatus, Role, Session, SessionState, Staff, Ticket,
};
use actas_core::policy::Policy;
use actas_core::Timestamp;
use actas_store::{write_fn, Store};
use anyhow::Context;
use chrono::Duration;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Customer accounts the sessions spread over.
pub const ACCOUNTS: usize = 10_000;
/// Agents the sessions spread over.
pub const AGENTS: usize = 200;
/// Leads who approve changes.
const LEADS: usize = 10;
/// Events per write (one closure in the store's writer, one transaction).
pub const BATCH: usize = 5_000;
/// The seeded events' app.
const APP_ID: &str = "app_seeded";
const APP_NAME: &str = "Acme Billing";

/// `acct_00042`.
pub fn account_id(n: usize) -> String {
    format!("acct_{n:05}")
}

/// `agent007`.
pub fn agent_login(n: usize) -> String {
    format!("agent{n:03}")
}

/// `T0000042`.
pub fn ticket_ref(n: u64) -> String {
    format!("T{n:07}")
}

/// What seeding took.
#[derive(Debug, Clone, Copy)]
pub struct Grown {
    /// Events appended.
    pub events: u64,
    /// Wall time, seconds.
    pub secs: f64,
}

/// Makes the trail's events, one session at a time.
pub struct Seeder {
    policy: Policy,
    rng: StdRng,
    /// Events made so far (the trail's seeded size).
    made: u64,
    /// Sessions begun so far.
    sessions: u64,
    /// Events made but not yet handed out (the rest of a session).
    queue: VecDeque<NewEvent>,
}

impl Default for Seeder {
    fn default() -> Self {
        Seeder {
            policy: Policy::shipped(),
            rng: StdRng::seed_from_u64(0x5eed),
            made: 0,
            sessions: 0,
            queue: VecDeque::new(),
        }
    }
}

/// When the next event of a growth step happens.
struct Spread {
    start: Timestamp,
    step: Duration,
    next: i64,
}

impl Spread {
    fn tick(&mut self) -> Timestamp {
        let t = self.start + self.step * self.next as i32;
        self.next += 1;
        t
    }
}

impl Seeder {
    /// Events made so far.
    pub fn seeded(&self) -> u64 {
        self.made
    }

    /// Grows the trail to `to` seeded events, their times spread evenly
    /// over `since..until`, through `store`'s writer in batches of
    /// [`BATCH`]; one batch is being written while the next is made.
    pub async fn grow(&mut self, store: &Store, to: u64, since: Timestamp, until: Timestamp) -> anyhow::Result<Grown> {
        let from = self.made;
        let n = to.saturating_sub(from).max(1);
        let step = Duration::milliseconds(((until - since).num_milliseconds() / n as i64).max(1));
        let mut spread = Spread { start: since, step, next: 0 };
        let started = Instant::now();
        let mut writing: Option<tokio::task::JoinHandle<anyhow::Result<()>>> = None;
        let mut last_note = Instant::now();
        while self.made < to {
            let size = BATCH.min((to - self.made) as usize);
            let batch = self.batch(size, &mut spread);
            if let Some(w) = writing.take() {
                w.await.context("a seeding write failed")??;
            }
            let store = store.clone();
            writing = Some(tokio::spawn(async move {
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
                    .context("cannot append the seeded events")
            }));
            if last_note.elapsed().as_secs() >= 10 {
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "bench:   seeded {} of {to} events ({:.0} events/s)",
                    self.made,
                    (self.made - from) as f64 / secs
                );
                last_note = Instant::now();
            }
        }
        if let Some(w) = writing.take() {
            w.await.context("a seeding write failed")??;
        }
        Ok(Grown { events: to.saturating_sub(from), secs: started.elapsed().as_secs_f64() })
    }

    /// The next `size` events.
    fn batch(&mut self, size: usize, spread: &mut Spread) -> Vec<NewEvent> {
        let mut out = Vec::with_capacity(size);
        while out.len() < size {
            if self.queue.is_empty() {
                self.session(spread);
            }
            if let Some(e) = self.queue.pop_front() {
                out.push(e);
            }
        }
        self.made += out.len() as u64;
        out
    }

    /// The events of the next session (or refused or denied request).
    fn session(&mut self, spread: &mut Spread) {
        let p = &self.policy;
        let rng = &mut self.rng;
        let s_no = self.sessions;
        self.sessions += 1;
        let ticket_no = s_no / 2;
        let account = account_id(mix(ticket_no) as usize % ACCOUNTS);
        let account_name = Some(format!("Customer {}", &account[5..]));
        let agent_no = rng.gen_range(0..AGENTS);
        let agent = staff(&agent_login(agent_no), &format!("Agent {agent_no:03}"), Role::Agent);
        let lead_no = rng.gen_range(0..LEADS);
        let lead = staff(&format!("lead{lead_no}"), &format!("Lead {lead_no}"), Role::Lead);
        let app = Actor::app(APP_ID, APP_NAME);
        let reference = ticket_ref(ticket_no);

        if s_no % 2 == 0 {
            let at = spread.tick();
            let t = Ticket {
                reference: reference.clone(),
                account_id: account.clone(),
                account_name: account_name.clone(),
                subject: "Invoice emails bounce since the domain move".into(),
                url: Some(format!("https://tickets.example.test/{reference}")),
                created_by: APP_ID.into(),
                created_at: at,
                status: actas_core::model::TicketStatus::Open,
                assignee: None,
                tags: Vec::new(),
                source: actas_core::model::TicketSource::App,
                updated_at: at,
            };
            let line = text::ticket_created(APP_NAME, &t);
            let d = data::TicketCreated {
                subject: t.subject.clone(),
                account_name: t.account_name.clone(),
                url: t.url.clone(),
                source: Some(t.source.as_str().into()),
                status: Some(t.status.as_str().into()),
                assignee: None,
                tags: Vec::new(),
            };
            self.queue.push_back(
                NewEvent::new(at, app.clone(), line, EventData::TicketCreated(d)).account(&account).ticket(&reference),
            );
        }

        let changes = rng.gen_bool(0.4);
        let actions: Vec<String> = if changes {
            vec!["settings.view".into(), "invoice_email.update".into()]
        } else {
            vec!["account.view".into(), "settings.view".into(), "invoices.view".into()]
        };
        let minutes = p.session.default_minutes;
        let reason = "Customer asked us to change the invoice email after their domain move".to_string();
        let at = spread.tick();
        let roll: f64 = rng.gen();
        if roll < 0.03 {
            let detail = "The reason is too short: say what the customer asked for.";
            let line = text::request_refused(&agent.name, Some(&account), Some(&reference), detail);
            let d = data::RequestRefused {
                code: "reason-too-short".into(),
                detail: detail.into(),
                asked: data::Asked::Access {
                    ticket: reference.clone(),
                    account_id: Some(account.clone()),
                    actions,
                    minutes: Some(minutes),
                    reason: "fix it".into(),
                },
            };
            let e = NewEvent::new(at, Actor::staff(&agent.id, &agent.name), line, EventData::RequestRefused(d))
                .account(&account)
                .ticket(&reference)
                .agent(&agent.id);
            self.queue.push_back(e);
            return;
        }
        let mut r = Request::pending(
            format!("req_seed{s_no:09}"),
            actas_core::model::NewRequest {
                kind: RequestKind::Access,
                ticket: reference.clone(),
                account_id: account.clone(),
                account_name: account_name.clone(),
                reason: reason.clone(),
                actions: actions.clone(),
                minutes,
                session_id: None,
                playbook: None,
                stepup: None,
            },
            &agent,
            at,
        );
        let d = data::RequestCreated {
            reason: reason.clone(),
            actions: actions.clone(),
            minutes,
            needs_approval: changes,
            playbook: None,
            beyond_playbook: Vec::new(),
            breakglass: false,
        };
        let line = text::request_created(p, &r);
        self.queue.push_back(
            NewEvent::new(at, Actor::staff(&agent.id, &agent.name), line, EventData::RequestCreated(d))
                .about_request(&r),
        );

        let at = spread.tick();
        if changes && roll < 0.08 {
            let note = "Not under this ticket; ask the customer first.".to_string();
            r.status = RequestStatus::Denied;
            let line = text::request_denied(&lead.name, &r, &note);
            self.queue.push_back(
                NewEvent::new(
                    at,
                    Actor::staff(&lead.id, &lead.name),
                    line,
                    EventData::RequestDenied(data::Denial { note }),
                )
                .about_request(&r),
            );
            return;
        }
        let (approver, approver_name, actor) = if changes {
            (lead.id.clone(), lead.name.clone(), Actor::staff(&lead.id, &lead.name))
        } else {
            ("policy".to_string(), "Policy".to_string(), Actor::policy())
        };
        let grant = data::Grant { actions: actions.clone(), minutes };
        let d = data::Approval {
            asked: grant.clone(),
            granted: grant,
            removed: vec![],
            added: vec![],
            note: None,
            by_policy: !changes,
        };
        let line = text::request_approved(p, changes.then_some(lead.name.as_str()), &r, &actions, minutes);
        self.queue.push_back(NewEvent::new(at, actor, line, EventData::RequestApproved(d)).about_request(&r));

        let at = spread.tick();
        let mut s = Session {
            id: format!("ses_seed{s_no:09}"),
            request_id: r.id.clone(),
            ticket: reference.clone(),
            account_id: account.clone(),
            account_name,
            agent: agent.id.clone(),
            agent_name: agent.name.clone(),
            approver: approver.clone(),
            approver_name: approver_name.clone(),
            approvers: vec![Approver { id: approver.clone(), name: approver_name }],
            app_id: APP_ID.into(),
            scope: actions.clone(),
            reason,
            started_at: at,
            ends_at: at + actas_core::clock::minutes(minutes),
            last_activity_at: at,
            state: SessionState::Live,
            end_reason: None,
            ended_at: None,
            ended_by: None,
            end_note: None,
            breakglass: false,
            review: None,
        };
        let d = data::SessionStarted { scope: s.scope.clone(), ends_at: s.ends_at, approver, audience: APP_ID.into() };
        let line = text::session_started(p, &s);
        self.queue.push_back(
            NewEvent::new(at, Actor::staff(&agent.id, &agent.name), line, EventData::SessionStarted(d))
                .about_session(&s),
        );

        for _ in 0..rng.gen_range(1..=12) {
            let at = spread.tick();
            let kind = rng.gen_range(0..10);
            let ask = if changes && kind < 4 {
                let n = rng.gen_range(0..1000);
                Ask {
                    app_id: APP_ID.into(),
                    app_name: APP_NAME.into(),
                    action: "invoice_email.update".into(),
                    target: None,
                    changes: vec![FieldChange {
                        field: "invoice_email".into(),
                        old: Some(format!("billing{n}@old.example.test")),
                        new: Some(format!("billing{n}@new.example.test")),
                    }],
                }
            } else if kind < 8 {
                let action = if kind % 2 == 0 { "settings.view" } else { "account.view" };
                Ask {
                    app_id: APP_ID.into(),
                    app_name: APP_NAME.into(),
                    action: action.into(),
                    target: Some(data::Target {
                        account_id: Some(account.clone()),
                        kind: Some("settings".into()),
                        id: None,
                    }),
                    changes: vec![],
                }
            } else {
                Ask {
                    app_id: APP_ID.into(),
                    app_name: APP_NAME.into(),
                    action: "billing.update".into(),
                    target: None,
                    changes: vec![],
                }
            };
            let token = TokenSays { app: APP_ID, account: &s.account_id };
            let decided = verdict(p, &s, token, &ask);
            self.queue.push_back(answer_event(p, Some(&s), ask, decided, at));
            s.last_activity_at = at;
        }

        let at = spread.tick();
        let reason = match rng.gen_range(0..20) {
            0..=11 => EndReason::Ended,
            12..=15 => EndReason::Expired,
            16..=18 => EndReason::IdleTimeout,
            _ => EndReason::Revoked,
        };
        let (by, note) = match reason {
            EndReason::Ended => (Some(Actor::staff(&agent.id, &agent.name)), None),
            EndReason::Revoked => {
                (Some(Actor::staff(&lead.id, &lead.name)), Some("Wrong account for this ticket.".to_string()))
            }
            _ => (None, None),
        };
        s.state = SessionState::Ended;
        s.end_reason = Some(reason);
        s.ended_at = Some(at);
        let line = text::session_end(
            &s,
            reason,
            at,
            p.session.idle_minutes,
            by.as_ref().map(|a| a.name.as_str()),
            note.as_deref(),
        );
        let end = data::SessionEnd { end_reason: reason.as_str().into(), note, started_at: s.started_at };
        let actor = by.unwrap_or_else(Actor::system);
        self.queue
            .push_back(NewEvent::new(at, actor, line, actas_server::service::end_event(reason, end)).about_session(&s));

        if rng.gen_bool(0.5) {
            let at = spread.tick();
            let note = text::customer_note(&s, &[], at);
            let line = text::customer_notified(APP_NAME, &s.account_label(), &s.agent_name, &s.ticket);
            let d = data::CustomerNotified { notice: format!("ntc_seed{s_no:09}"), text: note };
            self.queue.push_back(NewEvent::new(at, app, line, EventData::CustomerNotified(d)).about_session(&s));
        }
    }

    /// `n` events like the trail's, for the insert ceilings (not appended
    /// anywhere: their times are the last year's first days).
    pub fn sample(n: usize, since: Timestamp) -> Vec<NewEvent> {
        let mut s = Seeder::default();
        let mut spread = Spread { start: since, step: Duration::seconds(3), next: 0 };
        s.batch(n, &mut spread)
    }
}

fn staff(id: &str, name: &str, role: Role) -> Staff {
    Staff {
        id: id.into(),
        name: name.into(),
        roles: vec![role],
        disabled: false,
        created_at: chrono::DateTime::UNIX_EPOCH,
    }
}

/// Spreads consecutive numbers over the accounts (a fixed bijective mix).
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actas_core::audit::{ChainVerifier, GENESIS};

    #[test]
    fn seeded_events_chain_and_read_back_as_their_types() {
        let events = Seeder::sample(2_000, chrono::DateTime::UNIX_EPOCH);
        assert_eq!(events.len(), 2_000);
        let mut chain = ChainVerifier::default();
        let mut prev = GENESIS.to_string();
        let mut kinds = std::collections::HashSet::new();
        for (i, e) in events.into_iter().enumerate() {
            let sealed = e.seal(i as i64 + 1, &prev);
            prev = sealed.hash.clone();
            sealed.payload().unwrap();
            kinds.insert(sealed.kind);
            chain.push(&sealed).unwrap();
        }
        // Tickets, requests (created, approved, refused, denied), starts,
        // the three answers, four endings and notes.
        assert!(kinds.len() >= 12, "{kinds:?}");
    }

    #[test]
    fn the_same_events_come_each_run() {
        let a = Seeder::sample(500, chrono::DateTime::UNIX_EPOCH);
        let b = Seeder::sample(500, chrono::DateTime::UNIX_EPOCH);
        assert_eq!(a, b);
    }
}
