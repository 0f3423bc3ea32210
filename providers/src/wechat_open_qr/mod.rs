//! `kind = "wechat_open_qr"`: website QR-code login (scope `snsapi_login`), served by the shared
//! [`crate::wechat::web_oauth`] flow.

pub mod config;

pub use config::Config;

use crate::wechat::web_oauth::Page;

/// WeChat's QR page for this channel.
pub fn page(config: &Config) -> Page {
    Page {
        kind: "wechat_open_qr",
        url: format!(
            "{}/connect/qrconnect",
            config.open_base.trim_end_matches('/')
        ),
        scope: "snsapi_login",
    }
}
