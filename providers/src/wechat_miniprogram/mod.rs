//! `kind = "wechat_miniprogram"`: `wx.login` code → `jscode2session`, optional `getPhoneNumber`.

pub mod config;

pub use config::Config;
