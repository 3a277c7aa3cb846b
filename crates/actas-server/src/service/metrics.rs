//! The support metrics (`GET /metrics/support`): the seed's measures of
//! success over a window of time, computed from the store.
//!
//! Every read is bounded by the window: the sessions are those whose
//! `session.started` event falls in it (a walk of the trail's type index
//! inside the seq range the time index gives), read with their requests
//! and their events by id, a chunk at a time; denials and refusals are the
//! window's events of those types, a page at a time. Nothing walks the
//! whole trail or a whole table.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actas_api as api;
use actas_core::audit::{EventData, EventType};
use actas_core::model::{Request, Session, Staff};
use actas_core::policy::Policy;
use actas_core::{Code, Error, Result, Timestamp};
use actas_store::{read_fn, EventFilter, SessionFilter};

use super::{all_events, Ctx};
use crate::authz::{self, Act};
use crate::telemetry::Snapshot;

/// The default window: this many days up to now.
pub const DEFAULT_WINDOW_DAYS: i64 = 30;

/// Sessions read in one read transaction.
const CHUNK: usize = 500;

/// Events of one kind read per session, at most: far above what 30
/// minutes of work makes.
const EVENTS_PER_SESSION: i64 = 1000;

/// What a caller asks: the window (each end defaulted when absent) and a
/// team.
#[derive(Debug, Clone, Default)]
pub struct MetricsQuery {
    /// Start (inclusive); default: [`DEFAULT_WINDOW_DAYS`] before `until`.
    pub since: Option<Timestamp>,
    /// End (exclusive); default: now.
    pub until: Option<Timestamp>,
    /// A team; staff have no teams, so only an empty one is taken.
    pub team: Option<String>,
}

/// One session started in the window, as the per-session export shows it.
#[derive(Debug, Clone)]
pub struct SessionLine {
    /// The session.
    pub session: Session,
    /// What keeps it from being explained (empty: explainable); `None`
    /// while it is live.
    pub missing: Option<Vec<String>>,
}

/// The metrics and the sessions they were computed from.
#[derive(Debug, Clone)]
pub struct SupportReport {
    /// The metrics.
    pub metrics: api::SupportMetrics,
    /// The sessions started in the window, in the order they started.
    pub sessions: Vec<SessionLine>,
}

/// What is known of one session started in the window.
#[derive(Debug, Clone)]
struct Facts {
    session: Session,
    request: Option<Request>,
    used: BTreeSet<String>,
    notified: bool,
    /// The ticket's subject: a reason may name the case in its words.
    subject: Option<String>,
}

/// The support metrics of the window `q` asks for.
pub async fn support_metrics(ctx: &Ctx, who: &Staff, q: MetricsQuery) -> Result<SupportReport> {
    let now = ctx.clock.now();
    authz::allow(who, Act::ReadSupportMetrics, now)?;
    no_team(q.team.as_deref())?;
    let (since, until) = window(q.since, q.until, now)?;
    let ids = started_in(ctx, since, until).await?;
    let facts = facts_of(ctx, ids).await?;
    let (denials, refused_requests, refused_calls) = refusals_in(ctx, since, until).await?;
    let policy = &ctx.policy;
    let sessions: Vec<SessionLine> = facts
        .iter()
        .map(|f| SessionLine { session: f.session.clone(), missing: f.session.ended_at.map(|_| missing(policy, f)) })
        .collect();
    let metrics = api::SupportMetrics {
        since,
        until,
        sessions: counts(&facts),
        median_minutes: medians(&facts),
        actions: action_use(policy, &facts),
        denials,
        refusals: api::Refusals { requests: refused_requests, authorize: refused_calls },
        explainable: explainability(&sessions),
    };
    Ok(SupportReport { metrics, sessions })
}

/// Refuses a team: staff have none in actas.
fn no_team(team: Option<&str>) -> Result<()> {
    match team.map(str::trim) {
        None | Some("") => Ok(()),
        Some(_) => Err(Error::refused(
            Code::TeamsUndefined,
            Some("team"),
            "Teams are not defined in actas: staff have roles, not teams. Leave team out.",
        )),
    }
}

