//! The gateway's own endpoints under `auth_prefix`: health, readiness, JWKS, token refresh,
//! logout, me and the login page. `{channel}/{action}` goes to [`crate::channels`].

use crate::html;
use crate::login_page;
use crate::request::{self, single};
use crate::rescue::{ApiError, ErrorCode};
use crate::respond::{self, write_empty, write_error, write_json};
use crate::return_to;
use crate::state::Gateway;
use crate::verify::authenticate;
use crate::views;
use bytes::Bytes;
use pingora::proxy::Session;
use serde::Deserialize;
use wxgate_core::error::CoreError;

/// How long `/readyz` waits for the database.
const READINESS_BOUND: std::time::Duration = std::time::Duration::from_millis(750);

/// The gateway's own endpoints and the methods each answers (a channel id may not be one of
/// their names).
const OWN: [(&str, &str); 7] = [
    ("healthz", "GET"),
    ("readyz", "GET"),
    ("jwks.json", "GET"),
    ("token/refresh", "POST"),
    ("logout", "POST"),
    ("me", "GET, DELETE"),
    ("login", "GET"),
];

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
        ("GET", "login") => return login_page(g, session).await,
        ("POST", "token/refresh") => refresh(g, session).await,
        ("POST", "logout") => logout(g, session).await,
        ("GET", "me") => me(g, session).await,
        ("DELETE", "me") => delete_me(g, session).await,
        (_, own) if let Some((_, allow)) = OWN.iter().find(|(name, _)| *name == own) => {
            Err(ApiError::method_not_allowed(allow))
        }
        _ if let Some(action) = sub.strip_prefix("oidc/") => {
            if crate::oidc::handle(g, session, action).await? {
                return Ok(());
            }
            Err(ApiError::not_found("OpenID Connect is not configured"))
        }
        _ => match sub.split_once('/') {
            // An action may have segments of its own (`scan/status`): the channel matches it.
            Some((channel, action)) if !action.is_empty() => {
                if crate::channels::handle(g, session, channel, action).await? {
                    return Ok(());
                }
                Err(ApiError::not_found("no such gateway endpoint"))
            }
            _ => Err(ApiError::not_found("no such gateway endpoint")),
        },
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) => write_error(session, &e).await,
    }
}

async fn refresh(g: &Gateway, session: &mut Session) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct Body {
        refresh_token: String,
    }
    let body: Body = request::parse_json(&request::read_body(session).await?)?;
    let grant = match g.auth.refresh(&body.refresh_token).await {
        Ok(grant) => grant,
        Err(e) => {
            // A family revoked for reuse stops here at once, not at the next poll.
            if let CoreError::RefreshReused { session } = &e {
                g.note_revoked(std::slice::from_ref(session));
            }
            let e = ApiError::from(e);
            g.metrics
                .logins
                .with_label_values(&["refresh", e.label()])
                .inc();
            return Err(e);
        }
    };
    g.metrics.logins.with_label_values(&["refresh", "ok"]).inc();
    write_json(session, 200, views::login_response(&grant), &[])
        .await
        .map_err(|_| ApiError::internal())
}

async fn logout(g: &Gateway, session: &mut Session) -> Result<(), ApiError> {
    let clear = clearing_cookies(g);
    let auth = match authenticate(g, session).await {
        Ok(auth) => auth,
        // A browser whose session already ended still gets its cookies cleared; a refused
        // cross-site request (403) or a call without credentials changes nothing.
        Err(mut e) => {
            let had_cookie = crate::cookies::get(session.req_header(), &g.cookies.access)
                .is_ok_and(|c| c.is_some());
            if e.code == ErrorCode::Unauthorized && had_cookie {
                e.headers.extend(clear);
            }
            return Err(e);
        }
    };
    let sid = auth.verified.token.claims.sid.clone();
    // This replica stops honouring the session at once, whatever the database says.
    g.note_revoked(std::slice::from_ref(&sid));
    g.auth.logout(&sid).await?;
    write_empty(session, 204, &clear)
        .await
        .map_err(|_| ApiError::internal())
}

async fn me(g: &Gateway, session: &mut Session) -> Result<(), ApiError> {
    let auth = authenticate(g, session).await?;
    let id = wxgate_core::model::UserId(auth.verified.token.claims.sub.clone());
    let user = g
        .auth
        .user(&id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("user no longer exists"))?;
    let bindings = g.auth.bindings(&user.id).await?;
    let cookies: Vec<(&'static str, String)> = auth
        .set_cookies
        .into_iter()
        .map(|c| ("set-cookie", c))
        .collect();
    write_json(session, 200, views::me(&user, &bindings), &cookies)
        .await
        .map_err(|_| ApiError::internal())
}

/// The `Set-Cookie` headers that end a browser session.
fn clearing_cookies(g: &Gateway) -> Vec<(&'static str, String)> {
    g.cookies
        .clear_session()
        .into_iter()
        .map(|c| ("set-cookie", c))
        .collect()
}

/// How recent a login must be for the account to be deleted with it.
const FRESH_LOGIN_SECS: i64 = 300;

/// `DELETE /me`: the user deletes their account. It wants a login of the last few minutes, so
/// a stolen or forgotten session cannot do it; the identities, unionid and phone are released,
/// every session ends, and the audit trail keeps what happened (phones masked).
async fn delete_me(g: &Gateway, session: &mut Session) -> Result<(), ApiError> {
    let auth = authenticate(g, session).await?;
    let claims = auth.verified.token.claims.clone();
    let now = g.tokens.clock().now_secs();
    if claims.ath.is_none_or(|t| now - t > FRESH_LOGIN_SECS) {
        return Err(ApiError::unauthorized(
            "sign in again, then delete the account within 5 minutes",
        ));
    }
    let user = wxgate_core::model::UserId(claims.sub.clone());
    let revoked = g.auth.accounts().delete(&user, "self").await?;
    g.note_revoked(&revoked);
    g.metrics.logins.with_label_values(&["me", "deleted"]).inc();
    write_empty(session, 204, &clearing_cookies(g))
        .await
        .map_err(|_| ApiError::internal())
}

/// `GET {auth_prefix}/login?return_to=`: the ways a browser can sign in, as the configured
/// channels declare them ([`crate::login_page`]). Inside WeChat it goes straight to the
/// official account's flow when there is one.
async fn login_page(g: &Gateway, session: &mut Session) -> pingora::Result<()> {
    let req = session.req_header();
    let query = request::query_pairs(req).unwrap_or_default();
    let to = return_to::sanitize(single(&query, "return_to"), &g.auth_prefix);
    let error = single(&query, "error");
    let client = request::client_app(req);
    // After a refusal the person stays here: sending them straight back would loop.
    if error.is_none() {
        if let Some(location) = login_page::straight_to(g, client, &to) {
            return write_empty(session, 302, &[("location", location)]).await;
        }
    }
    let notice = error.map(|e| match e {
        "declined" => "您已拒绝授权，可以重新登录。 · You declined the WeChat authorization; you can try again.",
        "not_member" => "只有本企业成员可以登录。 · Only members of this organisation can sign in here.",
        "not_permitted" => "你没有使用此应用的权限，请联系管理员。 · Your account may not use this app; ask your administrator.",
        _ => "登录未完成，请重试。 · The sign-in did not complete; please try again.",
    });
    let mut headers = html::security_headers();
    headers.push(("vary", "user-agent".to_string()));
    respond::write(
        session,
        200,
        "text/html; charset=utf-8",
        Bytes::from(login_page::page(g, client, &to, notice)),
        &headers,
    )
    .await
}
