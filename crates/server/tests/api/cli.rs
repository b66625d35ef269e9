//! The real binary, as an operator runs it.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_smartauth");

pub(crate) fn command(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().env("SMARTAUTH_DATA_DIR", data_dir).env("SMARTAUTH_LISTEN", "127.0.0.1:0").env("RUST_LOG", "warn");
    c
}

#[tokio::test]
async fn clients_create_json_prints_only_the_credentials() {
    let dir = tempfile::tempdir().unwrap();
    assert!(command(dir.path()).arg("init").output().await.unwrap().status.success());
    let out = command(dir.path()).args(["clients", "create", "--name", "acme", "--json"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document");
    let keys: Vec<_> = created.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, vec!["clientId", "clientSecret"]);
    let list = command(dir.path()).args(["clients", "list", "--json"]).output().await.unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(created["clientSecret"].as_str().unwrap()),
        "secrets are never listed"
    );
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["clientId"], created["clientId"]);
    // Without --json: a header, then one line a client, in columns.
    let table = command(dir.path()).args(["clients", "list"]).output().await.unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("CLIENT ID") && lines[0].contains("NAME"), "{table}");
    assert!(lines[1].starts_with(created["clientId"].as_str().unwrap()) && lines[1].contains("acme"), "{table}");
    assert_eq!(lines[0].find("NAME"), lines[1].find("acme"), "the name under its header: {table}");

    let id = created["clientId"].as_str().unwrap();
    let rotated = command(dir.path()).args(["clients", "rotate-secret", id, "--json"]).output().await.unwrap();
    let rotated: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert_ne!(rotated["clientSecret"], created["clientSecret"]);
    assert!(command(dir.path()).args(["clients", "disable", id]).output().await.unwrap().status.success());
    let missing = command(dir.path()).args(["clients", "disable", "0123456789abcdef01234567"]).output().await.unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no client"));
}

