//! The simulated world: apps, users, issued codes and tokens, and the identities WeChat derives.
//!
//! Everything lives behind one mutex that no handler holds across an `.await`; the simulator serves
//! tests and a quick start, so simplicity wins over concurrency.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::faults::Faults;
use crate::ids;
use crate::wecom::WeCom;
use crate::wire::WxError;

/// Daily `/cgi-bin/token` quota per app when the control API does not say otherwise.
pub(crate) const DEFAULT_TOKEN_DAILY_QUOTA: u32 = 2000;

/// Official-account QR codes the world remembers; older ones are forgotten (their tickets then
/// read as unknown), which only matters past this many codes.
pub(crate) const KEPT_QR_CODES: usize = 1000;

/// State shared by every handler.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) clock: Clock,
    world: Mutex<World>,
}

impl Shared {
    /// Locks the world. A panicking handler must not wedge the simulator, so poison is ignored:
    /// each handler leaves the world consistent before it can panic.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What kind of WeChat account an appid is; it decides which flows accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AppKind {
    #[serde(rename = "miniprogram")]
    MiniProgram,
    #[serde(rename = "official_account")]
    OfficialAccount,
    #[serde(rename = "website")]
    Website,
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) secret: String,
    pub(crate) kind: AppKind,
    /// The open-platform account the app is bound to; unionids exist only for bound apps.
    pub(crate) open_platform: Option<String>,
    /// 网页授权域名 (OA) or the reviewed callback domain (website): `host` or `host:port`.
    pub(crate) redirect_domain: Option<String>,
    /// Also return unionid for `snsapi_base` exchanges (seen in the wild, not documented).
    pub(crate) unionid_for_base: bool,
    pub(crate) token_daily_quota: u32,
    /// Minimum age in seconds before a login rotates the session_key; 0 rotates on every login.
    pub(crate) session_key_rotate_after: u64,
    /// Mini-programs: the pages of the released version (`getwxacodeunlimit` with `check_path`).
    pub(crate) pages: Vec<String>,
    /// Mini-programs: the server its pages call (a gateway channel's base, e.g.
    /// `http://127.0.0.1:8080/_auth/mp`), for the simulated person's scan-to-login.
    pub(crate) backend: Option<String>,
    /// Official accounts: the server URL configuration and the account type.
    pub(crate) official: OfficialAccount,
}

/// An official account's settings (wechat-api.md §12); ignored for other kinds.
#[derive(Debug, Clone)]
pub(crate) struct OfficialAccount {
    /// 服务号 (true) or 订阅号: only service accounts may create temporary QR codes.
    pub(crate) service_account: bool,
    /// The Token of the server URL configuration, which signs every push.
    pub(crate) message_token: Option<String>,
    /// The EncodingAESKey (43 characters), validated when the app was added.
    pub(crate) encoding_aes_key: Option<String>,
    pub(crate) message_mode: MessageMode,
    /// Where WeChat pushes messages and events (a gateway's `/_auth/{oa}/message`).
    pub(crate) server_url: Option<String>,
}

impl Default for OfficialAccount {
    fn default() -> Self {
        Self {
            service_account: true,
            message_token: None,
            encoding_aes_key: None,
            message_mode: MessageMode::Plain,
            server_url: None,
        }
    }
}

/// 消息加解密方式: how pushes to the server URL are sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MessageMode {
    /// 明文: the XML as is.
    Plain,
    /// 兼容: the plain fields and `<Encrypt>` side by side.
    Compat,
    /// 安全: only `<ToUserName>` and `<Encrypt>`.
    Safe,
}

/// A QR code `qrcode/create` made for an official account.
#[derive(Debug, Clone)]
pub(crate) struct QrCode {
    pub(crate) appid: String,
    pub(crate) ticket: String,
    /// `scene_str`, or `scene_id` in decimal: what the push's EventKey carries.
    pub(crate) scene: String,
    /// Set for `QR_SCENE` and `QR_LIMIT_SCENE` codes (user/info's `qr_scene`).
    pub(crate) scene_id: Option<u64>,
    /// None for permanent codes.
    pub(crate) expires_at: Option<i64>,
}

impl QrCode {
    pub(crate) fn live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// A user following an official account.
#[derive(Debug, Clone)]
pub(crate) struct Follow {
    pub(crate) since: i64,
    /// The QR code scene the user followed by, if any.
    pub(crate) scene: Option<String>,
    pub(crate) scene_id: Option<u64>,
}

/// The mini-program pages a simulated app has unless told otherwise.
pub(crate) fn default_pages() -> Vec<String> {
    vec![
        "pages/index/index".to_owned(),
        "pages/login/scan".to_owned(),
    ]
}

/// A mini-program code `getwxacodeunlimit` made.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WxaCode {
    pub(crate) appid: String,
    pub(crate) scene: String,
    pub(crate) page: String,
    pub(crate) made_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) phone: Option<String>,
    pub(crate) country_code: String,
    pub(crate) nickname: String,
    /// Stable per user so that headimgurl does not change between logins.
    pub(crate) avatar_id: String,
    /// WeChat risk control blocks this user's logins (40226).
    pub(crate) high_risk: bool,
    /// OA `snsapi_userinfo` authorisations land on the snapshot page (virtual identity).
    pub(crate) snapshot: bool,
}

