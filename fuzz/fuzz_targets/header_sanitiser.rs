//! The header sanitiser: never panics; after `strip`, nothing that reads as an identity header,
//! a hop-by-hop header or (by default) an underscored name is left, and a request that passes
//! `check_framing` has at most one framing header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pingora::http::RequestHeader;
use wxgate::headers::{check_framing, is_identity_header, strip, IdentityHeaders};

fuzz_target!(|input: (Vec<(&str, &[u8])>, bool)| {
    let (headers, keep_underscored) = input;
    let mut req = RequestHeader::build("POST", b"/", None).unwrap();
    for (name, value) in headers.iter().take(16) {
        let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) else {
            continue;
        };
        req.append_header(n, v).unwrap();
    }
    if check_framing(&req).is_ok() {
        let cl = req.headers.get_all("content-length").iter().count();
        let te = req.headers.get_all("transfer-encoding").iter().count();
        assert!(
            cl + te <= 1,
            "framing passed with {cl} lengths and {te} encodings"
        );
        if !keep_underscored {
            for name in req.headers.keys() {
                let spelled = name.as_str().replace('_', "-");
                assert!(
                    !name.as_str().contains('_')
                        || ![
                            "transfer-encoding",
                            "content-length",
                            "host",
                            "connection",
                            "upgrade",
                            "te",
                            "trailer",
                            "keep-alive"
                        ]
                        .contains(&spelled.as_str()),
                    "{name} passed the framing check"
                );
            }
        }
    }
    strip(&mut req, &IdentityHeaders::default(), keep_underscored);
    for name in req.headers.keys() {
        let n = name.as_str();
        assert!(!is_identity_header(n), "{n} survived");
        assert!(keep_underscored || !n.contains('_'), "{n} survived");
        assert!(
            ![
                "connection",
                "keep-alive",
                "proxy-connection",
                "te",
                "trailer",
                "upgrade",
                "proxy-authorization"
            ]
            .contains(&n),
            "hop-by-hop {n} survived"
        );
    }
    for value in req.headers.get_all("authorization") {
        let v = value.as_bytes();
        assert!(
            !(v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"bearer ")),
            "a bearer token went upstream"
        );
    }
});
