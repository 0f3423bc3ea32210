//! WeChat pushing a message or event to an official account's server URL (wechat-api.md §12.2):
//! the signed query, the XML body in the account's mode (plain, compat, safe), one POST that
//! WeChat waits on for at most 5 seconds, and what the answer means to WeChat.

mod reply;
mod xml;

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::ids;
use crate::msgcrypt::{signature, MessageKey};
use crate::world::{App, MessageMode};
use reply::ReplyKeys;
use xml::Field;

/// How long WeChat waits for the server's answer before it gives up.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Why a push cannot be made: the account is not configured for it, or the request is
/// contradictory. The message names what is missing.
#[derive(Debug)]
pub(crate) struct PushError(pub(crate) String);

/// Where a push goes and how it is sealed.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    url: String,
    appid: String,
    token: String,
    key: Option<MessageKey>,
    mode: MessageMode,
}

impl Target {
    /// The account's server URL configuration, with a test's overrides.
    pub(crate) fn of_app(
        appid: &str,
        app: &App,
        mode: Option<MessageMode>,
        url: Option<String>,
    ) -> Result<Self, PushError> {
        let config = &app.official;
        let url = url
            .or_else(|| config.server_url.clone())
            .ok_or_else(|| {
                PushError(format!(
                    "app {appid} has no server_url (set it in POST /_sim/apps or with Simulator::set_server_url)"
                ))
            })?;
        let token = config
            .message_token
            .clone()
            .ok_or_else(|| PushError(format!("app {appid} has no message_token to sign pushes")))?;
        let mode = mode.unwrap_or(config.message_mode);
        let key =
            match (&config.encoding_aes_key, mode) {
                (_, MessageMode::Plain) => None,
                (Some(key), _) => Some(MessageKey::parse(key).map_err(|_| {
                    PushError(format!("app {appid} has a malformed encoding_aes_key"))
                })?),
                (None, _) => {
                    return Err(PushError(format!(
                        "app {appid} has no encoding_aes_key for the {mode:?} mode"
                    )))
                }
            };
        Ok(Self {
            url,
            appid: appid.to_owned(),
            token,
            key,
            mode,
        })
    }
}

/// What is pushed.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Event {
        event: String,
        key: Option<String>,
        ticket: Option<String>,
    },
    Text(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// The account's original id (`gh_…`).
    pub(crate) to: String,
    /// The user's openid under the account.
    pub(crate) from: String,
    pub(crate) create_time: i64,
    pub(crate) content: Content,
}

/// A deliberate flaw, for testing a server's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Tamper {
    /// The query's `signature` does not match.
    Signature,
    /// The query's `msg_signature` does not match (encrypted modes only).
    MsgSignature,
    /// The `<Encrypt>` is sealed for another AppID (encrypted modes only).
    Appid,
}

/// The query parameters that are not derived from the message.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub(crate) timestamp: i64,
    pub(crate) nonce: Option<String>,
    pub(crate) tamper: Option<Tamper>,
}

/// A push ready to send: the exact query string and body.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    query: String,
    body: String,
}

impl Message {
    fn fields(&self) -> Vec<(&'static str, Field)> {
        let mut fields = vec![
            ("ToUserName", Field::Text(self.to.clone())),
            ("FromUserName", Field::Text(self.from.clone())),
            ("CreateTime", Field::Number(self.create_time.to_string())),
        ];
        match &self.content {
            Content::Event { event, key, ticket } => {
                fields.push(("MsgType", Field::Text("event".to_owned())));
                fields.push(("Event", Field::Text(event.clone())));
                if let Some(key) = key {
                    fields.push(("EventKey", Field::Text(key.clone())));
                }
                if let Some(ticket) = ticket {
                    fields.push(("Ticket", Field::Text(ticket.clone())));
                }
            }
            Content::Text(text) => {
                fields.push(("MsgType", Field::Text("text".to_owned())));
                fields.push(("Content", Field::Text(text.clone())));
                fields.push(("MsgId", Field::Number(ids::msg_id().to_string())));
            }
        }
        fields
    }
}

