//! `smartauth check`: everything `serve` needs, checked without starting it or changing anything.
//! Each finding says what is wrong and how to fix it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use smartauth_store::sqlite::backup::schema_state;

use super::store::KeyMatch;
use super::Database;
use crate::configuration::Settings;
use crate::crypto::MasterKey;
use crate::delivery::email::EmailClient;
use crate::delivery::sms::SmsClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Not a fault: something is off by choice (no SMTP relay) or will be created at first start.
    Note,
    Problem,
}

pub struct Finding {
    pub level: Level,
    pub subject: &'static str,
    pub message: String,
    pub fix: Option<String>,
}

impl Finding {
    fn ok(subject: &'static str, message: impl Into<String>) -> Finding {
        Finding { level: Level::Ok, subject, message: message.into(), fix: None }
    }

    fn note(subject: &'static str, message: impl Into<String>) -> Finding {
        Finding { level: Level::Note, subject, message: message.into(), fix: None }
    }

    fn problem(subject: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { level: Level::Problem, subject, message: message.into(), fix: Some(fix.into()) }
    }

    pub fn is_problem(&self) -> bool {
        self.level == Level::Problem
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok     ",
            Level::Note => "note   ",
            Level::Problem => "PROBLEM",
        };
        write!(f, "{tag} {}: {}", self.subject, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n        fix: {fix}")?;
        }
        Ok(())
    }
}

const FIRST_START: &str =
    "if SMARTAUTH_DATA_DIR has a typo, correct it; for a new installation, run `smartauth init` (or \
     `smartauth serve` once): it creates the data dir, the master key and the database";

pub async fn check(settings: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let dir_exists = data_dir(&settings.data_dir, &mut out);
    let database = Database::of(settings);
    let database_exists = match &database {
        Ok(Database::File(path)) => path.exists(),
        _ => true,
    };
    let key = master_key(settings, dir_exists, database_exists, &mut out);
    match database {
        Err(e) => out.push(Finding::problem(
            "database",
            e.to_string(),
            "unset SMARTAUTH_DATABASE_URL to use smartauth.db in the data dir, or give a sqlite: URL",
        )),
        Ok(database) => {
            let schema = schema(&database, dir_exists).await;
            if let Some((key, shown)) = key {
                let readable = (!schema.is_problem()).then_some(&database);
                out.push(key_against(&key, shown, readable).await);
            }
            out.push(schema);
        }
    }
    for exposed in super::store::exposed_files(settings) {
        let what = format!("{} can be read by other users (mode {:o})", exposed.path.display(), exposed.mode);
        out.push(if exposed.is_dir() {
            // The database and keys in it are private on their own; the directory exposes their names
            // and the (encrypted) media.
            Finding::note(
                "permissions",
                format!("{what}: they can list it and open the encrypted media; {}", exposed.fix()),
            )
        } else {
            Finding::problem("permissions", format!("{what}; it holds personal data"), exposed.fix())
        });
    }
    out.push(admin_token(settings));
    out.push(admin_endpoints(settings));
    out.extend(tls(settings));
    data_sets(settings, &mut out).await;
    out.push(face_models(&settings.models_dir).await);
    out.push(email(settings).await);
    out.push(sms(settings).await);
    out.push(webhook_delivery(settings));
    out
}

/// Whether this process delivers webhooks; one that does not relies on another `serve` on the same database.
fn webhook_delivery(settings: &Settings) -> Finding {
    let w = &settings.webhooks;
    if w.dispatch {
        let over = w.retry.iter().map(Duration::as_secs).sum::<u64>();
        let over = match over {
            0..3600 => format!("{over} s"),
            _ => format!("about {} h", (over + 1800) / 3600),
        };
        return Finding::ok(
            "webhooks",
            format!(
                "this process delivers them ({} s timeout, {} retries over {over}; a subscription failing for {} h is disabled)",
                w.timeout.as_secs(),
                w.retry.len(),
                w.disable_after.as_secs() / 3600
            ),
        );
    }
    Finding::note(
        "webhooks",
        "SMARTAUTH_WEBHOOK_DISPATCH=false: this process writes events but delivers none; one `serve` on the same \
         database must run with SMARTAUTH_WEBHOOK_DISPATCH=true (the default), or no webhook is delivered. Watch \
         smartauth_webhook_oldest_pending_seconds on any process: it grows when no process delivers",
    )
}

