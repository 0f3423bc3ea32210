//! The identity vocabulary: who a user is, the WeChat identities and phone numbers bound to it.

use serde::Serialize;
use std::fmt;

/// A stable, opaque user id (`u_` + 32 hex). Never reused; a merged-away id stays resolvable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    pub fn generate() -> Self {
        Self(format!("u_{}", uuid::Uuid::new_v4().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WeChat identity as WeChat itself vouched for it: `(appid, openid)`, plus the unionid when the
/// app is bound to an open platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatIdentity {
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
}

pub use crate::phone::{Phone, PhoneError};

/// Profile facts a channel may report. Untrusted (user-chosen nickname and avatar): stored for
/// display, never used to link anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
}

/// A user as stored: the current phone and unionid, when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub unionid: Option<String>,
    pub phone: Option<Phone>,
    /// Display name and avatar a channel reported (untrusted, for display only).
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub created_at: i64,
}

/// One `(appid, openid)` binding of a user, with the channel it was first seen through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub channel: String,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
}
