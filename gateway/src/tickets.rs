//! Tickets: logins that one request starts and another finishes, while the browser waits (a
//! website's mini-program code, scanned and confirmed on a phone).
//!
//! - A ticket's public name, its `scene`, is 32 random `[A-Za-z0-9]`: what the QR code carries.
//!   Whoever sees the code learns it, so the scene alone picks up nothing.
//! - The record (channel, `return_to`, a hash of a browser nonce, status, where the login was
//!   started, and once confirmed the login) lives in the shared short-lived store under a hash of
//!   the scene, for the channel's `ttl`: any replica serves any step.
//! - The browser that opened it holds a cookie with the scene and the nonce; the nonce is
//!   compared in constant time, and only that browser sees the ticket's status or picks up its
//!   session.
//! - A ticket moves waiting → scanned → confirmed (or cancelled) by swapping the value it was
//!   read with: of racing moves, on any replicas, one wins. A confirmed ticket is delivered by
//!   taking it: exactly once.

use crate::cookies::{self, CookieNames};
use crate::rescue::ApiError;
use pingora::http::RequestHeader;
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;
use wxgate_core::store::short_lived::ShortLived;

const NS: &str = "ticket";
/// `getwxacodeunlimit` takes at most 32 characters of scene.
pub const SCENE_LEN: usize = 32;
const NONCE_LEN: usize = 32;
/// A User-Agent is kept this long at most: it is shown to the person, not parsed.
const MAX_USER_AGENT: usize = 160;

/// Where a ticket stands. An expired ticket is gone from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Waiting,
    Scanned,
    Confirmed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Scanned => "scanned",
            Status::Confirmed => "confirmed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Still waiting for the person (the code may be scanned, confirmed or cancelled).
    pub fn is_open(self) -> bool {
        matches!(self, Status::Waiting | Status::Scanned)
    }
}

/// Where the login was started, shown on the phone before the person confirms: the defence
/// against a code shown to them on someone else's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedFrom {
    /// The client address, masked.
    pub ip: String,
    pub user_agent: String,
    /// Seconds since the epoch.
    pub at: i64,
}

impl StartedFrom {
    pub fn new(ip: Option<std::net::IpAddr>, user_agent: &str, at: i64) -> Self {
        Self {
            ip: ip.map_or_else(|| "unknown".to_string(), mask_ip),
            user_agent: user_agent.chars().take(MAX_USER_AGENT).collect(),
            at,
        }
    }
}

/// The login a confirmation resolved, kept until the browser picks it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    pub user: String,
    pub appid: Option<String>,
    pub openid: Option<String>,
    pub phone: Option<String>,
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Channel id.
    pub c: String,
    /// Where the browser goes afterwards (a local path, already checked).
    pub r: String,
    /// SHA-256 (hex) of the browser nonce in the ticket cookie.
    b: String,
    pub status: Status,
    pub from: StartedFrom,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<Confirmed>,
}

/// A ticket read from the store, with the value it was read as (what a move swaps out).
#[derive(Debug, Clone)]
pub struct Ticket {
    pub scene: String,
    pub record: Record,
    raw: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// A ticket just opened.
#[derive(Debug)]
pub struct Opened {
    pub scene: String,
    pub set_cookie: String,
}

/// Why a browser has no ticket to ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No cookie, or one of another ticket or channel: not this browser's to ask about.
    NotYours,
    /// The ticket expired (or was delivered).
    Gone,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// `203.0.113.7` → `203.0.*.*`; `2001:db8:1:2::9` → `2001:db8:1:*`.
pub fn mask_ip(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.*.*", o[0], o[1])
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:*", s[0], s[1], s[2])
        }
    }
}

