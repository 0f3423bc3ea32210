//! Follow-to-login: the account's temporary QR code carries the browser's ticket, and the
//! `subscribe` (a new follower) or `SCAN` (one who already follows) event WeChat pushes for it
//! names the person (wechat-api.md §12.1).

use super::config::FollowLogin;
use crate::provider::{Call, ProviderError, PushAnswers, Reply};
use crate::wechat::{AccessTokenCache, WechatClient};
use std::sync::Arc;

/// Marks the account's codes that are wxgate's tickets, so that its other QR codes (a shop's,
/// a campaign's) go on to `forward_to` untouched.
const SCENE_PREFIX: &str = "wxgate-";
/// What WeChat puts before the scene in a new follower's `EventKey`.
const SUBSCRIBE_PREFIX: &str = "qrscene_";

pub struct Follow {
    reply: String,
    expired_reply: String,
    mp_base: String,
    client: WechatClient,
    tokens: Arc<AccessTokenCache>,
}

/// What a push's event says about a follow ticket.
#[derive(Debug, PartialEq, Eq)]
pub enum FollowEvent<'a> {
    /// Not a follow-login event: someone else's code, or another event.
    NotOurs,
    /// A scan of one of our codes: the ticket's scene (possibly unknown or expired).
    Ticket(&'a str),
}

/// Reads `Event` and `EventKey` of a push.
pub fn follow_event<'a>(event: Option<&str>, event_key: Option<&'a str>) -> FollowEvent<'a> {
    let key = match (event, event_key) {
        (Some("subscribe"), Some(k)) => k.strip_prefix(SUBSCRIBE_PREFIX),
        (Some("SCAN"), Some(k)) => Some(k),
        _ => None,
    };
    match key.and_then(|k| k.strip_prefix(SCENE_PREFIX)) {
        Some(scene) => FollowEvent::Ticket(scene),
        None => FollowEvent::NotOurs,
    }
}

impl Follow {
    pub fn new(
        config: &FollowLogin,
        mp_base: &str,
        client: WechatClient,
        tokens: Arc<AccessTokenCache>,
    ) -> Self {
        Self {
            reply: config.reply.clone(),
            expired_reply: config.expired_reply.clone(),
            mp_base: mp_base.to_string(),
            client,
            tokens,
        }
    }

    /// `follow/qr`: the account's temporary code for the browser's ticket, made by
    /// `qrcode/create` for the ticket's remaining life and relayed from `showqrcode`.
    pub async fn image(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let ticket = call
            .cx
            .ticket
            .ok_or_else(|| ProviderError::Internal("follow/qr without a ticket".into()))?;
        let scene = format!("{SCENE_PREFIX}{}", ticket.scene);
        // WeChat's shortest life for a temporary code is a minute.
        let seconds = ticket.expires_in.max(60);
        let path = "/cgi-bin/qrcode/create";
        let code = self
            .tokens
            .with_token(|token| {
                let scene = scene.clone();
                async move {
                    self.client
                        .qrcode_create(token.expose(), &scene, seconds)
                        .await
                }
            })
            .await?
            // Any refusal (48001: not a service account) is the browser's 502, the errcode
            // in the log.
            .map_err(|e| ProviderError::Unavailable(format!("{path}: {e}")))?;
        let image = self
            .client
            .showqrcode(&self.mp_base, &code.ticket)
            .await
            .map_err(|e| ProviderError::Unavailable(format!("/cgi-bin/showqrcode: {e}")))?;
        Ok(Reply::Bytes {
            content_type: image.content_type,
            body: image.body,
        })
    }

    /// The unionid of a follower, which pushes do not carry (`user/info`).
    pub async fn unionid(&self, openid: &str) -> Result<Option<String>, ProviderError> {
        let info = self
            .tokens
            .with_token(|token| async move { self.client.user_info(token.expose(), openid).await })
            .await?
            .map_err(|e| e.into_provider_error("/cgi-bin/user/info"))?;
        if info.openid != openid {
            return Err(ProviderError::Unavailable(
                "/cgi-bin/user/info answered for another openid".into(),
            ));
        }
        Ok(info.unionid.filter(|u| !u.is_empty()))
    }

    /// The texts a follow is answered with: the reply once signed in (none when configured
    /// empty), the expired one otherwise.
    pub fn texts(&self) -> (&str, &str) {
        (&self.reply, &self.expired_reply)
    }
}

/// The push's answers, `seal`ed as the push came (an empty text is no reply: `success`).
pub fn answers(moved: &str, gone: &str, seal: impl Fn(&str) -> Option<String>) -> PushAnswers {
    let say = |text: &str| {
        if text.is_empty() {
            "success".to_string()
        } else {
            seal(text).unwrap_or_else(|| "success".to_string())
        }
    };
    PushAnswers {
        moved: say(moved),
        gone: say(gone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_events_of_a_scan_name_the_ticket() {
        assert_eq!(
            follow_event(Some("subscribe"), Some("qrscene_wxgate-AbC123")),
            FollowEvent::Ticket("AbC123")
        );
        assert_eq!(
            follow_event(Some("SCAN"), Some("wxgate-AbC123")),
            FollowEvent::Ticket("AbC123")
        );
    }

    #[test]
    fn other_codes_and_events_are_not_ours() {
        for (event, key) in [
            (Some("subscribe"), None),
            (Some("subscribe"), Some("qrscene_shop-42")),
            (Some("subscribe"), Some("wxgate-AbC123")),
            (Some("SCAN"), Some("qrscene_wxgate-AbC123")),
            (Some("SCAN"), Some("campaign")),
            (Some("CLICK"), Some("wxgate-AbC123")),
            (Some("unsubscribe"), None),
            (None, Some("wxgate-AbC123")),
        ] {
            assert_eq!(
                follow_event(event, key),
                FollowEvent::NotOurs,
                "{event:?} {key:?}"
            );
        }
    }

    #[test]
    fn an_empty_reply_answers_success() {
        let a = answers("", "expired", |t| Some(format!("<xml>{t}</xml>")));
        assert_eq!(a.moved, "success");
        assert_eq!(a.gone, "<xml>expired</xml>");
    }
}
