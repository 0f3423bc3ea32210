//! Forged and tampered tokens: every one is refused (security doc cases C1–C6).

use super::*;
use crate::clock::{Clock, ManualClock};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};

const START_MS: i64 = 1_767_225_600_000;

fn service(dir: &std::path::Path, issuer: &str, clock: &ManualClock) -> TokenService {
    TokenService::open(
        issuer.into(),
        Duration::from_secs(900),
        dir.to_path_buf(),
        Arc::new(clock.clone()),
    )
    .unwrap()
}

fn fixture() -> (TokenService, ManualClock, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("wxgate-tok-{}", uuid::Uuid::new_v4()));
    let clock = ManualClock::new(START_MS);
    (service(&dir, "wxgate", &clock), clock, dir)
}

fn issue(s: &TokenService) -> String {
    s.issue_access(
        "u_1",
        "s_1",
        "mp",
        Some("oA"),
        None,
        Some("+8613800138000"),
        START_MS / 1000,
    )
    .unwrap()
    .0
}

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let h = it.next().unwrap().to_string();
    let p = it.next().unwrap().to_string();
    let s = it.next().unwrap().to_string();
    (h, p, s)
}

fn b64(json: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
}

#[test]
fn a_fresh_token_verifies_with_its_claims() {
    let (s, _, _) = fixture();
    let claims = s.verify_access(&issue(&s)).unwrap();
    assert_eq!(claims.sub, "u_1");
    assert_eq!(claims.sid, "s_1");
    assert_eq!(claims.oid.as_deref(), Some("oA"));
    assert_eq!(claims.phn.as_deref(), Some("+8613800138000"));
    assert_eq!(claims.aud, ACCESS_AUDIENCE);
}

#[test]
fn expired_tokens_are_refused() {
    let (s, clock, _) = fixture();
    let token = issue(&s);
    clock.advance_ms(899_000);
    assert!(s.verify_access(&token).is_ok());
    clock.advance_ms(7_000);
    assert_eq!(s.verify_access(&token), Err(TokenError::Expired));
}

#[test]
fn a_changed_payload_breaks_the_signature() {
    let (s, _, _) = fixture();
    let (h, p, sig) = parts(&issue(&s));
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    claims["sub"] = "u_admin".into();
    let forged = format!("{h}.{}.{sig}", b64(&claims));
    assert_eq!(s.verify_access(&forged), Err(TokenError::Invalid));
}

#[test]
fn alg_none_and_other_algorithms_are_refused() {
    let (s, _, _) = fixture();
    let (h, p, _) = parts(&issue(&s));
    let mut header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&h).unwrap()).unwrap();
    for alg in ["none", "NONE"] {
        header["alg"] = alg.into();
        let forged = format!("{}.{p}.", b64(&header));
        assert!(s.verify_access(&forged).is_err(), "{alg}");
    }
    // HS512, correctly signed with the real secret: still refused (the algorithm is pinned).
    let keys = s.keys();
    let signer = keys.access_signer();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::HS512);
    header.typ = Some("at+jwt".into());
    header.kid = Some(signer.kid.clone());
    let hs512 = encode(&header, &claims, &EncodingKey::from_secret(&signer.secret)).unwrap();
    assert_eq!(s.verify_access(&hs512), Err(TokenError::BadHeader));
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let (s, _, _) = fixture();
    let keys = s.keys();
    let public = format!("{}{}", keys.assertion_signer().x, keys.assertion_signer().y);
    let claims = s.verify_access(&issue(&s)).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(keys.assertion_signer().kid.clone());
    let forged = encode(
        &header,
        &claims,
        &EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_eq!(s.verify_access(&forged), Err(TokenError::UnknownKey));
}

#[test]
fn hostile_kids_and_embedded_keys_are_refused() {
    let (s, _, _) = fixture();
    let keys = s.keys();
    let claims = s.verify_access(&issue(&s)).unwrap();
    for kid in ["../../../dev/null", "' OR 1=1--", ""] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.into());
        let t = encode(
            &header,
            &claims,
            &EncodingKey::from_secret(&keys.access_signer().secret),
        )
        .unwrap();
        assert_eq!(s.verify_access(&t), Err(TokenError::UnknownKey), "{kid}");
    }
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(keys.access_signer().kid.clone());
    header.jku = Some("https://evil.example/jwks".into());
    let t = encode(
        &header,
        &claims,
        &EncodingKey::from_secret(&keys.access_signer().secret),
    )
    .unwrap();
    assert_eq!(s.verify_access(&t), Err(TokenError::BadHeader));
}