/// The shape the gateway mints; anything else names no ticket.
pub fn well_formed(scene: &str) -> bool {
    scene.len() == SCENE_LEN && scene.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Tickets: the shared store they live in, and the cookie names.
pub struct Tickets {
    store: ShortLived,
    cookies: CookieNames,
}

impl Tickets {
    pub fn new(store: ShortLived, cookies: CookieNames) -> Self {
        Self { store, cookies }
    }

    /// The ticket cookie of `channel`'s tickets: one per channel in a browser (a new ticket
    /// replaces the old one).
    fn cookie_name(&self, channel: &str) -> String {
        self.cookies.ticket(channel)
    }

    /// Clears `channel`'s ticket cookie.
    pub fn clear_cookie(&self, channel: &str) -> String {
        self.cookies.clear(&self.cookie_name(channel))
    }

    /// Opens a ticket of `channel` that returns to `return_to` (already sanitised).
    pub async fn open(
        &self,
        channel: &str,
        return_to: &str,
        ttl: Duration,
        from: StartedFrom,
    ) -> Result<Opened, ApiError> {
        let mut rng = rand::rngs::OsRng;
        let scene = Alphanumeric.sample_string(&mut rng, SCENE_LEN);
        let nonce = Alphanumeric.sample_string(&mut rng, NONCE_LEN);
        let record = Record {
            c: channel.to_string(),
            r: return_to.to_string(),
            b: sha256_hex(&nonce),
            status: Status::Waiting,
            from,
            login: None,
        };
        let value = serde_json::to_string(&record).map_err(|_| ApiError::internal())?;
        // 190 random bits: a collision means a broken random source, not bad luck.
        if !self
            .store
            .put_if_absent(NS, &sha256_hex(&scene), &value, ttl)
            .await?
        {
            tracing::error!("a freshly minted ticket already exists");
            return Err(ApiError::internal());
        }
        Ok(Opened {
            set_cookie: self.cookies.set(
                &self.cookie_name(channel),
                &format!("{scene}.{nonce}"),
                ttl.as_secs(),
            ),
            scene,
        })
    }

    /// The ticket named `scene`, if it is live.
    pub async fn by_scene(&self, scene: &str) -> Result<Option<Ticket>, ApiError> {
        if !well_formed(scene) {
            return Ok(None);
        }
        let key = sha256_hex(scene);
        let Some((raw, expires_at)) = self.store.get_expiring(NS, &key).await? else {
            return Ok(None);
        };
        let record: Record = serde_json::from_str(&raw).map_err(|_| ApiError::internal())?;
        Ok(Some(Ticket {
            scene: scene.to_string(),
            record,
            raw,
            expires_at,
        }))
    }

    /// The ticket of `channel` this browser opened, by its cookie; the nonce is compared in
    /// constant time.
    pub async fn of_browser(
        &self,
        req: &RequestHeader,
        channel: &str,
    ) -> Result<Result<Ticket, Missing>, ApiError> {
        let Ok(Some(value)) = cookies::get(req, &self.cookie_name(channel)) else {
            return Ok(Err(Missing::NotYours));
        };
        let Some((scene, nonce)) = value.split_once('.') else {
            return Ok(Err(Missing::NotYours));
        };
        let Some(ticket) = self.by_scene(scene).await? else {
            return Ok(Err(Missing::Gone));
        };
        let same_browser: bool = sha256_hex(nonce)
            .as_bytes()
            .ct_eq(ticket.record.b.as_bytes())
            .into();
        if !same_browser || ticket.record.c != channel {
            return Ok(Err(Missing::NotYours));
        }
        Ok(Ok(ticket))
    }

    /// Moves `ticket` to `next` if nobody moved it since it was read; `false` when someone did
    /// (or it expired).
    pub async fn advance(&self, ticket: &Ticket, next: &Record) -> Result<bool, ApiError> {
        let value = serde_json::to_string(next).map_err(|_| ApiError::internal())?;
        Ok(self
            .store
            .swap(NS, &sha256_hex(&ticket.scene), &ticket.raw, &value)
            .await?)
    }

    /// Takes a confirmed ticket out of the store: `true` for exactly one caller.
    pub async fn deliver(&self, ticket: &Ticket) -> Result<bool, ApiError> {
        Ok(self
            .store
            .take_if(NS, &sha256_hex(&ticket.scene), &ticket.raw)
            .await?)
    }

    /// Seconds until `ticket` expires, at least 1.
    pub fn expires_in(&self, ticket: &Ticket) -> u64 {
        let now = self.store.now_ms();
        u64::try_from(ticket.expires_at.saturating_sub(now).div_euclid(1000))
            .map_or(1, |s| s.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_to_their_network() {
        assert_eq!(mask_ip("203.0.113.7".parse().unwrap()), "203.0.*.*");
        assert_eq!(mask_ip("::ffff:203.0.113.7".parse().unwrap()), "203.0.*.*");
        assert_eq!(mask_ip("2001:db8:1:2::9".parse().unwrap()), "2001:db8:1:*");
    }

    #[test]
    fn scenes_are_what_the_gateway_mints() {
        let s = Alphanumeric.sample_string(&mut rand::rngs::OsRng, SCENE_LEN);
        assert!(well_formed(&s));
        for bad in ["", "abc", &"a".repeat(33), &format!("{}!", "a".repeat(31))] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_user_agent_is_kept_short() {
        let f = StartedFrom::new(None, &"x".repeat(1000), 1);
        assert_eq!(f.user_agent.len(), MAX_USER_AGENT);
        assert_eq!(f.ip, "unknown");
    }
}
