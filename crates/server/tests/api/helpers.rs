//! `spawn_app()`: the real server on a random port with a fresh data dir, a real SMTP listener and a
//! real HTTP SMS gateway, and a client that speaks to it as a tenant would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use smartauth::configuration::{LogFormat, Settings};
use smartauth::startup;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub const ADMIN_TOKEN: &str = "test-admin-token";

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server that accepts every message and keeps it.
#[derive(Clone, Default)]
pub struct MailSink {
    pub received: Arc<Mutex<Vec<Mail>>>,
}

impl MailSink {
    pub async fn start() -> (MailSink, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sink = MailSink::default();
        let store = sink.received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 test-smtp ESMTP\r\n").await.unwrap();
                    let mut to = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-test-smtp\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            to.push(line[8..].trim().trim_matches(|c| c == '<' || c == '>').to_owned());
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            write.write_all(b"354 go ahead\r\n").await.unwrap();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            store.lock().unwrap().push(Mail { to: std::mem::take(&mut to), data });
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 OK\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (sink, addr)
    }
}

/// An HTTP SMS gateway that records what it is asked to send; it can be told to fail, before or
/// after storing the message (a gateway that queues the SMS and then answers an error).
#[derive(Clone, Default)]
pub struct SmsSink {
    pub received: Arc<Mutex<Vec<Value>>>,
    pub failing: Arc<Mutex<bool>>,
    pub failing_after_storing: Arc<Mutex<bool>>,
}

