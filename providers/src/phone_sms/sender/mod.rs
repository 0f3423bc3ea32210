//! Who delivers the code: senders behind one trait, chosen per channel and tried in order.
//!
//! Nothing a vendor answers is logged as it came: Aliyun's signature errors echo the string it
//! signed, which holds the phone and the code. Only the vendor, the HTTP status, the vendor's
//! error code and its request id reach the log.

mod aliyun;
pub mod sign;
mod tencent;
mod webhook;

use super::config::Sender as SenderConfig;
use async_trait::async_trait;
use std::time::Duration;
use wxgate_core::clock::SharedClock;
use wxgate_core::model::Phone;
use wxgate_core::secret::Secret;

/// One code to deliver.
#[derive(Debug)]
pub struct SmsMessage<'a> {
    pub phone: &'a Phone,
    pub code: &'a Secret,
    /// `login` or `bind`.
    pub purpose: &'a str,
    pub channel: &'a str,
    /// The code's life, for templates that say it.
    pub ttl_minutes: u64,
}

/// Why a sender did not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The vendor refuses the number itself (malformed, blacklisted): another vendor would too.
    #[error("the vendor refused the phone number")]
    InvalidPhone,
    /// The vendor's own per-number limit.
    #[error("the vendor's per-number limit")]
    RateLimited,
    /// Anything else (transport, timeout, vendor error, our configuration): the next sender
    /// may succeed. The text holds no phone and no code.
    #[error("{0}")]
    Failed(String),
}

#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// `webhook`, `tencent_cloud` or `aliyun`: logs and errors.
    fn kind(&self) -> &'static str;
    async fn send(&self, message: &SmsMessage<'_>) -> Result<(), SendError>;
}

/// The senders of a channel, tried in order until one delivers.
pub struct FailOver(Vec<Box<dyn SmsSender>>);

impl FailOver {
    pub fn build(
        configs: &[SenderConfig],
        http: &reqwest::Client,
        timeout: Duration,
        clock: SharedClock,
    ) -> Self {
        Self(
            configs
                .iter()
                .map(|c| -> Box<dyn SmsSender> {
                    match c {
                        SenderConfig::Webhook(w) => {
                            Box::new(webhook::Webhook::new(w, http.clone(), timeout))
                        }
                        SenderConfig::TencentCloud(t) => Box::new(tencent::Tencent::new(
                            t,
                            http.clone(),
                            timeout,
                            clock.clone(),
                        )),
                        SenderConfig::Aliyun(a) => {
                            Box::new(aliyun::Aliyun::new(a, http.clone(), timeout, clock.clone()))
                        }
                    }
                })
                .collect(),
        )
    }

    #[cfg(test)]
    pub(crate) fn of(senders: Vec<Box<dyn SmsSender>>) -> Self {
        Self(senders)
    }

    /// Delivers through the first sender that can. A number the vendor refuses is not tried
    /// elsewhere; any other failure moves on to the next sender (the same code, so a double
    /// delivery does no harm).
    pub async fn send(&self, message: &SmsMessage<'_>) -> Result<(), SendError> {
        let mut last = SendError::Failed("no sender configured".into());
        for sender in &self.0 {
            match sender.send(message).await {
                Ok(()) => return Ok(()),
                Err(SendError::InvalidPhone) => return Err(SendError::InvalidPhone),
                Err(e) => {
                    tracing::warn!(
                        channel = message.channel,
                        sender = sender.kind(),
                        phone = %message.phone.masked(),
                        error = %e,
                        "SMS not sent; trying the next sender if any"
                    );
                    last = e;
                }
            }
        }
        Err(last)
    }
}

/// `host[:port]` of an endpoint URL, as `Host` will carry it.
fn host_of(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        },
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests;
