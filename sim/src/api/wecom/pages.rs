//! WeCom's browser pages: the web SSO page (`/wwlogin/sso/login`, the desktop QR code) and the
//! in-app OAuth page (`/connect/oauth2/authorize` with a corp id). Both end in a 302 back to
//! `redirect_uri` with `code` and `state`.
//!
//! Who signs in comes from the URL (`sim_member` / `sim_outsider`, which the chooser's links
//! carry), else from the corp's sticky choice (`POST /_sim/wecom/next`), else a chooser page asks.
//! Errors are HTML pages with status 200, as WeCom shows them, naming the errcode.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use crate::api::pages::{domain_matches, escape, location};
use crate::api::Params;
use crate::ids;
use crate::wecom::{Corp, Person, Scope, WeComCode};
use crate::world::{Shared, World};

/// Codes live 5 minutes.
const CODE_TTL: i64 = 300;
const STATE_MAX_LEN: usize = 128;

/// Which page is being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// `/wwlogin/sso/login`: a QR code scanned with the WeCom app.
    Sso,
    /// `/connect/oauth2/authorize` opened inside the WeCom client.
    InApp,
}

/// A WeCom error page: the errcode it shows, if any, and a reason.
struct PageError(Option<i64>, &'static str);

const UNTRUSTED_DOMAIN: PageError = PageError(Some(50001), "redirect_uri 需使用应用可信域名");
const BAD_STATE: PageError = PageError(
    Some(40058),
    "state 只能为 [A-Za-z0-9]，最长 128 字节 (state must be [A-Za-z0-9], at most 128 bytes)",
);

/// A validated request: whose code to issue, and where to send the browser back.
struct Target {
    corp_id: String,
    agent_id: Option<i64>,
    scope: Scope,
    redirect_uri: url::Url,
    state: String,
}

pub(crate) async fn sso(State(shared): State<Arc<Shared>>, params: Params, uri: Uri) -> Response {
    page(&shared, &params, &uri, Entry::Sso)
}

/// The in-app page; `/connect/oauth2/authorize` hands over when its appid is a corp id.
pub(crate) fn in_app(shared: &Shared, params: &Params, uri: &Uri) -> Response {
    page(shared, params, uri, Entry::InApp)
}

fn page(shared: &Shared, params: &Params, uri: &Uri, entry: Entry) -> Response {
    let now = shared.clock.now();
    let mut world = shared.world();
    let validated = match entry {
        Entry::Sso => validate_sso(&world, params),
        Entry::InApp => validate_in_app(&world, params),
    };
    let target = match validated {
        Ok(target) => target,
        Err(err) => return error_page(&err),
    };
    let Some(corp) = world.wecom.corps.get(&target.corp_id) else {
        return error_page(&PageError(Some(40013), "invalid corpid"));
    };
    let person = match chosen(&world, corp, params) {
        Ok(Some(person)) => person,
        Ok(None) => return chooser_page(&world, corp, uri, entry),
        Err(err) => return error_page(&err),
    };

    let code = ids::wecom_code();
    world.wecom.codes.insert(
        code.clone(),
        WeComCode {
            corp_id: target.corp_id.clone(),
            agent_id: target.agent_id,
            person,
            scope: target.scope,
            expires_at: now + CODE_TTL,
            used: false,
        },
    );
    let location = location(
        &target.redirect_uri,
        &[("code", &code), ("state", &target.state)],
    );
    match HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => error_page(&PageError(Some(40058), "redirect_uri 无效")),
    }
}

fn validate_sso(world: &World, params: &Params) -> Result<Target, PageError> {
    if params.get("login_type") != Some("CorpApp") {
        return Err(PageError(Some(40058), "login_type 必须为 CorpApp"));
    }
    let (corp_id, corp) = corp(world, params)?;
    let agent_id = agent(corp, params)?.ok_or(PageError(Some(40056), "agentid 不能为空"))?;
    let redirect_uri = redirect_uri(corp, Some(agent_id), params)?;
    Ok(Target {
        corp_id: corp_id.to_owned(),
        agent_id: Some(agent_id),
        // Web login reveals the userid only, like snsapi_base.
        scope: Scope::Base,
        redirect_uri,
        state: state(params)?,
    })
}

fn validate_in_app(world: &World, params: &Params) -> Result<Target, PageError> {
    let (corp_id, corp) = corp(world, params)?;
    if params.get("response_type") != Some("code") {
        return Err(PageError(Some(40058), "response_type 必须为 code"));
    }
    let scope = match params.get("scope") {
        Some("snsapi_base") => Scope::Base,
        Some("snsapi_privateinfo") => Scope::PrivateInfo,
        _ => {
            return Err(PageError(
                Some(40058),
                "scope 必须为 snsapi_base 或 snsapi_privateinfo",
            ))
        }
    };
    let agent_id = agent(corp, params)?;
    if scope == Scope::PrivateInfo && agent_id.is_none() {
        return Err(PageError(
            Some(40056),
            "snsapi_privateinfo 必须填写 agentid",
        ));
    }
    let redirect_uri = redirect_uri(corp, agent_id, params)?;
    Ok(Target {
        corp_id: corp_id.to_owned(),
        agent_id,
        scope,
        redirect_uri,
        state: state(params)?,
    })
}