/// A wx.login code, or an OA/website OAuth code.
#[derive(Debug, Clone)]
pub(crate) struct IssuedCode {
    pub(crate) appid: String,
    pub(crate) user: String,
    pub(crate) issued_at: i64,
    pub(crate) ttl: i64,
    pub(crate) used: bool,
    /// OAuth only: the granted scope.
    pub(crate) scope: String,
    /// OAuth only: the user went through the snapshot page.
    pub(crate) snapshot: bool,
}

impl IssuedCode {
    pub(crate) fn expired(&self, now: i64) -> bool {
        now >= self.issued_at + self.ttl
    }
}

/// A getPhoneNumber code; the phone is fixed when the user taps the button.
#[derive(Debug, Clone)]
pub(crate) struct PhoneCode {
    pub(crate) appid: String,
    pub(crate) user: String,
    pub(crate) issued_at: i64,
    pub(crate) used: bool,
    pub(crate) phone: String,
    pub(crate) country_code: String,
}

#[derive(Debug, Clone)]
pub(crate) struct SessionKey {
    pub(crate) key: String,
    pub(crate) issued_at: i64,
}

/// An interface access_token from `/cgi-bin/token` or `/cgi-bin/stable_token`.
#[derive(Debug, Clone)]
pub(crate) struct InterfaceToken {
    pub(crate) appid: String,
    pub(crate) expires_at: i64,
    /// When a newer token superseded this one (plus any grace period).
    pub(crate) revoked_at: Option<i64>,
}

/// Per-app state of the stable-token pool.
#[derive(Debug, Clone, Default)]
pub(crate) struct StableSlot {
    pub(crate) current: Option<String>,
    pub(crate) last_force: Option<i64>,
}

/// One OAuth grant: a user's consent to one app, with its rolling access token.
#[derive(Debug, Clone)]
pub(crate) struct SnsGrant {
    pub(crate) appid: String,
    pub(crate) user: String,
    pub(crate) scope: String,
    pub(crate) openid: String,
    /// The unionid the exchange revealed, repeated on refresh.
    pub(crate) unionid: Option<String>,
    pub(crate) snapshot: bool,
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) refresh_expires: i64,
}

/// Where an sns access_token points, and until when it works.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SnsAccess {
    pub(crate) grant: usize,
    pub(crate) expires_at: i64,
}

/// A message received by the `/sms` webhook.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SmsRecord {
    pub(crate) phone: String,
    pub(crate) code: String,
    pub(crate) purpose: Option<String>,
    pub(crate) channel: Option<String>,
    pub(crate) received_at: i64,
}

#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) apps: HashMap<String, App>,
    pub(crate) users: HashMap<String, User>,
    /// (appid, user) → openid; minted on first need, stable afterwards.
    openids: HashMap<(String, String), String>,
    /// (open platform, user) → unionid.
    unionids: HashMap<(String, String), String>,
    /// (appid, user) → snapshot-page openid and unionid, distinct from the real ones.
    virtual_ids: HashMap<(String, String), (String, String)>,

    pub(crate) login_codes: HashMap<String, IssuedCode>,
    /// user → times of recent jscode2session calls (sliding one-minute window).
    pub(crate) login_calls: HashMap<String, VecDeque<i64>>,
    pub(crate) session_keys: HashMap<(String, String), SessionKey>,
    pub(crate) phone_codes: HashMap<String, PhoneCode>,

    pub(crate) tokens: HashMap<String, InterfaceToken>,
    /// appid → the newest `/cgi-bin/token` token.
    pub(crate) plain_latest: HashMap<String, String>,
    pub(crate) stable: HashMap<String, StableSlot>,
    /// (appid, quota name, window index) → calls counted in that window.
    counters: HashMap<(String, &'static str, i64), u32>,

    pub(crate) oauth_codes: HashMap<String, IssuedCode>,
    pub(crate) grants: Vec<SnsGrant>,
    pub(crate) sns_access: HashMap<String, SnsAccess>,
    pub(crate) sns_refresh: HashMap<String, usize>,
    /// Who "scans" or "taps allow" on the next OAuth page when the URL does not say.
    pub(crate) next_user: Option<String>,
    /// The next OAuth page is denied (one shot).
    pub(crate) deny_next: bool,

    pub(crate) sms: Vec<SmsRecord>,
    /// The newest mini-program codes made, oldest first (at most 100).
    pub(crate) wxa_codes: VecDeque<WxaCode>,
    /// Official-account QR codes made, oldest first (at most [`KEPT_QR_CODES`]).
    pub(crate) qr_codes: VecDeque<QrCode>,
    /// JS-SDK tickets issued, oldest first, as (appid, ticket): tests check signatures with them.
    pub(crate) jsapi_tickets: VecDeque<(String, String)>,
    /// (appid, user) → since when the user follows that official account.
    pub(crate) followers: HashMap<(String, String), Follow>,
    /// What the last scan from the official-account scan page produced, shown on that page.
    pub(crate) last_oa_scan: Option<serde_json::Value>,
    /// WeCom's corps, members, codes, tokens and tickets.
    pub(crate) wecom: WeCom,
    pub(crate) faults: Faults,
    /// path → WeChat-side calls received, errors included.
    pub(crate) calls: BTreeMap<String, u64>,
}

