//! Who is calling the token endpoint: `client_secret_basic`, `client_secret_post`, or a public
//! client naming itself (`none`, PKCE then required). Basic credentials are form-URL-decoded
//! (RFC 6749 §2.3.1, as Go's x/oauth2 encodes them); a client that sends them raw (Python
//! `requests`) is also understood. Secrets are compared in constant time.

use super::errors::OAuthError;
use crate::config::{Oidc, OidcClient};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pingora::http::RequestHeader;
use subtle::ConstantTimeEq;

/// The authenticated client, and whether it proved a secret.
pub struct Caller<'a> {
    pub client: &'a OidcClient,
    pub confidential: bool,
}

fn form_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// `(id, secret)` from `Authorization: Basic`, as sent and form-decoded.
fn basic(req: &RequestHeader) -> Result<Option<[(String, String); 2]>, OAuthError> {
    let Some(value) = req.headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(OAuthError::invalid_client("malformed Authorization header"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "client authentication must be Basic",
        ));
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    let Some((id, secret)) = decoded.split_once(':') else {
        return Err(OAuthError::invalid_client("malformed Basic credentials"));
    };
    Ok(Some([
        (form_decode(id), form_decode(secret)),
        (id.to_string(), secret.to_string()),
    ]))
}

pub fn authenticate<'a>(
    oidc: &'a Oidc,
    req: &RequestHeader,
    form: &[(String, String)],
) -> Result<Caller<'a>, OAuthError> {
    let field = |name: &str| crate::request::single(form, name);
    let body_id = field("client_id");
    let body_secret = field("client_secret");
    if let Some(candidates) = basic(req)? {
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not Basic and client_secret together",
            ));
        }
        for (id, secret) in &candidates {
            if body_id.is_some_and(|b| b != id) {
                continue;
            }
            if let Some(client) = oidc.client(id) {
                if client
                    .client_secret
                    .as_ref()
                    .is_some_and(|s| same(s.expose(), secret))
                {
                    return Ok(Caller {
                        client,
                        confidential: true,
                    });
                }
            }
        }
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    let Some(id) = body_id else {
        return Err(OAuthError::invalid_client("no client authentication"));
    };
    let Some(client) = oidc.client(id) else {
        return Err(OAuthError::invalid_client("client authentication failed"));
    };
    match (&client.client_secret, body_secret) {
        (Some(expected), Some(given)) if same(expected.expose(), given) => Ok(Caller {
            client,
            confidential: true,
        }),
        (None, None) => Ok(Caller {
            client,
            confidential: false,
        }),
        _ => Err(OAuthError::invalid_client("client authentication failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_decoded_and_as_sent() {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        let raw = "my%20app:s%3Acr+t%25";
        req.insert_header("authorization", format!("Basic {}", STANDARD.encode(raw)))
            .unwrap();
        let [decoded, as_sent] = basic(&req).unwrap().unwrap();
        assert_eq!(decoded, ("my app".to_string(), "s:cr t%".to_string()));
        assert_eq!(as_sent, ("my%20app".to_string(), "s%3Acr+t%25".to_string()));
    }
}