#[test]
fn wrong_issuer_type_or_audience_is_refused() {
    let (s, clock, dir) = fixture();
    let staging = service(&dir, "wxgate-staging", &clock);
    assert_eq!(s.verify_access(&issue(&staging)), Err(TokenError::Invalid));

    let keys = s.keys();
    let mut claims = (*s.verify_access(&issue(&s)).unwrap()).clone();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(keys.access_signer().kid.clone());
    let untyped = encode(
        &header,
        &claims,
        &EncodingKey::from_secret(&keys.access_signer().secret),
    )
    .unwrap();
    assert_eq!(s.verify_access(&untyped), Err(TokenError::BadHeader));

    header.typ = Some("at+jwt".into());
    claims.aud = "/api/".into();
    let other_aud = encode(
        &header,
        &claims,
        &EncodingKey::from_secret(&keys.access_signer().secret),
    )
    .unwrap();
    assert_eq!(s.verify_access(&other_aud), Err(TokenError::Invalid));
}

#[test]
fn string_typed_times_and_future_iat_are_refused() {
    let (s, clock, _) = fixture();
    let keys = s.keys();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(keys.access_signer().kid.clone());
    let key = EncodingKey::from_secret(&keys.access_signer().secret);
    let now = clock.now_secs();
    let base = serde_json::json!({"iss": "wxgate", "aud": ACCESS_AUDIENCE, "sub": "u", "sid": "s", "chn": "mp", "iat": now, "exp": now + 60});
    let mut never = base.clone();
    never["exp"] = "never".into();
    assert!(s
        .verify_access(&encode(&header, &never, &key).unwrap())
        .is_err());
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("exp");
    assert!(s
        .verify_access(&encode(&header, &missing, &key).unwrap())
        .is_err());
    let mut future = base.clone();
    future["iat"] = (now + 3600).into();
    future["exp"] = (now + 3700).into();
    assert_eq!(
        s.verify_access(&encode(&header, &future, &key).unwrap()),
        Err(TokenError::BadTimes)
    );
    let mut long = base;
    long["exp"] = (now + 86_400).into();
    assert_eq!(
        s.verify_access(&encode(&header, &long, &key).unwrap()),
        Err(TokenError::BadTimes)
    );
}

#[test]
fn rotation_keeps_old_tokens_valid_and_other_replicas_agree() {
    let (s, clock, dir) = fixture();
    let before = issue(&s);
    keys::KeySet::rotate(&dir, clock.now_ms() + 1, s.key_activation_ms()).unwrap();
    // A second replica on the same keys_dir, and this one after a reload.
    let replica = service(&dir, "wxgate", &clock);
    assert!(s.reload().unwrap());
    assert!(
        replica.verify_access(&before).is_ok(),
        "previous key still verifies"
    );
    let after = issue(&s);
    assert!(replica.verify_access(&after).is_ok());
    assert_eq!(replica.jwks(), s.jwks());
}

/// The kid a token was signed with.
fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[test]
fn a_replica_whose_timer_has_not_fired_follows_a_rotation_at_every_moment() {
    let (a, clock, dir) = fixture();
    // Two replicas that loaded the keys before the rotation and never reload on a timer.
    let lagging = service(&dir, "wxgate", &clock);
    let lagging_vault = service(&dir, "wxgate", &clock);
    keys::KeySet::rotate(&dir, clock.now_ms(), a.key_activation_ms()).unwrap();
    assert!(a.reload().unwrap());
    // Published but not yet signing: every replica accepts what `a` signs now.
    let before = issue(&a);
    assert!(lagging.verify_access(&before).is_ok());
    assert_eq!(
        a.jwks()["keys"].as_array().unwrap().len(),
        2,
        "the new assertion key is published before it signs"
    );
    // Activated: `a` signs with a key the lagging replica has never read.
    clock.advance_ms(a.key_activation_ms());
    let after = issue(&a);
    assert_ne!(kid(&before), kid(&after));
    assert!(
        lagging.verify_access(&after).is_ok(),
        "an unknown kid makes it reload"
    );
    // Values sealed with the new vault key (refresh children, session_keys) open there too.
    let sealed = a.seal(&crate::secret::Secret::new("child"), "ctx").unwrap();
    assert_eq!(
        lagging_vault.unseal(&sealed, "ctx").unwrap().expose(),
        "child"
    );
    let tag = a.mac(b"code").unwrap();
    assert!(lagging_vault.verify_mac(b"code", &tag));
    // A junk kid does not reload more than once a second.
    assert_eq!(
        lagging.verify_access(&forge_kid(&after, "nosuchkid")),
        Err(TokenError::UnknownKey)
    );
}

/// `token` with its header's kid replaced (the signature no longer matters).
fn forge_kid(token: &str, kid: &str) -> String {
    let (header, rest) = token.split_once('.').unwrap();
    let mut h: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    h["kid"] = kid.into();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(h.to_string()))
}

