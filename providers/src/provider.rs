//! The one interface every login channel implements. A channel declares the endpoints it serves
//! under `{auth_prefix}/{channel}/`, and turns a request to one of them into verified facts.
//! It never creates users, issues tokens or touches the database: the gateway hands the facts
//! to the identity core, which decides.

use async_trait::async_trait;
use wxgate_core::model::{Phone, Profile, WechatIdentity};

/// One endpoint a channel serves: `{method} {auth_prefix}/{channel}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub method: &'static str,
    pub action: &'static str,
    /// The caller must present a valid access token of this channel.
    pub needs_session: bool,
}

/// The caller's session, when the endpoint needs one (from a verified access token).
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub user_id: String,
    pub channel: String,
    pub openid: Option<String>,
}

/// A request to a channel endpoint, already bounded and parsed from HTTP by the gateway.
/// Everything in it is hostile until the channel has verified it.
#[derive(Debug)]
pub struct Call<'a> {
    pub action: &'a str,
    pub body: &'a [u8],
    pub query: Option<&'a str>,
    pub session: Option<&'a SessionFacts>,
}

/// Facts a channel verified in this very flow.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub wechat: Option<WechatIdentity>,
    pub phone: Option<Phone>,
    pub profile: Option<Profile>,
}

/// What the gateway does next.
#[derive(Debug)]
pub enum Reply {
    /// Log the person in: resolve the facts to a user and issue a fresh session.
    Login(Verified),
    /// Attach the verified facts (a phone) to the caller's own identity; answer `{"user"}`.
    Bind(Verified),
}

/// Why a channel call failed, by who is at fault and how the client should react.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Malformed body or missing field → 400 `invalid_request`.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// WeChat rejected the code (40029, 40163), or it was already used here → 401 `invalid_code`.
    #[error("invalid code")]
    InvalidCode,
    /// WeChat's risk control blocked the login (40226) → 403 `login_blocked`.
    #[error("login blocked by WeChat")]
    LoginBlocked,
    /// WeChat's frequency limit (45011) or a local limit → 429 `rate_limited`.
    #[error("rate limited")]
    RateLimited { retry_after: u64 },
    /// WeChat unreachable, busy after bounded retries, or timed out → 502 `upstream_unavailable`.
    #[error("wechat unavailable: {0}")]
    Unavailable(String),
    /// Our own configuration is wrong (bad secret, appid) → 500; details only in the log.
    #[error("channel misconfigured: {0}")]
    Misconfigured(String),
    /// The endpoint needs a session of this channel → 401 `unauthorized`.
    #[error("a session of this channel is required")]
    Unauthorized,
}

#[async_trait]
pub trait LoginProvider: Send + Sync + 'static {
    /// The channel id from the config: paths, logs, metric labels.
    fn id(&self) -> &str;
    /// The `kind`, as in the config.
    fn kind(&self) -> &'static str;
    /// The endpoints this channel serves.
    fn endpoints(&self) -> &'static [Endpoint];
    /// Handles one call to one of [`Self::endpoints`].
    async fn handle(&self, call: Call<'_>) -> Result<Reply, ProviderError>;
}
