//! Authorization requests waiting for the person to sign in. The login page comes back to
//! `…/oidc/authorize?resume=<id>`, not to the request itself: a client's `state` may be long or
//! hold characters a return path may not, and the request must come back whole. Kept in the
//! replicas' shared store, so the sign-in may finish on any replica.

use super::random_token;
use crate::error::CoreResult;
use crate::store::short_lived::ShortLived;
use sha2::{Digest, Sha256};
use std::time::Duration;

const NS: &str = "oidc_pending";
const PREFIX: &str = "ar_";
/// Longest request kept (the store's values hold 2048 characters on MySQL).
pub const MAX_REQUEST_LEN: usize = 2000;

#[derive(Clone)]
pub struct Pending {
    store: ShortLived,
    ttl: Duration,
}

fn key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Pending {
    /// Requests wait `ttl` for the sign-in.
    pub fn new(store: ShortLived, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// Keeps `query` (the request's parameters, form-encoded); `None` when it is too long.
    pub async fn park(&self, query: &str) -> CoreResult<Option<String>> {
        if query.len() > MAX_REQUEST_LEN {
            return Ok(None);
        }
        let id = random_token(PREFIX);
        self.store
            .put(NS, &key(id.expose()), query, self.ttl)
            .await?;
        Ok(Some(id.expose().to_string()))
    }

    /// The request parked under `id`, while it waits. Not taken: a reload resumes it again.
    pub async fn find(&self, id: &str) -> CoreResult<Option<String>> {
        if !id.starts_with(PREFIX) || id.len() != PREFIX.len() + 43 {
            return Ok(None);
        }
        self.store.get(NS, &key(id)).await
    }
}
