use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::configuration::Settings;
use crate::delivery::messages::Email;

/// Sends mail through one SMTP relay: `smtp://` (plain), `smtp://...?tls=required` (STARTTLS, or
/// no message) or `smtps://` (TLS from the first byte), with `user:pass@` and lettre's other URL
/// forms. Over TLS the relay's certificate is checked against the public web roots and
/// `SMARTAUTH_SMTP_CA_FILE`.
#[derive(Clone)]
pub struct EmailClient {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// For one message, end to end: lettre bounds each step (connect, each reply) but not their sum.
    timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls { required: bool },
    Wrapper,
}

impl EmailClient {
    pub fn new(url: &str, settings: &Settings) -> anyhow::Result<Self> {
        // The URL may carry the relay's password: it is never repeated in an error.
        let parsed = reqwest::Url::parse(url).context("SMARTAUTH_SMTP_URL is not a URL")?;
        let tls = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
        let security = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => Security::Plain,
            ("smtp", Some("required")) => Security::StartTls { required: true },
            ("smtp", Some("opportunistic")) => Security::StartTls { required: false },
            ("smtps", None) => Security::Wrapper,
            ("smtp" | "smtps", Some(other)) => {
                bail!("SMARTAUTH_SMTP_URL: tls={other:?} is not known; use smtp://host:587?tls=required or smtps://host:465")
            }
            (other, _) => bail!(
                "SMARTAUTH_SMTP_URL: {other}:// is not an SMTP URL; use smtp://, smtp://...?tls=required or smtps://"
            ),
        };
        let host = parsed.host_str().context("SMARTAUTH_SMTP_URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("SMARTAUTH_SMTP_URL is not usable: {e}"))?
            .timeout(Some(settings.smtp_timeout));
        match (security, &settings.smtp_ca_file) {
            (Security::Plain, Some(_)) => bail!(
                "SMARTAUTH_SMTP_CA_FILE is set but SMARTAUTH_SMTP_URL is plain smtp://: use smtps:// or \
                 smtp://...?tls=required, or unset SMARTAUTH_SMTP_CA_FILE"
            ),
            (Security::Plain, None) => {}
            (security, ca_file) => {
                let parameters = tls_parameters(&host, ca_file.as_deref())?;
                builder = builder.tls(match security {
                    Security::Wrapper => Tls::Wrapper(parameters),
                    Security::StartTls { required: true } => Tls::Required(parameters),
                    _ => Tls::Opportunistic(parameters),
                });
            }
        }
        let from = &settings.smtp_from;
        let from = from.parse().with_context(|| format!("SMARTAUTH_SMTP_FROM={from:?} is not a mailbox"))?;
        Ok(EmailClient { transport: builder.build(), from, timeout: settings.smtp_timeout })
    }

    /// Connects to the relay and greets it, without sending a message.
    pub async fn probe(&self) -> anyhow::Result<()> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => bail!("the SMTP relay did not answer NOOP"),
            Err(e) => match e.status() {
                Some(code) => bail!("the SMTP relay answered with code {code}"),
                None => Err(anyhow::Error::new(e).context("no SMTP answer")),
            },
        }
    }

    /// Sends a message with a plain-text and an HTML part (`multipart/alternative`).
    pub async fn send(&self, to: &str, mail: Email) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().context("recipient is not a mailbox")?)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))?;
        // The relay's reply text often repeats the recipient's address: only its code is reported.
        tokio::time::timeout(self.timeout, self.transport.send(message))
            .await
            .map_err(|_| {
                anyhow::anyhow!("the SMTP relay did not take the message within {} s", self.timeout.as_secs())
            })?
            .map_err(|e| match e.status() {
                Some(code) => anyhow::anyhow!("the SMTP relay refused the message with code {code}"),
                None if e.is_timeout() => anyhow::anyhow!("the SMTP relay timed out"),
                None if e.is_tls() => anyhow::anyhow!("TLS with the SMTP relay failed (is its certificate trusted?)"),
                None => anyhow::anyhow!("the SMTP relay could not be reached"),
            })?;
        Ok(())
    }
}

/// Certificate checks on, with the operator's CA beside the public roots.
fn tls_parameters(host: &str, ca_file: Option<&Path>) -> anyhow::Result<TlsParameters> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = ca_file {
        let pem =
            std::fs::read(path).with_context(|| format!("SMARTAUTH_SMTP_CA_FILE={}: not readable", path.display()))?;
        let not_pem = || format!("SMARTAUTH_SMTP_CA_FILE={}: holds no PEM certificate", path.display());
        anyhow::ensure!(String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----"), "{}", not_pem());
        builder = builder.add_root_certificate(Certificate::from_pem(&pem).with_context(not_pem)?);
    }
    builder.build_rustls().context("setting up TLS for the SMTP relay")
}
