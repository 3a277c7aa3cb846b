//! Set-up through the service layer, in this process, on the database the
//! server child will open: the people, the host app, the ticket, and the
//! live sessions whose tokens the load uses. Nothing here runs while a
//! server child does.

use std::sync::Arc;

use actas_api::{Approve, NewRequest, NewTicket};
use actas_core::audit::Actor;
use actas_core::model::{Role, Staff};
use actas_core::policy::Policy;
use actas_core::SystemClock;
use actas_server::service::{self, Principal};
use actas_server::{Ctx, KeyAccess};
use anyhow::Context;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::db::Db;
use crate::seed;

/// The account of the bench's ticket: one of the seeded accounts, so that
/// searching by it reads seeded events too once the trail has grown.
pub const ACCOUNT: usize = 42;
/// The bench's ticket, and its agent: a seeded ticket and a seeded agent.
const TICKET: u64 = 42;
const AGENT: usize = 7;
/// The accounts of the sessions ended over HTTP start after this one, past
/// the seeded accounts: each stage's account holds its own ended sessions
/// and nothing seeded, so its access log has the same entries at every
/// trail size and only what the database must look through changes.
const ENDS_ACCOUNTS: usize = seed::ACCOUNTS + 100;
/// The reason of every request.
const REASON: &str = "Customer asked us to change the invoice email after their domain move";
/// Set-up calls in flight at once (the writer commits them in groups).
const SET_UP_IN_FLIGHT: usize = 32;

/// Opens the service layer on `db` as the server will (its keys sealed
/// under the database's KEK, made when missing).
pub async fn open(db: &Db) -> anyhow::Result<Ctx> {
    let ctx = actas_server::open_ctx(
        &db.url,
        Policy::shipped(),
        Arc::new(SystemClock),
        "http://127.0.0.1:7878".into(),
        KeyAccess::Sealed(db.kek_loaded.clone()),
    )
    .await?;
    ctx.keys.make_missing(&ctx.store, ctx.clock.now()).await.context("cannot make the signing keys")?;
    Ok(ctx)
}

/// The people and the app of one database.
pub struct Cast {
    /// The host app's key.
    pub app_key: String,
    app: actas_core::model::App,
    /// An auditor's personal token (audit search).
    pub auditor: String,
    lead: Staff,
    agent: Staff,
    enders: Vec<(Staff, String)>,
    /// The bench's account id.
    pub account: String,
    /// The bench's ticket reference.
    pub ticket: String,
    /// The bench's agent's login.
    pub agent_login: String,
    /// Stages made so far.
    stages: usize,
}

/// What one server start uses: a fresh live session for authorize, and
/// a handful to end over HTTP.
pub struct Stage {
    /// The impersonation token of the authorize session.
    pub token: String,
    /// Its id.
    pub session_id: String,
    /// Sessions to end: `(id, the agent's personal token)`.
    pub to_end: Vec<(String, String)>,
    /// The account of those sessions (a ticket of its own for each
    /// stage, so its access log holds exactly this stage's sessions).
    pub ends_account: String,
}

impl Cast {
    /// Adds a lead, an auditor, the agent, `enders` more agents, the host
    /// app and the ticket.
    pub async fn create(ctx: &Ctx, enders: usize) -> anyhow::Result<Cast> {
        let setup = Actor::system();
        let (lead, _) = service::add_staff(ctx, setup.clone(), "sam", "Sam Lee", vec![Role::Lead], None).await?;
        let (_, auditor) =
            service::add_staff(ctx, setup.clone(), "audrey", "Audrey Kim", vec![Role::Auditor], None).await?;
        let agent_login = seed::agent_login(AGENT);
        let (agent, _) =
            service::add_staff(ctx, setup.clone(), &agent_login, "Maria Lopez", vec![Role::Agent], None).await?;
        let mut ender_list = Vec::with_capacity(enders);
        for n in 0..enders {
            let (s, token) = service::add_staff(
                ctx,
                setup.clone(),
                &format!("ender{n}"),
                &format!("Ender {n}"),
                vec![Role::Agent],
                None,
            )
            .await?;
            ender_list.push((s, token.expose().to_string()));
        }
        let (app, app_key) = service::add_app(
            ctx,
            setup,
            service::NewApp::new("Acme Billing", true, vec!["http://localhost:3000".into()]),
        )
        .await?;
        let account = seed::account_id(ACCOUNT);
        let ticket = seed::ticket_ref(TICKET);
        service::create_ticket(
            ctx,
            &Principal::App(app.clone()),
            NewTicket {
                reference: ticket.clone(),
                account_id: account.clone(),
                account_name: Some("Acme Corp".into()),
                subject: "Invoice emails bounce since the domain move".into(),
                url: None,
                ..Default::default()
            },
        )
        .await?;
        Ok(Cast {
            app_key: app_key.expose().to_string(),
            app,
            auditor: auditor.expose().to_string(),
            lead,
            agent,
            enders: ender_list,
            account,
            ticket,
            agent_login,
            stages: 0,
        })
    }