fn corp<'w>(world: &'w World, params: &'w Params) -> Result<(&'w str, &'w Corp), PageError> {
    let corp_id = params
        .get("appid")
        .ok_or(PageError(Some(41002), "appid 不能为空"))?;
    let corp = world
        .wecom
        .corps
        .get(corp_id)
        .ok_or(PageError(Some(40013), "appid 不是有效的企业 corpid"))?;
    Ok((corp_id, corp))
}

/// The `agentid`, if given: it must name one of the corp's apps.
fn agent(corp: &Corp, params: &Params) -> Result<Option<i64>, PageError> {
    let Some(raw) = params.get("agentid") else {
        return Ok(None);
    };
    raw.parse::<i64>()
        .ok()
        .filter(|agent_id| corp.apps.contains_key(agent_id))
        .map(Some)
        .ok_or(PageError(Some(40056), "agentid 不是该企业的应用"))
}

/// An http(s) `redirect_uri` on the app's trusted domain; without an agent, on the trusted
/// domain of any of the corp's apps.
fn redirect_uri(
    corp: &Corp,
    agent_id: Option<i64>,
    params: &Params,
) -> Result<url::Url, PageError> {
    let uri = params
        .get("redirect_uri")
        .and_then(|raw| url::Url::parse(raw).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or(PageError(Some(40058), "redirect_uri 无效"))?;
    let trusted = corp
        .apps
        .iter()
        .filter(|(id, _)| agent_id.is_none_or(|agent| agent == **id))
        .any(|(_, app)| domain_matches(&uri, Some(&app.trusted_domain)));
    if trusted {
        Ok(uri)
    } else {
        Err(UNTRUSTED_DOMAIN)
    }
}

/// `state` may be absent (it then comes back empty).
fn state(params: &Params) -> Result<String, PageError> {
    let state = params.get("state").unwrap_or_default();
    if state.len() > STATE_MAX_LEN || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(BAD_STATE);
    }
    Ok(state.to_owned())
}

/// Who the URL or the sticky choice names; None when nobody is chosen yet.
fn chosen(world: &World, corp: &Corp, params: &Params) -> Result<Option<Person>, PageError> {
    match (params.get("sim_member"), params.get("sim_outsider")) {
        (Some(_), Some(_)) => Err(PageError(None, "give sim_member or sim_outsider, not both")),
        (Some(userid), None) => corp
            .member(userid)
            .map(|m| Some(Person::Member(m.userid.clone())))
            .ok_or(PageError(
                None,
                "unknown member (sim_member / POST /_sim/wecom/members)",
            )),
        (None, Some(name)) if world.users.contains_key(name) => {
            Ok(Some(Person::Outsider(name.to_owned())))
        }
        (None, Some(_)) => Err(PageError(
            None,
            "unknown simulated user (sim_outsider / POST /_sim/users)",
        )),
        (None, None) => Ok(corp.next.clone()),
    }
}

fn error_page(err: &PageError) -> Response {
    let number = err
        .0
        .map(|code| format!("<p>errcode: {code}</p>"))
        .unwrap_or_default();
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>企业微信</title></head>\
         <body><h1>出错了</h1>{number}<p>{}</p><p>(wxgate-sim)</p></body></html>",
        escape(err.1)
    );
    (StatusCode::OK, Html(body)).into_response()
}

/// Nobody chosen: the page a person sees in `wxgate dev`, offering every member and every
/// simulator WeChat user as an outsider. Each link is this URL plus the pick.
fn chooser_page(world: &World, corp: &Corp, uri: &Uri, entry: Entry) -> Response {
    let here = uri.to_string();
    let separator = if uri.query().is_some() { '&' } else { '?' };
    let link = |name: &str, value: &str| {
        let pick: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        escape(&format!("{here}{separator}{pick}"))
    };
    let mut items: String = corp
        .members()
        .map(|member| {
            let hidden = if member.visible {
                ""
            } else {
                " — outside the app's visibility"
            };
            format!(
                "<li><a href=\"{}\">scan as {} ({})</a>{hidden}</li>",
                link("sim_member", &member.userid),
                escape(&member.userid),
                escape(&member.name),
            )
        })
        .collect();
    let mut users: Vec<&String> = world.users.keys().collect();
    users.sort();
    for name in users {
        items.push_str(&format!(
            "<li><a href=\"{}\">scan as outsider {}</a></li>",
            link("sim_outsider", name),
            escape(name),
        ));
    }
    let title = match entry {
        Entry::Sso => "企业微信扫码登录 (simulated)",
        Entry::InApp => "企业微信授权 (simulated)",
    };
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>\
         <p>wxgate-sim plays WeCom here: pick who signs in, a member or someone outside the \
         corp. (Tests add <code>sim_member=USERID</code> or <code>sim_outsider=NAME</code> to \
         this URL, or <code>POST /_sim/wecom/next</code>.)</p>\
         <ul>{items}</ul></body></html>"
    );
    (StatusCode::OK, Html(body)).into_response()
}