#[test]
fn a_deleted_previous_key_stops_verifying_after_a_reload() {
    let (s, clock, dir) = fixture();
    let before = issue(&s);
    keys::KeySet::rotate(&dir, clock.now_ms() + 1, s.key_activation_ms()).unwrap();
    assert!(s.reload().unwrap());
    assert!(
        s.verify_access(&before).is_ok(),
        "previous key still verifies"
    );
    // The operator removes the previous (say, leaked) access key; the signing key is unchanged.
    let mut files: Vec<_> = std::fs::read_dir(dir.join("access"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    std::fs::remove_file(&files[0]).unwrap();
    assert!(s.reload().unwrap(), "a removed key is a change");
    assert_eq!(s.verify_access(&before), Err(TokenError::UnknownKey));
    assert!(s.verify_access(&issue(&s)).is_ok());
}

#[test]
fn assertions_verify_with_the_published_jwks() {
    let (s, _, _) = fixture();
    let (token, _) = s
        .sign_assertion("/api/", "u_1", "mp", Some("oA"), Some("oU"), None)
        .unwrap();
    let jwks = s.jwks();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("kid published");
    let key =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&["/api/"]);
    v.set_issuer(&["wxgate"]);
    v.validate_exp = false;
    let data = decode::<AssertionClaims>(&token, &key, &v).unwrap();
    assert_eq!(data.claims.sub, "u_1");
    assert_eq!(data.claims.unionid.as_deref(), Some("oU"));
    // An assertion is never an access token.
    assert!(s.verify_access(&token).is_err());
}

#[test]
fn a_cached_signature_over_other_claims_is_not_that_token() {
    let (s, _, _) = fixture();
    let genuine = issue(&s);
    // Cached now: found by its signature from here on.
    assert_eq!(s.verify_access(&genuine).unwrap().sub, "u_1");
    let (h, p, sig) = parts(&genuine);
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p).unwrap()).unwrap();
    claims["sub"] = "u_victim".into();
    let forged = format!("{h}.{}.{sig}", b64(&claims));
    assert!(
        s.verify_access(&forged).is_err(),
        "same signature, other claims"
    );
    // Two bytes changed by the same bits: a comparison that could let differences cancel
    // out (an XOR-fold) would take this for the genuine token.
    let mut twice = genuine.clone().into_bytes();
    let flippable: Vec<usize> = (h.len() + 1..h.len() + 1 + p.len())
        .filter(|&i| (twice[i] ^ 1).is_ascii_alphanumeric())
        .take(2)
        .collect();
    assert_eq!(flippable.len(), 2);
    for i in flippable {
        twice[i] ^= 1;
    }
    assert!(s
        .verify_access(std::str::from_utf8(&twice).unwrap())
        .is_err());
    // Trailing bytes after a genuine token, or a signature alone, are not it either.
    assert!(s.verify_access(&format!("{genuine}x")).is_err());
    // Same length and signature, one byte apart at either end of the signed part.
    let first = format!("X{}", &genuine[1..]);
    assert!(s.verify_access(&first).is_err());
    let cut = genuine.len() - sig.len() - 2;
    let mut last = genuine.clone().into_bytes();
    last[cut] = if last[cut] == b'A' { b'B' } else { b'A' };
    assert!(s
        .verify_access(std::str::from_utf8(&last).unwrap())
        .is_err());
    assert!(s.verify_access(&format!(".{sig}")).is_err());
    assert!(s.verify_access(&sig).is_err());
    // The genuine token is unaffected by the attempts.
    assert_eq!(s.verify_access(&genuine).unwrap().sub, "u_1");
}

#[test]
fn memos_live_on_the_cache_entry_per_slot_and_age() {
    let (s, clock, _) = fixture();
    let token = issue(&s);
    let entry = s.verify_access_entry(&token).unwrap();
    let now = clock.now_ms();
    assert!(entry.recall::<String>(1, now - 1000).is_none());
    entry.remember(1, now, Arc::new("route one".to_string()));
    entry.remember(2, now - 5000, Arc::new("route two".to_string()));
    // The next presentation finds the same entry and what was remembered on it.
    let again = s.verify_access_entry(&token).unwrap();
    assert_eq!(
        again
            .recall::<String>(1, now - 1000)
            .as_deref()
            .map(String::as_str),
        Some("route one")
    );
    assert!(again.recall::<String>(2, now - 1000).is_none(), "too old");
    assert!(again.recall::<u64>(1, now - 1000).is_none(), "another type");
    again.remember(2, now, Arc::new("route two, again".to_string()));
    assert_eq!(
        entry
            .recall::<String>(2, now)
            .as_deref()
            .map(String::as_str),
        Some("route two, again")
    );
    assert!(
        !format!("{entry:?}").contains(&token),
        "Debug never shows the token"
    );
    // The cache charges an entry at least what it holds: the token twice (it is also the
    // key's source) and room for every memo slot; and not wildly more.
    let weight = usize::try_from(entry.weight()).unwrap();
    assert!(weight >= token.len() * 2 + super::verified::MEMO_SLOTS * 1024);
    assert!(weight < 64 * 1024, "{weight}");
    // However many routes a token visits, its entry keeps the newest few memos only.
    for slot in 10..20u64 {
        entry.remember(slot, now + i64::try_from(slot).unwrap(), Arc::new(slot));
    }
    let kept: Vec<u64> = (0..20u64)
        .filter(|&slot| entry.recall::<u64>(slot, now).is_some())
        .collect();
    assert_eq!(kept.len(), super::verified::MEMO_SLOTS);
    assert!(kept.contains(&19), "the newest is kept: {kept:?}");
}

