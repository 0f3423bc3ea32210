//! The gateway binary on loopback with a real upstream: header hygiene, token checks, path
//! normalisation, assertions, logout.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::net::SocketAddr;
use wxgate_core::auth::LoginGrant;
use wxgate_core::identity::LoginAttempt;
use wxgate_core::model::{Phone, WechatIdentity};
use wxgate_tests::gateway::Route;
use wxgate_tests::gateway::{raw, RawResponse, TestGateway};
use wxgate_tests::{Backend, TestDb};

struct Setup {
    gw: TestGateway,
    _upstream: wxgate_sim::SimHandle,
    _db: TestDb,
}

async fn setup() -> Setup {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let up = upstream.addr;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(Route::public("/pub/", up))
            .route(Route::optional("/opt/", up))
            .route(Route::required("/api/", up))
            .route(
                Route::required("/min/", up).with("identity_headers = [\"user\", \"assertion\"]"),
            )
            .route(Route::public("/down/", "127.0.0.1:1"))
            .start()
    });
    Setup {
        gw,
        _upstream: upstream,
        _db: db,
    }
}

pub(crate) async fn login(gw: &TestGateway) -> LoginGrant {
    gw.auth()
        .await
        .login(&LoginAttempt {
            channel: "mp".into(),
            wechat: Some(WechatIdentity {
                appid: "wx0000000000000001".into(),
                openid: "oTestOpenid".into(),
                unionid: Some("oTestUnionid".into()),
            }),
            verified_phone: Some(
                Phone::parse("13800138000", wxgate_core::phone::Region::CN)
                    .unwrap()
                    .phone,
            ),
            profile: None,
        })
        .await
        .expect("login")
}

pub(crate) fn get(addr: SocketAddr, path: &str, extra: &[&str]) -> RawResponse {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n");
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    tokio::task::block_in_place(|| raw(addr, &req)).expect("request")
}

/// The headers the echo upstream received.
pub(crate) fn seen(r: &RawResponse) -> serde_json::Map<String, serde_json::Value> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["headers"].as_object().unwrap().clone()
}

const SPOOFS: &[&str] = &[
    "X-Auth-User: admin",
    "X_Auth_User: admin",
    "X.Auth.Phone: +8613900139000",
    "X-AUTH-UNIONID: forged",
    "x-auth-assertion: forged",
    "Connection: X-Auth-User, keep-alive",
];

