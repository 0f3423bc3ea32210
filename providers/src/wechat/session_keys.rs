//! Where mini-program session_keys rest between a login and a later legacy phone payload. The
//! gateway implements it with the shared database, sealed under a vault key; providers only see
//! this trait.

use async_trait::async_trait;
use wxgate_core::secret::Secret;

#[async_trait]
pub trait SessionKeyVault: Send + Sync + 'static {
    /// Keeps the latest session_key of `(appid, openid)`.
    async fn put(&self, appid: &str, openid: &str, session_key: &Secret) -> Result<(), String>;
    /// The latest session_key of `(appid, openid)`, if any.
    async fn get(&self, appid: &str, openid: &str) -> Result<Option<Secret>, String>;
}