impl SmsSink {
    pub async fn start() -> (SmsSink, SocketAddr) {
        let sink = SmsSink::default();
        let state = sink.clone();
        let app = axum::Router::new().route(
            "/send",
            post(move |axum::Json(body): axum::Json<Value>| {
                let state = state.clone();
                async move {
                    if *state.failing.lock().unwrap() {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    state.received.lock().unwrap().push(body);
                    if *state.failing_after_storing.lock().unwrap() {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    StatusCode::ACCEPTED
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (sink, addr)
    }
}

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub data_dir: TempDir,
    pub mail: MailSink,
    pub sms: SmsSink,
}

#[derive(Clone)]
pub struct Tenant {
    pub client_id: String,
    pub secret: String,
}

/// The data sets `scripts/fetch-data.sh` installed (the test script runs it first).
pub fn intel_dir() -> std::path::PathBuf {
    std::env::var_os("SMARTAUTH_INTEL_DIR")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/intel").into())
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let (mail, smtp_addr) = MailSink::start().await;
    let (sms, sms_addr) = SmsSink::start().await;
    let mut settings = Settings::from_lookup(|_| None).unwrap();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.data_dir = data_dir.path().to_path_buf();
    settings.admin_token = Some(ADMIN_TOKEN.into());
    settings.smtp_url = Some(format!("smtp://{smtp_addr}"));
    settings.sms_gateway_url = Some(format!("http://{sms_addr}/send"));
    settings.log_format = LogFormat::Text;
    settings.intel.dir = intel_dir();
    settings.models_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/models").into();
    configure(&mut settings);
    let (state, _) = startup::build_state(&settings).await.unwrap();
    let server = startup::Server::bind(&settings, state).await.unwrap();
    let address = format!("http://{}", server.local_addr());
    tokio::spawn(server.run_until(std::future::pending()));
    TestApp { address, http: reqwest::Client::new(), data_dir, mail, sms }
}

pub fn token(tenant: &Tenant, claims: Value) -> String {
    let mut claims = claims;
    if claims.get("iss").is_none() {
        claims["iss"] = tenant.client_id.clone().into();
    }
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(tenant.secret.as_bytes())).unwrap()
}

pub fn backend(tenant: &Tenant) -> String {
    token(tenant, json!({"exp": chrono::Utc::now().timestamp() + 300}))
}

pub fn sdk(tenant: &Tenant, person: &str) -> String {
    token(tenant, json!({"exp": chrono::Utc::now().timestamp() + 300, "personId": person}))
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(reqwest::Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn new_tenant(&self) -> Tenant {
        let a =
            self.call(reqwest::Method::POST, "/admin/clients", Some(ADMIN_TOKEN), Some(json!({"name": "acme"}))).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        Tenant {
            client_id: a.body["clientId"].as_str().unwrap().into(),
            secret: a.body["clientSecret"].as_str().unwrap().into(),
        }
    }

    /// A tenant with the example policy `pix` and an identity `person` with email and phone.
    pub async fn tenant_with_person(&self, person: &str) -> Tenant {
        let tenant = self.new_tenant().await;
        self.put_policy(&tenant, "pix", json!({})).await;
        self.create_identity(&tenant, person).await;
        tenant
    }

    pub async fn put_policy(&self, tenant: &Tenant, id: &str, overrides: Value) -> Value {
        let mut policy = json!({
            "name": "Pix transfer",
            "contexts": {
                "device_context": {"enabled": true, "maxDevicesPerIdentity": 3, "maxIdentitiesPerDevice": 2},
                "location_context": {"enabled": true, "maxAllowedDistanceInMeters": 50000, "maxTravelSpeedKmh": 900},
                "network_context": {"enabled": true}
            },
            "maxAttemptsPerIdentity": {"limit": 100, "windowSeconds": 3600},
            "reauthenticationMethods": ["email_authentication", "sms_authentication"],
            "codes": {"length": 8, "ttlSeconds": 300, "maxAttempts": 3, "resendAfterSeconds": 30}
        });
        merge(&mut policy, overrides);
        let a = self.put(&format!("/policies/{id}"), &backend(tenant), policy).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        a.body
    }

    pub async fn create_identity(&self, tenant: &Tenant, person: &str) -> Value {
        let a = self
            .post(
                "/identities",
                &backend(tenant),
                json!({"personId": person, "name": "John Doe", "email": "john@example.com", "phone": "5521982895497"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        a.body
    }

    pub async fn attempt(&self, tenant: &Tenant, person: &str, fingerprint: &str, at: (f64, f64)) -> Answer {
        self.post(
            "/authentications",
            &sdk(tenant, person),
            json!({"policyId": "pix", "context": {
                "device": {"type": "web", "fingerPrint": fingerprint, "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/127.0.0.0"},
                "location": {"latitude": at.0, "longitude": at.1, "accuracy": 12.45}
            }}),
        )
        .await
    }

    /// The last code sent to anyone, read from what the SMTP listener received.
    pub async fn last_email_code(&self, length: usize) -> String {
        for _ in 0..100 {
            if let Some(mail) = self.mail.received.lock().unwrap().last() {
                let body = mail.data.split("\n\n").skip(1).collect::<Vec<_>>().join("\n");
                return find_code(&body, length).expect("the email carries the code");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no email arrived");
    }

    pub fn last_sms_code(&self, length: usize) -> String {
        let received = self.sms.received.lock().unwrap();
        let message = received.last().expect("an SMS was sent")["message"].as_str().unwrap().to_owned();
        find_code(&message, length).expect("the SMS carries the code")
    }

    /// Stepped-up approval by email; returns the attempt id.
    pub async fn approve_by_email(&self, tenant: &Tenant, person: &str, fingerprint: &str, at: (f64, f64)) -> String {
        let a = self.attempt(tenant, person, fingerprint, at).await;
        assert_eq!(a.body["status"], "pending", "{:?}", a.body);
        let id = a.body["attemptId"].as_str().unwrap().to_owned();
        let sent = self
            .post(&format!("/authentications/{id}/methods/email_authentication/send"), &sdk(tenant, person), json!({}))
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
        let code = self.last_email_code(8).await;
        let v = self
            .post(
                &format!("/authentications/{id}/methods/email_authentication/verify"),
                &sdk(tenant, person),
                json!({"code": code}),
            )
            .await;
        assert_eq!(v.body["status"], "approved", "{:?}", v.body);
        id
    }

    /// Rows in a table of the SQLite file, read over a separate connection.
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
    }

    pub async fn scalar(&self, query: &str) -> i64 {
        let url = format!("sqlite://{}?mode=ro", self.data_dir.path().join("smartauth.db").display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
        sqlx::query_scalar(query).fetch_one(&mut conn).await.unwrap()
    }

    pub async fn sql(&self, statement: &str) -> u64 {
        let url = format!("sqlite://{}", self.data_dir.path().join("smartauth.db").display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
        sqlx::query(statement).execute(&mut conn).await.unwrap().rows_affected()
    }

    pub async fn db_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for name in ["smartauth.db", "smartauth.db-wal"] {
            if let Ok(bytes) = std::fs::read(self.data_dir.path().join(name)) {
                all.extend(bytes);
            }
        }
        all
    }
}

pub fn find_code(text: &str, length: usize) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() == length).map(str::to_owned)
}

fn merge(base: &mut Value, overrides: Value) {
    match (base, overrides) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

pub const SAO_PAULO: (f64, f64) = (-23.5600, -46.6376);
pub const RIO: (f64, f64) = (-22.9068, -43.1729);
pub const PERSON: &str = "952.360.980-76";
pub const PERSON_DIGITS: &str = "95236098076";

pub fn contains(haystack: &[u8], needle: impl AsRef<[u8]>) -> bool {
    let needle = needle.as_ref();
    haystack.windows(needle.len()).any(|w| w == needle)
}