impl World {
    /// Checks appid and secret the way every secret-bearing endpoint does.
    pub(crate) fn authenticate_app(&self, appid: &str, secret: &str) -> Result<&App, WxError> {
        let app = self.apps.get(appid).ok_or(WxError(40013))?;
        if app.secret == secret {
            Ok(app)
        } else {
            Err(WxError(40125))
        }
    }

    pub(crate) fn upsert_app(&mut self, appid: &str, app: App) {
        self.apps.insert(appid.to_owned(), app);
    }

    /// Creates a user or updates its phone, keeping flags and identities.
    pub(crate) fn upsert_user(
        &mut self,
        name: &str,
        phone: Option<String>,
        country_code: String,
        nickname: Option<String>,
    ) {
        let user = self.users.entry(name.to_owned()).or_insert_with(|| User {
            phone: None,
            country_code: String::new(),
            nickname: name.to_owned(),
            avatar_id: ids::open_id(),
            high_risk: false,
            snapshot: false,
        });
        user.phone = phone;
        user.country_code = country_code;
        if let Some(nickname) = nickname {
            user.nickname = nickname;
        }
    }

    /// The user's openid under `appid`: stable, and different for every appid.
    pub(crate) fn openid(&mut self, appid: &str, user: &str) -> String {
        self.openids
            .entry((appid.to_owned(), user.to_owned()))
            .or_insert_with(ids::open_id)
            .clone()
    }

    /// The user behind an openid of `appid`, if that openid was ever issued.
    pub(crate) fn user_by_openid(&self, appid: &str, openid: &str) -> Option<String> {
        self.openids
            .iter()
            .find(|((app, _), id)| app == appid && id.as_str() == openid)
            .map(|((_, user), _)| user.clone())
    }

    /// The user's unionid as seen by `appid`: shared by every app of one open platform, absent for
    /// apps bound to none.
    pub(crate) fn unionid(&mut self, appid: &str, user: &str) -> Option<String> {
        let platform = self.apps.get(appid)?.open_platform.clone()?;
        Some(
            self.unionids
                .entry((platform, user.to_owned()))
                .or_insert_with(ids::open_id)
                .clone(),
        )
    }

    /// The virtual openid and unionid a snapshot-page visit produces.
    pub(crate) fn snapshot_ids(&mut self, appid: &str, user: &str) -> (String, String) {
        self.virtual_ids
            .entry((appid.to_owned(), user.to_owned()))
            .or_insert_with(|| (ids::open_id(), ids::open_id()))
            .clone()
    }

    /// Remembers a QR code `qrcode/create` made.
    pub(crate) fn add_qr_code(&mut self, code: QrCode) {
        self.qr_codes.push_back(code);
        while self.qr_codes.len() > KEPT_QR_CODES {
            self.qr_codes.pop_front();
        }
    }

    /// The live code of `appid` with this ticket, or the newest live one with this scene.
    pub(crate) fn live_qr_code(
        &self,
        appid: &str,
        ticket: Option<&str>,
        scene: Option<&str>,
        now: i64,
    ) -> Option<&QrCode> {
        self.qr_codes.iter().rev().find(|code| {
            code.appid == appid
                && code.live(now)
                && ticket.is_none_or(|t| code.ticket == t)
                && scene.is_none_or(|s| code.scene == s)
        })
    }

    /// Whether `user` follows official account `appid`, and how.
    pub(crate) fn follow(&self, appid: &str, user: &str) -> Option<&Follow> {
        self.followers.get(&(appid.to_owned(), user.to_owned()))
    }

    /// `user` starts following `appid` (a follower stays as they were).
    pub(crate) fn start_following(&mut self, appid: &str, user: &str, follow: Follow) {
        self.followers
            .entry((appid.to_owned(), user.to_owned()))
            .or_insert(follow);
    }

    pub(crate) fn stop_following(&mut self, appid: &str, user: &str) {
        self.followers.remove(&(appid.to_owned(), user.to_owned()));
    }

    /// Calls already counted for a quota window.
    pub(crate) fn counted(&self, appid: &str, quota: &'static str, window: i64) -> u32 {
        self.counters
            .get(&(appid.to_owned(), quota, window))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn count(&mut self, appid: &str, quota: &'static str, window: i64) {
        *self
            .counters
            .entry((appid.to_owned(), quota, window))
            .or_default() += 1;
    }
}