/// Flips the last hex digit, so the signature is well-formed and wrong.
fn flip(signature: &str) -> String {
    let mut flipped = signature.to_owned();
    let last = match flipped.pop() {
        Some('0') => '1',
        _ => '0',
    };
    flipped.push(last);
    flipped
}

/// Signs and (in compat and safe modes) encrypts `message` for `target`.
pub(crate) fn seal(
    target: &Target,
    message: &Message,
    envelope: &Envelope,
) -> Result<Sealed, PushError> {
    let tamper = envelope.tamper;
    let timestamp = envelope.timestamp.to_string();
    let nonce = envelope.nonce.clone().unwrap_or_else(ids::push_nonce);
    let fields = message.fields();
    let plain = xml::build(&fields);

    let mut url_signature = signature(&[&target.token, &timestamp, &nonce]);
    if tamper == Some(Tamper::Signature) {
        url_signature = flip(&url_signature);
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("signature", &url_signature)
        .append_pair("timestamp", &timestamp)
        .append_pair("nonce", &nonce)
        .append_pair("openid", &message.from);

    let body = match (&target.key, target.mode) {
        (Some(key), MessageMode::Compat | MessageMode::Safe) => {
            let appid = if tamper == Some(Tamper::Appid) {
                other_appid(&target.appid)
            } else {
                target.appid.clone()
            };
            let encrypt = key
                .encrypt(&ids::random_16(), &plain, &appid)
                .map_err(|e| PushError(format!("cannot encrypt the push: {e:?}")))?;
            let mut msg_signature = signature(&[&target.token, &timestamp, &nonce, &encrypt]);
            if tamper == Some(Tamper::MsgSignature) {
                msg_signature = flip(&msg_signature);
            }
            query
                .append_pair("encrypt_type", "aes")
                .append_pair("msg_signature", &msg_signature);
            let sealed = ("Encrypt", Field::Text(encrypt));
            if target.mode == MessageMode::Safe {
                xml::build(&[("ToUserName", Field::Text(message.to.clone())), sealed])
            } else {
                let mut both = fields;
                both.push(sealed);
                xml::build(&both)
            }
        }
        _ => {
            if matches!(tamper, Some(Tamper::MsgSignature | Tamper::Appid)) {
                return Err(PushError(
                    "tamper msg_signature and appid need the compat or safe mode".to_owned(),
                ));
            }
            plain
        }
    };
    Ok(Sealed {
        query: query.finish(),
        body,
    })
}

/// An AppID that is not `appid`, for `tamper: appid`.
fn other_appid(appid: &str) -> String {
    let other = "wxffffffffffffffff";
    if appid == other {
        "wxeeeeeeeeeeeeeeee".to_owned()
    } else {
        other.to_owned()
    }
}

/// POSTs the push and reports what was sent, what came back and what WeChat makes of it:
/// `{"sent": {"query", "body"}, "status", "timed_out", "body", "reply", "elapsed_ms"}`, plus
/// `transport_error` when the server could not be reached.
pub(crate) async fn deliver(target: &Target, sealed: Sealed) -> Value {
    let separator = if target.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}{}", target.url, sealed.query);
    let mut report = json!({
        "sent": {"query": sealed.query, "body": sealed.body},
        "status": null,
        "timed_out": false,
        "body": "",
        "reply": null,
    });
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(ANSWER_WITHIN)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build();
    let outcome = match client {
        Ok(client) => answer(&client, &url, sealed.body).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok((status, body)) => {
            let keys = ReplyKeys {
                token: &target.token,
                key: target.key.as_ref(),
                appid: &target.appid,
            };
            report["reply"] = reply::decode(status, &body, &keys);
            report["status"] = json!(status);
            report["body"] = json!(body);
        }
        Err(e) if e.is_timeout() => report["timed_out"] = json!(true),
        Err(e) => report["transport_error"] = json!(e.to_string()),
    }
    report["elapsed_ms"] = json!(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    report
}

/// The status and the whole body, within the time WeChat waits.
async fn answer(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> Result<(u16, String), reqwest::Error> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/xml")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
