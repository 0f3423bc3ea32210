//! `kind = "phone_sms"`: a one-time code sent by SMS, then checked on login.

pub mod config;

pub use config::{Config, Sender, WebhookSender};
