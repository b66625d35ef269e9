//! What an operator watches: `/metrics` as a dashboard reads it, and the access log.
//!
//! Metrics are process-wide, and the tests of this binary run in parallel in one process. The tests
//! that count exactly run the real binary, a process of their own; the others assert on what holds
//! whatever the other tests did (every metric has help) or on counts that can only grow.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::helpers::*;

const LISBON: (f64, f64) = (38.7223, -9.1393);

/// One scrape of `/metrics`, read as a dashboard reads it.
struct Scrape(String);

impl Scrape {
    async fn of(app: &TestApp) -> Scrape {
        let a = app.call(reqwest::Method::GET, "/metrics", None, None).await;
        assert_eq!(a.status, StatusCode::OK);
        Scrape(a.body.as_str().expect("metrics are text").to_owned())
    }

    /// The samples of `name` (counters and gauges; `name_count` for a histogram's count) with their labels.
    fn samples(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let mut found = Vec::new();
        for line in self.0.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (series, value) = line.rsplit_once(' ').expect("a sample is a series and a value");
            let (metric, labels) = match series.split_once('{') {
                Some((metric, labels)) => (metric, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                continue;
            }
            let labels = labels
                .split("\",")
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').expect("a label is key=\"value\"");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            found.push((labels, value.parse().expect("a sample's value is a number")));
        }
        found
    }

    /// The sum of `name` over the series that carry every label in `labels` (0 when there is none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name)
            .into_iter()
            .filter(|(have, _)| labels.iter().all(|(k, v)| have.get(*k).map(String::as_str) == Some(*v)))
            .map(|(_, value)| value)
            .sum()
    }

    /// The names of every metric the scrape declares (`# TYPE name kind`).
    fn typed(&self) -> Vec<String> {
        self.0.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap().into()).collect()
    }
}

/// How much each series moved between two scrapes.
fn moved(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

/// The real binary with the test's SMTP and SMS sinks, as a [`TestApp`], in a process of its own (its
/// metrics count this test's requests only); with `logs`, every stderr line as JSON.
async fn spawn_binary(logs: Option<Arc<Mutex<Vec<Value>>>>) -> (TestApp, Child) {
    let data_dir = tempfile::tempdir().unwrap();
    let (mail, smtp_addr) = MailSink::start().await;
    let (sms, sms_addr) = SmsSink::start().await;
    let mut command = crate::cli::command(data_dir.path());
    command
        .arg("serve")
        .env("SMARTAUTH_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SMARTAUTH_SMTP_URL", format!("smtp://{smtp_addr}"))
        .env("SMARTAUTH_SMS_GATEWAY_URL", format!("http://{sms_addr}/send"))
        .env("SMARTAUTH_INTEL_DIR", intel_dir())
        .env("SMARTAUTH_LOG_FORMAT", "json")
        // The default log levels: the access log is at info.
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    // Read stderr all along: a full pipe would stop the server.
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            if let Some(logs) = &logs {
                let entry = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
                logs.lock().unwrap().push(entry);
            }
        }
    });
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Some(rest) = line.strip_prefix("smartauth: listening on ") {
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .expect("the server starts within a minute")
    .expect("the server says where it listens");
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (TestApp { address, http: reqwest::Client::new(), data_dir, mail, sms }, child)
}

