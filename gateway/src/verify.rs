//! Who is asking: the bearer token or the browser session cookie of a request, checked in
//! memory (keys, times, this replica's revocation list), for proxied requests and the
//! gateway's own endpoints alike. A browser session whose access part has expired is renewed
//! here from its refresh part: the only database round trip, once per `access_ttl`.

use crate::cookies;
use crate::rescue::{missing_credential, ApiError, Rejection};
use crate::state::Gateway;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::sync::Arc;
use wxgate_core::error::CoreError;
use wxgate_core::token::{Rotation, TokenError, VerifiedToken, REFRESH_GRACE};

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The token's cache entry (its claims, and what is derived from the token, memoised).
    pub token: Arc<VerifiedToken>,
    /// It came from the session cookie, which a browser attaches to cross-site requests too.
    pub by_cookie: bool,
}

/// A presented credential that failed, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub reason: Rejection,
    pub by_cookie: bool,
}

/// Checks the request's credential in memory: a bearer token, or else the session cookie.
/// `Ok(None)`: none presented.
pub fn verify_request(g: &Gateway, req: &RequestHeader) -> Result<Option<Verified>, Rejected> {
    // Two `Authorization` headers are ambiguous: which one would the upstream believe?
    if req
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(Rejected {
            reason: Rejection::Invalid,
            by_cookie: false,
        });
    }
    let bearer = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| crate::headers::bearer_token(v.as_bytes()));
    let (token, by_cookie) = match bearer {
        Some(token) => (token, false),
        None => match cookies::get(req, &g.cookies.access) {
            Ok(Some(token)) => (token, true),
            Ok(None) => return Ok(None),
            Err(cookies::Ambiguous) => {
                return Err(Rejected {
                    reason: Rejection::Invalid,
                    by_cookie: true,
                })
            }
        },
    };
    let reject = |reason| Rejected { reason, by_cookie };
    let token = g.tokens.verify_access_entry(token).map_err(|e| match e {
        TokenError::Expired => reject(Rejection::Expired),
        TokenError::UnknownKey => reject(Rejection::RetiredKey),
        _ => reject(Rejection::Invalid),
    })?;
    if g.revocations.is_revoked(&token.claims.sid) {
        return Err(reject(Rejection::Revoked));
    }
    Ok(Some(Verified { token, by_cookie }))
}

/// A browser session due for renewal: its access cookie is authentic but expired (or signed
/// with a key rotated out since), its session is not known here as revoked, and it has a
/// refresh cookie. Read before the request's cookies are stripped.
#[derive(Debug)]
pub struct Renewable {
    /// The access cookie's session, which the refresh cookie must belong to; `None` when the
    /// access cookie's key is gone and the refresh cookie alone decides (as it would at
    /// `/token/refresh`).
    sid: Option<String>,
    refresh: String,
}

impl Renewable {
    /// What a refused renewal is remembered by, so it does not reach the database again for a
    /// minute: the session, or a hash of the refresh cookie when no session is known.
    fn refusal_key(&self) -> String {
        match &self.sid {
            Some(sid) => sid.clone(),
            None => {
                use sha2::Digest;
                format!(
                    "rt:{}",
                    hex::encode(sha2::Sha256::digest(self.refresh.as_bytes()))
                )
            }
        }
    }
}

/// Whether a rejected cookie may be renewed from its refresh part.
pub fn may_renew(rejected: Rejected) -> bool {
    rejected.by_cookie && matches!(rejected.reason, Rejection::Expired | Rejection::RetiredKey)
}

pub fn renewable(g: &Gateway, session: &Session) -> Option<Renewable> {
    let req = session.req_header();
    let access = cookies::get(req, &g.cookies.access).ok()??;
    let refresh = cookies::get(req, &g.cookies.refresh).ok()??;
    let due = match g.tokens.verify_access_ignoring_expiry(access) {
        Ok(claims) => {
            // No session outlives its refresh token: an older cookie is not worth a query.
            let started = claims.ath.unwrap_or(claims.iat);
            let ttl = i64::try_from(g.refresh_ttl.as_secs()).unwrap_or(i64::MAX);
            if started.saturating_add(ttl) <= g.tokens.clock().now_secs()
                || g.revocations.is_revoked(&claims.sid)
            {
                return None;
            }
            Renewable {
                sid: Some(claims.sid.clone()),
                refresh: refresh.to_string(),
            }
        }
        // Two key rotations within `access_ttl` retire the key of a live session's access
        // cookie: its refresh cookie is still good, and enough. Anyone can write a cookie
        // with an unknown key, and a fresh refresh value each time misses the refusal cache:
        // such renewals are capped per network before they reach the database.
        Err(TokenError::UnknownKey) => {
            let network = g.client_ip(session).map(|ip| g.networks.of(ip));
            if !network.is_some_and(|n| g.keyless_renewals.allow(n)) {
                return None;
            }
            Renewable {
                sid: None,
                refresh: refresh.to_string(),
            }
        }
        Err(_) => return None,
    };
    (!g.renewals_refused.contains_key(&due.refusal_key())).then_some(due)
}

