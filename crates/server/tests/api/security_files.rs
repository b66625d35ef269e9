//! The operator's traps (issue 8), driven through the real binary: the store is private to its
//! owner, a wrong master key or a mistyped data dir is refused with its reason, and the operator's
//! endpoints can leave the API port.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::{command, text};
use crate::helpers::{backend, Tenant};

/// Two valid master keys (base64 of 32 bytes).
const KEY_A: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_B: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn beside(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Starts `serve` and returns it with its API address and, when it prints one, its admin address.
async fn serve(mut command: tokio::process::Command) -> (tokio::process::Child, String, Option<String>) {
    let mut child = command.arg("serve").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut admin = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.strip_prefix("smartauth: admin endpoints (/admin/*, /metrics, /ready) on ") {
            admin = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("smartauth: listening on ") {
            return (child, rest.split_whitespace().next().unwrap().to_owned(), admin);
        }
    }
    panic!("the server did not start");
}

async fn create_client(http: &reqwest::Client, admin: &str) -> Tenant {
    let made = http
        .post(format!("{admin}/admin/clients"))
        .bearer_auth("operator")
        .json(&json!({"name": "bank"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    let made: Value = made.json().await.unwrap();
    Tenant {
        client_id: made["clientId"].as_str().unwrap().into(),
        secret: made["clientSecret"].as_str().unwrap().into(),
    }
}

#[tokio::test]
async fn the_data_dir_database_wal_shm_and_backups_are_readable_by_their_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (mut server, address, _) = serve({
        let mut c = command(&data);
        c.env("SMARTAUTH_ADMIN_TOKEN", "operator");
        c
    })
    .await;
    // A write, so that the WAL and its index exist while the server runs.
    create_client(&reqwest::Client::new(), &address).await;
    let db = data.join("smartauth.db");
    assert_eq!(mode(&data), 0o700, "the data dir");
    assert_eq!(mode(&db), 0o600, "the database");
    assert_eq!(mode(&beside(&db, "-wal")), 0o600, "the WAL");
    assert_eq!(mode(&beside(&db, "-shm")), 0o600, "the WAL index");
    assert_eq!(mode(&data.join("master.key")), 0o600, "the master key");

    let copy = root.path().join("smartauth-backup.db");
    let out = command(&data).arg("backup").arg(&copy).output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode(&copy), 0o600, "the backup holds the same personal data");
    server.kill().await.unwrap();
}

#[tokio::test]
async fn a_store_others_can_read_is_named_by_check_and_warned_about_at_start() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let out = command(&data).arg("init").output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let db = data.join("smartauth.db");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = command(&data).arg("check").output().await.unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("PROBLEM permissions: {} can be read by other users (mode 644)", db.display())),
        "{said}"
    );
    assert!(said.contains(&format!("fix: chmod 600 {}", db.display())), "{said}");
    assert!(said.contains(&format!("note    permissions: {} can be read by other users (mode 755)", data.display())));
    assert!(said.contains(&format!("chmod 700 {}", data.display())), "{said}");

    // `serve` still starts, and says so in its log.
    let mut child = command(&data).arg("serve").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let warned = tokio::time::timeout(Duration::from_secs(60), async {
        let mut warned = (false, false);
        while let Ok(Some(line)) = stderr.next_line().await {
            if line.contains("other users can read") {
                warned.0 |= line.contains(&format!("chmod 600 {}", db.display()));
                warned.1 |= line.contains(&format!("chmod 700 {}", data.display()));
            }
            if warned == (true, true) {
                break;
            }
        }
        warned
    })
    .await
    .expect("the warnings are logged at start");
    assert_eq!(warned, (true, true), "the database and the data dir are both named");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn a_wrong_master_key_is_refused_by_every_command_with_its_reason() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let with_key = |key: &str| {
        let mut c = command(&data);
        c.env("SMARTAUTH_MASTER_KEY", key);
        c
    };
    assert!(with_key(KEY_A).arg("init").output().await.unwrap().status.success());
    let out = with_key(KEY_A).args(["clients", "create", "--name", "bank"]).output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let out = with_key(KEY_B).args(["clients", "create", "--name", "other"]).output().await.unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "a client sealed with the wrong key would answer 500 on every call: {said}");
    assert!(said.contains("wrong master key"), "{said}");
    assert!(said.contains("SMARTAUTH_MASTER_KEY is not the one the database"), "{said}");
    let list = with_key(KEY_A).args(["clients", "list", "--json"]).output().await.unwrap();
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "nothing was created: {list}");

    let out = tokio::time::timeout(Duration::from_secs(60), with_key(KEY_B).arg("serve").kill_on_drop(true).output())
        .await
        .expect("serve stops at once")
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("wrong master key"), "{}", text(&out));

    let copy = root.path().join("backup.db");
    let out = with_key(KEY_B).arg("backup").arg(&copy).output().await.unwrap();
    assert!(!out.status.success() && text(&out).contains("wrong master key"), "{}", text(&out));
    assert!(!copy.exists());

    let out = with_key(KEY_B).arg("check").output().await.unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("PROBLEM master key: the key from SMARTAUTH_MASTER_KEY is not the one"), "{said}");

    // Without the key at all (it was only ever in the environment), nothing runs, and no new key is made.
    let out = command(&data).args(["clients", "list"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("is missing, but the database"), "{}", text(&out));
    let out = tokio::time::timeout(Duration::from_secs(60), command(&data).arg("serve").kill_on_drop(true).output())
        .await
        .expect("serve stops at once")
        .unwrap();
    assert!(!out.status.success() && text(&out).contains("is missing"), "{}", text(&out));
    assert!(!data.join("master.key").exists());
}

