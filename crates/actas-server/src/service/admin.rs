//! Staff, apps, credentials, notices and start-up records.

use actas_api as api;
use actas_core::audit::{self as text, data, Actor, EventData, NewEvent};
use actas_core::id::Secret;
use actas_core::limits::{
    check_count, check_line, is_layout_char, DISPLAY_NAME_CHARS, EMAIL_CHARS, ORIGINS_PER_APP, URL_CHARS,
};
use actas_core::model::{App, Notice, Role, Staff};
use actas_core::policy::Policy;
use actas_core::Code;
use actas_core::{Error, Result, Timestamp};
use actas_store::{read_fn, write_fn, StaffProfile, WriteTx};

use super::{Committed, Ctx, Principal};
use crate::authz::{self, Act};
use crate::credentials::{self, BearerKind};

/// Finds who holds a bearer credential. Impersonation tokens are checked
/// for signature only; routes decide whether they accept one.
pub async fn authenticate(ctx: &Ctx, bearer: &str) -> Result<Principal> {
    let unauthorized = || Error::Unauthorized("The credentials are not valid.".into());
    match credentials::bearer_kind(bearer) {
        BearerKind::Impersonation => {
            let claims = ctx.keys.verify(bearer).map_err(|_| unauthorized())?;
            // After its `exp` a token is nobody's credentials, not even for its own session.
            authz::token_current(&claims, ctx.clock.now())?;
            Ok(Principal::Token(claims))
        }
        kind @ (BearerKind::Personal | BearerKind::AppKey) => {
            let hash = credentials::secret_hash(bearer);
            if kind == BearerKind::AppKey {
                if let Some(app) = ctx.app_keys.get(&hash) {
                    return Ok(Principal::App(app));
                }
            }
            let key = hash.clone();
            let found = ctx
                .store
                .read(read_fn(move |tx| {
                    Box::pin(async move {
                        let Some((kind, owner)) = tx.find_credential(&hash).await? else {
                            return Ok(None);
                        };
                        match kind.as_str() {
                            "staff" => Ok(tx.get_staff(&owner).await?.filter(|s| !s.disabled).map(Principal::Staff)),
                            "app" => Ok(tx.get_app(&owner).await?.map(Principal::App)),
                            _ => Ok(None),
                        }
                    })
                }))
                .await?;
            if let Some(Principal::App(app)) = &found {
                ctx.app_keys.found(key, app.clone());
            }
            found.ok_or_else(unauthorized)
        }
        BearerKind::Unknown => Err(unauthorized()),
    }
}

/// Checks a login: lowercase letters, digits, `.`, `_`, `-`, and at most
/// one `@` with something after it, as identity providers name staff by
/// e-mail address (`maria@support.example`); 2 to 64, starting with a
/// letter.
pub fn check_login(login: &str) -> Result<()> {
    let ok = (2..=64).contains(&login.len())
        && login.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@'))
        && login.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && login.matches('@').count() <= 1
        && !login.ends_with('@');
    if ok {
        Ok(())
    } else {
        Err(Error::refused(
            Code::LoginInvalid,
            Some("login"),
            "A login is 2 to 64 lowercase letters, digits, '.', '_', '-' or one '@', starting with a letter.",
        ))
    }
}

/// Checks what a new staff member is made of: a valid login, a name of
/// one line (answered trimmed) and at least one role.
pub(crate) fn check_new_staff<'a>(login: &str, name: &'a str, roles: &[Role]) -> Result<&'a str> {
    check_login(login)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > DISPLAY_NAME_CHARS || name.chars().any(is_layout_char) {
        return Err(Error::refused(
            Code::NameInvalid,
            Some("name"),
            format!("A name is 1 to {DISPLAY_NAME_CHARS} characters of plain text on one line."),
        ));
    }
    if roles.is_empty() {
        return Err(Error::refused(Code::RolesRequired, Some("roles"), "Give at least one role."));
    }
    Ok(name)
}

