use super::*;

fn request(headers: &[(&str, &str)]) -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/api/x", None).unwrap();
    for (k, v) in headers {
        req.append_header(k.to_string(), *v).unwrap();
    }
    req
}

fn names_of(req: &RequestHeader) -> Vec<String> {
    let mut n: Vec<_> = req.headers.keys().map(|k| k.as_str().to_string()).collect();
    n.sort();
    n
}

#[test]
fn identity_namespace_is_read_with_underscores_dots_and_any_case() {
    for name in [
        "X-Auth-User",
        "x-auth-user",
        "X_Auth_User",
        "x.auth.phone",
        "X-AUTH-ASSERTION",
        "x_auth-",
        "x-auth-",
    ] {
        assert!(is_identity_header(name), "{name}");
    }
    for name in [
        "x-authuser",
        "x-auth",
        "authorization",
        "x-forwarded-for",
        "xx-auth-user",
    ] {
        assert!(!is_identity_header(name), "{name}");
    }
}

#[test]
fn spoofed_identity_and_hop_by_hop_headers_are_stripped() {
    let mut req = request(&[
        ("X-Auth-User", "admin"),
        ("X_Auth_User", "admin"),
        ("X.Auth.Phone", "+8613800138000"),
        ("x-auth-assertion", "forged"),
        ("Connection", "close, X-Request-Trace"),
        ("X-Request-Trace", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Upgrade", "websocket"),
        ("Authorization", "Bearer abc.def.ghi"),
        ("Cookie", "a=1; wxgate=tok; b=2"),
        ("Accept", "*/*"),
    ]);
    strip(&mut req, &IdentityHeaders::default(), true);
    assert_eq!(names_of(&req), vec!["accept", "cookie"]);
    assert_eq!(req.headers["cookie"], "a=1; b=2");
}

#[test]
fn injected_headers_survive_a_connection_header_naming_them() {
    let mut req = request(&[
        ("Connection", "X-Auth-User, x_auth_phone"),
        ("X-Auth-User", "admin"),
    ]);
    strip(&mut req, &IdentityHeaders::default(), true);
    let id = Identity {
        user: "u_42",
        channel: "mp",
        openid: Some("oA"),
        unionid: None,
        phone: Some("+8613800138000"),
        assertion: Some("eyJ..."),
    };
    inject(
        &mut Additions::open(&mut req, true),
        &prepare(&IdentityHeaders::default(), IdentitySet::ALL, &id).unwrap(),
    )
    .unwrap();
    assert_eq!(req.headers["x-auth-user"], "u_42");
    assert_eq!(req.headers.get_all("x-auth-user").iter().count(), 1);
    assert_eq!(req.headers["x-auth-phone"], "+8613800138000");
    assert!(req.headers.get("x-auth-unionid").is_none());
    assert!(req.headers.get("connection").is_none());
}

#[test]
fn a_route_sends_only_the_identity_headers_it_names_and_strips_them_all() {
    let mut req = request(&[
        ("X-Auth-Phone", "+8613900000000"),
        ("X-Auth-Openid", "forged"),
    ]);
    strip(&mut req, &IdentityHeaders::default(), true);
    let id = Identity {
        user: "u_42",
        channel: "mp",
        openid: Some("oA"),
        unionid: Some("uA"),
        phone: Some("+8613800138000"),
        assertion: Some("eyJ..."),
    };
    let set = IdentitySet::parse(["user", "assertion"]).unwrap();
    inject(
        &mut Additions::open(&mut req, true),
        &prepare(&IdentityHeaders::default(), set, &id).unwrap(),
    )
    .unwrap();
    assert_eq!(req.headers["x-auth-user"], "u_42");
    assert_eq!(req.headers["x-auth-assertion"], "eyJ...");
    for gone in [
        "x-auth-channel",
        "x-auth-openid",
        "x-auth-unionid",
        "x-auth-phone",
    ] {
        assert!(req.headers.get(gone).is_none(), "{gone}");
    }
    assert_eq!(
        IdentitySet::parse(["user", "email"]),
        Err("email".to_string())
    );
}

#[test]
fn configured_names_outside_the_namespace_are_stripped_too() {
    let names = IdentityHeaders {
        user: "X-User-Id".into(),
        ..IdentityHeaders::default()
    };
    let mut req = request(&[
        ("X-User-Id", "admin"),
        ("X_User_Id", "admin"),
        ("X-User-Name", "ok"),
    ]);
    strip(&mut req, &names, true);
    assert_eq!(names_of(&req), vec!["x-user-name"]);
}

#[test]
fn non_bearer_authorization_passes_through() {
    let mut req = request(&[("Authorization", "Basic dXNlcjpwdw==")]);
    strip(&mut req, &IdentityHeaders::default(), true);
    assert!(req.headers.get("authorization").is_some());
}

#[test]
fn ambiguous_framing_is_refused() {
    let ok = request(&[("Content-Length", "5")]);
    assert_eq!(check_framing(&ok), Ok(()));
    let both = request(&[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]);
    assert_eq!(check_framing(&both), Err(FramingError::LengthAndChunked));
    let two = request(&[("Content-Length", "5"), ("Content-Length", "6")]);
    assert_eq!(check_framing(&two), Err(FramingError::SeveralLengths));
    let odd = request(&[("Transfer-Encoding", "chunked, x")]);
    assert_eq!(
        check_framing(&odd),
        Err(FramingError::UnsupportedTransferEncoding)
    );
    for nominated in ["content-length", "close, Content-Length", "keep-alive,HOST"] {
        let req = request(&[("Content-Length", "5"), ("Connection", nominated)]);
        assert_eq!(
            check_framing(&req),
            Err(FramingError::ConnectionNamesFraming),
            "{nominated}"
        );
    }
    let fine = request(&[("Connection", "keep-alive, X-Auth-User")]);
    assert_eq!(check_framing(&fine), Ok(()));
}

#[test]
fn framing_headers_spelled_with_underscores_are_refused() {
    for name in [
        "Transfer_Encoding",
        "content_length",
        "HOST_",
        "Keep_Alive",
        "x_auth_user_",
    ] {
        let req = request(&[(name, "5")]);
        let refused = matches!(
            check_framing(&req),
            Err(FramingError::UnderscoredFraming(_))
        );
        let framing = FRAMING
            .iter()
            .any(|f| f.len() == name.len() && reads_as_prefix(name, f));
        assert_eq!(refused, framing, "{name}");
    }
    assert!(matches!(
        check_framing(&request(&[("Transfer_Encoding", "chunked")])),
        Err(FramingError::UnderscoredFraming(_))
    ));
}

#[test]
fn other_underscored_headers_are_dropped_unless_kept() {
    let mut req = request(&[("X_Custom_Id", "1"), ("X-Custom-Id", "2")]);
    strip(&mut req, &IdentityHeaders::default(), false);
    assert_eq!(names_of(&req), ["x-custom-id"]);
    let mut req = request(&[("X_Custom_Id", "1")]);
    strip(&mut req, &IdentityHeaders::default(), true);
    assert_eq!(names_of(&req), ["x_custom_id"]);
}

#[test]
fn names_with_characters_beyond_letters_digits_and_dashes_are_dropped() {
    let mut req = request(&[
        ("Transfer.Encoding", "chunked"),
        ("Content.Length", "5"),
        ("X!Custom", "1"),
        ("X~Y", "1"),
        ("X'Y", "1"),
        ("X-Custom-2", "kept"),
    ]);
    // Kept or not, underscores are judged apart: here they would stay.
    strip(&mut req, &IdentityHeaders::default(), true);
    assert_eq!(names_of(&req), ["x-custom-2"]);
    assert_eq!(name_shape("x_y"), (true, false));
    assert_eq!(name_shape("x.y"), (false, true));
    assert_eq!(name_shape("x-y-9"), (false, false));
}

#[test]
fn connection_nominees_go_but_framing_stays() {
    let mut req = request(&[
        ("Connection", "keep-alive, X-Custom, Transfer-Encoding"),
        ("X-Custom", "1"),
        ("Transfer-Encoding", "chunked"),
        ("X-Other", "2"),
    ]);
    strip(&mut req, &IdentityHeaders::default(), true);
    assert_eq!(names_of(&req), ["transfer-encoding", "x-other"]);
}

#[test]
fn forwarding_headers_are_recognised_in_every_spelling() {
    for name in [
        "x-forwarded-for",
        "X-Forwarded-Prefix",
        "x_forwarded_host",
        "X.Forwarded.Port",
        "x-real-ip",
        "X_Real_IP",
        "forwarded",
        "x-original-url",
        "X-Rewrite-URL",
    ] {
        assert!(is_forwarding_header(name), "{name}");
    }
    for name in ["x-forwarder", "forwarded-by", "x-real-ip-2", "x-request-id"] {
        assert!(!is_forwarding_header(name), "{name}");
    }
}

#[test]
fn a_bearer_token_is_never_forwarded_whatever_its_spelling() {
    for values in [
        &["Basic dXNlcjpwdw==", "Bearer abc"][..],
        &["Bearer\tabc"][..],
        &["  bearer abc"][..],
        &["BEARER"][..],
    ] {
        let pairs: Vec<_> = values.iter().map(|v| ("Authorization", *v)).collect();
        let mut req = request(&pairs);
        strip(&mut req, &IdentityHeaders::default(), true);
        assert!(req.headers.get("authorization").is_none(), "{values:?}");
    }
    assert_eq!(bearer_token(b"Bearer\tabc"), Some("abc"));
    assert!(!is_bearer_scheme(b"Bearerish abc"));
}

fn handshake(extra: &[(&str, &str)]) -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/ws", None).unwrap();
    for (k, v) in [
        ("host", "gw.example"),
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ] {
        req.append_header(k.to_string(), v).unwrap();
    }
    for (k, v) in extra {
        req.insert_header(k.to_string(), *v).unwrap();
    }
    req
}

