//! What a client learns about a person: its `sub` (public or pairwise) and the claims of the
//! scopes it was granted. The same for the id_token and `userinfo`, so the two never disagree.

use crate::config::{OidcClient, Subject};
use crate::state::Gateway;
use serde_json::{Map, Value};
use wxgate_core::model::User;

/// The `sub` `client` sees for `user_id`.
pub fn subject(g: &Gateway, client: &OidcClient, user_id: &str) -> String {
    match client.subject {
        Subject::Public => user_id.to_string(),
        Subject::Pairwise => {
            wxgate_core::oidc::pairwise_subject(&g.tokens.keys(), &client.client_id, user_id)
        }
    }
}

/// The claims of the granted scopes (space-separated). WeChat users have no e-mail: none is
/// invented (docs/oidc.md names each client's setting for a login without one).
pub fn scope_claims(user: &User, scope: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for s in scope.split(' ') {
        match s {
            "profile" => {
                if let Some(name) = &user.nickname {
                    out.insert("name".into(), Value::String(name.clone()));
                }
                if let Some(picture) = &user.avatar_url {
                    out.insert("picture".into(), Value::String(picture.clone()));
                }
            }
            "phone" => {
                if let Some(phone) = &user.phone {
                    out.insert("phone_number".into(), Value::String(phone.to_string()));
                    // A stored phone was proved by an SMS code or WeChat's getPhoneNumber.
                    out.insert("phone_number_verified".into(), Value::Bool(true));
                }
            }
            "wechat" => {
                if let Some(unionid) = &user.unionid {
                    out.insert("wechat_unionid".into(), Value::String(unionid.clone()));
                }
            }
            _ => {}
        }
    }
    out
}

/// The claims an id_token carries: the profile's only. A phone or unionid rides in no token
/// a client may send back through a browser (a logout's `id_token_hint` is a URL); clients
/// read them from userinfo (OpenID Connect Core §5.4).
pub fn id_token_claims(user: &User, scope: &str) -> Map<String, Value> {
    let mut claims = scope_claims(user, scope);
    claims.retain(|k, _| k == "name" || k == "picture");
    claims
}

/// `scope` as `client` may still have it: a scope the operator has since taken from the
/// client is no longer released, whatever the grant said.
pub fn still_allowed(client: &OidcClient, scope: &str) -> String {
    scope
        .split(' ')
        .filter(|s| !s.is_empty() && client.allows_scope(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The granted scope: what was asked and the client may have, in a fixed order.
pub fn grant(client: &OidcClient, requested: &str) -> String {
    let asked: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    crate::config::KNOWN_SCOPES
        .iter()
        .filter(|s| asked.contains(s) && client.allows_scope(s))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wxgate_core::model::UserId;

    fn alice(phone: Option<&str>) -> User {
        User {
            id: UserId("u_1".into()),
            unionid: Some("union-1".into()),
            phone: phone.map(|p| wxgate_core::phone::Phone::from_stored(p.to_string())),
            nickname: Some("爱丽丝".into()),
            avatar_url: Some("https://example.com/a.png".into()),
            created_at: 0,
        }
    }

    #[test]
    fn each_scope_releases_its_own_claims_and_nothing_is_invented() {
        let user = alice(Some("+8613800138000"));
        let all = scope_claims(&user, "openid profile phone wechat");
        assert_eq!(all["name"], "爱丽丝");
        assert_eq!(all["picture"], "https://example.com/a.png");
        assert_eq!(all["phone_number"], "+8613800138000");
        assert_eq!(all["phone_number_verified"], true);
        assert_eq!(all["wechat_unionid"], "union-1");
        assert!(all.get("email").is_none());
        assert!(scope_claims(&user, "openid").is_empty());
        let no_phone = scope_claims(&alice(None), "openid phone");
        assert!(no_phone.is_empty(), "{no_phone:?}");
    }
}
