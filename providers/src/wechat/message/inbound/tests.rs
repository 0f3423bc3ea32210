use super::*;
use crate::wechat::message::reply;
use crate::wechat::message::xml::parse;

// wechat-api.md §12.2, the worked vector.
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OLD_KEY: &str = "zyxwvutsrqponmlkjihgfedcba9876543210ABCDEFG";
const APPID: &str = "wx0000000000000002";
const TOKEN: &str = "wxgate-token";
const NOW: i64 = 1796040000;
const NONCE: &str = "1320562132";
const SIGNATURE: &str = "caaa7beaf2f1fd178286751c283d3cf5ad913b4b";
const MSG_SIGNATURE: &str = "0d7e848f9dd7c2baf80d9c5f7521a0f5958ecc5e";
const MESSAGE: &str = "<xml><ToUserName><![CDATA[gh_0000000000aa]]></ToUserName><FromUserName><![CDATA[oOA-alice-openid]]></FromUserName><CreateTime>1796040000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR]]></EventKey><Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2RtWk1]]></Ticket></xml>";
const ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDP416U7c008c6+bv43/4vqkmuEAQcQdQeJUX3Xku1KYlekJvrsAcOmeg3LadSoxFD5gXJU2Ubnc1K1yTF+NpLnF2V7NY1CQukinwt4HWA/xs1P8UvtrR5czFzcjV8FbnJBu1G0nbNbuAsX5zDD/4qbNU+6LhicNmiganyXtPxkg6im8sSH9UAy15mhM2DMcogfXliaGYHTTSswi1qhRGaLOsdd8cERIU+B22oSETwwtZeX3lKSX57uaFWNPXEy+Xy/oJTt9CJ1ItP54YSEDAjlXvRyxFwBK7a0PnSQT7IxjQ86hC8hoZL1mJFuqS/4wEVxn30asU6eGG46EmRNmplXTx9g57rA6CAUwucxss70LW+A4JL7sgDOXIKr3JjgXg8CEfpBhQfB/vwQCNh/1b0R9rxXng0o90DwbMo5k3Kjrgaq2Xa+av4jBcycZtdsoTIoipPPos5Ai2ebLZfctPPTH1nYO0bszXF8efQJvyPFflP6S/XqMNAWys4zvg9ltMIfzkj1N581PNVDuAG3eP30o=";

fn config(keys: &[&str]) -> MessageConfig {
    MessageConfig {
        appid: APPID.into(),
        token: Secret::new(TOKEN),
        keys: keys
            .iter()
            .map(|k| MessageKey::from_encoding_aes_key(k).unwrap())
            .collect(),
    }
}

fn query<'a>(msg_signature: Option<&'a str>) -> PushQuery<'a> {
    PushQuery {
        signature: Some(SIGNATURE),
        timestamp: Some("1796040000"),
        nonce: Some(NONCE),
        echostr: None,
        encrypt_type: msg_signature.map(|_| "aes"),
        msg_signature,
    }
}

fn sealed_body(encrypt: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_0000000000aa]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
}