#[tokio::test]
async fn a_database_from_before_the_key_check_takes_the_key_that_opens_its_secrets() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let with_key = |key: &str| {
        let mut c = command(&data);
        c.env("SMARTAUTH_MASTER_KEY", key);
        c
    };
    assert!(with_key(KEY_A).args(["init"]).output().await.unwrap().status.success());
    assert!(with_key(KEY_A).args(["clients", "create", "--name", "bank"]).output().await.unwrap().status.success());
    let url = format!("sqlite://{}", data.join("smartauth.db").display());
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM key_check").execute(&mut db).await.unwrap();

    let out = with_key(KEY_B).args(["clients", "list"]).output().await.unwrap();
    assert!(!out.status.success(), "B opens none of the secrets: {}", text(&out));
    assert!(text(&out).contains("wrong master key"), "{}", text(&out));
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM key_check").fetch_one(&mut db).await.unwrap();
    assert_eq!(recorded, 0, "a refused key is not recorded");

    let out = with_key(KEY_A).args(["clients", "list"]).output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM key_check").fetch_one(&mut db).await.unwrap();
    assert_eq!(recorded, 1, "the key in use is recorded on first open");
}

#[tokio::test]
async fn a_mistyped_data_dir_is_refused_and_nothing_is_created() {
    let root = tempfile::tempdir().unwrap();
    let mistyped = root.path().join("dtaa");
    for args in [&["clients", "list"][..], &["clients", "create", "--name", "bank"]] {
        let out = command(&mistyped).args(args).output().await.unwrap();
        let said = text(&out);
        assert!(!out.status.success(), "{args:?}: {said}");
        assert!(said.contains(&format!("the data dir {} does not exist", mistyped.display())), "{said}");
        assert!(said.contains("SMARTAUTH_DATA_DIR") && said.contains("smartauth init"), "{said}");
        assert!(!mistyped.exists(), "{args:?} created the data dir");
    }

    // A directory that exists but holds no database (a parent of the data dir, say) is no store either.
    let out = command(root.path()).args(["clients", "list"]).output().await.unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("there is no database at"), "{said}");
    let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing is created: {left:?}");

    // `init` creates it, and then the commands work.
    assert!(command(&mistyped).arg("init").output().await.unwrap().status.success());
    let out = command(&mistyped).args(["clients", "list"]).output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn with_an_admin_listener_the_operator_endpoints_leave_the_api_port() {
    let root = tempfile::tempdir().unwrap();
    let (mut server, api, admin) = serve({
        let mut c = command(&root.path().join("data"));
        c.env("SMARTAUTH_ADMIN_TOKEN", "operator").env("SMARTAUTH_ADMIN_LISTEN", "127.0.0.1:0");
        c
    })
    .await;
    let admin = admin.expect("the admin address is printed");
    assert_ne!(admin, api);
    let http = reqwest::Client::new();

    let tenant = create_client(&http, &admin).await;
    let listed = http.get(format!("{admin}/admin/clients")).bearer_auth("operator").send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let ready = http.get(format!("{admin}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
    let metrics = http.get(format!("{admin}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().await.unwrap().contains("smartauth_http_requests_total"));
    assert_eq!(http.get(format!("{admin}/health")).send().await.unwrap().status(), StatusCode::OK);

    for path in ["/ready", "/metrics", "/admin/clients"] {
        let answer = http.get(format!("{api}{path}")).bearer_auth("operator").send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path} on the API port");
    }
    let made = http
        .post(format!("{api}/admin/clients"))
        .bearer_auth("operator")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::NOT_FOUND);
    assert_eq!(http.get(format!("{api}/health")).send().await.unwrap().status(), StatusCode::OK);
    let policies = http.get(format!("{api}/policies")).bearer_auth(backend(&tenant)).send().await.unwrap();
    assert_eq!(policies.status(), StatusCode::OK, "the API itself still answers");

    let pid = server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait()).await.expect("stops promptly").unwrap();
    assert!(status.success(), "both ports shut down gracefully: {status}");
}
