//! SCIM 2.0 provisioning (`/scim/v2`): an identity provider, through an app
//! with the `scim` permission, lists, creates, changes and disables staff.
//!
//! A SCIM user is a staff member: `id` is the login, the `userName` they
//! were created with (lowercased), which never changes; `userName` may
//! change later (a new e-mail address) and is kept beside the login, which
//! the trail goes on naming; `displayName` is the name, `active: false` a
//! disabled account. Staff created this way hold the role `agent`, have no
//! password and no personal token (they sign in through the identity
//! provider, or an admin sets a password). Deleting a user disables them:
//! the trail names them, so they are never removed. The writes are the
//! ones of [`super::admin`] with their events (`staff.created`,
//! `staff.updated` for a new name or userName, `staff.disabled`, which ends a live
//! session as `staff_disabled`, `staff.enabled`); the identity provider's
//! id for them and their e-mail address are kept beside the staff row
//! ([`StaffProfile`]) without an event, as a password is.

use actas_core::audit::Actor;
use actas_core::limits::{check_line, EMAIL_CHARS, ID_CHARS};
use actas_core::model::{App, Role, Staff};
use actas_core::scim::{self, Filter, ScimError, ScimUser};
use actas_core::{Code, Error, Timestamp};
use actas_store::{read_fn, write_fn, StaffProfile, WriteTx};
use serde_json::Value;

use super::admin::{check_new_staff, disable_in, enable_in, insert_staff_in, update_staff_in};
use super::{Committed, Ctx, Principal};
use crate::authz::{self, Act};

/// Why a SCIM operation failed: the request itself, in SCIM's words, or
/// the domain's error (not found, conflict, the database...).
#[derive(Debug)]
pub enum ScimFailure {
    /// A SCIM error (`invalidSyntax`, `invalidFilter`, `mutability`, ...).
    Scim(ScimError),
    /// The domain's error.
    Domain(Error),
}

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        ScimFailure::Scim(e)
    }
}

impl From<Error> for ScimFailure {
    fn from(e: Error) -> Self {
        ScimFailure::Domain(e)
    }
}

/// What a SCIM operation answers.
pub type ScimResult<T> = std::result::Result<T, ScimFailure>;

/// One page of `GET /Users`.
#[derive(Debug, Clone)]
struct UserQuery {
    /// `filter`, parsed.
    filter: Option<Filter>,
    /// `startIndex`, 1-based (a value below 1 counts as 1).
    start_index: usize,
    /// `count`: at most this many (capped at [`scim::MAX_RESULTS`]).
    count: usize,
}

/// Users in one page when `count` is not given.
const DEFAULT_COUNT: usize = 100;

impl UserQuery {
    /// Reads `filter`, `startIndex` and `count` from a query string; other
    /// parameters (`attributes`, `excludedAttributes`, ...) are ignored,
    /// and the whole user is answered.
    fn parse(query: &str) -> ScimResult<UserQuery> {
        let mut q = UserQuery { filter: None, start_index: 1, count: DEFAULT_COUNT };
        let number = |name: &str, v: &str| {
            v.trim().parse::<i64>().map_err(|_| {
                ScimFailure::from(ScimError::new(400, Some("invalidValue"), format!("{name} must be an integer")))
            })
        };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k.eq_ignore_ascii_case("filter") {
                q.filter = Some(Filter::parse(&v)?);
            } else if k.eq_ignore_ascii_case("startIndex") {
                q.start_index = usize::try_from(number("startIndex", &v)?.max(1)).unwrap_or(1);
            } else if k.eq_ignore_ascii_case("count") {
                q.count = usize::try_from(number("count", &v)?.max(0)).unwrap_or(0);
            }
        }
        Ok(q)
    }
}

/// Asks whether `who` may `act`; SCIM's callers are apps, so answers the
/// app.
fn scim_app<'a>(who: &'a Principal, act: Act<'_>, now: Timestamp) -> ScimResult<&'a App> {
    authz::allow(who, act, now)?;
    match who {
        Principal::App(app) => Ok(app),
        _ => Err(Error::forbidden(Code::AppOnly, "SCIM is for an app with the scim permission.").into()),
    }
}

