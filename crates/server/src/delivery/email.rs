use anyhow::{bail, Context};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Sends mail through one SMTP relay (`smtp://[user:pass@]host[:port]`).
#[derive(Clone)]
pub struct EmailClient {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailClient {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("SMARTAUTH_SMTP_URL={url:?} is not a URL"))?;
        if parsed.scheme() != "smtp" {
            bail!("SMARTAUTH_SMTP_URL must start with smtp:// (TLS relays are not supported yet; use a local relay)");
        }
        let host = parsed.host_str().context("SMARTAUTH_SMTP_URL has no host")?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(parsed.port().unwrap_or(25))
            .timeout(Some(std::time::Duration::from_secs(15)));
        if !parsed.username().is_empty() {
            builder = builder.credentials(Credentials::new(
                parsed.username().to_owned(),
                parsed.password().unwrap_or_default().to_owned(),
            ));
        }
        let from = from.parse().with_context(|| format!("SMARTAUTH_SMTP_FROM={from:?} is not a mailbox"))?;
        Ok(EmailClient { transport: builder.build(), from })
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

    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().context("recipient is not a mailbox")?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        // The relay's reply text often repeats the recipient's address: only its code is reported.
        self.transport.send(message).await.map_err(|e| match e.status() {
            Some(code) => anyhow::anyhow!("the SMTP relay refused the message with code {code}"),
            None if e.is_timeout() => anyhow::anyhow!("the SMTP relay timed out"),
            None => anyhow::anyhow!("the SMTP relay could not be reached"),
        })?;
        Ok(())
    }
}
