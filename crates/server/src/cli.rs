//! The `smartauth` command line: `serve`, and the operator's client management.

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::configuration::Settings;
use crate::crypto::MasterKey;
use crate::{clients, startup, telemetry};

#[derive(Parser)]
#[command(name = "smartauth", version, about = "Risk-based step-up authentication server (Smart Auth API)")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (configured by SMARTAUTH_* environment variables; see the README).
    Serve,
    /// Manage clients (tenants) and their secrets.
    #[command(subcommand)]
    Clients(ClientsCommand),
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Create a client; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// Refuse CPF-shaped personIds whose check digits are wrong.
        #[arg(long)]
        validate_cpf: bool,
        /// Print only {"clientId", "clientSecret"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List clients (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Refuse every token of this client from now on.
    Disable { client_id: String },
    /// Accept this client's tokens again.
    Enable { client_id: String },
    /// Replace the client's secret; tokens signed with the old one stop working.
    RotateSecret {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    telemetry::init_logs(settings.log_format);
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Clients(command) => manage_clients(settings, command).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let (state, first_start) = startup::build_state(&settings).await?;
    let server = startup::Server::bind(&settings, state).await?;
    let addr = server.local_addr();
    if let Some(token) = first_start.admin_token {
        println!("smartauth: generated the admin token (shown only now; its hash is kept in the data dir):");
        println!("  SMARTAUTH_ADMIN_TOKEN={token}");
        println!("Create a client with:");
        println!("  curl -s -X POST http://{addr}/admin/clients -H 'Authorization: Bearer {token}' \\");
        println!("       -H 'Content-Type: application/json' -d '{{\"name\": \"my-app\"}}'");
        println!("or: cargo run --release -- clients create --name my-app");
    }
    println!("smartauth: listening on http://{addr} (data dir {})", startup::data_dir_note(&settings.data_dir));
    tracing::info!(%addr, "listening");
    server.run_until(startup::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn manage_clients(settings: Settings, command: ClientsCommand) -> anyhow::Result<()> {
    let store = startup::open_store(&settings).await?;
    let key = MasterKey::load_or_create(settings.master_key.as_deref(), &settings.data_dir)?;
    let store = store.as_ref();
    match command {
        ClientsCommand::Create { name, validate_cpf, json } => {
            let created = clients::create(store, &key, &name, validate_cpf).await?;
            if json {
                println!("{}", json!({"clientId": created.record.id, "clientSecret": created.secret}));
            } else {
                println!("clientId:     {}", created.record.id);
                println!("clientSecret: {}", created.secret);
                println!("Keep the secret in your backend only; it is not shown again.");
            }
        }
        ClientsCommand::List { json } => {
            let list = store.clients().await?;
            if json {
                println!("{}", serde_json::Value::Array(list.iter().map(clients::describe).collect()));
            } else {
                for c in list {
                    let state = if c.disabled { "disabled" } else { "active" };
                    println!("{}  {:8}  {}", c.id, state, c.name);
                }
            }
        }
        ClientsCommand::Disable { client_id } => {
            let found = store.set_client_disabled(&client_id, true).await?;
            anyhow::ensure!(found, "no client {client_id}; `smartauth clients list` shows them");
            println!("client {client_id} disabled (running servers stop accepting its tokens within 5 s)");
        }
        ClientsCommand::Enable { client_id } => {
            let found = store.set_client_disabled(&client_id, false).await?;
            anyhow::ensure!(found, "no client {client_id}; `smartauth clients list` shows them");
            println!("client {client_id} enabled");
        }
        ClientsCommand::RotateSecret { client_id, json } => {
            let secret = clients::rotate_secret(store, &key, &client_id)
                .await?
                .with_context(|| format!("no client {client_id}; `smartauth clients list` shows them"))?;
            if json {
                println!("{}", json!({"clientId": client_id, "clientSecret": secret}));
            } else {
                println!("clientSecret: {secret}");
                println!("Tokens signed with the old secret are refused (by running servers within 5 s).");
            }
        }
    }
    Ok(())
}
