//! Acme Billing: a small billing SaaS that shows how a host app uses actas.
//!
//! Customers use it as themselves. Support enters through
//! `/support/enter?code=...` with a one-time code from the staff console,
//! which `actas-client`'s layer exchanges for the session's token; from then on
//! every page carries the actas banner, every change and every view of
//! sensitive data is asked of actas first (`authorize`), refusals are shown
//! in plain words, the activity feed labels what support did, and the
//! customer sees who accessed their account and the note actas queued when
//! the session ended. Password reset values never leave this app.
//!
//! The accounts live in memory: this is a demo, not a billing system.

mod pages;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actas_client::layer::{Guard, ImpersonationLayer, SupportRoutes, TokenSource};
use actas_client::{Client, Verifier};
use anyhow::Context;
use tokio::sync::RwLock;

/// The cookie that carries the impersonation token in the demo.
pub const TOKEN_COOKIE: &str = "actas_token";

/// One customer account.
#[derive(Debug, Clone)]
pub struct Account {
    /// `acct_42`
    pub id: String,
    /// `Acme Corp`
    pub name: String,
    /// Settings.
    pub timezone: String,
    /// Settings.
    pub tax_id: String,
    /// Where invoices go.
    pub invoice_email: String,
    /// The plan.
    pub plan: String,
    /// Invoices: (number, amount, status).
    pub invoices: Vec<(String, String, String)>,
    /// Bank details: sensitive.
    pub bank_account: String,
    /// What happened, newest last.
    pub activity: Vec<Activity>,
    /// Notes for the customer from actas.
    pub inbox: Vec<String>,
}

/// One line of an account's activity feed.
#[derive(Debug, Clone)]
pub struct Activity {
    /// When, as text.
    pub at: String,
    /// What happened, in plain words.
    pub text: String,
    /// Done by support acting for the customer.
    pub by_support: bool,
}

/// Shared state of the demo app.
pub struct Demo {
    pub(crate) accounts: RwLock<BTreeMap<String, Account>>,
    pub(crate) actas: Client,
    pub(crate) guard: Arc<Guard>,
    /// The actas address the browser uses for the banner.
    pub(crate) actas_public: String,
}

fn seed() -> BTreeMap<String, Account> {
    let mk = |id: &str, name: &str, email: &str, plan: &str| Account {
        id: id.into(),
        name: name.into(),
        timezone: "UTC".into(),
        tax_id: "EU123456789".into(),
        invoice_email: email.into(),
        plan: plan.into(),
        invoices: vec![
            ("INV-1001".into(), "€49.00".into(), "paid".into()),
            ("INV-1002".into(), "€49.00".into(), "paid".into()),
            ("INV-1003".into(), "€98.00".into(), "open".into()),
        ],
        bank_account: "DE89 3704 0044 0532 0130 00".into(),
        activity: vec![Activity {
            at: "2026-11-20 09:12 UTC".into(),
            text: "You changed the plan to Business".into(),
            by_support: false,
        }],
        inbox: Vec::new(),
    };
    let mut m = BTreeMap::new();
    m.insert("acct_42".into(), mk("acct_42", "Acme Corp", "billing@acme.test", "Business"));
    m.insert("acct_7".into(), mk("acct_7", "Globex", "ap@globex.test", "Starter"));
    m.insert("acct_99".into(), mk("acct_99", "Initech", "finance@initech.test", "Enterprise"));
    m
}

/// How to reach actas.
#[derive(Debug, Clone)]
pub struct Settings {
    /// actas's base URL, as the demo reaches it and as it issues tokens.
    pub actas: String,
    /// The demo's app id at actas (the tokens' audience).
    pub app_id: String,
    /// The demo's app key.
    pub app_key: String,
}

/// A bound demo app, ready to run.
pub struct DemoApp {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    demo: Arc<Demo>,
}

impl DemoApp {
    /// Binds `listen` and prepares the routes.
    pub async fn build(listen: SocketAddr, s: Settings) -> anyhow::Result<DemoApp> {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        Ok(DemoApp::on(listener, s))
    }

    /// Prepares the routes on a bound listener.
    pub fn on(listener: tokio::net::TcpListener, s: Settings) -> DemoApp {
        let actas = Client::new(&s.actas, &s.app_key);
        let guard = Arc::new(Guard::new(Verifier::new(&s.actas, &s.app_id), TokenSource::Cookie(TOKEN_COOKIE.into())));
        let demo = Arc::new(Demo {
            accounts: RwLock::new(seed()),
            actas,
            guard: guard.clone(),
            actas_public: s.actas.clone(),
        });
        let routes = SupportRoutes::new(demo.actas.clone()).landing(pages::landing);
        let router = pages::router(demo.clone()).layer(ImpersonationLayer::new(guard).with_routes(routes));
        DemoApp { listener, router, demo }
    }

    /// The bound address.
    pub fn addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` completes; follows the session feed and
    /// delivers customer notes meanwhile.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let following = self.demo.guard.clone().follow(&self.demo.actas);
        let notes = tokio::spawn(deliver_notes(self.demo.clone()));
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await;
        following.abort();
        notes.abort();
        Ok(served?)
    }
}

/// Reads customer notes from actas, puts each in its account's inbox, and
/// tells actas it was delivered.
async fn deliver_notes(demo: Arc<Demo>) {
    let mut after = 0;
    loop {
        match demo.actas.notices(after).await {
            Ok(notes) => {
                for n in notes {
                    after = after.max(n.seq);
                    if n.delivered_at.is_some() {
                        continue;
                    }
                    if let Some(a) = demo.accounts.write().await.get_mut(&n.account_id) {
                        a.inbox.push(n.text.clone());
                    }
                    if let Err(e) = demo.actas.notice_delivered(&n.id).await {
                        tracing::warn!(error = %e, "could not acknowledge a customer note");
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "customer notes unavailable"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
