//! The `[[channel]]` table of a phone (SMS code) channel.

use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use wxgate_core::phone::Region;
use wxgate_core::secret::Secret;

use crate::common::{self, FieldError};

/// A code living longer than this is guessable for too long and outlives any sensible SMS delay.
const MAX_CODE_TTL: Duration = Duration::from_secs(10 * 60);

/// `kind = "phone_sms"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Channel id; appears in endpoint paths (`{auth_prefix}/{id}/send_code`, `/login`, `/bind`).
    pub id: String,
    /// Country calling code assumed for numbers written without `+`. Default `"86"`.
    #[serde(default = "default_country_code")]
    pub default_country_code: String,
    /// The regions (ISO 3166 codes) whose numbers may get a code. Default: the region of
    /// `default_country_code` alone (`["CN"]` for 86). Every other number is refused before
    /// anything is counted or sent: premium and foreign ranges are how SMS pumping is paid.
    #[serde(default)]
    pub allowed_regions: Option<Vec<String>>,
    /// Who delivers the SMS: one table, e.g. `{ kind = "webhook", url = "…" }`, or a list of
    /// them, tried in order when one fails (fail-over).
    pub sender: Senders,
    /// How long a sent code stays valid. Default `"5m"`, at most `"10m"`.
    #[serde(
        default = "default_code_ttl",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub code_ttl: Duration,
    /// Minimum wait before another code is sent to the same phone. Default `"60s"`; a successful
    /// login does not reset it.
    #[serde(
        default = "default_resend_after",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub resend_after: Duration,
    /// Wrong codes accepted before the code is burnt. Default `5`, at least `1`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Codes sent to one phone at the request of one client network within an hour.
    /// Default `5`. Per network, so that a stranger spending them locks only themselves out.
    #[serde(default = "default_sends_per_phone_hour")]
    pub sends_per_phone_hour: u32,
    /// The same within a day. Default `10`.
    #[serde(default = "default_sends_per_phone_day")]
    pub sends_per_phone_day: u32,
    /// Codes sent to one phone within a day, whoever asks: the bound on SMS bombing from many
    /// networks. Default `30`; at least `sends_per_phone_day`.
    #[serde(default = "default_sends_per_phone_day_all")]
    pub sends_per_phone_day_all: u32,
    /// Codes requested from one client network within an hour. Default `20`.
    #[serde(default = "default_sends_per_ip_hour")]
    pub sends_per_ip_hour: u32,
    /// Codes this channel sends per day (Beijing time) at most, whoever asks: the circuit
    /// breaker against SMS pumping. Default `10000`.
    #[serde(default = "default_daily_budget")]
    pub daily_budget: u32,
    /// Code checks from one client network within an hour. Default `60`. (Guessing is bounded
    /// per code by `max_attempts`; a cap per phone would let anyone lock its owner out.)
    #[serde(default = "default_guesses_per_ip_hour")]
    pub guesses_per_ip_hour: u32,
    /// Longest wait for one sender. Default `"5s"`, 100ms to 30s.
    #[serde(
        default = "default_send_timeout",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub send_timeout: Duration,
}

/// How codes reach the phone; tagged on `kind` like the channel itself.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sender {
    /// POSTs `{"phone", "code", "purpose", "channel"}` as JSON; any 2xx means sent.
    Webhook(WebhookSender),
    /// Tencent Cloud SMS API 3.0 `SendSms`, signed with TC3-HMAC-SHA256.
    TencentCloud(TencentSender),
    /// Alibaba Cloud `SendSms` (Dysmsapi 2017-05-25), signed with ACS3-HMAC-SHA256.
    Aliyun(AliyunSender),
}

impl Sender {
    pub fn kind(&self) -> &'static str {
        match self {
            Sender::Webhook(_) => "webhook",
            Sender::TencentCloud(_) => "tencent_cloud",
            Sender::Aliyun(_) => "aliyun",
        }
    }
}

/// `sender = { kind = "webhook", url = "..." }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSender {
    /// Where to POST. May carry a token in its query, so it is never printed.
    pub url: String,
}

