//! The `smartauth` command line: `serve`, `init`, `check`, `backup`, and the operator's client management.

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;

use crate::configuration::{self, Settings};
use crate::ops::store::{Create, Opened};
use crate::{clients, ops, startup, telemetry};

#[derive(Parser)]
#[command(name = "smartauth", version, about = "Risk-based step-up authentication server (Smart Auth API)")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (configured by the environment variables `smartauth serve --help` lists).
    ///
    /// Creates the data dir, the master key and the database on first start, as `init` does.
    Serve,
    /// Create the data dir (mode 700), the master key and the database (mode 600), without serving.
    ///
    /// Only `init` and `serve` create them: every other command refuses a data dir or database that
    /// does not exist, so that a mistyped SMARTAUTH_DATA_DIR is not taken for a new, empty store.
    Init,
    /// Check the configuration without starting the server; exit 1 on any problem.
    ///
    /// Reads the settings as `serve` would and checks the data dir, master key, database (reachable,
    /// migrated), data sets, face models, SMTP relay and SMS gateway (reachable; nothing is sent). Each
    /// problem is printed with how to fix it.
    Check,
    /// Write a consistent copy of the SQLite database to PATH, also while the server runs.
    ///
    /// The master key is not in the copy, and the copy is of no use without it: keep the key apart
    /// from the backups.
    Backup {
        /// The file to create (it must not exist).
        path: PathBuf,
    },
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
    /// Change a client's message and browser settings (as PATCH /admin/clients/{clientId}).
    Update {
        client_id: String,
        /// The name people see in their code messages.
        #[arg(long)]
        display_name: Option<String>,
        /// The language of the messages: pt-BR or en.
        #[arg(long)]
        language: Option<String>,
        /// A browser origin the web SDK may call from (https://app.example.com); repeat for several.
        /// Replaces the list.
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// Empty the list of allowed origins.
        #[arg(long, conflicts_with = "allowed_origins")]
        no_allowed_origins: bool,
        /// A JSON file with the message templates ({"sms", "emailSubject", "emailText", "emailHtml"}).
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Go back to the built-in message templates.
        #[arg(long, conflicts_with = "templates")]
        default_templates: bool,
        #[arg(long)]
        json: bool,
    },
    /// Replace the client's secret; tokens signed with the old one keep working for the grace period.
    ///
    /// Attestations are signed with the new secret at once. For a leaked secret, use --grace-seconds 0.
    RotateSecret {
        client_id: String,
        /// How long tokens signed with the old secret are still accepted: 0 (at once, for a leaked
        /// secret) to 604800 (a week).
        #[arg(long, default_value_t = u64::from(ops::clients::GracePeriod::DEFAULT.secs()))]
        grace_seconds: u64,
        #[arg(long)]
        json: bool,
    },
}

/// Parses the command line; `serve --help` lists every setting from [`configuration::SETTINGS`].
pub fn parse() -> Cli {
    let command = Cli::command().mut_subcommand("serve", |serve| serve.after_help(configuration::help()));
    Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => {
            telemetry::init_logs(&settings)?;
            serve(settings).await
        }
        Command::Init => {
            telemetry::init_logs_from("warn", &settings)?;
            init(settings).await
        }
        Command::Check => {
            telemetry::init_logs_from("error", &settings)?;
            check(settings).await
        }
        Command::Backup { path } => {
            telemetry::init_logs_from("warn", &settings)?;
            let report = ops::backup::backup(&settings, &path).await?;
            println!("smartauth: {report}");
            let key = ops::backup::master_key_note(&settings);
            println!("It is of no use without the master key ({key}): keep a copy of the key apart from the backups.");
            Ok(())
        }
        Command::Clients(command) => {
            telemetry::init_logs(&settings)?;
            manage_clients(settings, command).await
        }
    }
}

async fn init(settings: Settings) -> anyhow::Result<()> {
    ops::store::open(&settings, Create::Allowed).await?;
    ops::store::warn_about_exposed_files(&settings);
    let database = ops::Database::of(&settings)?;
    let key = match settings.master_key {
        Some(_) => "SMARTAUTH_MASTER_KEY".to_owned(),
        None => settings.data_dir.join(crate::crypto::MASTER_KEY_FILE).display().to_string(),
    };
    println!("smartauth: ready: database {database}, master key {key}");
    println!("Keep a copy of the master key apart from the database's backups (see the README, Backups).");
    Ok(())
}