/// The session an authentic access cookie names, expired or not (a login replaces it).
pub fn cookie_session(g: &Gateway, req: &RequestHeader) -> Option<String> {
    let access = cookies::get(req, &g.cookies.access).ok()??;
    let claims = g.tokens.verify_access_ignoring_expiry(access).ok()?;
    Some(claims.sid.clone())
}

/// A renewed browser session: the request goes on as this token, and the answer carries the
/// new cookies.
#[derive(Debug)]
pub struct Renewed {
    pub verified: Verified,
    pub set_cookies: Vec<String>,
}

/// Rotates the session's refresh token and issues a new access token. Tabs racing with the
/// same refresh cookie get the same new refresh token (the grace window). A session that has
/// ended answers 401 and clears the cookies; a database outage answers 503 and keeps them.
pub async fn renew(g: &Gateway, due: Renewable) -> Result<Renewed, ApiError> {
    let ended = || {
        let mut e = ApiError::unauthorized("the session has ended");
        for cookie in g.cookies.clear_session() {
            e = e.with_header("set-cookie", cookie);
        }
        e
    };
    // The refresh cookie must be of the access cookie's session (one of another is refused
    // untouched). Tabs racing with the same cookies share one child within the same short
    // grace as API clients; a copied cookie pair replayed after it is a reuse, and revokes the
    // family.
    let how = Rotation {
        session: due.sid.clone(),
        grace: REFRESH_GRACE,
        client: None,
    };
    let grant = match g.auth.refresh_with(&due.refresh, how).await {
        Ok(grant) => grant,
        Err(
            e @ (CoreError::InvalidRefreshToken
            | CoreError::UserNotFound
            | CoreError::RefreshReused { .. }),
        ) => {
            if let CoreError::RefreshReused { session } = &e {
                g.note_revoked(std::slice::from_ref(session));
            }
            g.renewals_refused.insert(due.refusal_key(), ());
            g.metrics
                .logins
                .with_label_values(&["renew", "unauthorized"])
                .inc();
            return Err(ended());
        }
        Err(e) => {
            let e = ApiError::from(e);
            g.metrics
                .logins
                .with_label_values(&["renew", e.label()])
                .inc();
            return Err(e);
        }
    };
    let token = g
        .tokens
        .verify_access_entry(grant.access_token.expose())
        .map_err(|e| {
            tracing::error!(error = %e, "a token just issued does not verify");
            ApiError::internal()
        })?;
    g.metrics.logins.with_label_values(&["renew", "ok"]).inc();
    Ok(Renewed {
        verified: Verified {
            token,
            by_cookie: true,
        },
        set_cookies: g.cookies.session(
            grant.access_token.expose(),
            grant.refresh_token.expose(),
            g.session_max_age(),
        ),
    })
}

/// The caller of a gateway endpoint that needs a session, with the cookies to set when its
/// browser session was renewed on the way.
#[derive(Debug)]
pub struct Authenticated {
    pub verified: Verified,
    pub set_cookies: Vec<String>,
}

/// Authenticates a gateway endpoint call: bearer or cookie, the cross-origin rule for cookies,
/// and renewal of an expired browser session.
pub async fn authenticate(g: &Gateway, session: &Session) -> Result<Authenticated, ApiError> {
    let req = session.req_header();
    match verify_request(g, req) {
        Ok(Some(verified)) => {
            if cross_origin_cookie_write(g, req, verified.by_cookie) {
                return Err(ApiError::cross_origin());
            }
            Ok(Authenticated {
                verified,
                set_cookies: Vec::new(),
            })
        }
        Ok(None) => Err(missing_credential()),
        Err(rejected) => {
            let due = may_renew(rejected).then(|| renewable(g, session)).flatten();
            let Some(due) = due else {
                return Err(rejected.reason.into());
            };
            if cross_origin_cookie_write(g, req, true) {
                return Err(ApiError::cross_origin());
            }
            let renewed = renew(g, due).await?;
            Ok(Authenticated {
                verified: renewed.verified,
                set_cookies: renewed.set_cookies,
            })
        }
    }
}

/// A state-changing request authenticated only by the browser cookie, from another origin.
/// `SameSite` looks at the site, so a sibling subdomain could otherwise post with the user's
/// cookie, to the gateway's endpoints and to the upstreams behind it alike.
pub fn cross_origin_cookie_write(g: &Gateway, req: &RequestHeader, by_cookie: bool) -> bool {
    let safe_method = matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    by_cookie && !safe_method && !same_origin(g, req)
}

/// `Origin` is the gateway's public origin, or the browser says the request is same-origin.
pub fn same_origin(g: &Gateway, req: &RequestHeader) -> bool {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    header("origin") == Some(g.public_origin.as_str())
        || header("sec-fetch-site") == Some("same-origin")
}
