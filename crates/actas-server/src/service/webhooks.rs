//! Webhooks out (SPEC §10): every audit event an endpoint chose is POSTed
//! to it as JSON, signed the Standard Webhooks way, at least once, in trail
//! order, retried with backoff ([`actas_core::webhook`]); an endpoint that
//! keeps failing is paused (`webhook.paused`) until an admin resumes it.
//!
//! [`deliver`] is one pass over the endpoints, run by the server's
//! background loop (and by tests, step by step on their clock). One node
//! sends to an endpoint at a time: it takes the endpoint's lease in a write
//! before sending. An endpoint's progress is `after_seq`; the event after it
//! is sent, and nothing later goes out before it was taken (a 2xx). Every
//! attempt is logged without its payload, so the log shows no customer
//! data.

use std::sync::OnceLock;
use std::time::Duration;

use actas_api as api;
use actas_core::audit::{self as text, data, Actor, Event, EventData, NewEvent};
use actas_core::id::Secret;
use actas_core::webhook::{self, Delivery, Selection, Webhook, WebhookState};
use actas_core::{Code, Error, Result};
use actas_store::{read_fn, write_fn, EventFilter};
use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::authz::{self, Act};
use crate::keys::sealed;

/// The sealing purpose of a webhook's secret and address.
const SEALED_PURPOSE: &str = "webhook";

/// Events read per endpoint per pass.
const EVENTS_PER_PASS: i64 = 200;

/// How long a node holds an endpoint it sends to.
const LEASE_SECS: i64 = 60;

/// Attempts shown in the delivery log.
pub const DELIVERIES_SHOWN: i64 = 100;

/// Endpoints at most.
pub const WEBHOOKS_MAX: usize = 20;

/// What is sealed under the key-encryption key: the secret, and the full
/// address (its query may hold the receiver's own token).
#[derive(Serialize, Deserialize)]
struct SealedParts {
    secret: String,
    url: String,
}

/// Checks an endpoint's address: `https://`, or `http://` to this machine
/// (for a receiver beside actas); no credentials in it. Answers the address
/// to show: without its query.
pub fn check_url(u: &str) -> Result<String> {
    let bad = |why: &str| {
        Error::refused(Code::WebhookUrlInvalid, Some("url"), format!("\"{u}\" cannot receive webhooks: {why}."))
    };
    let parsed = reqwest::Url::parse(u).map_err(|_| bad("it is not an absolute address"))?;
    if u.len() > 2000 {
        return Err(bad("it is longer than 2000 characters"));
    }
    let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if local => {}
        _ => return Err(bad("it must start with https:// (http:// only to 127.0.0.1 or localhost)")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("put no user name or password in it"));
    }
    if parsed.fragment().is_some() {
        return Err(bad("it has a #fragment, which is never sent"));
    }
    let mut shown = parsed.clone();
    shown.set_query(None);
    Ok(shown.to_string())
}

/// Adds an endpoint for the event types named (`*`: every one); answers it
/// and its signing secret (shown once). It receives the events written from
/// now on, its own `webhook.created` first.
pub async fn add_webhook(ctx: &Ctx, by: Actor, url: &str, events: &[String]) -> Result<(Webhook, Secret)> {
    let shown = check_url(url)?;
    let selection = Selection::parse(events)
        .map_err(|why| Error::refused(Code::EventsInvalid, Some("events"), format!("{why}.")))?;
    let kek = ctx.keys.kek().ok_or_else(|| {
        Error::refused(
            Code::FieldRequired,
            Some("secret"),
            "This server has no key-encryption key, so it cannot store a webhook's secret sealed: nothing was \
             changed. Start it with --key-encryption-key-file and try again.",
        )
    })?;
    let now = ctx.clock.now();
    let id = ctx.ids.id("whk");
    let secret = webhook::new_secret();
    let parts = SealedParts { secret: secret.expose().to_string(), url: url.to_string() };
    let bytes = serde_json::to_vec(&parts).map_err(|e| Error::Internal(e.into()))?;
    let sealed = sealed::seal_secret(kek, SEALED_PURPOSE, &id, &bytes).map_err(|e| Error::Internal(e.into()))?;
    let mut w = Webhook {
        id,
        url: shown,
        events: selection,
        secret: sealed,
        created_at: now,
        created_by: by.id.clone(),
        after_seq: 0,
        state: WebhookState::Active,
        failures: 0,
        next_attempt_at: None,
        last_error: None,
        lease_until: None,
    };
    let w = ctx
        .store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                if tx.list_webhooks().await?.len() >= WEBHOOKS_MAX {
                    return Err(Error::refused(
                        Code::TooMany,
                        Some("url"),
                        format!(
                            "There are {WEBHOOKS_MAX} webhooks already; remove one first (actas webhook remove ID)."
                        ),
                    ));
                }
                w.after_seq = tx.get_event_head().await?.map_or(0, |(seq, _)| seq);
                tx.insert_webhook(&w).await?;
                tx.append_event(NewEvent::new(
                    now,
                    by.clone(),
                    text::webhook_created(&by.name, &w.url, &w.events.to_string()),
                    EventData::WebhookCreated(data::WebhookCreated {
                        webhook: w.id.clone(),
                        url: w.url.clone(),
                        events: w.events.names(),
                    }),
                ))
                .await?;
                Ok(w)
            })
        }))
        .await?;
    Ok((w, secret))
}

