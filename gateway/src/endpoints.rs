//! The gateway's own endpoints under `auth_prefix`: health, readiness, JWKS, refresh, logout,
//! me. Login channels add their endpoints under `{auth_prefix}/{channel}/`.

use crate::rescue::{write_empty, write_error, write_json, ApiError};
use crate::state::Gateway;
use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;
use serde::Deserialize;
use wxgate_core::auth::LoginGrant;
use wxgate_core::model::User;
use wxgate_core::token::AccessClaims;

/// Gateway endpoints take small JSON bodies; anything larger is refused unread.
const MAX_BODY: usize = 16 * 1024;

/// How long `/readyz` waits for the database.
const READINESS_BOUND: std::time::Duration = std::time::Duration::from_millis(750);

pub async fn handle(g: &Gateway, session: &mut Session, sub: &str) -> pingora::Result<()> {
    let method = session.req_header().method.as_str().to_string();
    let result = match (method.as_str(), sub) {
        ("GET", "healthz") => {
            return write_json(
                session,
                200,
                Bytes::from_static(b"{\"status\":\"ok\"}"),
                &[],
            )
            .await
        }
        ("GET", "readyz") => {
            match tokio::time::timeout(READINESS_BOUND, g.auth.db().ping()).await {
                Ok(Ok(())) => {
                    return write_json(
                        session,
                        200,
                        Bytes::from_static(b"{\"status\":\"ready\"}"),
                        &[],
                    )
                    .await
                }
                // A database that is down makes the pool retry until its acquire timeout; a
                // probe (Kubernetes waits 1 s by default) wants its answer sooner.
                Ok(Err(_)) | Err(_) => Err(ApiError::storage_unavailable()),
            }
        }
        ("GET", "jwks.json") => {
            let body = Bytes::from(g.tokens.jwks().to_string());
            return write_json(session, 200, body, &[]).await;
        }
        ("POST", "token/refresh") => refresh(g, session).await,
        ("POST", "logout") => logout(g, session).await,
        ("GET", "me") => me(g, session).await,
        (_, "healthz" | "readyz" | "jwks.json" | "token/refresh" | "logout" | "me") => {
            Err(ApiError::new(
                405,
                "method_not_allowed",
                "method not allowed on this endpoint",
            ))
        }
        _ => match sub.split_once('/') {
            Some((channel, action)) if !action.contains('/') => {
                match crate::channels::handle(g, session, channel, action).await {
                    Ok(true) => return Ok(()),
                    Ok(false) => Err(ApiError::not_found("no such gateway endpoint")),
                    Err(e) => Err(e),
                }
            }
            _ => Err(ApiError::not_found("no such gateway endpoint")),
        },
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) => write_error(session, &e).await,
    }
}

/// Reads a bounded request body.
pub async fn read_body(session: &mut Session) -> Result<Bytes, ApiError> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(ApiError::new(
            413,
            "invalid_request",
            "request body too large",
        ));
    }
    let mut body = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(ApiError::new(
                        413,
                        "invalid_request",
                        "request body too large",
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(_) => return Err(ApiError::invalid_request("could not read the request body")),
        }
    }
}

/// Parses a JSON body into `T`, with a message that names what is wrong but never echoes values.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "a field is missing or has the wrong type",
            _ => "the body is not valid JSON",
        };
        ApiError::invalid_request(format!("{what} (line {}, column {})", e.line(), e.column()))
    })
}

/// Verifies the bearer token (or else the session cookie) of a request, in memory: the token
/// service, then this replica's revocation list. `Ok(None)`: no token presented. The error is
/// a metric label (`invalid`, `expired`, `revoked`).
/// A token that passed every check, with the SHA-256 of its text.
pub struct Verified {
    pub claims: std::sync::Arc<AccessClaims>,
    pub token_digest: [u8; 32],
    /// It came from the session cookie, which a browser attaches to cross-site requests too.
    pub by_cookie: bool,
}

pub fn verify_request(
    g: &Gateway,
    req: &pingora::http::RequestHeader,
) -> Result<Option<Verified>, &'static str> {
    // Two `Authorization` headers are ambiguous: which one would the upstream believe?
    if req
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err("invalid");
    }
    let bearer = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| crate::headers::bearer_token(v.as_bytes()));
    let by_cookie = bearer.is_none();
    let Some(token) = bearer.or_else(|| crate::headers::cookie(req, &g.cookie_name)) else {
        return Ok(None);
    };
    let (claims, token_digest) = g.tokens.verify_access_digest(token).map_err(|e| match e {
        wxgate_core::token::TokenError::Expired => "expired",
        _ => "invalid",
    })?;
    if g.revocations.is_revoked(&claims.sid) {
        return Err("revoked");
    }
    Ok(Some(Verified {
        claims,
        token_digest,
        by_cookie,
    }))
}