/// The window, its ends defaulted: until now, and 30 days before `until`.
fn window(since: Option<Timestamp>, until: Option<Timestamp>, now: Timestamp) -> Result<(Timestamp, Timestamp)> {
    let until = until.unwrap_or(now);
    let since = since.unwrap_or(until - chrono::Duration::days(DEFAULT_WINDOW_DAYS));
    if since >= until {
        return Err(Error::refused(Code::WindowInvalid, Some("since"), "since must be before until."));
    }
    Ok((since, until))
}

/// The ids of the sessions started in the window, in the order they
/// started.
async fn started_in(ctx: &Ctx, since: Timestamp, until: Timestamp) -> Result<Vec<String>> {
    let f = EventFilter {
        types: vec![EventType::SessionStarted],
        since: Some(since),
        until: Some(until),
        ..Default::default()
    };
    let mut ids = Vec::new();
    all_events(ctx, f, |e| {
        ids.extend(e.session_id.clone());
        Ok(())
    })
    .await?;
    Ok(ids)
}

/// Each session with its request, the actions used in it and whether its
/// customer note was delivered; a read transaction per [`CHUNK`].
async fn facts_of(ctx: &Ctx, ids: Vec<String>) -> Result<Vec<Facts>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let chunk = chunk.to_vec();
        let found = ctx.store.read(read_fn(move |tx| Box::pin(async move { chunk_facts(tx, chunk).await }))).await?;
        out.extend(found);
    }
    Ok(out)
}

async fn chunk_facts(tx: &mut dyn actas_store::ReadTx, ids: Vec<String>) -> Result<Vec<Facts>> {
    let mut sessions: HashMap<String, Session> =
        tx.get_sessions(&ids).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
    let request_ids: Vec<String> = sessions.values().map(|s| s.request_id.clone()).collect();
    let requests: HashMap<String, Request> =
        tx.get_requests(&request_ids).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let limit = i64::try_from(ids.len()).unwrap_or(i64::MAX).saturating_mul(EVENTS_PER_SESSION);
    let mut used: HashMap<String, BTreeSet<String>> = HashMap::new();
    for kind in [EventType::ActionPerformed, EventType::RecordViewed] {
        for e in tx.list_session_events(&ids, kind, limit).await? {
            let action = match e.payload() {
                Ok(EventData::ActionPerformed(d)) => d.action,
                Ok(EventData::RecordViewed(d)) => d.action,
                _ => continue,
            };
            if let Some(id) = e.session_id.clone() {
                used.entry(id).or_default().insert(action);
            }
        }
    }
    let notified: BTreeSet<String> = tx
        .list_session_events(&ids, EventType::CustomerNotified, limit)
        .await?
        .into_iter()
        .filter_map(|e| e.session_id.clone())
        .collect();
    let mut subjects: HashMap<String, Option<String>> = HashMap::new();
    for s in sessions.values() {
        if !subjects.contains_key(&s.ticket) {
            let subject = tx.get_ticket(&s.ticket).await?.map(|t| t.subject);
            subjects.insert(s.ticket.clone(), subject);
        }
    }
    Ok(ids
        .iter()
        .filter_map(|id| sessions.remove(id))
        .map(|s| Facts {
            request: requests.get(&s.request_id).cloned(),
            used: used.remove(&s.id).unwrap_or_default(),
            notified: notified.contains(&s.id),
            subject: subjects.get(&s.ticket).cloned().flatten(),
            session: s,
        })
        .collect())
}

