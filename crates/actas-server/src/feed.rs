//! The session feed behind `GET /sessions/feed`.
//!
//! The feed tails the audit trail: every session state change is an event
//! there, committed in seq order, so reading events after the last seq seen
//! yields every change exactly once and in order, whichever process or node
//! made it (a CLI `staff disable`, another server on the same PostgreSQL).
//! Writers on this node nudge the tail right after their commit so local
//! changes go out at once; changes from elsewhere arrive within one poll.
//!
//! While a console stream (`GET /live`, `console/live.rs`) is open on this
//! node, the tail also reads every new event and tells the streams whose
//! requests or sessions they concern ([`ConsoleChange`]), and every commit
//! here nudges it (`Ctx::commit`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actas_api::SessionChange;
use actas_core::audit::EventType;
use actas_store::{read_fn, EventFilter};
use tokio::sync::{broadcast, Notify};

use actas_core::policy::Policy;
use actas_store::Store;

/// How often the tail looks for changes made elsewhere.
pub const POLL: Duration = Duration::from_millis(250);

/// The least time between two looks: nudges that come faster (every
/// authorize call nudges while a console stream is open) are taken
/// together, so the tail's reads stay bounded however busy the node is.
const MIN_GAP: Duration = Duration::from_millis(50);

/// The event types that change a session's state.
pub const SESSION_CHANGES: [EventType; 8] = [
    EventType::SessionStarted,
    EventType::SessionEnded,
    EventType::SessionExpired,
    EventType::SessionIdleTimeout,
    EventType::SessionRevoked,
    EventType::SessionTicketClosed,
    EventType::SessionCustomerRevoked,
    EventType::ScopeChanged,
];

/// Something the console shows may have changed: whose access the new
/// events concern. The console's live stream (`GET /live`) tells a person
/// only "changed", and only when they may see one of these.
///
/// Each name comes with the seq of the last event that named it, so that a
/// stream opened after that event hears nothing of it (the tail may read
/// events late, together with newer ones, when no stream was open).
#[derive(Debug, Clone, Default)]
pub struct ConsoleChange {
    /// The staff members whose requests or sessions the events are about.
    pub agents: Vec<(String, i64)>,
    /// Whom the tickets the events created or changed are assigned to, or
    /// were until the change: logins, or the e-mail addresses a ticket
    /// system named (their inboxes list those tickets).
    pub assignees: Vec<(String, i64)>,
    /// The seq of the last of the events.
    pub last: i64,
}

impl ConsoleChange {
    /// Takes note of what `e` is about.
    fn add(&mut self, e: actas_core::audit::Event) {
        use actas_core::audit::EventData;
        let seq = e.seq;
        let note = |list: &mut Vec<(String, i64)>, who: Option<String>| {
            let Some(who) = who else { return };
            match list.iter_mut().find(|(w, _)| *w == who) {
                Some(seen) => seen.1 = seen.1.max(seq),
                None => list.push((who, seq)),
            }
        };
        if matches!(e.kind, EventType::TicketCreated | EventType::TicketUpdated) {
            match e.payload() {
                Ok(EventData::TicketCreated(t)) => note(&mut self.assignees, t.assignee),
                Ok(EventData::TicketUpdated(t)) => {
                    note(&mut self.assignees, t.assignee);
                    note(&mut self.assignees, t.old_assignee);
                }
                _ => {}
            }
        }
        note(&mut self.agents, e.body.agent);
        self.last = self.last.max(seq);
    }

    /// Whether an event after seq `after` names someone `who` accepts.
    pub fn names(&self, after: i64, who: impl Fn(&str) -> bool) -> bool {
        self.agents.iter().chain(&self.assignees).any(|(w, seq)| *seq > after && who(w))
    }
}

/// Fan-out of session changes to every subscriber on this node.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<SessionChange>,
    console: broadcast::Sender<ConsoleChange>,
    streams: Arc<Mutex<HashMap<String, usize>>>,
    nudge: Arc<Notify>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            tx: broadcast::channel(1024).0,
            console: broadcast::channel(64).0,
            streams: Arc::default(),
            nudge: Arc::new(Notify::new()),
        }
    }
}

/// One of a person's open console streams; gives its place back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<Mutex<HashMap<String, usize>>>,
    staff_id: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut m = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.staff_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.staff_id);
            }
        }
    }
}

impl Feed {
    /// Wakes the tail: something was just committed here.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionChange> {
        self.tx.subscribe()
    }

    /// How many subscriptions are open on this node.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// A new subscription to console changes.
    pub fn watch_console(&self) -> broadcast::Receiver<ConsoleChange> {
        self.console.subscribe()
    }

    /// How many console streams are open on this node.
    pub fn console_watchers(&self) -> usize {
        self.console.receiver_count()
    }

    /// A place for one more console stream of `staff_id`, unless they
    /// already hold `max` on this node.
    pub fn open_stream(&self, staff_id: &str, max: usize) -> Option<StreamSlot> {
        let mut m = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(staff_id.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(StreamSlot { streams: self.streams.clone(), staff_id: staff_id.to_string() })
    }
}