async fn identity_without_contacts(app: &TestApp, tenant: &Tenant, person: &str) {
    let r = app.post("/identities", &backend(tenant), json!({"personId": person, "name": "Bia"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn send(app: &TestApp, tenant: &Tenant, person: &str, id: &str, method: &str) -> Answer {
    app.post(&format!("/authentications/{id}/methods/{method}/send"), &sdk(tenant, person), json!({})).await
}

async fn verify(app: &TestApp, tenant: &Tenant, person: &str, id: &str, method: &str, code: &str) -> Answer {
    app.post(&format!("/authentications/{id}/methods/{method}/verify"), &sdk(tenant, person), json!({"code": code}))
        .await
}

fn wrong(code: &str) -> String {
    code.chars().map(|c| if c == '9' { '0' } else { char::from(c as u8 + 1) }).collect()
}

async fn pending(app: &TestApp, tenant: &Tenant, person: &str, fingerprint: &str) -> String {
    let a = app.attempt(tenant, person, fingerprint, SAO_PAULO).await;
    assert_eq!(a.body["status"], "pending", "{:?}", a.body);
    a.body["attemptId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_attempt_is_counted_once_by_its_final_outcome_and_deciding_reason() {
    let (app, _server) = spawn_binary(None).await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({"reauthenticationMethods": ["sms_authentication"]})).await;
    for person in ["ana", "caio"] {
        app.create_identity(&tenant, person).await;
    }
    identity_without_contacts(&app, &tenant, "bia").await;
    let before = Scrape::of(&app).await;

    // A new device steps up by SMS: a wrong code, then the right one.
    let id = pending(&app, &tenant, "ana", "laptop").await;
    assert_eq!(send(&app, &tenant, "ana", &id, "sms_authentication").await.status, StatusCode::OK);
    let code = app.last_sms_code(8);
    let refused = verify(&app, &tenant, "ana", &id, "sms_authentication", &wrong(&code)).await;
    assert_eq!(refused.body["refusalReason"], "invalid_code");
    let approved = verify(&app, &tenant, "ana", &id, "sms_authentication", &code).await;
    assert_eq!(approved.body["status"], "approved", "{:?}", approved.body);
    // The same device and place again: approved with no code.
    let again = app.attempt(&tenant, "ana", "laptop", SAO_PAULO).await;
    assert_eq!(again.body["status"], "approved", "{:?}", again.body);
    // No step-up method can reach a person without a phone: refused at once.
    let refused = app.attempt(&tenant, "bia", "tablet", SAO_PAULO).await;
    assert_eq!((refused.body["status"].as_str(), refused.body["isBlocked"].as_bool()), (Some("reproved"), Some(false)));
    // Every try of the only method is wrong.
    let id = pending(&app, &tenant, "caio", "phone").await;
    send(&app, &tenant, "caio", &id, "sms_authentication").await;
    let code = app.last_sms_code(8);
    for _ in 0..3 {
        verify(&app, &tenant, "caio", &id, "sms_authentication", &wrong(&code)).await;
    }
    assert_eq!(app.get(&format!("/authentications/{id}"), &backend(&tenant)).await.body["status"], "reproved");
    // A blocked country: no step-up can lift it.
    app.put_policy(&tenant, "pix", json!({"contexts": {"location_context": {"blockedCountries": ["PT"]}}})).await;
    let blocked = app.attempt(&tenant, "ana", "laptop", LISBON).await;
    assert_eq!(blocked.body["isBlocked"], true, "{:?}", blocked.body);
    let after = Scrape::of(&app).await;

    let decided = |outcome: &str, reason: &str| {
        moved(&before, &after, "smartauth_attempts_decided_total", &[("outcome", outcome), ("reason", reason)])
    };
    assert_eq!(decided("approved_step_up", "sms_authentication"), 1.0);
    assert_eq!(decided("approved_passive", "KNOWN_DEVICE"), 1.0);
    assert_eq!(decided("reproved", "NEW_DEVICE"), 1.0);
    assert_eq!(decided("reproved", "METHODS_EXHAUSTED"), 1.0);
    assert_eq!(decided("blocked", "BLOCKED_COUNTRY"), 1.0);
    assert_eq!(moved(&before, &after, "smartauth_attempts_decided_total", &[]), 5.0, "each attempt once:\n{}", after.0);
    // The decision at creation counts the two that waited for a step-up as pending.
    assert_eq!(moved(&before, &after, "smartauth_decisions_total", &[("status", "pending")]), 2.0);
    assert_eq!(moved(&before, &after, "smartauth_decisions_total", &[]), 5.0);
}

#[tokio::test]
async fn code_refusals_are_counted_by_cause_and_failed_sends_by_channel() {
    let (app, _server) = spawn_binary(None).await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({})).await;
    for person in ["dora", "edu"] {
        app.create_identity(&tenant, person).await;
    }
    let before = Scrape::of(&app).await;

    let id = pending(&app, &tenant, "dora", "laptop").await;
    assert_eq!(send(&app, &tenant, "dora", &id, "sms_authentication").await.status, StatusCode::OK);
    let code = app.last_sms_code(8);
    for _ in 0..2 {
        let v = verify(&app, &tenant, "dora", &id, "sms_authentication", &wrong(&code)).await;
        assert_eq!(v.body["refusalReason"], "invalid_code", "{:?}", v.body);
    }
    // The code's expiry moved into the past, as if its TTL had run out.
    let expire = "UPDATE attempts SET document = \
                  json_set(document, '$.methods.sms_authentication.challenge.expiresAt', 0) WHERE id = ";
    assert_eq!(app.sql(&format!("{expire}'{id}'")).await, 1);
    let v = verify(&app, &tenant, "dora", &id, "sms_authentication", &code).await;
    assert_eq!(v.body["refusalReason"], "expired_code", "{:?}", v.body);
    // SMS has no tries left; email is still offered, so the attempt waits.
    let v = verify(&app, &tenant, "dora", &id, "sms_authentication", &code).await;
    assert_eq!(
        (v.body["refusalReason"].as_str(), v.body["status"].as_str()),
        (Some("max_attempts_exceeded"), Some("pending"))
    );

    *app.sms.failing.lock().unwrap() = true;
    let id = pending(&app, &tenant, "edu", "laptop").await;
    assert_eq!(send(&app, &tenant, "edu", &id, "sms_authentication").await.status, StatusCode::BAD_GATEWAY);
    let after = Scrape::of(&app).await;

    let refusals = |channel: &str, cause: &str| {
        moved(&before, &after, "smartauth_code_refusals_total", &[("channel", channel), ("cause", cause)])
    };
    assert_eq!(refusals("sms", "expired"), 1.0);
    assert_eq!(refusals("sms", "wrong"), 2.0);
    assert_eq!(refusals("sms", "closed"), 1.0);
    assert_eq!(refusals("email", "wrong"), 0.0);
    assert_eq!(after.value("smartauth_code_refusals_total", &[("channel", "email"), ("cause", "closed")]), 0.0);
    assert_eq!(moved(&before, &after, "smartauth_codes_sent_total", &[("channel", "sms")]), 1.0);
    assert_eq!(moved(&before, &after, "smartauth_code_delivery_failures_total", &[("channel", "sms")]), 1.0);
    assert_eq!(moved(&before, &after, "smartauth_code_delivery_failures_total", &[("channel", "email")]), 0.0);
    let checked = |approved: &str| {
        moved(&before, &after, "smartauth_code_verifications_total", &[("channel", "sms"), ("approved", approved)])
    };
    assert_eq!((checked("false"), checked("true")), (3.0, 0.0), "a closed method compares no code");
}

#[tokio::test]
async fn every_exported_metric_has_help_and_is_listed_in_the_readme() {
    let app = spawn_app().await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.approve_by_email(&tenant, PERSON, "laptop", SAO_PAULO).await;
    let scrape = Scrape::of(&app).await;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let names = scrape.typed();
    for expected in [
        "smartauth_http_requests_total",
        "smartauth_attempts_decided_total",
        "smartauth_code_refusals_total",
        "smartauth_code_delivery_failures_total",
        "smartauth_face_queue_depth",
        "smartauth_data_set_age_seconds",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} is not exported:\n{}", scrape.0);
    }
    for name in &names {
        let help = format!("# HELP {name} ");
        assert!(scrape.0.lines().any(|l| l.starts_with(&help) && l.len() > help.len() + 10), "{name} has no help");
        assert!(readme.contains(&format!("| `{name}` |")), "{name} is not in the README's metrics table");
    }
}

#[tokio::test]
async fn face_analysis_is_timed_by_stage() {
    let app = spawn_app().await;
    let tenant = app.new_tenant().await;
    let before = Scrape::of(&app).await;
    let image = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/test-fixtures/faces/fr_obama.jpg"))
        .expect("run bash scripts/fetch-data.sh --test-fixtures");
    let enrol = json!({"personId": PERSON, "name": "John Doe", "image": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, image)});
    let r = app.post("/identities", &backend(&tenant), enrol).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let after = Scrape::of(&app).await;
    for stage in ["decode", "detect", "quality", "embed", "liveness"] {
        let timed = moved(&before, &after, "smartauth_face_stage_seconds_count", &[("stage", stage)]);
        assert!(timed >= 1.0, "the {stage} stage was not timed");
        assert!(after.value("smartauth_face_stage_seconds_sum", &[("stage", stage)]) > 0.0);
    }
    // Nothing waits once the enrolment has its answer (other tests' selfies may, for a moment).
    assert!(after.value("smartauth_face_queue_depth", &[]) >= 0.0);
    assert!(after.0.contains("# HELP smartauth_face_queue_depth "));
}

#[tokio::test]
async fn each_data_sets_age_is_its_date_in_ready_as_of_the_scrape() {
    let app = spawn_app().await;
    let ready = app.call(reqwest::Method::GET, "/ready", None, None).await;
    let scrape = Scrape::of(&app).await;
    let now = chrono::Utc::now();
    let mut dated = 0;
    for set in ready.body["dataSets"].as_array().unwrap() {
        let name = set["name"].as_str().unwrap();
        let age = scrape.samples("smartauth_data_set_age_seconds").into_iter().find(|(l, _)| l["data_set"] == name);
        let Some(date) = set["date"].as_str().filter(|_| set["loaded"] == true) else {
            assert!(age.is_none(), "{name} has no date, so no age");
            continue;
        };
        dated += 1;
        let day = chrono::NaiveDate::parse_from_str(&date[..10], "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap();
        let expected = (now - day.and_utc()).num_seconds().max(0) as f64;
        let (_, age) = age.unwrap_or_else(|| panic!("{name} has no age:\n{}", scrape.0));
        assert!((age - expected).abs() < 120.0, "{name}: {age} s, expected about {expected} s");
    }
    assert!(dated >= 3, "the fetched data sets carry their dates");
}

#[tokio::test]
async fn the_access_log_names_route_status_latency_and_client_and_no_secret() {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (app, _server) = spawn_binary(Some(logs.clone())).await;
    let tenant = app.new_tenant().await;
    app.put_policy(&tenant, "pix", json!({"reauthenticationMethods": ["sms_authentication"]})).await;
    app.create_identity(&tenant, PERSON).await;
    let id = pending(&app, &tenant, PERSON, "laptop").await;
    send(&app, &tenant, PERSON, &id, "sms_authentication").await;
    let code = app.last_sms_code(8);
    let sdk_token = sdk(&tenant, PERSON);
    let verified = app
        .post(&format!("/authentications/{id}/methods/sms_authentication/verify"), &sdk_token, json!({"code": code}))
        .await;
    assert_eq!(verified.body["status"], "approved", "{:?}", verified.body);
    let request_id = verified.headers["x-request-id"].to_str().unwrap().to_owned();
    let read = app.get(&format!("/identities/{PERSON_DIGITS}"), &backend(&tenant)).await;
    assert_eq!(read.status, StatusCode::OK);
    let refused = app.get("/policies", "not-a-token").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let refused_id = refused.headers["x-request-id"].to_str().unwrap().to_owned();

    let line = served(&logs, &request_id).await.expect("the verification has an access log line");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "/authentications/{attempt_id}/methods/{method}/verify");
    assert_eq!(line["status"], 200);
    assert!(line["latency_us"].as_u64().is_some_and(|us| us > 0), "{line}");
    assert_eq!(line["client_id"], tenant.client_id.as_str());
    let read_id = read.headers["x-request-id"].to_str().unwrap().to_owned();
    let line = served(&logs, &read_id).await.expect("the read has an access log line");
    assert_eq!(line["route"], "/identities/{person_id}", "the template, not the path");
    let line = served(&logs, &refused_id).await.expect("a refused call has an access log line");
    assert_eq!((line["status"].as_u64(), line.get("client_id")), (Some(401), None));

    let all = logs.lock().unwrap().iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    // Every JWT starts with the base64 of `{"`.
    for secret in ["eyJ", code.as_str(), ADMIN_TOKEN, tenant.secret.as_str()] {
        assert!(!all.contains(secret), "{secret} is in the log:\n{all}");
    }
    for personal in ["5521982895497", "john@example.com", "John Doe"] {
        assert!(!all.contains(personal), "{personal} is in the log:\n{all}");
    }
}

/// The access log line of a request, once the server has written it.
async fn served(logs: &Mutex<Vec<Value>>, request_id: &str) -> Option<Value> {
    for _ in 0..100 {
        let found =
            logs.lock().unwrap().iter().find(|e| e["message"] == "served" && e["request_id"] == request_id).cloned();
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
