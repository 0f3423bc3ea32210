//! `kind = "webhook"`: a JSON POST of `{"phone","code","purpose","channel"}`; any 2xx is sent.

use super::{SendError, SmsMessage, SmsSender};
use crate::phone_sms::config::WebhookSender;
use async_trait::async_trait;
use std::time::Duration;

pub struct Webhook {
    url: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl Webhook {
    pub fn new(config: &WebhookSender, http: reqwest::Client, timeout: Duration) -> Self {
        Self {
            url: config.url.clone(),
            http,
            timeout,
        }
    }
}

#[async_trait]
impl SmsSender for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, m: &SmsMessage<'_>) -> Result<(), SendError> {
        let body = serde_json::json!({
            "phone": m.phone.as_str(),
            "code": m.code.expose(),
            "purpose": m.purpose,
            "channel": m.channel,
        });
        let response = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                SendError::Failed(if e.is_timeout() {
                    "webhook timed out".into()
                } else {
                    "webhook unreachable".into()
                })
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SendError::Failed(format!(
                "webhook answered {}",
                status.as_u16()
            )))
        }
    }
}
