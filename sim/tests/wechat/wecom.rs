//! WeCom (企业微信) self-built apps: the SSO and in-app pages and the control calls that shape
//! corps and members here; the server APIs in `wecom/api.rs`. The helpers below serve both.

mod api;

use reqwest::StatusCode;
use serde_json::{json, Value};
use wxgate_sim::DEMO_WECOM_SECRET as SECRET;
use wxgate_sim::{DEMO_WECOM_AGENT_ID as AGENT, DEMO_WECOM_CORP_ID as CORP};

use crate::harness::*;

/// `http://127.0.0.1:8080/_auth/wecom/callback?next=%2Fhome`, encoded once more for the query.
const CALLBACK: &str =
    "http%3A%2F%2F127.0.0.1%3A8080%2F_auth%2Fwecom%2Fcallback%3Fnext%3D%252Fhome";
const CALLBACK_PLAIN: &str = "http://127.0.0.1:8080/_auth/wecom/callback?next=%2Fhome";
const OTHER_CORP: &str = "ww00000000000000b2";
const OTHER_SECRET: &str = "other-corp-secret";

fn sso_url(extra: &str) -> String {
    format!(
        "/wwlogin/sso/login?login_type=CorpApp&appid={CORP}&agentid={AGENT}&redirect_uri={CALLBACK}&state=abc123{extra}"
    )
}

fn in_app_url(corp: &str, scope: &str, extra: &str) -> String {
    format!(
        "/connect/oauth2/authorize?appid={corp}&redirect_uri={CALLBACK}&response_type=code&scope={scope}&state=abc123{extra}#wechat_redirect"
    )
}

