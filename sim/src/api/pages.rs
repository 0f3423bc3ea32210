//! The browser-facing pages on open.weixin.qq.com: OA `/connect/oauth2/authorize` and website
//! `/connect/qrconnect`. The simulated user "taps allow" (or "scans") at once and the page redirects.
//!
//! Configuration errors are HTML pages, as WeChat shows them, but with status 400 so that a test
//! can tell them from a redirect without parsing HTML.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use super::params::Params;
use crate::ids;
use crate::world::{AppKind, IssuedCode, Shared, World};

const STATE_MAX_LEN: usize = 128;

/// Which page is being served; the two differ in accepted apps, scopes and code lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    OfficialAccount,
    Website,
}

impl Flow {
    fn kind(self) -> AppKind {
        match self {
            Self::OfficialAccount => AppKind::OfficialAccount,
            Self::Website => AppKind::Website,
        }
    }

    fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::OfficialAccount => &["snsapi_base", "snsapi_userinfo"],
            Self::Website => &["snsapi_login"],
        }
    }

    /// OA codes live 5 minutes, website codes 10.
    fn code_ttl(self) -> i64 {
        match self {
            Self::OfficialAccount => 300,
            Self::Website => 600,
        }
    }

    /// The page error for an appid of the wrong kind.
    fn wrong_app(self) -> PageError {
        match self {
            Self::OfficialAccount => PageError(Some(10016), "open-platform appid not supported"),
            Self::Website => PageError(None, "该链接无法访问: appid is not a website app"),
        }
    }
}

/// A WeChat error page: the page's error number, when WeChat shows one, and a reason.
struct PageError(Option<u16>, &'static str);

/// `/connect/oauth2/authorize` serves WeChat official accounts and, when the appid is a WeCom
/// corp id, WeCom's in-app OAuth.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    params: Params,
    uri: Uri,
) -> Response {
    let is_corp = params
        .get("appid")
        .is_some_and(|appid| shared.world().wecom.corps.contains_key(appid));
    if is_corp {
        return super::wecom::in_app_page(&shared, &params, &uri);
    }
    page(&shared, &params, &uri, Flow::OfficialAccount)
}

pub(crate) async fn qrconnect(
    State(shared): State<Arc<Shared>>,
    params: Params,
    uri: Uri,
) -> Response {
    page(&shared, &params, &uri, Flow::Website)
}

fn page(shared: &Shared, params: &Params, uri: &Uri, flow: Flow) -> Response {
    let now = shared.clock.now();
    let mut world = shared.world();
    let target = match validate(&world, params, flow) {
        Ok(target) => target,
        Err(PageError(code, reason)) => return error_page(code, reason),
    };

    let Some(user) = params
        .get("sim_user")
        .map(str::to_owned)
        .or_else(|| world.next_user.clone())
    else {
        return chooser_page(&world, uri, flow);
    };
    if !world.users.contains_key(&user) {
        return error_page(
            None,
            "unknown simulated user (sim_user / POST /_sim/next_user)",
        );
    }

    let state = params.get("state").unwrap_or_default();
    let denied = std::mem::take(&mut world.deny_next) || params.get("sim_deny") == Some("1");
    if denied {
        // The older documented behaviour: back to the site with the state and no code.
        return redirect(&target, &[("state", state)]);
    }

    let code = ids::auth_code();
    let scope = target.scope.clone();
    let snapshot = flow == Flow::OfficialAccount
        && scope == "snsapi_userinfo"
        && world.users.get(&user).is_some_and(|u| u.snapshot);
    world.oauth_codes.insert(
        code.clone(),
        IssuedCode {
            appid: target.appid.clone(),
            user,
            issued_at: now,
            ttl: flow.code_ttl(),
            used: false,
            scope,
            snapshot,
        },
    );
    redirect(&target, &[("code", &code), ("state", state)])
}

/// A validated request: where to send the browser back, and what was granted.
struct Target {
    appid: String,
    scope: String,
    redirect_uri: url::Url,
}

fn validate(world: &World, params: &Params, flow: Flow) -> Result<Target, PageError> {
    let appid = params
        .get("appid")
        .ok_or(PageError(Some(10012), "appid empty"))?;
    let raw_redirect = params
        .get("redirect_uri")
        .ok_or(PageError(Some(10011), "redirect_uri empty"))?;
    let scope = params
        .get("scope")
        .ok_or(PageError(Some(10010), "scope empty"))?;
    let app = world
        .apps
        .get(appid)
        .ok_or(PageError(None, "appid invalid"))?;
    if app.kind != flow.kind() {
        return Err(flow.wrong_app());
    }
    if params.get("response_type") != Some("code") {
        return Err(PageError(None, "response_type must be code"));
    }
    let redirect_uri = url::Url::parse(raw_redirect)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or(PageError(Some(10003), "redirect_uri invalid"))?;
    if !domain_matches(&redirect_uri, app.redirect_domain.as_deref()) {
        return Err(PageError(Some(10003), "redirect_uri domain mismatch"));
    }
    if !flow.scopes().contains(&scope) {
        return Err(PageError(Some(10005), "no permission for this scope"));
    }
    let state = params.get("state").unwrap_or_default();
    if state.len() > STATE_MAX_LEN || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PageError(
            None,
            "state must be [A-Za-z0-9], at most 128 bytes",
        ));
    }
    Ok(Target {
        appid: appid.to_owned(),
        scope: scope.to_owned(),
        redirect_uri,
    })
}

