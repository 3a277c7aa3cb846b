//! Need to know: the one place that decides who may see or do what.
//!
//! Every operation of [`crate::service`] asks [`allow`] before it reads or
//! changes anything, and lists are filtered with [`sees_session`] and
//! [`sees_request`], so the API, the console and the command line answer
//! the same question the same way (SPEC §5). Deny by default: an act not
//! listed for a kind of caller is refused.
//!
//! - An **agent** sees and acts on their own requests and sessions.
//! - An agent with the **breakglass** role also asks for break-glass
//!   access, which no lead approves.
//! - A **lead** decides requests (never their own), revokes sessions,
//!   reviews break-glass sessions (never their own), reads
//!   the queue, sessions, timelines, access logs, the trail and the support
//!   metrics.
//! - An **auditor** reads requests, sessions, timelines, access logs and
//!   the trail, and verifies it (with the checkpoint keys); reads the
//!   support metrics and the server's figures (`GET /metrics`); nothing
//!   else.
//! - An **admin** manages staff, apps, webhooks (their delivery log holds
//!   no payload) and policy, verifies the trail (and
//!   reads its checkpoint keys), reads the server's figures
//!   (`GET /metrics`: counts, no customer data), and reads no customer
//!   data; admins decide no requests.
//! - An **app** sees only the sessions issued for it (the token's `aud`),
//!   their notes and access-log entries; an app with only the `tickets`
//!   permission pushes tickets and sees none. Only an app with the `scim`
//!   permission reads and provisions staff through `/scim/v2`; staff and
//!   impersonation tokens never do.
//! - A **host app** records its customers' grants (consent), withdraws
//!   them and says which accounts ask for one; leads and auditors read
//!   them.
//! - A **ticket system's webhook** is the connector app whose secret signed
//!   it: an app with the `tickets` permission.
//! - An **impersonation token**, until its `exp`, reads, heartbeats and
//!   ends its own session, and asks a lead for one change in it (a step-up,
//!   in the agent's name: what the host app's "Ask a lead for this one
//!   change" does), nothing else.

use actas_core::model::{App, Request, Role, Session, Staff};
use actas_core::Code;
use actas_core::{Error, Result, Timestamp};

use crate::keys::Claims;
use crate::service::Principal;