    /// Fresh sessions for the next server start: the agent's (allowed
    /// `settings.view` and `invoice_email.update`, approved by the lead,
    /// for the policy's longest time) and one per ender, on a ticket of
    /// the stage's own. A live session left from the last start is ended
    /// first.
    pub async fn stage(&mut self, ctx: &Ctx) -> anyhow::Result<Stage> {
        self.stages += 1;
        let (session_id, token) =
            self.session(ctx, &self.agent, &self.ticket, &["settings.view", "invoice_email.update"]).await?;
        let ends_account = seed::account_id(ENDS_ACCOUNTS + self.stages);
        let mut to_end = Vec::with_capacity(self.enders.len());
        if !self.enders.is_empty() {
            let ticket = format!("ends-{}", self.stages);
            service::create_ticket(
                ctx,
                &Principal::App(self.app.clone()),
                NewTicket {
                    reference: ticket.clone(),
                    account_id: ends_account.clone(),
                    account_name: None,
                    subject: "Check the invoice settings".into(),
                    url: None,
                    ..Default::default()
                },
            )
            .await?;
            for (ender, personal) in &self.enders {
                let (id, _) = self.session(ctx, ender, &ticket, &["settings.view"]).await?;
                to_end.push((id, personal.clone()));
            }
        }
        Ok(Stage { token, session_id, to_end, ends_account })
    }

    /// Ends `agent`'s live session if any, then asks, approves (when a
    /// person must) and starts a new one under `ticket`; answers its id
    /// and token.
    async fn session(
        &self,
        ctx: &Ctx,
        agent: &Staff,
        ticket: &str,
        actions: &[&str],
    ) -> anyhow::Result<(String, String)> {
        if let Some(live) = service::live_session_of(ctx, agent).await? {
            service::end(ctx, &Principal::Staff(agent.clone()), &live.id).await?;
        }
        let request = service::create_request(
            ctx,
            agent,
            NewRequest {
                ticket: ticket.to_string(),
                account_id: None,
                reason: REASON.into(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
                minutes: Some(ctx.policy.session.max_minutes),
                breakglass: false,
            },
        )
        .await?;
        if request.status == actas_core::model::RequestStatus::Pending {
            service::approve(ctx, &self.lead, &request.id, Approve::default()).await?;
        }
        let (session, token) = service::start(ctx, agent, &request.id, Some(self.app.id.clone())).await?;
        Ok((session.id, token.expose().to_string()))
    }

    /// `n` more agents, each with a live session (views only, approved by
    /// the policy), for the memory figures.
    pub async fn live_sessions(&self, ctx: &Ctx, n: usize) -> anyhow::Result<()> {
        stream::iter(0..n)
            .map(|i| async move {
                let (agent, _) = service::add_staff(
                    ctx,
                    Actor::system(),
                    &format!("live{i}"),
                    &format!("Live Agent {i}"),
                    vec![Role::Agent],
                    None,
                )
                .await?;
                self.session(ctx, &agent, &self.ticket, &["account.view", "settings.view"]).await?;
                anyhow::Ok(())
            })
            .buffer_unordered(SET_UP_IN_FLIGHT)
            .try_collect::<()>()
            .await
    }
}
