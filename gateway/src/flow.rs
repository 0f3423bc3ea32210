//! The `state` of a browser login flow (OAuth): minted when the browser leaves for WeChat,
//! checked and consumed when it comes back.
//!
//! - `state` is 32 random `[A-Za-z0-9]` (WeChat accepts nothing else, at most 128).
//! - The flow's record (channel, `return_to`, and a hash of a browser nonce) is kept in the
//!   shared short-lived store under a hash of `state`, for 10 minutes, so the callback may land
//!   on any replica.
//! - The nonce rides in a cookie whose name is derived from `state`: one cookie per flow, so
//!   parallel logins in two tabs do not clash, and a callback only completes in the browser
//!   that started it. Knowing `state` (it travels in URLs) is not enough.
//! - The record is taken once: a replayed, forged, expired or other browser's callback finds
//!   nothing, or the wrong nonce, and gets 400 `invalid_state` with nothing created.

use crate::cookies::{self, CookieNames};
use crate::rescue::ApiError;
use pingora::http::RequestHeader;
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;
use wxgate_core::store::short_lived::ShortLived;

/// How long a browser may take between leaving for WeChat and coming back.
pub const STATE_TTL: Duration = Duration::from_secs(600);
const STATE_LEN: usize = 32;
const NS: &str = "oauth_state";

/// What a flow remembers between its two legs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// Channel id.
    c: String,
    /// Where the browser goes afterwards (already checked to be a local path).
    r: String,
    /// SHA-256 (hex) of the browser nonce in the flow's cookie.
    b: String,
}

/// A flow just started: the `state` to send to WeChat and the cookie to set.
#[derive(Debug)]
pub struct Started {
    pub state: String,
    pub set_cookie: String,
}

