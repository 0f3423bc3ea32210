//! `kind = "wechat_official_account"`: in-WeChat H5 OAuth (`/authorize` → WeChat → `/callback`).

pub mod config;

pub use config::{Config, Scope};
