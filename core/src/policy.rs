//! The identity policy chosen in `[identity]`: what a user *is*, and what to do when a verified
//! phone already belongs to someone else.

use serde::Deserialize;

/// What a user follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// A user is the WeChat person (joined by binding, then unionid, then verified phone); the
    /// phone is an attribute that can change.
    #[default]
    Wechat,
    /// A user is a verified phone number; WeChat identities follow the phone they last proved.
    Phone,
}

/// `anchor = "wechat"` only: a verified phone that another user already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnPhoneConflict {
    /// Refuse the change: 409 `phone_conflict`.
    #[default]
    Reject,
    /// The phone moves to the user who just proved it; the other user loses it.
    Move,
    /// The person has proved both accounts: merge them (the older user survives).
    Merge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdentityPolicy {
    pub anchor: Anchor,
    pub on_phone_conflict: OnPhoneConflict,
}
