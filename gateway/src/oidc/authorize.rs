//! The authorization endpoint. An unknown client or `redirect_uri` gets an error page, never a
//! redirect (an open redirector otherwise); every later error goes back to the proved
//! `redirect_uri` with `error` and `state`. Without a browser session (or with one too old
//! for `max_age`, or with `prompt=login`) the person goes to the login page, which comes back
//! here; `prompt=none` answers `login_required` instead.

use super::errors::OAuthError;
use super::{count, params, Params};
use crate::config::OidcClient;
use crate::html;
use crate::respond::{write_answer, Answer};
use crate::state::{Gateway, OidcState};
use crate::verify::authenticate;
use pingora::proxy::Session;
use wxgate_core::oidc::CodeGrant;

/// The parameter the gateway adds when it sends a person to sign in for `prompt=login`: the
/// resumed request needs a sign-in at or after this time (seconds).
const LOGIN_AFTER: &str = "wxgate_login_after";
const MAX_NONCE: usize = 512;

/// A request whose client and redirect are proved.
struct Proved<'a> {
    client: &'a OidcClient,
    redirect_uri: String,
    state: Option<String>,
}

pub async fn authorize(g: &Gateway, o: &OidcState, session: &mut Session) -> pingora::Result<()> {
    let pairs = match params(session).await {
        Ok(p) => p,
        Err(e) => return error_page(session, &e.description).await,
    };
    // Back from the login page: the parked request, whole. Only a parked request carries the
    // gateway's own "signed in after" mark; a client cannot send one.
    let resumed = pairs.one("resume").map(str::to_string);
    let pairs = match &resumed {
        None => Params(
            pairs
                .0
                .into_iter()
                .filter(|(k, _)| k != LOGIN_AFTER)
                .collect(),
        ),
        Some(id) => match o
            .pending
            .find(
                id,
                crate::cookies::get(session.req_header(), &resume_cookie(g, id))
                    .ok()
                    .flatten(),
            )
            .await
        {
            Ok(Some(query)) => Params(
                url::form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ),
            Ok(None) => return error_page(
                session,
                "this sign-in is not this browser's, or took too long: start again from the app",
            )
            .await,
            Err(_) => return error_page(session, "the database is unavailable; try again").await,
        },
    };
    let one = |name: &str| pairs.one(name).map(str::to_string);
    let Some(client) = one("client_id").and_then(|id| o.config.client(&id)) else {
        count(g, None, "authorize", "unknown_client");
        return error_page(session, "unknown client_id").await;
    };
    let redirect_uri = one("redirect_uri").unwrap_or_default();
    if !client.redirect_uris.contains(&redirect_uri) {
        count(g, Some(client), "authorize", "bad_redirect_uri");
        return error_page(session, "redirect_uri is not registered for this client").await;
    }
    let proved = Proved {
        client,
        redirect_uri,
        // Echoed whole, however long (the query itself is bounded).
        state: one("state"),
    };
    let outcome = decide(g, o, session, &proved, &pairs).await;
    let (location, cookies) = match outcome {
        Ok(Decision::Code { code, mut cookies }) => {
            count(g, Some(client), "authorize", "ok");
            // The parked request is spent: its id resumes nothing more.
            if let Some(id) = &resumed {
                if let Err(e) = o.pending.forget(id).await {
                    tracing::warn!(error = %e, "could not forget a resumed authorization request");
                }
                cookies.push(g.cookies.clear(&resume_cookie(g, id)));
            }
            (with_params(&proved, o, &[("code", code.as_str())]), cookies)
        }
        Ok(Decision::Login { to, cookie }) => {
            count(g, Some(client), "authorize", "login");
            (to, vec![cookie])
        }
        Err(e) => {
            count(g, Some(client), "authorize", e.label());
            let mut extra = vec![("error", e.error)];
            if !e.description.is_empty() {
                extra.push(("error_description", e.description.as_str()));
            }
            (with_params(&proved, o, &extra), Vec::new())
        }
    };
    let cookies = cookies.into_iter().map(|c| ("set-cookie", c)).collect();
    write_answer(
        session,
        Answer::Redirect {
            status: 302,
            location,
        },
        cookies,
    )
    .await
}

