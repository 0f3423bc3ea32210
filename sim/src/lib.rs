//! wxgate-sim: a faithful offline stand-in for the WeChat server APIs wxgate calls, plus a demo
//! echo upstream. Used by the project's tests and by `wxgate dev`.
//!
//! One base URL serves the `api.weixin.qq.com` paths, the `open.weixin.qq.com` pages
//! (`/connect/...`), WeCom's `qyapi.weixin.qq.com` paths and `login.work.weixin.qq.com` page, the
//! `/sms` webhook receiver and the control API under `/_sim/`.
//! The behaviours reproduced are the "Simulator checklist" of `docs/wechat-api.md`.
//!
//! WeChat side: `/sns/jscode2session`, `/cgi-bin/token`, `/cgi-bin/stable_token`,
//! `/wxa/business/getuserphonenumber`, `/wxa/checksession`, `/wxa/resetusersessionkey`,
//! `/connect/oauth2/authorize`, `/connect/qrconnect`, `/sns/oauth2/access_token`,
//! `/sns/oauth2/refresh_token`, `/sns/userinfo`, `/sns/auth`, `/wxa/getwxacodeunlimit` (a PNG that
//! carries its scene: [`scene_of_code`]), and for official accounts `/cgi-bin/qrcode/create`
//! (service accounts only), `/cgi-bin/showqrcode` (the `mp.weixin.qq.com` image, a PNG that carries
//! its ticket: [`ticket_of_qrcode`]; 404 once expired), `/cgi-bin/user/info` and
//! `/cgi-bin/ticket/getticket`; anything else (WeCom paths not listed below included) is 40066.
//!
//! WeCom side (企业微信 self-built apps, wechat-api.md §14), told apart by the corp id:
//! - Pages: `/wwlogin/sso/login?login_type=CorpApp&appid=CORPID&agentid=AGENTID&redirect_uri=&state=`
//!   (web SSO) and `/connect/oauth2/authorize?appid=CORPID&redirect_uri=&response_type=code&scope=`
//!   `snsapi_base|snsapi_privateinfo&state=&agentid=` (in-app; `agentid` required for
//!   privateinfo). Both 302 to `redirect_uri` (its host the app's trusted domain) with `code` and
//!   `state`; codes are single use and live 5 minutes. Who signs in: `sim_member=USERID` or
//!   `sim_outsider=NAME` in the URL, else the corp's `/_sim/wecom/next`, else a chooser page whose
//!   links add one of those. Errors are HTML pages with status 200 naming the errcode (50001: the
//!   redirect_uri is not on the app's trusted domain).
//! - APIs: `/cgi-bin/gettoken` (7200 s; each call a new token, earlier ones stay valid),
//!   `/cgi-bin/auth/getuserinfo` (a member's `userid`, plus `user_ticket` under
//!   `snsapi_privateinfo`; an outsider's `openid` and `external_userid`), `/cgi-bin/auth/getuserdetail`
//!   (POST `{"user_ticket"}`: `userid, gender, avatar, qr_code, mobile, email, biz_mail, address`;
//!   a missing, unknown, expired (1800 s) or other app's ticket is 40029). Bodies always carry `errcode` and `errmsg`; an error's errmsg reads
//!   `invalid code, hint: [<unix time + 15 digits>], from ip: <caller>, more info at https://open.work.weixin.qq.com/devtool/query?e=40029`.
//!
//! WeChat also pushes to an official account's `server_url` (wechat-api.md §12.2): signed with its
//! `message_token`, sealed with its `encoding_aes_key` in the `compat` and `safe` modes, addressed
//! from the user's openid to the account's [`original_id`]; it waits 5 s for the answer. The two
//! push calls below answer a report: `{"sent": {"query", "body"}, "status", "timed_out", "body",
//! "reply", "elapsed_ms"}` (plus `transport_error` when the server is unreachable), where `reply`
//! is `{"kind": "none"}` (`success` or empty), `{"kind": MsgType, "content", "to", "from",
//! "encrypted", "signature_ok"}` (a passive reply) or `{"kind": "invalid"}`.
//!
//! Control API (JSON; errors are `{"error": "..."}` with a 4xx status):
//!
//! | call | body / query | effect |
//! |---|---|---|
//! | `POST /_sim/apps` | `appid, secret, kind` (`miniprogram`, `official_account`, `website`), `open_platform?`, `redirect_domain?`, `unionid_for_base?`, `token_daily_quota?`, `session_key_rotate_after?` (s), `pages?`, `backend?` (mini-programs), `service_account?` (true), `message_token?`, `encoding_aes_key?` (43 chars), `message_mode?` (`plain`, `compat`, `safe`), `server_url?` (official accounts) | add or replace an app |
//! | `POST /_sim/users` | `name, phone?, country_code?` (`"86"`), `nickname?` | add a user or update its phone |
//! | `POST /_sim/users/{name}/phone` | `phone` (null: none), `country_code?` | change the phone |
//! | `POST /_sim/users/{name}/flags` | `high_risk?, snapshot?` | risk control, snapshot page |
//! | `POST /_sim/login_code` | `appid, user` | `{"code"}` as `wx.login` gives it |
//! | `POST /_sim/phone_code` | `appid, user` | `{"code"}` as getPhoneNumber gives it (409 without a phone) |
//! | `POST /_sim/encrypted_phone` | `appid, user, watermark_appid?` | `{"encryptedData","iv"}` under the current session_key |
//! | `GET /_sim/identity` | `?appid=&user=` | `{"openid","unionid"}` (unionid null when unbound) |
//! | `POST /_sim/next_user` | `user` (sticky, null clears), `deny?` (next page only) | who authorises OAuth pages without `sim_user` |
//! | `POST` / `GET` / `DELETE /_sim/faults` | `path, errcode?, times?, delay_ms?, broken?` (`malformed`, `html`, `reset`) | queue, list, clear faults |
//! | `GET` / `DELETE /_sim/calls` | | WeChat and WeCom calls per path; reset |
//! | `GET /_sim/sms`, `GET /_sim/sms/last` | `?phone=` | SMS received by `POST /sms` |
//! | `GET /_sim/clock`, `POST /_sim/clock/advance` | `seconds` | read or move the clock |
//! | `GET /_sim/wxacodes` | | mini-program codes made by `/wxa/getwxacodeunlimit`, oldest first |
//! | `POST /_sim/miniprogram/scan` | `appid, scene, user, action?` (`confirm`, `cancel`, `scan`) | the person scans a code in the mini-program: its `backend` gets `scan/scanned`, then `scan/confirm` with a fresh `wx.login` code (or `scan/cancel`); answers what the backend said |
//! | `GET /_sim/miniprogram/scan` | | a page to do the same by hand (`wxgate dev`) |
//! | `GET /_sim/qrcodes` | | official-account QR codes made, oldest first: `[{appid, ticket, scene, expires_at}]` (null: permanent) |
//! | `GET /_sim/jsapi_tickets` | | JS-SDK tickets issued by `/cgi-bin/ticket/getticket`, oldest first: `[{appid, ticket}]` |
//! | `POST /_sim/officialaccount/scan` | `appid, user, ticket` or `scene` (JSON or form) | the person scans a live code: a non-follower follows (push `subscribe`, `EventKey=qrscene_<scene>`), a follower gets `SCAN` (`EventKey=<scene>`); 409 and no push when unknown or expired; answers the push report |
//! | `GET /_sim/officialaccount/scan` | | a page to do the same by hand (`wxgate dev`) |
//! | `POST /_sim/officialaccount/push` | `appid, user, event?` (`subscribe`, `SCAN`, `unsubscribe`, `CLICK`, …) or `text?`, `event_key?, ticket?, create_time?, timestamp?, nonce?, mode?, url?, tamper?` (`signature`, `msg_signature`, `appid`) | any push; an untampered `subscribe` / `unsubscribe` also changes who follows; answers the push report |
//! | `POST /_sim/wecom/apps` | `corp_id` (`[A-Za-z0-9]{1,32}`), `agent_id` (integer), `secret`, `trusted_domain?` (`127.0.0.1`; `host` or `host:port`) | add or replace a WeCom corp app; a corp exists from its first app (409 when the id is a WeChat appid or another app of the corp has that secret) |
//! | `POST /_sim/wecom/members` | `corp_id, userid` (1–64 bytes of `[A-Za-z0-9_-@.]`), `name?` (the userid), `mobile?` (11 digits), `avatar?, email?, visible?` (true; false: getuserinfo answers 60011) | add or replace a member; userids ignore ASCII case inside their corp |
//! | `POST /_sim/wecom/next` | `corp_id, member?` (a userid; null clears), `outsider?` (a `/_sim/users` name) | who signs in on that corp's next WeCom pages without asking (sticky; both absent brings the chooser back) |
//! | `GET /_sim/health` | | `{"ok":true}` |
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = wxgate_sim::Simulator::new();
//! sim.seed_demo();
//! let handle = sim.serve("127.0.0.1:0".parse().unwrap()).await?;
//! println!("point api_base at {}", handle.base_url());
//! # Ok(()) }
//! ```