fn data_dir(dir: &Path, out: &mut Vec<Finding>) -> bool {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.push(Finding::problem(
                "data dir",
                format!("{shown} does not exist"),
                format!("{FIRST_START}; or set SMARTAUTH_DATA_DIR to the data dir the server uses"),
            ));
            return false;
        }
        Err(e) => {
            out.push(Finding::problem(
                "data dir",
                format!("{shown} cannot be read: {e}"),
                "give the user that runs smartauth access to it",
            ));
            return true;
        }
        Ok(m) if !m.is_dir() => {
            out.push(Finding::problem(
                "data dir",
                format!("{shown} is not a directory"),
                "set SMARTAUTH_DATA_DIR to a directory (smartauth keeps its database and keys in it)",
            ));
            return false;
        }
        Ok(_) => {}
    }
    let probe = dir.join(format!(".smartauth-check-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            out.push(Finding::ok("data dir", format!("{} (writable)", crate::startup::data_dir_note(dir))));
        }
        Err(e) => out.push(Finding::problem(
            "data dir",
            format!("{shown} is not writable: {e}"),
            "give the user that runs smartauth write access to it (chown, or chmod u+rwx)",
        )),
    }
    true
}

const KEEP: &str = "a new key makes the client secrets and faces already stored unreadable";

/// Pushes what is wrong with the master key, or returns it with where it comes from.
fn master_key(
    settings: &Settings,
    dir_exists: bool,
    database_exists: bool,
    out: &mut Vec<Finding>,
) -> Option<(MasterKey, String)> {
    if let Some(text) = &settings.master_key {
        return match MasterKey::from_base64(text) {
            Ok(key) => Some((key, "from SMARTAUTH_MASTER_KEY".to_owned())),
            Err(e) => {
                out.push(Finding::problem(
                    "master key",
                    format!("SMARTAUTH_MASTER_KEY: {e}"),
                    format!("set it to the key this database was created with (the text of master.key, or your backup's); {KEEP}"),
                ));
                None
            }
        };
    }
    let path = settings.data_dir.join("master.key");
    let shown = path.display();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir_exists && database_exists {
                out.push(Finding::problem(
                    "master key",
                    format!("{shown} is missing, but the database exists: what it encrypted cannot be read"),
                    format!(
                        "restore master.key from your backup into the data dir, or set SMARTAUTH_MASTER_KEY; {KEEP}"
                    ),
                ));
            } else {
                out.push(Finding::note("master key", format!("{shown} will be created at first start")));
            }
            return None;
        }
        Err(e) => {
            out.push(Finding::problem(
                "master key",
                format!("{shown} cannot be read: {e}"),
                "make it readable by the user that runs smartauth (and by no one else: chmod 600)",
            ));
            return None;
        }
    };
    let key = match MasterKey::from_base64(&text) {
        Ok(key) => key,
        Err(e) => {
            out.push(Finding::problem(
                "master key",
                format!("{shown}: {e}"),
                format!("restore master.key from your backup; {KEEP}"),
            ));
            return None;
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0o600);
        if mode & 0o077 != 0 {
            out.push(Finding::problem(
                "master key",
                format!("{shown} can be read by other users (mode {mode:o})"),
                format!("chmod 600 {shown}"),
            ));
            return None;
        }
    }
    Some((key, shown.to_string()))
}

/// The key against the database's key check, when the database can be read.
async fn key_against(key: &MasterKey, shown: String, database: Option<&Database>) -> Finding {
    let Some(database) = database else {
        return Finding::ok("master key", shown);
    };
    match super::store::key_match(key, database).await {
        Ok(KeyMatch::Matches) => Finding::ok("master key", format!("{shown} (the database's key)")),
        Ok(KeyMatch::NotRecorded) => Finding::ok(
            "master key",
            format!("{shown} (the database has no key check yet: the next start records this key's)"),
        ),
        Ok(KeyMatch::Differs) => Finding::problem(
            "master key",
            format!("the key {shown} is not the one {database} was created with: client secrets and faces cannot be read"),
            format!(
                "set SMARTAUTH_MASTER_KEY to that key, or unset it to use master.key in the data dir (restore it from your backup); {KEEP}"
            ),
        ),
        Err(e) => Finding::problem(
            "master key",
            format!("the key check of {database} cannot be read: {e:#}"),
            "check that the file is readable by the user that runs smartauth and is a smartauth database",
        ),
    }
}