/// A request body as JSON (`application/scim+json` or `application/json`).
fn json_body(body: &[u8]) -> ScimResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::new(400, Some("invalidSyntax"), format!("The body is not JSON: {e}")).into())
}

/// The address of `/scim/v2` on this server.
fn base(ctx: &Ctx) -> String {
    format!("{}/scim/v2", ctx.base_url.trim_end_matches('/'))
}

/// A staff member as SCIM sees them.
fn user_of(staff: &Staff, profile: &StaffProfile) -> ScimUser {
    ScimUser {
        user_name: profile.username.clone().unwrap_or_else(|| staff.id.clone()),
        display_name: staff.name.clone(),
        email: profile.email.clone(),
        external_id: profile.external_id.clone(),
        active: !staff.disabled,
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The User resource of a staff member.
fn resource(base: &str, staff: &Staff, profile: &StaffProfile) -> Value {
    let location = format!("{base}/Users/{}", staff.id);
    let modified = profile.updated_at.unwrap_or(staff.created_at);
    user_of(staff, profile).to_resource(&staff.id, &location, &rfc3339(staff.created_at), &rfc3339(modified))
}

fn actor_of(app: &App) -> Actor {
    Actor::app(&app.id, &app.name)
}

/// How a change through SCIM reads in the trail ("by Okta through SCIM").
fn how(app: &App) -> String {
    format!("by {} through SCIM", app.name)
}

fn no_user(id: &str) -> ScimError {
    ScimError::new(404, None, format!("No user {id}."))
}

/// `GET /ServiceProviderConfig`.
pub fn scim_service_provider_config(ctx: &Ctx, who: &Principal) -> ScimResult<Value> {
    scim_app(who, Act::ScimDiscover, ctx.clock.now())?;
    Ok(scim::service_provider_config(&base(ctx)))
}

/// `GET /ResourceTypes`.
pub fn scim_resource_types(ctx: &Ctx, who: &Principal) -> ScimResult<Value> {
    scim_app(who, Act::ScimDiscover, ctx.clock.now())?;
    Ok(scim::resource_types(&base(ctx)))
}

/// `GET /Schemas`.
pub fn scim_schemas(ctx: &Ctx, who: &Principal) -> ScimResult<Value> {
    scim_app(who, Act::ScimDiscover, ctx.clock.now())?;
    Ok(scim::schemas(&base(ctx)))
}

/// `GET /Users?filter=&startIndex=&count=`: staff by login, filtered
/// (`userName eq "..."`, `externalId eq "..."`), one page as a list
/// response.
pub async fn scim_list_users(ctx: &Ctx, who: &Principal, query: &str) -> ScimResult<Value> {
    scim_app(who, Act::ScimReadUsers, ctx.clock.now())?;
    let q = UserQuery::parse(query)?;
    let all = ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_staff_profiles().await }))).await?;
    let base = base(ctx);
    let matching: Vec<_> =
        all.iter().filter(|(s, p)| q.filter.as_ref().is_none_or(|f| f.matches(&user_of(s, p)))).collect();
    let start = q.start_index.max(1);
    let page = matching
        .iter()
        .skip(start - 1)
        .take(q.count.min(scim::MAX_RESULTS))
        .map(|(s, p)| resource(&base, s, p))
        .collect();
    Ok(scim::list_response(page, matching.len(), start))
}

/// `GET /Users/{id}`.
pub async fn scim_get_user(ctx: &Ctx, who: &Principal, id: &str) -> ScimResult<Value> {
    scim_app(who, Act::ScimReadUsers, ctx.clock.now())?;
    let login = id.to_ascii_lowercase();
    let found = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.get_staff_profile(&login).await }))).await?;
    let (s, p) = found.ok_or_else(|| no_user(id))?;
    Ok(resource(&base(ctx), &s, &p))
}

/// Checks what a user may hold: a `userName` that is a login actas
/// accepts, a name, an external id and an e-mail address within their
/// bounds. Answers the `userName`, lowercased.
fn check_user(u: &ScimUser) -> ScimResult<String> {
    let login = u.user_name.to_ascii_lowercase();
    check_new_staff(&login, &u.display_name, &[Role::Agent]).map_err(invalid_value)?;
    if let Some(e) = &u.external_id {
        check_line("externalId", e, ID_CHARS).map_err(invalid_value)?;
    }
    if let Some(e) = &u.email {
        check_line("emails", e, EMAIL_CHARS).map_err(invalid_value)?;
    }
    Ok(login)
}