/// Every endpoint; for admins.
pub async fn list_webhooks(ctx: &Ctx, who: &actas_core::model::Staff) -> Result<Vec<Webhook>> {
    authz::allow(who, Act::Administer, ctx.clock.now())?;
    ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_webhooks().await }))).await
}

/// Every endpoint, for the command line (no person asks).
pub async fn all_webhooks(ctx: &Ctx) -> Result<Vec<Webhook>> {
    ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_webhooks().await }))).await
}

/// An endpoint and its latest attempts; for admins. The log holds no
/// payload: which event, when, and what the receiver answered.
pub async fn deliveries(ctx: &Ctx, who: &actas_core::model::Staff, id: &str) -> Result<(Webhook, Vec<Delivery>)> {
    authz::allow(who, Act::Administer, ctx.clock.now())?;
    let id = id.to_string();
    ctx.store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let w = tx.get_webhook(&id).await?.ok_or_else(|| Error::not_found(format!("No webhook {id}.")))?;
                let log = tx.list_deliveries(&id, DELIVERIES_SHOWN).await?;
                Ok((w, log))
            })
        }))
        .await
}

/// An admin resumes a paused endpoint: it sends again from the event it
/// stopped at.
pub async fn resume_webhook(ctx: &Ctx, who: &actas_core::model::Staff, id: &str) -> Result<Webhook> {
    let now = ctx.clock.now();
    authz::allow(who, Act::Administer, now)?;
    let by = Actor::staff(&who.id, &who.name);
    let id = id.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let mut w = tx.get_webhook(&id).await?.ok_or_else(|| Error::not_found(format!("No webhook {id}.")))?;
                if w.state != WebhookState::Paused {
                    return Err(Error::conflict(Code::NotPaused, "This webhook is not paused; it is sending."));
                }
                w.state = WebhookState::Active;
                w.failures = 0;
                w.next_attempt_at = None;
                w.lease_until = None;
                tx.update_webhook(&w).await?;
                tx.append_event(NewEvent::new(
                    now,
                    by.clone(),
                    text::webhook_resumed(&by.name, &w.url, w.after_seq + 1),
                    EventData::WebhookResumed(data::WebhookResumed {
                        webhook: w.id.clone(),
                        url: w.url.clone(),
                        from_seq: w.after_seq + 1,
                    }),
                ))
                .await?;
                Ok(w)
            })
        }))
        .await
}

/// Removes an endpoint and its delivery log; nothing more is sent to it.
/// `by` is the admin (console, API) or the command line.
pub async fn remove_webhook(ctx: &Ctx, by: Actor, id: &str) -> Result<Webhook> {
    let now = ctx.clock.now();
    let id = id.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let w = tx.get_webhook(&id).await?.ok_or_else(|| Error::not_found(format!("No webhook {id}.")))?;
                tx.delete_webhook(&w.id).await?;
                tx.append_event(NewEvent::new(
                    now,
                    by.clone(),
                    text::webhook_removed(&by.name, &w.url, w.after_seq),
                    EventData::WebhookRemoved(data::WebhookRemoved {
                        webhook: w.id.clone(),
                        url: w.url.clone(),
                        after_seq: w.after_seq,
                    }),
                ))
                .await?;
                Ok(w)
            })
        }))
        .await
}

