//! Apps and users: `POST /_sim/apps`, `/_sim/users`, `/_sim/users/{name}/phone|flags`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::{ok, parse, ControlError, ControlResult};
use crate::world::{App, AppKind, Shared, World, DEFAULT_TOKEN_DAILY_QUOTA};

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
}

/// Registers (or replaces) an app; identities already minted for it are kept.
pub(crate) fn add_app(world: &mut World, spec: AppSpec) -> Result<(), ControlError> {
    if spec.appid.is_empty() || spec.secret.is_empty() {
        return Err(ControlError::bad_request(
            "appid and secret must not be empty",
        ));
    }
    if spec.kind == AppKind::Website && spec.open_platform.is_none() {
        // A website app exists only under an open-platform account, so it always has unionids.
        return Err(ControlError::bad_request(
            "a website app needs an open_platform",
        ));
    }
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
