//! The webhook signature: `Wxgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the MAC
//! taken with the webhook's secret over `"<t>.<body>"`. A receiver recomputes it, compares in
//! constant time, and refuses a `t` too far from its own clock (a replayed old delivery).

use aws_lc_rs::hmac;

/// The header that carries the signature.
pub const HEADER: &str = "wxgate-signature";

/// How far `t` may be from the receiver's clock, by default.
pub const TOLERANCE_SECS: i64 = 300;

fn mac(secret: &[u8], t: i64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// The header value for `body` sent at `t` (unix seconds).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).as_ref()))
}

/// Whether `header` signs `body` with `secret`, at a time within `tolerance` of `now`.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance {
        return false;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut message = t.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    // Any listed v1 may match (a receiver rolling its secret accepts either).
    v1.iter()
        .any(|tag| hmac::verify(&key, &message, tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // The README's worked example, also checkable with
        // printf '%s' '1796040000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_demo
        let header = sign(b"whsec_demo", 1_796_040_000, br#"{"id":"evt_1"}"#);
        assert_eq!(
            header,
            "t=1796040000,v1=43d53d23322a3442f566a64d3b725aff4f86eeca4147141dffa2a38ad6f84dbc"
        );
        assert!(verify(
            b"whsec_demo",
            &header,
            br#"{"id":"evt_1"}"#,
            1_796_040_010,
            300
        ));
    }

    #[test]
    fn a_changed_body_secret_or_stale_time_fails() {
        let body = br#"{"id":"evt_1","type":"user.merged"}"#;
        let header = sign(b"s3cret", 1000, body);
        assert!(verify(b"s3cret", &header, body, 1000, 300));
        assert!(!verify(
            b"s3cret",
            &header,
            br#"{"id":"evt_2","type":"user.merged"}"#,
            1000,
            300
        ));
        assert!(!verify(b"other", &header, body, 1000, 300));
        assert!(!verify(b"s3cret", &header, body, 1301, 300), "too old");
        assert!(
            !verify(b"s3cret", &header, body, 699, 300),
            "from the future"
        );
        assert!(!verify(b"s3cret", "v1=00", body, 1000, 300), "no time");
        assert!(
            !verify(b"s3cret", "t=1000,v1=zz", body, 1000, 300),
            "not hex"
        );
        // A header with the new and the old signature passes with either secret.
        let both = format!("{header},v1={}", "00".repeat(32));
        assert!(verify(b"s3cret", &both, body, 1000, 300));
    }
}