/// `staff.created` for `s`, added by `by`.
fn staff_created(now: Timestamp, by: &Actor, s: &Staff) -> NewEvent {
    NewEvent::new(
        now,
        by.clone(),
        text::staff_created(&by.name, s),
        EventData::StaffCreated(data::StaffCreated {
            login: s.id.clone(),
            name: s.name.clone(),
            roles: s.roles.iter().map(|r| r.as_str().to_string()).collect(),
        }),
    )
    .agent(&s.id)
}

/// Adds a staff member; answers their first personal token (shown once).
pub async fn add_staff(
    ctx: &Ctx,
    by: Actor,
    login: &str,
    name: &str,
    roles: Vec<Role>,
    password: Option<String>,
) -> Result<(Staff, Secret)> {
    let name = check_new_staff(login, name, &roles)?;
    let hash = match password {
        Some(p) => {
            credentials::check_password(&p).map_err(|m| Error::refused(Code::PasswordWeak, Some("password"), m))?;
            Some(credentials::hash_password(&p)?)
        }
        None => None,
    };
    let now = ctx.clock.now();
    let staff = Staff { id: login.to_string(), name: name.to_string(), roles, disabled: false, created_at: now };
    let token = ctx.ids.secret(credentials::PERSONAL_PREFIX);
    let token_hash = credentials::secret_hash(token.expose());
    let s = staff.clone();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.insert_staff(&s).await?;
                tx.set_staff_password(&s.id, hash.as_deref()).await?;
                tx.insert_credential(&token_hash, "staff", &s.id, now).await?;
                tx.append_event(staff_created(now, &by, &s)).await?;
                Ok(())
            })
        }))
        .await?;
    Ok((staff, token))
}

/// Who signed in through the identity provider, in actas' terms: the
/// username its username claim gives, their name, their e-mail address,
/// and the roles its groups give under the policy's `[oidc.roles]`.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    /// The provider's username, lowercased: the login of a staff member
    /// it adds, and how an existing one is found (see
    /// `find_staff_by_username`).
    pub login: String,
    /// Display name.
    pub name: String,
    /// Their e-mail address, when the provider gave a verified one.
    pub email: Option<String>,
    /// Roles, in the order of [`Role`].
    pub roles: Vec<Role>,
}

/// What a sign-in through the identity provider comes to.
#[derive(Debug, Clone)]
pub enum ProviderSignIn {
    /// They may sign in as this staff member: added on their first sign-in,
    /// or with the name and roles the provider gives now.
    Staff(Staff),
    /// They are disabled in actas; nothing was changed.
    Disabled(Staff),
}

/// Brings the staff row of someone signing in through the identity
/// provider in line with what it says, in one transaction. They are found
/// by the name the provider knows them by (a staff member it renamed
/// through SCIM keeps their login). A first sign-in adds them
/// (`staff.created`, by themselves; no password and no personal token); a
/// later one sets their name and roles to the provider's (`staff.updated`,
/// when either changed) and keeps the e-mail address it gives. No role, an
/// invalid login or name, a username that is the login of someone the
/// provider has since renamed: refused, nothing written. A disabled member
/// stays as they are.
pub async fn sync_staff_from_provider(ctx: &Ctx, who: ProviderIdentity) -> Result<ProviderSignIn> {
    if who.roles.is_empty() {
        return Err(Error::forbidden(Code::RoleRequired, "Your identity provider gives you no actas role."));
    }
    let name = check_new_staff(&who.login, &who.name, &who.roles)?.to_string();
    let email = who.email.filter(|e| check_line("email", e, EMAIL_CHARS).is_ok());
    let now = ctx.clock.now();
    let ProviderIdentity { login, roles, .. } = who;
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let Some((before, mut profile)) = tx.find_staff_by_username(&login).await? else {
                    if tx.get_staff(&login).await?.is_some() {
                        return Err(Error::conflict(
                            Code::StaffExists,
                            format!(
                                "The login {login} belongs to a staff member your identity provider now knows by \
                                 another name, so you are not signed in. Ask an admin."
                            ),
                        ));
                    }
                    let s = Staff { id: login.clone(), name: name.clone(), roles, disabled: false, created_at: now };
                    insert_staff_in(tx, &Actor::staff(&login, &name), &s, now).await?;
                    if email.is_some() {
                        tx.set_staff_profile(&login, &StaffProfile { email, ..StaffProfile::default() }).await?;
                    }
                    return Ok(ProviderSignIn::Staff(s));
                };
                if before.disabled {
                    return Ok(ProviderSignIn::Disabled(before));
                }
                if email.is_some() && email != profile.email {
                    profile.email = email;
                    tx.set_staff_profile(&before.id, &profile).await?;
                }
                let by = Actor::staff(&before.id, &name);
                let after = Staff { name, roles, ..before.clone() };
                let how = "at sign-in through the identity provider";
                let after = update_staff_in(tx, &by, &before, after, None, how, now).await?;
                Ok(ProviderSignIn::Staff(after))
            })
        }))
        .await
}

