//! A stand-in for an official account's server URL, written from wechat-api.md §12.2 apart from
//! the simulator's own code: it checks `signature` and `msg_signature`, opens `<Encrypt>`, records
//! what it saw, and answers a passive reply (sealed when the push was).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the server answers a push whose signatures check out.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// A passive text reply with this content.
    Text(&'static str),
    Success,
    /// A JSON body, which WeChat cannot use.
    Json,
    /// Too slow: answers `success` after this long.
    Sleep(Duration),
}

/// One push as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub query: String,
    pub params: HashMap<String, String>,
    pub body: String,
    pub signature_ok: bool,
    /// None when the push was not encrypted.
    pub msg_signature_ok: Option<bool>,
    /// The AppID at the end of the decrypted plaintext.
    pub appid: Option<String>,
    /// The message: the body itself, or what `<Encrypt>` held.
    pub message: Option<String>,
}

impl Seen {
    /// A field of the message.
    pub fn field(&self, tag: &str) -> Option<String> {
        self.message.as_deref().and_then(|m| xml_field(m, tag))
    }
}

#[derive(Clone)]
struct Config {
    token: String,
    key: Option<[u8; 32]>,
    appid: String,
    answer: Answer,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Serves on a free port; `encoding_aes_key` is needed to open encrypted pushes.
    pub async fn start(
        token: &str,
        encoding_aes_key: Option<&str>,
        appid: &str,
        answer: Answer,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let config = Config {
            token: token.to_owned(),
            key: encoding_aes_key.map(aes_key),
            appid: appid.to_owned(),
            answer,
            seen: seen.clone(),
        };
        let router = Router::new()
            .route("/_auth/oa/message", post(receive))
            .with_state(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("receiver");
        });
        Self {
            url: format!("http://{addr}/_auth/oa/message"),
            seen,
            task,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().last().cloned().expect("a push was received")
    }
}

async fn receive(
    State(config): State<Config>,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let query = query.unwrap_or_default();
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| params.get(name).cloned().unwrap_or_default();
    let (timestamp, nonce) = (param("timestamp"), param("nonce"));
    let signature_ok = param("signature") == sha1_sorted(&[&config.token, &timestamp, &nonce]);
    let mut seen = Seen {
        query: query.clone(),
        params: params.clone(),
        body: body.clone(),
        signature_ok,
        msg_signature_ok: None,
        appid: None,
        message: Some(body.clone()),
    };
    let encrypted = param("encrypt_type") == "aes";
    if encrypted {
        let encrypt = xml_field(&body, "Encrypt").unwrap_or_default();
        seen.msg_signature_ok = Some(
            param("msg_signature") == sha1_sorted(&[&config.token, &timestamp, &nonce, &encrypt]),
        );
        let opened = config.key.and_then(|key| open(&key, &encrypt));
        seen.message = opened.as_ref().map(|(message, _)| message.clone());
        seen.appid = opened.map(|(_, appid)| appid);
    }
    let genuine = seen.signature_ok
        && seen.msg_signature_ok != Some(false)
        && (!encrypted || seen.appid.as_deref() == Some(config.appid.as_str()));
    let (user, account) = (seen.field("FromUserName"), seen.field("ToUserName"));
    config.seen.lock().expect("seen").push(seen);
    if !genuine {
        return (StatusCode::FORBIDDEN, "bad signature").into_response();
    }
    match config.answer {
        Answer::Success => "success".into_response(),
        Answer::Json => axum::Json(serde_json::json!({"ok": true})).into_response(),
        Answer::Sleep(pause) => {
            tokio::time::sleep(pause).await;
            "success".into_response()
        }
        Answer::Text(content) => {
            let reply = format!(
                "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{}]]></FromUserName><CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content></xml>",
                user.unwrap_or_default(),
                account.unwrap_or_default(),
            );
            match (encrypted, config.key) {
                (true, Some(key)) => {
                    let encrypt = seal(&key, &reply, &config.appid);
                    let reply_nonce = "778899";
                    let signature =
                        sha1_sorted(&[&config.token, &timestamp, reply_nonce, &encrypt]);
                    format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{reply_nonce}]]></Nonce></xml>")
                        .into_response()
                }
                _ => reply.into_response(),
            }
        }
    }
}

/// The value of `<tag>` in a flat WeChat XML document, CDATA unwrapped.
pub fn xml_field(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    let value = &xml[start..end];
    Some(
        value
            .strip_prefix("<![CDATA[")
            .and_then(|v| v.strip_suffix("]]>"))
            .unwrap_or(value)
            .to_owned(),
    )
}

pub fn sha1_sorted(parts: &[&str]) -> String {
    let mut parts = parts.to_vec();
    parts.sort();
    Sha1::digest(parts.concat())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// base64decode(EncodingAESKey + "="); the key's last character carries spare bits.
fn aes_key(encoding_aes_key: &str) -> [u8; 32] {
    let lenient = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = lenient
        .decode(format!("{encoding_aes_key}="))
        .expect("EncodingAESKey is base64");
    bytes.try_into().expect("EncodingAESKey is 32 bytes")
}

/// The message and AppID inside an `<Encrypt>`.
fn open(key: &[u8; 32], encrypt: &str) -> Option<(String, String)> {
    let sealed = STANDARD.decode(encrypt).ok()?;
    let plain = cbc::Decryptor::<aes::Aes256>::new_from_slices(key, &key[..16])
        .ok()?
        .decrypt_padded_vec_mut::<NoPadding>(&sealed)
        .ok()?;
    let pad = usize::from(*plain.last()?);
    if !(1..=32).contains(&pad) {
        return None;
    }
    let content = &plain[16..plain.len() - pad];
    let length = u32::from_be_bytes(content[..4].try_into().ok()?) as usize;
    let message = String::from_utf8(content[4..4 + length].to_vec()).ok()?;
    let appid = String::from_utf8(content[4 + length..].to_vec()).ok()?;
    Some((message, appid))
}

fn seal(key: &[u8; 32], message: &str, appid: &str) -> String {
    let mut plain = b"fedcba9876543210".to_vec();
    plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
    plain.extend_from_slice(message.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let sealed = cbc::Encryptor::<aes::Aes256>::new_from_slices(key, &key[..16])
        .expect("key")
        .encrypt_padded_vec_mut::<NoPadding>(&plain);
    STANDARD.encode(sealed)
}