enum Decision {
    Code {
        code: String,
        cookies: Vec<String>,
    },
    Login {
        to: String,
        /// Binds the parked request to this browser.
        cookie: String,
    },
}

async fn decide(
    g: &Gateway,
    o: &OidcState,
    session: &Session,
    proved: &Proved<'_>,
    pairs: &Params,
) -> Result<Decision, OAuthError> {
    let one = |name: &str| pairs.one(name).map(str::to_string);
    for name in [
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "redirect_uri",
    ] {
        if pairs.repeated(name) {
            return Err(OAuthError::invalid_request(format!("{name} is repeated")));
        }
    }
    if one("request").is_some() {
        return Err(OAuthError::request_not_supported("request_not_supported"));
    }
    if one("request_uri").is_some() {
        return Err(OAuthError::request_not_supported(
            "request_uri_not_supported",
        ));
    }
    match one("response_type").as_deref() {
        Some("code") => {}
        None => return Err(OAuthError::invalid_request("response_type is missing")),
        Some(_) => {
            return Err(OAuthError::unsupported_response_type(
                "only response_type=code is supported",
            ))
        }
    }
    if one("response_mode").is_some_and(|m| m != "query") {
        return Err(OAuthError::invalid_request(
            "only response_mode=query is supported",
        ));
    }
    let requested = one("scope").unwrap_or_default();
    if !requested.split(' ').any(|s| s == "openid") {
        return Err(OAuthError::invalid_scope("scope must contain openid"));
    }
    let scope = super::claims::grant(proved.client, &requested);
    let challenge = pkce_challenge(
        proved.client,
        one("code_challenge"),
        one("code_challenge_method"),
    )?;
    let nonce = one("nonce");
    let nonce_ok = |n: &String| {
        !n.is_empty()
            && n.len() <= MAX_NONCE
            && n.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    };
    if nonce.as_ref().is_some_and(|n| !nonce_ok(n)) {
        return Err(OAuthError::invalid_request(
            "nonce must be 1 to 512 visible ASCII characters",
        ));
    }
    let prompt = one("prompt").unwrap_or_default();
    let prompts: Vec<&str> = prompt.split(' ').filter(|p| !p.is_empty()).collect();
    let none = prompts.contains(&"none");
    if none && prompts.len() > 1 {
        return Err(OAuthError::invalid_request("prompt=none goes alone"));
    }
    let max_age = match one("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            OAuthError::invalid_request("max_age must be a whole number of seconds")
        })?),
    };
    let login_after = one(LOGIN_AFTER).and_then(|v| v.parse::<i64>().ok());
    let now = g.tokens.clock().now_secs();

    // Who is signed in, from the browser's session cookie alone (renewed if its access part
    // expired). A bearer token is an API client's, not a browser sign-in.
    let signed_in = match authenticate(g, session).await {
        Ok(a) if a.verified.by_cookie => Some(a),
        Ok(_) => None,
        Err(e) if e.status == 503 => return Err(OAuthError::temporarily_unavailable()),
        Err(_) => None,
    };
    // A sign-in this very request sent the person to (prompt=login, or max_age) satisfies it,
    // however many seconds the sign-in took; anything older is judged by the request.
    let too_old = |auth_time: i64| max_age.is_some_and(|m| now.saturating_sub(auth_time) > m);
    let fresh_enough = |auth_time: i64| {
        let just_signed_in = login_after.is_some_and(|t| auth_time >= t);
        just_signed_in || (!too_old(auth_time) && !prompts.contains(&"login"))
    };
    let live = match &signed_in {
        Some(a) => {
            let claims = &a.verified.token.claims;
            let auth_time = claims.ath.unwrap_or(claims.iat);
            if fresh_enough(auth_time) {
                let record = g.auth.sessions().get(&claims.sid).await?;
                record
                    .filter(|r| r.revoked_at.is_none() && r.client_id.is_none())
                    .map(|r| (r, auth_time, a.set_cookies.clone()))
            } else {
                None
            }
        }
        None => None,
    };
    let Some((browser, auth_time, cookies)) = live else {
        if none {
            return Err(OAuthError::login_required());
        }
        // Each parked request is a row: per network, as many as browser logins may start.
        let network = g.client_ip(session).map(|ip| g.networks.of(ip));
        if network.is_some_and(|n| !g.flow_starts.allow(n)) {
            return Err(OAuthError::temporarily_unavailable_for(
                "too many sign-ins started from this network; try again in a minute",
            ));
        }
        let parked = o
            .pending
            .park(&resumed_query(
                &pairs.0,
                prompts.contains(&"login") || max_age.is_some(),
                now,
            ))
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the authorization request is too long"))?;
        let to = format!("{}/oidc/authorize?resume={}", g.auth_prefix, parked.id);
        return Ok(Decision::Login {
            to: g.login_page_for(&to),
            cookie: g.cookies.set(
                &resume_cookie(g, &parked.id),
                parked.nonce.expose(),
                o.pending.ttl().as_secs(),
            ),
        });
    };
    let code = o
        .codes
        .issue(CodeGrant {
            client_id: proved.client.client_id.clone(),
            redirect_uri: proved.redirect_uri.clone(),
            session_id: browser.id.clone(),
            scope,
            nonce,
            challenge,
            auth_time_ms: auth_time.saturating_mul(1000),
            expires_at: 0,
        })
        .await?;
    Ok(Decision::Code {
        code: code.expose().to_string(),
        cookies,
    })
}

