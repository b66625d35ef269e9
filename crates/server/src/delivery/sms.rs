use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;

/// Posts `{"to", "message"}` as JSON to the operator's SMS gateway; any 2xx is success.
#[derive(Clone)]
pub struct SmsClient {
    http: reqwest::Client,
    url: reqwest::Url,
    /// For one call, end to end (connection, request, answer).
    timeout: Duration,
}

impl SmsClient {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let url =
            reqwest::Url::parse(url).with_context(|| format!("SMARTAUTH_SMS_GATEWAY_URL={url:?} is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("SMARTAUTH_SMS_GATEWAY_URL must be an http(s) URL");
        }
        let http = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(SmsClient { http, url, timeout })
    }

    /// Whether the gateway answers HTTP at all (any status will do), without sending a message.
    pub async fn probe(&self) -> anyhow::Result<()> {
        self.http
            .head(self.url.clone())
            .send()
            .await
            .map_err(|e| anyhow::Error::new(e.without_url()).context("no HTTP answer"))?;
        Ok(())
    }

    pub async fn send(&self, to: &str, message: &str) -> anyhow::Result<()> {
        // Errors leave without the URL: it may carry the gateway's credentials.
        let call = async {
            let response = self
                .http
                .post(self.url.clone())
                .json(&json!({"to": to, "message": message}))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("the SMS gateway could not be reached: {}", e.without_url()))?;
            if !response.status().is_success() {
                bail!("the SMS gateway answered {}", response.status());
            }
            Ok::<(), anyhow::Error>(())
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| anyhow::anyhow!("the SMS gateway did not answer within {} s", self.timeout.as_secs()))?
    }
}