/// `sender = { kind = "tencent_cloud", ... }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentSender {
    /// API key id (`AKID…`).
    pub secret_id: String,
    /// API key secret; write it as `"${ENV_VAR}"`.
    pub secret_key: Secret,
    /// The SMS application's `SmsSdkAppId`, e.g. `"1400006666"`.
    pub sdk_app_id: String,
    /// The approved signature's text, e.g. `"腾讯云"`.
    pub sign_name: String,
    /// The approved verification-code template.
    pub template_id: String,
    /// What fills the template's variables, in order: `"code"` and/or `"minutes"` (the code's
    /// life). Default `["code"]`.
    #[serde(default = "default_template_params")]
    pub template_params: Vec<String>,
    /// Default `"ap-guangzhou"`.
    #[serde(default = "default_tencent_region")]
    pub region: String,
    /// Default `"https://sms.tencentcloudapi.com"`; tests point it at a fake.
    #[serde(default = "default_tencent_endpoint")]
    pub endpoint: String,
}

/// `sender = { kind = "aliyun", ... }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliyunSender {
    pub access_key_id: String,
    /// Write it as `"${ENV_VAR}"`.
    pub access_key_secret: Secret,
    /// The approved signature's name.
    pub sign_name: String,
    /// The approved template, e.g. `"SMS_154950909"`.
    pub template_code: String,
    /// The template variable that takes the code. Default `"code"`.
    #[serde(default = "default_code_param")]
    pub code_param: String,
    /// The template variable that takes the code's life in minutes, if the template has one.
    #[serde(default)]
    pub minutes_param: Option<String>,
    /// Default `"https://dysmsapi.aliyuncs.com"`; tests point it at a fake.
    #[serde(default = "default_aliyun_endpoint")]
    pub endpoint: String,
}

/// One sender or several, tried in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Senders(pub Vec<Sender>);

impl<'de> Deserialize<'de> for Senders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrList;
        impl<'de> Visitor<'de> for OneOrList {
            type Value = Senders;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sender table, or a list of them tried in order")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Senders, A::Error> {
                Sender::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|s| Senders(vec![s]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Senders, A::Error> {
                let mut all = Vec::new();
                while let Some(sender) = seq.next_element::<Sender>()? {
                    all.push(sender);
                }
                if all.is_empty() {
                    return Err(de::Error::invalid_length(0, &"at least one sender"));
                }
                Ok(Senders(all))
            }
        }
        deserializer.deserialize_any(OneOrList)
    }
}

fn default_country_code() -> String {
    "86".to_owned()
}
fn default_code_ttl() -> Duration {
    Duration::from_secs(5 * 60)
}
fn default_resend_after() -> Duration {
    Duration::from_secs(60)
}
fn default_max_attempts() -> u32 {
    5
}
fn default_sends_per_phone_hour() -> u32 {
    5
}
fn default_sends_per_phone_day() -> u32 {
    10
}
fn default_sends_per_phone_day_all() -> u32 {
    30
}
fn default_sends_per_ip_hour() -> u32 {
    20
}
fn default_daily_budget() -> u32 {
    10_000
}
fn default_guesses_per_ip_hour() -> u32 {
    60
}
fn default_send_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_template_params() -> Vec<String> {
    vec!["code".to_owned()]
}
fn default_tencent_region() -> String {
    "ap-guangzhou".to_owned()
}
fn default_tencent_endpoint() -> String {
    "https://sms.tencentcloudapi.com".to_owned()
}
fn default_aliyun_endpoint() -> String {
    "https://dysmsapi.aliyuncs.com".to_owned()
}
fn default_code_param() -> String {
    "code".to_owned()
}

impl Config {
    /// The region of numbers written without a country code.
    pub fn default_region(&self) -> Region {
        Region::for_calling_code(&self.default_country_code).unwrap_or(Region::CN)
    }

    /// The regions whose numbers may get a code (validated: unknown codes never get here).
    pub fn regions(&self) -> Vec<Region> {
        match &self.allowed_regions {
            Some(codes) => codes.iter().filter_map(|c| Region::from_code(c)).collect(),
            None => vec![self.default_region()],
        }
    }

