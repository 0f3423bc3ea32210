//! What every WeChat channel shares: the HTTP client with its errcode mapping, the interface
//! `access_token` cache, and the web OAuth flow of the official-account and QR channels.

pub mod access_token;
pub mod client;
pub mod leased;
pub mod message;
pub mod session_keys;
pub mod web_oauth;

pub use access_token::{AccessTokenCache, JsapiTicketCache};
pub use client::{WechatClient, WxError};
pub use leased::TokenLease;
pub use session_keys::SessionKeyVault;
