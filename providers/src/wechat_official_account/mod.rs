//! `kind = "wechat_official_account"`: in-WeChat H5 OAuth (`/authorize` → WeChat → `/callback`,
//! the shared [`crate::wechat::web_oauth`] flow), and with `message` the account's server URL:
//! follow-to-login (`follow_login`) through its pushes, and JS-SDK signatures (`jssdk`).

pub mod config;
mod follow;
mod jssdk;
mod provider;
mod push;

pub use config::{Config, FollowLogin, Message, Scope};
pub use provider::OfficialAccount;

use crate::kind::{Kind, KindConfig, LoginOption, Placement, Start};
use crate::registry::ProviderDeps;
use crate::wechat::web_oauth::Page;
use std::sync::Arc;
use wxgate_core::rules::FieldError;

/// WeChat's authorize page for this channel.
pub fn page(config: &Config) -> Page {
    Page {
        kind: <Config as Kind>::NAME,
        url: format!(
            "{}/connect/oauth2/authorize",
            config.open_base.trim_end_matches('/')
        ),
        scope: config.scope.as_str(),
    }
}

impl Kind for Config {
    const NAME: &'static str = "wechat_official_account";
}

impl KindConfig for Config {
    fn id(&self) -> &str {
        &self.id
    }

    fn appid(&self) -> Option<&str> {
        Some(&self.appid)
    }

    fn validate(&self) -> Vec<FieldError> {
        Config::validate(self)
    }

    /// Inside WeChat, always; with `follow_login`, a desktop follows the account's code.
    fn login_options(&self) -> Vec<LoginOption> {
        let mut options = vec![LoginOption {
            label: "微信授权登录 · Sign in with WeChat",
            start: Start::Page("authorize"),
            placement: Placement::InsideWechat,
        }];
        if self.follow_login.is_some() {
            options.push(LoginOption {
                label: "关注公众号登录 · Follow to sign in",
                start: Start::Page("follow"),
                placement: Placement::ScanFromAnotherScreen,
            });
        }
        options
    }

    fn build(&self, deps: &ProviderDeps) -> Arc<dyn crate::provider::LoginProvider> {
        Arc::new(OfficialAccount::new(self, deps))
    }
}
