//! The one interface every login channel implements. A channel declares the endpoints it serves
//! under `{auth_prefix}/{channel}/`, and turns a call to one of them into a [`Reply`]: verified
//! facts, or the next step of its flow. It never creates users, issues tokens, reads cookies or
//! touches the database: the gateway hands the facts to the identity core, which decides, and
//! turns the reply into an HTTP answer.

use async_trait::async_trait;
use std::net::IpAddr;
use wxgate_core::model::{Phone, Profile, WechatIdentity};

/// What the gateway does around a channel's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A JSON API call (mini-program, SMS): a body in, JSON out.
    Api,
    /// A browser leaves for the channel's login page. The gateway first checks `return_to`
    /// and mints the flow's `state` (kept in the shared store, bound to the browser by a
    /// cookie); the channel builds the page's URL with it and answers [`Reply::Redirect`].
    BrowserStart,
    /// The browser comes back from the channel's login page. The gateway checks and consumes
    /// `state` before the channel sees anything; the channel then reads the query.
    BrowserCallback,
    /// A browser opens a login that another party completes (a code scanned in WeChat). The
    /// gateway opens a ticket (its `scene`) bound to this browser by a cookie; the channel
    /// answers [`Reply::TicketOpened`] with how the ticket is shown.
    TicketOpen,
    /// Something of the browser's own ticket, found by its cookie (the code's image): the
    /// channel answers, typically with [`Reply::Bytes`].
    TicketView,
    /// The browser asks how its ticket stands. The gateway answers alone (the channel is not
    /// called): a status, or once the ticket is confirmed, the session.
    TicketPoll,
    /// Another party acts on the ticket named by `scene` in a JSON body (the mini-program
    /// page). The gateway finds the ticket, still open, before the channel is called; the
    /// channel answers [`Reply::Ticket`].
    TicketAct,
    /// WeChat's servers call the channel (an official account's server URL): no session, no
    /// browser, the raw query kept for relaying. The channel answers [`Reply::Text`], or a
    /// [`Reply::Ticket`] with the text to answer by how the move went. The gateway answers
    /// within WeChat's 5 seconds whatever happens: a refusal ([`ProviderError::Forbidden`],
    /// [`ProviderError::InvalidRequest`]) as such, any other failure as `success`, logged.
    Push,
}

/// One endpoint a channel serves: `{method} {auth_prefix}/{channel}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub method: &'static str,
    pub action: &'static str,
    /// The caller must present a valid session (bearer token or browser cookie).
    pub needs_session: bool,
    /// A call costs a request to WeChat before anything is proved (a code exchange): the
    /// gateway caps such calls per client network.
    pub calls_out: bool,
    /// Also takes a form posted from the gateway's own login page (same origin only): the
    /// gateway hands its fields over as a JSON object and answers with pages.
    pub forms: bool,
    pub step: Step,
}

impl Endpoint {
    /// An endpoint of `step` with every option off.
    pub const fn new(method: &'static str, action: &'static str, step: Step) -> Self {
        Self {
            method,
            action,
            needs_session: false,
            calls_out: false,
            forms: false,
            step,
        }
    }

    pub const fn needs_session(mut self) -> Self {
        self.needs_session = true;
        self
    }

    pub const fn calls_out(mut self) -> Self {
        self.calls_out = true;
        self
    }

    pub const fn forms(mut self) -> Self {
        self.forms = true;
        self
    }
}

/// The ticket a [`Step::TicketView`] or [`Step::TicketAct`] call is about, as the gateway found
/// it: open (waiting or scanned), not expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketFacts<'a> {
    /// The ticket's public name: 32 `[A-Za-z0-9]`, what the QR code carries.
    pub scene: &'a str,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// The caller's session, when the endpoint needs one (from a verified access token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub user_id: String,
    /// The channel the session was started through.
    pub channel: String,
    /// That channel's AppID, for WeChat channels.
    pub appid: Option<String>,
    /// The openid of that AppID, for WeChat channels.
    pub openid: Option<String>,
}