/// A token over exactly these header and claims, signed with the real access key: what the
/// refusals below refuse is the shape, never the signature.
fn signed_raw(s: &TokenService, header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let keys = s.keys();
    let signer = keys.access_signer();
    let input = format!("{}.{}", b64(header), b64(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &signer.secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The header and claims of a genuine token, to vary one thing at a time.
fn genuine_parts(s: &TokenService) -> (serde_json::Value, serde_json::Value) {
    let (h, p, _) = parts(&issue(s));
    let de = |x: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(x).unwrap()).unwrap();
    (de(&h), de(&p))
}

#[test]
fn a_correctly_signed_header_naming_a_key_source_is_refused() {
    let (s, _, _) = fixture();
    let (header, claims) = genuine_parts(&s);
    assert!(s.verify_access(&signed_raw(&s, &header, &claims)).is_ok());
    for (field, value) in [
        ("jku", serde_json::json!("https://attacker.example/jwks")),
        ("jwk", serde_json::json!({"kty": "oct", "k": "AAAA"})),
        ("x5u", serde_json::json!("https://attacker.example/cert")),
        ("x5c", serde_json::json!(["MIIB"])),
    ] {
        let mut h = header.clone();
        h[field] = value;
        assert_eq!(
            s.verify_access(&signed_raw(&s, &h, &claims)),
            Err(TokenError::BadHeader),
            "{field} alone"
        );
    }
}

#[test]
fn issue_times_are_judged_to_the_second() {
    let (s, clock, _) = fixture();
    let (header, mut claims) = genuine_parts(&s);
    let now = clock.now_secs();
    let ttl = 900;
    let at = |claims: &mut serde_json::Value, iat: i64, exp: i64| {
        claims["iat"] = iat.into();
        claims["exp"] = exp.into();
        claims["nbf"] = serde_json::Value::Null;
        s.verify_access(&signed_raw(&s, &header, claims))
    };
    // Issued up to the leeway (5 s) in the future: a sibling's clock may run ahead.
    assert!(at(&mut claims, now + 5, now + 5 + 60).is_ok());
    assert_eq!(
        at(&mut claims, now + 6, now + 6 + 60),
        Err(TokenError::BadTimes)
    );
    // Living up to access_ttl plus the leeway, and not a second longer.
    assert!(at(&mut claims, now, now + ttl + 5).is_ok());
    assert_eq!(
        at(&mut claims, now, now + ttl + 6),
        Err(TokenError::BadTimes)
    );
}

#[test]
fn size_limits_hold_to_the_byte() {
    let (s, _, _) = fixture();
    let (header, claims) = genuine_parts(&s);
    // A padded claim or header field sizes a correctly signed token exactly.
    let sized = |target: usize, in_header: bool| -> String {
        // Unpadded base64 is never 1 mod 4 long: for the whole token a short pad in the other
        // segment reaches every length.
        (0..4096)
            .flat_map(|n| (0..3).map(move |k| (n, k)))
            .map(|(n, k)| {
                let (mut h, mut c) = (header.clone(), claims.clone());
                if in_header {
                    h["pad"] = "x".repeat(n).into();
                } else {
                    c["pad"] = "x".repeat(n).into();
                    h["p2"] = "x".repeat(k).into();
                }
                signed_raw(&s, &h, &c)
            })
            .find(|t| {
                let len = if in_header {
                    t.split('.').next().unwrap().len()
                } else {
                    t.len()
                };
                len == target
            })
            .expect("a padding reaches the size")
    };
    // The whole token: at most 4096 bytes.
    assert!(s.verify_access(&sized(4096, false)).is_ok());
    assert_eq!(
        s.verify_access(&sized(4097, false)),
        Err(TokenError::Malformed)
    );
    // Its header: at most 1024 bytes encoded (1025 is no base64 length; 1026 is the next).
    assert!(s.verify_access(&sized(1024, true)).is_ok());
    assert_eq!(
        s.verify_access(&sized(1026, true)),
        Err(TokenError::Malformed)
    );
}