/// The host must equal the configured domain exactly (`www.qq.com` does not cover `pay.qq.com`).
/// A domain written with a port also pins the port.
pub(super) fn domain_matches(uri: &url::Url, domain: Option<&str>) -> bool {
    let (Some(domain), Some(host)) = (domain, uri.host_str()) else {
        return false;
    };
    if domain.contains(':') {
        uri.port_or_known_default()
            .is_some_and(|port| format!("{host}:{port}").eq_ignore_ascii_case(domain))
    } else {
        host.eq_ignore_ascii_case(domain)
    }
}

/// 302 to `redirect_uri` with `pairs` appended to its query. Like WeChat, the parameters go
/// before any `#fragment`.
fn redirect(target: &Target, pairs: &[(&str, &str)]) -> Response {
    let location = location(&target.redirect_uri, pairs);
    match HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => error_page(Some(10003), "redirect_uri invalid"),
    }
}

/// `redirect_uri` with `pairs` appended to its own query, before any `#fragment`.
pub(super) fn location(redirect_uri: &url::Url, pairs: &[(&str, &str)]) -> String {
    let mut base = redirect_uri.clone();
    let fragment = base.fragment().map(str::to_owned);
    base.set_fragment(None);
    let added: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut location = base.to_string();
    match base.query() {
        None => location.push('?'),
        Some(_) if location.ends_with('?') || location.ends_with('&') => {}
        Some(_) => location.push('&'),
    }
    location.push_str(&added);
    if let Some(fragment) = fragment {
        location.push('#');
        location.push_str(&fragment);
    }
    location
}

fn error_page(code: Option<u16>, reason: &str) -> Response {
    let number = code.map(|c| format!(" {c}")).unwrap_or_default();
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>微信授权</title></head>\
         <body><h1>出错了{number}</h1><p>{}</p><p>(wxgate-sim)</p></body></html>",
        escape(reason)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// No user chosen: the page a person sees in `wxgate dev`. It offers every simulated user, as
/// WeChat would after a scan or a tap on "allow", and a refusal.
fn chooser_page(world: &World, uri: &Uri, flow: Flow) -> Response {
    let mut names: Vec<&String> = world.users.keys().collect();
    names.sort();
    let here = uri.to_string();
    let link = |pairs: &[(&str, &str)]| {
        let added: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        escape(&format!("{here}&{added}"))
    };
    let (title, verb) = match flow {
        Flow::OfficialAccount => ("微信授权 (simulated)", "Allow as"),
        Flow::Website => ("微信扫码登录 (simulated)", "Scan as"),
    };
    let mut items: String = names
        .iter()
        .map(|name| {
            format!(
                "<li><a href=\"{}\">{verb} {}</a></li>",
                link(&[("sim_user", name)]),
                escape(name)
            )
        })
        .collect();
    if let Some(first) = names.first() {
        items.push_str(&format!(
            "<li><a href=\"{}\">Decline</a></li>",
            link(&[("sim_user", first), ("sim_deny", "1")])
        ));
    }
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>\
         <p>wxgate-sim plays WeChat here: pick who scans or allows. (Tests add \
         <code>sim_user=NAME</code> to this URL, or <code>POST /_sim/next_user</code>.)</p>\
         <ul>{items}</ul></body></html>"
    );
    (StatusCode::OK, Html(body)).into_response()
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn domains_match_exactly() {
        let cases = [
            ("http://127.0.0.1:8080/cb", Some("127.0.0.1"), true),
            ("https://www.qq.com/cb", Some("www.qq.com"), true),
            ("https://pay.qq.com/cb", Some("www.qq.com"), false),
            ("https://www.qq.com.evil.cn/cb", Some("www.qq.com"), false),
            ("http://127.0.0.1:8080/cb", Some("127.0.0.1:8080"), true),
            ("http://127.0.0.1:9090/cb", Some("127.0.0.1:8080"), false),
            ("http://127.0.0.1/cb", None, false),
        ];
        for (uri, domain, expected) in cases {
            assert_eq!(
                domain_matches(&url(uri), domain),
                expected,
                "{uri} vs {domain:?}"
            );
        }
    }

    #[test]
    fn redirect_appends_before_the_fragment() {
        let cases = [
            ("http://h/cb", "http://h/cb?code=C&state=S"),
            ("http://h/cb?x=1", "http://h/cb?x=1&code=C&state=S"),
            ("http://h/cb?", "http://h/cb?code=C&state=S"),
            ("http://h/#/route", "http://h/?code=C&state=S#/route"),
        ];
        for (uri, expected) in cases {
            let target = Target {
                appid: String::new(),
                scope: String::new(),
                redirect_uri: url(uri),
            };
            let response = redirect(&target, &[("code", "C"), ("state", "S")]);
            assert_eq!(response.status(), StatusCode::FOUND);
            let location = response.headers().get(header::LOCATION).cloned();
            assert_eq!(location, HeaderValue::from_str(expected).ok(), "{uri}");
        }
    }
}
