//! `userinfo` (GET and POST): the client's access token, from `Authorization: Bearer` or a
//! posted `access_token`, never a gateway token; its session must still live, so a revoked
//! family (a reused code, a logout, a deleted account) ends it at once.

use super::errors::{json_headers, OAuthError};
use super::{claims, count};
use crate::request;
use crate::respond::write_json;
use crate::state::{Gateway, OidcState};
use bytes::Bytes;
use pingora::proxy::Session;

pub async fn userinfo(g: &Gateway, o: &OidcState, session: &mut Session) -> pingora::Result<()> {
    match answer(g, o, session).await {
        Ok((client, body)) => {
            count(g, o.config.client(&client), "userinfo", "ok");
            write_json(session, 200, body, &json_headers()).await
        }
        Err(e) => {
            count(g, None, "userinfo", e.label());
            super::errors::write_bearer(session, &e).await
        }
    }
}

async fn presented(session: &mut Session) -> Result<String, OAuthError> {
    let req = session.req_header();
    let header = match req
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .count()
    {
        0 => None,
        1 => req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string()),
        _ => {
            return Err(OAuthError::invalid_request(
                "more than one Authorization header",
            ))
        }
    };
    let posted = if req.method == http::Method::POST && request::is_form(req) {
        let body = request::read_body(session)
            .await
            .map_err(|e| OAuthError::invalid_request(e.message))?;
        let form =
            request::form_fields(&body).map_err(|e| OAuthError::invalid_request(e.message))?;
        request::single(&form, "access_token").map(str::to_string)
    } else {
        None
    };
    match (header, posted) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("the token is sent twice")),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(OAuthError::no_token()),
    }
}

async fn answer(
    g: &Gateway,
    o: &OidcState,
    session: &mut Session,
) -> Result<(String, Bytes), OAuthError> {
    let token = presented(session).await?;
    let claims = g
        .tokens
        .verify_userinfo_token(&token, &o.config.issuer)
        .map_err(|_| OAuthError::invalid_token("the access token is not valid"))?;
    let Some(client) = o.config.client(&claims.cid) else {
        return Err(OAuthError::invalid_token(
            "the client is no longer registered",
        ));
    };
    if g.revocations.is_revoked(&claims.sid) {
        return Err(OAuthError::invalid_token("the grant was revoked"));
    }
    let now = g.tokens.clock().now_ms();
    let live = g.auth.sessions().get(&claims.sid).await?.is_some_and(|s| {
        s.revoked_at.is_none()
            && s.expires_at > now
            && s.client_id.as_deref() == Some(claims.cid.as_str())
    });
    if !live {
        return Err(OAuthError::invalid_token("the grant was revoked"));
    }
    let user = g
        .auth
        .user(&wxgate_core::model::UserId(claims.uid.clone()))
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the account no longer exists"))?;
    let mut body = claims::scope_claims(&user, &claims::still_allowed(client, &claims.scope));
    body.insert(
        "sub".into(),
        serde_json::Value::String(claims::subject(g, client, user.id.as_str())),
    );
    Ok((
        claims.cid,
        Bytes::from(serde_json::Value::Object(body).to_string()),
    ))
}