async fn schema(database: &Database, dir_exists: bool) -> Finding {
    if let Database::File(path) = database {
        if !path.exists() {
            let fix = if dir_exists {
                format!("{FIRST_START}; or restore a backup to this path (see the README's Backups)")
            } else {
                "see the data dir above".to_owned()
            };
            return Finding::problem("database", format!("there is no database at {}", path.display()), fix);
        }
    }
    match schema_state(database.source()).await {
        Err(e) => Finding::problem(
            "database",
            format!("{database} cannot be opened: {e}"),
            "check that the file is readable by the user that runs smartauth and is a smartauth database",
        ),
        Ok(s) if s.applied == 0 => Finding::problem(
            "database",
            format!("{database} holds no smartauth schema"),
            "point SMARTAUTH_DATA_DIR or SMARTAUTH_DATABASE_URL at smartauth's database",
        ),
        // Not a problem: `serve` migrates it at start (a restored backup of an older version, an upgrade).
        Ok(s) if s.applied < s.expected => Finding::note(
            "database",
            format!(
                "{database} is at schema version {}; `smartauth serve` migrates it to {} at start (back it up first: \
                 smartauth backup PATH)",
                s.applied, s.expected
            ),
        ),
        Ok(s) if s.applied > s.expected => Finding::problem(
            "database",
            format!(
                "{database} was migrated by a newer smartauth (schema {}, this build knows {})",
                s.applied, s.expected
            ),
            "run the newer smartauth, or restore a backup made with this version",
        ),
        Ok(s) => {
            Finding::ok("database", format!("{database} (reachable, schema version {} of {})", s.applied, s.expected))
        }
    }
}

fn admin_token(settings: &Settings) -> Finding {
    let hash = settings.data_dir.join("admin-token.sha256");
    if settings.admin_token.is_some() {
        Finding::ok("admin token", "from SMARTAUTH_ADMIN_TOKEN")
    } else if hash.exists() {
        Finding::ok("admin token", format!("its hash is in {}", hash.display()))
    } else {
        Finding::note("admin token", "none yet: one is generated and printed once at first start")
    }
}

fn admin_endpoints(settings: &Settings) -> Finding {
    const SUBJECT: &str = "admin endpoints";
    match settings.admin_listen {
        Some(addr) => Finding::ok(SUBJECT, format!("/admin/*, /metrics and /ready on {addr}, apart from the API")),
        None if settings.listen.ip().is_loopback() => {
            Finding::ok(SUBJECT, format!("on the API port {}, which only this host reaches", settings.listen))
        }
        None => Finding::note(
            SUBJECT,
            format!(
                "/metrics and /ready are public on the API port {}: set SMARTAUTH_ADMIN_LISTEN to a private address \
                 (see the README, Deploying)",
                settings.listen
            ),
        ),
    }
}

async fn data_sets(settings: &Settings, out: &mut Vec<Finding>) {
    let config = settings.intel.clone();
    let Ok(intel) = tokio::task::spawn_blocking(move || smartauth_context::Intelligence::load(&config)).await else {
        out.push(Finding::problem("data sets", "loading them failed", "run scripts/fetch-data.sh again"));
        return;
    };
    let dir = settings.intel.dir.display();
    let missing: Vec<String> = intel
        .status
        .iter()
        .filter(|set| !set.loaded)
        .map(|set| format!("\n          {}: {}", set.name, set.error.as_deref().unwrap_or("missing")))
        .collect();
    if missing.is_empty() {
        out.push(Finding::ok("data sets", format!("all {} loaded from {dir}", intel.status.len())));
    } else {
        out.push(Finding::problem(
            "data sets",
            format!("{} of {} not loaded (their fields would be null):{}", missing.len(), intel.status.len(), missing.concat()),
            format!(
                "run scripts/fetch-data.sh (it installs into data/intel; this server reads {dir}, SMARTAUTH_INTEL_DIR), \
                 or correct the SMARTAUTH_GEOIP_* or SMARTAUTH_PLACES_CSV setting that names the file"
            ),
        ));
    }
}

