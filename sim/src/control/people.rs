//! Apps and users: `POST /_sim/apps`, `/_sim/users`, `/_sim/users/{name}/phone|flags`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::{ok, parse, ControlError, ControlResult};
use crate::msgcrypt::MessageKey;
use crate::world::{
    App, AppKind, MessageMode, OfficialAccount, Shared, World, DEFAULT_TOKEN_DAILY_QUOTA,
};

/// The body of `POST /_sim/apps`; also what `seed_demo` builds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppSpec {
    pub(crate) appid: String,
    pub(crate) secret: String,
    pub(crate) kind: AppKind,
    #[serde(default)]
    pub(crate) open_platform: Option<String>,
    #[serde(default)]
    pub(crate) redirect_domain: Option<String>,
    #[serde(default)]
    pub(crate) unionid_for_base: bool,
    #[serde(default)]
    pub(crate) token_daily_quota: Option<u32>,
    #[serde(default)]
    pub(crate) session_key_rotate_after: u64,
    /// Mini-programs: the released pages (default `pages/index/index`, `pages/login/scan`).
    #[serde(default)]
    pub(crate) pages: Option<Vec<String>>,
    /// Mini-programs: the server the pages call (a gateway channel's base URL).
    #[serde(default)]
    pub(crate) backend: Option<String>,
    /// Official accounts: 服务号 (default) or 订阅号 (false: no temporary QR codes).
    #[serde(default)]
    pub(crate) service_account: Option<bool>,
    /// Official accounts: the server URL configuration's Token.
    #[serde(default)]
    pub(crate) message_token: Option<String>,
    /// Official accounts: the EncodingAESKey, 43 characters.
    #[serde(default)]
    pub(crate) encoding_aes_key: Option<String>,
    /// Official accounts: `plain` (default), `compat` or `safe`.
    #[serde(default)]
    pub(crate) message_mode: Option<MessageMode>,
    /// Official accounts: where WeChat pushes messages and events.
    #[serde(default)]
    pub(crate) server_url: Option<String>,
}

impl AppSpec {
    /// An app of `kind` with every option at its default.
    pub(crate) fn new(appid: &str, secret: &str, kind: AppKind) -> Self {
        Self {
            appid: appid.to_owned(),
            secret: secret.to_owned(),
            kind,
            open_platform: None,
            redirect_domain: None,
            unionid_for_base: false,
            token_daily_quota: None,
            session_key_rotate_after: 0,
            pages: None,
            backend: None,
            service_account: None,
            message_token: None,
            encoding_aes_key: None,
            message_mode: None,
            server_url: None,
        }
    }

    /// The official-account settings, checked as WeChat's configuration page checks them.
    fn official(&self) -> Result<OfficialAccount, ControlError> {
        let given = self.service_account.is_some()
            || self.message_token.is_some()
            || self.encoding_aes_key.is_some()
            || self.message_mode.is_some()
            || self.server_url.is_some();
        if given && self.kind != AppKind::OfficialAccount {
            return Err(ControlError::bad_request(
                "service_account, message_token, encoding_aes_key, message_mode and server_url \
                 are for official accounts only",
            ));
        }
        let encoding_aes_key = self.encoding_aes_key.clone().filter(|k| !k.is_empty());
        if let Some(key) = &encoding_aes_key {
            if MessageKey::parse(key).is_err() {
                return Err(ControlError::bad_request(
                    "encoding_aes_key must be 43 base64 characters decoding (with \"=\") to 32 bytes",
                ));
            }
        }
        let message_mode = self.message_mode.unwrap_or(MessageMode::Plain);
        if message_mode != MessageMode::Plain && encoding_aes_key.is_none() {
            return Err(ControlError::bad_request(
                "the compat and safe modes need an encoding_aes_key",
            ));
        }
        let server_url = self.server_url.clone().filter(|u| !u.is_empty());
        if let Some(url) = &server_url {
            let http = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !http {
                return Err(ControlError::bad_request(
                    "server_url must be an http(s) URL",
                ));
            }
        }
        Ok(OfficialAccount {
            service_account: self.service_account.unwrap_or(true),
            message_token: self.message_token.clone().filter(|t| !t.is_empty()),
            encoding_aes_key,
            message_mode,
            server_url,
        })
    }
}

