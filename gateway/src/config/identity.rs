//! `[identity]`: what a user is (`anchor`) and what a phone held by another user does.

use serde::Deserialize;
use wxgate_core::policy::{Anchor, IdentityPolicy, OnPhoneConflict};

use super::validate::Validator;

/// `[identity]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentity {
    /// What a user is: `wechat` (default) or `phone`.
    #[serde(default)]
    pub anchor: Anchor,
    /// `reject` (default), `move` or `merge`; meaningful with `anchor = "wechat"` only, so kept
    /// optional to tell "left out" from "set".
    pub on_phone_conflict: Option<OnPhoneConflict>,
}

// === rules ===

impl Validator<'_> {
    pub(super) fn identity(&mut self, raw: RawIdentity) -> IdentityPolicy {
        if raw.anchor == Anchor::Phone
            && matches!(
                raw.on_phone_conflict,
                Some(OnPhoneConflict::Move | OnPhoneConflict::Merge)
            )
        {
            self.error(
                "identity.on_phone_conflict",
                "applies to anchor = \"wechat\" only; with anchor = \"phone\" remove it or set \"reject\"",
            );
        }
        IdentityPolicy {
            anchor: raw.anchor,
            on_phone_conflict: raw.on_phone_conflict.unwrap_or_default(),
        }
    }
}