/// A flow that came back to the browser that started it.
#[derive(Debug, PartialEq, Eq)]
pub struct Finished {
    pub return_to: String,
    /// Clears the flow's cookie.
    pub clear_cookie: String,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Browser flows: the shared store their records live in, and the cookie names.
pub struct Flows {
    store: ShortLived,
    cookies: CookieNames,
}

/// The shape WeChat accepts and the gateway mints; anything else is refused unread.
pub fn well_formed(state: &str) -> bool {
    (1..=128).contains(&state.len()) && state.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Flows {
    pub fn new(store: ShortLived, cookies: CookieNames) -> Self {
        Self { store, cookies }
    }

    /// The flow cookie's name: derived from the state's hash, never the state itself.
    fn cookie_name(&self, state_hash: &str) -> String {
        self.cookies.state(&state_hash[..16])
    }

    /// Starts a flow of `channel` that returns to `return_to` (already sanitised).
    pub async fn start(&self, channel: &str, return_to: &str) -> Result<Started, ApiError> {
        let mut rng = rand::rngs::OsRng;
        let state = Alphanumeric.sample_string(&mut rng, STATE_LEN);
        let nonce = Alphanumeric.sample_string(&mut rng, STATE_LEN);
        let key = sha256_hex(&state);
        let record = serde_json::to_string(&Record {
            c: channel.to_string(),
            r: return_to.to_string(),
            b: sha256_hex(&nonce),
        })
        .map_err(|_| ApiError::internal())?;
        // 190 random bits: a collision means a broken random source, not bad luck.
        if !self
            .store
            .put_if_absent(NS, &key, &record, STATE_TTL)
            .await?
        {
            tracing::error!("a freshly minted OAuth state already exists");
            return Err(ApiError::internal());
        }
        Ok(Started {
            set_cookie: self
                .cookies
                .set(&self.cookie_name(&key), &nonce, STATE_TTL.as_secs()),
            state,
        })
    }

    /// Checks and consumes the `state` a callback of `channel` brings back.
    pub async fn finish(
        &self,
        req: &RequestHeader,
        channel: &str,
        state: Option<&str>,
    ) -> Result<Finished, ApiError> {
        let invalid = || {
            ApiError::invalid_state("the login flow is missing, expired, already used or was started in another browser; start again")
        };
        let state = state.filter(|s| well_formed(s)).ok_or_else(invalid)?;
        let key = sha256_hex(state);
        let name = self.cookie_name(&key);
        let clear_cookie = self.cookies.clear(&name);
        // Without this browser's cookie the state is not touched: a forged callback cannot burn a
        // real flow.
        let nonce = match cookies::get(req, &name) {
            Ok(Some(nonce)) => nonce,
            _ => return Err(invalid()),
        };
        let fail = || invalid().with_header("set-cookie", clear_cookie.clone());
        // Read, judged, and only then taken: a forged nonce cookie (another site can set one
        // under a sibling domain) must not spend the victim's flow.
        let Some(stored) = self.store.get(NS, &key).await? else {
            return Err(fail());
        };
        let record: Record = serde_json::from_str(&stored).map_err(|_| fail())?;
        let same_browser: bool = sha256_hex(nonce)
            .as_bytes()
            .ct_eq(record.b.as_bytes())
            .into();
        if !same_browser || record.c != channel {
            return Err(fail());
        }
        // Still used at most once: of two callbacks racing with the right cookie, one wins.
        if !self.store.take_if(NS, &key, &stored).await? {
            return Err(fail());
        }
        Ok(Finished {
            return_to: record.r,
            clear_cookie,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_what_wechat_accepts() {
        let s = Alphanumeric.sample_string(&mut rand::rngs::OsRng, STATE_LEN);
        assert!(well_formed(&s));
        for bad in ["", "a-b", "a b", "a%20b", "é", &"a".repeat(129), "abc\n"] {
            assert!(!well_formed(bad), "{bad:?}");
        }
        assert!(well_formed(&"a".repeat(128)));
    }
}

#[cfg(test)]
mod hostile {
    use super::*;
    use crate::rescue::ErrorCode;
    use std::sync::Arc;
    use wxgate_core::clock::ManualClock;
    use wxgate_core::store::Db;

    async fn flows() -> (Flows, ManualClock) {
        let dir = std::env::temp_dir().join(format!(
            "wxgate-flow-{}",
            Alphanumeric.sample_string(&mut rand::rngs::OsRng, 12)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("flows.db").display());
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let clock = ManualClock::new(1_767_225_600_000);
        let store = ShortLived::new(db, Arc::new(clock.clone()));
        (Flows::new(store, CookieNames::new(true)), clock)
    }

    /// A browser holding the cookies these `Set-Cookie` values set.
    fn browser(set_cookies: &[&str]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/_auth/web/callback", None).unwrap();
        let pairs: Vec<&str> = set_cookies
            .iter()
            .map(|c| c.split(';').next().unwrap())
            .collect();
        if !pairs.is_empty() {
            req.insert_header("cookie", pairs.join("; ")).unwrap();
        }
        req
    }

    fn is_invalid_state(result: Result<Finished, ApiError>) -> bool {
        matches!(result, Err(e) if e.code == ErrorCode::InvalidState && e.status == 400)
    }

    #[tokio::test]
    async fn the_starting_browser_completes_once() {
        let (flows, _) = flows().await;
        let a = flows.start("web", "/api/page").await.unwrap();
        assert!(well_formed(&a.state) && a.state.len() == STATE_LEN);
        assert!(a.set_cookie.starts_with("__Host-wxgate_state_"));
        assert!(
            !a.set_cookie.contains(&a.state),
            "the cookie never holds the state"
        );
        let done = flows
            .finish(&browser(&[&a.set_cookie]), "web", Some(&a.state))
            .await
            .unwrap();
        assert_eq!(done.return_to, "/api/page");
        assert!(done.clear_cookie.contains("Max-Age=0"));
        // Replayed: the record was taken.
        assert!(is_invalid_state(
            flows
                .finish(&browser(&[&a.set_cookie]), "web", Some(&a.state))
                .await
        ));
    }

    #[tokio::test]
    async fn missing_forged_other_browsers_expired_and_misrouted_states_are_refused() {
        let (flows, clock) = flows().await;
        let a = flows.start("web", "/a").await.unwrap();
        let b = flows.start("web", "/b").await.unwrap();
        let mine = browser(&[&a.set_cookie]);
        // Missing or malformed.
        for state in [
            None,
            Some(""),
            Some("a-b"),
            Some("%41"),
            Some(&*"x".repeat(129)),
        ] {
            assert!(
                is_invalid_state(flows.finish(&mine, "web", state).await),
                "{state:?}"
            );
        }
        // Forged: well formed, never minted.
        assert!(is_invalid_state(
            flows
                .finish(&mine, "web", Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
                .await
        ));
        // Another browser's state: this browser has no cookie for it…
        assert!(is_invalid_state(
            flows.finish(&mine, "web", Some(&b.state)).await
        ));
        // …nor does a cookie of the right name with another nonce pass.
        let name = b.set_cookie.split('=').next().unwrap();
        let forged = format!("{name}=ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert!(is_invalid_state(
            flows
                .finish(&browser(&[&forged]), "web", Some(&b.state))
                .await
        ));
        // Meant for another channel.
        let c = flows.start("oa", "/c").await.unwrap();
        assert!(is_invalid_state(
            flows
                .finish(&browser(&[&c.set_cookie]), "web", Some(&c.state))
                .await
        ));
        // The flow of `a` was never touched by any of this.
        let done = flows.finish(&mine, "web", Some(&a.state)).await.unwrap();
        assert_eq!(done.return_to, "/a");
        // Expired: ten minutes and a second later.
        let d = flows.start("web", "/d").await.unwrap();
        clock.advance_ms(601_000);
        assert!(is_invalid_state(
            flows
                .finish(&browser(&[&d.set_cookie]), "web", Some(&d.state))
                .await
        ));
    }

    #[tokio::test]
    async fn a_forged_callback_without_the_cookie_does_not_burn_the_real_flow() {
        let (flows, _) = flows().await;
        let a = flows.start("web", "/a").await.unwrap();
        assert!(is_invalid_state(
            flows.finish(&browser(&[]), "web", Some(&a.state)).await
        ));
        let done = flows
            .finish(&browser(&[&a.set_cookie]), "web", Some(&a.state))
            .await
            .unwrap();
        assert_eq!(done.return_to, "/a");
    }

    #[tokio::test]
    async fn a_forged_nonce_cookie_does_not_burn_the_real_flow() {
        let (flows, _) = flows().await;
        let a = flows.start("web", "/a").await.unwrap();
        let name = a.set_cookie.split('=').next().unwrap();
        let forged = format!("{name}=ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert!(is_invalid_state(
            flows
                .finish(&browser(&[&forged]), "web", Some(&a.state))
                .await
        ));
        // So is a callback of the right cookie to the wrong channel.
        assert!(is_invalid_state(
            flows
                .finish(&browser(&[&a.set_cookie]), "oa", Some(&a.state))
                .await
        ));
        let done = flows
            .finish(&browser(&[&a.set_cookie]), "web", Some(&a.state))
            .await
            .unwrap();
        assert_eq!(done.return_to, "/a");
        assert!(is_invalid_state(
            flows
                .finish(&browser(&[&a.set_cookie]), "web", Some(&a.state))
                .await
        ));
    }

    #[tokio::test]
    async fn racing_callbacks_with_the_right_cookie_complete_once() {
        let (flows, _) = flows().await;
        let a = flows.start("web", "/a").await.unwrap();
        let req = browser(&[&a.set_cookie]);
        let (x, y) = tokio::join!(
            flows.finish(&req, "web", Some(&a.state)),
            flows.finish(&req, "web", Some(&a.state))
        );
        assert_eq!(usize::from(x.is_ok()) + usize::from(y.is_ok()), 1);
    }

    #[tokio::test]
    async fn two_tabs_keep_two_flows() {
        let (flows, _) = flows().await;
        let a = flows.start("web", "/a").await.unwrap();
        let b = flows.start("web", "/b").await.unwrap();
        let both = browser(&[&a.set_cookie, &b.set_cookie]);
        assert_eq!(
            flows
                .finish(&both, "web", Some(&b.state))
                .await
                .unwrap()
                .return_to,
            "/b"
        );
        assert_eq!(
            flows
                .finish(&both, "web", Some(&a.state))
                .await
                .unwrap()
                .return_to,
            "/a"
        );
    }
}
