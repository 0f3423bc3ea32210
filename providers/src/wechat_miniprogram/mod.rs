//! `kind = "wechat_miniprogram"`: `wx.login` code → `jscode2session`, optional `getPhoneNumber`.

pub mod config;
mod legacy;
mod provider;

pub use config::Config;
pub use provider::MiniProgram;
