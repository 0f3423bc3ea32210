//! `kind = "phone_sms"`: a one-time code sent by SMS, then checked on login or bind.

pub mod config;
mod provider;
pub mod sender;

pub use config::{AliyunSender, Config, Sender, Senders, TencentSender, WebhookSender};
pub use provider::PhoneSms;
