//! WeCom's world: `POST /_sim/wecom/apps`, `/_sim/wecom/members` and `/_sim/wecom/next`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;

use super::{ok, parse, ControlError, ControlResult};
use crate::wecom::{CorpApp, Member, Person};
use crate::world::{Shared, World};

/// The trusted domain of an app added without one: where `wxgate dev` listens.
const DEFAULT_TRUSTED_DOMAIN: &str = "127.0.0.1";
/// WeCom's userid limit, in bytes.
const USERID_MAX_LEN: usize = 64;
const CORP_ID_MAX_LEN: usize = 32;

/// The body of `POST /_sim/wecom/apps`; also what `seed_demo` builds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CorpAppSpec {
    pub(crate) corp_id: String,
    pub(crate) agent_id: i64,
    pub(crate) secret: String,
    /// The host (or `host:port`) redirect_uris must have; default `127.0.0.1`.
    #[serde(default)]
    pub(crate) trusted_domain: Option<String>,
}

/// Adds or replaces a corp app, creating the corp on its first app. Tokens already issued to a
/// replaced app keep working until they expire.
pub(crate) fn add_corp_app(world: &mut World, spec: CorpAppSpec) -> Result<(), ControlError> {
    let corp_id_ok = (1..=CORP_ID_MAX_LEN).contains(&spec.corp_id.len())
        && spec.corp_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !corp_id_ok {
        return Err(ControlError::bad_request(
            "corp_id must be 1 to 32 letters and digits (ww + 16 hex in the wild)",
        ));
    }
    if world.apps.contains_key(&spec.corp_id) {
        // `/connect/oauth2/authorize` tells the two apart by the appid alone.
        return Err(ControlError::conflict(format!(
            "{} is already a WeChat appid",
            spec.corp_id
        )));
    }
    if spec.agent_id <= 0 {
        return Err(ControlError::bad_request("agent_id must be positive"));
    }
    if spec.secret.is_empty() {
        return Err(ControlError::bad_request("secret must not be empty"));
    }
    let trusted_domain = match spec.trusted_domain {
        None => DEFAULT_TRUSTED_DOMAIN.to_owned(),
        Some(domain) if is_host(&domain) => domain,
        Some(_) => {
            return Err(ControlError::bad_request(
                "trusted_domain must be a host or host:port, without scheme or path",
            ))
        }
    };
    let corp = world.wecom.corps.entry(spec.corp_id).or_default();
    // gettoken finds the app by its secret, so two apps of one corp cannot share one.
    if corp
        .agent_with_secret(&spec.secret)
        .is_some_and(|other| other != spec.agent_id)
    {
        return Err(ControlError::conflict(
            "another app of this corp has that secret",
        ));
    }
    corp.apps.insert(
        spec.agent_id,
        CorpApp {
            secret: spec.secret,
            trusted_domain,
        },
    );
    Ok(())
}

/// `host` or `host:port`, nothing else.
fn is_host(domain: &str) -> bool {
    let plain = !domain.is_empty()
        && !domain
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\') || b.is_ascii_whitespace());
    plain && url::Url::parse(&format!("http://{domain}/")).is_ok_and(|u| u.host().is_some())
}

pub(crate) async fn apps(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let spec: CorpAppSpec = parse(&body)?;
    add_corp_app(&mut shared.world(), spec)?;
    ok()
}

/// The body of `POST /_sim/wecom/members`; also what `seed_demo` builds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberSpec {
    pub(crate) corp_id: String,
    pub(crate) userid: String,
    /// Default: the userid.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// 11 digits.
    #[serde(default)]
    pub(crate) mobile: Option<String>,
    #[serde(default)]
    pub(crate) avatar: Option<String>,
    #[serde(default)]
    pub(crate) email: Option<String>,
    /// Inside the app's visibility (default); false makes getuserinfo answer 60011.
    #[serde(default)]
    pub(crate) visible: Option<bool>,
}