/// Opens a page that must redirect at once, and returns the Location.
async fn follow(sim: &Sim, path: &str) -> String {
    let response = sim.get_raw(path).await;
    assert_eq!(response.status(), StatusCode::FOUND, "{path}");
    let location = response.headers().get("location").expect("Location");
    location.to_str().expect("ASCII Location").to_owned()
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

/// Signs in through a page and returns the code it hands back.
async fn code_from(sim: &Sim, path: &str) -> String {
    let location = follow(sim, path).await;
    query_param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

/// A page that must not redirect: its HTML (WeCom shows errors and the chooser with 200).
async fn page(sim: &Sim, path: &str) -> String {
    let response = sim.get_raw(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert!(response.headers().get("location").is_none(), "{path}");
    response.text().await.expect("page")
}

/// The href of the chooser link whose text starts with `label`, as a browser would follow it.
fn link_to(html: &str, label: &str) -> String {
    html.split("<a href=\"")
        .skip(1)
        .find_map(|piece| {
            let (href, rest) = piece.split_once("\">")?;
            rest.starts_with(label).then(|| href.replace("&amp;", "&"))
        })
        .unwrap_or_else(|| panic!("no link {label} in {html}"))
}

async fn gettoken(sim: &Sim, corp: &str, secret: &str) -> Value {
    sim.get(&format!(
        "/cgi-bin/gettoken?corpid={corp}&corpsecret={secret}"
    ))
    .await
}

async fn token_of(sim: &Sim, corp: &str, secret: &str) -> String {
    let body = gettoken(sim, corp, secret).await;
    assert_eq!(errcode(&body), 0, "{body}");
    string(&body["access_token"])
}

async fn getuserinfo(sim: &Sim, token: &str, code: &str) -> Value {
    sim.get(&format!(
        "/cgi-bin/auth/getuserinfo?access_token={token}&code={code}"
    ))
    .await
}

async fn getuserdetail(sim: &Sim, token: &str, ticket: &Value) -> Value {
    sim.post(
        &format!("/cgi-bin/auth/getuserdetail?access_token={token}"),
        &json!({"user_ticket": ticket}),
    )
    .await
}

/// A WeCom error: the errcode, and an errmsg with hint, caller IP and help link.
fn assert_wecom_err(body: &Value, expected: i64) {
    assert_eq!(errcode(body), expected, "{body}");
    let msg = body["errmsg"].as_str().unwrap_or_default();
    let hint = msg
        .split_once(", hint: [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(hint, _)| hint)
        .unwrap_or_default();
    assert!(
        hint.len() == 25 && hint.bytes().all(|b| b.is_ascii_digit()),
        "errmsg without hint: {msg}"
    );
    let tail = format!(
        "], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={expected}"
    );
    assert!(msg.ends_with(&tail), "{msg}");
}

fn assert_ok(body: &Value) {
    assert_eq!(body["errcode"], 0, "{body}");
    assert_eq!(body["errmsg"], "ok", "{body}");
}

/// A second corp with its own `zhangsan`, on a trusted domain that pins the port.
async fn add_other_corp(sim: &Sim) {
    sim.control(
        "/_sim/wecom/apps",
        json!({"corp_id": OTHER_CORP, "agent_id": 1, "secret": OTHER_SECRET,
               "trusted_domain": "127.0.0.1:8080"}),
    )
    .await;
    sim.control(
        "/_sim/wecom/members",
        json!({"corp_id": OTHER_CORP, "userid": "zhangsan", "name": "张三丰",
               "mobile": "13900000000", "email": "zsf@example.com"}),
    )
    .await;
}

#[tokio::test]
async fn sso_and_in_app_pages_redirect_with_code_and_state() {
    let sim = Sim::start().await;
    let token = token_of(&sim, CORP, SECRET).await;
    let pages = [
        sso_url("&lang=zh&sim_member=zhangsan"),
        in_app_url(
            CORP,
            "snsapi_base",
            &format!("&agentid={AGENT}&sim_member=zhangsan"),
        ),
        // snsapi_base may leave out agentid: any app of the corp redeems the code.
        in_app_url(CORP, "snsapi_base", "&sim_member=zhangsan"),
    ];
    for path in pages {
        let location = follow(&sim, &path).await;
        let code = query_param(&location, "code").unwrap_or_default();
        assert_eq!(code.len(), 43, "{location}");
        assert_eq!(
            location,
            format!("{CALLBACK_PLAIN}&code={code}&state=abc123"),
            "redirect_uri keeps its own query"
        );
        let who = getuserinfo(&sim, &token, &code).await;
        assert_ok(&who);
        assert_eq!(who["userid"], "zhangsan");
        assert!(who.get("user_ticket").is_none(), "{who}");
    }
    // Without a state the page still answers one, empty.
    let bare = sso_url("&sim_member=lisi").replace("&state=abc123", "");
    assert!(follow(&sim, &bare).await.ends_with("&state="));
}

#[tokio::test]
async fn pages_refuse_bad_requests() {
    let sim = Sim::start().await;
    let evil = "http%3A%2F%2Fevil.example%2Fcb";
    let pick = "&sim_member=zhangsan";
    let cases = [
        (sso_url(pick).replace("CorpApp", "ServiceApp"), "login_type"),
        (
            sso_url(pick).replace(&format!("agentid={AGENT}"), "agentid=999"),
            "40056",
        ),
        (
            sso_url(pick).replace(&format!("agentid={AGENT}"), "agentid=x"),
            "40056",
        ),
        (
            sso_url(pick).replace(&format!("&agentid={AGENT}"), ""),
            "40056",
        ),
        (sso_url(pick).replace(CORP, "ww00000000000000ff"), "40013"),
        (sso_url(pick).replace(CALLBACK, evil), "50001"),
        (sso_url(pick).replace(CALLBACK, "not-a-url"), "redirect_uri"),
        (sso_url(pick).replace("abc123", "bad-state"), "state"),
        (sso_url(pick).replace("abc123", &"a".repeat(129)), "state"),
        (
            in_app_url(CORP, "snsapi_base", &format!("&agentid={AGENT}{pick}"))
                .replace(CALLBACK, evil),
            "50001",
        ),
        (
            in_app_url(CORP, "snsapi_base", pick).replace(CALLBACK, evil),
            "50001",
        ),
        (in_app_url(CORP, "snsapi_privateinfo", pick), "40056"),
        (
            in_app_url(CORP, "snsapi_base", &format!("&agentid=7{pick}")),
            "40056",
        ),
        (
            in_app_url(CORP, "snsapi_userinfo", &format!("&agentid={AGENT}{pick}")),
            "scope",
        ),
        (
            in_app_url(CORP, "snsapi_base", &format!("&agentid={AGENT}{pick}"))
                .replace("response_type=code", "response_type=token"),
            "response_type",
        ),
        (
            in_app_url(CORP, "snsapi_base", &format!("&agentid={AGENT}{pick}"))
                .replace("abc123", "a_b"),
            "state",
        ),
        (sso_url("&sim_member=nobody"), "unknown member"),
        (sso_url("&sim_outsider=nobody"), "unknown simulated user"),
        (sso_url("&sim_member=lisi&sim_outsider=alice"), "not both"),
    ];
    for (path, needle) in cases {
        let html = page(&sim, &path).await;
        assert!(html.contains(needle), "{path}: expected {needle} in {html}");
    }
    let html = page(&sim, &sso_url(pick).replace(CALLBACK, evil)).await;
    assert!(
        html.contains("errcode: 50001") && html.contains("redirect_uri 需使用应用可信域名"),
        "{html}"
    );
    let calls = sim.control_get("/_sim/calls").await.1;
    assert!(
        calls["/wwlogin/sso/login"].as_u64().unwrap_or(0) >= 1,
        "{calls}"
    );
}

#[tokio::test]
async fn chooser_lists_members_and_outsiders_and_its_links_pick() {
    let sim = Sim::start().await;
    let token = token_of(&sim, CORP, SECRET).await;
    let html = page(&sim, &sso_url("")).await;
    for label in [
        "scan as zhangsan (张三)",
        "scan as lisi (李四)",
        "scan as outsider alice",
        "scan as outsider bob",
    ] {
        assert!(html.contains(label), "{label} in {html}");
    }
    let as_lisi = link_to(&html, "scan as lisi");
    assert!(as_lisi.ends_with("&sim_member=lisi"), "{as_lisi}");
    let who = getuserinfo(&sim, &token, &code_from(&sim, &as_lisi).await).await;
    assert_eq!(who["userid"], "lisi", "{who}");

    let as_alice = link_to(&html, "scan as outsider alice");
    assert!(as_alice.ends_with("&sim_outsider=alice"), "{as_alice}");
    let who = getuserinfo(&sim, &token, &code_from(&sim, &as_alice).await).await;
    assert_ok(&who);
    assert!(who.get("userid").is_none(), "{who}");

    // The in-app page offers the same people.
    let in_app = in_app_url(CORP, "snsapi_privateinfo", &format!("&agentid={AGENT}"));
    let html = page(&sim, &in_app).await;
    let as_zhangsan = link_to(&html, "scan as zhangsan (张三)");
    let who = getuserinfo(&sim, &token, &code_from(&sim, &as_zhangsan).await).await;
    assert_eq!(who["userid"], "zhangsan", "{who}");
    assert!(who.get("user_ticket").is_some(), "{who}");
}

#[tokio::test]
async fn sticky_next_signs_in_without_asking_until_cleared() {
    let sim = Sim::start().await;
    let token = token_of(&sim, CORP, SECRET).await;
    sim.control(
        "/_sim/wecom/next",
        json!({"corp_id": CORP, "member": "LISI"}),
    )
    .await;
    for path in [
        sso_url(""),
        in_app_url(CORP, "snsapi_base", &format!("&agentid={AGENT}")),
        sso_url(""),
    ] {
        let who = getuserinfo(&sim, &token, &code_from(&sim, &path).await).await;
        assert_eq!(who["userid"], "lisi", "sticky, answered as stored: {who}");
    }
    // The URL's pick still wins.
    let code = code_from(&sim, &sso_url("&sim_member=zhangsan")).await;
    assert_eq!(getuserinfo(&sim, &token, &code).await["userid"], "zhangsan");

    sim.control(
        "/_sim/wecom/next",
        json!({"corp_id": CORP, "outsider": "bob"}),
    )
    .await;
    let who = getuserinfo(&sim, &token, &code_from(&sim, &sso_url("")).await).await;
    assert!(
        who.get("external_userid").is_some() && who.get("userid").is_none(),
        "{who}"
    );

    sim.control("/_sim/wecom/next", json!({"corp_id": CORP, "member": null}))
        .await;
    assert!(page(&sim, &sso_url(""))
        .await
        .contains("scan as lisi (李四)"));

    let refusals = [
        (
            json!({"corp_id": "ww00000000000000ff", "member": "lisi"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"corp_id": CORP, "member": "nobody"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"corp_id": CORP, "outsider": "nobody"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"corp_id": CORP, "member": "lisi", "outsider": "bob"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"corp_id": CORP, "user": "lisi"}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, expected) in refusals {
        let (status, answer) = sim.control_status("/_sim/wecom/next", body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
}

#[tokio::test]
async fn control_calls_refuse_bad_corps_and_members() {
    let sim = Sim::start().await;
    let app = |fields: Value| {
        let mut body = json!({"corp_id": "ww00000000000000c3", "agent_id": 5, "secret": "s3"});
        for (key, value) in fields.as_object().cloned().unwrap_or_default() {
            body[key] = value;
        }
        body
    };
    let cases = [
        (
            "/_sim/wecom/apps",
            app(json!({"corp_id": "ww-1"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/apps",
            app(json!({"corp_id": "w".repeat(33)})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/apps",
            app(json!({"agent_id": 0})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/apps",
            app(json!({"agent_id": "5"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/apps",
            app(json!({"secret": ""})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/apps",
            app(json!({"trusted_domain": "http://x.com"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/apps",
            app(json!({"corp_id": MP})),
            StatusCode::CONFLICT,
        ),
        (
            "/_sim/wecom/apps",
            app(json!({"corp_id": CORP, "secret": SECRET})),
            StatusCode::CONFLICT,
        ),
        (
            "/_sim/wecom/members",
            json!({"corp_id": "ww00000000000000ff", "userid": "x"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/_sim/wecom/members",
            json!({"corp_id": CORP, "userid": ""}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/members",
            json!({"corp_id": CORP, "userid": "a".repeat(65)}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/members",
            json!({"corp_id": CORP, "userid": "x", "mobile": "1380013800"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/wecom/members",
            json!({"corp_id": CORP, "userid": "x", "phone": "13800138000"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/apps",
            json!({"appid": CORP, "secret": "s", "kind": "miniprogram"}),
            StatusCode::CONFLICT,
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = sim.control_status(path, body.clone()).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // Replacing an app with its own secret is fine.
    sim.control(
        "/_sim/wecom/apps",
        json!({"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "trusted_domain": "127.0.0.1"}),
    )
    .await;
    assert_ok(&gettoken(&sim, CORP, SECRET).await);
}