fn push_of(inbound: Inbound) -> Push {
    match inbound {
        Inbound::Push(p) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_url_check_answers_echostr_only_when_signed() {
    let mut q = query(None);
    q.echostr = Some("echo-123");
    assert_eq!(
        open(&config(&[]), &q, None, NOW),
        Ok(Inbound::UrlCheck {
            echostr: "echo-123".into()
        })
    );
    q.signature = Some("0000000000000000000000000000000000000000");
    assert_eq!(
        open(&config(&[]), &q, None, NOW),
        Err(Refusal::BadSignature)
    );
    q.signature = None;
    assert_eq!(
        open(&config(&[]), &q, None, NOW),
        Err(Refusal::BadSignature)
    );
}

#[test]
fn the_safe_mode_vector_opens() {
    let push = push_of(
        open(
            &config(&[KEY]),
            &query(Some(MSG_SIGNATURE)),
            Some(sealed_body(ENCRYPT).as_bytes()),
            NOW,
        )
        .unwrap(),
    );
    assert_eq!(push.fields, parse(MESSAGE.as_bytes()).unwrap());
    assert_eq!(push.sealed_with, Some(0));
    assert_eq!(push.from_user(), Some("oOA-alice-openid"));
}

#[test]
fn a_push_under_the_previous_key_opens_with_it() {
    let push = push_of(
        open(
            &config(&[OLD_KEY, KEY]),
            &query(Some(MSG_SIGNATURE)),
            Some(sealed_body(ENCRYPT).as_bytes()),
            NOW,
        )
        .unwrap(),
    );
    assert_eq!(push.sealed_with, Some(1));
    assert_eq!(push.fields.get("Event"), Some("SCAN"));
}

#[test]
fn a_bad_msg_signature_or_a_key_that_fits_nothing_is_refused() {
    let body = sealed_body(ENCRYPT);
    let bad = "0d7e848f9dd7c2baf80d9c5f7521a0f5958ecc5f";
    assert_eq!(
        open(
            &config(&[KEY]),
            &query(Some(bad)),
            Some(body.as_bytes()),
            NOW
        ),
        Err(Refusal::BadSignature)
    );
    let mut q = query(Some(MSG_SIGNATURE));
    q.msg_signature = None;
    assert_eq!(
        open(&config(&[KEY]), &q, Some(body.as_bytes()), NOW),
        Err(Refusal::BadSignature)
    );
    assert_eq!(
        open(
            &config(&[OLD_KEY]),
            &query(Some(MSG_SIGNATURE)),
            Some(body.as_bytes()),
            NOW
        ),
        Err(Refusal::Unreadable)
    );
}

#[test]
fn another_accounts_sealed_push_is_refused() {
    let key = MessageKey::from_encoding_aes_key(KEY).unwrap();
    let encrypt = key.seal(MESSAGE, "wx00000000000000ff", [7; 16]);
    let msg_sig = signature::sign(&[TOKEN, "1796040000", NONCE, &encrypt]);
    assert_eq!(
        open(
            &config(&[KEY]),
            &query(Some(&msg_sig)),
            Some(sealed_body(&encrypt).as_bytes()),
            NOW
        ),
        Err(Refusal::WrongAppid)
    );
}

#[test]
fn an_old_or_future_timestamp_is_refused_even_when_signed() {
    let ts = (NOW - MAX_SKEW_SECS - 1).to_string();
    let sig = signature::sign(&[TOKEN, &ts, NONCE]);
    let q = PushQuery {
        signature: Some(&sig),
        timestamp: Some(&ts),
        nonce: Some(NONCE),
        ..Default::default()
    };
    assert_eq!(
        open(&config(&[]), &q, Some(MESSAGE.as_bytes()), NOW),
        Err(Refusal::Stale)
    );
    assert_eq!(
        open(
            &config(&[]),
            &q,
            Some(MESSAGE.as_bytes()),
            NOW - 2 * MAX_SKEW_SECS - 2
        ),
        Err(Refusal::Stale)
    );
    assert!(open(
        &config(&[]),
        &q,
        Some(MESSAGE.as_bytes()),
        NOW - MAX_SKEW_SECS
    )
    .is_ok());
}

#[test]
fn plain_and_compatible_pushes_read_their_fields() {
    let plain = push_of(open(&config(&[]), &query(None), Some(MESSAGE.as_bytes()), NOW).unwrap());
    assert_eq!(plain.sealed_with, None);
    assert_eq!(
        plain.fields.get("EventKey"),
        Some("Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR")
    );
    // Compatible mode: the plain fields and <Encrypt>; with a key, the sealed part is read.
    let compat = MESSAGE.replace(
        "</xml>",
        &format!("<Encrypt><![CDATA[{ENCRYPT}]]></Encrypt></xml>"),
    );
    let with_key = push_of(
        open(
            &config(&[KEY]),
            &query(Some(MSG_SIGNATURE)),
            Some(compat.as_bytes()),
            NOW,
        )
        .unwrap(),
    );
    assert_eq!(with_key.sealed_with, Some(0));
    let without = push_of(
        open(
            &config(&[]),
            &query(Some(MSG_SIGNATURE)),
            Some(compat.as_bytes()),
            NOW,
        )
        .unwrap(),
    );
    assert_eq!(without.sealed_with, None);
    assert_eq!(without.fields.get("Event"), Some("SCAN"));
}

#[test]
fn a_plain_push_is_refused_once_a_key_is_configured() {
    // Validly signed: the signature covers the token, timestamp and nonce, not the body.
    for encrypt_type in [None, Some("raw")] {
        let mut q = query(None);
        q.encrypt_type = encrypt_type;
        assert_eq!(
            open(&config(&[KEY]), &q, Some(MESSAGE.as_bytes()), NOW),
            Err(Refusal::Unsealed),
            "{encrypt_type:?}"
        );
    }
}

#[test]
fn a_sealed_push_without_a_configured_key_is_ours_to_fix() {
    assert_eq!(
        open(
            &config(&[]),
            &query(Some(MSG_SIGNATURE)),
            Some(sealed_body(ENCRYPT).as_bytes()),
            NOW
        ),
        Err(Refusal::NoKey)
    );
}

#[test]
fn an_entity_in_a_push_is_refused() {
    let body = br#"<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>"#;
    assert!(matches!(
        open(&config(&[]), &query(None), Some(body), NOW),
        Err(Refusal::Malformed(_))
    ));
}

#[test]
fn a_reply_to_a_sealed_push_is_sealed_signed_and_opens_back() {
    let config = config(&[OLD_KEY, KEY]);
    let push = push_of(
        open(
            &config,
            &query(Some(MSG_SIGNATURE)),
            Some(sealed_body(ENCRYPT).as_bytes()),
            NOW,
        )
        .unwrap(),
    );
    let answer = reply::text(&config, &push, "登录成功", NOW + 1, [9; 16]).unwrap();
    let outer = parse(answer.as_bytes()).unwrap();
    let encrypt = outer.get("Encrypt").unwrap();
    assert_eq!(outer.get("Nonce"), Some(NONCE));
    assert_eq!(outer.get("TimeStamp"), Some("1796040001"));
    assert_eq!(
        outer.get("MsgSignature").unwrap(),
        signature::sign(&[TOKEN, "1796040001", NONCE, encrypt])
    );
    // Sealed with the key that opened the push (the current one here, index 1).
    let opened = MessageKey::from_encoding_aes_key(KEY)
        .unwrap()
        .open(encrypt)
        .unwrap();
    assert_eq!(opened.appid, APPID);
    let inner = parse(opened.message.as_bytes()).unwrap();
    assert_eq!(inner.get("ToUserName"), Some("oOA-alice-openid"));
    assert_eq!(inner.get("FromUserName"), Some("gh_0000000000aa"));
    assert_eq!(inner.get("MsgType"), Some("text"));
    assert_eq!(inner.get("Content"), Some("登录成功"));
}

#[test]
fn a_reply_to_a_plain_push_is_plain() {
    let config = config(&[]);
    let push = push_of(open(&config, &query(None), Some(MESSAGE.as_bytes()), NOW).unwrap());
    let answer = reply::text(&config, &push, "hi", NOW, [0; 16]).unwrap();
    let f = parse(answer.as_bytes()).unwrap();
    assert_eq!(f.get("Content"), Some("hi"));
    assert_eq!(f.get("Encrypt"), None);
}
