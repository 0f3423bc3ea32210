//! `kind = "wechat_official_account"`: in-WeChat H5 OAuth (`/authorize` → WeChat → `/callback`),
//! served by the shared [`crate::wechat::web_oauth`] flow.

pub mod config;

pub use config::{Config, Scope};

use crate::wechat::web_oauth::Page;

/// WeChat's authorize page for this channel.
pub fn page(config: &Config) -> Page {
    Page {
        kind: "wechat_official_account",
        url: format!(
            "{}/connect/oauth2/authorize",
            config.open_base.trim_end_matches('/')
        ),
        scope: config.scope.as_str(),
    }
}