    /// Pure checks of this kind's own fields; keys are relative to the channel table.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let cc = &self.default_country_code;
        let well_formed = !cc.is_empty() && cc.len() <= 3 && cc.bytes().all(|b| b.is_ascii_digit());
        if !well_formed || Region::for_calling_code(cc).is_none() {
            out.push(FieldError::new(
                "default_country_code",
                format!(
                    "{cc:?} is not the calling code of a country (1 to 3 digits without '+', e.g. \"86\")"
                ),
            ));
        }
        match &self.allowed_regions {
            Some(regions) if regions.is_empty() => out.push(FieldError::new(
                "allowed_regions",
                "must name at least one region, e.g. [\"CN\"]",
            )),
            Some(regions) => {
                for (i, code) in regions.iter().enumerate() {
                    if Region::from_code(code).is_none() {
                        out.push(FieldError::new(
                            format!("allowed_regions[{i}]"),
                            format!("{code:?} is not an ISO 3166 region code the numbering plans know (e.g. \"CN\", \"HK\")"),
                        ));
                    }
                }
            }
            None => {}
        }
        for sender in &self.sender.0 {
            sender.validate(&mut out);
        }
        if self.code_ttl.is_zero() || self.code_ttl > MAX_CODE_TTL {
            out.push(FieldError::new(
                "code_ttl",
                "must be more than 0s and at most 10m",
            ));
        }
        // Zero would let anyone flood a phone with SMS.
        if self.resend_after < Duration::from_secs(1) {
            out.push(FieldError::new("resend_after", "must be at least 1s"));
        }
        if self.max_attempts == 0 {
            out.push(FieldError::new("max_attempts", "must be at least 1"));
        }
        if self.sends_per_phone_day_all < self.sends_per_phone_day {
            out.push(FieldError::new(
                "sends_per_phone_day_all",
                "must be at least sends_per_phone_day (one network's share)",
            ));
        }
        for (key, value) in [
            ("sends_per_phone_hour", self.sends_per_phone_hour),
            ("sends_per_phone_day", self.sends_per_phone_day),
            ("sends_per_phone_day_all", self.sends_per_phone_day_all),
            ("sends_per_ip_hour", self.sends_per_ip_hour),
            ("daily_budget", self.daily_budget),
            ("guesses_per_ip_hour", self.guesses_per_ip_hour),
        ] {
            if value == 0 {
                out.push(FieldError::new(key, "must be at least 1"));
            }
        }
        if self.send_timeout < Duration::from_millis(100)
            || self.send_timeout > Duration::from_secs(30)
        {
            out.push(FieldError::new(
                "send_timeout",
                "must be between 100ms and 30s",
            ));
        }
        out
    }
}

