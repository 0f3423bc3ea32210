//! Follow-to-login through an official account's server URL, against the gateway binary and the
//! simulated WeChat pushing to it: by `subscribe` and by `SCAN`, in safe and plain mode, under
//! the previous key; forged, stale and foreign pushes; a duplicate on the other replica; other
//! pushes relayed to `forward_to`; an expired ticket; an answer in time while the database
//! hangs; and the JS-SDK's ticket fetched once for two replicas.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wxgate_core::identity::history::count_live_users;
use wxgate_tests::control;
use wxgate_tests::gateway::{Channel, GatewayBuilder, Route, TestGateway};
use wxgate_tests::relay::{target_of, Relay};
use wxgate_tests::web::Browser;
use wxgate_tests::world::World;
use wxgate_tests::{Backend, TestDb};

pub(crate) const OA: &str = "wx00000000000000f2";
const MP: &str = "wx00000000000000f3";
const SECRET: &str = "CANARY_APPSECRET_oa_f2";
const TOKEN: &str = "followToken42";
pub(crate) const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OLD_KEY: &str = "zyxwvutsrqponmlkjihgfedcba9876543210ABCDEFG";
const JSON: [(&str, &str); 1] = [("accept", "application/json")];

pub(crate) struct Setup {
    pub(crate) gw: TestGateway,
    gateway: GatewayBuilder,
    pub(crate) world: World,
    pub(crate) db: TestDb,
    /// Between the gateway and its database, when the shape asked for one.
    pub(crate) relay: Option<Relay>,
    _upstream: wxgate_sim::SimHandle,
}

/// How WeChat and the gateway are set up for the account's server URL.
pub(crate) struct Shape<'a> {
    /// Inside the channel's `message = { … }`, after the token.
    pub(crate) message: &'a str,
    /// Inside `follow_login = { … }`.
    pub(crate) follow: &'a str,
    /// The simulated account's mode and key.
    pub(crate) mode: &'a str,
    pub(crate) sim_key: &'a str,
    /// The gateway reaches its database through a relay the test can stall.
    pub(crate) relay: bool,
}

impl Default for Shape<'_> {
    fn default() -> Self {
        Self {
            message: ", encoding_aes_key = \"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"",
            follow: "",
            mode: "safe",
            sim_key: KEY,
            relay: false,
        }
    }
}

pub(crate) async fn setup(backend: Backend, shape: Shape<'_>) -> Option<Setup> {
    let db = TestDb::new(backend).await?;
    let world = World::start().await;
    world.mini_program(MP, SECRET, Some("op1")).await;
    for (name, phone) in [("alice", "13800138000"), ("bob", "13900139000")] {
        world.person(name, Some(phone)).await;
    }
    let s = world.base();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let relay = match shape.relay {
        true => Some(Relay::start(target_of(&db.url)).await),
        false => None,
    };
    let db_url = relay
        .as_ref()
        .map_or(db.url.clone(), |r| r.rewrite(&db.url));
    let gateway = TestGateway::builder(&db_url, &db.dir)
        .channel(
            Channel::official_account("oa", OA, SECRET, "snsapi_base", &s).with(&format!(
                "mp_base = \"{s}\"\nmessage = {{ token = \"{TOKEN}\"{} }}\nfollow_login = {{ {} }}\njssdk = true\njssdk_origins = [\"https://shop.example.com\"]",
                shape.message, shape.follow
            )),
        )
        .channel(Channel::mini_program("mp", MP, SECRET, &s))
        .route(Route::required("/api/", upstream.addr));
    let gw = tokio::task::block_in_place(|| gateway.start());
    world
        .app(json!({
            "appid": OA, "secret": SECRET, "kind": "official_account", "open_platform": "op1",
            "redirect_domain": "127.0.0.1", "message_token": TOKEN,
            "encoding_aes_key": shape.sim_key, "message_mode": shape.mode,
            "server_url": format!("http://{}/_auth/oa/message", gw.addr),
        }))
        .await;
    Some(Setup {
        gw,
        gateway,
        world,
        db,
        relay,
        _upstream: upstream,
    })
}

