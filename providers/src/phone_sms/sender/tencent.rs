//! `kind = "tencent_cloud"`: Tencent Cloud SMS API 3.0 `SendSms` (version 2021-01-11), signed
//! with TC3-HMAC-SHA256. Tencent answers HTTP 200 even on failure: the outcome is
//! `Response.Error.Code`, or the number's `SendStatusSet[].Code`, which must be exactly `"Ok"`.

use super::sign::{tc3, Tc3};
use super::{host_of, SendError, SmsMessage, SmsSender};
use crate::phone_sms::config::TencentSender;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use wxgate_core::clock::SharedClock;

/// The exact `Content-Type` sent, and signed.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub struct Tencent {
    config: TencentSender,
    http: reqwest::Client,
    timeout: Duration,
    clock: SharedClock,
    host: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    phone_number_set: [&'a str; 1],
    sms_sdk_app_id: &'a str,
    sign_name: &'a str,
    template_id: &'a str,
    template_param_set: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    response: Response,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Response {
    #[serde(default)]
    error: Option<Coded>,
    #[serde(default)]
    send_status_set: Vec<Coded>,
    #[serde(default)]
    request_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Coded {
    code: String,
}

impl Tencent {
    pub fn new(
        config: &TencentSender,
        http: reqwest::Client,
        timeout: Duration,
        clock: SharedClock,
    ) -> Self {
        Self {
            host: host_of(&config.endpoint),
            config: config.clone(),
            http,
            timeout,
            clock,
        }
    }
}

/// Tencent's codes, by what the gateway can do about them.
fn classify(code: &str) -> SendError {
    match code {
        "InvalidParameterValue.IncorrectPhoneNumber" | "FailedOperation.PhoneNumberInBlacklist" => {
            SendError::InvalidPhone
        }
        c if c.starts_with("LimitExceeded.PhoneNumber")
            || c == "LimitExceeded.DeliveryFrequencyLimit" =>
        {
            SendError::RateLimited
        }
        c => SendError::Failed(format!("tencent_cloud error {c}")),
    }
}

#[async_trait]
impl SmsSender for Tencent {
    fn kind(&self) -> &'static str {
        "tencent_cloud"
    }

    async fn send(&self, m: &SmsMessage<'_>) -> Result<(), SendError> {
        let params = self
            .config
            .template_params
            .iter()
            .map(|p| match p.as_str() {
                "minutes" => m.ttl_minutes.to_string(),
                _ => m.code.expose().to_string(),
            })
            .collect();
        // Serialised once: these exact bytes are hashed, signed and sent.
        let body = serde_json::to_vec(&Body {
            phone_number_set: [m.phone.as_str()],
            sms_sdk_app_id: &self.config.sdk_app_id,
            sign_name: &self.config.sign_name,
            template_id: &self.config.template_id,
            template_param_set: params,
        })
        .map_err(|_| SendError::Failed("tencent_cloud body".into()))?;
        let timestamp = self.clock.now_secs();
        let signed = tc3(&Tc3 {
            secret_id: &self.config.secret_id,
            secret_key: self.config.secret_key.expose(),
            service: "sms",
            host: &self.host,
            content_type: CONTENT_TYPE,
            action: Some("SendSms"),
            timestamp,
            body: &body,
        });
        let response = self
            .http
            .post(&self.config.endpoint)
            .timeout(self.timeout)
            .header("content-type", CONTENT_TYPE)
            .header("x-tc-action", "SendSms")
            .header("x-tc-version", "2021-01-11")
            .header("x-tc-timestamp", timestamp.to_string())
            .header("x-tc-region", &self.config.region)
            .header("authorization", signed.authorization)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                SendError::Failed(if e.is_timeout() {
                    "tencent_cloud timed out".into()
                } else {
                    "tencent_cloud unreachable".into()
                })
            })?;
        let status = response.status().as_u16();
        let bytes = crate::http::body(response)
            .await
            .map_err(|e| SendError::Failed(format!("tencent_cloud answer unreadable ({e})")))?;
        if status != 200 {
            return Err(SendError::Failed(format!(
                "tencent_cloud answered {status}"
            )));
        }
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|_| {
            SendError::Failed("tencent_cloud answer has an unexpected shape".into())
        })?;
        let r = answer.response;
        let code = match (&r.error, r.send_status_set.first()) {
            (Some(error), _) => error.code.as_str(),
            (None, Some(number)) => number.code.as_str(),
            (None, None) => "(no status)",
        };
        if code == "Ok" {
            return Ok(());
        }
        tracing::warn!(vendor = "tencent_cloud", code, request_id = %r.request_id, "SendSms refused");
        Err(classify(code))
    }
}
