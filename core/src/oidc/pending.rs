//! Authorization requests waiting for the person to sign in. The login page comes back to
//! `…/oidc/authorize?resume=<id>`, not to the request itself: a client's `state` may be long or
//! hold characters a return path may not, and the request must come back whole. Kept in the
//! replicas' shared store (the sign-in may finish on any replica), bound to the browser that
//! parked it by a cookie nonce (an id seen in a URL resumes nothing elsewhere), and forgotten
//! once a code is issued.

use super::random_token;
use crate::error::CoreResult;
use crate::store::short_lived::ShortLived;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

const NS: &str = "oidc_pending";
const PREFIX: &str = "ar_";
/// Longest request kept (the store's values hold 2048 characters on MySQL, with the nonce's
/// hash in front).
pub const MAX_REQUEST_LEN: usize = 1900;

/// A parked request: its id (in the URL) and the nonce its browser keeps in a cookie.
#[derive(Debug)]
pub struct Parked {
    pub id: String,
    pub nonce: crate::secret::Secret,
}

#[derive(Clone)]
pub struct Pending {
    store: ShortLived,
    ttl: Duration,
}

fn digest(v: &str) -> String {
    hex::encode(Sha256::digest(v.as_bytes()))
}

fn well_formed(id: &str) -> bool {
    id.len() == PREFIX.len() + 43
        && id.starts_with(PREFIX)
        && id[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Pending {
    /// Requests wait `ttl` for the sign-in.
    pub fn new(store: ShortLived, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Keeps `query` (the request's parameters, form-encoded); `None` when it is too long.
    pub async fn park(&self, query: &str) -> CoreResult<Option<Parked>> {
        if query.len() > MAX_REQUEST_LEN {
            return Ok(None);
        }
        let id = random_token(PREFIX).expose().to_string();
        let nonce = random_token("");
        let value = format!("{}\n{query}", digest(nonce.expose()));
        self.store.put(NS, &digest(&id), &value, self.ttl).await?;
        Ok(Some(Parked { id, nonce }))
    }

    /// The request parked under `id` by the browser holding `nonce`, while it waits. Not
    /// taken: a reload resumes it again until a code is issued.
    pub async fn find(&self, id: &str, nonce: Option<&str>) -> CoreResult<Option<String>> {
        let Some(nonce) = nonce.filter(|_| well_formed(id)) else {
            return Ok(None);
        };
        let Some(value) = self.store.get(NS, &digest(id)).await? else {
            return Ok(None);
        };
        let Some((hash, query)) = value.split_once('\n') else {
            return Ok(None);
        };
        let same: bool = hash.as_bytes().ct_eq(digest(nonce).as_bytes()).into();
        Ok(same.then(|| query.to_string()))
    }

    /// Done with: a code was issued for it.
    pub async fn forget(&self, id: &str) -> CoreResult<()> {
        if well_formed(id) {
            self.store.remove(NS, &digest(id)).await?;
        }
        Ok(())
    }
}