impl Setup {
    /// What started `gw`: another replica starts from it.
    pub(crate) fn gateway_builder(&self) -> &GatewayBuilder {
        &self.gateway
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.addr)
    }

    /// A browser opens a follow ticket and shows its code: the code's WeChat ticket, read off
    /// the image as the phone reads it.
    pub(crate) async fn open(&self, b: &mut Browser) -> (Value, String) {
        let page = b
            .request(&self.url("/_auth/oa/follow?return_to=%2Fapi%2Fx"), &JSON)
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let opened = page.json();
        let (status, content_type, png) = b.bytes(&self.url(opened["qr"].as_str().unwrap())).await;
        assert_eq!((status, content_type.as_deref()), (200, Some("image/png")));
        let ticket = wxgate_sim::ticket_of_qrcode(&png).expect("a code that carries its ticket");
        (opened, ticket)
    }

    /// A browser opens a ticket, `user` scans its code, and the browser is signed in; the
    /// person's reply came sealed or not, as `sealed` says.
    pub(crate) async fn signs_in(&self, user: &str, sealed: bool) {
        let mut browser = Browser::new();
        let (_, ticket) = self.open(&mut browser).await;
        let report = self.scan(user, &ticket).await;
        assert!(
            reply_text(&report, sealed).starts_with("登录成功"),
            "{report}"
        );
        assert_eq!(self.status(&mut browser).await["status"], "confirmed");
    }

    pub(crate) async fn status(&self, b: &mut Browser) -> Value {
        let page = b.request(&self.url("/_auth/oa/follow/status"), &JSON).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.json()
    }

    /// `user` scans the code with WeChat: the push's report.
    pub(crate) async fn scan(&self, user: &str, ticket: &str) -> Value {
        self.sim_call(
            "/_sim/officialaccount/scan",
            json!({"appid": OA, "user": user, "ticket": ticket}),
        )
        .await
    }

    /// Any push WeChat could send: its report.
    pub(crate) async fn push(&self, fields: Value) -> Value {
        let mut body = json!({"appid": OA});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.sim_call("/_sim/officialaccount/push", body).await
    }

    async fn sim_call(&self, path: &str, body: Value) -> Value {
        control::post(&self.world.http, &self.world.base(), path, body).await
    }

    pub(crate) async fn users(&self) -> i64 {
        count_live_users(&self.db.db).await.unwrap()
    }
}

/// What WeChat would show the person: the reply's text, checked to be sealed and signed as
/// the push was.
fn reply_text(report: &Value, sealed: bool) -> String {
    assert_eq!(report["status"], 200, "{report}");
    let reply = &report["reply"];
    assert_eq!(reply["kind"], "text", "{report}");
    assert_eq!(reply["encrypted"], sealed, "{report}");
    if sealed {
        assert_eq!(reply["signature_ok"], true, "{report}");
    }
    reply["content"].as_str().unwrap().to_string()
}

/// A new follower by `subscribe`, then the same person again by `SCAN` (already following):
/// both sign in, as the same user the mini-program knows (unionid from `user/info`).
async fn following_or_scanning_signs_in(backend: Backend) {
    let Some(s) = setup(backend, Shape::default()).await else {
        return;
    };
    let code = control::post(
        &s.world.http,
        &s.world.base(),
        "/_sim/login_code",
        json!({"appid": MP, "user": "alice"}),
    )
    .await;
    let by_mp = wxgate_tests::gateway::call(
        s.gw.addr,
        "POST",
        "/_auth/mp/login",
        &json!({"code": code["code"]}).to_string(),
        None,
    )
    .json();
    let alice = by_mp["user"]["id"].as_str().unwrap().to_string();

    for round in ["subscribe", "SCAN"] {
        let mut browser = Browser::new();
        let (opened, ticket) = s.open(&mut browser).await;
        assert_eq!(opened["scene"].as_str().unwrap().len(), 32);
        assert_eq!(s.status(&mut browser).await["status"], "waiting");
        let report = s.scan("alice", &ticket).await;
        assert!(
            reply_text(&report, true).starts_with("登录成功"),
            "{round}: {report}"
        );
        let status = s.status(&mut browser).await;
        assert_eq!(status["status"], "confirmed", "{round}");
        assert_eq!(status["return_to"], "/api/x");
        let seen = browser.get(&s.url("/api/x")).await.json();
        assert_eq!(seen["headers"]["x-auth-user"], alice.as_str(), "{round}");
        assert_eq!(seen["headers"]["x-auth-channel"], "oa");
        // Delivered once: the ticket cookie is gone with it, and a poll names no ticket.
        let again = browser
            .request(&s.url("/_auth/oa/follow/status"), &JSON)
            .await;
        assert_eq!(again.status, 400, "{}", again.body);
    }
    assert_eq!(s.users().await, 1);
}

/// Plain mode: the push comes and the reply goes in clear.
async fn a_plain_push_signs_in(backend: Backend) {
    let Some(s) = setup(
        backend,
        Shape {
            message: "",
            mode: "plain",
            ..Shape::default()
        },
    )
    .await
    else {
        return;
    };
    s.signs_in("bob", false).await;
}

/// WeChat still seals with the key before the change: it opens with
/// `previous_encoding_aes_key`, and the reply is sealed with that same key.
async fn a_push_under_the_previous_key_signs_in(backend: Backend) {
    let message =
        format!(", encoding_aes_key = \"{KEY}\", previous_encoding_aes_key = \"{OLD_KEY}\"");
    let Some(s) = setup(
        backend,
        Shape {
            message: &message,
            sim_key: OLD_KEY,
            ..Shape::default()
        },
    )
    .await
    else {
        return;
    };
    s.signs_in("alice", true).await;
}