/// Whether two lists hold the same roles, whatever their order.
fn same_roles(a: &[Role], b: &[Role]) -> bool {
    a.iter().all(|r| b.contains(r)) && b.iter().all(|r| a.contains(r))
}

/// Sets a staff member's console password (argon2id; only the hash is
/// kept) and records `staff.updated` naming `password`, by `by`; the
/// password is in neither the trail nor the answer. A weak password or an
/// unknown login: refused, nothing written.
pub async fn set_password(ctx: &Ctx, by: Actor, login: &str, password: &str) -> Result<Staff> {
    credentials::check_password(password).map_err(|m| Error::refused(Code::PasswordWeak, Some("password"), m))?;
    let hash = credentials::hash_password(password)?;
    let now = ctx.clock.now();
    let login = login.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let s = tx.get_staff(&login).await?.ok_or_else(|| no_staff(&login))?;
                tx.set_staff_password(&login, Some(&hash)).await?;
                touch_staff(tx, &s.id, now).await?;
                tx.append_event(
                    NewEvent::new(
                        now,
                        by.clone(),
                        text::staff_password_set(&by.name, &s),
                        EventData::StaffUpdated(data::StaffUpdated {
                            login: s.id.clone(),
                            name: s.name.clone(),
                            roles: s.roles.iter().map(|r| r.as_str().to_string()).collect(),
                            changed: vec!["password".to_string()],
                            username: None,
                        }),
                    )
                    .agent(&s.id),
                )
                .await?;
                Ok(s)
            })
        }))
        .await
}

/// Every staff member, by login; for admins.
pub async fn list_staff(ctx: &Ctx, who: &Staff) -> Result<Vec<Staff>> {
    authz::allow(who, Act::Administer, ctx.clock.now())?;
    let mut v = ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_staff().await }))).await?;
    v.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(v)
}

/// Every registered app, by name; for admins.
pub async fn list_apps(ctx: &Ctx, who: &Staff) -> Result<Vec<App>> {
    authz::allow(who, Act::Administer, ctx.clock.now())?;
    let mut v = ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_apps().await }))).await?;
    v.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(v)
}

/// Disables a staff member and ends their live session at once.
pub async fn disable_staff(ctx: &Ctx, by: Actor, login: &str) -> Result<Staff> {
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let login = login.to_string();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let s = tx.get_staff(&login).await?.ok_or_else(|| no_staff(&login))?;
            if s.disabled {
                return Err(Error::conflict(Code::AlreadyDisabled, format!("{} is disabled already.", s.name)));
            }
            let (s, ended) = disable_in(tx, &policy, &by, s, now).await?;
            Ok(Committed::answer(s).sessions_changed(ended))
        })
    }))
    .await
}

/// Enables a disabled staff member again (`staff.enabled`); their old
/// sessions stay ended.
pub async fn enable_staff(ctx: &Ctx, by: Actor, login: &str) -> Result<Staff> {
    let now = ctx.clock.now();
    let login = login.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let s = tx.get_staff(&login).await?.ok_or_else(|| no_staff(&login))?;
                if !s.disabled {
                    return Err(Error::conflict(Code::NothingNew, format!("{} is not disabled.", s.name)));
                }
                enable_in(tx, &by, s, now).await
            })
        }))
        .await
}

