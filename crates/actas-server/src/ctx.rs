//! What every operation is given: the database, the policy, the keys,
//! the clock and the session feed ([`Ctx`]), and who is calling
//! ([`Principal`]).

use std::sync::Arc;

use actas_core::audit::Actor;
use actas_core::id::Ids;
use actas_core::model::Staff;
use actas_core::policy::Policy;
use actas_core::Clock;
use actas_store::Store;

use crate::credentials::KnownAppKeys;
use crate::feed::Feed;
use crate::keys::{Claims, KeyRing};
use crate::telemetry::Telemetry;

/// Everything an operation needs, shared by all requests.
#[derive(Clone)]
pub struct Ctx {
    /// The database.
    pub store: Store,
    /// The loaded policy.
    pub policy: Arc<Policy>,
    /// Signing keys.
    pub keys: Arc<KeyRing>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// New ids and secrets.
    pub ids: Arc<dyn Ids>,
    /// Session changes for subscribers.
    pub feed: Feed,
    /// This server's base URL (the tokens' `iss`).
    pub base_url: String,
    /// App keys found lately (see [`KnownAppKeys`]).
    pub app_keys: Arc<KnownAppKeys>,
    /// What `GET /metrics` counts on this node.
    pub telemetry: Arc<Telemetry>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("store", &self.store).field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl Ctx {
    /// Tells the session feed that session changes were just committed
    /// here, so it sends them at once instead of at its next poll.
    pub fn publish(&self) {
        self.feed.nudge();
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A staff member with a personal token (or console login).
    Staff(Staff),
    /// A host app or ticket system with an app key.
    App(actas_core::model::App),
    /// The banner, holding an impersonation token.
    Token(Claims),
}

impl Principal {
    /// The audit actor.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Staff(s) => Actor::staff(&s.id, &s.name),
            Principal::App(a) => Actor::app(&a.id, &a.name),
            Principal::Token(c) => Actor::staff(&c.act.sub, &c.act.name),
        }
    }
}
