//! wxgate-sim: a faithful offline stand-in for the WeChat server APIs wxgate calls, plus a demo
//! echo upstream. Used by the project's tests and by `wxgate dev`.
//!
//! One base URL serves the `api.weixin.qq.com` paths, the `open.weixin.qq.com` pages
//! (`/connect/...`), the `/sms` webhook receiver and the control API under `/_sim/`.
//! The behaviours reproduced are the "Simulator checklist" of `docs/wechat-api.md`.
//!
//! WeChat side: `/sns/jscode2session`, `/cgi-bin/token`, `/cgi-bin/stable_token`,
//! `/wxa/business/getuserphonenumber`, `/wxa/checksession`, `/wxa/resetusersessionkey`,
//! `/connect/oauth2/authorize`, `/connect/qrconnect`, `/sns/oauth2/access_token`,
//! `/sns/oauth2/refresh_token`, `/sns/userinfo`, `/sns/auth`, `/wxa/getwxacodeunlimit` (a PNG that
//! carries its scene: [`scene_of_code`]); anything else is 40066.
//!
//! Control API (JSON; errors are `{"error": "..."}` with a 4xx status):
//!
//! | call | body / query | effect |
//! |---|---|---|
//! | `POST /_sim/apps` | `appid, secret, kind` (`miniprogram`, `official_account`, `website`), `open_platform?`, `redirect_domain?`, `unionid_for_base?`, `token_daily_quota?`, `session_key_rotate_after?` (s), `pages?`, `backend?` (mini-programs) | add or replace an app |
//! | `POST /_sim/users` | `name, phone?, country_code?` (`"86"`), `nickname?` | add a user or update its phone |
//! | `POST /_sim/users/{name}/phone` | `phone` (null: none), `country_code?` | change the phone |
//! | `POST /_sim/users/{name}/flags` | `high_risk?, snapshot?` | risk control, snapshot page |
//! | `POST /_sim/login_code` | `appid, user` | `{"code"}` as `wx.login` gives it |
//! | `POST /_sim/phone_code` | `appid, user` | `{"code"}` as getPhoneNumber gives it (409 without a phone) |
//! | `POST /_sim/encrypted_phone` | `appid, user, watermark_appid?` | `{"encryptedData","iv"}` under the current session_key |
//! | `GET /_sim/identity` | `?appid=&user=` | `{"openid","unionid"}` (unionid null when unbound) |
//! | `POST /_sim/next_user` | `user` (sticky, null clears), `deny?` (next page only) | who authorises OAuth pages without `sim_user` |
//! | `POST` / `GET` / `DELETE /_sim/faults` | `path, errcode?, times?, delay_ms?, broken?` (`malformed`, `html`, `reset`) | queue, list, clear faults |
//! | `GET` / `DELETE /_sim/calls` | | WeChat calls per path; reset |
//! | `GET /_sim/sms`, `GET /_sim/sms/last` | `?phone=` | SMS received by `POST /sms` |
//! | `GET /_sim/clock`, `POST /_sim/clock/advance` | `seconds` | read or move the clock |
//! | `GET /_sim/wxacodes` | | mini-program codes made by `/wxa/getwxacodeunlimit`, oldest first |
//! | `POST /_sim/miniprogram/scan` | `appid, scene, user, action?` (`confirm`, `cancel`, `scan`) | the person scans a code in the mini-program: its `backend` gets `scan/scanned`, then `scan/confirm` with a fresh `wx.login` code (or `scan/cancel`); answers what the backend said |
//! | `GET /_sim/miniprogram/scan` | | a page to do the same by hand (`wxgate dev`) |
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
mod control;
mod crypto;
mod echo;
mod events;
mod faults;
mod ids;
mod sms;
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

use crate::control::AppSpec;
use crate::world::{AppKind, Shared};

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
    /// account and a website app bound to it, and users `alice` and `bob` with phones.
    pub fn seed_demo(&self) {
        let app = |appid: &str, secret: &str, kind: AppKind, redirect: bool| AppSpec {
            appid: appid.to_owned(),
            secret: secret.to_owned(),
            kind,
            open_platform: Some("demo-open".to_owned()),
            redirect_domain: redirect.then(|| "127.0.0.1".to_owned()),
            unionid_for_base: false,
            token_daily_quota: None,
            session_key_rotate_after: 0,
            pages: None,
            backend: None,
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
            app(
                "wx0000000000000002",
                "demo-oa-secret",
                AppKind::OfficialAccount,
                true,
            ),
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
    }

    /// The server a mini-program's pages call (a gateway channel's base URL): where the
    /// simulated person's scan-to-login goes (`/_sim/miniprogram/scan`).
    pub fn set_backend(&self, appid: &str, backend: &str) {
        if let Some(app) = self.shared.world().apps.get_mut(appid) {
            app.backend = Some(backend.to_owned());
        }
    }
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
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(%err, %addr, "wxgate-sim server stopped");
        }
    });
    Ok(SimHandle { addr, task })
}
