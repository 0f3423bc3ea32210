//! `kind = "wechat_open_qr"`: website QR-code login (scope `snsapi_login`).

pub mod config;

pub use config::Config;