/// What a caller asks to do.
#[derive(Debug, Clone, Copy)]
pub enum Act<'a> {
    /// `POST /tickets`
    CreateTicket,
    /// `GET /tickets/{ref}` (its requests and sessions are filtered).
    ReadTicket,
    /// `POST /requests`
    CreateRequest,
    /// `POST /requests` with `breakglass: true`: no lead approves.
    BreakGlass,
    /// `GET /requests` (the lead's queue; agents list their own).
    ListRequests,
    /// The approval queue and the lead's decision forms.
    ReadQueue,
    /// `GET /requests/{id}`
    ReadRequest(&'a Request),
    /// Approve or deny.
    Decide(&'a Request),
    /// `POST /requests/{id}/withdraw`
    Withdraw(&'a Request),
    /// `POST /requests/{id}/start`
    Start(&'a Request),
    /// `GET /sessions/{id}`
    ReadSession(&'a Session),
    /// `POST /sessions/{id}/end`
    EndSession(&'a Session),
    /// `POST /sessions/{id}/revoke`
    Revoke(&'a Session),
    /// `POST /sessions/{id}/review`: a lead reviews a break-glass session.
    Review(&'a Session),
    /// `POST /sessions/{id}/scope`
    AskScope(&'a Session),
    /// `POST /sessions/{id}/stepup`: one change, used once.
    AskStepUp(&'a Session),
    /// `POST /sessions/{id}/heartbeat`
    Heartbeat(&'a Session),
    /// `GET /sessions/{id}/timeline`
    ReadTimeline(&'a Session),
    /// `POST /sessions/{id}/entry`
    OpenEntry(&'a Session),
    /// `POST /entry` for this session.
    ExchangeEntry(&'a Session),
    /// `POST /authorize`
    Authorize,
    /// `GET /sessions/feed` (filtered per session).
    Feed,
    /// `GET /notices` (filtered per session).
    ReadNotices,
    /// `POST /notices/{id}/delivered` for a note of this session's app.
    DeliverNotice {
        /// The app the note's session was issued for.
        app_id: &'a str,
    },
    /// `GET /accounts/{id}/access-log` (filtered per session).
    ReadAccessLog,
    /// `GET /audit`
    ReadAudit,
    /// `GET /audit/verify`
    VerifyAudit,
    /// `GET /audit/keys`: the public keys that sign the trail's head.
    ReadAuditKeys,
    /// Staff, apps and policy pages.
    Administer,
    /// `GET /scim/v2/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.
    ScimDiscover,
    /// `GET /scim/v2/Users` and `GET /scim/v2/Users/{id}`.
    ScimReadUsers,
    /// `POST`, `PUT`, `PATCH` and `DELETE` of `/scim/v2/Users`.
    ScimWriteUsers,
    /// `POST /connectors/{system}/{app_id}`: a ticket system's webhook,
    /// signed with the connector app's secret.
    ReceiveTickets,
    /// The agent's inbox: open tickets, theirs and unassigned.
    ReadInbox,
    /// `GET /metrics/support`: the measures of success of support access.
    ReadSupportMetrics,
    /// `GET /metrics`: the server's figures for Prometheus.
    ScrapeMetrics,
    /// `POST`/`DELETE /accounts/{id}/grants`, `PUT /accounts/{id}/consent`:
    /// the host app records the customer's grant, its withdrawal, and
    /// whether an account asks for one.
    ManageConsent,
    /// `GET /accounts/{id}/grants`.
    ReadConsent,
}

/// Who asks, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// A staff member (personal token or console sign-in).
    Staff(&'a Staff),
    /// An app key.
    App(&'a App),
    /// An impersonation token.
    Token(&'a Claims),
}

impl<'a> From<&'a Principal> for Who<'a> {
    fn from(p: &'a Principal) -> Self {
        match p {
            Principal::Staff(s) => Who::Staff(s),
            Principal::App(a) => Who::App(a),
            Principal::Token(c) => Who::Token(c),
        }
    }
}

impl<'a> From<&'a Staff> for Who<'a> {
    fn from(s: &'a Staff) -> Self {
        Who::Staff(s)
    }
}

impl<'a> From<&'a App> for Who<'a> {
    fn from(a: &'a App) -> Self {
        Who::App(a)
    }
}

/// Whether an app is no host app: it only pushes tickets or provisions
/// staff (the `tickets` or `scim` permission) and has no web origin or entry
/// address. Sessions are never issued for it.
pub fn is_ticket_only(app: &App) -> bool {
    (app.tickets || app.scim) && app.origins.is_empty() && app.entry_url.is_none()
}

fn role(s: &Staff, roles: &[Role]) -> Result<()> {
    if roles.iter().any(|r| s.has(*r)) {
        return Ok(());
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(Error::forbidden(Code::RoleRequired, format!("This needs one of the roles: {}.", names.join(", "))))
}

fn own_or(s: &Staff, owner: &str, roles: &[Role], what: &str) -> Result<()> {
    if s.id == owner && s.has(Role::Agent) {
        return Ok(());
    }
    role(s, roles).map_err(|_| {
        Error::forbidden(
            Code::NotYours,
            format!("This {what} belongs to another agent; only they, leads and auditors see it."),
        )
    })
}

fn only_agent(s: &Staff, owner: &str, what: &str) -> Result<()> {
    role(s, &[Role::Agent])?;
    if s.id == owner {
        Ok(())
    } else {
        Err(Error::forbidden(Code::NotSessionAgent, format!("Only the session's agent {what}.")))
    }
}

fn only_requester(s: &Staff, r: &Request, what: &str) -> Result<()> {
    role(s, &[Role::Agent])?;
    if s.id == r.requester {
        Ok(())
    } else {
        Err(Error::forbidden(Code::NotRequester, format!("Only the requester {what}.")))
    }
}

fn app_of(a: &App, s: &Session) -> Result<()> {
    if !s.app_id.is_empty() && s.app_id == a.id {
        Ok(())
    } else {
        // Another app's session does not exist, as far as this app knows.
        Err(Error::not_found(format!("No session {}.", s.id)))
    }
}

fn token_of(c: &Claims, s: &Session, now: Timestamp) -> Result<()> {
    token_live(c, now)?;
    if c.sid == s.id {
        Ok(())
    } else {
        Err(Error::forbidden(Code::OtherSession, "This token is for another session."))
    }
}

fn token_live(c: &Claims, now: Timestamp) -> Result<()> {
    if now.timestamp() < c.exp {
        Ok(())
    } else {
        Err(Error::Unauthorized("The impersonation token has expired.".into()))
    }
}

fn staff_only() -> Error {
    Error::forbidden(Code::StaffOnly, "This call is for staff, not apps.")
}

fn app_only() -> Error {
    Error::forbidden(Code::AppOnly, "This call is for host apps, with an app key.")
}

fn token_refused() -> Error {
    Error::Unauthorized("An impersonation token is accepted only to read, heartbeat or end its own session.".into())
}

/// Decides whether `who` may `act` at `now`; `Ok` or the refusal to answer.
pub fn allow<'a>(who: impl Into<Who<'a>>, act: Act<'_>, now: Timestamp) -> Result<()> {
    use Role::{Admin, Agent, Auditor, Breakglass, Lead};
    let who = who.into();
    match (who, act) {
        // Staff.
        (Who::Staff(s), Act::CreateTicket | Act::CreateRequest) => role(s, &[Agent]),
        (Who::Staff(s), Act::ReadTicket | Act::ListRequests) => role(s, &[Agent, Lead, Auditor]),
        (Who::Staff(s), Act::ReadQueue) => role(s, &[Lead]),
        (Who::Staff(s), Act::ReadRequest(r)) => own_or(s, &r.requester, &[Lead, Auditor], "request"),
        (Who::Staff(s), Act::Decide(r)) => {
            role(s, &[Lead])?;
            if s.id == r.requester {
                return Err(Error::forbidden(Code::SelfApproval, "Nobody may decide their own request."));
            }
            Ok(())
        }
        (Who::Staff(s), Act::Withdraw(r)) => only_requester(s, r, "withdraws a request"),
        (Who::Staff(s), Act::Start(r)) => only_requester(s, r, "starts the session"),
        (Who::Staff(s), Act::ReadSession(x) | Act::ReadTimeline(x)) => own_or(s, &x.agent, &[Lead, Auditor], "session"),
        (Who::Staff(s), Act::EndSession(x)) => {
            only_agent(s, &x.agent, "ends it; a lead revokes it").map_err(|e| match (&e, s.has(Lead)) {
                (Error::Forbidden { .. }, true) => {
                    Error::forbidden(Code::NotSessionAgent, "Only the session's agent ends it; a lead revokes it.")
                }
                _ => e,
            })
        }
        (Who::Staff(s), Act::BreakGlass) => {
            role(s, &[Agent])?;
            role(s, &[Breakglass])
        }
        (Who::Staff(s), Act::Revoke(_)) => role(s, &[Lead]),
        (Who::Staff(s), Act::Review(x)) => {
            role(s, &[Lead])?;
            if s.id == x.agent {
                return Err(Error::forbidden(Code::SelfReview, "Nobody reviews their own break-glass session."));
            }
            Ok(())
        }
        (Who::Staff(s), Act::AskScope(x)) => only_agent(s, &x.agent, "may ask for more scope"),
        (Who::Staff(s), Act::AskStepUp(x)) => only_agent(s, &x.agent, "may ask for one change"),
        (Who::Staff(s), Act::Heartbeat(x)) => only_agent(s, &x.agent, "sends heartbeats"),
        (Who::Staff(s), Act::OpenEntry(x)) => only_agent(s, &x.agent, "enters the host app"),
        (Who::Staff(s), Act::Feed | Act::ReadAccessLog | Act::ReadAudit) => role(s, &[Lead, Auditor]),
        (Who::Staff(s), Act::VerifyAudit | Act::ReadAuditKeys) => role(s, &[Auditor, Admin]),
        (Who::Staff(s), Act::Administer) => role(s, &[Admin]),
        (Who::Staff(s), Act::ReadInbox) => role(s, &[Agent]),
        (Who::Staff(s), Act::ReadSupportMetrics) => role(s, &[Lead, Auditor]),
        (Who::Staff(s), Act::ReadConsent) => role(s, &[Lead, Auditor]),
        (Who::Staff(s), Act::ScrapeMetrics) => role(s, &[Admin, Auditor]),
        (
            Who::Staff(_),
            Act::ExchangeEntry(_)
            | Act::Authorize
            | Act::ReadNotices
            | Act::DeliverNotice { .. }
            | Act::ScimDiscover
            | Act::ScimReadUsers
            | Act::ScimWriteUsers
            | Act::ReceiveTickets
            | Act::ManageConsent,
        ) => Err(app_only()),

        // Apps.
        (Who::App(a), Act::CreateTicket) if a.tickets => Ok(()),
        (Who::App(_), Act::CreateTicket) => {
            Err(Error::forbidden(Code::PermissionRequired, "This app may not push tickets."))
        }
        (Who::App(a), Act::ReceiveTickets) if a.tickets => Ok(()),
        (Who::App(_), Act::ReceiveTickets) => {
            Err(Error::forbidden(Code::PermissionRequired, "This app may not push tickets."))
        }
        (Who::App(a), Act::ReadSession(x) | Act::Heartbeat(x) | Act::ExchangeEntry(x)) => app_of(a, x),
        (
            Who::App(a),
            Act::Authorize | Act::Feed | Act::ReadNotices | Act::ReadAccessLog | Act::ManageConsent | Act::ReadConsent,
        ) => {
            if is_ticket_only(a) {
                Err(Error::forbidden(
                    Code::NotAHostApp,
                    "This app only pushes tickets or provisions staff; it sees no sessions.",
                ))
            } else {
                Ok(())
            }
        }
        (Who::App(a), Act::ScimDiscover | Act::ScimReadUsers | Act::ScimWriteUsers) => {
            if a.scim {
                Ok(())
            } else {
                Err(Error::forbidden(Code::PermissionRequired, "This app may not provision staff (SCIM)."))
            }
        }
        (Who::App(a), Act::DeliverNotice { app_id }) => {
            if a.id == app_id {
                Ok(())
            } else {
                Err(Error::not_found("No such note for this app."))
            }
        }
        (Who::App(_), _) => Err(staff_only()),

        // Impersonation tokens: their own session only, until `exp`.
        (Who::Token(c), Act::ReadSession(x) | Act::Heartbeat(x) | Act::EndSession(x) | Act::AskStepUp(x)) => {
            token_of(c, x, now)
        }
        (Who::Token(_), _) => Err(token_refused()),
    }
}

/// Whether `who` may see session `s` in a list (ticket, feed, access log).
pub fn sees_session<'a>(who: impl Into<Who<'a>>, s: &Session, now: Timestamp) -> bool {
    allow(who, Act::ReadSession(s), now).is_ok()
}

/// Whether `who` may see request `r` in a list.
pub fn sees_request<'a>(who: impl Into<Who<'a>>, r: &Request, now: Timestamp) -> bool {
    allow(who, Act::ReadRequest(r), now).is_ok()
}

/// Refuses unless `s` is a lead: deciding requests is theirs alone (checked
/// before the request is read, so that others learn nothing of it).
pub fn require_lead(s: &Staff) -> Result<()> {
    role(s, &[Role::Lead])
}

/// Checks that an impersonation token is still within its `exp`.
pub fn token_current(c: &Claims, now: Timestamp) -> Result<()> {
    token_live(c, now)
}
