pub mod common;
pub mod duration;
pub mod phone_sms;
pub mod registry;
pub mod wechat_miniprogram;
pub mod wechat_official_account;
pub mod wechat_open_qr;