/// What the gateway vouches for about a call; never taken from headers it does not trust.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// This channel's callback: `public_url` + `{auth_prefix}/{channel}/callback`. The only
    /// `redirect_uri` a channel may send to WeChat.
    pub callback_url: &'a str,
    /// The flow's `state`, minted by the gateway ([`Step::BrowserStart`] only).
    pub state: Option<&'a str>,
    /// The client's address: the TCP peer, or what a trusted proxy reports.
    pub client_ip: Option<IpAddr>,
    /// The client's network (`203.0.113.7/32`, `2001:db8:1:2::/64`), what per-client limits
    /// are keyed by: one home line gets a whole IPv6 /64.
    pub client_network: Option<&'a str>,
    /// The ticket, for [`Step::TicketOpen`], [`Step::TicketView`] and [`Step::TicketAct`].
    pub ticket: Option<TicketFacts<'a>>,
    /// `public_url`'s origin (`https://login.example.com`): the site's own pages.
    pub public_origin: &'a str,
    /// The app the browser runs in, by its User-Agent: which page a channel sends it to.
    pub client_app: ClientApp,
}

/// The app a browser runs in. Only a choice of page rests on it, never a fact about anyone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientApp {
    #[default]
    Browser,
    /// WeChat's in-app browser (`MicroMessenger`).
    Wechat,
    /// WeCom's in-app browser (`wxwork`).
    Wecom,
}

/// A request to a channel endpoint, already bounded and parsed from HTTP by the gateway.
/// Everything in it but `cx` is hostile until the channel has verified it.
#[derive(Debug)]
pub struct Call<'a> {
    pub action: &'a str,
    pub body: &'a [u8],
    /// The query string's parameters, decoded, in order.
    pub query: &'a [(String, String)],
    /// The query string as it came, for a channel that relays the request ([`Step::Push`]).
    pub raw_query: &'a str,
    pub session: Option<&'a SessionFacts>,
    pub cx: Context<'a>,
}

impl Call<'_> {
    /// The one value of query parameter `name`; a repeated parameter is refused (which of the
    /// two would WeChat have meant?).
    pub fn param(&self, name: &str) -> Result<Option<&str>, ProviderError> {
        let mut found = self.query.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.as_str());
        if found.next().is_some() {
            return Err(ProviderError::InvalidRequest(format!(
                "query parameter {name:?} is repeated"
            )));
        }
        Ok(first)
    }
}

/// Facts a channel verified in this very flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub wechat: Option<WechatIdentity>,
    pub phone: Option<Phone>,
    /// Display facts (nickname, avatar): stored for display, never used to link anything.
    pub profile: Option<Profile>,
}

/// Why a browser flow stopped without a login. Nothing was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// The person refused consent on the channel's page.
    Declined,
    /// WeChat's snapshot page: the identity it reported is virtual. The person must open the
    /// full page and try again.
    SnapshotPage,
    /// The person is not a member of the organisation (WeCom): only members sign in.
    NotAMember,
    /// A member the app is not visible to (WeCom 60011).
    NotPermitted,
}

/// How a browser shows a ticket it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketImage {
    /// The gateway serves the image at the channel's [`Step::TicketView`] endpoint.
    Served { action: &'static str },
}

/// What a push is answered, by how the ticket move it carried went (WeChat shows it to the
/// person in the chat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAnswers {
    /// The move was applied.
    pub moved: String,
    /// The ticket is unknown, expired or no longer open: nothing was done.
    pub gone: String,
}

/// What happens to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketMove {
    /// The code was scanned; the person has not confirmed yet.
    Scanned,
    /// The person confirmed, proving these facts (resolved as a login of this channel).
    Confirmed(Verified),
    /// The person refused.
    Cancelled,
}

/// What the gateway does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Log the person in and answer with the JSON login response.
    Login(Verified),
    /// Log the person in, start a browser session (cookies) and send the browser back to the
    /// flow's `return_to`.
    BrowserLogin(Verified),
    /// Attach the facts (a phone proved later) to the *current session's* user; answer
    /// `{"user"}`.
    Bind(Verified),
    /// Send the browser to the channel's page (WeChat's authorize or QR page). The gateway
    /// adds the flow's state cookie.
    Redirect { location: String },
    /// Accepted; the client may come back after `retry_after` seconds (an SMS was sent): 202.
    Accepted { retry_after: u64 },
    /// The flow stopped before a login; the person is told why.
    Interrupted(Interruption),
    /// A ticket is open ([`Step::TicketOpen`]): how the browser shows it.
    TicketOpened { image: TicketImage },
    /// Move the ticket named `scene`. The gateway applies the move once, atomically, on any
    /// replica, and answers the ticket's new status as JSON, or for a push the text of
    /// `answers` that fits.
    Ticket {
        scene: String,
        change: TicketMove,
        answers: Option<PushAnswers>,
    },
    /// Nothing is finished yet: 200 `{"status": …}`.
    Pending { status: &'static str },
    /// Bytes with their content type (an image).
    Bytes {
        content_type: &'static str,
        body: bytes::Bytes,
    },
    /// Plain text (what WeChat's server push wants back).
    Text(String),
    /// A JSON document.
    Json(serde_json::Value),
}

