//! wxgate's login channels: one module per `kind`, one trait ([`provider::LoginProvider`]) they
//! all implement, and the registry that builds them from the config.

pub mod common;
pub mod http;
pub mod kind;
pub mod phone_sms;
pub mod provider;
pub mod registry;
pub mod shared_state;
pub mod wechat;
pub mod wechat_miniprogram;
pub mod wechat_official_account;
pub mod wechat_open_qr;
pub mod wecom;