impl MemberSpec {
    /// A visible member with a name and nothing else.
    pub(crate) fn new(corp_id: &str, userid: &str, name: &str) -> Self {
        Self {
            corp_id: corp_id.to_owned(),
            userid: userid.to_owned(),
            name: Some(name.to_owned()),
            mobile: None,
            avatar: None,
            email: None,
            visible: None,
        }
    }
}

/// WeCom's rule: 1 to 64 bytes of letters, digits and `_-@.`, starting with a letter or digit.
fn valid_userid(userid: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'@' | b'.');
    userid.len() <= USERID_MAX_LEN
        && userid
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && userid.bytes().all(allowed)
}

/// Adds a member, or replaces the one with the same userid in any case.
pub(crate) fn add_member(world: &mut World, spec: MemberSpec) -> Result<(), ControlError> {
    if !valid_userid(&spec.userid) {
        return Err(ControlError::bad_request(
            "userid must be 1 to 64 bytes of letters, digits and _-@., starting with a letter or digit",
        ));
    }
    if let Some(mobile) = &spec.mobile {
        if mobile.len() != 11 || !mobile.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ControlError::bad_request("mobile must be 11 digits"));
        }
    }
    let corp = world.wecom.corps.get_mut(&spec.corp_id).ok_or_else(|| {
        ControlError::not_found(format!(
            "no WeCom corp {} (POST /_sim/wecom/apps first)",
            spec.corp_id
        ))
    })?;
    let name = spec
        .name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| spec.userid.clone());
    corp.upsert_member(Member {
        userid: spec.userid,
        name,
        mobile: spec.mobile,
        avatar: spec.avatar.filter(|a| !a.is_empty()),
        email: spec.email.filter(|e| !e.is_empty()),
        visible: spec.visible.unwrap_or(true),
    });
    Ok(())
}

pub(crate) async fn members(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let spec: MemberSpec = parse(&body)?;
    add_member(&mut shared.world(), spec)?;
    ok()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NextSpec {
    corp_id: String,
    /// A member's userid (any case); null (or absent) with no outsider clears the choice.
    #[serde(default)]
    member: Option<String>,
    /// A simulator user's name, signing in from outside the corp.
    #[serde(default)]
    outsider: Option<String>,
}

/// `POST /_sim/wecom/next`: who signs in on the corp's pages that carry no `sim_member` or
/// `sim_outsider`, until changed.
pub(crate) async fn next(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let spec: NextSpec = parse(&body)?;
    let mut world = shared.world();
    let is_user = |name: &str| world.users.contains_key(name);
    let person = match (spec.member, spec.outsider) {
        (Some(_), Some(_)) => {
            return Err(ControlError::bad_request(
                "give member or outsider, not both",
            ))
        }
        (None, None) => None,
        (None, Some(name)) if is_user(&name) => Some(Person::Outsider(name)),
        (None, Some(name)) => return Err(ControlError::not_found(format!("no user {name}"))),
        (Some(userid), None) => Some(Person::Member(userid)),
    };
    let corp = world
        .wecom
        .corps
        .get_mut(&spec.corp_id)
        .ok_or_else(|| ControlError::not_found(format!("no WeCom corp {}", spec.corp_id)))?;
    let person = match person {
        Some(Person::Member(userid)) => {
            let member = corp.member(&userid).ok_or_else(|| {
                ControlError::not_found(format!("no member {userid} in {}", spec.corp_id))
            })?;
            Some(Person::Member(member.userid.clone()))
        }
        other => other,
    };
    corp.next = person;
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userids_follow_wecom_rules() {
        for good in ["zhangsan", "Li.Si", "a", "1_x-y@corp.com", &"a".repeat(64)] {
            assert!(valid_userid(good), "{good}");
        }
        for bad in ["", "_x", "-x", "a b", "张三", "a/b", &"a".repeat(65)] {
            assert!(!valid_userid(bad), "{bad}");
        }
    }

    #[test]
    fn trusted_domains_are_bare_hosts() {
        for good in [
            "127.0.0.1",
            "sso.example.com",
            "127.0.0.1:8080",
            "localhost",
        ] {
            assert!(is_host(good), "{good}");
        }
        for bad in ["", "http://x.com", "x.com/cb", "a@b", "x.com?q", "a b"] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