/// Why a channel call failed, by who is at fault and how the client should react. The gateway
/// maps each to one HTTP answer and one metric label, in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Malformed body, query or field → 400 `invalid_request`.
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
    /// The channel's daily send budget is spent → 429 `rate_limited`, counted apart: an
    /// operator wants to know (SMS pumping, or a budget too small).
    #[error("daily budget spent")]
    BudgetExhausted { retry_after: u64 },
    /// WeChat unreachable, busy after bounded retries, or timed out → 502 `upstream_unavailable`.
    #[error("wechat unavailable: {0}")]
    Unavailable(String),
    /// The shared store behind the channel's own traits failed → 503 `storage_unavailable`.
    #[error("storage unavailable: {0}")]
    Storage(String),
    /// A bug on our side → 500; details only in the log.
    #[error("internal error: {0}")]
    Internal(String),
    /// Our own configuration is wrong (bad secret, appid) → 500; details only in the log.
    #[error("channel misconfigured: {0}")]
    Misconfigured(String),
    /// The endpoint needs a session of this channel → 401 `unauthorized`.
    #[error("a session of this channel is required")]
    Unauthorized,
    /// The caller is not who the endpoint serves (a bad signature) → 403 `forbidden`.
    #[error("forbidden: {0}")]
    Forbidden(String),
}

#[async_trait]
pub trait LoginProvider: Send + Sync + 'static {
    /// The channel id from the config: paths, logs, metric labels.
    fn id(&self) -> &str;
    /// The `kind`, as in the config.
    fn kind(&self) -> &'static str;
    /// The endpoints this channel serves.
    fn endpoints(&self) -> &[Endpoint];
    /// How long a ticket of this channel lives, for channels with [`Step::TicketOpen`].
    fn ticket_ttl(&self) -> Option<std::time::Duration> {
        None
    }
    /// Handles one call to one of [`Self::endpoints`].
    async fn handle(&self, call: Call<'_>) -> Result<Reply, ProviderError>;
}

/// A JSON body as `T`, with a message that names what is wrong but never echoes values.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "a field is missing, unknown or of the wrong type",
            _ => "the body is not valid JSON",
        };
        ProviderError::InvalidRequest(what.into())
    })
}

/// A WeChat code as clients may send it: 1 to 128 of `[A-Za-z0-9_-]`. Anything else is refused
/// before WeChat is asked.
pub fn check_code(field: &str, code: &str) -> Result<(), ProviderError> {
    let well_formed = !code.is_empty()
        && code.len() <= 128
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(ProviderError::InvalidRequest(format!(
            "{field} must be 1 to 128 letters, digits, '-' or '_'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_query_parameters_are_refused() {
        let query = vec![
            ("code".to_string(), "a".to_string()),
            ("state".to_string(), "s".to_string()),
            ("code".to_string(), "b".to_string()),
        ];
        let call = Call {
            action: "callback",
            body: b"",
            query: &query,
            raw_query: "",
            session: None,
            cx: Context::default(),
        };
        assert!(matches!(
            call.param("code"),
            Err(ProviderError::InvalidRequest(_))
        ));
        assert_eq!(call.param("state").unwrap(), Some("s"));
        assert_eq!(call.param("nope").unwrap(), None);
    }

    #[test]
    fn codes_are_checked_for_shape() {
        for bad in ["", "a b", "x\n", &"a".repeat(129), "';--", "código"] {
            assert!(check_code("code", bad).is_err(), "{bad:?}");
        }
        assert!(check_code("code", "001OWsKC0kQWLc2tpINC0j7lKC0OWsKC").is_ok());
    }
}
