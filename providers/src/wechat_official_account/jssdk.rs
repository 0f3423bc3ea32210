//! JS-SDK signatures (wechat-api.md §13): `GET {id}/jssdk?url=` signs a page of this site for
//! `wx.config`, with the account's `jsapi_ticket` (fetched by one caller across replicas).

use super::config::Config;
use crate::provider::{Call, ProviderError, Reply};
use crate::registry::ProviderDeps;
use crate::wechat::{AccessTokenCache, JsapiTicketCache, WechatClient};
use rand::distributions::{Alphanumeric, DistString};
use std::sync::Arc;
use wxgate_core::clock::SharedClock;

/// Longer than any page URL a browser keeps in its address bar for a real page.
const MAX_URL: usize = 2048;
const NONCE_LEN: usize = 16;

pub struct JsSdk {
    appid: String,
    /// Origins besides `public_url`'s whose pages may be signed.
    origins: Vec<String>,
    tickets: JsapiTicketCache,
    clock: SharedClock,
}

/// The signature of `url` (without its fragment) as `wx.config` checks it.
pub fn signature(ticket: &str, nonce: &str, timestamp: i64, url: &str) -> String {
    let text = format!("jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}");
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        text.as_bytes(),
    );
    hex::encode(digest.as_ref())
}

/// The page `url`, cut at `#` as the page itself must cut it, if it is on `public_origin` or
/// one of `origins`.
fn page_of<'a>(
    url: &'a str,
    public_origin: &str,
    origins: &[String],
) -> Result<&'a str, ProviderError> {
    if url.len() > MAX_URL {
        return Err(ProviderError::InvalidRequest(format!(
            "url is over {MAX_URL} bytes"
        )));
    }
    let page = url.split('#').next().unwrap_or(url);
    let parsed = url::Url::parse(page)
        .map_err(|_| ProviderError::InvalidRequest("url is not an absolute URL".into()))?;
    let origin = parsed.origin().ascii_serialization();
    let ours = origin == public_origin || origins.contains(&origin);
    if !ours || !matches!(parsed.scheme(), "http" | "https") {
        return Err(ProviderError::InvalidRequest(
            "url is not a page of this site (public_url or jssdk_origins)".into(),
        ));
    }
    Ok(page)
}

impl JsSdk {
    pub fn new(
        config: &Config,
        client: WechatClient,
        tokens: Arc<AccessTokenCache>,
        deps: &ProviderDeps,
    ) -> Self {
        Self {
            appid: config.appid.clone(),
            origins: config
                .jssdk_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
            tickets: JsapiTicketCache::new(
                client,
                tokens,
                deps.token_lease.clone(),
                deps.clock.clone(),
            ),
            clock: deps.clock.clone(),
        }
    }

    pub async fn sign(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let url = call
            .param("url")?
            .ok_or_else(|| ProviderError::InvalidRequest("url is required".into()))?;
        let page = page_of(url, call.cx.public_origin, &self.origins)?;
        let ticket = self.tickets.get().await?;
        let nonce = Alphanumeric.sample_string(&mut rand::thread_rng(), NONCE_LEN);
        let timestamp = self.clock.now_secs();
        Ok(Reply::Json(serde_json::json!({
            "appId": self.appid,
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": signature(ticket.expose(), &nonce, timestamp, page),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // wechat-api.md §13, WeChat's own example.
    #[test]
    fn the_official_vector() {
        assert_eq!(
            signature(
                "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com?params=value",
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }

    #[test]
    fn only_pages_of_this_site_are_signed_and_as_they_are_up_to_the_fragment() {
        let extra = vec!["https://shop.example.com".to_string()];
        let ours = "https://gw.example.com";
        let ok = |url| page_of(url, ours, &extra).unwrap();
        assert_eq!(
            ok("https://gw.example.com/a?b=1#c"),
            "https://gw.example.com/a?b=1"
        );
        assert_eq!(
            ok("https://shop.example.com/x"),
            "https://shop.example.com/x"
        );
        // Signed exactly as the page sends it: no normalising.
        assert_eq!(
            ok("https://gw.example.com/%7Ea/./b"),
            "https://gw.example.com/%7Ea/./b"
        );
        for bad in [
            "https://evil.example/gw.example.com",
            "https://gw.example.com.evil.example/",
            "https://gw.example.com@evil.example/",
            "http://gw.example.com/",
            "https://gw.example.com:8443/",
            "/relative",
            "javascript:alert(1)",
        ] {
            assert!(page_of(bad, ours, &extra).is_err(), "{bad}");
        }
        let long = format!("https://gw.example.com/{}", "a".repeat(MAX_URL));
        assert!(page_of(&long, ours, &extra).is_err());
    }
}