/// An admin removes an endpoint (console, API).
pub async fn remove_webhook_as(ctx: &Ctx, who: &actas_core::model::Staff, id: &str) -> Result<Webhook> {
    authz::allow(who, Act::Administer, ctx.clock.now())?;
    remove_webhook(ctx, Actor::staff(&who.id, &who.name), id).await
}

/// An admin sends one logged delivery's event again, now, whatever the
/// endpoint's progress (its `webhook-id` is the same, so the receiver can
/// drop a repeat). Answers the new attempt.
pub async fn replay_delivery(
    ctx: &Ctx,
    who: &actas_core::model::Staff,
    id: &str,
    delivery_id: &str,
) -> Result<Delivery> {
    authz::allow(who, Act::Administer, ctx.clock.now())?;
    let (id, did) = (id.to_string(), delivery_id.to_string());
    let (w, d, event) = ctx
        .store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let w = tx.get_webhook(&id).await?.ok_or_else(|| Error::not_found(format!("No webhook {id}.")))?;
                let d = tx
                    .get_delivery(&did)
                    .await?
                    .filter(|d| d.webhook_id == w.id)
                    .ok_or_else(|| Error::not_found(format!("No delivery {did} of this webhook.")))?;
                let event = event_at(tx, d.seq).await?;
                Ok((w, d, event))
            })
        }))
        .await?;
    let parts = open(ctx, &w)?;
    let outcome = send(ctx, &parts, &event).await;
    let attempt = outcome.logged(ctx, &w.id, (d.seq, &d.event_id, d.event_type), d.attempt, true);
    let logged = attempt.clone();
    ctx.store.write(write_fn(move |tx| Box::pin(async move { tx.insert_delivery(&logged).await }))).await?;
    Ok(attempt)
}

async fn event_at(tx: &mut dyn actas_store::ReadTx, seq: i64) -> Result<Event> {
    let f = EventFilter { after_seq: Some(seq - 1), limit: 1, ..Default::default() };
    tx.list_events(&f)
        .await?
        .into_iter()
        .find(|e| e.seq == seq)
        .ok_or_else(|| Error::not_found(format!("Event #{seq} is no longer in the trail.")))
}

/// One pass: every active endpoint that is due gets the events it has not
/// taken yet, in order, until one fails. Answers the deliveries that
/// succeeded.
pub async fn deliver(ctx: &Ctx) -> Result<usize> {
    let hooks = all_webhooks(ctx).await?;
    let mut sent = 0;
    for w in hooks {
        let now = ctx.clock.now();
        if w.state != WebhookState::Active || w.next_attempt_at.is_some_and(|t| t > now) {
            continue;
        }
        let until = now + chrono::Duration::seconds(LEASE_SECS);
        let wid = w.id.clone();
        let leased = ctx
            .store
            .write(write_fn(move |tx| Box::pin(async move { tx.lease_webhook(&wid, now, until).await })))
            .await?;
        if !leased {
            continue;
        }
        sent += deliver_to(ctx, w).await?;
    }
    Ok(sent)
}