/// Gives a staff member these roles (`staff.updated`, naming `roles`); the
/// same roles again change nothing. No role, or taking the admin role from
/// the last enabled admin: refused, nothing written.
pub async fn set_staff_roles(ctx: &Ctx, by: Actor, login: &str, roles: Vec<Role>) -> Result<Staff> {
    if roles.is_empty() {
        return Err(Error::refused(Code::RolesRequired, Some("roles"), "Give at least one role."));
    }
    let now = ctx.clock.now();
    let login = login.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            let roles = roles.clone();
            Box::pin(async move {
                let before = tx.get_staff(&login).await?.ok_or_else(|| no_staff(&login))?;
                if before.roles.contains(&Role::Admin) && !roles.contains(&Role::Admin) && !before.disabled {
                    let admins =
                        tx.list_staff().await?.iter().filter(|s| !s.disabled && s.roles.contains(&Role::Admin)).count();
                    if admins <= 1 {
                        return Err(Error::refused(
                            Code::RolesRequired,
                            Some("roles"),
                            format!(
                                "{} is the last admin: keep their admin role, or make someone else an admin first.",
                                before.name
                            ),
                        ));
                    }
                }
                let after = Staff { roles, ..before.clone() };
                update_staff_in(tx, &by, &before, after, None, "in the console", now).await
            })
        }))
        .await
}

fn no_staff(login: &str) -> Error {
    Error::not_found(format!("No staff member {login}."))
}

/// In `tx`: adds `s` (already checked) with `staff.created` by `by`, with no
/// password and no personal token.
pub(crate) async fn insert_staff_in(tx: &mut dyn WriteTx, by: &Actor, s: &Staff, now: Timestamp) -> Result<()> {
    tx.insert_staff(s).await?;
    tx.append_event(staff_created(now, by, s)).await?;
    Ok(())
}

/// In `tx`: disables `s`, ends their live session (`staff_disabled`) and
/// appends `staff.disabled`; answers them and whether a session ended.
pub(crate) async fn disable_in(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    by: &Actor,
    mut s: Staff,
    now: Timestamp,
) -> Result<(Staff, bool)> {
    let ended = super::sessions::end_for_disabled(tx, policy, &s.id, by, now).await?;
    s.disabled = true;
    tx.update_staff(&s).await?;
    touch_staff(tx, &s.id, now).await?;
    tx.append_event(
        NewEvent::new(
            now,
            by.clone(),
            text::staff_disabled(&by.name, &s, ended.len()),
            EventData::StaffDisabled(data::StaffDisabled {
                login: s.id.clone(),
                sessions_ended: ended.iter().map(|s| s.id.clone()).collect(),
            }),
        )
        .agent(&s.id),
    )
    .await?;
    Ok((s, !ended.is_empty()))
}

/// In `tx`: enables the disabled `s` again and appends `staff.enabled`.
pub(crate) async fn enable_in(tx: &mut dyn WriteTx, by: &Actor, mut s: Staff, now: Timestamp) -> Result<Staff> {
    s.disabled = false;
    tx.update_staff(&s).await?;
    touch_staff(tx, &s.id, now).await?;
    tx.append_event(
        NewEvent::new(
            now,
            by.clone(),
            text::staff_enabled(&by.name, &s),
            EventData::StaffEnabled(data::StaffEnabled { login: s.id.clone() }),
        )
        .agent(&s.id),
    )
    .await?;
    Ok(s)
}

/// In `tx`: stores `after`, staff member `before` with another name or
/// roles, and appends `staff.updated` naming what changed, with their
/// username at the identity provider (old, new) when it changed (the caller
/// stores that), the change made `how` ("by Okta through SCIM"). Nothing
/// changed: nothing written.
pub(crate) async fn update_staff_in(
    tx: &mut dyn WriteTx,
    by: &Actor,
    before: &Staff,
    after: Staff,
    username: Option<(&str, &str)>,
    how: &str,
    now: Timestamp,
) -> Result<Staff> {
    let mut changed = Vec::new();
    if username.is_some() {
        changed.push("username".to_string());
    }
    let row_changed = before.name != after.name || !same_roles(&before.roles, &after.roles);
    if before.name != after.name {
        changed.push("name".to_string());
    }
    if !same_roles(&before.roles, &after.roles) {
        changed.push("roles".to_string());
    }
    if changed.is_empty() {
        return Ok(after);
    }
    if row_changed {
        tx.update_staff(&after).await?;
    }
    touch_staff(tx, &after.id, now).await?;
    tx.append_event(
        NewEvent::new(
            now,
            by.clone(),
            text::staff_updated(before, &after, username, how),
            EventData::StaffUpdated(data::StaffUpdated {
                login: after.id.clone(),
                name: after.name.clone(),
                roles: after.roles.iter().map(|r| r.as_str().to_string()).collect(),
                changed,
                username: username.map(|(_, new)| new.to_string()),
            }),
        )
        .agent(&after.id),
    )
    .await?;
    Ok(after)
}

