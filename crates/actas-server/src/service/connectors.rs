//! Ticket systems' webhooks: Zendesk and Jira Service Management tell
//! actas about their tickets, and a solved or closed ticket ends its live
//! sessions.
//!
//! A delivery is taken only when its signature checks out with the
//! connector app's secret (sealed under the key-encryption key in the
//! database), it was sent within five minutes, and it was not taken
//! before; anything else is refused before the database is written.

use actas_core::audit::{self as text, data, Actor, EventData, NewEvent};
use actas_core::connector::{self, Connector, Delivery, Mapping, Refused, TicketChange, MAX_AGE};
use actas_core::id::Secret;
use actas_core::model::{App, EndReason, Session, Ticket, TicketSource};
use actas_core::Code;
use actas_core::{Error, Result, Timestamp};
use actas_store::{read_fn, write_fn, ConnectorRecord, SessionFilter, WriteTx};

use super::{end_session, Committed, Ctx};
use crate::authz::{self, Act};
use crate::keys::sealed;

/// What sealing a connector's secret is bound to.
const SECRET_PURPOSE: &str = "connector";

/// Longest shared secret taken.
const SECRET_BYTES: usize = 512;

/// A connector to set up with a new app (`actas app add NAME --tickets
/// --connector zendesk|jira --secret-stdin`).
#[derive(Debug, Clone)]
pub struct ConnectorSetup {
    /// Which ticket system.
    pub kind: Connector,
    /// The secret the system signs its webhooks with.
    pub secret: Secret,
    /// Where the ticket's fields are in the system's body.
    pub mapping: Mapping,
}

/// Checks a setup and seals its secret for `app_id`; answers the record to
/// store with the app.
pub(crate) fn seal_setup(ctx: &Ctx, app_id: &str, setup: &ConnectorSetup, now: Timestamp) -> Result<ConnectorRecord> {
    let kek = ctx.keys.kek().ok_or_else(|| {
        Error::refused(
            Code::FieldRequired,
            Some("secret"),
            "This server has no key-encryption key, so it cannot store a connector's secret sealed: nothing was \
             changed. Start it with --key-encryption-key-file and try again.",
        )
    })?;
    let secret = setup.secret.expose().trim_end_matches(['\r', '\n']);
    if secret.len() < 16 || secret.len() > SECRET_BYTES {
        return Err(Error::refused(
            Code::FieldRequired,
            Some("secret"),
            format!("A connector's secret is 16 to {SECRET_BYTES} bytes (the ticket system shows it)."),
        ));
    }
    let sealed = sealed::seal_secret(kek, SECRET_PURPOSE, app_id, secret.as_bytes())
        .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
    Ok(ConnectorRecord {
        app_id: app_id.to_string(),
        kind: setup.kind,
        secret: sealed,
        mapping: setup.mapping.clone(),
        created_at: now,
    })
}

/// What a delivery did.
#[derive(Debug, Clone)]
pub struct Received {
    /// The ticket as it stands now.
    pub ticket: Ticket,
    /// `created`, `updated` or `unchanged`.
    pub outcome: &'static str,
    /// The live sessions it ended.
    pub sessions_ended: Vec<String>,
}

/// Takes a delivery from `kind`'s webhook for connector app `app_id`.
/// `header` looks a request header up by its lowercase name.
pub async fn receive(
    ctx: &Ctx,
    kind: Connector,
    app_id: &str,
    header: &(dyn Fn(&str) -> Option<String> + Sync),
    body: &[u8],
) -> Result<Received> {
    let now = ctx.clock.now();
    let id = app_id.to_string();
    let (app, record) = ctx
        .store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let app = tx.get_app(&id).await?;
                let record = tx.get_connector(&id).await?;
                Ok((app, record))
            })
        }))
        .await?;
    let (app, record) = match (app, record) {
        (Some(a), Some(r)) if r.kind == kind => (a, r),
        // Nothing tells an unknown app from one with another system.
        _ => return Err(Error::not_found(format!("No {} connector {app_id}.", kind.as_str()))),
    };
    let kek = ctx.keys.kek().ok_or_else(|| {
        Error::Internal(anyhow::anyhow!("connector {app_id}: no key-encryption key to open its secret with"))
    })?;
    let secret = sealed::open_secret(kek, SECRET_PURPOSE, &app.id, &record.secret)
        .map_err(|e| Error::Internal(anyhow::anyhow!("connector {app_id}: {e}")))?;
    let delivery = connector::authenticate(kind, &secret, header, body, now).map_err(refusal)?;
    authz::allow(&app, Act::ReceiveTickets, now)?;
    let change = connector::read_ticket(kind, &record.mapping, body).map_err(refusal)?;
    apply(ctx, app, kind, delivery, change, now).await
}

/// A refused delivery as the error answered.
fn refusal(r: Refused) -> Error {
    match r {
        Refused::Body(why) => {
            Error::BadRequest { code: Code::InvalidBody, field: "body".into(), detail: format!("The body {why}.") }
        }
        other => Error::Unauthorized(format!("Refused: {other}.")),
    }
}

