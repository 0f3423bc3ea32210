//! The account's server URL, `{id}/message`: WeChat's URL check and every push. A push is
//! judged ([`crate::wechat::message`]) before anything happens; a follow-login event becomes a
//! ticket move with the passive replies to answer by its outcome; anything else goes on to
//! `forward_to` (same query, same body, its answer relayed) or is answered `success`.

use super::config::Message;
use super::follow::{self, Follow, FollowEvent};
use crate::provider::{Call, ProviderError, Reply, TicketMove, Verified};
use crate::registry::ProviderDeps;
use crate::shared_state::{key_of, SharedState};
use crate::wechat::message::{self, Inbound, MessageConfig, MessageKey, Push, PushQuery, Refusal};
use std::sync::Arc;
use std::time::Duration;
use wxgate_core::clock::SharedClock;
use wxgate_core::model::WechatIdentity;

/// WeChat retries a push it got no answer to within 5 s, three tries in all: a push seen is
/// remembered well past the last retry.
const SEEN_TTL: Duration = Duration::from_secs(10 * 60);
/// The relay's share of WeChat's 5 seconds (the gateway keeps the rest for itself).
const FORWARD_BUDGET: Duration = Duration::from_millis(4000);

pub struct ServerUrl {
    config: MessageConfig,
    forward_to: Option<String>,
    follow: Option<Arc<Follow>>,
    seen: Arc<dyn SharedState>,
    http: reqwest::Client,
    clock: SharedClock,
}

impl ServerUrl {
    pub fn new(
        appid: &str,
        message: &Message,
        follow: Option<Arc<Follow>>,
        deps: &ProviderDeps,
    ) -> Self {
        // Validated at load: an unreadable key never gets here.
        let keys = [
            &message.encoding_aes_key,
            &message.previous_encoding_aes_key,
        ]
        .into_iter()
        .flatten()
        .filter_map(|k| MessageKey::from_encoding_aes_key(k.expose()))
        .collect();
        Self {
            config: MessageConfig {
                appid: appid.to_string(),
                token: message.token.clone(),
                keys,
            },
            forward_to: message.forward_to.clone(),
            follow,
            seen: deps.shared_state.clone(),
            http: deps.http.clone(),
            clock: deps.clock.clone(),
        }
    }

    pub async fn handle(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let query = PushQuery {
            signature: call.param("signature")?,
            timestamp: call.param("timestamp")?,
            nonce: call.param("nonce")?,
            echostr: call.param("echostr")?,
            encrypt_type: call.param("encrypt_type")?,
            msg_signature: call.param("msg_signature")?,
        };
        // The URL check is a GET: no body.
        let body = (!call.body.is_empty()).then_some(call.body);
        let now = self.clock.now_secs();
        let push = match message::open(&self.config, &query, body, now) {
            Ok(Inbound::UrlCheck { echostr }) => return Ok(Reply::Text(echostr)),
            Ok(Inbound::Push(push)) => push,
            Err(refusal) => return Err(refused(refusal)),
        };
        // A signature is good for one push: the same timestamp and nonce again is WeChat's
        // retry or someone replaying a signature they saw (`forward_to` receives every query),
        // answered and ignored, on every replica, before anything acts on it or forwards it.
        let once = key_of(&[
            &self.config.appid,
            query.timestamp.unwrap_or_default(),
            &push.nonce,
        ]);
        if !self
            .seen
            .put_if_absent("wx_push_nonce", &once, "1", SEEN_TTL)
            .await?
        {
            return Ok(Reply::Text("success".into()));
        }
        let event = follow::follow_event(push.fields.get("Event"), push.fields.get("EventKey"));
        match (event, &self.follow) {
            (FollowEvent::Ticket(scene), Some(follow)) => {
                self.follow_login(&push, scene, follow).await
            }
            _ => self.forward(call).await,
        }
    }

    /// A scan of one of our codes: the person behind `FromUserName` confirms that ticket.
    async fn follow_login(
        &self,
        push: &Push,
        scene: &str,
        follow: &Follow,
    ) -> Result<Reply, ProviderError> {
        let (Some(openid), Some(created)) = (push.from_user(), push.fields.get("CreateTime"))
        else {
            return Err(ProviderError::InvalidRequest(
                "FromUserName and CreateTime are required".into(),
            ));
        };
        // WeChat's retries (and a replayed push) carry the same sender and time: answered and
        // ignored, on every replica. The event and code are part of the key so that two codes
        // scanned within one second are two logins.
        let event = push.fields.get("Event").unwrap_or("");
        let key = key_of(&[&self.config.appid, openid, created, event, scene]);
        if !self
            .seen
            .put_if_absent("wx_push_seen", &key, "1", SEEN_TTL)
            .await?
        {
            return Ok(Reply::Text("success".into()));
        }
        let unionid = follow.unionid(openid).await?;
        let now = self.clock.now_secs();
        let (moved, gone) = follow.texts();
        let answers = follow::answers(moved, gone, |text| {
            message::reply::text(&self.config, push, text, now, rand::random())
        });
        Ok(Reply::Ticket {
            scene: scene.to_string(),
            change: TicketMove::Confirmed(Verified {
                wechat: Some(WechatIdentity {
                    appid: self.config.appid.clone(),
                    openid: openid.to_string(),
                    unionid,
                }),
                phone: None,
                profile: None,
            }),
            answers: Some(answers),
        })
    }

    /// Any other push: to `forward_to` as it came, its answer back to WeChat. A failed relay
    /// is answered `success` (anything else would show the person an error) and logged.
    async fn forward(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let Some(to) = &self.forward_to else {
            return Ok(Reply::Text("success".into()));
        };
        let url = if call.raw_query.is_empty() {
            to.clone()
        } else {
            format!("{to}?{}", call.raw_query)
        };
        let sent = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(call.body.to_vec())
            .timeout(FORWARD_BUDGET)
            .send()
            .await;
        let answer = match sent {
            Ok(r) if r.status().is_success() => crate::http::body(r).await.ok(),
            Ok(r) => {
                tracing::warn!(status = r.status().as_u16(), "forward_to refused a push");
                None
            }
            Err(e) => {
                tracing::warn!(timeout = e.is_timeout(), "forward_to unreachable");
                None
            }
        };
        Ok(Reply::Text(
            answer
                .and_then(|b| String::from_utf8(b.to_vec()).ok())
                .unwrap_or_else(|| "success".into()),
        ))
    }
}

/// A refusal as the channel contract says it: not WeChat (403), not a push (400), or our own
/// configuration (logged; WeChat is still answered).
fn refused(refusal: Refusal) -> ProviderError {
    match refusal {
        Refusal::Malformed(why) => ProviderError::InvalidRequest(why),
        Refusal::NoKey => ProviderError::Misconfigured(refusal.to_string()),
        other => ProviderError::Forbidden(other.to_string()),
    }
}