async fn face_models(dir: &Path) -> Finding {
    let path = dir.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || smartauth_face::FaceEngine::load(&path).map(|_| ())).await;
    match loaded {
        Ok(Ok(())) => Finding::ok("face models", format!("loaded from {}", dir.display())),
        Ok(Err(e)) => Finding::problem(
            "face models",
            format!("not loaded from {} ({e}): face_authentication would not be offered", dir.display()),
            "run scripts/fetch-data.sh (it installs them into data/models), or set SMARTAUTH_MODELS_DIR to where they are",
        ),
        Err(e) => {
            Finding::problem("face models", format!("loading them failed: {e}"), "run scripts/fetch-data.sh again")
        }
    }
}

/// A URL fit to print: without credentials, query or fragment, which may carry secrets.
fn shown_url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

async fn email(settings: &Settings) -> Finding {
    let Some(url) = &settings.smtp_url else {
        return Finding::note("email", "SMARTAUTH_SMTP_URL is not set: email_authentication is not offered");
    };
    let shown = shown_url(url);
    let client = match EmailClient::new(url, settings) {
        Ok(client) => client,
        Err(e) => {
            return Finding::problem(
                "email",
                format!("{e:#}"),
                "correct SMARTAUTH_SMTP_URL, SMARTAUTH_SMTP_FROM or SMARTAUTH_SMTP_CA_FILE",
            );
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, client.probe()).await {
        Ok(Ok(())) => Finding::ok("email", format!("the SMTP relay {shown} answers")),
        Ok(Err(e)) => Finding::problem(
            "email",
            format!("the SMTP relay {shown} is not reachable: {e:#}"),
            "start the relay, or correct SMARTAUTH_SMTP_URL (or unset it: email codes are then not offered)",
        ),
        Err(_) => Finding::problem(
            "email",
            format!("the SMTP relay {shown} did not answer within {} s", PROBE_TIMEOUT.as_secs()),
            "check that the relay runs and that a firewall lets this host reach it, or correct SMARTAUTH_SMTP_URL",
        ),
    }
}

/// The listeners' certificate and key load as `serve` would load them.
fn tls(settings: &Settings) -> Option<Finding> {
    let files = settings.tls.as_ref()?;
    Some(match crate::tls::Certificates::load(files) {
        Ok(_) => Finding::ok("TLS", format!("the certificate {} and its key load", files.cert.display())),
        Err(e) => Finding::problem(
            "TLS",
            format!("{e:#}"),
            "point SMARTAUTH_TLS_CERT at the PEM chain and SMARTAUTH_TLS_KEY at its own private key",
        ),
    })
}

async fn sms(settings: &Settings) -> Finding {
    let Some(url) = &settings.sms_gateway_url else {
        return Finding::note("SMS gateway", "SMARTAUTH_SMS_GATEWAY_URL is not set: sms_authentication is not offered");
    };
    let shown = shown_url(url);
    let client = match SmsClient::new(url, settings.sms_timeout) {
        Ok(client) => client,
        Err(e) => return Finding::problem("SMS gateway", format!("{e:#}"), "correct SMARTAUTH_SMS_GATEWAY_URL"),
    };
    match tokio::time::timeout(PROBE_TIMEOUT, client.probe()).await {
        Ok(Ok(())) => Finding::ok("SMS gateway", format!("{shown} answers")),
        Ok(Err(e)) => Finding::problem(
            "SMS gateway",
            format!("{shown} is not reachable: {e:#}"),
            "start the gateway, or correct SMARTAUTH_SMS_GATEWAY_URL (or unset it: SMS codes are then not offered)",
        ),
        Err(_) => Finding::problem(
            "SMS gateway",
            format!("{shown} did not answer within {} s", PROBE_TIMEOUT.as_secs()),
            "check that the gateway runs and that a firewall lets this host reach it, or correct SMARTAUTH_SMS_GATEWAY_URL",
        ),
    }
}
