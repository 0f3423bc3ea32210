//! The closed set of channel kinds: one `[[channel]]` table becomes one `ChannelConfig` variant.

use serde::de::{Deserialize, Deserializer, Error as _};

use crate::common::FieldError;
use crate::{phone_sms, wechat_miniprogram, wechat_official_account, wechat_open_qr};

/// One `[[channel]]` table, tagged by its `kind`.
///
/// The derived `Deserialize` reads the tag itself. Serde buffers an internally tagged enum before
/// reading the variant, which loses the location of an error inside it, so a config loader that
/// reports lines should read `kind` itself and call [`ChannelConfig::deserialize_kind`] on the
/// rest of the table.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelConfig {
    /// `kind = "wechat_miniprogram"`.
    WechatMiniprogram(wechat_miniprogram::Config),
    /// `kind = "wechat_official_account"`.
    WechatOfficialAccount(wechat_official_account::Config),
    /// `kind = "wechat_open_qr"`.
    WechatOpenQr(wechat_open_qr::Config),
    /// `kind = "phone_sms"`.
    PhoneSms(phone_sms::Config),
}

impl ChannelConfig {
    /// Every accepted `kind`, in the order of the variants.
    pub const KINDS: &'static [&'static str] = &[
        "wechat_miniprogram",
        "wechat_official_account",
        "wechat_open_qr",
        "phone_sms",
    ];

    /// Reads a channel table whose `kind` key has already been taken out.
    pub fn deserialize_kind<'de, D: Deserializer<'de>>(
        kind: &str,
        table: D,
    ) -> Result<Self, D::Error> {
        match kind {
            "wechat_miniprogram" => {
                wechat_miniprogram::Config::deserialize(table).map(Self::WechatMiniprogram)
            }
            "wechat_official_account" => {
                wechat_official_account::Config::deserialize(table).map(Self::WechatOfficialAccount)
            }
            "wechat_open_qr" => wechat_open_qr::Config::deserialize(table).map(Self::WechatOpenQr),
            "phone_sms" => phone_sms::Config::deserialize(table).map(Self::PhoneSms),
            other => Err(D::Error::unknown_variant(other, Self::KINDS)),
        }
    }

    /// The channel id, as written in `id`.
    pub fn id(&self) -> &str {
        match self {
            Self::WechatMiniprogram(c) => &c.id,
            Self::WechatOfficialAccount(c) => &c.id,
            Self::WechatOpenQr(c) => &c.id,
            Self::PhoneSms(c) => &c.id,
        }
    }

    /// The `kind`, as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WechatMiniprogram(_) => "wechat_miniprogram",
            Self::WechatOfficialAccount(_) => "wechat_official_account",
            Self::WechatOpenQr(_) => "wechat_open_qr",
            Self::PhoneSms(_) => "phone_sms",
        }
    }

    /// The WeChat AppID, for the kinds that have one.
    pub fn appid(&self) -> Option<&str> {
        match self {
            Self::WechatMiniprogram(c) => Some(&c.appid),
            Self::WechatOfficialAccount(c) => Some(&c.appid),
            Self::WechatOpenQr(c) => Some(&c.appid),
            Self::PhoneSms(_) => None,
        }
    }

    /// True for kinds with a browser `/authorize` endpoint, the only ones a route's
    /// `login_channel` can redirect to.
    pub fn supports_redirect_login(&self) -> bool {
        matches!(self, Self::WechatOfficialAccount(_) | Self::WechatOpenQr(_))
    }

    /// Pure checks of the kind's own fields (no I/O, env or clock). Keys are relative to the
    /// channel table; rules across channels (ids, duplicates) belong to the gateway.
    pub fn validate(&self) -> Vec<FieldError> {
        match self {
            Self::WechatMiniprogram(c) => c.validate(),
            Self::WechatOfficialAccount(c) => c.validate(),
            Self::WechatOpenQr(c) => c.validate(),
            Self::PhoneSms(c) => c.validate(),
        }
    }
}

/// What building a channel needs from the gateway.
pub struct ProviderDeps {
    /// The HTTP client for WeChat (timeouts set once, in [`crate::wechat::client::http_client`]).
    pub http: reqwest::Client,
    pub clock: wxgate_core::clock::SharedClock,
    /// Shared access_token storage and fetch leases (the database, across replicas).
    pub token_lease: std::sync::Arc<dyn crate::wechat::TokenLease>,
    /// Sealed mini-program session_keys, for legacy phone payloads.
    pub session_keys: std::sync::Arc<dyn crate::wechat::SessionKeyVault>,
    /// Short-lived state every replica sees (codes already used, SMS codes and limits).
    pub shared_state: std::sync::Arc<dyn crate::shared_state::SharedState>,
    /// The gateway's MAC, for SMS codes at rest.
    pub mac: std::sync::Arc<dyn crate::shared_state::Mac>,
}

impl ChannelConfig {
    /// Builds the channel's provider; calls nobody. `None` for a kind this version does not
    /// serve (every kind is served today; the gateway says so at start-up otherwise).
    pub fn build(
        &self,
        deps: &ProviderDeps,
    ) -> Option<std::sync::Arc<dyn crate::provider::LoginProvider>> {
        use crate::wechat::web_oauth::WebOAuth;
        use crate::wechat::WechatClient;
        let client = |api_base: &str, appid: &str, secret: &wxgate_core::secret::Secret| {
            WechatClient::new(deps.http.clone(), api_base, appid, secret.clone())
        };
        match self {
            Self::WechatMiniprogram(c) => {
                let client = client(&c.api_base, &c.appid, &c.secret).with_timeout(c.timeout);
                let tokens = crate::wechat::AccessTokenCache::new(
                    client.clone(),
                    deps.token_lease.clone(),
                    deps.clock.clone(),
                );
                Some(std::sync::Arc::new(wechat_miniprogram::MiniProgram::new(
                    c,
                    client,
                    tokens,
                    deps.session_keys.clone(),
                    deps.shared_state.clone(),
                )))
            }
            Self::WechatOfficialAccount(c) => Some(std::sync::Arc::new(WebOAuth::new(
                &c.id,
                wechat_official_account::page(c),
                client(&c.api_base, &c.appid, &c.secret),
                deps.shared_state.clone(),
            ))),
            Self::WechatOpenQr(c) => Some(std::sync::Arc::new(WebOAuth::new(
                &c.id,
                wechat_open_qr::page(c),
                client(&c.api_base, &c.appid, &c.secret),
                deps.shared_state.clone(),
            ))),
            Self::PhoneSms(c) => Some(std::sync::Arc::new(phone_sms::PhoneSms::new(
                c,
                phone_sms::sender::FailOver::build(
                    &c.sender.0,
                    &deps.http,
                    c.send_timeout,
                    deps.clock.clone(),
                ),
                deps.shared_state.clone(),
                deps.mac.clone(),
                deps.clock.clone(),
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