/// Registers (or replaces) an app; identities already minted for it are kept.
pub(crate) fn add_app(world: &mut World, spec: AppSpec) -> Result<(), ControlError> {
    if spec.appid.is_empty() || spec.secret.is_empty() {
        return Err(ControlError::bad_request(
            "appid and secret must not be empty",
        ));
    }
    if world.wecom.corps.contains_key(&spec.appid) {
        // `/connect/oauth2/authorize` tells the two apart by the appid alone.
        return Err(ControlError::conflict(format!(
            "{} is already a WeCom corp id",
            spec.appid
        )));
    }
    if spec.kind == AppKind::Website && spec.open_platform.is_none() {
        // A website app exists only under an open-platform account, so it always has unionids.
        return Err(ControlError::bad_request(
            "a website app needs an open_platform",
        ));
    }
    let official = spec.official()?;
    world.upsert_app(
        &spec.appid,
        App {
            secret: spec.secret,
            kind: spec.kind,
            open_platform: spec.open_platform.filter(|p| !p.is_empty()),
            redirect_domain: spec.redirect_domain.filter(|d| !d.is_empty()),
            unionid_for_base: spec.unionid_for_base,
            token_daily_quota: spec.token_daily_quota.unwrap_or(DEFAULT_TOKEN_DAILY_QUOTA),
            session_key_rotate_after: spec.session_key_rotate_after,
            pages: spec.pages.unwrap_or_else(crate::world::default_pages),
            backend: spec.backend.filter(|b| !b.is_empty()),
            official,
        },
    );
    Ok(())
}

pub(crate) async fn apps(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let spec: AppSpec = parse(&body)?;
    add_app(&mut shared.world(), spec)?;
    ok()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSpec {
    name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
}

/// A phone as getPhoneNumber reports it: the national number, digits only.
fn check_phone(phone: Option<String>) -> Result<Option<String>, ControlError> {
    match phone {
        Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => Err(
            ControlError::bad_request("phone must be the national number, digits only"),
        ),
        other => Ok(other),
    }
}

pub(crate) async fn users(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let spec: UserSpec = parse(&body)?;
    if spec.name.is_empty() {
        return Err(ControlError::bad_request("name must not be empty"));
    }
    let phone = check_phone(spec.phone)?;
    let country_code = spec.country_code.unwrap_or_else(|| "86".to_owned());
    shared
        .world()
        .upsert_user(&spec.name, phone, country_code, spec.nickname);
    ok()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneChange {
    /// `null` removes the phone: the user's phone button then yields no code.
    phone: Option<String>,
    #[serde(default)]
    country_code: Option<String>,
}

pub(crate) async fn phone(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ControlResult {
    let change: PhoneChange = parse(&body)?;
    let phone = check_phone(change.phone)?;
    let mut world = shared.world();
    let user = world
        .users
        .get_mut(&name)
        .ok_or_else(|| ControlError::not_found(format!("no user {name}")))?;
    user.phone = phone;
    if let Some(cc) = change.country_code {
        user.country_code = cc;
    }
    ok()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Flags {
    #[serde(default)]
    high_risk: Option<bool>,
    #[serde(default)]
    snapshot: Option<bool>,
}

pub(crate) async fn flags(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ControlResult {
    let flags: Flags = parse(&body)?;
    let mut world = shared.world();
    let user = world
        .users
        .get_mut(&name)
        .ok_or_else(|| ControlError::not_found(format!("no user {name}")))?;
    if let Some(high_risk) = flags.high_risk {
        user.high_risk = high_risk;
    }
    if let Some(snapshot) = flags.snapshot {
        user.snapshot = snapshot;
    }
    ok()
}