mod api;
mod clock;
mod code_png;
mod control;
mod crypto;
mod echo;
mod events;
mod faults;
mod ids;
mod msgcrypt;
mod push;
mod sms;
mod wecom;
mod wire;
mod world;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::http::Uri;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::control::{AppSpec, CorpAppSpec, MemberSpec};
use crate::world::{AppKind, MessageMode, Shared};

/// The simulated WeChat. Cheap to clone: clones share one world, so a test can keep a handle on
/// the simulator it served.
#[derive(Debug, Clone, Default)]
pub struct Simulator {
    shared: Arc<Shared>,
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    /// The bound address (the real port when asked for port 0).
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (a wildcard bind is reached through loopback).
    pub fn base_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            self.addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Simulator {
    /// An empty world (no apps, no users) on the real-time clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `addr` (port 0 picks a free port) and serves the simulator until the handle drops.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<SimHandle> {
        spawn(addr, self.router()).await
    }

    /// The whole simulator as a router, for in-process use.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(api::routes())
            .merge(control::routes())
            .route(faults::SMS_PATH, post(sms::receive))
            .fallback(fallback)
            .layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                faults::intercept,
            ))
            .with_state(self.shared.clone())
    }

    /// Moves the simulated clock forward, like `POST /_sim/clock/advance`.
    pub fn advance_clock(&self, seconds: u64) {
        self.shared.clock.advance(seconds);
    }

    /// The quick-start world: open platform `demo-open` with two mini-programs, an official
    /// account and a website app bound to it, users `alice` and `bob` with phones, and the WeCom
    /// corp [`DEMO_WECOM_CORP_ID`] with members `zhangsan` and `lisi`. The
    /// official account `wx0000000000000002` is a service account whose pushes are signed with
    /// [`DEMO_OA_MESSAGE_TOKEN`] and sealed (safe mode) with [`DEMO_OA_ENCODING_AES_KEY`].
    pub fn seed_demo(&self) {
        let app = |appid: &str, secret: &str, kind: AppKind, redirect: bool| AppSpec {
            open_platform: Some("demo-open".to_owned()),
            redirect_domain: redirect.then(|| "127.0.0.1".to_owned()),
            ..AppSpec::new(appid, secret, kind)
        };
        // The official account plays follow-to-login: a service account in safe mode; its
        // server_url is set by `wxgate dev` through `set_server_url`.
        let official_account = AppSpec {
            service_account: Some(true),
            message_token: Some(DEMO_OA_MESSAGE_TOKEN.to_owned()),
            encoding_aes_key: Some(DEMO_OA_ENCODING_AES_KEY.to_owned()),
            message_mode: Some(MessageMode::Safe),
            ..app(
                "wx0000000000000002",
                "demo-oa-secret",
                AppKind::OfficialAccount,
                true,
            )
        };
        let apps = [
            app(
                "wx0000000000000001",
                "demo-mp-secret",
                AppKind::MiniProgram,
                false,
            ),
            app(
                "wx0000000000000004",
                "demo-mp2-secret",
                AppKind::MiniProgram,
                false,
            ),
            official_account,
            app(
                "wx0000000000000003",
                "demo-web-secret",
                AppKind::Website,
                true,
            ),
        ];
        let mut world = self.shared.world();
        for spec in apps {
            // The specs above are valid by construction; a failure would be a bug in this list.
            if let Err(err) = control::add_app(&mut world, spec) {
                tracing::error!(?err, "seed_demo: invalid demo app");
            }
        }
        for (name, phone) in [("alice", "13800138000"), ("bob", "13900139000")] {
            world.upsert_user(name, Some(phone.to_owned()), "86".to_owned(), None);
        }
        seed_demo_wecom(&mut world);
    }

    /// The server a mini-program's pages call (a gateway channel's base URL): where the
    /// simulated person's scan-to-login goes (`/_sim/miniprogram/scan`).
    pub fn set_backend(&self, appid: &str, backend: &str) {
        if let Some(app) = self.shared.world().apps.get_mut(appid) {
            app.backend = Some(backend.to_owned());
        }
    }

    /// Where WeChat pushes official account `appid`'s messages and events (its server URL, e.g.
    /// a gateway's `http://127.0.0.1:8080/_auth/oa/message`).
    pub fn set_server_url(&self, appid: &str, url: &str) {
        if let Some(app) = self.shared.world().apps.get_mut(appid) {
            app.official.server_url = Some(url.to_owned());
        }
    }
}

