//! Random identifiers shaped like the real ones (wechat-api.md §1).
//!
//! None of these shapes is a contract, but mimicking them exercises the gateway's column sizes and
//! log redaction the way production traffic would.

use base64::Engine as _;
use rand::distributions::Alphanumeric;
use rand::Rng;

/// Alphabet of openids, unionids and tokens: URL-safe base64 letters.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// Generation prefix of tokens (`69_0lLZ...` in the wild); the number is arbitrary.
const TOKEN_GENERATION: &str = "86_";

fn from_alphabet(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())]))
        .collect()
}

fn alphanumeric(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn lower_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(buf.as_mut_slice());
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// openid and unionid: 28 chars starting with `o`.
pub(crate) fn open_id() -> String {
    format!("o{}", from_alphabet(27))
}

/// wx.login `js_code` and OAuth `code`: 32 alphanumerics.
pub(crate) fn auth_code() -> String {
    alphanumeric(32)
}

/// getPhoneNumber `code`: 64 lowercase hex digits.
pub(crate) fn phone_code() -> String {
    lower_hex(32)
}

/// Interface `access_token`: about 136 chars with a generation prefix.
pub(crate) fn interface_token() -> String {
    format!("{TOKEN_GENERATION}{}", from_alphabet(133))
}

/// OAuth (sns) access and refresh tokens: about 100 chars, same style.
pub(crate) fn sns_token() -> String {
    format!("{TOKEN_GENERATION}{}", from_alphabet(97))
}

/// session_key: base64 of 16 random bytes (24 chars ending `==`).
pub(crate) fn session_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(random_16())
}

/// An official account's original id (原始ID, the `ToUserName` of its pushes): `gh_` and 12
/// lowercase hex digits, derived from the appid so that it is stable across runs.
pub(crate) fn original_id(appid: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(appid.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("gh_{hex}")
}

/// A QR code ticket: standard base64 with `+`, `/` and `=` in it, as real tickets have, so
/// that a client which forgets to URL-encode it for `showqrcode` gets a 404.
pub(crate) fn qr_ticket() -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    loop {
        let mut bytes = [0u8; 58];
        rand::thread_rng().fill(&mut bytes[..]);
        let ticket = format!("gQ{}", engine.encode(bytes));
        if ticket.contains('+') && ticket.contains('/') {
            return ticket;
        }
    }
}

/// The id at the end of a QR code's `http://weixin.qq.com/q/<id>` content.
pub(crate) fn qr_url_id() -> String {
    format!("02{}", alphanumeric(20))
}

/// A JS-SDK `jsapi_ticket` (or card ticket): 86 URL-safe characters.
pub(crate) fn js_ticket() -> String {
    from_alphabet(86)
}

/// A push's `nonce` query parameter: digits, as WeChat sends it.
pub(crate) fn push_nonce() -> String {
    rand::thread_rng()
        .gen_range(100_000_000..2_000_000_000u32)
        .to_string()
}

/// A text message's `MsgId`: a positive 64-bit number.
pub(crate) fn msg_id() -> u64 {
    rand::thread_rng().gen_range(10_000_000_000_000_000..u64::MAX / 2)
}

/// A WeCom OAuth `code`: 43 URL-safe characters.
pub(crate) fn wecom_code() -> String {
    from_alphabet(43)
}

/// A WeCom corp `access_token`: about 214 URL-safe characters.
pub(crate) fn corp_token() -> String {
    from_alphabet(214)
}

/// A WeCom `user_ticket` (snsapi_privateinfo): 100 URL-safe characters.
pub(crate) fn user_ticket() -> String {
    from_alphabet(100)
}

/// A non-member's `external_userid` under a corp: `wm` and 30 alphanumerics.
pub(crate) fn external_userid() -> String {
    format!("wm{}", alphanumeric(30))
}

/// The `hint` WeCom puts in every errmsg: the unix time followed by 15 digits, as in
/// `hint: [1670371158347280850760093]`.
pub(crate) fn wecom_hint(now: i64) -> String {
    let tail: u64 = rand::thread_rng().gen_range(0..1_000_000_000_000_000);
    format!("{now}{tail:015}")
}

pub(crate) fn random_16() -> [u8; 16] {
    rand::thread_rng().gen()
}

/// The per-request `rid` WeChat appends to every errmsg: three groups of 8 hex digits.
pub(crate) fn rid() -> String {
    format!("{}-{}-{}", lower_hex(4), lower_hex(4), lower_hex(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_alphabet(s: &str) -> bool {
        s.bytes().all(|b| ID_ALPHABET.contains(&b))
    }

    #[test]
    fn shapes_match_the_reference() {
        let openid = open_id();
        assert_eq!(openid.len(), 28);
        assert!(openid.starts_with('o') && in_alphabet(&openid));

        let code = auth_code();
        assert_eq!(code.len(), 32);
        assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));

        let phone = phone_code();
        assert_eq!(phone.len(), 64);
        assert!(phone
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

        let token = interface_token();
        assert_eq!(token.len(), 136);
        assert!(token.starts_with("86_") && in_alphabet(&token));

        let key = session_key();
        assert_eq!(key.len(), 24);
        assert!(key.ends_with("=="));

        let rid = rid();
        assert_eq!(rid.len(), 26);
        assert_eq!(rid.matches('-').count(), 2);

        let gh = original_id("wx0000000000000002");
        assert_eq!(gh, original_id("wx0000000000000002"));
        assert_ne!(gh, original_id("wx0000000000000001"));
        assert_eq!(gh.len(), 15);
        assert!(gh.starts_with("gh_"));
        assert!(gh[3..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

        let ticket = qr_ticket();
        assert!(ticket.contains('+') && ticket.contains('/') && ticket.ends_with('='));

        assert_eq!(js_ticket().len(), 86);

        assert!(in_alphabet(&wecom_code()) && wecom_code().len() == 43);
        assert!(in_alphabet(&corp_token()) && corp_token().len() == 214);
        let external = external_userid();
        assert!(external.starts_with("wm") && external.len() == 32);
        let hint = wecom_hint(1_670_371_158);
        assert!(hint.starts_with("1670371158") && hint.len() == 25, "{hint}");
        assert!(hint.bytes().all(|b| b.is_ascii_digit()));
    }
}
