//! `kind = "wechat_miniprogram"`: `wx.login` code → `jscode2session`, optional `getPhoneNumber`,
//! and with `scan_login` the mini-program code a website shows for scan-to-login.

pub mod config;
mod legacy;
mod provider;

pub use config::Config;
pub use provider::MiniProgram;

use crate::kind::{Kind, KindConfig, LoginOption, Placement, Start};
use crate::registry::ProviderDeps;
use crate::wechat::{AccessTokenCache, WechatClient};
use std::sync::Arc;
use wxgate_core::rules::FieldError;

impl Kind for Config {
    const NAME: &'static str = "wechat_miniprogram";
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

    /// Only with `scan_login`: the browser shows the mini-program's code.
    fn login_options(&self) -> Vec<LoginOption> {
        self.scan_login
            .iter()
            .map(|_| LoginOption {
                label: "小程序扫码登录 · Scan with the mini-program",
                start: Start::Page("scan"),
                placement: Placement::ScanFromAnotherScreen,
            })
            .collect()
    }

    fn login_option_needs(&self) -> Option<&'static str> {
        self.scan_login.is_none().then_some("give it scan_login")
    }

    fn build(&self, deps: &ProviderDeps) -> Arc<dyn crate::provider::LoginProvider> {
        let client = WechatClient::new(
            deps.http.clone(),
            &self.api_base,
            &self.appid,
            self.secret.clone(),
        )
        .with_timeout(self.timeout);
        let tokens =
            AccessTokenCache::new(client.clone(), deps.token_lease.clone(), deps.clock.clone());
        Arc::new(MiniProgram::new(
            self,
            client,
            tokens,
            deps.session_keys.clone(),
            deps.shared_state.clone(),
        ))
    }
}
