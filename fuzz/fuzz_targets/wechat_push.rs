//! An official account's server URL: any query and body, signed or not, sealed or not, never
//! panics; a push it accepts is answered with a reply that opens back to the same text.
//! Half the inputs are signed within the allowed clock skew and have their body sealed with the
//! account's key (as WeChat sends them once a key is set), so the cipher, the inner XML and the
//! reply are reached, not only the checks in front of them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wxgate_core::secret::Secret;
use wxgate_providers::wechat::message::{
    self, reply, Inbound, MessageConfig, MessageKey, PushQuery,
};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const TOKEN: &str = "fuzzToken1";
const NOW: i64 = 1796040000;

fuzz_target!(|input: (Vec<Option<String>>, bool, &[u8])| {
    let (fields, sign, body) = input;
    let key = MessageKey::from_encoding_aes_key(KEY).expect("a valid key");
    let config = MessageConfig {
        appid: "wx0000000000000002".into(),
        token: Secret::new(TOKEN),
        keys: vec![key.clone()],
    };
    let field = |i: usize| fields.get(i).cloned().flatten();
    let nonce = field(2);
    // Signed inputs are on time (within a few minutes of NOW); the rest say what they like.
    let timestamp = if sign {
        let skew = i64::from(body.first().copied().unwrap_or(0)) - 128;
        Some((NOW + skew).to_string())
    } else {
        field(1)
    };
    // A signed input's body is the message, sealed as WeChat seals it.
    let sealed_body;
    let body: &[u8] = if sign {
        let inner = String::from_utf8_lossy(body);
        let encrypt = key.seal(&inner, "wx0000000000000002", [3; 16]);
        sealed_body = format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
        sealed_body.as_bytes()
    } else {
        body
    };
    // Half the inputs carry a correct signature, so the parser and the cipher are reached.
    let signature = if sign {
        let mut parts = [
            TOKEN,
            timestamp.as_deref().unwrap_or(""),
            nonce.as_deref().unwrap_or(""),
        ];
        parts.sort_unstable();
        Some(message::signature::sign(&parts))
    } else {
        field(0)
    };
    let encrypt = message::xml::parse(body)
        .ok()
        .and_then(|f| f.get("Encrypt").map(str::to_string));
    let msg_signature = match (sign, &encrypt) {
        (true, Some(e)) => Some(message::signature::sign(&[
            TOKEN,
            timestamp.as_deref().unwrap_or(""),
            nonce.as_deref().unwrap_or(""),
            e,
        ])),
        _ => field(3),
    };
    let query = PushQuery {
        signature: signature.as_deref(),
        timestamp: timestamp.as_deref(),
        nonce: nonce.as_deref(),
        echostr: field(4).as_deref().map(|_| "echo"),
        encrypt_type: if sign {
            Some("aes")
        } else {
            field(5).as_deref().map(|_| "aes")
        },
        msg_signature: msg_signature.as_deref(),
    };
    let body = (!body.is_empty()).then_some(body);
    if let Ok(Inbound::Push(push)) = message::open(&config, &query, body, NOW) {
        if let Some(answer) = reply::text(&config, &push, "登录成功", NOW, [7; 16]) {
            let outer = message::xml::parse(answer.as_bytes()).expect("our reply is XML");
            if let Some(sealed) = outer.get("Encrypt") {
                let opened = key.open(sealed).expect("our reply opens");
                let inner = message::xml::parse(opened.message.as_bytes()).expect("inner XML");
                assert_eq!(inner.get("Content"), Some("登录成功"));
            } else {
                assert_eq!(outer.get("Content"), Some("登录成功"));
            }
        }
    }
});
