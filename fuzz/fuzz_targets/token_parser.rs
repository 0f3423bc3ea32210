//! The access-token parser: never panics on any text, and a token whose bytes were changed never
//! verifies as anything but the token it was (base64 may spell the same bytes two ways).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wxgate_core::clock::ManualClock;
use wxgate_core::token::TokenService;

struct Fixture {
    service: TokenService,
    token: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join("wxgate-fuzz-keys");
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let service =
            TokenService::open("wxgate-fuzz".into(), Duration::from_secs(900), dir, clock).unwrap();
        let (token, _) = service
            .issue_access("u_1", "s_1", "mp", Some("o_1"), None, None, 1_800_000_000)
            .unwrap();
        Fixture { service, token }
    })
}

fuzz_target!(|input: (&str, Vec<(u16, u8)>)| {
    let (text, edits) = input;
    let f = fixture();
    let _ = f.service.verify_access(text);
    let _ = f.service.verify_access_ignoring_expiry(text);
    let mut bytes = f.token.clone().into_bytes();
    for (at, b) in edits.into_iter().take(4) {
        let at = usize::from(at) % bytes.len();
        bytes[at] = b;
    }
    if let Ok(mutated) = String::from_utf8(bytes) {
        if let Ok(claims) = f.service.verify_access(&mutated) {
            assert_eq!(claims.sub, "u_1");
            assert_eq!(claims.sid, "s_1");
        }
    }
});
