//! What the account's server answered a push, as WeChat reads it (wechat-api.md §12.2):
//! `success` or nothing, a passive reply (plain or sealed in `<Encrypt>`), or something WeChat
//! cannot use, after which the person sees "该公众号暂时无法提供服务，请稍后再试".

use serde_json::{json, Value};

use super::xml::{self, field};
use crate::msgcrypt::{signature, MessageKey};

/// What decoding a sealed reply needs: the account's token, key and AppID.
pub(crate) struct ReplyKeys<'a> {
    pub(crate) token: &'a str,
    pub(crate) key: Option<&'a MessageKey>,
    pub(crate) appid: &'a str,
}

/// `{"kind": "none"}`, `{"kind": "<MsgType>", …}` or `{"kind": "invalid"}`.
pub(crate) fn decode(status: u16, body: &str, keys: &ReplyKeys<'_>) -> Value {
    let invalid = json!({"kind": "invalid"});
    if !(200..300).contains(&status) {
        return invalid;
    }
    let trimmed = body.trim();
    if trimmed.is_empty() || trimmed == "success" {
        return json!({"kind": "none"});
    }
    let Some(outer) = xml::parse(trimmed) else {
        return invalid;
    };
    let Some(encrypt) = field(&outer, "Encrypt") else {
        return describe(&outer, false, Value::Null).unwrap_or(invalid);
    };
    // A sealed reply WeChat cannot open (no key, another AppID, garbage) is no reply.
    let opened = keys
        .key
        .and_then(|key| key.decrypt(encrypt).ok())
        .filter(|opened| opened.appid == keys.appid);
    let Some(inner) = opened.and_then(|opened| xml::parse(&opened.message)) else {
        return invalid;
    };
    let expected = signature(&[
        keys.token,
        field(&outer, "TimeStamp").unwrap_or(""),
        field(&outer, "Nonce").unwrap_or(""),
        encrypt,
    ]);
    let signature_ok = field(&outer, "MsgSignature") == Some(expected.as_str());
    describe(&inner, true, json!(signature_ok)).unwrap_or(invalid)
}

/// The reply's kind and addressing; None without a `MsgType`.
fn describe(fields: &[(String, String)], encrypted: bool, signature_ok: Value) -> Option<Value> {
    let kind = field(fields, "MsgType").filter(|k| !k.is_empty())?;
    let content = (kind == "text").then(|| field(fields, "Content").unwrap_or(""));
    Some(json!({
        "kind": kind,
        "content": content,
        "to": field(fields, "ToUserName"),
        "from": field(fields, "FromUserName"),
        "encrypted": encrypted,
        "signature_ok": signature_ok,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "wxgateDevEncodingAESKey0123456789abcdefghij";

    fn keys(key: Option<&MessageKey>) -> ReplyKeys<'_> {
        ReplyKeys {
            token: "tok",
            key,
            appid: "wx2",
        }
    }

    #[test]
    fn success_empty_plain_and_junk() {
        assert_eq!(decode(200, " success ", &keys(None))["kind"], "none");
        assert_eq!(decode(200, "", &keys(None))["kind"], "none");
        assert_eq!(decode(500, "success", &keys(None))["kind"], "invalid");
        assert_eq!(decode(200, "{\"ok\":1}", &keys(None))["kind"], "invalid");
        assert_eq!(decode(200, "<xml></xml>", &keys(None))["kind"], "invalid");
        let plain = "<xml><ToUserName><![CDATA[o1]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>";
        assert_eq!(
            decode(200, plain, &keys(None)),
            json!({"kind": "text", "content": "hi", "to": "o1", "from": "gh_1", "encrypted": false, "signature_ok": null})
        );
    }

    #[test]
    fn sealed_replies_are_opened_and_their_signature_checked() {
        let Ok(key) = MessageKey::parse(KEY) else {
            panic!("demo key must parse");
        };
        let inner = "<xml><MsgType><![CDATA[image]]></MsgType></xml>";
        let encrypt = key.encrypt(&[7; 16], inner, "wx2").unwrap_or_default();
        let good = signature(&["tok", "5", "n", &encrypt]);
        let reply = |sig: &str| {
            format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature><TimeStamp>5</TimeStamp><Nonce><![CDATA[n]]></Nonce></xml>")
        };
        let decoded = decode(200, &reply(&good), &keys(Some(&key)));
        assert_eq!(decoded["kind"], "image");
        assert_eq!(decoded["content"], Value::Null);
        assert_eq!(decoded["encrypted"], true);
        assert_eq!(decoded["signature_ok"], true);
        assert_eq!(
            decode(200, &reply("bad"), &keys(Some(&key)))["signature_ok"],
            false
        );
        assert_eq!(decode(200, &reply(&good), &keys(None))["kind"], "invalid");
        let foreign = ReplyKeys {
            appid: "wx3",
            ..keys(Some(&key))
        };
        assert_eq!(decode(200, &reply(&good), &foreign)["kind"], "invalid");
    }
}
