//! `kind = "wechat_official_account"`: in-WeChat H5 OAuth (`/authorize` → WeChat → `/callback`),
//! served by the shared [`crate::wechat::web_oauth`] flow.

pub mod config;

pub use config::{Config, Scope};

use crate::wechat::web_oauth::{Page, WebOAuth};

/// WeChat's authorize page for this channel.
pub fn page(config: &Config) -> Page {
    Page {
        kind: <Config as crate::kind::Kind>::NAME,
        url: format!(
            "{}/connect/oauth2/authorize",
            config.open_base.trim_end_matches('/')
        ),
        scope: config.scope.as_str(),
    }
}

impl crate::kind::Kind for Config {
    const NAME: &'static str = "wechat_official_account";
}

impl crate::kind::KindConfig for Config {
    fn id(&self) -> &str {
        &self.id
    }

    fn appid(&self) -> Option<&str> {
        Some(&self.appid)
    }

    fn validate(&self) -> Vec<wxgate_core::rules::FieldError> {
        Config::validate(self)
    }

    fn login_option(&self) -> Option<crate::kind::LoginOption> {
        Some(crate::kind::LoginOption {
            label: "微信授权登录 · Sign in with WeChat",
            start: crate::kind::Start::Page("authorize"),
            placement: crate::kind::Placement::InsideWechat,
        })
    }

    fn build(
        &self,
        deps: &crate::registry::ProviderDeps,
    ) -> std::sync::Arc<dyn crate::provider::LoginProvider> {
        WebOAuth::build(
            deps,
            &self.id,
            page(self),
            (&self.api_base, &self.appid, &self.secret),
        )
    }
}