/// A value the domain refuses, as SCIM's `invalidValue`.
fn invalid_value(e: Error) -> ScimFailure {
    match e {
        Error::BadRequest { detail, .. } | Error::Refused { detail, .. } => {
            ScimError::new(400, Some("invalidValue"), detail).into()
        }
        other => other.into(),
    }
}

/// Refuses an external id another staff member than `login` holds.
async fn external_id_free(tx: &mut dyn WriteTx, login: &str, external_id: Option<&str>) -> ScimResult<()> {
    let Some(ext) = external_id else { return Ok(()) };
    let taken = tx
        .list_staff_profiles()
        .await?
        .into_iter()
        .any(|(s, p)| s.id != login && p.external_id.as_deref() == Some(ext));
    if taken {
        return Err(ScimError::new(409, Some("uniqueness"), format!("Another user has the externalId {ext:?}.")).into());
    }
    Ok(())
}

/// `POST /Users`: adds a staff member (role `agent`, no password), disabled
/// at once when `active` is false. `201` with the new user.
pub async fn scim_create_user(ctx: &Ctx, who: &Principal, body: &[u8]) -> ScimResult<Value> {
    let now = ctx.clock.now();
    let app = scim_app(who, Act::ScimWriteUsers, now)?;
    let user = ScimUser::from_resource(&json_body(body)?)?;
    let login = check_user(&user)?;
    let (app, policy, base) = (app.clone(), ctx.policy.clone(), base(ctx));
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let by = actor_of(&app);
            if tx.get_staff(&login).await?.is_some() || tx.find_staff_by_username(&login).await?.is_some() {
                let e = ScimError::new(409, Some("uniqueness"), format!("A user with the userName {login} exists."));
                return Ok(Committed::answer(Err(e.into())));
            }
            if let Err(e) = external_id_free(tx, &login, user.external_id.as_deref()).await {
                return Ok(Committed::answer(Err(e)));
            }
            let staff = Staff {
                id: login.clone(),
                name: user.display_name.trim().to_string(),
                roles: vec![Role::Agent],
                disabled: false,
                created_at: now,
            };
            insert_staff_in(tx, &by, &staff, now).await?;
            let profile = StaffProfile {
                external_id: user.external_id.clone(),
                email: user.email.clone(),
                ..StaffProfile::default()
            };
            tx.set_staff_profile(&login, &profile).await?;
            let staff = if user.active { staff } else { disable_in(tx, &policy, &by, staff, now).await?.0 };
            let profile = tx.get_staff_profile(&login).await?.map(|(_, p)| p).unwrap_or(profile);
            Ok(Committed::answer(Ok(resource(&base, &staff, &profile))))
        })
    }))
    .await?
}

/// `PUT /Users/{id}`: the user as sent replaces the one kept.
pub async fn scim_replace_user(ctx: &Ctx, who: &Principal, id: &str, body: &[u8]) -> ScimResult<Value> {
    let app = scim_app(who, Act::ScimWriteUsers, ctx.clock.now())?;
    let sent = ScimUser::from_resource(&json_body(body)?)?;
    change_user(ctx, app, id, move |u| {
        *u = sent;
        Ok(())
    })
    .await
}

/// `PATCH /Users/{id}`: Okta's and Entra ID's forms (see
/// [`ScimUser::apply_patch`]).
pub async fn scim_patch_user(ctx: &Ctx, who: &Principal, id: &str, body: &[u8]) -> ScimResult<Value> {
    let app = scim_app(who, Act::ScimWriteUsers, ctx.clock.now())?;
    let body = json_body(body)?;
    change_user(ctx, app, id, move |u| u.apply_patch(&body)).await
}

/// `DELETE /Users/{id}`: deprovisions, which disables (never deletes: the
/// trail names them). A user disabled already stays as they are.
pub async fn scim_delete_user(ctx: &Ctx, who: &Principal, id: &str) -> ScimResult<()> {
    let app = scim_app(who, Act::ScimWriteUsers, ctx.clock.now())?;
    change_user(ctx, app, id, |u| {
        u.active = false;
        Ok(())
    })
    .await
    .map(|_| ())
}

