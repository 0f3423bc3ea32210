//! The official-account channel: the web OAuth flow, plus what its server URL, follow-to-login
//! and JS-SDK settings turn on. Each part is its own module; this one only routes.

use super::config::Config;
use super::follow::Follow;
use super::jssdk::JsSdk;
use super::push::ServerUrl;
use crate::provider::{Call, Endpoint, LoginProvider, ProviderError, Reply, Step, TicketImage};
use crate::registry::ProviderDeps;
use crate::wechat::web_oauth::WebOAuth;
use crate::wechat::{AccessTokenCache, WechatClient};
use async_trait::async_trait;
use std::sync::Arc;

pub struct OfficialAccount {
    oauth: WebOAuth,
    endpoints: Vec<Endpoint>,
    server_url: Option<ServerUrl>,
    follow: Option<Arc<Follow>>,
    jssdk: Option<JsSdk>,
    follow_ttl: Option<std::time::Duration>,
}

impl OfficialAccount {
    pub fn new(config: &Config, deps: &ProviderDeps) -> Self {
        let client = WechatClient::new(
            deps.http.clone(),
            &config.api_base,
            &config.appid,
            config.secret.clone(),
        );
        let oauth = WebOAuth::new(
            &config.id,
            super::page(config),
            client.clone(),
            deps.shared_state.clone(),
        );
        let tokens = Arc::new(AccessTokenCache::new(
            client.clone(),
            deps.token_lease.clone(),
            deps.clock.clone(),
        ));
        let mut endpoints = vec![
            Endpoint::new("GET", "authorize", Step::BrowserStart),
            Endpoint::new("GET", "callback", Step::BrowserCallback),
        ];
        let follow = config.follow_login.as_ref().map(|f| {
            endpoints.extend([
                Endpoint::new("GET", "follow", Step::TicketOpen),
                Endpoint::new("GET", "follow/qr", Step::TicketView).calls_out(),
                Endpoint::new("GET", "follow/status", Step::TicketPoll),
            ]);
            Arc::new(Follow::new(
                f,
                &config.mp_base,
                client.clone(),
                tokens.clone(),
            ))
        });
        let server_url = config.message.as_ref().map(|m| {
            endpoints.extend([
                Endpoint::new("GET", "message", Step::Push),
                Endpoint::new("POST", "message", Step::Push),
            ]);
            ServerUrl::new(&config.appid, m, follow.clone(), deps)
        });
        let jssdk = config.jssdk.then(|| {
            // Not `calls_out`: signed from the leased ticket, which costs WeChat one call per
            // ticket life across replicas, whoever asks; counting page views would let
            // strangers behind one carrier address spend each other's logins.
            endpoints.push(Endpoint::new("GET", "jssdk", Step::Api));
            JsSdk::new(config, client.clone(), tokens.clone(), deps)
        });
        Self {
            oauth,
            endpoints,
            server_url,
            follow,
            jssdk,
            follow_ttl: config.follow_login.as_ref().map(|f| f.ttl),
        }
    }
}

#[async_trait]
impl LoginProvider for OfficialAccount {
    fn id(&self) -> &str {
        self.oauth.id()
    }

    fn kind(&self) -> &'static str {
        <super::Config as crate::kind::Kind>::NAME
    }

    fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    fn ticket_ttl(&self) -> Option<std::time::Duration> {
        self.follow_ttl
    }

    async fn handle(&self, call: Call<'_>) -> Result<Reply, ProviderError> {
        let off = || ProviderError::InvalidRequest(format!("no action {:?}", call.action));
        match call.action {
            "authorize" | "callback" => self.oauth.handle(call).await,
            "message" => {
                self.server_url
                    .as_ref()
                    .ok_or_else(off)?
                    .handle(&call)
                    .await
            }
            "follow" if self.follow.is_some() => Ok(Reply::TicketOpened {
                image: TicketImage::Served {
                    action: "follow/qr",
                },
            }),
            "follow/qr" => self.follow.as_ref().ok_or_else(off)?.image(&call).await,
            "jssdk" => self.jssdk.as_ref().ok_or_else(off)?.sign(&call).await,
            _ => Err(off()),
        }
    }
}