fn assert_no_identity(h: &serde_json::Map<String, serde_json::Value>) {
    for name in h.keys() {
        let n = name.to_ascii_lowercase().replace(['_', '.'], "-");
        assert!(
            !n.starts_with("x-auth-"),
            "identity header {name} reached the upstream"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_never_reach_the_upstream() {
    let s = setup().await;
    let hop = [
        "Connection: keep-alive, X-Custom-Hop, X-Forwarded-Prefix",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "Proxy-Authorization: Basic dXNlcjpwdw==",
        "Proxy-Authenticate: Basic",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Upgrade: websocket",
        "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA",
        "X-Custom-Hop: 1",
        "X-Forwarded-Prefix: /admin",
        "X-Kept: yes",
    ];
    for path in ["/pub/x", "/opt/x"] {
        let h = seen(&get(s.gw.addr, path, &hop));
        for name in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "proxy-authorization",
            "proxy-authenticate",
            "te",
            "trailer",
            "upgrade",
            "http2-settings",
            "x-custom-hop",
            "x-forwarded-prefix",
        ] {
            assert!(
                !h.contains_key(name),
                "{path}: {name} reached the upstream: {h:?}"
            );
        }
        assert_eq!(h["x-kept"], "yes", "an end-to-end header is forwarded");
        assert_eq!(h["x-forwarded-for"], "127.0.0.1", "the gateway's own value");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_with_fewer_identity_headers_sends_only_those_and_strips_every_spoof() {
    let s = setup().await;
    let grant = login(&s.gw).await;
    let bearer = format!("Authorization: Bearer {}", grant.access_token.expose());
    let mut with_token = SPOOFS.to_vec();
    with_token.push(&bearer);
    let h = seen(&get(s.gw.addr, "/min/x", &with_token));
    assert_eq!(h["x-auth-user"], grant.user.id.as_str());
    let assertion = h["x-auth-assertion"].as_str().unwrap();
    assert_ne!(assertion, "forged");
    for k in h.keys() {
        assert!(
            !k.replace(['_', '.'], "-").starts_with("x-auth-")
                || k == "x-auth-user"
                || k == "x-auth-assertion",
            "{k} reached an upstream that asked only for the user and the assertion"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let s = setup().await;
    let grant = login(&s.gw).await;
    let bearer = format!("Authorization: Bearer {}", grant.access_token.expose());

    // Public: stripped, nothing injected, even with a valid token.
    let mut with_token = SPOOFS.to_vec();
    with_token.push(&bearer);
    assert_no_identity(&seen(&get(s.gw.addr, "/pub/x", SPOOFS)));
    let public = seen(&get(s.gw.addr, "/pub/x", &with_token));
    assert_no_identity(&public);
    assert!(
        !public.contains_key("authorization"),
        "the bearer token is not forwarded"
    );

    // Optional without a token: nothing. With one: exactly the gateway's values.
    assert_no_identity(&seen(&get(s.gw.addr, "/opt/x", SPOOFS)));
    for path in ["/opt/x", "/api/x"] {
        let h = seen(&get(s.gw.addr, path, &with_token));
        assert_eq!(h["x-auth-user"], grant.user.id.as_str(), "{path}");
        assert_eq!(h["x-auth-channel"], "mp");
        assert_eq!(h["x-auth-openid"], "oTestOpenid");
        assert_eq!(h["x-auth-unionid"], "oTestUnionid");
        assert_eq!(h["x-auth-phone"], "+8613800138000");
        assert!(h.contains_key("x-auth-assertion"));
        assert!(!h.contains_key("authorization"));
        for (k, _) in &h {
            let n = k.replace(['_', '.'], "-");
            assert!(
                n == *k || !n.starts_with("x-auth-"),
                "client variant {k} survived"
            );
        }
    }
    // Required without a token never reaches the upstream.
    assert_eq!(get(s.gw.addr, "/api/x", SPOOFS).status, 401);

    // A second `Authorization` header: ambiguous on a protected route, and never a way to
    // carry the token past the strip on a public one.
    let basic = "Authorization: Basic dXNlcjpwdw==";
    assert_eq!(get(s.gw.addr, "/api/x", &[basic, &bearer]).status, 401);
    let public = seen(&get(s.gw.addr, "/pub/x", &[basic, &bearer]));
    assert!(!public.contains_key("authorization"), "{public:?}");
    // `Connection` naming the body's length is refused before anything is forwarded.
    let req = "POST /pub/x HTTP/1.1\r\nHost: t\r\nConnection: content-length\r\n\
               Content-Length: 5\r\n\r\nhello";
    let out = tokio::task::block_in_place(|| raw(s.gw.addr, req)).unwrap();
    assert_eq!(out.status, 400);
    assert_eq!(out.json()["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_believed_only_from_trusted_proxies() {
    let spoofs = [
        "X-Forwarded-For: 203.0.113.9",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Proto: https",
        "X-Real-IP: 203.0.113.9",
        "Forwarded: for=203.0.113.9",
        "X-Forwarded-Prefix: /admin",
        "X_Forwarded_Port: 8443",
        "X-Original-URL: /admin",
    ];
    // By default nobody is trusted: the gateway says what it saw itself.
    let s = setup().await;
    let h = seen(&get(s.gw.addr, "/pub/x", &spoofs));
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    for name in [
        "x-forwarded-host",
        "x-real-ip",
        "forwarded",
        "x-forwarded-prefix",
        "x_forwarded_port",
        "x-forwarded-port",
        "x-original-url",
    ] {
        assert!(!h.contains_key(name), "{name} reached the upstream");
    }

    // Behind a trusted proxy the chain is extended, not replaced.
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let behind = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .behind_a_trusted_proxy()
            .route(Route::public("/pub/", upstream.addr))
            .start()
    });
    let h = seen(&get(behind.addr, "/pub/x", &spoofs));
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-host"], "evil.example");
    assert_eq!(h["x-forwarded-proto"], "https");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_works_and_is_not_forwarded() {
    let s = setup().await;
    let grant = login(&s.gw).await;
    let cookie = format!("Cookie: theme=dark; wxgate={}", grant.access_token.expose());
    let h = seen(&get(s.gw.addr, "/api/x", &[&cookie]));
    assert_eq!(h["x-auth-user"], grant.user.id.as_str());
    assert_eq!(h["cookie"], "theme=dark");
    // A cookie-authenticated logout from another origin is refused; from ours it works.
    let logout = |origin: &str| {
        let req = format!(
            "POST /_auth/logout HTTP/1.1\r\nHost: t\r\n{cookie}\r\nOrigin: {origin}\r\nContent-Length: 0\r\n\r\n"
        );
        tokio::task::block_in_place(|| raw(s.gw.addr, &req)).unwrap()
    };
    let forged = logout("https://evil.example");
    assert_eq!(forged.status, 403);
    assert_eq!(forged.json()["error"], "forbidden");
    assert_eq!(
        seen(&get(s.gw.addr, "/api/x", &[&cookie]))["x-auth-user"],
        grant.user.id.as_str()
    );
    // The same rule guards the upstreams: a cross-origin cookie POST never reaches them,
    // while a same-origin one, or one carrying a bearer token, does.
    let post = |origin: &str, auth: &str| {
        let req = format!(
            "POST /api/x HTTP/1.1\r\nHost: t\r\n{auth}\r\nOrigin: {origin}\r\nContent-Length: 0\r\n\r\n"
        );
        tokio::task::block_in_place(|| raw(s.gw.addr, &req)).unwrap()
    };
    let ours = format!("http://{}", s.gw.addr);
    let forged = post("https://evil.example", &cookie);
    assert_eq!(forged.status, 403);
    assert_eq!(forged.json()["error"], "forbidden");
    assert_eq!(
        seen(&post(&ours, &cookie))["x-auth-user"],
        grant.user.id.as_str()
    );
    let bearer = format!("Authorization: Bearer {}", grant.access_token.expose());
    assert_eq!(post("https://evil.example", &bearer).status, 200);

    let out = logout(&ours);
    assert_eq!(out.status, 204);
    assert!(out
        .header("set-cookie")
        .unwrap()
        .starts_with("wxgate=; Path=/; Max-Age=0"));
    assert_eq!(get(s.gw.addr, "/api/x", &[&cookie]).status, 401);
}

/// Behind https the cookie is `__Host-wxgate`, and logout's expiry of it must be `Secure` too, or
/// the browser ignores it and keeps the session cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_expires_the_https_cookie() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .server("public_url = \"https://gw.example\"")
            .start()
    });
    let grant = login(&gw).await;
    let req = format!(
        "POST /_auth/logout HTTP/1.1\r\nHost: gw.example\r\nCookie: __Host-wxgate={}\r\n\
         Origin: https://gw.example\r\nContent-Length: 0\r\n\r\n",
        grant.access_token.expose()
    );
    let out = tokio::task::block_in_place(|| raw(gw.addr, &req)).unwrap();
    assert_eq!(out.status, 204);
    let cookie = out.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("__Host-wxgate=; Path=/; Max-Age=0"),
        "{cookie}"
    );
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused() {
    let s = setup().await;
    let grant = login(&s.gw).await;
    let token = grant.access_token.expose().to_string();
    let mut parts = token.split('.');
    let (h, p, sig) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    claims["sub"] = "u_admin".into();
    let changed = format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    header["alg"] = "none".into();
    let none = format!("{}.{p}.", URL_SAFE_NO_PAD.encode(header.to_string()));
    header["alg"] = "HS512".into();
    let switched = format!("{}.{p}.{sig}", URL_SAFE_NO_PAD.encode(header.to_string()));
    let bad_sig = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
    // Expired: claims with exp in the past, correctly signed with the gateway's own key.
    let keys = wxgate_core::token::keys::KeySet::load(&s.gw.keys_dir).unwrap();
    let mut old = claims.clone();
    old["sub"] = grant.user.id.as_str().into();
    old["iat"] = (old["iat"].as_i64().unwrap() - 3600).into();
    old["exp"] = (old["iat"].as_i64().unwrap() + 900).into();
    let mut jh = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jh.typ = Some("at+jwt".into());
    jh.kid = Some(keys.access_signer().kid.clone());
    let expired = jsonwebtoken::encode(
        &jh,
        &old,
        &jsonwebtoken::EncodingKey::from_secret(&keys.access_signer().secret),
    )
    .unwrap();
    for (name, forged) in [
        ("changed payload", changed),
        ("alg none", none),
        ("alg switched", switched),
        ("bad signature", bad_sig),
        ("expired", expired),
        (
            "refresh token as bearer",
            grant.refresh_token.expose().to_string(),
        ),
    ] {
        let r = get(
            s.gw.addr,
            "/api/x",
            &[&format!("Authorization: Bearer {forged}")],
        );
        assert_eq!(r.status, 401, "{name}");
        assert_eq!(r.json()["error"], "unauthorized", "{name}");
        // On an optional route a bad token means no identity, not an error.
        assert_no_identity(&seen(&get(
            s.gw.addr,
            "/opt/x",
            &[&format!("Authorization: Bearer {forged}")],
        )));
    }
    assert_eq!(
        get(
            s.gw.addr,
            "/api/x",
            &[&format!("Authorization: Bearer {token}")]
        )
        .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_judged_after_normalisation() {
    let s = setup().await;
    let grant = login(&s.gw).await;
    for path in [
        "/pub/../api/x",
        "/pub/%2e%2e/api/x",
        "//api/x",
        "/pub/./../api/x",
    ] {
        assert_eq!(get(s.gw.addr, path, &[]).status, 401, "{path}");
    }
    let bearer = format!("Authorization: Bearer {}", grant.access_token.expose());
    let r = get(s.gw.addr, "/pub/../api/x?y=1", &[&bearer]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["path"],
        "/api/x",
        "the upstream sees the judged path"
    );
    assert_eq!(r.json()["query"], "y=1");
    for path in [
        "/api%2fx",
        "/pub%5c..%5capi/x",
        "/api/x%00",
        "/admin;x=/pub/",
    ] {
        assert_eq!(get(s.gw.addr, path, &[]).status, 400, "{path}");
    }
    // Targets that are not a path: Pingora would forward their raw bytes while judging `/`.
    for target in ["foo:/api/x", "api/x", "*", "ftp://test/api/x"] {
        assert_eq!(get(s.gw.addr, target, &[]).status, 400, "{target}");
    }
    // Raw UTF-8 in the path reaches the upstream as the same bytes, escaped.
    let r = get(s.gw.addr, "/pub/caf\u{e9}", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/pub/caf%C3%A9");
    // An absolute-form target is judged, and forwarded, as its path.
    assert_eq!(get(s.gw.addr, "http://test/api/x", &[]).status, 401);
    let r = get(s.gw.addr, "HTTP://test/pub/../api/x?y=2", &[&bearer]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/api/x");
    assert_eq!(r.json()["query"], "y=2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assertion_verifies_with_the_jwks() {
    let s = setup().await;
    let grant = login(&s.gw).await;
    let h = seen(&get(
        s.gw.addr,
        "/api/x",
        &[&format!(
            "Authorization: Bearer {}",
            grant.access_token.expose()
        )],
    ));
    let assertion = h["x-auth-assertion"].as_str().unwrap();
    let jwks = get(s.gw.addr, "/_auth/jwks.json", &[]).json();
    let header = jsonwebtoken::decode_header(assertion).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_ec_components(
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["/api/"]);
    v.set_issuer(&["wxgate"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], grant.user.id.as_str());
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60);
    // Another route gets its own audience.
    let opt = seen(&get(
        s.gw.addr,
        "/opt/x",
        &[&format!(
            "Authorization: Bearer {}",
            grant.access_token.expose()
        )],
    ));
    let mut v2 = v.clone();
    v2.set_audience(&["/opt/"]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(
        opt["x-auth-assertion"].as_str().unwrap(),
        &key,
        &v2
    )
    .is_ok());
    assert!(jsonwebtoken::decode::<serde_json::Value>(
        opt["x-auth-assertion"].as_str().unwrap(),
        &key,
        &v
    )
    .is_err());
}

/// Identity headers are prepared per token, not per session: the refreshed token of a session
/// whose user has just verified a phone gets its own headers, even within the same second as
/// the session's previous token (same session id, same `iat`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_token_carries_its_own_identity_headers() {
    let s = setup().await;
    let auth = s.gw.auth().await;
    let attempt = |phone: Option<Phone>| LoginAttempt {
        channel: "mp".into(),
        wechat: Some(WechatIdentity {
            appid: "wx0000000000000001".into(),
            openid: "oPhoneLater".into(),
            unionid: None,
        }),
        verified_phone: phone,
        profile: None,
    };
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    let first = auth.login(&attempt(None)).await.expect("login");
    let h = seen(&get(
        s.gw.addr,
        "/api/x",
        &[&bearer(first.access_token.expose())],
    ));
    assert!(!h.contains_key("x-auth-phone"), "{h:?}");

    let phone = Phone::parse("13900139000", wxgate_core::phone::Region::CN)
        .unwrap()
        .phone;
    auth.login(&attempt(Some(phone)))
        .await
        .expect("phone login");
    let refreshed = auth
        .refresh(first.refresh_token.expose())
        .await
        .expect("refresh");
    assert_eq!(refreshed.claims.sid, first.claims.sid);
    assert_eq!(refreshed.claims.phn.as_deref(), Some("+8613900139000"));
    let h = seen(&get(
        s.gw.addr,
        "/api/x",
        &[&bearer(refreshed.access_token.expose())],
    ));
    assert_eq!(h["x-auth-phone"], "+8613900139000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_at_once_on_this_replica() {
    let s = setup().await;
    let grant = login(&s.gw).await;
    let bearer = format!("Authorization: Bearer {}", grant.access_token.expose());
    assert_eq!(get(s.gw.addr, "/api/x", &[&bearer]).status, 200);
    let me = get(s.gw.addr, "/_auth/me", &[&bearer]).json();
    assert_eq!(me["user"]["id"], grant.user.id.as_str());
    assert_eq!(me["user"]["identities"][0]["openid"], "oTestOpenid");
    let req =
        format!("POST /_auth/logout HTTP/1.1\r\nHost: t\r\n{bearer}\r\nContent-Length: 0\r\n\r\n");
    let out = tokio::task::block_in_place(|| raw(s.gw.addr, &req)).unwrap();
    assert_eq!(out.status, 204);
    let after = get(s.gw.addr, "/api/x", &[&bearer]);
    assert_eq!(after.status, 401);
    assert_eq!(get(s.gw.addr, "/_auth/me", &[&bearer]).status, 401);
    // The refresh token of that session is dead too.
    let body = format!("{{\"refresh_token\":\"{}\"}}", grant.refresh_token.expose());
    let req = format!("POST /_auth/token/refresh HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    assert_eq!(
        tokio::task::block_in_place(|| raw(s.gw.addr, &req))
            .unwrap()
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_through_the_endpoint() {
    let s = setup().await;
    let grant = login(&s.gw).await;
    let post = |body: String| {
        let req = format!("POST /_auth/token/refresh HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        tokio::task::block_in_place(|| raw(s.gw.addr, &req)).unwrap()
    };
    let r = post(format!(
        "{{\"refresh_token\":\"{}\"}}",
        grant.refresh_token.expose()
    ));
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["user"]["id"], grant.user.id.as_str());
    assert_eq!(j["user"]["phone"], "+8613800138000");
    assert_ne!(j["refresh_token"], grant.refresh_token.expose());
    let fresh = j["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        get(
            s.gw.addr,
            "/api/x",
            &[&format!("Authorization: Bearer {fresh}")]
        )
        .status,
        200
    );
    let old = format!("{{\"refresh_token\":\"{}\"}}", grant.refresh_token.expose());
    // A retry of the same refresh moments later (a lost response): the same new token.
    let retried = post(old.clone());
    assert_eq!(retried.status, 200);
    assert_eq!(retried.json()["refresh_token"], j["refresh_token"]);
    // Once the new token is used, the old one is two generations back: presenting it is
    // theft, and the family (the newest token too) is revoked.
    let next = post(format!(
        "{{\"refresh_token\":\"{}\"}}",
        j["refresh_token"].as_str().unwrap()
    ));
    assert_eq!(next.status, 200);
    assert_eq!(post(old).status, 401);
    assert_eq!(
        post(format!(
            "{{\"refresh_token\":\"{}\"}}",
            next.json()["refresh_token"].as_str().unwrap()
        ))
        .status,
        401
    );
    // Malformed bodies are clear 400s.
    for bad in ["", "{", "{\"token\":1}", "[]"] {
        let r = post(bad.to_string());
        assert_eq!(r.status, 400, "{bad:?}");
        assert_eq!(r.json()["error"], "invalid_request");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_and_dead_upstreams_get_clear_errors() {
    let s = setup().await;
    let smuggle = "POST /pub/x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let r = tokio::task::block_in_place(|| raw(s.gw.addr, smuggle)).unwrap();
    assert_eq!(r.status, 400);
    let down = get(s.gw.addr, "/down/x", &[]);
    assert_eq!(down.status, 502);
    assert_eq!(down.json()["error"], "bad_gateway");
    let none = get(s.gw.addr, "/nowhere", &[]);
    assert_eq!(none.status, 404);
    assert_eq!(get(s.gw.addr, "/_auth/readyz", &[]).status, 200);
}

/// Anyone can write an access cookie naming a key the gateway does not know, beside a made-up
/// refresh cookie: each would be a renewal (a database transaction) on the proxied path. Such
/// renewals are capped per network; past the cap the cookie is refused without a renewal (no
/// cookies cleared), while the first tries are judged (refused, cookies cleared).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cookies_with_unknown_keys_are_capped_before_the_database() {
    let s = setup().await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"at+jwt","kid":"made-up"}"#);
    let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
    let forged = format!("{header}.{payload}.c2lnbmF0dXJl");
    let mut cleared = Vec::new();
    for i in 0..12 {
        let r = get(
            s.gw.addr,
            "/api/x",
            &[&format!(
                "Cookie: wxgate={forged}; wxgate_refresh=made-up-refresh-{i:04}"
            )],
        );
        assert_eq!(r.status, 401);
        cleared.push(r.header("set-cookie").is_some());
    }
    assert!(cleared[..10].iter().all(|c| *c), "{cleared:?}");
    assert!(!cleared[10] && !cleared[11], "{cleared:?}");
}
