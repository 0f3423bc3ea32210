//! Identity unification: a login attempt (what a channel verified) in, a user out.
//!
//! The rules are the contract's "Identity rules": the `(appid, openid)` binding, else the user
//! holding the unionid, else the user holding the verified phone, else a new user; a unionid
//! that joins two users merges them; a verified phone change follows the configured anchor and
//! conflict policy. Every rule runs inside one database transaction that is re-run when a
//! concurrent login wins a unique constraint or a serialization conflict, so two logins of one
//! person can never leave two users behind, whichever replica they hit. A returning person
//! whose login proves nothing new is found without one (`returning.rs`).

pub mod accounts;
pub mod history;
pub(crate) mod repo;
mod resolve;
mod returning;

pub use resolve::Resolver;

use crate::model::{Phone, Profile, User, UserId, WechatIdentity};

/// What a login channel verified about the person in front of it. Built only from facts WeChat
/// or an SMS code proved in this very flow: an unverified phone must never be put here.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// The channel id from the config (`mp`, `oa`, …): recorded on bindings and audit events.
    pub channel: String,
    pub wechat: Option<WechatIdentity>,
    pub verified_phone: Option<Phone>,
    pub profile: Option<Profile>,
}

/// What the resolver decided.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub user: User,
    pub is_new: bool,
    pub changes: Vec<Change>,
    /// Sessions revoked by a merge: the gateway drops them from its fast path at once.
    pub revoked_sessions: Vec<String>,
}

/// One change the resolution made; each also has an audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    UserCreated(UserId),
    Bound {
        appid: String,
        openid: String,
        user: UserId,
    },
    /// A binding moved to another user (anchor = "phone", the user rebound their WeChat phone).
    Moved {
        appid: String,
        openid: String,
        from: UserId,
        to: UserId,
    },
    Merged {
        survivor: UserId,
        absorbed: UserId,
    },
    PhoneSet {
        user: UserId,
        phone: Phone,
        previous: Option<Phone>,
    },
    /// The phone was taken from another user (`on_phone_conflict = "move"`).
    PhoneMoved {
        phone: Phone,
        from: UserId,
        to: UserId,
    },
    UnionidSet {
        user: UserId,
        unionid: String,
    },
}

/// One row of the audit log, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: i64,
    pub kind: String,
    pub user_id: Option<String>,
    pub other_user_id: Option<String>,
    pub channel: Option<String>,
    pub appid: Option<String>,
    pub openid: Option<String>,
    pub phone: Option<String>,
    /// Who made the change: `None` for the person's own login, else an operator (`--by`) or
    /// `self` (an account deletion).
    pub actor: Option<String>,
}

/// One row of a phone's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneHistoryEntry {
    pub phone: String,
    pub user_id: String,
    pub bound_at: i64,
    pub unbound_at: Option<i64>,
    pub reason: Option<String>,
}
