//! The token endpoint: `authorization_code` (single use, bound to client, `redirect_uri` and
//! PKCE verifier; a second redemption revokes what the first issued) and `refresh_token`
//! (the client's own family: rotation with reuse detection, as the gateway's sessions).

use super::client_auth::{authenticate, Caller};
use super::errors::{json_headers, OAuthError};
use super::{claims, count, Params};
use crate::request;
use crate::respond::write_json;
use crate::state::{Gateway, OidcState};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use pingora::proxy::Session;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use wxgate_core::error::CoreError;
use wxgate_core::oidc::{at_hash, IdTokenClaims, Redemption};
use wxgate_core::token::{RefreshGrant, Rotation, SessionRecord, REFRESH_GRACE};

pub async fn token(g: &Gateway, o: &OidcState, session: &mut Session) -> pingora::Result<()> {
    let (client, result) = match exchange(g, o, session).await {
        Ok((client, body)) => (Some(client), Ok(body)),
        Err((client, e)) => (client, Err(e)),
    };
    let client = client.and_then(|id| o.config.client(&id));
    match result {
        Ok(body) => {
            count(g, client, "token", "ok");
            write_json(session, 200, body, &json_headers()).await
        }
        Err(e) => {
            count(g, client, "token", e.label());
            super::errors::write(session, &e).await
        }
    }
}

type Failure = (Option<String>, OAuthError);

async fn exchange(
    g: &Gateway,
    o: &OidcState,
    session: &mut Session,
) -> Result<(String, Bytes), Failure> {
    if !request::is_form(session.req_header()) {
        return Err((
            None,
            OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"),
        ));
    }
    let body = request::read_body(session)
        .await
        .map_err(|e| (None, OAuthError::invalid_request(e.message)))?;
    let form =
        request::form_fields(&body).map_err(|e| (None, OAuthError::invalid_request(e.message)))?;
    let caller = authenticate(&o.config, session.req_header(), &form).map_err(|e| (None, e))?;
    let id = caller.client.client_id.clone();
    let form = Params(form);
    let result = match form.one("grant_type") {
        Some("authorization_code") => redeem_code(g, o, &caller, &form).await,
        Some("refresh_token") => refresh(g, o, &caller, &form).await,
        Some(_) => Err(OAuthError::unsupported_grant_type(
            "grant_type must be authorization_code or refresh_token",
        )),
        None => Err(OAuthError::invalid_request("grant_type is missing")),
    };
    result.map(|b| (id.clone(), b)).map_err(|e| (Some(id), e))
}

async fn redeem_code(
    g: &Gateway,
    o: &OidcState,
    caller: &Caller<'_>,
    form: &Params,
) -> Result<Bytes, OAuthError> {
    let code = form
        .one("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let binds = |grant: &wxgate_core::oidc::CodeGrant| check_bindings(caller, grant, form).is_ok();
    let grant = match o.codes.redeem(code, &binds).await? {
        Redemption::Won(grant) => grant,
        Redemption::Unknown => {
            return Err(OAuthError::invalid_grant("the code is unknown or expired"))
        }
        // Judged again for its message; nothing moved.
        Redemption::Refused(grant) => {
            return Err(check_bindings(caller, &grant, form)
                .err()
                .unwrap_or_else(|| OAuthError::invalid_grant("the code does not bind")))
        }
        // Presented again by its own client, bindings and all: what it issued is revoked.
        Redemption::Reused { session } => {
            if let Some(sid) = session {
                g.note_revoked(std::slice::from_ref(&sid));
                g.auth.sessions().revoke(&sid, "code_reuse").await?;
            }
            return Err(OAuthError::invalid_grant("the code was already used"));
        }
    };
    let browser = g
        .auth
        .sessions()
        .get(&grant.session_id)
        .await?
        .filter(|s| s.revoked_at.is_none() && s.expires_at > g.tokens.clock().now_ms())
        .ok_or_else(|| OAuthError::invalid_grant("the sign-in behind the code has ended"))?;
    let issued = g
        .auth
        .sessions()
        .create_for_client(&browser, &grant.client_id, &grant.scope, grant.auth_time_ms)
        .await
        .map_err(not_live)?;
    if !o.codes.finish(code, &grant, &issued.session.id).await? {
        // Presented again while this redemption ran: neither stands.
        g.note_revoked(std::slice::from_ref(&issued.session.id));
        g.auth
            .sessions()
            .revoke(&issued.session.id, "code_reuse")
            .await?;
        return Err(OAuthError::invalid_grant("the code was already used"));
    }
    respond(g, o, caller, &issued, grant.nonce.as_deref(), None).await
}

fn check_bindings(
    caller: &Caller<'_>,
    grant: &wxgate_core::oidc::CodeGrant,
    form: &Params,
) -> Result<(), OAuthError> {
    if grant.client_id != caller.client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if form.one("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    match (&grant.challenge, form.one("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let shape = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !shape || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
        // A verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the code was issued without PKCE",
            ))
        }
        (None, None) if !caller.confidential => {
            return Err(OAuthError::invalid_grant("a public client must use PKCE"))
        }
        (None, None) => {}
    }
    Ok(())
}