/// Denials by the lead's note, refused requests by code and refused
/// `authorize` calls by reason, in the window.
async fn refusals_in(ctx: &Ctx, since: Timestamp, until: Timestamp) -> Result<(api::Tally, api::Tally, api::Tally)> {
    let f = EventFilter {
        types: vec![
            EventType::RequestDenied,
            EventType::ScopeDenied,
            EventType::RequestRefused,
            EventType::ActionDenied,
        ],
        since: Some(since),
        until: Some(until),
        ..Default::default()
    };
    let (mut denials, mut requests, mut calls) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    all_events(ctx, f, |e| {
        match e.payload() {
            Ok(EventData::RequestDenied(d) | EventData::ScopeDenied(d)) => *denials.entry(d.note).or_insert(0) += 1,
            Ok(EventData::RequestRefused(d)) => *requests.entry(d.code).or_insert(0) += 1,
            Ok(EventData::ActionDenied(d)) => *calls.entry(d.reason).or_insert(0) += 1,
            _ => {}
        }
        Ok(())
    })
    .await?;
    Ok((tally(denials), tally(requests), tally(calls)))
}

/// Counts by reason, most frequent first, then by reason.
fn tally(by: BTreeMap<String, u64>) -> api::Tally {
    let total = by.values().sum();
    let mut by_reason: Vec<api::ReasonCount> =
        by.into_iter().map(|(reason, count)| api::ReasonCount { reason, count }).collect();
    by_reason.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    api::Tally { total, by_reason }
}

fn counts(facts: &[Facts]) -> api::SessionCounts {
    let ended = facts.iter().filter(|f| f.session.ended_at.is_some()).count() as u64;
    let started = facts.len() as u64;
    let breakglass = facts.iter().filter(|f| f.session.breakglass).count() as u64;
    let awaiting_review =
        facts.iter().filter(|f| f.session.awaits_review() && f.session.ended_at.is_some()).count() as u64;
    api::SessionCounts { started, ended, live: started - ended, breakglass, awaiting_review }
}

/// Minutes from `a` to `b`.
fn minutes_between(a: Timestamp, b: Timestamp) -> f64 {
    (b - a).num_milliseconds() as f64 / 60_000.0
}

/// The median, `None` of nothing.
fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    let m = if xs.len() % 2 == 1 { xs[mid] } else { (xs[mid - 1] + xs[mid]) / 2.0 };
    Some(round(m))
}

/// Four decimals, enough for minutes and shares.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 / whole as f64))
}

fn medians(facts: &[Facts]) -> api::MedianMinutes {
    let decided = |f: &Facts| f.request.as_ref().and_then(|r| Some((r.created_at, r.decided_at?)));
    api::MedianMinutes {
        request_to_decision: median(facts.iter().filter_map(decided).map(|(a, b)| minutes_between(a, b)).collect()),
        decision_to_start: median(
            facts.iter().filter_map(|f| Some(minutes_between(decided(f)?.1, f.session.started_at))).collect(),
        ),
        start_to_end: median(
            facts.iter().filter_map(|f| Some(minutes_between(f.session.started_at, f.session.ended_at?))).collect(),
        ),
    }
}

/// One playbook's sessions, summed while reading.
#[derive(Default)]
struct PlaybookSum {
    sessions: u64,
    granted: u64,
    used: u64,
    /// Per action: sessions granted it, and of those, sessions that used it.
    actions: BTreeMap<String, (u64, u64)>,
}

fn action_use(policy: &Policy, facts: &[Facts]) -> api::ActionUse {
    let mut sums: BTreeMap<Option<String>, PlaybookSum> = BTreeMap::new();
    for f in facts {
        let playbook = f.request.as_ref().and_then(|r| r.playbook.clone());
        let sum = sums.entry(playbook).or_default();
        sum.sessions += 1;
        for action in policy.ordered(&f.session.scope) {
            let used = f.used.contains(&action);
            let a = sum.actions.entry(action).or_default();
            a.0 += 1;
            a.1 += u64::from(used);
            sum.granted += 1;
            sum.used += u64::from(used);
        }
    }
    let (granted, used) = sums.values().fold((0, 0), |(g, u), s| (g + s.granted, u + s.used));
    let suggestions = sums
        .iter()
        .filter_map(|(name, sum)| Some((name.as_deref()?, sum)))
        .flat_map(|(name, sum)| suggestions(policy, name, sum))
        .collect();
    // `None` sorts first in a BTreeMap; named playbooks come first here.
    let mut playbooks: Vec<api::PlaybookUse> =
        sums.into_iter().map(|(name, sum)| playbook_use(policy, name, sum)).collect();
    let unnamed_first = playbooks.first().is_some_and(|p| p.playbook.is_none());
    playbooks.rotate_left(usize::from(unnamed_first));
    api::ActionUse { granted, used, used_share: share(used, granted), playbooks, suggestions }
}

