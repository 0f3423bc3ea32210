//! The phone channel: `POST send_code` texts a one-time code, `POST login` and `POST bind` check
//! it. Codes, attempts and every limit live in the shared store, so they hold across replicas.
//!
//! - A code is 6 digits from the OS's CSPRNG, kept only as a MAC under the gateway's vault key,
//!   bound to channel, purpose and phone; it lives `code_ttl`, is used once, is burnt after
//!   `max_attempts` wrong tries, and a newer one replaces it.
//! - Only valid mobile numbers of the channel's `allowed_regions` get a code; anything else is
//!   refused before a limit is counted or a text is sent.
//! - Sends are limited per phone (cooldown, hour, day), per client network (hour) and per
//!   channel (a daily budget). A send that fails uses up none of them and leaves no code behind.
//! - Checks are limited per client network only: a wrong guess costs the guesser, and the code
//!   it was aimed at (burnt after `max_attempts`, replaced at the next send). A phone with no
//!   code outstanding counts nothing, so guesses cannot lock its owner out. Nothing here ever
//!   looks a user up: answers and timings are the same for a phone with an account and one
//!   without.

use super::config::Config;
use super::sender::{FailOver, SendError, SmsMessage};
use crate::provider::{
    parse_json, Call, Endpoint, LoginProvider, ProviderError, Reply, Step, Verified,
};
use crate::shared_state::{key_of, Mac, SharedState};
use async_trait::async_trait;
use rand::Rng;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use wxgate_core::clock::SharedClock;
use wxgate_core::model::Phone;
use wxgate_core::phone::Region;
use wxgate_core::secret::Secret;

const ENDPOINTS: &[Endpoint] = &[
    Endpoint::new("POST", "send_code", Step::Api).forms(),
    Endpoint::new("POST", "login", Step::Api).forms(),
    Endpoint::new("POST", "bind", Step::Api).needs_session(),
];

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// Beijing time is UTC+8: the daily budget resets at midnight there.
const BEIJING_OFFSET_SECS: i64 = 8 * 3600;

/// Namespaces in the shared store.
mod ns {
    pub const CODE: &str = "sms_code";
    pub const ATTEMPTS: &str = "sms_attempts";
    pub const COOLDOWN: &str = "sms_cooldown";
    pub const PHONE_HOUR: &str = "sms_phone_hour";
    pub const PHONE_DAY: &str = "sms_phone_day";
    pub const PHONE_DAY_ALL: &str = "sms_phone_day_all";
    pub const IP_HOUR: &str = "sms_ip_hour";
    pub const BUDGET: &str = "sms_budget";
    pub const GUESS_IP: &str = "sms_guess_ip";
}

/// What a code is for: a code sent for one purpose is refused for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Purpose {
    Login,
    Bind,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Bind => "bind",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    phone: String,
    #[serde(default = "login")]
    purpose: Purpose,
}

fn login() -> Purpose {
    Purpose::Login
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    phone: String,
    code: String,
}

pub struct PhoneSms {
    config: Config,
    /// Numbers written without a country code are of this region.
    default_region: Region,
    /// Only numbers of these regions get a code.
    regions: Vec<Region>,
    senders: FailOver,
    state: Arc<dyn SharedState>,
    mac: Arc<dyn Mac>,
    clock: SharedClock,
}

/// A limit counted by [`PhoneSms::count`]: namespace, key, window and cap.
struct Limit {
    ns: &'static str,
    key: String,
    window: Duration,
    cap: u32,
}

impl PhoneSms {
    pub fn new(
        config: &Config,
        senders: FailOver,
        state: Arc<dyn SharedState>,
        mac: Arc<dyn Mac>,
        clock: SharedClock,
    ) -> Self {
        Self {
            config: config.clone(),
            default_region: config.default_region(),
            regions: config.regions(),
            senders,
            state,
            mac,
            clock,
        }
    }

    /// The number as the plans define it, if it may get a code here: a valid number of an
    /// allowed region, on a line that receives texts. Judged before anything is counted or sent.
    fn phone(&self, raw: &str) -> Result<Phone, ProviderError> {
        let parsed = Phone::parse(raw, self.default_region)
            .map_err(|e| ProviderError::InvalidRequest(format!("phone: {e}")))?;
        if !self.regions.contains(&parsed.region) {
            tracing::info!(channel = %self.config.id, region = %parsed.region, "phone of a region not allowed refused");
            let allowed: Vec<&str> = self.regions.iter().map(|r| r.as_str()).collect();
            return Err(ProviderError::InvalidRequest(format!(
                "phone: numbers of region {} are not accepted here (allowed: {})",
                parsed.region,
                allowed.join(", ")
            )));
        }
        if !parsed.line.receives_sms() {
            tracing::info!(channel = %self.config.id, region = %parsed.region, line = parsed.line.as_str(), "phone that cannot receive texts refused");
            return Err(ProviderError::InvalidRequest(format!(
                "phone: a {} number cannot receive a text; use a mobile number",
                parsed.line.as_str().replace('_', "-")
            )));
        }
        Ok(parsed.phone)
    }

