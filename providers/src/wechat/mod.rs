//! What every WeChat channel shares: the HTTP client with its errcode mapping, and the interface
//! `access_token` cache.

pub mod access_token;
pub mod client;
pub mod session_keys;

pub use access_token::{AccessTokenCache, TokenLease};
pub use client::{WechatClient, WxError};
pub use session_keys::SessionKeyVault;
