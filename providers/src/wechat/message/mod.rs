//! An official account's server URL, WeChat's side of it (wechat-api.md §12.2): the signatures
//! over the URL check and every push, the AES cipher of safe mode, the push's XML, and passive
//! replies. Pure code: no HTTP, no clock, no store; the channel composes it.

pub mod cipher;
pub mod inbound;
pub mod reply;
pub mod signature;
pub mod xml;

pub use cipher::MessageKey;
pub use inbound::{open, Inbound, MessageConfig, Push, PushQuery, Refusal};
