//! What arrives at an official account's server URL, judged before anything acts on it: the
//! URL check, and pushes in plain, compatible or safe mode. A push is believed only with a
//! valid `signature` (and in safe mode a valid `msg_signature`), a timestamp near now, and,
//! when sealed, the channel's own AppID inside.

use super::cipher::MessageKey;
use super::signature;
use super::xml::{self, Fields};
use wxgate_core::secret::Secret;

/// WeChat's timestamps are its clock's; more than this away from ours is a replay.
pub const MAX_SKEW_SECS: i64 = 300;

/// The server-URL settings of one account.
#[derive(Debug, Clone)]
pub struct MessageConfig {
    pub appid: String,
    pub token: Secret,
    /// The current EncodingAESKey, then the previous one (kept while WeChat switches).
    pub keys: Vec<MessageKey>,
}

/// The query WeChat sends with every call to the server URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushQuery<'a> {
    pub signature: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub echostr: Option<&'a str>,
    pub encrypt_type: Option<&'a str>,
    pub msg_signature: Option<&'a str>,
}

/// What the server URL was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// WeChat's URL check: answer `echostr` as it is.
    UrlCheck {
        echostr: String,
    },
    Push(Push),
}

/// A push, authentic and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub fields: Fields,
    /// Which of the keys opened it, when it came sealed: the reply is sealed with the same.
    pub sealed_with: Option<usize>,
    /// The query's nonce, reused for a sealed reply.
    pub nonce: String,
}

impl Push {
    pub fn from_user(&self) -> Option<&str> {
        self.fields.get("FromUserName")
    }

    pub fn to_user(&self) -> Option<&str> {
        self.fields.get("ToUserName")
    }
}

/// Why a call to the server URL was refused. Each is answered 403 except `Malformed` (400) and
/// `NoKey` (our configuration: logged, and WeChat is answered as if all were well).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the signature does not match")]
    BadSignature,
    #[error("the timestamp is more than {MAX_SKEW_SECS} s from now")]
    Stale,
    #[error("the sealed message is not this account's")]
    WrongAppid,
    #[error("the sealed message does not open with any configured key")]
    Unreadable,
    #[error("a sealed push arrived and no encoding_aes_key is configured")]
    NoKey,
    #[error("an encoding_aes_key is configured, so every push must be sealed (encrypt_type=aes)")]
    Unsealed,
    #[error("malformed push: {0}")]
    Malformed(String),
}

/// Judges one call: `body` is empty for the URL check (GET).
pub fn open(
    config: &MessageConfig,
    query: &PushQuery<'_>,
    body: Option<&[u8]>,
    now_secs: i64,
) -> Result<Inbound, Refusal> {
    let (Some(sig), Some(timestamp), Some(nonce)) = (query.signature, query.timestamp, query.nonce)
    else {
        return Err(Refusal::BadSignature);
    };
    let token = config.token.expose();
    if !signature::matches(sig, &[token, timestamp, nonce]) {
        return Err(Refusal::BadSignature);
    }
    // A signed timestamp is still a replay if it is old: judged after the signature, so a
    // forger learns nothing from which check failed.
    let at: i64 = timestamp.parse().map_err(|_| Refusal::Stale)?;
    if (now_secs - at).abs() > MAX_SKEW_SECS {
        return Err(Refusal::Stale);
    }
    let Some(body) = body else {
        let echostr = query
            .echostr
            .ok_or_else(|| Refusal::Malformed("echostr is required".into()))?;
        return Ok(Inbound::UrlCheck {
            echostr: echostr.to_string(),
        });
    };
    let outer = xml::parse(body).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let sealed = query.encrypt_type == Some("aes");
    let Some(encrypt) = outer.get("Encrypt").filter(|_| sealed) else {
        // A plain push is signed over the token, timestamp and nonce only, never its body: once
        // the account has a key (safe or compatible mode), WeChat seals every push, and a plain
        // one is someone replaying a signature they saw.
        if !config.keys.is_empty() {
            return Err(Refusal::Unsealed);
        }
        if sealed && outer.get("MsgType").is_none() {
            return Err(Refusal::Malformed("Encrypt is required".into()));
        }
        return Ok(Inbound::Push(Push {
            fields: outer,
            sealed_with: None,
            nonce: nonce.to_string(),
        }));
    };
    let msg_sig = query.msg_signature.ok_or(Refusal::BadSignature)?;
    if !signature::matches(msg_sig, &[token, timestamp, nonce, encrypt]) {
        return Err(Refusal::BadSignature);
    }
    if config.keys.is_empty() {
        // Compatible mode also carries the plain fields: they are as authentic as the rest.
        if outer.get("MsgType").is_some() {
            return Ok(Inbound::Push(Push {
                fields: outer,
                sealed_with: None,
                nonce: nonce.to_string(),
            }));
        }
        return Err(Refusal::NoKey);
    }
    for (i, key) in config.keys.iter().enumerate() {
        let Ok(opened) = key.open(encrypt) else {
            continue;
        };
        if opened.appid != config.appid {
            return Err(Refusal::WrongAppid);
        }
        let fields =
            xml::parse(opened.message.as_bytes()).map_err(|e| Refusal::Malformed(e.to_string()))?;
        return Ok(Inbound::Push(Push {
            fields,
            sealed_with: Some(i),
            nonce: nonce.to_string(),
        }));
    }
    Err(Refusal::Unreadable)
}

#[cfg(test)]
mod tests;