/// In `tx`: records that staff member `login` changed at `now` (SCIM's
/// `meta.lastModified`).
async fn touch_staff(tx: &mut dyn WriteTx, login: &str, now: Timestamp) -> Result<()> {
    if let Some((_, mut profile)) = tx.get_staff_profile(login).await? {
        profile.updated_at = Some(now);
        tx.set_staff_profile(login, &profile).await?;
    }
    Ok(())
}

/// Checks a web origin: `scheme://host[:port]`, nothing more.
pub fn check_origin(o: &str) -> Result<String> {
    let bad = || {
        Error::refused(
            Code::OriginInvalid,
            Some("origin"),
            format!("\"{o}\" is not a web origin like https://app.example.com"),
        )
    };
    let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://")).ok_or_else(bad)?;
    if rest.is_empty()
        || rest.contains(['/', '?', '#', ' ', '@'])
        || o.len() > URL_CHARS
        || o.chars().any(is_layout_char)
    {
        return Err(bad());
    }
    Ok(o.to_ascii_lowercase())
}

/// What registering an app takes.
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    /// Display name, unique.
    pub name: String,
    /// May push tickets.
    pub tickets: bool,
    /// May provision staff through SCIM.
    pub scim: bool,
    /// Web origins for CORS (the banner).
    pub origins: Vec<String>,
    /// Where the host app takes one-time entry codes.
    pub entry_url: Option<String>,
    /// A ticket system's webhook to take tickets from (needs `tickets`).
    pub connector: Option<super::ConnectorSetup>,
    /// Support needs the customer's grant for every account.
    pub consent: bool,
}

impl NewApp {
    /// An app with these basics and no entry address of its own.
    pub fn new(name: &str, tickets: bool, origins: Vec<String>) -> NewApp {
        NewApp { name: name.to_string(), tickets, origins, ..NewApp::default() }
    }
}

/// Checks an entry address: an absolute http(s) URL without a query or
/// fragment (the code is appended as `?code=`).
pub fn check_entry_url(u: &str) -> Result<String> {
    let bad = || {
        Error::refused(
            Code::EntryUrlInvalid,
            Some("entry_url"),
            format!("\"{u}\" is not an address like https://app.example.com/support/enter"),
        )
    };
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://")).ok_or_else(bad)?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || u.len() > URL_CHARS || u.contains(['?', '#', ' ', '@']) || u.chars().any(is_layout_char) {
        return Err(bad());
    }
    Ok(u.to_string())
}

