//! `kind = "wechat_open_qr"`: website QR-code login (scope `snsapi_login`), served by the shared
//! [`crate::wechat::web_oauth`] flow.

pub mod config;

pub use config::Config;

use crate::wechat::web_oauth::{Page, WebOAuth};

/// WeChat's QR page for this channel.
pub fn page(config: &Config) -> Page {
    Page {
        kind: <Config as crate::kind::Kind>::NAME,
        url: format!(
            "{}/connect/qrconnect",
            config.open_base.trim_end_matches('/')
        ),
        scope: "snsapi_login",
    }
}

impl crate::kind::Kind for Config {
    const NAME: &'static str = "wechat_open_qr";
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

    fn login_options(&self) -> Vec<crate::kind::LoginOption> {
        vec![crate::kind::LoginOption {
            label: "微信扫码登录 · Scan with WeChat",
            start: crate::kind::Start::Page("authorize"),
            placement: crate::kind::Placement::ScanFromAnotherScreen,
        }]
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
