//! The session feed behind `GET /sessions/feed`.
//!
//! The feed tails the audit trail: every session state change is an event
//! there, committed in seq order, so reading events after the last seq seen
//! yields every change exactly once and in order, whichever process or node
//! made it (a CLI `staff disable`, another server on the same PostgreSQL).
//! Writers on this node nudge the tail right after their commit so local
//! changes go out at once; changes from elsewhere arrive within one poll.

use std::sync::Arc;
use std::time::Duration;

use actas_api::SessionChange;
use actas_core::audit::EventType;
use actas_store::{read_fn, EventFilter};
use tokio::sync::{broadcast, Notify};

use actas_core::policy::Policy;
use actas_store::Store;

/// How often the tail looks for changes made elsewhere.
pub const POLL: Duration = Duration::from_millis(250);

/// The event types that change a session's state.
pub const SESSION_CHANGES: [EventType; 7] = [
    EventType::SessionStarted,
    EventType::SessionEnded,
    EventType::SessionExpired,
    EventType::SessionIdleTimeout,
    EventType::SessionRevoked,
    EventType::SessionTicketClosed,
    EventType::ScopeChanged,
];

/// Fan-out of session changes to every subscriber on this node.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<SessionChange>,
    nudge: Arc<Notify>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed { tx: broadcast::channel(1024).0, nudge: Arc::new(Notify::new()) }
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
}

/// Tails the audit trail of `store` for session changes and broadcasts
/// them to `feed`'s subscribers, until the task is dropped. Starts at the
/// current head: no history replay.
pub async fn tail(store: Store, policy: Arc<Policy>, feed: Feed) {
    let mut last = loop {
        match store.read(read_fn(|tx| Box::pin(async move { tx.get_event_head().await }))).await {
            Ok(head) => break head.map(|h| h.0).unwrap_or(0),
            Err(e) => {
                tracing::warn!(error = %e, "session feed cannot read the trail yet");
                tokio::time::sleep(POLL).await;
            }
        }
    };
    loop {
        match poll(&store, &policy, &feed, last).await {
            Ok(seq) => last = seq,
            Err(e) => tracing::warn!(error = %e, "session feed could not read the trail"),
        }
        tokio::select! {
            _ = feed.nudge.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
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
