//! What the storage suites share: login attempts as channels make them, and policies.

use wxgate_core::identity::LoginAttempt;
use wxgate_core::model::UserId;
use wxgate_core::model::{Phone, WechatIdentity};
use wxgate_core::policy::{Anchor, IdentityPolicy, OnPhoneConflict};
use wxgate_tests::TestDb;

pub(crate) const MP: &str = "wx0000000000000001";
pub(crate) const MP2: &str = "wx0000000000000004";

pub(crate) fn wechat(
    channel: &str,
    appid: &str,
    openid: &str,
    unionid: Option<&str>,
) -> LoginAttempt {
    LoginAttempt {
        channel: channel.into(),
        wechat: Some(WechatIdentity {
            appid: appid.into(),
            openid: openid.into(),
            unionid: unionid.map(str::to_string),
        }),
        verified_phone: None,
        profile: None,
    }
}

pub(crate) fn with_phone(mut a: LoginAttempt, phone: &str) -> LoginAttempt {
    a.verified_phone = Some(phone_of(phone));
    a
}

pub(crate) fn phone_of(p: &str) -> Phone {
    Phone::parse(p, wxgate_core::phone::Region::CN)
        .expect("valid phone")
        .phone
}

pub(crate) fn sms(phone: &str) -> LoginAttempt {
    LoginAttempt {
        channel: "sms".into(),
        wechat: None,
        verified_phone: Some(phone_of(phone)),
        profile: None,
    }
}

pub(crate) fn policy(anchor: Anchor, on_phone_conflict: OnPhoneConflict) -> IdentityPolicy {
    IdentityPolicy {
        anchor,
        on_phone_conflict,
    }
}

pub(crate) fn kinds(events: &[wxgate_core::identity::AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// What the database holds as `user`'s phone.
pub(crate) async fn stored_phone(t: &TestDb, user: &UserId) -> Option<Phone> {
    let auth = t.auth(IdentityPolicy::default());
    auth.user(user).await.unwrap().unwrap().phone
}