/// The verified claims of a gateway endpoint call that needs a session (see
/// [`cross_origin_cookie_write`] for the origin rule).
pub fn authenticate(
    g: &Gateway,
    session: &Session,
) -> Result<std::sync::Arc<AccessClaims>, ApiError> {
    let req = session.req_header();
    let verified = match verify_request(g, req) {
        Ok(Some(verified)) => verified,
        Ok(None) => return Err(ApiError::unauthorized("a valid access token is required")),
        Err("revoked") => return Err(ApiError::unauthorized("the session has ended")),
        Err(_) => return Err(ApiError::unauthorized("the access token is not valid")),
    };
    if cross_origin_cookie_write(g, req, &verified) {
        return Err(cross_origin_refusal());
    }
    Ok(verified.claims)
}

/// A state-changing request authenticated only by the browser cookie, from another origin.
/// `SameSite` looks at the site, so a sibling subdomain could otherwise post with the user's
/// cookie, to the gateway's endpoints and to the upstreams behind it alike.
pub fn cross_origin_cookie_write(
    g: &Gateway,
    req: &pingora::http::RequestHeader,
    verified: &Verified,
) -> bool {
    let safe_method = matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    verified.by_cookie && !safe_method && !same_origin(g, req)
}

pub fn cross_origin_refusal() -> ApiError {
    ApiError::new(
        403,
        "forbidden",
        "a cookie-authenticated request must come from the gateway's own origin",
    )
}

/// `Origin` is the gateway's public origin, or the browser says the request is same-origin.
fn same_origin(g: &Gateway, req: &pingora::http::RequestHeader) -> bool {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    header("origin") == Some(g.public_origin.as_str())
        || header("sec-fetch-site") == Some("same-origin")
}

pub fn user_json(user: &User, is_new: bool) -> serde_json::Value {
    serde_json::json!({
        "id": user.id,
        "is_new": is_new,
        "phone": user.phone.as_ref().map(|p| p.as_str()),
        "unionid": user.unionid,
    })
}

/// The contract's login response.
pub fn login_response(grant: &LoginGrant) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "access_token": grant.access_token.expose(),
            "token_type": "Bearer",
            "expires_in": grant.expires_in,
            "refresh_token": grant.refresh_token.expose(),
            "user": user_json(&grant.user, grant.is_new),
        })
        .to_string(),
    )
}

/// Sessions a merge revoked are dropped from this replica's fast path at once.
pub fn note_revoked(g: &Gateway, sessions: &[String]) {
    let now = g.tokens.clock().now_ms();
    for sid in sessions {
        g.revocations
            .insert(sid.clone(), g.revocation_horizon_ms(now));
    }
}

async fn refresh(g: &Gateway, session: &mut Session) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct Body {
        refresh_token: String,
    }
    let body: Body = parse_json(&read_body(session).await?)?;
    let grant = g.auth.refresh(&body.refresh_token).await.map_err(|e| {
        if let wxgate_core::error::CoreError::InvalidRefreshToken = e {
            g.metrics
                .logins
                .with_label_values(&["refresh", "unauthorized"])
                .inc();
        }
        ApiError::from(e)
    })?;
    g.metrics.logins.with_label_values(&["refresh", "ok"]).inc();
    write_json(session, 200, login_response(&grant), &[])
        .await
        .map_err(|_| ApiError::internal())
}

async fn logout(g: &Gateway, session: &mut Session) -> Result<(), ApiError> {
    let claims = authenticate(g, session)?;
    // This replica stops honouring the session at once, whatever the database says.
    note_revoked(g, std::slice::from_ref(&claims.sid));
    g.auth.logout(&claims.sid).await?;
    // A `__Host-` cookie is only replaced (here: expired) by one that is `Secure` too.
    let secure = if g.cookie_name.starts_with("__Host-") {
        "; Secure"
    } else {
        ""
    };
    let expire = format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
        g.cookie_name
    );
    write_empty(session, 204, &[("set-cookie", expire)])
        .await
        .map_err(|_| ApiError::internal())
}

async fn me(g: &Gateway, session: &mut Session) -> Result<(), ApiError> {
    let claims = authenticate(g, session)?;
    let id = wxgate_core::model::UserId(claims.sub.clone());
    let user = g
        .auth
        .user(&id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("user no longer exists"))?;
    let identities: Vec<_> = g
        .auth
        .bindings(&user.id)
        .await?
        .into_iter()
        .map(|b| serde_json::json!({"channel": b.channel, "appid": b.appid, "openid": b.openid}))
        .collect();
    let mut user_value = user_json(&user, false);
    if let Some(obj) = user_value.as_object_mut() {
        obj.remove("is_new");
        obj.insert("identities".into(), identities.into());
    }
    let body = Bytes::from(serde_json::json!({ "user": user_value }).to_string());
    write_json(session, 200, body, &[])
        .await
        .map_err(|_| ApiError::internal())
}