/// Registers a host app (or ticket system); answers its key (shown once).
pub async fn add_app(ctx: &Ctx, by: Actor, new: NewApp) -> Result<(App, Secret)> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > DISPLAY_NAME_CHARS || name.chars().any(is_layout_char) {
        return Err(Error::refused(
            Code::NameInvalid,
            Some("name"),
            format!("An app name is 1 to {DISPLAY_NAME_CHARS} characters of plain text on one line."),
        ));
    }
    check_count("origins", new.origins.len(), ORIGINS_PER_APP)?;
    let origins = new.origins.iter().map(|o| check_origin(o)).collect::<Result<Vec<_>>>()?;
    let entry_url = new.entry_url.as_deref().map(check_entry_url).transpose()?;
    let now = ctx.clock.now();
    let app = App {
        id: ctx.ids.id("app"),
        name: name.to_string(),
        tickets: new.tickets,
        scim: new.scim,
        consent: new.consent,
        origins,
        entry_url,
        created_at: now,
    };
    let connector = match &new.connector {
        Some(_) if !app.tickets => {
            return Err(Error::refused(
                Code::PermissionRequired,
                Some("connector"),
                "A connector pushes tickets: the app needs the tickets permission (--tickets).",
            ))
        }
        Some(setup) => Some(super::connectors::seal_setup(ctx, &app.id, setup, now)?),
        None => None,
    };
    let key = ctx.ids.secret(credentials::APP_PREFIX);
    let key_hash = credentials::secret_hash(key.expose());
    let a = app.clone();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                tx.insert_app(&a).await?;
                if let Some(c) = &connector {
                    tx.insert_connector(c).await?;
                }
                tx.insert_credential(&key_hash, "app", &a.id, now).await?;
                tx.append_event(NewEvent::new(
                    now,
                    by.clone(),
                    text::app_created(&by.name, &a, connector.as_ref().map(|c| text::ticket_system(c.kind.into()))),
                    EventData::AppCreated(data::AppCreated {
                        app: a.id.clone(),
                        name: a.name.clone(),
                        tickets: a.tickets,
                        origins: a.origins.clone(),
                        scim: a.scim,
                        connector: connector.as_ref().map(|c| c.kind.as_str().to_string()),
                        consent: a.consent,
                    }),
                ))
                .await?;
                Ok(())
            })
        }))
        .await?;
    Ok((app, key))
}

/// One app and the ticket system whose webhook it takes, if any; for admins.
pub async fn get_app(ctx: &Ctx, who: &Staff, id: &str) -> Result<(App, Option<actas_core::connector::Connector>)> {
    authz::allow(who, Act::Administer, ctx.clock.now())?;
    let id = id.to_string();
    ctx.store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let app = tx.get_app(&id).await?.ok_or_else(|| Error::not_found(format!("No app {id}.")))?;
                let connector = tx.get_connector(&id).await?.map(|c| c.kind);
                Ok((app, connector))
            })
        }))
        .await
}

/// What [`set_connector`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorChange {
    /// The app had no connector; it has this one now.
    Added,
    /// The app's connector to the same system has a new secret.
    SecretReplaced,
}

/// Gives the existing app `app_id` a connector to a ticket system
/// (`actas app connector`, and the console's app page), or replaces the
/// secret of the one it has: the secret sealed under the key-encryption
/// key, as `add_app` seals it, and `app.updated` recorded by `by`. The
/// mapping is `setup.mapping` for a new connector; a replaced secret keeps
/// the connector's mapping unless `keep_mapping` is false. Refused, with
/// nothing written: an unknown app, an app without the tickets
/// permission, a connector to another system than the one it has, a
/// secret out of bounds, no key-encryption key.
pub async fn set_connector(
    ctx: &Ctx,
    by: Actor,
    app_id: &str,
    setup: super::ConnectorSetup,
    keep_mapping: bool,
) -> Result<(App, ConnectorChange)> {
    let now = ctx.clock.now();
    let id = app_id.to_string();
    let app = ctx
        .store
        .read(read_fn(move |tx| Box::pin(async move { tx.get_app(&id).await })))
        .await?
        .ok_or_else(|| Error::not_found(format!("No app {app_id}.")))?;
    if !app.tickets {
        return Err(Error::refused(
            Code::PermissionRequired,
            Some("connector"),
            format!(
                "A connector pushes tickets, and \"{}\" may not push tickets: register an app with the tickets \
                 permission for it.",
                app.name
            ),
        ));
    }
    let sealed = super::connectors::seal_setup(ctx, &app.id, &setup, now)?;
    let a = app.clone();
    let change = ctx
        .store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let change = match tx.get_connector(&a.id).await? {
                    None => {
                        tx.insert_connector(&sealed).await?;
                        ConnectorChange::Added
                    }
                    Some(old) if old.kind != sealed.kind => {
                        return Err(Error::conflict(
                            Code::ConnectorExists,
                            format!(
                                "\"{}\" takes tickets from {} already; it has one connector. Replace that one's \
                                 secret, or register another app for {}.",
                                a.name,
                                text::ticket_system(old.kind.into()),
                                text::ticket_system(sealed.kind.into()),
                            ),
                        ));
                    }
                    Some(old) => {
                        let mapping = if keep_mapping { old.mapping } else { sealed.mapping.clone() };
                        tx.replace_connector(&actas_store::ConnectorRecord {
                            mapping,
                            created_at: old.created_at,
                            ..sealed.clone()
                        })
                        .await?;
                        ConnectorChange::SecretReplaced
                    }
                };
                let system = text::ticket_system(sealed.kind.into());
                let replaced = change == ConnectorChange::SecretReplaced;
                tx.append_event(NewEvent::new(
                    now,
                    by.clone(),
                    text::app_connector_set(&by.name, &a, system, replaced),
                    EventData::AppUpdated(data::AppUpdated {
                        app: a.id.clone(),
                        name: a.name.clone(),
                        changed: vec![if replaced { "connector_secret" } else { "connector" }.to_string()],
                        connector: sealed.kind.as_str().to_string(),
                    }),
                ))
                .await?;
                Ok(change)
            })
        }))
        .await?;
    Ok((app, change))
}