/// The demo WeCom corp: one self-built app trusting 127.0.0.1, members `zhangsan` (张三, the same
/// phone as the WeChat user alice) and `lisi` (李四).
fn seed_demo_wecom(world: &mut world::World) {
    let app = CorpAppSpec {
        corp_id: DEMO_WECOM_CORP_ID.to_owned(),
        agent_id: DEMO_WECOM_AGENT_ID,
        secret: DEMO_WECOM_SECRET.to_owned(),
        trusted_domain: None,
    };
    // As in `seed_demo`: valid by construction, so a failure is a bug in this list.
    if let Err(err) = control::add_corp_app(world, app) {
        tracing::error!(?err, "seed_demo: invalid demo WeCom app");
    }
    for (userid, name, mobile) in [
        ("zhangsan", "张三", "13800138000"),
        ("lisi", "李四", "13700137000"),
    ] {
        let member = MemberSpec {
            mobile: Some(mobile.to_owned()),
            ..MemberSpec::new(DEMO_WECOM_CORP_ID, userid, name)
        };
        if let Err(err) = control::add_member(world, member) {
            tracing::error!(?err, "seed_demo: invalid demo WeCom member");
        }
    }
}

/// The demo WeCom corp id (`seed_demo`).
pub const DEMO_WECOM_CORP_ID: &str = "ww0000000000000001";
/// The demo WeCom app's agent id (`seed_demo`).
pub const DEMO_WECOM_AGENT_ID: i64 = 1000002;
/// The demo WeCom app's secret (`seed_demo`).
pub const DEMO_WECOM_SECRET: &str = "demo-wecom-secret";