fn playbook_use(policy: &Policy, name: Option<String>, sum: PlaybookSum) -> api::PlaybookUse {
    let mut actions: Vec<api::ActionCount> = sum
        .actions
        .into_iter()
        .map(|(action, (granted_in, used_in))| api::ActionCount {
            label: policy.label(&action).to_string(),
            action,
            granted_in,
            used_in,
        })
        .collect();
    let order = policy.ordered(&actions.iter().map(|a| a.action.clone()).collect::<Vec<_>>());
    actions.sort_by_key(|a| order.iter().position(|o| *o == a.action).unwrap_or(usize::MAX));
    api::PlaybookUse {
        label: name.as_deref().and_then(|n| policy.playbook(n)).map(|p| p.label.clone()),
        playbook: name,
        sessions: sum.sessions,
        granted: sum.granted,
        used: sum.used,
        used_share: share(sum.used, sum.granted),
        actions,
    }
}

/// Actions granted in more than half of the playbook's sessions but used
/// in fewer than a fifth of the sessions they were granted in.
fn suggestions(policy: &Policy, playbook: &str, sum: &PlaybookSum) -> Vec<api::Suggestion> {
    let names: Vec<String> = sum
        .actions
        .iter()
        .filter(|(_, &(granted_in, used_in))| granted_in * 2 > sum.sessions && used_in * 5 < granted_in)
        .map(|(action, _)| action.clone())
        .collect();
    policy
        .ordered(&names)
        .into_iter()
        .map(|action| {
            let (granted_in, used_in) = sum.actions.get(&action).copied().unwrap_or_default();
            let text = format!(
                "Playbook {playbook}: \"{label}\" ({action}) was granted in {granted_in} of its {sessions} sessions \
                 and used in {used_in} of them; consider leaving it out of the playbook and asking for it when a case needs it.",
                label = policy.label(&action),
                sessions = sum.sessions,
            );
            api::Suggestion { playbook: playbook.to_string(), action, text }
        })
        .collect()
}

/// What keeps an ended session from being explained, in plain words.
fn missing(policy: &Policy, f: &Facts) -> Vec<String> {
    let s = &f.session;
    let mut out = Vec::new();
    if s.ticket.trim().is_empty() {
        out.push("no ticket".to_string());
    }
    if !specific(policy, &s.reason, f.subject.as_deref()) {
        out.push("no specific reason".to_string());
    }
    if s.approver.trim().is_empty() {
        out.push("no approver, and the policy did not approve it".to_string());
    }
    if s.end_reason.is_none() {
        out.push("no end reason".to_string());
    }
    if s.awaits_review() {
        out.push("break-glass, not reviewed by a lead yet".to_string());
    }
    if !f.notified {
        out.push("the customer note was not delivered".to_string());
    }
    out
}

/// Whether a reason says something, by the rule a new request is held to
/// today ([`actas_core::reason::Reason::parse`]): it names something of the
/// case, or a word of the ticket's subject. A session let in under an older,
/// looser rule counts as not explainable.
fn specific(policy: &Policy, reason: &str, subject: Option<&str>) -> bool {
    actas_core::reason::Reason::parse(reason, &policy.reason, subject).is_ok()
}

