//! The closed set of channel kinds: one `[[channel]]` table becomes one `ChannelConfig` variant.
//! A new kind is its module (config, provider, [`Kind`] and [`KindConfig`]) and one line in
//! `kinds!` below.

use serde::de::{Deserialize, Deserializer, Error as _};

use crate::kind::{Kind, KindConfig, LoginOption, Start};
use crate::{phone_sms, wechat_miniprogram, wechat_official_account, wechat_open_qr, wecom};
use wxgate_core::rules::FieldError;

/// The kinds this version serves: one line each. Each names its config type, which implements
/// [`Kind`] and [`KindConfig`] in its own module.
macro_rules! kinds {
    ($($variant:ident => $config:ty),* $(,)?) => {
        /// One `[[channel]]` table, tagged by its `kind`.
        ///
        /// The derived `Deserialize` reads the tag itself. Serde buffers an internally tagged
        /// enum before reading the variant, which loses the location of an error inside it, so
        /// a config loader that reports lines should read `kind` itself and call
        /// [`ChannelConfig::deserialize_kind`] on the rest of the table.
        #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum ChannelConfig {
            $($variant($config)),*
        }

        impl ChannelConfig {
            /// Every accepted `kind`, in the order of the variants.
            pub const KINDS: &'static [&'static str] = &[$(<$config as Kind>::NAME),*];

            /// Reads a channel table whose `kind` key has already been taken out.
            pub fn deserialize_kind<'de, D: Deserializer<'de>>(
                kind: &str,
                table: D,
            ) -> Result<Self, D::Error> {
                $(if kind == <$config as Kind>::NAME {
                    return <$config>::deserialize(table).map(Self::$variant);
                })*
                Err(D::Error::unknown_variant(kind, Self::KINDS))
            }

            /// The `kind`, as written in the config.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$config as Kind>::NAME),*
                }
            }

            /// The kind's own answers (id, rules, building, the login option).
            pub fn config(&self) -> &dyn KindConfig {
                match self {
                    $(Self::$variant(c) => c),*
                }
            }
        }
    };
}

kinds! {
    WechatMiniprogram => wechat_miniprogram::Config,
    WechatOfficialAccount => wechat_official_account::Config,
    WechatOpenQr => wechat_open_qr::Config,
    PhoneSms => phone_sms::Config,
    Wecom => wecom::Config,
}

impl ChannelConfig {
    /// The channel id, as written in `id`.
    pub fn id(&self) -> &str {
        self.config().id()
    }

    /// The WeChat AppID, for the kinds that have one.
    pub fn appid(&self) -> Option<&str> {
        self.config().appid()
    }

    /// How a browser signs in with this channel: none, one, or one per way.
    pub fn login_options(&self) -> Vec<LoginOption> {
        self.config().login_options()
    }

    /// The action a browser is sent to, for channels a route's `login_channel` may name.
    pub fn login_page(&self) -> Option<&'static str> {
        self.login_options()
            .into_iter()
            .find_map(|o| match o.start {
                Start::Page(action) => Some(action),
                Start::PhoneForm => None,
            })
    }

    /// Pure checks of the kind's own fields (no I/O, env or clock). Keys are relative to the
    /// channel table; rules across channels (ids, duplicates) belong to the gateway.
    pub fn validate(&self) -> Vec<FieldError> {
        self.config().validate()
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
    /// Builds the channel's provider; calls nobody.
    pub fn build(&self, deps: &ProviderDeps) -> std::sync::Arc<dyn crate::provider::LoginProvider> {
        self.config().build(deps)
    }
}

#[cfg(test)]
mod tests;