/// The demo official account's server URL Token (`seed_demo`).
pub const DEMO_OA_MESSAGE_TOKEN: &str = "wxgateDevToken";
/// The demo official account's EncodingAESKey (`seed_demo`).
pub const DEMO_OA_ENCODING_AES_KEY: &str = "wxgateDevEncodingAESKey0123456789abcdefghij";

/// The original id (`gh_` + 12 lowercase hex) of the simulated official account `appid`: the
/// `ToUserName` of its pushes. Derived from the appid, so stable across runs.
pub fn original_id(appid: &str) -> String {
    ids::original_id(appid)
}

/// The ticket a simulated official-account QR code (a PNG from `/cgi-bin/showqrcode`) carries:
/// what a phone reads when it scans the code.
pub fn ticket_of_qrcode(png: &[u8]) -> Option<String> {
    api::qrcode::ticket_of_png(png)
}

/// Unknown WeChat paths get 40066; unknown control paths a JSON 404.
async fn fallback(uri: Uri) -> Response {
    if uri.path().starts_with("/_sim") {
        control::unknown(uri.path())
    } else {
        api::invalid_url(uri).await
    }
}

/// Serves the demo upstream that echoes method, path, query and every header as JSON.
pub async fn serve_echo_upstream(addr: SocketAddr) -> std::io::Result<SimHandle> {
    spawn(addr, echo::router()).await
}

/// The scene a simulated mini-program code (a PNG from `/wxa/getwxacodeunlimit`) carries: what a
/// phone reads when it scans the code.
pub fn scene_of_code(png: &[u8]) -> Option<String> {
    api::wxacode::scene_of_png(png)
}

/// A receiver's check of `Wxgate-Signature` (`t=…,v1=…`) on `body`, at unix time `now`.
pub fn verify_event_signature(secret: &[u8], header: &str, body: &[u8], now: i64) -> bool {
    events::signature_ok(secret, header, body, now)
}

/// The demo upstream, also receiving wxgate's identity events at `/_wxgate/events`: it checks
/// their signature with `webhook_secret` and prints them.
pub async fn serve_echo_upstream_with_events(
    addr: SocketAddr,
    webhook_secret: &str,
) -> std::io::Result<SimHandle> {
    let router = events::router(webhook_secret.as_bytes().to_vec()).merge(echo::router());
    spawn(addr, router).await
}

async fn spawn(addr: SocketAddr, router: Router) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // The peer address feeds the `from ip` of WeCom's errmsg.
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(err) = axum::serve(listener, service).await {
            tracing::error!(%err, %addr, "wxgate-sim server stopped");
        }
    });
    Ok(SimHandle { addr, task })
}