fn explainability(lines: &[SessionLine]) -> api::Explainability {
    let ended: Vec<(&Session, &Vec<String>)> =
        lines.iter().filter_map(|l| Some((&l.session, l.missing.as_ref()?))).collect();
    let not_explainable: Vec<api::Unexplained> = ended
        .iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(s, m)| api::Unexplained {
            session_id: s.id.as_str().into(),
            ticket: s.ticket.clone(),
            agent: s.agent.clone(),
            ended_at: s.ended_at,
            end_reason: s.end_reason,
            missing: m.to_vec(),
        })
        .collect();
    let total = ended.len() as u64;
    let explainable = total - not_explainable.len() as u64;
    api::Explainability { ended: total, explainable, share: share(explainable, total), not_explainable }
}

/// Live sessions counted at most: one per agent, far above any team.
const LIVE_COUNTED: i64 = 100_000;

/// `GET /metrics`: the text exposition of this node's figures, with the
/// live sessions and the trail's length read now.
pub async fn scrape(ctx: &Ctx, who: &Staff) -> Result<String> {
    authz::allow(who, Act::ScrapeMetrics, ctx.clock.now())?;
    let (live, head, hooks, glass) = ctx
        .store
        .read(read_fn(|tx| {
            Box::pin(async move {
                let live = SessionFilter { live_only: true, limit: Some(LIVE_COUNTED), ..Default::default() };
                let glass = SessionFilter {
                    awaiting_review: true,
                    limit: Some(super::AWAITING_REVIEW_SHOWN),
                    ..Default::default()
                };
                Ok((
                    tx.list_sessions(&live).await?.len(),
                    tx.get_event_head().await?.map_or(0, |h| h.0),
                    tx.list_webhooks().await?,
                    tx.list_sessions(&glass).await?.len(),
                ))
            })
        }))
        .await?;
    let backlog: i64 = hooks.iter().map(|w| (head - w.after_seq).max(0)).sum();
    let paused = hooks.iter().filter(|w| w.state == actas_core::webhook::WebhookState::Paused).count();
    let (batches, writes) = ctx.store.write_stats();
    let now = Snapshot {
        live_sessions: live as u64,
        trail_events: u64::try_from(head).unwrap_or(0),
        writer_batches: batches,
        writer_writes: writes,
        feed_subscribers: ctx.feed.subscribers() as u64,
        console_streams: ctx.feed.console_watchers() as u64,
        webhook_backlog: u64::try_from(backlog).unwrap_or(0),
        webhooks_paused: paused as u64,
        breakglass_awaiting_review: glass as u64,
    };
    ctx.telemetry.render(&now).map_err(|e| Error::Internal(anyhow::anyhow!("cannot write the metrics: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_specific_by_the_rule_requests_are_held_to_today() {
        let p = Policy::shipped();
        assert!(specific(&p, "Customer can't update tax settings after plan change", None));
        assert!(!specific(&p, "Checking the customer account please", None));
        assert!(!specific(&p, "need access", None));
        // One word of the ticket's subject is enough.
        assert!(specific(&p, "Checking the customer taxes please", Some("Taxes are wrong")));
        assert!(!specific(&p, "Checking the customer taxes please", Some("Cannot log in")));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 10.0]), Some(3.0));
    }

    #[test]
    fn a_window_must_be_forward_and_teams_must_be_empty() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T14:00:00Z").unwrap().to_utc();
        assert!(window(Some(now), Some(now), now).is_err());
        let (since, until) = window(None, None, now).unwrap();
        assert_eq!((until - since).num_days(), DEFAULT_WINDOW_DAYS);
        assert!(no_team(Some("")).is_ok());
        assert!(no_team(None).is_ok());
        assert!(no_team(Some("billing")).is_err());
    }

    #[test]
    fn tallies_put_the_most_frequent_first() {
        let by = BTreeMap::from([("b".to_string(), 1), ("a".to_string(), 1), ("c".to_string(), 3)]);
        let t = tally(by);
        assert_eq!(t.total, 5);
        let order: Vec<&str> = t.by_reason.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
    }
}