/// Sends to one endpoint this node holds, then lets it go.
async fn deliver_to(ctx: &Ctx, mut w: Webhook) -> Result<usize> {
    let parts = match open(ctx, &w) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(webhook = %w.id, error = %e, "cannot open a webhook's sealed secret");
            return Ok(0);
        }
    };
    let after = w.after_seq;
    let f = EventFilter { after_seq: Some(after), limit: EVENTS_PER_PASS, ..Default::default() };
    let events = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await?;
    let mut sent = 0;
    for e in events {
        if !w.events.wants(e.kind) {
            w.after_seq = e.seq;
            continue;
        }
        let outcome = send(ctx, &parts, &e).await;
        let attempt = outcome.logged(ctx, &w.id, (e.seq, &e.id, e.kind), w.failures + 1, false);
        let now = attempt.at;
        let ok = attempt.ok;
        if ok {
            w.after_seq = e.seq;
            w.failures = 0;
            w.next_attempt_at = None;
            w.last_error = None;
            sent += 1;
        } else {
            w.failures += 1;
            w.next_attempt_at = Some(now + webhook::backoff(w.failures));
            w.last_error = Some(outcome.words());
            if w.failures >= webhook::PAUSE_AFTER {
                w.state = WebhookState::Paused;
            }
        }
        w.lease_until = if ok { Some(now + chrono::Duration::seconds(LEASE_SECS)) } else { None };
        let (hook, seq) = (w.clone(), e.seq);
        ctx.store
            .write(write_fn(move |tx| {
                Box::pin(async move {
                    tx.insert_delivery(&attempt).await?;
                    tx.update_webhook(&hook).await?;
                    if hook.state == WebhookState::Paused {
                        let why = hook.last_error.clone().unwrap_or_default();
                        tx.append_event(NewEvent::new(
                            attempt.at,
                            Actor::system(),
                            text::webhook_paused(&hook.url, hook.failures, seq, &why),
                            EventData::WebhookPaused(data::WebhookPaused {
                                webhook: hook.id.clone(),
                                url: hook.url.clone(),
                                failures: hook.failures,
                                seq,
                                last_error: why,
                            }),
                        ))
                        .await?;
                    }
                    Ok(())
                })
            }))
            .await?;
        if !ok {
            if w.state == WebhookState::Paused {
                tracing::error!(webhook = %w.id, url = %w.url, "a webhook kept failing and was paused");
            }
            return Ok(sent);
        }
    }
    // Let it go, with the progress past events it did not choose.
    w.lease_until = None;
    ctx.store.write(write_fn(move |tx| Box::pin(async move { tx.update_webhook(&w).await }))).await?;
    Ok(sent)
}

fn open(ctx: &Ctx, w: &Webhook) -> Result<SealedParts> {
    let kek = ctx
        .keys
        .kek()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("webhook {}: no key-encryption key to open it with", w.id)))?;
    let bytes = sealed::open_secret(kek, SEALED_PURPOSE, &w.id, &w.secret)
        .map_err(|e| Error::Internal(anyhow::anyhow!("webhook {}: {e}", w.id)))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Internal(anyhow::anyhow!("webhook {}: {e}", w.id)))
}

/// What the receiver did with an attempt.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The log's row of this attempt at event `(seq, id, type)`, made now.
    fn logged(
        &self,
        ctx: &Ctx,
        webhook_id: &str,
        (seq, event_id, event_type): (i64, &str, actas_core::audit::EventType),
        attempt: u32,
        replay: bool,
    ) -> Delivery {
        Delivery {
            id: ctx.ids.id("whd"),
            webhook_id: webhook_id.to_string(),
            seq,
            event_id: event_id.to_string(),
            event_type,
            attempt,
            at: ctx.clock.now(),
            status: self.status,
            ok: self.ok(),
            error: self.error.clone(),
            replay,
        }
    }

    fn words(&self) -> String {
        match (&self.error, self.status) {
            (Some(e), _) => e.clone(),
            (None, Some(s)) => format!("HTTP {s}"),
            (None, None) => "no answer".into(),
        }
    }
}

/// The one HTTP client of webhooks: no redirects (an endpoint is where it
/// says), a bound on every attempt.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(webhook::ATTEMPT_TIMEOUT_SECS))
            .user_agent(concat!("actas/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// The body of a delivery: Standard Webhooks' envelope around the event as
/// `GET /audit` shows it.
pub fn body_of(e: &Event) -> Vec<u8> {
    let data = crate::views::event(e);
    let envelope = api::WebhookPayload { kind: e.kind, timestamp: data.at.clone(), data };
    serde_json::to_vec(&envelope).unwrap_or_default()
}

async fn send(ctx: &Ctx, parts: &SealedParts, e: &Event) -> Outcome {
    let Some(key) = webhook::key_of(&parts.secret) else {
        return Outcome { status: None, error: Some("the stored secret is not readable".into()) };
    };
    let body = body_of(e);
    let timestamp = ctx.clock.now().timestamp();
    let signature = webhook::sign(&key, &e.id, timestamp, &body);
    let sent = client()
        .post(&parts.url)
        .header("content-type", "application/json")
        .header("webhook-id", &e.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(res) => Outcome { status: Some(res.status().as_u16()), error: None },
        Err(err) if err.is_timeout() => Outcome { status: None, error: Some("no answer within 10 s".into()) },
        Err(err) if err.is_connect() => Outcome { status: None, error: Some("could not connect".into()) },
        Err(_) => Outcome { status: None, error: Some("the request failed".into()) },
    }
}
