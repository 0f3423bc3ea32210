//! The JSON bodies of the contract's answers (login response, `{"user"}`, `/me`).

use bytes::Bytes;
use wxgate_core::auth::LoginGrant;
use wxgate_core::model::{Binding, User};

/// The `user` object of a login response or a bind.
pub fn user_json(user: &User, is_new: bool) -> serde_json::Value {
    serde_json::json!({
        "id": user.id,
        "is_new": is_new,
        "phone": user.phone.as_ref().map(|p| p.as_str()),
        "unionid": user.unionid,
    })
}

/// `{"user": …}`.
pub fn user_body(user: &User, is_new: bool) -> Bytes {
    Bytes::from(serde_json::json!({ "user": user_json(user, is_new) }).to_string())
}

/// The contract's login response.
pub fn login_response(grant: &LoginGrant) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "access_token": grant.access_token.expose(),
            "token_type": "Bearer",
            "expires_in": grant.expires_in,
            "refresh_token": grant.refresh_token.expose(),
            "user": user_json(&grant.user, grant.is_new),
        })
        .to_string(),
    )
}

/// `GET /me`: the user, its display profile and its WeChat identities.
pub fn me(user: &User, bindings: &[Binding]) -> Bytes {
    let identities: Vec<_> = bindings
        .iter()
        .map(|b| serde_json::json!({"channel": b.channel, "appid": b.appid, "openid": b.openid}))
        .collect();
    Bytes::from(
        serde_json::json!({
            "user": {
                "id": user.id,
                "phone": user.phone.as_ref().map(|p| p.as_str()),
                "unionid": user.unionid,
                "nickname": user.nickname,
                "avatar_url": user.avatar_url,
                "identities": identities,
            }
        })
        .to_string(),
    )
}