/// Changes user `id` as `edit` says, in one transaction: a new name or
/// userName (`staff.updated`; a userName another staff member goes by is
/// refused), the external id and e-mail address, then disabling
/// (`staff.disabled`, ending a live session) or enabling
/// (`staff.enabled`). Nothing is written when nothing changed, or when
/// `edit` or a check refuses. Answers the user as it is now.
async fn change_user(
    ctx: &Ctx,
    app: &App,
    id: &str,
    edit: impl FnOnce(&mut ScimUser) -> Result<(), ScimError> + Send + 'static,
) -> ScimResult<Value> {
    let now = ctx.clock.now();
    let (app, policy, base) = (app.clone(), ctx.policy.clone(), base(ctx));
    let (id, login) = (id.to_string(), id.to_ascii_lowercase());
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let Some((staff, profile)) = tx.get_staff_profile(&login).await? else {
                return Ok(Committed::answer(Err(no_user(&id).into())));
            };
            let before = user_of(&staff, &profile);
            let mut after = before.clone();
            let checked = edit(&mut after).map_err(ScimFailure::from).and_then(|()| check_user(&after));
            let username = match checked {
                Ok(u) => u,
                Err(e) => return Ok(Committed::answer(Err(e))),
            };
            if after.external_id != before.external_id {
                if let Err(e) = external_id_free(tx, &login, after.external_id.as_deref()).await {
                    return Ok(Committed::answer(Err(e)));
                }
            }
            let renamed = username != before.user_name;
            if renamed {
                if let Some((other, _)) = tx.find_staff_by_username(&username).await? {
                    if other.id != login {
                        let e = ScimError::new(
                            409,
                            Some("uniqueness"),
                            format!("Another user has the userName {username}."),
                        );
                        return Ok(Committed::answer(Err(e.into())));
                    }
                }
            }
            if renamed || after.external_id != before.external_id || after.email != before.email {
                let p = StaffProfile {
                    external_id: after.external_id.clone(),
                    email: after.email.clone(),
                    updated_at: Some(now),
                    username: (username != login).then(|| username.clone()),
                };
                tx.set_staff_profile(&login, &p).await?;
            }
            let by = actor_of(&app);
            let name = after.display_name.trim().to_string();
            let usernames = renamed.then_some((before.user_name.as_str(), username.as_str()));
            let changed = Staff { name, ..staff.clone() };
            let mut staff = update_staff_in(tx, &by, &staff, changed, usernames, &how(&app), now).await?;
            let mut ended = false;
            if after.active != before.active {
                if after.active {
                    staff = enable_in(tx, &by, staff, now).await?;
                } else {
                    (staff, ended) = disable_in(tx, &policy, &by, staff, now).await?;
                }
            }
            let profile = tx.get_staff_profile(&login).await?.map(|(_, p)| p).unwrap_or(profile);
            Ok(Committed::answer(Ok(resource(&base, &staff, &profile))).sessions_changed(ended))
        })
    }))
    .await?
}

/// The domain's refusal of a SCIM caller, for the edge: not found, a taken
/// login or external id, ...
pub fn scim_error_of(e: &Error) -> ScimError {
    match e {
        Error::NotFound(d) => ScimError::new(404, None, d.clone()),
        Error::Unauthorized(d) => ScimError::new(401, None, d.clone()),
        Error::Forbidden { detail, .. } => ScimError::new(403, None, detail.clone()),
        Error::BadRequest { detail, .. } | Error::Refused { detail, .. } => {
            ScimError::new(400, Some("invalidValue"), detail.clone())
        }
        Error::Conflict { code: Code::StaffExists, detail } => ScimError::new(409, Some("uniqueness"), detail.clone()),
        Error::Conflict { detail, .. } => ScimError::new(409, None, detail.clone()),
        Error::Unavailable(_) => ScimError::new(
            503,
            None,
            "The audit trail cannot be written right now, so nothing was done. Try again shortly.",
        ),
        Error::Internal(_) => ScimError::new(500, None, "Something went wrong on our side; it was logged."),
    }
}
