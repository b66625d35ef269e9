//! Transport security: the server's own HTTPS (certificates made here, at test time, by a test CA),
//! a bound on every send to a relay or gateway that hangs, and SMTP over TLS with the relay's
//! certificate checked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_smartauth");

/// A certificate authority made for one test, and the certificates it signs.
struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate and its key, in PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "smartauth test CA");
        let key = KeyPair::generate().unwrap();
        TestCa { cert: params.self_signed(&key).unwrap(), key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `localhost` and 127.0.0.1.
    fn issue(&self, common_name: &str, serial: u64) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.serial_number = Some(serial.into());
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// A client that trusts the test CA only, opens a new connection for every request (so each sees
/// the certificate served at that moment) and reports the peer's certificate.
fn client_trusting(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn serve_command(data_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("SMARTAUTH_DATA_DIR", data_dir)
        .env("SMARTAUTH_LISTEN", "127.0.0.1:0")
        .env("SMARTAUTH_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .arg("serve")
        .kill_on_drop(true);
    c
}

/// Starts the binary and returns it with the address it prints.
async fn start(mut command: Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("smartauth: listening on ") {
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .expect("the server starts");
    (child, address.expect("the server prints its address"))
}

/// The certificate the server presents on a new connection. A new client each time: a client's
/// TLS session cache would resume the old session, and report the old certificate.
async fn served_certificate(ca: &TestCa, address: &str) -> Vec<u8> {
    let http = client_trusting(ca);
    let response = http.get(format!("{address}/health")).send().await.expect("an HTTPS answer");
    assert_eq!(response.status(), StatusCode::OK);
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS information");
    info.peer_certificate().expect("a peer certificate").to_vec()
}

/// The binary serving HTTPS with a leaf of a test CA: the CA, the leaf, the data dir and the certificate's
/// (kept for as long as the server runs), the process and its address.
async fn https_server(env: &[(&str, &str)]) -> (TestCa, Leaf, tempfile::TempDir, tempfile::TempDir, Child, String) {
    let ca = TestCa::new();
    let leaf = ca.issue("smartauth.test", 1);
    let (dir, files) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut command = serve_command(dir.path());
    command
        .env("SMARTAUTH_TLS_CERT", write(files.path(), "cert.pem", &leaf.cert_pem))
        .env("SMARTAUTH_TLS_KEY", write(files.path(), "key.pem", &leaf.key_pem))
        .envs(env.iter().copied());
    let (child, address) = start(command).await;
    (ca, leaf, dir, files, child, address)
}

#[tokio::test]
async fn with_a_certificate_the_server_speaks_https_with_hsts_and_sees_the_client_address() {
    let (ca, leaf, dir, _files, _child, address) = https_server(&[]).await;
    assert!(address.starts_with("https://127.0.0.1:"), "{address}");

    let http = client_trusting(&ca);
    let health = http.get(format!("{address}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.headers()["strict-transport-security"], "max-age=31536000");
    let info = health.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    assert_eq!(info.peer_certificate().unwrap(), leaf.der.as_slice());
    let missing = http.get(format!("{address}/no-such-endpoint")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().contains_key("strict-transport-security"), "errors carry HSTS too");

    // A whole attempt over HTTPS: the handlers still see the client's address.
    let app =
        TestApp { address: address.clone(), http, data_dir: dir, mail: MailSink::default(), sms: SmsSink::default() };
    let tenant = app.tenant_with_person(PERSON).await;
    let attempt = app.attempt(&tenant, PERSON, "tls-device", SAO_PAULO).await;
    assert_eq!(attempt.status, StatusCode::OK, "{:?}", attempt.body);
    let id = attempt.body["attemptId"].as_str().unwrap();
    let doc = app.get(&format!("/authentications/{id}"), &backend(&tenant)).await;
    assert_eq!(doc.body["sourceIp"], "127.0.0.1", "{:?}", doc.body);

    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = address.replace("https://", "http://");
    let refused = reqwest::Client::new().get(format!("{plain}/health")).timeout(Duration::from_secs(10)).send().await;
    assert!(refused.is_err(), "plain HTTP was answered: {:?}", refused.map(|r| r.status()));
    // And a client that does not trust the test CA does not get through.
    let untrusting = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    assert!(untrusting.get(format!("{address}/health")).send().await.is_err());
}

#[tokio::test]
async fn stalled_handshakes_from_one_address_are_capped_and_the_server_still_answers() {
    use tokio::io::AsyncReadExt;
    // A client that opens connections and never says hello: the first 32 wait for their handshake, and one
    // more from the same address is closed at once; a trusted proxy (a load balancer, for every client) is not
    // capped.
    for (trusted, capped) in [("", true), ("127.0.0.1/32", false)] {
        let env: &[(&str, &str)] = if trusted.is_empty() { &[] } else { &[("SMARTAUTH_TRUSTED_PROXIES", trusted)] };
        let (ca, _leaf, _dir, _files, _child, address) = https_server(env).await;
        let host = address.trim_start_matches("https://").to_owned();
        let mut stalled = Vec::new();
        for _ in 0..smartauth::tls::HANDSHAKES_PER_ADDRESS {
            stalled.push(tokio::net::TcpStream::connect(&host).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut extra = tokio::net::TcpStream::connect(&host).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
        let closed = matches!(read, Ok(Ok(0)) | Ok(Err(_)));
        assert_eq!(closed, capped, "trusted {trusted:?}: the 33rd stalled connection: {read:?}");
        // Once they go, the address is served again.
        drop(stalled);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let health = client_trusting(&ca).get(format!("{address}/health")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn sighup_serves_a_renewed_certificate_and_keeps_it_when_the_next_pair_is_broken() {
    let ca = TestCa::new();
    let (first, renewed) = (ca.issue("first.smartauth.test", 1), ca.issue("renewed.smartauth.test", 2));
    let (dir, files) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cert = write(files.path(), "cert.pem", &first.cert_pem);
    let key = write(files.path(), "key.pem", &first.key_pem);
    let mut command = serve_command(dir.path());
    command.env("SMARTAUTH_TLS_CERT", &cert).env("SMARTAUTH_TLS_KEY", &key);
    let (child, address) = start(command).await;
    assert_eq!(served_certificate(&ca, &address).await, first.der);

    let hangup = |child: &Child| {
        let pid = child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    };
    // Renewal as certbot does it: both files replaced, then SIGHUP.
    write(files.path(), "cert.pem", &renewed.cert_pem);
    write(files.path(), "key.pem", &renewed.key_pem);
    hangup(&child);
    let mut served = Vec::new();
    for _ in 0..100 {
        served = served_certificate(&ca, &address).await;
        if served == renewed.der {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served, renewed.der, "the renewed certificate is served without a restart");

    // A certificate whose key is not the one beside it: logged, and the renewed pair stays.
    write(files.path(), "cert.pem", &ca.issue("mismatch.smartauth.test", 3).cert_pem);
    hangup(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_certificate(&ca, &address).await, renewed.der);
    write(files.path(), "cert.pem", "not a certificate");
    hangup(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_certificate(&ca, &address).await, renewed.der);
}

/// `serve` with these variables exits with an error whose text contains `expected`.
async fn refused_start(vars: &[(&str, &PathBuf)], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut command = serve_command(&data_dir);
    for (name, value) in vars {
        command.env(name, value);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), command.output()).await.expect("exits").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with {vars:?}");
    assert!(stderr.contains(expected), "{vars:?}: {stderr}");
    assert!(!data_dir.exists(), "a refused start created the data dir");
}

#[tokio::test]
async fn a_start_with_half_or_a_broken_tls_pair_is_refused_and_creates_nothing() {
    let ca = TestCa::new();
    let (leaf, other) = (ca.issue("smartauth.test", 1), ca.issue("other.smartauth.test", 2));
    let files = tempfile::tempdir().unwrap();
    let cert = write(files.path(), "cert.pem", &leaf.cert_pem);
    let key = write(files.path(), "key.pem", &leaf.key_pem);
    let other_key = write(files.path(), "other-key.pem", &other.key_pem);
    let garbage = write(files.path(), "garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    let missing = files.path().join("missing.pem");

    refused_start(&[("SMARTAUTH_TLS_CERT", &cert)], "SMARTAUTH_TLS_CERT is set without SMARTAUTH_TLS_KEY").await;
    refused_start(&[("SMARTAUTH_TLS_KEY", &key)], "SMARTAUTH_TLS_KEY is set without SMARTAUTH_TLS_CERT").await;
    refused_start(&[("SMARTAUTH_TLS_CERT", &missing), ("SMARTAUTH_TLS_KEY", &key)], "SMARTAUTH_TLS_CERT=").await;
    refused_start(&[("SMARTAUTH_TLS_CERT", &garbage), ("SMARTAUTH_TLS_KEY", &key)], "SMARTAUTH_TLS_CERT=").await;
    refused_start(&[("SMARTAUTH_TLS_CERT", &cert), ("SMARTAUTH_TLS_KEY", &cert)], "SMARTAUTH_TLS_KEY=").await;
    refused_start(&[("SMARTAUTH_TLS_CERT", &cert), ("SMARTAUTH_TLS_KEY", &other_key)], "do not make a usable pair")
        .await;
}

/// A listener that accepts connections and never says a word.
async fn silent_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// Asks for a code by `method` and returns the answer and how long it took.
async fn send_code(app: &TestApp, method: &str) -> (Answer, Duration) {
    let tenant = app.tenant_with_person(PERSON).await;
    let attempt = app.attempt(&tenant, PERSON, "device-1", SAO_PAULO).await;
    assert_eq!(attempt.body["status"], "pending", "{:?}", attempt.body);
    let id = attempt.body["attemptId"].as_str().unwrap();
    let started = Instant::now();
    let path = format!("/authentications/{id}/methods/{method}/send");
    let sent = tokio::time::timeout(Duration::from_secs(30), app.post(&path, &sdk(&tenant, PERSON), json!({})))
        .await
        .expect("the send is answered within 30 s");
    (sent, started.elapsed())
}

#[tokio::test]
async fn an_smtp_relay_that_never_greets_is_a_502_within_the_bound() {
    let relay = silent_listener().await;
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(format!("smtp://{relay}"));
        s.smtp_timeout = Duration::from_secs(2);
    })
    .await;
    let (sent, elapsed) = send_code(&app, "email_authentication").await;
    assert_eq!(sent.status, StatusCode::BAD_GATEWAY, "{:?}", sent.body);
    assert_eq!(sent.body["code"], "BAD_GATEWAY");
    assert!(elapsed < Duration::from_secs(2 + 3), "answered after {elapsed:?}, the bound is 2 s");
}

#[tokio::test]
async fn an_sms_gateway_that_never_answers_is_a_502_within_the_bound() {
    let gateway = silent_listener().await;
    let app = spawn_app_with(|s| {
        s.sms_gateway_url = Some(format!("http://{gateway}/send"));
        s.sms_timeout = Duration::from_secs(2);
    })
    .await;
    let (sent, elapsed) = send_code(&app, "sms_authentication").await;
    assert_eq!(sent.status, StatusCode::BAD_GATEWAY, "{:?}", sent.body);
    assert!(elapsed < Duration::from_secs(2 + 3), "answered after {elapsed:?}, the bound is 2 s");
}

#[derive(Clone, Copy, Debug)]
enum SmtpTls {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://...?tls=required`: plain greeting, then STARTTLS.
    StartTls,
}

/// An SMTP relay speaking TLS with a certificate of the test CA; what it receives lands in `sink`.
async fn tls_relay(ca: &TestCa, mode: SmtpTls, sink: &MailSink) -> SocketAddr {
    let leaf = ca.issue("smtp.smartauth.test", 7);
    let chain = vec![CertificateDer::from(leaf.der.clone())];
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = sink.received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, received) = (acceptor.clone(), received.clone());
            tokio::spawn(async move {
                let plain = match mode {
                    SmtpTls::Implicit => socket,
                    SmtpTls::StartTls => match converse(socket, true, true, &received).await {
                        Ok(Some(upgraded)) => upgraded,
                        _ => return,
                    },
                };
                let greet = matches!(mode, SmtpTls::Implicit);
                if let Ok(tls) = acceptor.accept(plain).await {
                    let _ = converse(tls, greet, false, &received).await;
                }
            });
        }
    });
    addr
}

/// Enough SMTP for lettre. Returns the connection when the client asks for STARTTLS.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    greet: bool,
    offer_starttls: bool,
    received: &Mutex<Vec<Mail>>,
) -> std::io::Result<Option<S>> {
    let mut stream = BufReader::new(stream);
    if greet {
        stream.write_all(b"220 test-smtp ESMTP\r\n").await?;
        stream.flush().await?;
    }
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            if offer_starttls {
                b"250-test-smtp\r\n250 STARTTLS\r\n"
            } else {
                b"250-test-smtp\r\n250 8BITMIME\r\n"
            }
        } else if upper == "STARTTLS" && offer_starttls {
            stream.write_all(b"220 ready to start TLS\r\n").await?;
            stream.flush().await?;
            return Ok(Some(stream.into_inner()));
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().trim_matches(|c| c == '<' || c == '>').to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            stream.write_all(b"354 go ahead\r\n").await?;
            stream.flush().await?;
            let mut data = String::new();
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 || line.trim_end() == "." {
                    break;
                }
                data.push_str(line.trim_end_matches(['\r', '\n']));
                data.push('\n');
            }
            received.lock().unwrap().push(Mail { to: std::mem::take(&mut to), data });
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            stream.write_all(b"221 bye\r\n").await?;
            stream.flush().await?;
            return Ok(None);
        } else {
            b"250 OK\r\n"
        };
        stream.write_all(reply).await?;
        stream.flush().await?;
    }
}

/// A server whose SMTP relay speaks TLS in `mode`; with `trust`, the test CA is in SMARTAUTH_SMTP_CA_FILE.
async fn app_with_tls_relay(mode: SmtpTls, trust: bool) -> (TestApp, tempfile::TempDir) {
    let ca = TestCa::new();
    let sink = MailSink::default();
    let relay = tls_relay(&ca, mode, &sink).await;
    let files = tempfile::tempdir().unwrap();
    let ca_file = write(files.path(), "relay-ca.pem", &ca.pem());
    let mut app = spawn_app_with(|s| {
        s.smtp_url = Some(match mode {
            SmtpTls::Implicit => format!("smtps://{relay}"),
            SmtpTls::StartTls => format!("smtp://{relay}?tls=required"),
        });
        s.smtp_ca_file = trust.then_some(ca_file);
    })
    .await;
    app.mail = sink;
    (app, files)
}

#[tokio::test]
async fn codes_reach_an_smtps_relay_signed_by_the_configured_ca() {
    let (app, _files) = app_with_tls_relay(SmtpTls::Implicit, true).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.approve_by_email(&tenant, PERSON, "device-1", SAO_PAULO).await;
    assert_eq!(app.mail.received.lock().unwrap()[0].to, vec!["john@example.com"]);
}

#[tokio::test]
async fn codes_reach_a_starttls_relay_signed_by_the_configured_ca() {
    let (app, _files) = app_with_tls_relay(SmtpTls::StartTls, true).await;
    let tenant = app.tenant_with_person(PERSON).await;
    app.approve_by_email(&tenant, PERSON, "device-1", SAO_PAULO).await;
    assert_eq!(app.mail.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_relay_whose_certificate_is_not_trusted_gets_no_code() {
    for mode in [SmtpTls::Implicit, SmtpTls::StartTls] {
        let (app, _files) = app_with_tls_relay(mode, false).await;
        let (sent, _) = send_code(&app, "email_authentication").await;
        assert_eq!(sent.status, StatusCode::BAD_GATEWAY, "{mode:?}: {:?}", sent.body);
        assert!(app.mail.received.lock().unwrap().is_empty(), "{mode:?}: a message went to an untrusted relay");
    }
}

#[tokio::test]
async fn smtp_ca_file_without_tls_is_refused_at_start() {
    let files = tempfile::tempdir().unwrap();
    let ca_file = write(files.path(), "ca.pem", &TestCa::new().pem());
    let mut settings = smartauth::configuration::Settings::from_lookup(|_| None).unwrap();
    settings.data_dir = files.path().join("data");
    settings.smtp_url = Some("smtp://127.0.0.1:2525".into());
    settings.smtp_ca_file = Some(ca_file);
    let error = smartauth::startup::build_state(&settings).await.err().expect("refused");
    assert!(
        format!("{error:#}").contains("SMARTAUTH_SMTP_CA_FILE is set but SMARTAUTH_SMTP_URL is plain"),
        "{error:#}"
    );
    settings.smtp_url = Some("smtps://relay.example:465".into());
    settings.smtp_ca_file = Some(files.path().join("missing.pem"));
    let error = smartauth::startup::build_state(&settings).await.err().expect("refused");
    assert!(format!("{error:#}").contains("SMARTAUTH_SMTP_CA_FILE="), "{error:#}");
    assert!(!settings.data_dir.exists(), "a refused start created the data dir");
}

/// Reads what the server sends until it closes the connection (or `limit` passes): the bytes, and when
/// the connection ended.
async fn until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    use tokio::io::AsyncReadExt;
    let start = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while start.elapsed() < limit {
        match tokio::time::timeout(limit - start.elapsed(), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, Some(start.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    (got, None)
}

/// A client that sends its request a few bytes at a time, or promises a body it never sends, or connects
/// and says nothing, is cut at the deadline (2 s here, 60 s in production); a client that sends its request
/// whole is answered on the same connection as before.
#[tokio::test]
async fn slow_or_silent_clients_are_cut_at_the_deadline() {
    let app = spawn_app_with(|s| s.client_deadline = Duration::from_secs(2)).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let connect = || tokio::net::TcpStream::connect(addr.clone());

    // A head trickled one header line every 500 ms, for ever.
    let mut slow = connect().await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let trickle = {
        let (mut read_half, mut write_half) = slow.into_split();
        let writer = tokio::spawn(async move {
            for i in 0.. {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if write_half.write_all(format!("X-{i}: a\r\n").as_bytes()).await.is_err() {
                    return i;
                }
            }
            unreachable!()
        });
        let start = Instant::now();
        let mut buffer = [0u8; 1024];
        let ended =
            tokio::time::timeout(Duration::from_secs(10), tokio::io::AsyncReadExt::read(&mut read_half, &mut buffer))
                .await
                .map(|_| start.elapsed());
        writer.abort();
        ended
    };
    let ended = trickle.expect("a trickled head is cut within 10 s");
    assert!(ended < Duration::from_secs(5), "cut after {ended:?}");

    // A body promised and never sent.
    let mut promised = connect().await.unwrap();
    promised
        .write_all(
            b"POST /identities HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    let (_, ended) = until_closed(&mut promised, Duration::from_secs(10)).await;
    assert!(ended.is_some_and(|t| t < Duration::from_secs(5)), "a promised body: {ended:?}");

    // Connected, silent.
    let mut silent = connect().await.unwrap();
    let (got, ended) = until_closed(&mut silent, Duration::from_secs(10)).await;
    assert!(ended.is_some_and(|t| t < Duration::from_secs(5)) && got.is_empty(), "silent: {ended:?}");

    // A whole request is answered, and the connection serves a second one after a pause within the deadline.
    let mut good = connect().await.unwrap();
    for _ in 0..2 {
        good.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut head = [0u8; 12];
        tokio::io::AsyncReadExt::read_exact(&mut good, &mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        let (_, ended) = until_closed(&mut good, Duration::from_millis(1000)).await;
        assert!(ended.is_none(), "the connection stays open between requests");
    }
    // The server still answers everyone else.
    assert_eq!(app.get("/health", "").await.status, StatusCode::OK);
}

/// Nothing the server writes before the answer stretches the deadline: HTTP/2 is not served (its PINGs,
/// answered between a request's pieces, held a half-sent stream for ever: hundreds to a connection), and a
/// `100 Continue` does not restart the clock before the body comes (a body begun just before the deadline
/// was given a whole deadline more).
#[tokio::test]
async fn http2_is_refused_and_an_interim_answer_does_not_stretch_the_deadline() {
    let app = spawn_app_with(|s| s.client_deadline = Duration::from_secs(2)).await;
    let tenant = app.tenant_with_person(PERSON).await;
    let addr = app.address.trim_start_matches("http://").to_owned();

    // HTTP/2 with prior knowledge: the preface and an empty SETTINGS frame get no SETTINGS back, only a close.
    let mut h2 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    let (got, ended) = until_closed(&mut h2, Duration::from_secs(5)).await;
    assert!(ended.is_some_and(|t| t < Duration::from_secs(1)), "HTTP/2 is closed at once: {ended:?}");
    assert!(got.is_empty(), "nothing is answered: {got:?}");

    // A body asked to be continued, its first byte just before the deadline, then a byte every 500 ms.
    let mut expect = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /policies/pix HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\nExpect: 100-continue\r\n\r\n",
        backend(&tenant)
    );
    let start = Instant::now();
    expect.write_all(head.as_bytes()).await.unwrap();
    let (mut read_half, mut write_half) = expect.into_split();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1900)).await;
        for _ in 0..20 {
            if write_half.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let mut got = Vec::new();
    let mut buffer = [0u8; 1024];
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(12), tokio::io::AsyncReadExt::read(&mut read_half, &mut buffer))
            .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break Some(start.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buffer[..n]),
            Err(_) => break None,
        }
    };
    writer.abort();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 100 Continue"), "{got}");
    assert!(ended.is_some_and(|t| t < Duration::from_millis(3000)), "cut at the deadline from the head: {ended:?}");
    // The policy was not changed.
    assert_eq!(app.get("/policies/pix", &backend(&tenant)).await.body["name"], "Pix transfer");
}