async fn refresh(
    g: &Gateway,
    o: &OidcState,
    caller: &Caller<'_>,
    form: &Params,
) -> Result<Bytes, OAuthError> {
    let presented = form
        .one("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    // A narrower scope may be asked for this answer (RFC 6749 §6); the grant keeps its own.
    let mut narrowed = None;
    if let Some(asked) = form.one("scope") {
        let granted = g
            .auth
            .sessions()
            .granted_scope(presented)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the grant is not valid"))?;
        let asked: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
        if asked.iter().any(|s| !granted.split(' ').any(|g| g == *s)) {
            return Err(OAuthError::invalid_scope(
                "a refresh cannot widen the granted scope",
            ));
        }
        if !asked.contains(&"openid") {
            return Err(OAuthError::invalid_scope("scope must contain openid"));
        }
        narrowed = Some(
            granted
                .split(' ')
                .filter(|g| asked.contains(g))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let how = Rotation {
        session: None,
        grace: REFRESH_GRACE,
        client: Some(caller.client.client_id.clone()),
    };
    let rotated = match g.auth.sessions().rotate_with(presented, how).await {
        Ok(r) => r,
        Err(CoreError::RefreshReused { session }) => {
            g.note_revoked(std::slice::from_ref(&session));
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; its family is revoked",
            ));
        }
        Err(e) => return Err(not_live(e)),
    };
    respond(g, o, caller, &rotated, None, narrowed.as_deref()).await
}

/// Refusals that mean "this grant is over"; everything else keeps its own mapping.
fn not_live(e: CoreError) -> OAuthError {
    match e {
        CoreError::InvalidRefreshToken | CoreError::UserNotFound => {
            OAuthError::invalid_grant("the grant is not valid")
        }
        e => OAuthError::from(e),
    }
}

/// The token response: a userinfo access token, the id_token and the refresh token.
async fn respond(
    g: &Gateway,
    o: &OidcState,
    caller: &Caller<'_>,
    issued: &RefreshGrant,
    nonce: Option<&str>,
    narrowed: Option<&str>,
) -> Result<Bytes, OAuthError> {
    let s: &SessionRecord = &issued.session;
    let user = g
        .auth
        .user(&s.user_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the account no longer exists"))?;
    let scope = claims::still_allowed(
        caller.client,
        &narrowed
            .map(str::to_string)
            .or_else(|| s.scope.clone())
            .unwrap_or_else(|| "openid".into()),
    );
    let internal = |_| OAuthError::from(CoreError::Keys("signing failed".into()));
    let (access, _) = g
        .tokens
        .issue_userinfo_token(
            &o.config.issuer,
            user.id.as_str(),
            &caller.client.client_id,
            &s.id,
            &scope,
            o.config.access_ttl,
        )
        .map_err(internal)?;
    let now = g.tokens.clock().now_secs();
    let ttl = i64::try_from(o.config.access_ttl.as_secs()).unwrap_or(600);
    let id_token = g
        .tokens
        .sign_id_token(&IdTokenClaims {
            iss: o.config.issuer.clone(),
            sub: claims::subject(g, caller.client, user.id.as_str()),
            aud: caller.client.client_id.clone(),
            azp: caller.client.client_id.clone(),
            exp: now + ttl,
            iat: now,
            auth_time: s.auth_time.unwrap_or(s.created_at) / 1000,
            nonce: nonce.map(str::to_string),
            at_hash: Some(at_hash(&access)),
            sid: Some(s.id.clone()),
            extra: claims::id_token_claims(&user, &scope),
        })
        .map_err(internal)?;
    Ok(Bytes::from(
        serde_json::json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl,
            "id_token": id_token,
            "refresh_token": issued.refresh_token.expose(),
            "scope": scope,
        })
        .to_string(),
    ))
}
