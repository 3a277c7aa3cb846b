//! `actas demo`: a server on a fresh SQLite file with demo staff, an app
//! and tickets, and a printed guide to try the flow with curl.

use std::net::SocketAddr;

use actas_api::NewTicket;
use actas_core::audit::Actor;
use actas_core::model::Role;
use actas_server::service::{self, Principal};
use actas_server::{Config, Server};
use anyhow::Context;

const PASSWORD: &str = "actas-demo-password";

/// Sets up a Zendesk connector and has it deliver three tickets, signed as
/// Zendesk signs them, with the tags of the shipped playbooks; answers the
/// connector app's id.
async fn zendesk_tickets(ctx: &actas_server::Ctx, setup: Actor) -> anyhow::Result<String> {
    use actas_core::connector::{zendesk_signature, Connector, Mapping};
    let secret = actas_core::id::Ids::secret(&actas_core::id::RandomIds, "zd");
    let connector = service::ConnectorSetup {
        kind: Connector::Zendesk,
        secret: secret.clone(),
        mapping: Mapping::default_for(Connector::Zendesk),
    };
    let (app, _) = service::add_app(
        ctx,
        setup,
        service::NewApp { connector: Some(connector), ..service::NewApp::new("Acme Zendesk", true, Vec::new()) },
    )
    .await?;
    for (n, (id, account, assignee, tags, subject)) in [
        ("48195", "acct_42", Some("maria"), ["settings_not_saving"], "The tax settings page does not keep our changes"),
        ("48196", "acct_7", None, ["invoice_page_wrong"], "The invoice page shows last year's plan"),
        ("48197", "acct_42", Some("jon"), ["login_trouble"], "Our admin cannot log in since the password reset"),
    ]
    .into_iter()
    .enumerate()
    {
        let now = ctx.clock.now();
        let body = serde_json::to_vec(&serde_json::json!({
            "type": "zen:event-type:ticket.created",
            "id": format!("demo-{n}"),
            "time": now.to_rfc3339(),
            "detail": {
                "id": id, "organization_id": account, "assignee_id": assignee, "tags": tags,
                "subject": subject, "status": "OPEN"
            }
        }))?;
        let stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let signature = zendesk_signature(secret.expose().as_bytes(), &stamp, &body);
        let invocation = format!("demo-{n}");
        let header = |name: &str| match name {
            "x-zendesk-webhook-signature" => Some(signature.clone()),
            "x-zendesk-webhook-signature-timestamp" => Some(stamp.clone()),
            "x-zendesk-webhook-invocation-id" => Some(invocation.clone()),
            _ => None,
        };
        service::receive(ctx, Connector::Zendesk, &app.id, &header, &body).await?;
    }
    Ok(app.id)
}

/// Where the demo's host app runs.
#[derive(Debug, Clone)]
pub enum HostApp {
    /// Acme Billing in this process, listening here.
    Here(SocketAddr),
    /// Another program at this origin, started by whoever runs the demo
    /// with the app id and key printed at start.
    Elsewhere(String),
}