/// The cookie that binds a parked request to its browser: one per request, so two tabs
/// signing in for two apps do not overwrite each other's.
fn resume_cookie(g: &Gateway, id: &str) -> String {
    let tag: String = id.chars().skip(3).take(12).collect();
    g.cookies.state(&format!("oidc_{tag}"))
}

/// PKCE (RFC 7636): S256 only; a public client must use it.
fn pkce_challenge(
    client: &OidcClient,
    challenge: Option<String>,
    method: Option<String>,
) -> Result<Option<String>, OAuthError> {
    match (challenge, method.as_deref()) {
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        (None, None) if client.client_secret.is_none() => Err(OAuthError::invalid_request(
            "a public client must use PKCE (code_challenge with S256)",
        )),
        (None, None) => Ok(None),
        (Some(_), None | Some("plain")) => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256 (plain is refused)",
        )),
        (Some(_), Some(m)) if m != "S256" => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        )),
        (Some(c), Some(_)) => {
            let ok = (43..=128).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if ok {
                Ok(Some(c))
            } else {
                Err(OAuthError::invalid_request(
                    "code_challenge is not 43 to 128 URL-safe characters",
                ))
            }
        }
    }
}

/// This request's parameters, to resume after signing in: a fresh sign-in it asks for
/// (`prompt=login`, `max_age`) is kept as a "signed in after now" mark, so the new sign-in
/// satisfies it and the old one does not.
fn resumed_query(pairs: &[(String, String)], login: bool, now: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if k != LOGIN_AFTER && k != "resume" {
            query.append_pair(k, v);
        }
    }
    if login {
        query.append_pair(LOGIN_AFTER, &now.to_string());
    }
    query.finish()
}

/// The client's redirect URI with `params`, `state` and `iss` (RFC 9207) added to its query.
fn with_params(proved: &Proved<'_>, o: &OidcState, params: &[(&str, &str)]) -> String {
    let Ok(mut url) = url::Url::parse(&proved.redirect_uri) else {
        return proved.redirect_uri.clone();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(state) = &proved.state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", &o.config.issuer);
    }
    url.to_string()
}

async fn error_page(session: &mut Session, message: &str) -> pingora::Result<()> {
    let body = html::oidc_error_page(message);
    write_answer(session, Answer::Page { status: 400, body }, Vec::new()).await
}
