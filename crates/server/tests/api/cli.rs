//! The real binary, as an operator runs it.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_smartauth");

fn command(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().env("SMARTAUTH_DATA_DIR", data_dir).env("SMARTAUTH_LISTEN", "127.0.0.1:0").env("RUST_LOG", "warn");
    c
}

#[tokio::test]
async fn clients_create_json_prints_only_the_credentials() {
    let dir = tempfile::tempdir().unwrap();
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
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    while let Ok(Some(line)) = stdout.next_line().await {
        if let Some(rest) = line.strip_prefix("smartauth: listening on ") {
            address = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
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