    /// The client's network as a key part ("unknown" when the gateway could not tell).
    fn client(call: &Call<'_>) -> String {
        call.cx.client_network.unwrap_or("unknown").to_string()
    }

    /// The store key of a (purpose, phone) code of this channel.
    fn code_key(&self, purpose: Purpose, phone: &Phone) -> String {
        key_of(&[&self.config.id, purpose.as_str(), phone.as_str()])
    }

    /// The MAC input of a code: bound to channel, purpose and phone.
    fn code_material(&self, purpose: Purpose, phone: &Phone, code: &str) -> Vec<u8> {
        key_of(&[&self.config.id, purpose.as_str(), phone.as_str(), code]).into_bytes()
    }

    /// Seconds until `(ns, key)` expires, rounded up, at least 1.
    async fn seconds_left(&self, ns: &'static str, key: &str) -> Result<u64, ProviderError> {
        let now = self.clock.now_ms();
        let until = self.state.expires_at(ns, key).await?.unwrap_or(now);
        let ms = u64::try_from(until.saturating_sub(now)).unwrap_or(0);
        Ok(ms.div_ceil(1000).max(1))
    }

    /// Seconds until the Beijing day after `day` begins (at least 1), when its budget resets.
    /// Taken from the same `day` as the budget's key: were midnight to pass between the two
    /// clock reads, the answer is 1 s, not a whole day.
    fn until_beijing_day_after(&self, day: i64) -> u64 {
        let next = (day + 1) * 86_400 - BEIJING_OFFSET_SECS;
        u64::try_from(next - self.clock.now_secs()).map_or(1, |s| s.max(1))
    }