#[test]
fn only_a_well_formed_websocket_handshake_keeps_its_upgrade() {
    assert!(is_websocket_handshake(&handshake(&[])));
    for (name, value) in [
        ("upgrade", "h2c"),
        ("upgrade", "websocket, h2c"),
        ("connection", "keep-alive"),
        ("sec-websocket-key", "short=="),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ"),
        ("sec-websocket-version", "8"),
    ] {
        assert!(
            !is_websocket_handshake(&handshake(&[(name, value)])),
            "{name}: {value}"
        );
    }
    let mut post = handshake(&[]);
    post.set_method(http::Method::POST);
    assert!(!is_websocket_handshake(&post));
    let mut two = handshake(&[]);
    two.append_header("upgrade", "websocket").unwrap();
    assert!(!is_websocket_handshake(&two), "two Upgrade headers");

    // The strip takes both hop-by-hop headers and what Connection names; only the upgrade
    // itself comes back.
    let mut req = handshake(&[("connection", "Upgrade, x-secret"), ("x-secret", "1")]);
    strip(&mut req, &IdentityHeaders::default(), false);
    keep_websocket_upgrade(&mut req).unwrap();
    assert_eq!(req.headers["connection"], "upgrade");
    assert_eq!(req.headers["upgrade"], "websocket");
    assert!(req.headers.get("x-secret").is_none());
    assert_eq!(req.headers["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
}

#[test]
fn bearer_extraction() {
    assert_eq!(bearer_token(b"Bearer abc"), Some("abc"));
    assert_eq!(bearer_token(b"bearer   abc "), Some("abc"));
    assert_eq!(bearer_token(b"Basic abc"), None);
    assert_eq!(bearer_token(b"Bearer "), None);
}
