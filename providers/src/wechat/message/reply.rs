//! Passive replies: what WeChat shows the person in the chat, in the answer to their push.
//! Sealed with the key that opened the push when it came sealed (wechat-api.md §12.2).

use super::inbound::{MessageConfig, Push};
use super::signature;
use super::xml::{self, Value};

/// A text reply to `push`, sealed if the push was; `None` when the push names nobody to
/// answer.
pub fn text(
    config: &MessageConfig,
    push: &Push,
    content: &str,
    now_secs: i64,
    random: [u8; 16],
) -> Option<String> {
    let plain = xml::write(&[
        ("ToUserName", Value::Text(push.from_user()?)),
        ("FromUserName", Value::Text(push.to_user()?)),
        ("CreateTime", Value::Number(now_secs)),
        ("MsgType", Value::Text("text")),
        ("Content", Value::Text(content)),
    ]);
    let Some(key) = push.sealed_with.and_then(|i| config.keys.get(i)) else {
        return Some(plain);
    };
    let encrypt = key.seal(&plain, &config.appid, random);
    let timestamp = now_secs.to_string();
    let msg_signature =
        signature::sign(&[config.token.expose(), &timestamp, &push.nonce, &encrypt]);
    Some(xml::write(&[
        ("Encrypt", Value::Text(&encrypt)),
        ("MsgSignature", Value::Text(&msg_signature)),
        ("TimeStamp", Value::Number(now_secs)),
        ("Nonce", Value::Text(&push.nonce)),
    ]))
}