#[tokio::test]
async fn serve_prints_the_admin_token_once_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path()).arg("serve").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut token, mut address) = (None, None);
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(t) = line.trim().strip_prefix("SMARTAUTH_ADMIN_TOKEN=") {
            token = Some(t.to_owned());
        }
        if let Some(rest) = line.strip_prefix("smartauth: listening on ") {
            address = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let (token, address) = (token.expect("the admin token is printed"), address.expect("the address is printed"));
    let http = reqwest::Client::new();
    assert!(http.get(format!("{address}/health")).send().await.unwrap().status().is_success());
    let made = http
        .post(format!("{address}/admin/clients"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("stops promptly").unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status}");

    // A restart keeps the token (only its hash is stored) and does not print a new one.
    let mut child = command(dir.path()).arg("serve").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    while let Ok(Some(line)) = lines.next_line().await {
        assert!(!line.contains("SMARTAUTH_ADMIN_TOKEN="), "a token is printed only on first start");
        if let Some(rest) = line.strip_prefix("smartauth: listening on ") {
            address = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let list = http.get(format!("{}/admin/clients", address.unwrap())).bearer_auth(&token).send().await.unwrap();
    assert!(list.status().is_success());
    child.kill().await.unwrap();
    let stored = std::fs::read_to_string(dir.path().join("admin-token.sha256")).unwrap();
    assert!(!stored.contains(&token));
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_carrying_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .arg("serve")
        .env("SMARTAUTH_LOG_FORMAT", "json")
        .env("SMARTAUTH_ADMIN_TOKEN", "operator-token")
        .env("RUST_LOG", "smartauth=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let address = listening_address(&mut child).await;
    let response = reqwest::get(format!("{}/health", address.unwrap())).await.unwrap();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = stderr.next_line().await {
            let entry: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
            if entry["message"] == "served" {
                return entry;
            }
        }
        panic!("no log line for the request");
    })
    .await
    .expect("the request is logged");
    child.kill().await.unwrap();
    assert_eq!(found["request_id"], request_id.as_str());
    assert_eq!(found["route"], "/health");
    assert_eq!(found["status"], 200);
    assert!(!found.to_string().contains("operator-token"));
}

/// The repository's data sets and face models (`scripts/fetch-data.sh` installs them).
fn installed(dir: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data").join(dir)
}

/// Output of a finished command, as the operator reads it.
pub(crate) fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Starts `serve` and returns it with its address once it listens.
async fn serve(mut command: Command) -> (tokio::process::Child, String) {
    let mut child = command.arg("serve").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let address = listening_address(&mut child).await.expect("the server did not start");
    (child, address)
}

/// A client created through the admin API of a server started with the admin token `operator`.
async fn new_client(http: &reqwest::Client, address: &str) -> crate::helpers::Tenant {
    let created: Value = http
        .post(format!("{address}/admin/clients"))
        .bearer_auth("operator")
        .json(&serde_json::json!({"name": "bank"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    crate::helpers::Tenant {
        client_id: created["clientId"].as_str().unwrap().to_owned(),
        secret: created["clientSecret"].as_str().unwrap().to_owned(),
    }
}

/// Reads the server's stdout until it says where it listens.
async fn listening_address(child: &mut tokio::process::Child) -> Option<String> {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.strip_prefix("smartauth: listening on ") {
            return rest.split_whitespace().next().map(str::to_owned);
        }
    }
    None
}

#[tokio::test]
async fn serve_help_lists_every_setting_with_its_default_and_meaning() {
    let out = Command::new(BIN).args(["serve", "--help"]).output().await.unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for setting in smartauth::configuration::SETTINGS {
        assert!(help.contains(setting.name), "{} is missing from serve --help:\n{help}", setting.name);
        assert!(help.contains(&format!("[default: {}]", setting.default)), "{}'s default is missing", setting.name);
        assert!(help.contains(setting.meaning), "{}'s meaning is missing", setting.name);
    }
    assert!(help.contains("SMARTAUTH_DATA_DIR") && help.contains("[default: ./data]"), "{help}");
}

#[tokio::test]
async fn check_names_a_missing_data_dir_with_its_fix_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let out = command(&missing).arg("check").output().await.unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("PROBLEM data dir: {} does not exist", missing.display())), "{said}");
    assert!(
        said.contains("SMARTAUTH_DATA_DIR has a typo")
            && said.contains("run `smartauth init` (or `smartauth serve` once)"),
        "{said}"
    );
    assert!(said.contains("check found"), "{said}");
    assert!(!missing.exists(), "check changes nothing");
}

#[tokio::test]
async fn check_passes_on_a_working_configuration_and_names_an_unreachable_sms_gateway() {
    let dir = tempfile::tempdir().unwrap();
    // `init` creates the database and the master key, as `serve` would.
    assert!(command(dir.path()).arg("init").output().await.unwrap().status.success());
    assert!(command(dir.path()).args(["clients", "create", "--name", "acme"]).output().await.unwrap().status.success());
    let (_mail, smtp) = crate::helpers::MailSink::start().await;
    let (_sms, gateway) = crate::helpers::SmsSink::start().await;
    let configured = |sms_url: String| {
        let mut c = command(dir.path());
        c.arg("check")
            .env("SMARTAUTH_INTEL_DIR", installed("intel"))
            .env("SMARTAUTH_MODELS_DIR", installed("models"))
            .env("SMARTAUTH_SMTP_URL", format!("smtp://{smtp}"))
            .env("SMARTAUTH_SMS_GATEWAY_URL", sms_url);
        c
    };

    let out = configured(format!("http://{gateway}/send")).output().await.unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for subject in
        ["data dir", "master key", "database", "data sets", "face models", "email", "SMS gateway", "webhooks"]
    {
        assert!(said.contains(&format!("ok      {subject}: ")), "{subject} is not ok:\n{said}");
    }
    assert!(!said.contains("PROBLEM"), "{said}");
    // A process that does not deliver webhooks is told that another one must.
    let out =
        configured(format!("http://{gateway}/send")).env("SMARTAUTH_WEBHOOK_DISPATCH", "false").output().await.unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("note    webhooks: SMARTAUTH_WEBHOOK_DISPATCH=false"), "{said}");
    assert!(said.contains("must run with SMARTAUTH_WEBHOOK_DISPATCH=true"), "{said}");

    // Nothing listens on this port any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let out = configured(format!("http://user:secret@{closed}/send?key=k")).output().await.unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("PROBLEM SMS gateway: http://{closed}/send is not reachable")), "{said}");
    assert!(said.contains("fix: start the gateway, or correct SMARTAUTH_SMS_GATEWAY_URL"), "{said}");
    assert!(!said.contains("secret") && !said.contains("key=k"), "credentials are not printed: {said}");
    assert_eq!(said.matches("PROBLEM").count(), 1, "only the gateway is wrong: {said}");
}

#[tokio::test]
async fn check_refuses_a_master_key_that_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    assert!(command(dir.path()).arg("init").output().await.unwrap().status.success());
    let key = dir.path().join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = command(dir.path()).arg("check").output().await.unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("can be read by other users (mode 644)"), "{said}");
    assert!(said.contains(&format!("fix: chmod 600 {}", key.display())), "{said}");
}