impl Sender {
    fn validate(&self, out: &mut Vec<FieldError>) {
        let required = |key: &'static str, value: &str, out: &mut Vec<FieldError>| {
            if value.trim().is_empty() {
                out.push(FieldError::new(key, "must not be empty"));
            }
        };
        match self {
            Sender::Webhook(w) => common::check_http_url("sender.url", &w.url, out),
            Sender::TencentCloud(t) => {
                required("sender.secret_id", &t.secret_id, out);
                required("sender.secret_key", t.secret_key.expose(), out);
                required("sender.sdk_app_id", &t.sdk_app_id, out);
                required("sender.sign_name", &t.sign_name, out);
                required("sender.template_id", &t.template_id, out);
                required("sender.region", &t.region, out);
                common::check_http_url("sender.endpoint", &t.endpoint, out);
                if let Some(bad) = t
                    .template_params
                    .iter()
                    .find(|p| !matches!(p.as_str(), "code" | "minutes"))
                {
                    out.push(FieldError::new(
                        "sender.template_params",
                        format!("{bad:?} is not \"code\" or \"minutes\""),
                    ));
                }
            }
            Sender::Aliyun(a) => {
                required("sender.access_key_id", &a.access_key_id, out);
                required(
                    "sender.access_key_secret",
                    a.access_key_secret.expose(),
                    out,
                );
                required("sender.sign_name", &a.sign_name, out);
                required("sender.template_code", &a.template_code, out);
                required("sender.code_param", &a.code_param, out);
                common::check_http_url("sender.endpoint", &a.endpoint, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "id = \"sms\"\nsender = { kind = \"webhook\", url = \"http://127.0.0.1:9100/sms\" }\n";

    fn parse(extra: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(&format!("{MINIMAL}{extra}"))
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.default_country_code, "86");
        assert_eq!(c.code_ttl, Duration::from_secs(300));
        assert_eq!(c.resend_after, Duration::from_secs(60));
        assert_eq!(c.max_attempts, 5);
        assert_eq!(
            (
                c.sends_per_phone_hour,
                c.sends_per_phone_day,
                c.sends_per_phone_day_all,
                c.sends_per_ip_hour
            ),
            (5, 10, 30, 20)
        );
        assert_eq!(
            c.sender,
            Senders(vec![Sender::Webhook(WebhookSender {
                url: "http://127.0.0.1:9100/sms".into()
            })])
        );
        assert!(c.validate().is_empty());
    }

    #[test]
    fn a_list_of_senders_is_tried_in_order() {
        let c: Config = toml::from_str(
            "id = \"sms\"\nsender = [\n  { kind = \"tencent_cloud\", secret_id = \"AKID\", secret_key = \"k\", sdk_app_id = \"1400006666\", sign_name = \"腾讯云\", template_id = \"1110\" },\n  { kind = \"aliyun\", access_key_id = \"id\", access_key_secret = \"s\", sign_name = \"阿里云\", template_code = \"SMS_1\" },\n  { kind = \"webhook\", url = \"http://127.0.0.1:9100/sms\" },\n]\n",
        )
        .unwrap();
        let kinds: Vec<_> = c.sender.0.iter().map(Sender::kind).collect();
        assert_eq!(kinds, ["tencent_cloud", "aliyun", "webhook"]);
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let Sender::TencentCloud(t) = &c.sender.0[0] else {
            panic!()
        };
        assert_eq!(t.region, "ap-guangzhou");
        assert!(!format!("{t:?}").contains("secret_key: Secret(\"k\")"));
    }

    #[test]
    fn each_rule_names_its_key() {
        let c = parse("default_country_code = \"+86\"\ncode_ttl = \"11m\"\nresend_after = \"0s\"\nmax_attempts = 0\ndaily_budget = 0\n").unwrap();
        let keys: Vec<_> = c.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "default_country_code",
                "code_ttl",
                "resend_after",
                "max_attempts",
                "daily_budget"
            ]
        );
        let c = Config {
            sender: Senders(vec![Sender::Webhook(WebhookSender {
                url: "not a url".into(),
            })]),
            ..parse("").unwrap()
        };
        assert_eq!(c.validate()[0].key, "sender.url");
        let c: Config = toml::from_str(
            "id = \"sms\"\nsender = { kind = \"tencent_cloud\", secret_id = \"\", secret_key = \"k\", sdk_app_id = \"1\", sign_name = \"s\", template_id = \"1\", template_params = [\"otp\"] }\n",
        )
        .unwrap();
        let keys: Vec<_> = c.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["sender.secret_id", "sender.template_params"]);
    }

    #[test]
    fn regions_default_to_the_country_code_and_name_what_is_unknown() {
        let c = parse("").unwrap();
        assert_eq!(c.regions(), [Region::CN]);
        let c = parse("default_country_code = \"852\"\n").unwrap();
        assert_eq!(
            c.regions().iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            ["HK"]
        );
        let c = parse("allowed_regions = [\"cn\", \"HK\", \"MO\"]\n").unwrap();
        assert!(c.validate().is_empty());
        assert_eq!(c.regions().len(), 3);
        let c =
            parse("default_country_code = \"999\"\nallowed_regions = [\"CN\", \"XX\", \"001\"]\n")
                .unwrap();
        let keys: Vec<_> = c.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "default_country_code",
                "allowed_regions[1]",
                "allowed_regions[2]"
            ]
        );
        let c = parse("allowed_regions = []\n").unwrap();
        assert_eq!(c.validate()[0].key, "allowed_regions");
    }

    #[test]
    fn sender_rejects_unknown_kinds_and_keys() {
        let err = toml::from_str::<Config>("id = \"sms\"\nsender = { kind = \"carrier_pigeon\" }")
            .unwrap_err();
        assert!(
            err.message().contains("carrier_pigeon") && err.message().contains("webhook"),
            "{err}"
        );
        let err = toml::from_str::<Config>(
            "id = \"sms\"\nsender = { kind = \"webhook\", urll = \"http://x\" }",
        )
        .unwrap_err();
        assert!(err.message().contains("urll"), "{err}");
        let err = toml::from_str::<Config>("id = \"sms\"\nsender = []").unwrap_err();
        assert!(err.message().contains("at least one sender"), "{err}");
    }

    #[test]
    fn bad_duration_names_the_value() {
        let err = parse("code_ttl = \"15 minutes please\"\n").unwrap_err();
        assert!(err.message().contains("15 minutes please"), "{err}");
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