/// Runs the demo until Ctrl-C: actas on `listen`, beside the host app.
pub async fn run(listen: SocketAddr, host_app: HostApp) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot make a folder for the demo database")?;
    let db = dir.path().join("actas-demo.db");
    // The demo's own key-encryption key, beside its database and gone with it.
    let kek = actas_server::Kek::write_new(&dir.path().join("key-encryption-key"))?;
    let mut config = Config::new(db.to_string_lossy().to_string());
    config.listen = listen;
    config.keys = actas_server::KeyAccess::Sealed(std::sync::Arc::new(kek));
    let server = Server::build(config).await?;
    let ctx = server.ctx().clone();
    let setup = Actor::system();
    let mut tokens = Vec::new();
    for (login, name, roles) in [
        ("maria", "Maria Lopez", vec![Role::Agent]),
        ("jon", "Jon Park", vec![Role::Agent]),
        ("sam", "Sam Lee", vec![Role::Lead, Role::Agent]),
        ("audrey", "Audrey Kim", vec![Role::Auditor]),
        ("ada", "Ada Quinn", vec![Role::Admin]),
        ("bea", "Bea Stone", vec![Role::Agent, Role::Breakglass]),
    ] {
        let (s, token) = service::add_staff(&ctx, setup.clone(), login, name, roles, Some(PASSWORD.into())).await?;
        tokens.push((s, token));
    }
    let (host_listener, host) = match host_app {
        HostApp::Here(addr) => {
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            let host = format!("http://{}", listener.local_addr()?);
            (Some(listener), host)
        }
        // add_app below refuses what is not a web origin.
        HostApp::Elsewhere(origin) => (None, origin.trim_end_matches('/').to_string()),
    };
    let (app, key) =
        service::add_app(&ctx, setup.clone(), service::NewApp::new("Acme Billing", true, vec![host.clone()])).await?;
    let principal = Principal::App(app.clone());
    for (reference, account, name, subject) in [
        ("48192", "acct_42", "Acme Corp", "Customer can't update tax settings after plan change"),
        ("48193", "acct_7", "Globex", "Invoice emails bounce since the domain move"),
        ("48194", "acct_42", "Acme Corp", "Refund for a double charge in October"),
    ] {
        service::create_ticket(
            &ctx,
            &principal,
            NewTicket {
                reference: reference.into(),
                account_id: account.into(),
                account_name: Some(name.into()),
                subject: subject.into(),
                url: Some(format!("https://tickets.example.test/{reference}")),
                ..Default::default()
            },
        )
        .await?;
    }
    let zendesk = zendesk_tickets(&ctx, setup.clone()).await?;
    let base = format!("http://{}", server.addr());
    let billing = host_listener.map(|listener| {
        actas_demo::DemoApp::on(
            listener,
            actas_demo::Settings { actas: base.clone(), app_id: app.id.clone(), app_key: key.expose().to_string() },
        )
    });
    println!("actas demo is running at {base} (database {}, removed on exit)", db.display());
    if billing.is_some() {
        println!("Acme Billing, the demo host app, is at {host}\n");
    } else {
        println!("Acme Billing, the demo host app, is expected at {host}: start it there with");
        println!("  ACTAS_URL={base} ACTAS_APP_ID={} ACTAS_APP_KEY={}\n", app.id, key.expose());
    }
    println!("Staff (console password for all: {PASSWORD}):");
    for (s, token) in &tokens {
        let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
        println!("  {:<7} {:<12} {:<14} {}", s.id, s.name, roles.join(","), token.expose());
    }
    println!("\nApp \"{}\" ({}), key: {}", app.name, app.id, key.expose());
    println!("Tickets: 48192 and 48194 on Acme Corp (acct_42), 48193 on Globex (acct_7).");
    println!(
        "Zendesk sent 48195 (assigned to maria), 48196 (unassigned) and 48197 (assigned to jon) through the \
         connector app {zendesk}; they are in the agents' inboxes on the console's home page.\n"
    );
    println!("Console: {base}/login");
    println!(
        "  sign in as maria or jon (agent), sam (lead), audrey (auditor), ada (admin) or bea (agent who may \
         break the glass in an outage), password {PASSWORD}\n"
    );
    let maria = tokens[0].1.expose();
    let sam = tokens[2].1.expose();
    let key = key.expose();
    println!("Try the flow:");
    println!("  export MARIA={maria} SAM={sam} APP={key}");
    println!("  # Maria asks to view settings and change the invoice email under ticket 48192");
    println!(
        "  curl -s {base}/api/v1/requests -H \"Authorization: Bearer $MARIA\" -d '{{\"ticket\":\"48192\",\"reason\":\"Customer can'\"'\"'t update tax settings after plan change\",\"actions\":[\"settings.view\",\"invoice_email.update\"]}}'"
    );
    println!("  # Sam sees the queue and approves it (REQ is the id from above)");
    println!("  curl -s '{base}/api/v1/requests?status=pending' -H \"Authorization: Bearer $SAM\"");
    println!("  curl -s -X POST {base}/api/v1/requests/$REQ/approve -H \"Authorization: Bearer $SAM\"");
    println!("  # Maria starts the session and gets the token for the host app");
    println!("  curl -s -X POST {base}/api/v1/requests/$REQ/start -H \"Authorization: Bearer $MARIA\"");
    println!("  # The host app asks before changing the invoice email (TOKEN from the start answer)");
    println!(
        "  curl -s {base}/api/v1/authorize -H \"Authorization: Bearer $APP\" -d '{{\"token\":\"'$TOKEN'\",\"action\":\"invoice_email.update\",\"changes\":[{{\"field\":\"invoice_email\",\"old\":\"old@acme.test\",\"new\":\"new@acme.test\"}}]}}'"
    );
    println!("  # Maria opens the customer's account in Acme Billing (SES is the session id): a one-time");
    println!("  # link that Acme Billing exchanges for the token; the banner is then on every page");
    println!("  curl -s -X POST {base}/api/v1/sessions/$SES/entry -H \"Authorization: Bearer $MARIA\"");
    println!("  open \"$URL\"   # the url from that answer, or the console's \"Open in the host app\"");
    println!("  # What happened, in plain words");
    println!("  curl -s '{base}/api/v1/audit?ticket=48192&format=text' -H \"Authorization: Bearer $SAM\"");
    println!("  # The customer's side: {host}/accounts/acct_42/access");
    println!("\nPress Ctrl-C to stop.");
    match billing {
        Some(billing) => {
            let (stop_billing, billing_stopped) = tokio::sync::oneshot::channel::<()>();
            let billing = tokio::spawn(billing.run_until(async move {
                let _ = billing_stopped.await;
            }));
            server.run().await?;
            let _ = stop_billing.send(());
            let _ = billing.await;
        }
        None => server.run().await?,
    }
    drop(dir);
    Ok(())
}