/// Records that this node loaded its policy.
pub async fn record_policy_loaded(ctx: &Ctx) -> Result<()> {
    ctx.store.write(policy_loaded(ctx)()).await
}

/// Makes the write of `policy.loaded` (again, for each attempt).
pub fn policy_loaded(ctx: &Ctx) -> std::sync::Arc<dyn Fn() -> actas_store::WriteFn<()> + Send + Sync> {
    let (clock, policy) = (ctx.clock.clone(), ctx.policy.clone());
    std::sync::Arc::new(move || {
        let now = clock.now();
        let policy = policy.clone();
        write_fn(move |tx| {
            Box::pin(async move {
                tx.append_event(NewEvent::new(
                    now,
                    Actor::system(),
                    text::policy_loaded(&policy),
                    EventData::PolicyLoaded(data::PolicyLoaded {
                        sha256: policy.digest().to_string(),
                        actions: policy.actions().len(),
                        scope_change: policy.session.scope_change.as_str().into(),
                    }),
                ))
                .await?;
                Ok(())
            })
        })
    })
}

/// Customer notes of the sessions issued for `app`, after `after`, oldest
/// first.
pub async fn list_notices(ctx: &Ctx, app: &App, after: i64, limit: i64) -> Result<Vec<Notice>> {
    authz::allow(app, Act::ReadNotices, ctx.clock.now())?;
    let limit = limit.clamp(1, 1000);
    let app_id = app.id.clone();
    ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_notices(&app_id, after, limit).await }))).await
}

/// The host app delivered a note: `customer.notified`.
pub async fn notice_delivered(ctx: &Ctx, app: &App, id: &str) -> Result<Notice> {
    let now = ctx.clock.now();
    let app = app.clone();
    let id = id.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let mut n = tx.get_notice(&id).await?.ok_or_else(|| Error::not_found(format!("No notice {id}.")))?;
                let s = tx.get_session(&n.session_id).await?.ok_or_else(|| Error::not_found("session"))?;
                // A note belongs to the app its session was issued for.
                authz::allow(&app, Act::DeliverNotice { app_id: &s.app_id }, now)
                    .map_err(|_| Error::not_found(format!("No notice {id}.")))?;
                if n.delivered_at.is_some() {
                    return Err(Error::conflict(Code::AlreadyDelivered, "This notice was marked delivered already."));
                }
                tx.set_notice_delivered(&n.id, now).await?;
                n.delivered_at = Some(now);
                tx.append_event(
                    NewEvent::new(
                        now,
                        Actor::app(&app.id, &app.name),
                        text::customer_notified(&app.name, &s.account_label(), &s.agent_name, &s.ticket),
                        EventData::CustomerNotified(data::CustomerNotified {
                            notice: n.id.clone(),
                            text: n.text.clone(),
                        }),
                    )
                    .about_session(&s),
                )
                .await?;
                Ok(n)
            })
        }))
        .await
}

/// A notice on the wire.
pub fn notice_view(n: &Notice) -> api::Notice {
    api::Notice {
        id: n.id.clone().into(),
        seq: n.seq,
        session_id: n.session_id.clone().into(),
        account_id: n.account_id.clone(),
        text: n.text.clone(),
        data: n.data.clone(),
        created_at: n.created_at,
        delivered_at: n.delivered_at,
    }
}