async fn apply(
    ctx: &Ctx,
    app: App,
    kind: Connector,
    delivery: Delivery,
    change: TicketChange,
    now: Timestamp,
) -> Result<Received> {
    let policy = ctx.policy.clone();
    let replay_key = delivery.replay_key(&app.id);
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            if !tx.record_delivery(&replay_key, now).await? {
                return Err(Error::conflict(
                    Code::DeliveryReplayed,
                    "This delivery was taken before; a replay is refused.",
                ));
            }
            // Deliveries older than any that could still be accepted are
            // forgotten on the way.
            tx.prune_deliveries(now - MAX_AGE - MAX_AGE).await?;
            let actor = Actor::app(&app.id, &app.name);
            let assignee = match &change.assignee {
                Some(a) => Some(staff_for(tx, a).await?),
                None => None,
            };
            let received = match tx.get_ticket(&change.reference).await? {
                None => {
                    let t = Ticket {
                        reference: change.reference.clone(),
                        account_id: change.account_id.clone(),
                        account_name: change.account_name.clone(),
                        subject: change.subject.clone(),
                        url: change.url.clone(),
                        created_by: app.id.clone(),
                        created_at: now,
                        status: change.status,
                        assignee,
                        tags: change.tags.clone(),
                        source: kind.into(),
                        updated_at: now,
                    };
                    tx.insert_ticket(&t).await?;
                    tx.append_event(
                        NewEvent::new(
                            now,
                            actor.clone(),
                            text::ticket_created(&actor.name, &t),
                            EventData::TicketCreated(super::requests::ticket_created_data(&t)),
                        )
                        .account(&t.account_id)
                        .ticket(&t.reference),
                    )
                    .await?;
                    Received { ticket: t, outcome: "created", sessions_ended: Vec::new() }
                }
                Some(old) => update(tx, &policy, &actor, kind.into(), old, change, assignee, now).await?,
            };
            let ended = !received.sessions_ended.is_empty();
            Ok(Committed::answer(received).sessions_changed(ended))
        })
    }))
    .await
}

/// Updates a known ticket as its ticket system (`source`) now tells it:
/// records `ticket.updated` with the fields that changed and, for a solved
/// or closed ticket, ends its live sessions (`ticket_closed`). Answers
/// `unchanged` and writes nothing when no field differs. The caller marks
/// its commit `sessions_changed` when `sessions_ended` is not empty.
/// `assignee` is the one to store, already mapped by [`staff_for`].
#[allow(clippy::too_many_arguments)]
pub(crate) async fn update(
    tx: &mut dyn WriteTx,
    policy: &actas_core::policy::Policy,
    actor: &Actor,
    source: TicketSource,
    old: Ticket,
    change: TicketChange,
    assignee: Option<String>,
    now: Timestamp,
) -> Result<Received> {
    if old.account_id != change.account_id {
        // A ticket's requests and sessions are about its account: it does
        // not move under them.
        return Err(Error::conflict(
            Code::WrongAccount,
            format!(
                "Ticket {} is about account {}; the ticket system now names {}, which actas does not follow.",
                old.reference, old.account_id, change.account_id
            ),
        ));
    }
    let new = Ticket {
        account_name: change.account_name.or_else(|| old.account_name.clone()),
        subject: change.subject,
        url: change.url.or_else(|| old.url.clone()),
        status: change.status,
        assignee,
        tags: change.tags,
        source,
        updated_at: now,
        ..old.clone()
    };
    let mut changed: Vec<String> = Vec::new();
    let mut note = |differs: bool, field: &str| {
        if differs {
            changed.push(field.to_string());
        }
    };
    note(old.status != new.status, "status");
    note(old.assignee != new.assignee, "assignee");
    note(old.tags != new.tags, "tags");
    note(old.subject != new.subject, "subject");
    note(old.url != new.url, "url");
    note(old.account_name != new.account_name, "account_name");
    note(old.source != new.source, "source");
    if changed.is_empty() {
        return Ok(Received { ticket: old, outcome: "unchanged", sessions_ended: Vec::new() });
    }
    tx.update_ticket(&new).await?;
    let mut ended: Vec<Session> = Vec::new();
    if new.status.ends_sessions() {
        let filter = SessionFilter { ticket: Some(new.reference.clone()), live_only: true, ..Default::default() };
        for s in tx.list_sessions(&filter).await? {
            ended.push(end_session(tx, policy, s, EndReason::TicketClosed, now, Some(actor), None).await?);
        }
    }
    let sessions_ended: Vec<String> = ended.iter().map(|s| s.id.clone()).collect();
    tx.append_event(
        NewEvent::new(
            now,
            actor.clone(),
            text::ticket_updated(&actor.name, &old, &new, &changed, sessions_ended.len()),
            EventData::TicketUpdated(data::TicketUpdated {
                source: source.as_str().to_string(),
                changed,
                old_status: old.status.as_str().to_string(),
                status: new.status.as_str().to_string(),
                subject: new.subject.clone(),
                assignee: new.assignee.clone(),
                old_assignee: old.assignee.clone().filter(|_| old.assignee != new.assignee),
                tags: new.tags.clone(),
                sessions_ended: sessions_ended.clone(),
            }),
        )
        .account(&new.account_id)
        .ticket(&new.reference),
    )
    .await?;
    Ok(Received { ticket: new, outcome: "updated", sessions_ended })
}

/// The staff login a ticket system's assignee names: the login itself, or
/// an e-mail address whose local part is a login. Anyone else is kept as
/// the system wrote them.
pub(crate) async fn staff_for(tx: &mut dyn WriteTx, assignee: &str) -> Result<String> {
    if let Some((local, _)) = assignee.split_once('@') {
        if tx.get_staff(assignee).await?.is_none() && tx.get_staff(local).await?.is_some() {
            return Ok(local.to_string());
        }
    }
    Ok(assignee.to_string())
}