async fn check(settings: Settings) -> anyhow::Result<()> {
    let findings = ops::check::check(&settings).await;
    for finding in &findings {
        println!("{finding}");
    }
    let problems = findings.iter().filter(|f| f.is_problem()).count();
    anyhow::ensure!(problems == 0, "check found {problems} problem(s); each is explained above with its fix");
    println!("smartauth: the configuration is ready to serve");
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let (state, first_start) = startup::build_state(&settings).await?;
    let server = startup::Server::bind(&settings, state).await?;
    let addr = server.local_addr();
    let admin_addr = server.admin_addr();
    let scheme = server.scheme();
    if let Some(token) = first_start.admin_token {
        println!("smartauth: generated the admin token (shown only now; its hash is kept in the data dir):");
        println!("  SMARTAUTH_ADMIN_TOKEN={token}");
        println!("Create a client with:");
        let admin = admin_addr.unwrap_or(addr);
        println!("  curl -s -X POST {scheme}://{admin}/admin/clients -H 'Authorization: Bearer {token}' \\");
        println!("       -H 'Content-Type: application/json' -d '{{\"name\": \"my-app\"}}'");
        println!("or, with the same SMARTAUTH_DATA_DIR: smartauth clients create --name my-app");
    }
    match admin_addr {
        Some(admin) => println!("smartauth: admin endpoints (/admin/*, /metrics, /ready) on {scheme}://{admin}"),
        None if !addr.ip().is_loopback() => tracing::warn!(
            %addr,
            "/admin/*, /metrics and /ready answer on the API port: set SMARTAUTH_ADMIN_LISTEN to a private address (see the README, Deploying)"
        ),
        None => {}
    }
    println!("smartauth: listening on {scheme}://{addr} (data dir {})", startup::data_dir_note(&settings.data_dir));
    tracing::info!(%addr, "listening");
    server.run_until(startup::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn manage_clients(settings: Settings, command: ClientsCommand) -> anyhow::Result<()> {
    let Opened { store, key } = ops::store::open(&settings, Create::Refused).await?;
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
            } else if list.is_empty() {
                println!("no clients yet: smartauth clients create --name my-app");
            } else {
                // Columns, under a header; the name (free text) is padded to the longest one.
                let width = list.iter().map(|c| c.name.chars().count()).max().unwrap_or(0).max(4);
                println!("{:24}  {:8}  {:8}  {:width$}  ALLOWED ORIGINS", "CLIENT ID", "STATE", "LANGUAGE", "NAME");
                for c in list {
                    let state = if c.disabled { "disabled" } else { "active" };
                    let origins = c.settings.allowed_origins.join(" ");
                    println!("{:24}  {:8}  {:8}  {:width$}  {}", c.id, state, c.settings.language, c.name, origins);
                }
            }
        }
        ClientsCommand::Disable { client_id } => {
            let audit = ops::audit::Actor::cli().line(Some(&client_id), "client.disabled", Some(&client_id), None);
            let found = store
                .set_client_disabled_with(
                    &client_id,
                    true,
                    smartauth_store::Effects { events: &[], audit: Some(&audit) },
                )
                .await?;
            anyhow::ensure!(found, "no client {client_id}; `smartauth clients list` shows them");
            println!("client {client_id} disabled (running servers stop accepting its tokens within 5 s)");
        }
        ClientsCommand::Enable { client_id } => {
            let audit = ops::audit::Actor::cli().line(Some(&client_id), "client.enabled", Some(&client_id), None);
            let found = store
                .set_client_disabled_with(
                    &client_id,
                    false,
                    smartauth_store::Effects { events: &[], audit: Some(&audit) },
                )
                .await?;
            anyhow::ensure!(found, "no client {client_id}; `smartauth clients list` shows them");
            println!("client {client_id} enabled");
        }
        ClientsCommand::Update {
            client_id,
            display_name,
            language,
            allowed_origins,
            no_allowed_origins,
            templates,
            default_templates,
            json,
        } => {
            let message_templates = match (templates, default_templates) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    let parsed =
                        serde_json::from_str(&text).with_context(|| format!("{} as templates", path.display()))?;
                    Some(Some(parsed))
                }
                (None, true) => Some(None),
                (None, false) => None,
            };
            let change = ops::clients::SettingsChange {
                display_name: display_name.map(Some),
                language,
                allowed_origins: match (allowed_origins.is_empty(), no_allowed_origins) {
                    (false, _) => Some(allowed_origins),
                    (true, true) => Some(Vec::new()),
                    (true, false) => None,
                },
                message_templates,
            }
            .validated()
            .map_err(anyhow::Error::msg)?;
            let cache = clients::ClientCache::default();
            let change = ops::clients::ClientChange { settings: change, ..Default::default() };
            let record = ops::clients::update(store, &cache, &client_id, change, &ops::audit::Actor::cli())
                .await?
                .with_context(|| format!("no client {client_id}; `smartauth clients list` shows them"))?;
            if json {
                println!("{}", clients::describe(&record));
            } else {
                println!("client {client_id} updated (running servers use it within 5 s)");
            }
        }
        ClientsCommand::RotateSecret { client_id, grace_seconds, json } => {
            let grace = ops::clients::GracePeriod::parse(grace_seconds)
                .map_err(|e| anyhow::anyhow!(e.replace("graceSeconds", "--grace-seconds")))?;
            // Running servers see the change within their client cache's few seconds.
            let cache = clients::ClientCache::default();
            let rotated =
                ops::clients::rotate_secret(store, &cache, &key, &client_id, grace, &ops::audit::Actor::cli())
                    .await?
                    .with_context(|| format!("no client {client_id}; `smartauth clients list` shows them"))?;
            let until = rotated
                .previous_valid_until
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(smartauth_domain::time::format);
            if json {
                println!(
                    "{}",
                    json!({"clientId": client_id, "clientSecret": rotated.secret, "graceSeconds": grace.secs(),
                           "previousSecretExpiresAt": until})
                );
            } else {
                println!("clientSecret: {}", rotated.secret);
                match until {
                    Some(until) => println!("Tokens signed with the old secret are accepted until {until}."),
                    None => println!("Tokens signed with the old secret are refused (by running servers within 5 s)."),
                }
                println!("Attestations are signed with the new secret from now on.");
            }
        }
    }
    Ok(())
}
