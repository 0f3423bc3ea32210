//! WeCom's (企业微信) side of the simulated world: corps with their self-built apps and members,
//! and the codes, tokens and user tickets WeCom hands out (wechat-api.md §14).
//!
//! WeCom has its own people. A member is (corp, userid) and is nobody's WeChat account; the
//! simulator's WeChat users (`/_sim/users`) reach a corp's pages only as outsiders.

use std::collections::{BTreeMap, HashMap};

use crate::ids;

/// Everything WeCom knows, kept inside the one world lock.
#[derive(Debug, Default)]
pub(crate) struct WeCom {
    pub(crate) corps: HashMap<String, Corp>,
    /// code → what it stands for; spent codes stay so that a reuse reads as one.
    pub(crate) codes: HashMap<String, WeComCode>,
    pub(crate) tokens: HashMap<String, CorpToken>,
    pub(crate) tickets: HashMap<String, UserTicket>,
    /// (corp, simulator user) → the ids an outsider has under that corp, minted on first need.
    outsider_ids: HashMap<(String, String), OutsiderIds>,
}

impl WeCom {
    /// The openid and external_userid of `user` as an outsider of `corp_id`: stable, and
    /// different in every corp.
    pub(crate) fn outsider_ids(&mut self, corp_id: &str, user: &str) -> OutsiderIds {
        self.outsider_ids
            .entry((corp_id.to_owned(), user.to_owned()))
            .or_insert_with(|| OutsiderIds {
                openid: ids::open_id(),
                external_userid: ids::external_userid(),
            })
            .clone()
    }
}

/// A corp (企业): it exists once it has an app.
#[derive(Debug, Default)]
pub(crate) struct Corp {
    /// agent_id → app.
    pub(crate) apps: BTreeMap<i64, CorpApp>,
    /// ASCII-lowercased userid → member, because a userid is case-insensitive inside its corp.
    members: BTreeMap<String, Member>,
    /// Who signs in on this corp's next pages without being asked (sticky).
    pub(crate) next: Option<Person>,
}

impl Corp {
    /// The member with this userid, whatever its ASCII case.
    pub(crate) fn member(&self, userid: &str) -> Option<&Member> {
        self.members.get(&userid.to_ascii_lowercase())
    }

    /// Adds a member, or replaces the one with the same userid in any case (the new spelling
    /// is kept).
    pub(crate) fn upsert_member(&mut self, member: Member) {
        self.members
            .insert(member.userid.to_ascii_lowercase(), member);
    }

    /// Members in userid order, case ignored.
    pub(crate) fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// The app whose secret this is: in WeCom every app has its own secret.
    pub(crate) fn agent_with_secret(&self, secret: &str) -> Option<i64> {
        self.apps
            .iter()
            .find(|(_, app)| app.secret == secret)
            .map(|(agent_id, _)| *agent_id)
    }
}

/// A self-built app (自建应用) of a corp.
#[derive(Debug, Clone)]
pub(crate) struct CorpApp {
    pub(crate) secret: String,
    /// 可信域名: the host (or `host:port`) every redirect_uri of this app must have.
    pub(crate) trusted_domain: String,
}

/// A member of a corp's address book.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// As given when added; answered as stored.
    pub(crate) userid: String,
    pub(crate) name: String,
    pub(crate) mobile: Option<String>,
    pub(crate) avatar: Option<String>,
    pub(crate) email: Option<String>,
    /// Inside the apps' visibility (可见范围); outside it getuserinfo answers 60011.
    pub(crate) visible: bool,
}

/// Who signs in on a WeCom page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Person {
    /// A member, by userid (looked up ignoring case).
    Member(String),
    /// Someone outside the corp: a simulator WeChat user, by name.
    Outsider(String),
}

/// The OAuth scope a code was granted with; web SSO grants the base one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `snsapi_base`: the userid only.
    Base,
    /// `snsapi_privateinfo`: the userid and a user_ticket for getuserdetail.
    PrivateInfo,
}

/// A code a WeCom page issued: single use, short-lived, bound to the corp and app.
#[derive(Debug, Clone)]
pub(crate) struct WeComCode {
    pub(crate) corp_id: String,
    /// None for an in-app `snsapi_base` page opened without `agentid`: any app of the corp may
    /// redeem it.
    pub(crate) agent_id: Option<i64>,
    pub(crate) person: Person,
    pub(crate) scope: Scope,
    pub(crate) expires_at: i64,
    pub(crate) used: bool,
}

impl WeComCode {
    /// Whether the app `(corp_id, agent_id)` may redeem this code.
    pub(crate) fn redeemable_by(&self, corp_id: &str, agent_id: i64) -> bool {
        self.corp_id == corp_id && self.agent_id.is_none_or(|agent| agent == agent_id)
    }
}

/// A corp access_token from `/cgi-bin/gettoken`: it belongs to one app.
#[derive(Debug, Clone)]
pub(crate) struct CorpToken {
    pub(crate) corp_id: String,
    pub(crate) agent_id: i64,
    pub(crate) expires_at: i64,
}

/// A `user_ticket` from a `snsapi_privateinfo` code: reusable until it expires.
#[derive(Debug, Clone)]
pub(crate) struct UserTicket {
    pub(crate) corp_id: String,
    pub(crate) agent_id: i64,
    pub(crate) userid: String,
    pub(crate) expires_at: i64,
}

/// An outsider's ids under one corp.
#[derive(Debug, Clone)]
pub(crate) struct OutsiderIds {
    pub(crate) openid: String,
    pub(crate) external_userid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(userid: &str, name: &str) -> Member {
        Member {
            userid: userid.to_owned(),
            name: name.to_owned(),
            mobile: None,
            avatar: None,
            email: None,
            visible: true,
        }
    }

    #[test]
    fn userids_ignore_ascii_case_and_keep_the_latest_spelling() {
        let mut corp = Corp::default();
        corp.upsert_member(member("ZhangSan", "张三"));
        assert_eq!(
            corp.member("zhangsan").map(|m| m.name.as_str()),
            Some("张三")
        );
        corp.upsert_member(member("ZHANGSAN", "张三丰"));
        let found = corp.member("zhangSAN");
        assert_eq!(found.map(|m| m.userid.as_str()), Some("ZHANGSAN"));
        assert_eq!(corp.members().count(), 1);
    }

    #[test]
    fn outsider_ids_are_stable_per_corp() {
        let mut wecom = WeCom::default();
        let first = wecom.outsider_ids("ww1", "alice");
        let again = wecom.outsider_ids("ww1", "alice");
        let elsewhere = wecom.outsider_ids("ww2", "alice");
        assert_eq!(first.openid, again.openid);
        assert_eq!(first.external_userid, again.external_userid);
        assert_ne!(first.openid, elsewhere.openid);
        assert_ne!(first.external_userid, elsewhere.external_userid);
    }

    #[test]
    fn codes_without_an_agent_serve_any_app_of_their_corp() {
        let mut code = WeComCode {
            corp_id: "ww1".to_owned(),
            agent_id: None,
            person: Person::Outsider("alice".to_owned()),
            scope: Scope::Base,
            expires_at: 0,
            used: false,
        };
        assert!(code.redeemable_by("ww1", 7));
        assert!(!code.redeemable_by("ww2", 7));
        code.agent_id = Some(1);
        assert!(code.redeemable_by("ww1", 1));
        assert!(!code.redeemable_by("ww1", 7));
    }
}