/// The seq of the trail's head (0 for an empty trail).
pub async fn head_seq(store: &Store) -> actas_core::Result<i64> {
    let head = store.read(read_fn(|tx| Box::pin(async move { tx.get_event_head().await }))).await?;
    Ok(head.map(|h| h.0).unwrap_or(0))
}

/// The trail's head seq, once the store answers: where [`tail`] starts.
/// Read before the server takes its first request, so that every change a
/// request makes is after it and reaches the feed.
pub async fn head(store: &Store) -> i64 {
    loop {
        match head_seq(store).await {
            Ok(seq) => return seq,
            Err(e) => {
                tracing::warn!(error = %e, "session feed cannot read the trail yet");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Tails the audit trail of `store` after seq `last` (see [`head`]) for
/// session changes and broadcasts them to `feed`'s subscribers, until the
/// task is dropped.
pub async fn tail(store: Store, policy: Arc<Policy>, feed: Feed, mut last: i64) {
    // Where the console's changes were read up to. While no console stream
    // is open only the head is read, so that a stream opened later hears of
    // every event committed after it subscribed.
    let mut console_last: Option<i64> = None;
    loop {
        let began = tokio::time::Instant::now();
        match poll(&store, &policy, &feed, last).await {
            Ok(seq) => last = seq,
            Err(e) => tracing::warn!(error = %e, "session feed could not read the trail"),
        }
        let watched = feed.console_watchers() > 0;
        match poll_console(&store, &feed, console_last.filter(|_| watched)).await {
            Ok(seq) => console_last = Some(seq),
            Err(e) => tracing::warn!(error = %e, "console changes could not be read from the trail"),
        }
        tokio::select! {
            _ = feed.nudge.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        tokio::time::sleep_until(began + MIN_GAP).await;
    }
}

/// Session changes after `after` (a seq), oldest first, at most 1000, and
/// the last seq looked at.
pub async fn changes_after(
    store: &Store,
    policy: &Policy,
    after: i64,
) -> actas_core::Result<(Vec<SessionChange>, i64)> {
    let found = store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let events = tx
                    .list_events(&EventFilter {
                        types: SESSION_CHANGES.to_vec(),
                        after_seq: Some(after),
                        limit: 1000,
                        ..Default::default()
                    })
                    .await?;
                let mut out = Vec::with_capacity(events.len());
                for e in events {
                    let session = match &e.session_id {
                        Some(id) => tx.get_session(id).await?,
                        None => None,
                    };
                    out.push((e.seq, e.kind, session));
                }
                Ok(out)
            })
        }))
        .await?;
    let last = found.last().map(|f| f.0).unwrap_or(after);
    let changes = found
        .into_iter()
        .filter_map(|(seq, kind, s)| s.map(|s| SessionChange { kind, session: crate::views::session(policy, &s), seq }))
        .collect();
    Ok((changes, last))
}

async fn poll(store: &Store, policy: &Policy, feed: &Feed, after: i64) -> actas_core::Result<i64> {
    let (changes, last) = changes_after(store, policy, after).await?;
    for c in changes {
        let _ = feed.tx.send(c);
    }
    Ok(last)
}

/// Tells the console streams whose access the events after `after` concern
/// (one message per poll, however many events), and answers the last seq
/// looked at. Without `after` (no stream open, or the first poll), answers
/// the head.
async fn poll_console(store: &Store, feed: &Feed, after: Option<i64>) -> actas_core::Result<i64> {
    let Some(after) = after else { return head_seq(store).await };
    let events = store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                tx.list_events(&EventFilter { after_seq: Some(after), limit: 1000, ..Default::default() }).await
            })
        }))
        .await?;
    let Some(last) = events.last().map(|e| e.seq) else { return Ok(after) };
    let mut change = ConsoleChange::default();
    for e in events {
        change.add(e);
    }
    let _ = feed.console.send(change);
    Ok(last)
}

#[cfg(test)]
mod tests {
    use actas_core::audit::data::SessionEnd;
    use actas_core::model::EndReason;
    use actas_core::VariantArray;

    use super::SESSION_CHANGES;

    /// However a session ends, its event is one the feed sends.
    #[test]
    fn every_way_a_session_ends_is_a_change_the_feed_sends() {
        for reason in EndReason::VARIANTS {
            let end = SessionEnd {
                end_reason: reason.as_str().to_string(),
                note: None,
                started_at: chrono::DateTime::UNIX_EPOCH,
            };
            let kind = crate::service::end_event(*reason, end).kind();
            assert!(SESSION_CHANGES.contains(&kind), "{reason:?}: {kind:?}");
        }
    }
}
