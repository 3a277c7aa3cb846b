//! Customer consent (SPEC §10): an app registered with `--consent
//! required`, or one account that asks for it, lets support in only while
//! the customer's grant is live. The host app records the grant for some
//! hours ("Allow support to access my account") and withdraws it at any
//! moment, the customer's kill switch, which ends the live sessions on the
//! account at once, on every node.

use actas_api as api;
use actas_core::audit::{self as text, data, Actor, EventData, NewEvent};
use actas_core::limits::is_layout_char;
use actas_core::model::{App, EndReason, Grant};
use actas_core::{Code, Error, Result, Timestamp};
use actas_store::{read_fn, write_fn, ReadTx, SessionFilter};

use super::{end_session, Committed, Ctx, Principal};
use crate::authz::{self, Act};

/// The longest grant, in hours (30 days).
pub const MAX_GRANT_HOURS: u32 = 720;
/// Most grants an account's consent lists.
const LISTED: i64 = 20;
/// Longest name of whoever grants or withdraws.
const WHO_CHARS: usize = 200;

/// Whether support needs the customer's grant for `account_id`: some app
/// asks it of every account, or the account asks it for itself.
pub(crate) async fn required(tx: &mut (impl ReadTx + ?Sized), account_id: &str) -> Result<bool> {
    if tx.account_consent(account_id).await? == Some(true) {
        return Ok(true);
    }
    Ok(tx.list_apps().await?.iter().any(|a| a.consent))
}

/// The account's live grant, if it has one.
pub(crate) async fn live_grant(
    tx: &mut (impl ReadTx + ?Sized),
    account_id: &str,
    now: Timestamp,
) -> Result<Option<Grant>> {
    Ok(tx.list_grants(account_id, LISTED).await?.into_iter().find(|g| g.is_live(now)))
}

/// Refuses support access to `account_id` at `now` when it needs the
/// customer's grant and has none; answers the live grant, if any (a session
/// ends no later than its grant).
pub(crate) async fn require_grant(
    tx: &mut (impl ReadTx + ?Sized),
    account_id: &str,
    now: Timestamp,
) -> Result<Option<Grant>> {
    if !required(tx, account_id).await? {
        return Ok(None);
    }
    match live_grant(tx, account_id, now).await? {
        Some(g) => Ok(Some(g)),
        None => Err(Error::refused(
            Code::NoCustomerGrant,
            Some("account_id"),
            format!(
                "Account {account_id} lets support in only with the customer's permission, and none is live; \
                 ask the customer to allow support access from their account."
            ),
        )),
    }
}

fn who(field: &'static str, v: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > WHO_CHARS || v.chars().any(is_layout_char) {
        return Err(Error::bad_request(
            field,
            format!("name who it is: 1 to {WHO_CHARS} characters of plain text on one line"),
        ));
    }
    Ok(v.to_string())
}

fn account(id: &str) -> Result<()> {
    if id.is_empty() || id.chars().count() > actas_core::limits::ID_CHARS || id.chars().any(is_layout_char) {
        return Err(Error::bad_request("account_id", "an account id is plain text on one line"));
    }
    Ok(())
}

/// `POST /accounts/{id}/grants`: the customer allows support in for some
/// hours (recorded by the host app).
pub async fn grant_access(ctx: &Ctx, app: &App, account_id: &str, input: api::NewGrant) -> Result<Grant> {
    let now = ctx.clock.now();
    authz::allow(app, Act::ManageConsent, now)?;
    account(account_id)?;
    let granted_by = who("granted_by", &input.granted_by)?;
    if input.hours == 0 || input.hours > MAX_GRANT_HOURS {
        return Err(Error::refused(
            Code::GrantHoursInvalid,
            Some("hours"),
            format!("A grant lasts 1 to {MAX_GRANT_HOURS} hours."),
        ));
    }
    let app = app.clone();
    let account_id = account_id.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let g = Grant {
                    id: tx.new_id("grt"),
                    account_id: account_id.clone(),
                    app_id: app.id.clone(),
                    granted_by,
                    hours: input.hours,
                    created_at: now,
                    expires_at: now + chrono::Duration::hours(i64::from(input.hours)),
                    revoked_at: None,
                    revoked_by: None,
                };
                tx.insert_grant(&g).await?;
                tx.append_event(
                    NewEvent::new(
                        now,
                        Actor::app(&app.id, &app.name),
                        text::grant_created(&g, &app.name),
                        EventData::GrantCreated(data::GrantCreated {
                            grant: g.id.clone(),
                            granted_by: g.granted_by.clone(),
                            hours: g.hours,
                            expires_at: g.expires_at,
                            app: app.id.clone(),
                        }),
                    )
                    .account(&account_id),
                )
                .await?;
                Ok(g)
            })
        }))
        .await
}