/// Forged signatures, another account's sealed push and a stale timestamp are refused with
/// 403 and move nothing; a scan of a code that is not (or no longer) a ticket is told so and
/// creates nothing; the URL check answers only WeChat.
async fn pushes_that_must_not_log_anyone_in(backend: Backend) {
    let Some(s) = setup(backend, Shape::default()).await else {
        return;
    };
    let mut browser = Browser::new();
    let (opened, _) = s.open(&mut browser).await;
    let key = format!("wxgate-{}", opened["scene"].as_str().unwrap());
    let now = control::get(&s.world.http, &s.world.base(), "/_sim/clock").await;
    let now = now["now"].as_i64().expect("the simulator's clock");
    for (what, extra) in [
        ("signature", json!({"tamper": "signature"})),
        ("msg_signature", json!({"tamper": "msg_signature"})),
        ("appid", json!({"tamper": "appid"})),
        ("timestamp", json!({"timestamp": now - 400})),
    ] {
        let mut fields = json!({"user": "alice", "event": "SCAN", "event_key": key});
        fields
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let report = s.push(fields).await;
        assert_eq!(report["status"], 403, "{what}: {report}");
    }
    assert_eq!(s.status(&mut browser).await["status"], "waiting");
    assert_eq!(s.users().await, 0);

    for unknown in [
        format!("wxgate-{}", "Z".repeat(32)),
        "wxgate-not-a-scene".to_string(),
    ] {
        let report = s
            .push(json!({"user": "bob", "event": "SCAN", "event_key": unknown}))
            .await;
        assert!(
            reply_text(&report, true).starts_with("登录二维码已过期"),
            "{report}"
        );
    }
    assert_eq!(s.users().await, 0);

    // The URL check: echostr only for a correct signature.
    let check = |query: String| {
        let gw = s.gw.addr;
        tokio::task::block_in_place(move || {
            wxgate_tests::gateway::call(gw, "GET", &format!("/_auth/oa/message?{query}"), "", None)
        })
    };
    let (ts, nonce) = (now.to_string(), "778899");
    let mut parts = [TOKEN, ts.as_str(), nonce];
    parts.sort_unstable();
    let good = sha1_hex(parts.concat().as_bytes());
    let ok = check(format!(
        "signature={good}&timestamp={ts}&nonce={nonce}&echostr=hello-42"
    ));
    assert_eq!((ok.status, ok.body.as_slice()), (200, &b"hello-42"[..]));
    let bad = check(format!(
        "signature={}&timestamp={ts}&nonce={nonce}&echostr=hello-42",
        "0".repeat(40)
    ));
    assert_eq!(bad.status, 403);
    assert!(!String::from_utf8_lossy(&bad.body).contains("hello-42"));
}

pub(crate) fn sha1_hex(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// WeChat retries a push it thinks went unanswered: the same push again, here on the other
/// replica, is answered `success` and changes nothing.
async fn a_duplicate_push_on_the_other_replica_is_ignored(backend: Backend) {
    let Some(s) = setup(backend, Shape::default()).await else {
        return;
    };
    let other = tokio::task::block_in_place(|| s.gateway_builder().start());
    let mut browser = Browser::new();
    let (_, ticket) = s.open(&mut browser).await;
    let report = s.scan("alice", &ticket).await;
    reply_text(&report, true);
    let sent = &report["sent"];
    for replica in [&other, &s.gw] {
        assert_eq!(replay(replica.addr, sent).await, "success");
    }
    assert_eq!(s.status(&mut browser).await["status"], "confirmed");
    assert_eq!(s.users().await, 1);
}

/// A ticket that expired while the code was still WeChat's to show: the scan is told so, and
/// nothing is created.
async fn a_scan_after_the_ticket_expired_is_told_so(backend: Backend) {
    let Some(s) = setup(
        backend,
        Shape {
            follow: "ttl = \"30s\"",
            ..Shape::default()
        },
    )
    .await
    else {
        return;
    };
    let started = Instant::now();
    let mut browser = Browser::new();
    let (opened, ticket) = s.open(&mut browser).await;
    assert!(opened["expires_in"].as_u64().unwrap() <= 30);
    tokio::time::sleep(Duration::from_secs(31).saturating_sub(started.elapsed())).await;
    let report = s.scan("alice", &ticket).await;
    assert!(
        reply_text(&report, true).starts_with("登录二维码已过期"),
        "{report}"
    );
    assert_eq!(s.status(&mut browser).await["status"], "expired");
    assert_eq!(s.users().await, 0);
}

per_backend!(
    following_or_scanning_signs_in,
    a_plain_push_signs_in,
    a_push_under_the_previous_key_signs_in,
    pushes_that_must_not_log_anyone_in,
    a_duplicate_push_on_the_other_replica_is_ignored,
    a_scan_after_the_ticket_expired_is_told_so,
);

/// The push WeChat `sent` (its query and body) posted again to a gateway at `addr`: 200 and
/// what the gateway answered.
pub(crate) async fn replay(addr: std::net::SocketAddr, sent: &serde_json::Value) -> String {
    let again = reqwest::Client::new()
        .post(format!(
            "http://{addr}/_auth/oa/message?{}",
            sent["query"].as_str().unwrap()
        ))
        .header("content-type", "text/xml")
        .body(sent["body"].as_str().unwrap().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    again.text().await.unwrap()
}
