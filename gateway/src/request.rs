//! Reading what a request to the gateway's own endpoints carries: a bounded body, the query's
//! parameters, the client's address and what kind of client it is.

use crate::rescue::ApiError;
use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// Gateway endpoints take small JSON bodies; anything larger is refused unread.
const MAX_BODY: usize = 16 * 1024;
/// A query longer than this is refused (state, code and return_to fit easily).
const MAX_QUERY: usize = 4096;

/// The body length a request declares, when it declares a readable one.
pub fn declared_length(req: &RequestHeader) -> Option<usize> {
    req.headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// Reads a bounded request body.
pub async fn read_body(session: &mut Session) -> Result<Bytes, ApiError> {
    if declared_length(session.req_header()).is_some_and(|n| n > MAX_BODY) {
        return Err(ApiError::body_too_large());
    }
    let mut body = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(ApiError::body_too_large());
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

/// The query's parameters, percent-decoded, in order.
pub fn query_pairs(req: &RequestHeader) -> Result<Vec<(String, String)>, ApiError> {
    let query = req.uri.query().unwrap_or("");
    if query.len() > MAX_QUERY {
        return Err(ApiError::invalid_request("query string too long"));
    }
    Ok(url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The one value of parameter `name`, or `None`; a repeated parameter counts as absent.
pub fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut found = pairs.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (Some((_, v)), None) => Some(v.as_str()),
        _ => None,
    }
}

/// A browser navigating (a `GET` or `HEAD` that accepts HTML), as opposed to an API call.
pub fn is_browser_navigation(req: &RequestHeader) -> bool {
    matches!(req.method.as_str(), "GET" | "HEAD")
        && req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// A form posted by a browser (`application/x-www-form-urlencoded`).
pub fn is_form(req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The client wants JSON (`Accept: application/json`), not a page.
pub fn wants_json(req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The fields of a form body, each at most once.
pub fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (i, (name, _)) in fields.iter().enumerate() {
        if fields[..i].iter().any(|(n, _)| n == name) {
            return Err(ApiError::invalid_request(format!(
                "form field {name:?} is repeated"
            )));
        }
    }
    Ok(fields)
}

/// The WeCom (企业微信) app says `wxwork` in its User-Agent (beside `MicroMessenger`).
pub fn inside_wecom(req: &RequestHeader) -> bool {
    req.headers.get(http::header::USER_AGENT).is_some_and(|v| {
        v.as_bytes()
            .windows(6)
            .any(|w| w.eq_ignore_ascii_case(b"wxwork"))
    })
}

/// The WeChat in-app browser says so in its User-Agent.
pub fn inside_wechat(req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::USER_AGENT)
        .is_some_and(|v| v.as_bytes().windows(14).any(|w| w == b"MicroMessenger"))
}

/// The app the browser runs in (WeCom's User-Agent also says MicroMessenger: it is asked
/// first).
pub fn client_app(req: &RequestHeader) -> wxgate_providers::provider::ClientApp {
    use wxgate_providers::provider::ClientApp;
    if inside_wecom(req) {
        ClientApp::Wecom
    } else if inside_wechat(req) {
        ClientApp::Wechat
    } else {
        ClientApp::Browser
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_or_missing_parameters_are_absent() {
        let mut req =
            RequestHeader::build("GET", b"/x?state=a&code=1&code=2&rt=%2Fp%3Fq", None).unwrap();
        let pairs = query_pairs(&req).unwrap();
        assert_eq!(single(&pairs, "state"), Some("a"));
        assert_eq!(single(&pairs, "code"), None);
        assert_eq!(single(&pairs, "rt"), Some("/p?q"));
        assert_eq!(single(&pairs, "nope"), None);
        req.set_uri(format!("/x?{}", "a".repeat(MAX_QUERY + 1)).parse().unwrap());
        assert!(query_pairs(&req).is_err());
    }

    #[test]
    fn browsers_are_told_from_api_clients() {
        let mut req = RequestHeader::build("GET", b"/api/x", None).unwrap();
        req.insert_header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .unwrap();
        assert!(is_browser_navigation(&req));
        req.set_method(http::Method::POST);
        assert!(
            !is_browser_navigation(&req),
            "a form post is not redirected"
        );
        req.insert_header(
            "user-agent",
            "Mozilla/5.0 (iPhone) AppleWebKit MicroMessenger/8.0.47 NetType/WIFI",
        )
        .unwrap();
        assert!(inside_wechat(&req));
    }
}