/// `DELETE /accounts/{id}/grants`: the customer withdraws every live grant;
/// the live sessions on the account end at once (`customer_revoked`).
pub async fn revoke_access(ctx: &Ctx, app: &App, account_id: &str, revoked_by: Option<String>) -> Result<usize> {
    let now = ctx.clock.now();
    authz::allow(app, Act::ManageConsent, now)?;
    account(account_id)?;
    let by = match revoked_by.as_deref() {
        Some(b) => who("revoked_by", b)?,
        None => "The customer".to_string(),
    };
    let policy = ctx.policy.clone();
    let app = app.clone();
    let account_id = account_id.to_string();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let live: Vec<Grant> =
                tx.list_grants(&account_id, LISTED).await?.into_iter().filter(|g| g.is_live(now)).collect();
            for g in &live {
                tx.revoke_grant(&g.id, now, &by).await?;
            }
            let f = SessionFilter { account_id: Some(account_id.clone()), live_only: true, ..Default::default() };
            let sessions = tx.list_sessions(&f).await?;
            let actor = Actor::app(&app.id, &app.name);
            let mut ended = Vec::new();
            for s in sessions {
                let id = s.id.clone();
                end_session(tx, &policy, s, EndReason::CustomerRevoked, now, Some(&Actor::app(&app.id, &by)), None)
                    .await?;
                ended.push(id);
            }
            tx.append_event(
                NewEvent::new(
                    now,
                    actor,
                    text::grant_revoked(&account_id, &by, &app.name, ended.len()),
                    EventData::GrantRevoked(data::GrantRevoked {
                        grants: live.iter().map(|g| g.id.clone()).collect(),
                        revoked_by: by.clone(),
                        app: app.id.clone(),
                        sessions_ended: ended.clone(),
                    }),
                )
                .account(&account_id),
            )
            .await?;
            let n = ended.len();
            Ok(Committed::answer(n).sessions_changed(n > 0))
        })
    }))
    .await
}

/// `PUT /accounts/{id}/consent`: whether this one account asks for its
/// customer's grant, whatever the apps say.
pub async fn set_account_consent(ctx: &Ctx, app: &App, account_id: &str, input: api::AccountConsent) -> Result<()> {
    let now = ctx.clock.now();
    authz::allow(app, Act::ManageConsent, now)?;
    account(account_id)?;
    let set_by = who("set_by", &input.set_by)?;
    let account_id = account_id.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move { tx.set_account_consent(&account_id, input.required, &set_by, now).await })
        }))
        .await
}

/// `GET /accounts/{id}/grants`: whether the account needs its customer's
/// grant, the live one and the latest ones.
pub async fn consent(ctx: &Ctx, who: &Principal, account_id: &str) -> Result<(bool, Vec<Grant>)> {
    let now = ctx.clock.now();
    authz::allow(who, Act::ReadConsent, now)?;
    account(account_id)?;
    let account_id = account_id.to_string();
    ctx.store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let required = required(tx, &account_id).await?;
                let grants = tx.list_grants(&account_id, LISTED).await?;
                Ok((required, grants))
            })
        }))
        .await
}

/// What the request form tells an agent of `account_id`'s consent: `None`
/// when it needs no grant, else until when the live grant lasts (`None`:
/// there is none, and a request would be refused).
pub async fn grant_for_request(
    ctx: &Ctx,
    agent: &actas_core::model::Staff,
    account_id: &str,
) -> Result<Option<Option<Timestamp>>> {
    let now = ctx.clock.now();
    authz::allow(agent, Act::CreateRequest, now)?;
    let account_id = account_id.to_string();
    ctx.store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                if !required(tx, &account_id).await? {
                    return Ok(None);
                }
                Ok(Some(live_grant(tx, &account_id, now).await?.map(|g| g.expires_at)))
            })
        }))
        .await
}
