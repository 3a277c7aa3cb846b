//! The session feed: every session state change, for `GET /sessions/feed`.
//!
//! Changes are published after their transaction committed, so a
//! subscriber never sees a change that could still roll back.

use actas_api::SessionChange;
use tokio::sync::broadcast;

/// Fan-out of session changes to every subscriber on this node.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<SessionChange>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Feed {
    /// Sends a change to every subscriber.
    pub fn publish(&self, change: SessionChange) {
        let _ = self.tx.send(change);
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionChange> {
        self.tx.subscribe()
    }
}