    /// Counts one event under each limit, all or nothing: over any cap, the events counted so
    /// far are taken back and the answer is 429 with the time left in that window.
    /// `budget` names the daily budget's limit and its Beijing day, when one is counted.
    async fn count(
        &self,
        limits: &[Limit],
        budget: Option<(&str, i64)>,
    ) -> Result<(), ProviderError> {
        // Every limit counted in one round trip; over any cap, every count is taken back.
        let hits: Vec<(&'static str, &str, Duration)> = limits
            .iter()
            .map(|l| (l.ns, l.key.as_str(), l.window))
            .collect();
        let counts = self.state.hit_all(&hits).await?;
        for (limit, n) in limits.iter().zip(counts) {
            if n > u64::from(limit.cap) {
                self.uncount(limits).await?;
                if let Some((_, day)) = budget.filter(|(ns, _)| *ns == limit.ns) {
                    tracing::warn!(channel = %self.config.id, budget = limit.cap, "daily SMS budget spent: no more codes until tomorrow");
                    // The budget's key outlives its day; the next day's key starts fresh at
                    // Beijing midnight, so that is when to come back.
                    return Err(ProviderError::BudgetExhausted {
                        retry_after: self.until_beijing_day_after(day),
                    });
                }
                let retry_after = self.seconds_left(limit.ns, &limit.key).await?;
                return Err(ProviderError::RateLimited { retry_after });
            }
        }
        Ok(())
    }

    async fn uncount(&self, limits: &[Limit]) -> Result<(), ProviderError> {
        let keys: Vec<(&'static str, &str)> =
            limits.iter().map(|l| (l.ns, l.key.as_str())).collect();
        self.state.unhit_all(&keys).await?;
        Ok(())
    }

    async fn send_code(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let body: SendBody = parse_json(call.body)?;
        let phone = self.phone(&body.phone)?;
        let id = self.config.id.as_str();
        let phone_key = key_of(&[id, phone.as_str()]);
        // The cooldown first: it is the answer a quick second tap should get.
        let cooldown = self.config.resend_after;
        if !self
            .state
            .put_if_absent(ns::COOLDOWN, &phone_key, "1", cooldown)
            .await?
        {
            let retry_after = self.seconds_left(ns::COOLDOWN, &phone_key).await?;
            return Err(ProviderError::RateLimited { retry_after });
        }
        let day = (self.clock.now_secs() + BEIJING_OFFSET_SECS).div_euclid(86_400);
        let client = Self::client(call);
        // A phone's caps count per asking network (E4): a stranger who spends them stops only
        // their own network; the day's total across networks bounds bombing.
        let phone_by_client = key_of(&[id, phone.as_str(), &client]);
        let limits = [
            Limit {
                ns: ns::IP_HOUR,
                key: key_of(&[id, &client]),
                window: HOUR,
                cap: self.config.sends_per_ip_hour,
            },
            Limit {
                ns: ns::PHONE_HOUR,
                key: phone_by_client.clone(),
                window: HOUR,
                cap: self.config.sends_per_phone_hour,
            },
            Limit {
                ns: ns::PHONE_DAY,
                key: phone_by_client,
                window: DAY,
                cap: self.config.sends_per_phone_day,
            },
            Limit {
                ns: ns::PHONE_DAY_ALL,
                key: phone_key.clone(),
                window: DAY,
                cap: self.config.sends_per_phone_day_all,
            },
            Limit {
                ns: ns::BUDGET,
                key: key_of(&[id, &day.to_string()]),
                window: DAY + HOUR,
                cap: self.config.daily_budget,
            },
        ];
        if let Err(e) = self.count(&limits, Some((ns::BUDGET, day))).await {
            self.state.remove(ns::COOLDOWN, &phone_key).await?;
            return Err(e);
        }

        let code = Secret::new(format!(
            "{:06}",
            rand::rngs::OsRng.gen_range(0..1_000_000u32)
        ));
        let code_key = self.code_key(body.purpose, &phone);
        let tag = self
            .mac
            .mac(&self.code_material(body.purpose, &phone, code.expose()))
            .ok_or_else(|| ProviderError::Internal("no key to protect SMS codes".into()))?;
        // Stored before it is sent (a fast phone must find it), replacing any older code and
        // its count of wrong tries.
        self.state
            .put(ns::CODE, &code_key, &tag, self.config.code_ttl)
            .await?;
        self.state.remove(ns::ATTEMPTS, &code_key).await?;
        let message = SmsMessage {
            phone: &phone,
            code: &code,
            purpose: body.purpose.as_str(),
            channel: id,
            ttl_minutes: self.config.code_ttl.as_secs().div_ceil(60),
        };
        if let Err(e) = self.senders.send(&message).await {
            // Nothing is used up and no code is left: the person may ask again at once.
            self.uncount(&limits).await?;
            self.state.remove(ns::COOLDOWN, &phone_key).await?;
            self.state.take_if(ns::CODE, &code_key, &tag).await?;
            return Err(match e {
                SendError::InvalidPhone => ProviderError::InvalidRequest(
                    "phone: the SMS provider refused this number".into(),
                ),
                SendError::RateLimited => ProviderError::RateLimited {
                    retry_after: cooldown.as_secs(),
                },
                SendError::Failed(why) => ProviderError::Unavailable(format!("SMS: {why}")),
            });
        }
        tracing::info!(channel = id, phone = %phone.masked(), purpose = body.purpose.as_str(), "SMS code sent");
        Ok(Reply::Accepted {
            retry_after: cooldown.as_secs(),
        })
    }

    /// Checks a code for `purpose`; the verified phone on success.
    async fn check(&self, call: &Call<'_>, purpose: Purpose) -> Result<Phone, ProviderError> {
        let body: CheckBody = parse_json(call.body)?;
        let phone = self.phone(&body.phone)?;
        if body.code.len() != 6 || !body.code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProviderError::InvalidRequest(
                "code must be 6 digits".into(),
            ));
        }
        let id = self.config.id.as_str();
        // Guessing is capped per client network: it stops that network, nobody else.
        self.count(
            &[Limit {
                ns: ns::GUESS_IP,
                key: key_of(&[id, &Self::client(call)]),
                window: HOUR,
                cap: self.config.guesses_per_ip_hour,
            }],
            None,
        )
        .await?;
        // No code outstanding: nothing of the phone's is counted, so guesses cannot lock its
        // owner out of the code they ask for next.
        let code_key = self.code_key(purpose, &phone);
        let Some(tag) = self.state.get(ns::CODE, &code_key).await? else {
            return Err(ProviderError::InvalidCode);
        };
        let attempts = self
            .state
            .hit(ns::ATTEMPTS, &code_key, self.config.code_ttl)
            .await?;
        let max = u64::from(self.config.max_attempts);
        let right = attempts <= max
            && self
                .mac
                .verify(&self.code_material(purpose, &phone, &body.code), &tag);
        if !right {
            if attempts >= max {
                // Burnt: even the right code is refused now; a new one must be sent.
                self.state.take_if(ns::CODE, &code_key, &tag).await?;
            }
            return Err(ProviderError::InvalidCode);
        }
        // Used once: of two concurrent right answers, one wins.
        if !self.state.take_if(ns::CODE, &code_key, &tag).await? {
            return Err(ProviderError::InvalidCode);
        }
        Ok(phone)
    }
}

#[async_trait]
impl LoginProvider for PhoneSms {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn kind(&self) -> &'static str {
        <super::Config as crate::kind::Kind>::NAME
    }

    fn endpoints(&self) -> &[Endpoint] {
        ENDPOINTS
    }

    async fn handle(&self, call: Call<'_>) -> Result<Reply, ProviderError> {
        let verified = |phone| Verified {
            wechat: None,
            phone: Some(phone),
            profile: None,
        };
        match call.action {
            "send_code" => self.send_code(&call).await,
            "login" => Ok(Reply::Login(verified(
                self.check(&call, Purpose::Login).await?,
            ))),
            "bind" => {
                if call.session.is_none() {
                    return Err(ProviderError::Unauthorized);
                }
                Ok(Reply::Bind(verified(
                    self.check(&call, Purpose::Bind).await?,
                )))
            }
            other => Err(ProviderError::InvalidRequest(format!(
                "no action {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
