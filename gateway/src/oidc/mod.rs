//! wxgate as an OpenID Connect provider (`[oidc]`): discovery, JWKS, the authorization, token,
//! userinfo and logout endpoints under `{auth_prefix}/oidc/`. The person signs in on the same
//! login page as everywhere else and is the same user; what is stored lives in `core`
//! (codes in the shared store, a client's login as a refresh family of its own).

mod authorize;
mod claims;
mod client_auth;
mod discovery;
mod errors;
mod logout;
mod token;
mod userinfo;

use crate::config::OidcClient;
use crate::rescue::ApiError;
use crate::respond::write_error;
use crate::state::Gateway;
use errors::OAuthError;
use pingora::proxy::Session;

/// Serves `{auth_prefix}/oidc/{action}`. `false`: OpenID Connect is not configured.
pub async fn handle(g: &Gateway, session: &mut Session, action: &str) -> pingora::Result<bool> {
    let Some(o) = &g.oidc else {
        return Ok(false);
    };
    let method = session.req_header().method.as_str().to_string();
    match (method.as_str(), action) {
        ("GET" | "POST", "authorize") => authorize::authorize(g, o, session).await?,
        ("POST", "token") => token::token(g, o, session).await?,
        ("GET" | "POST", "userinfo") => userinfo::userinfo(g, o, session).await?,
        ("GET", "jwks.json") => discovery::serve_jwks(g, session).await?,
        ("GET" | "POST", "logout") => logout::logout(g, o, session).await?,
        ("OPTIONS", "token" | "userinfo" | "jwks.json") => preflight(session).await?,
        (_, "userinfo") => errors::write_bearer(session, &OAuthError::method_not_allowed()).await?,
        (_, "token") => errors::write(session, &OAuthError::method_not_allowed()).await?,
        (_, "authorize" | "logout" | "jwks.json") => {
            let allow = if action == "jwks.json" {
                "GET"
            } else {
                "GET, POST"
            };
            crate::respond::write_error(session, &ApiError::method_not_allowed(allow)).await?
        }
        _ => {
            write_error(
                session,
                &ApiError::not_found("no such OpenID Connect endpoint"),
            )
            .await?
        }
    }
    Ok(true)
}

/// Serves the discovery document when `path` is its path. `false` otherwise.
pub async fn serve_discovery(
    g: &Gateway,
    session: &mut Session,
    path: &str,
) -> pingora::Result<bool> {
    let Some(o) = &g.oidc else {
        return Ok(false);
    };
    if path != o.config.discovery_path {
        return Ok(false);
    }
    if session.req_header().method != http::Method::GET {
        errors::write(session, &OAuthError::method_not_allowed()).await?;
        return Ok(true);
    }
    discovery::serve_document(g, o, session).await?;
    Ok(true)
}

/// A browser client's CORS preflight for the JSON endpoints (no cookies are involved).
async fn preflight(session: &mut Session) -> pingora::Result<()> {
    crate::respond::write_empty(
        session,
        204,
        &[
            ("access-control-allow-origin", "*".to_string()),
            ("access-control-allow-methods", "GET, POST".to_string()),
            (
                "access-control-allow-headers",
                "authorization, content-type".to_string(),
            ),
            ("access-control-max-age", "600".to_string()),
        ],
    )
    .await
}

/// A request's parameters, in order.
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    /// The one value of `name`; a repeated parameter counts as absent.
    fn one(&self, name: &str) -> Option<&str> {
        crate::request::single(&self.0, name)
    }

    fn repeated(&self, name: &str) -> bool {
        self.0.iter().filter(|(k, _)| k == name).count() > 1
    }
}

/// The request's parameters: the query of a GET, the form of a POST.
async fn params(session: &mut Session) -> Result<Params, OAuthError> {
    let req = session.req_header();
    if req.method == http::Method::POST {
        if !crate::request::is_form(req) {
            return Err(OAuthError::invalid_request("a POST must be a form"));
        }
        let body = crate::request::read_body(session)
            .await
            .map_err(|e| OAuthError::invalid_request(e.message))?;
        // Repeats are the endpoint's to judge (`single` sees them as absent).
        return Ok(Params(
            url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ));
    }
    crate::request::query_pairs(req)
        .map(Params)
        .map_err(|e| OAuthError::invalid_request(e.message))
}

/// Counts a request: by client (`unknown` when none was proved), endpoint and outcome.
fn count(g: &Gateway, client: Option<&OidcClient>, endpoint: &str, outcome: &str) {
    let client = client.map_or("unknown", |c| c.client_id.as_str());
    g.metrics
        .oidc
        .with_label_values(&[client, endpoint, outcome])
        .inc();
}
