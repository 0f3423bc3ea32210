//! `kind = "aliyun"`: Alibaba Cloud Dysmsapi `SendSms` (2017-05-25), parameters in the query and
//! an empty body, signed with ACS3-HMAC-SHA256 as the official SDK sends it. Business refusals
//! come with HTTP 200 and `Code != "OK"`; gateway refusals with 4xx, whose `Message` may repeat
//! the string that was signed (phone and code included): it is never read.

use super::sign::{acs3, sha256_hex, utc_datetime, Acs3};
use super::{host_of, SendError, SmsMessage, SmsSender};
use crate::phone_sms::config::AliyunSender;
use async_trait::async_trait;
use rand::RngCore;
use serde::Deserialize;
use std::time::Duration;
use wxgate_core::clock::SharedClock;

pub struct Aliyun {
    config: AliyunSender,
    http: reqwest::Client,
    timeout: Duration,
    clock: SharedClock,
    host: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    request_id: String,
}

impl Aliyun {
    pub fn new(
        config: &AliyunSender,
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

fn classify(code: &str) -> SendError {
    match code {
        "isv.MOBILE_NUMBER_ILLEGAL" | "isv.BLACK_KEY_CONTROL_LIMIT" => SendError::InvalidPhone,
        "isv.BUSINESS_LIMIT_CONTROL" => SendError::RateLimited,
        c => SendError::Failed(format!("aliyun error {c}")),
    }
}

#[async_trait]
impl SmsSender for Aliyun {
    fn kind(&self) -> &'static str {
        "aliyun"
    }

    async fn send(&self, m: &SmsMessage<'_>) -> Result<(), SendError> {
        // Mainland numbers may carry 86; international ones are country code + number, no '+'.
        let phone = m.phone.as_str().trim_start_matches('+');
        let mut param = serde_json::Map::new();
        param.insert(
            self.config.code_param.clone(),
            m.code.expose().to_string().into(),
        );
        if let Some(minutes) = &self.config.minutes_param {
            param.insert(minutes.clone(), m.ttl_minutes.to_string().into());
        }
        let template_param = serde_json::Value::Object(param).to_string();
        let date = utc_datetime(self.clock.now_secs());
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let query = [
            ("PhoneNumbers", phone),
            ("SignName", self.config.sign_name.as_str()),
            ("TemplateCode", self.config.template_code.as_str()),
            ("TemplateParam", template_param.as_str()),
        ];
        let request = Acs3 {
            method: "POST",
            host: &self.host,
            action: "SendSms",
            version: "2017-05-25",
            date: &date,
            nonce: &nonce,
            query: &query,
            body: b"",
            access_key_id: &self.config.access_key_id,
            access_key_secret: self.config.access_key_secret.expose(),
        };
        let signed = acs3(&request);
        let url = format!(
            "{}/?{}",
            self.config.endpoint.trim_end_matches('/'),
            request.query_string()
        );
        let mut builder = self
            .http
            .post(url)
            .timeout(self.timeout)
            .header("accept", "application/json")
            .header("authorization", signed.authorization);
        for (name, value) in request.headers() {
            // reqwest writes Host from the URL; it is the same value.
            if name != "host" {
                builder = builder.header(name, value);
            }
        }
        debug_assert_eq!(sha256_hex(b""), request.headers()[2].1);
        let response = builder.send().await.map_err(|e| {
            SendError::Failed(if e.is_timeout() {
                "aliyun timed out".into()
            } else {
                "aliyun unreachable".into()
            })
        })?;
        let status = response.status().as_u16();
        let answer: Answer = crate::http::body(response)
            .await
            .ok()
            .and_then(|body| serde_json::from_slice(&body).ok())
            .unwrap_or(Answer {
                code: "(unparseable answer)".into(),
                request_id: String::new(),
            });
        if status == 200 && answer.code == "OK" {
            return Ok(());
        }
        tracing::warn!(vendor = "aliyun", status, code = %answer.code, request_id = %answer.request_id, "SendSms refused");
        match classify(&answer.code) {
            SendError::Failed(_) => Err(SendError::Failed(format!(
                "aliyun answered {status} {}",
                answer.code
            ))),
            other => Err(other),
        }
    }
}