#[tokio::test]
async fn backup_while_serving_is_a_database_with_the_identities_that_restores_with_the_master_key() {
    use crate::helpers::backend;
    let dir = tempfile::tempdir().unwrap();
    let (mut server, address) = serve({
        let mut c = command(dir.path());
        c.env("SMARTAUTH_ADMIN_TOKEN", "operator");
        c
    })
    .await;
    let http = reqwest::Client::new();
    let tenant = new_client(&http, &address).await;
    let made = http
        .post(format!("{address}/identities"))
        .bearer_auth(backend(&tenant))
        .json(&serde_json::json!({"personId": "952.360.980-76", "name": "John Doe"}))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());

    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("smartauth-backup.db");
    let out = command(dir.path()).arg("backup").arg(&copy).output().await.unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("backed up") && said.contains("master.key"), "the key is named: {said}");
    assert!(http.get(format!("{address}/health")).send().await.unwrap().status().is_success(), "still serving");

    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&copy).read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let people: Vec<String> = sqlx::query_scalar("SELECT person_id FROM identities").fetch_all(&pool).await.unwrap();
    assert_eq!(people, vec!["95236098076"]);
    pool.close().await;

    let again = command(dir.path()).arg("backup").arg(&copy).output().await.unwrap();
    assert!(!again.status.success());
    assert!(text(&again).contains("exists"), "{}", text(&again));
    server.kill().await.unwrap();

    // Restored elsewhere with its master key, the tenant's tokens and the identity work.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored.path().join("smartauth.db")).unwrap();
    std::fs::copy(dir.path().join("master.key"), restored.path().join("master.key")).unwrap();
    // The README's restore: check, then serve.
    let checked = command(restored.path())
        .arg("check")
        .env("SMARTAUTH_INTEL_DIR", installed("intel"))
        .env("SMARTAUTH_MODELS_DIR", installed("models"))
        .output()
        .await
        .unwrap();
    assert!(checked.status.success(), "a restored backup passes check: {}", text(&checked));
    let (mut server, address) = serve({
        let mut c = command(restored.path());
        c.env("SMARTAUTH_ADMIN_TOKEN", "operator");
        c
    })
    .await;
    let read =
        http.get(format!("{address}/identities/95236098076")).bearer_auth(backend(&tenant)).send().await.unwrap();
    assert_eq!(read.status(), reqwest::StatusCode::OK);
    server.kill().await.unwrap();
}

/// Reads the server's JSON log lines until the access log line of one request, and returns them all.
async fn debug_log_lines(rust_log: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .arg("serve")
        .env("SMARTAUTH_LOG_FORMAT", "json")
        .env("SMARTAUTH_MODELS_DIR", installed("models"))
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr all along: a full pipe would stop the server before it listens.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let (found_tx, found_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let mut entries = Vec::new();
        let mut found = Some(found_tx);
        while let Ok(Some(line)) = stderr.next_line().await {
            let entry: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
            let served = entry["message"] == "served";
            entries.push(entry);
            if served {
                if let Some(tx) = found.take() {
                    let _ = tx.send(());
                }
                break;
            }
        }
        entries
    });
    let address = listening_address(&mut child).await;
    reqwest::get(format!("{}/health", address.expect("the server listens"))).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), found_rx).await.expect("the request is logged").unwrap();
    child.kill().await.unwrap();
    reader.await.unwrap()
}

#[tokio::test]
async fn rust_log_debug_shows_the_access_log_without_the_model_runtime() {
    fn from_tract(entries: &[Value]) -> usize {
        entries.iter().filter(|e| e["target"].as_str().is_some_and(|t| t.starts_with("tract"))).count()
    }
    let debug = debug_log_lines("debug").await;
    assert!(debug.iter().any(|e| e["message"] == "face models loaded"), "the models were loaded");
    assert_eq!(from_tract(&debug), 0, "{} lines, none from the model runtime", debug.len());
    assert!(debug.len() < 200, "{} lines before the first request", debug.len());

    // Named, the model runtime speaks again: the recipe in the README works.
    let tract = debug_log_lines("debug,tract=debug").await;
    assert!(from_tract(&tract) > 100, "{} lines from the model runtime", from_tract(&tract));
}

/// A process that does not deliver webhooks still shows the queue in its metrics, so that an operator sees
/// the events waiting (and for how long) when no process on the database delivers them.
#[tokio::test]
async fn a_process_that_does_not_deliver_shows_the_waiting_events_in_its_metrics() {
    use crate::helpers::backend;
    let dir = tempfile::tempdir().unwrap();
    let (mut server, address) = serve({
        let mut c = command(dir.path());
        c.env("SMARTAUTH_ADMIN_TOKEN", "operator")
            .env("SMARTAUTH_WEBHOOK_DISPATCH", "false")
            .env("SMARTAUTH_ALLOW_PRIVATE_TARGETS", "true");
        c
    })
    .await;
    let http = reqwest::Client::new();
    let tenant = new_client(&http, &address).await;
    let token = backend(&tenant);
    let call = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{address}{path}")).bearer_auth(&token).json(&body).send()
    };
    let hook = call(
        reqwest::Method::POST,
        "/webhooks",
        serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["policy.changed"]}),
    )
    .await
    .unwrap();
    assert!(hook.status().is_success(), "{}", hook.text().await.unwrap());
    let policy = call(reqwest::Method::PUT, "/policies/pix", serde_json::json!({"name": "Pix"})).await.unwrap();
    assert!(policy.status().is_success(), "{}", policy.text().await.unwrap());
    let mut scraped = String::new();
    for _ in 0..50 {
        scraped =
            http.get(format!("{address}/metrics")).bearer_auth("operator").send().await.unwrap().text().await.unwrap();
        if scraped.lines().any(|l| l == "smartauth_webhook_queue_depth 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        scraped.lines().any(|l| l == "smartauth_webhook_queue_depth 1"),
        "the policy.changed event waits:\n{scraped}"
    );
    assert!(scraped.contains("smartauth_webhook_oldest_pending_seconds"), "{scraped}");
    server.kill().await.unwrap();
}
