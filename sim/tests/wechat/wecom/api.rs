//! WeCom's server APIs: gettoken, getuserinfo and getuserdetail, with their errors, the fault
//! layer and the call counter.

use wxgate_sim::Simulator;

// The parent's helpers, constants and imports (the harness included).
use super::*;

#[tokio::test]
async fn gettoken_answers_and_refusals() {
    let sim = Sim::start().await;
    let body = gettoken(&sim, CORP, SECRET).await;
    assert_ok(&body);
    assert_eq!(body["expires_in"], 7200);
    assert!(string(&body["access_token"]).len() > 100, "{body}");
    let again = gettoken(&sim, CORP, SECRET).await;
    assert_eq!(
        again["access_token"], body["access_token"],
        "within its life, a repeat call returns the same token"
    );
    assert_eq!(again["expires_in"], 7200);
    assert_wecom_err(&gettoken(&sim, CORP, "wrong").await, 40001);
    assert_wecom_err(&gettoken(&sim, "ww00000000000000ff", SECRET).await, 40013);
    assert_wecom_err(
        &sim.get(&format!("/cgi-bin/gettoken?corpsecret={SECRET}"))
            .await,
        41002,
    );
    assert_wecom_err(
        &sim.get(&format!("/cgi-bin/gettoken?corpid={CORP}")).await,
        41004,
    );
}

#[tokio::test]
async fn token_errors_and_lifetime() {
    let sim = Sim::start().await;
    let first = token_of(&sim, CORP, SECRET).await;
    let code = code_from(&sim, &sso_url("&sim_member=zhangsan")).await;
    assert_wecom_err(
        &sim.get(&format!("/cgi-bin/auth/getuserinfo?code={code}"))
            .await,
        41001,
    );
    assert_wecom_err(&getuserinfo(&sim, "not-a-token", &code).await, 40014);
    assert_wecom_err(
        &sim.get(&format!("/cgi-bin/auth/getuserinfo?access_token={first}"))
            .await,
        41008,
    );

    sim.advance(3600).await;
    // Half way through its life: the same token, with what is left of it.
    let half = gettoken(&sim, CORP, SECRET).await;
    assert_eq!(string(&half["access_token"]), first);
    assert_eq!(half["expires_in"], 3600);
    let code = code_from(&sim, &sso_url("&sim_member=zhangsan")).await;
    assert_eq!(getuserinfo(&sim, &first, &code).await["userid"], "zhangsan");

    sim.advance(3600).await;
    let code = code_from(&sim, &sso_url("&sim_member=zhangsan")).await;
    assert_wecom_err(&getuserinfo(&sim, &first, &code).await, 42001);
    assert_wecom_err(&getuserdetail(&sim, &first, &json!("any")).await, 42001);
    let second = token_of(&sim, CORP, SECRET).await;
    assert_ne!(second, first, "an expired token is replaced");
    assert_eq!(
        getuserinfo(&sim, &second, &code).await["userid"],
        "zhangsan"
    );

    let fresh = token_of(&sim, CORP, SECRET).await;
    let wrong_method = sim
        .get(&format!("/cgi-bin/auth/getuserdetail?access_token={fresh}"))
        .await;
    assert_wecom_err(&wrong_method, 43002);
    // WeCom paths not simulated keep the WeChat fallback.
    assert_err(
        &sim.get("/cgi-bin/department/list?access_token=x").await,
        40066,
    );
}

#[tokio::test]
async fn privateinfo_gives_a_ticket_for_the_members_details() {
    let sim = Sim::start().await;
    let token = token_of(&sim, CORP, SECRET).await;
    let path = in_app_url(
        CORP,
        "snsapi_privateinfo",
        &format!("&agentid={AGENT}&sim_member=zhangsan"),
    );
    let who = getuserinfo(&sim, &token, &code_from(&sim, &path).await).await;
    assert_ok(&who);
    assert_eq!(who["userid"], "zhangsan");
    assert_eq!(who["expires_in"], 1800);
    let ticket = who["user_ticket"].clone();

    let detail = getuserdetail(&sim, &token, &ticket).await;
    assert_eq!(
        detail,
        json!({"errcode": 0, "errmsg": "ok", "userid": "zhangsan", "gender": "0", "avatar": "",
               "qr_code": "", "mobile": "13800138000", "email": "", "biz_mail": "", "address": ""})
    );
    // A ticket serves again while it lives.
    assert_eq!(
        getuserdetail(&sim, &token, &ticket).await["mobile"],
        "13800138000"
    );

    sim.control(
        "/_sim/wecom/members",
        json!({"corp_id": CORP, "userid": "wangwu", "name": "王五",
               "avatar": "https://wework.qpic.cn/wwhead/x/0", "email": "wangwu@example.com"}),
    )
    .await;
    let path = in_app_url(
        CORP,
        "snsapi_privateinfo",
        &format!("&agentid={AGENT}&sim_member=wangwu"),
    );
    let who = getuserinfo(&sim, &token, &code_from(&sim, &path).await).await;
    let detail = getuserdetail(&sim, &token, &who["user_ticket"]).await;
    assert_eq!(detail["avatar"], "https://wework.qpic.cn/wwhead/x/0");
    assert_eq!(detail["email"], "wangwu@example.com");
    assert_eq!(detail["mobile"], "", "no mobile: blank");

    add_other_corp(&sim).await;
    let other_token = token_of(&sim, OTHER_CORP, OTHER_SECRET).await;
    assert_wecom_err(&getuserdetail(&sim, &other_token, &ticket).await, 40029);
    assert_wecom_err(&getuserdetail(&sim, &token, &json!("unknown")).await, 40029);
    assert_wecom_err(&getuserdetail(&sim, &token, &json!(null)).await, 40029);
    sim.advance(1800).await;
    assert_wecom_err(&getuserdetail(&sim, &token, &ticket).await, 40029);
}

#[tokio::test]
async fn outsiders_get_stable_ids_per_corp() {
    let sim = Sim::start().await;
    add_other_corp(&sim).await;
    let token = token_of(&sim, CORP, SECRET).await;
    let other_token = token_of(&sim, OTHER_CORP, OTHER_SECRET).await;
    let outsider = |corp: &str, agent: i64| {
        let extra = format!("&agentid={agent}&sim_outsider=alice");
        in_app_url(corp, "snsapi_privateinfo", &extra)
    };

    let first = getuserinfo(
        &sim,
        &token,
        &code_from(&sim, &sso_url("&sim_outsider=alice")).await,
    )
    .await;
    assert_ok(&first);
    assert!(string(&first["openid"]).starts_with('o'), "{first}");
    assert!(
        string(&first["external_userid"]).starts_with("wm"),
        "{first}"
    );
    assert!(
        first.get("userid").is_none() && first.get("user_ticket").is_none(),
        "{first}"
    );

    let path = outsider(CORP, AGENT);
    let again = getuserinfo(&sim, &token, &code_from(&sim, &path).await).await;
    assert_eq!(again["openid"], first["openid"]);
    assert_eq!(again["external_userid"], first["external_userid"]);
    assert!(
        again.get("user_ticket").is_none(),
        "outsiders get no ticket: {again}"
    );

    let path = outsider(OTHER_CORP, 1);
    let elsewhere = getuserinfo(&sim, &other_token, &code_from(&sim, &path).await).await;
    assert_ne!(elsewhere["openid"], first["openid"]);
    assert_ne!(elsewhere["external_userid"], first["external_userid"]);
    let bob = getuserinfo(
        &sim,
        &token,
        &code_from(&sim, &sso_url("&sim_outsider=bob")).await,
    )
    .await;
    assert_ne!(bob["openid"], first["openid"]);
}

#[tokio::test]
async fn codes_are_single_use_short_lived_and_bound_to_their_app() {
    let sim = Sim::start().await;
    add_other_corp(&sim).await;
    sim.control(
        "/_sim/wecom/apps",
        json!({"corp_id": CORP, "agent_id": 1000003, "secret": "second-app-secret"}),
    )
    .await;
    let token = token_of(&sim, CORP, SECRET).await;
    let second_app = token_of(&sim, CORP, "second-app-secret").await;
    let other_corp = token_of(&sim, OTHER_CORP, OTHER_SECRET).await;

    let code = code_from(&sim, &sso_url("&sim_member=zhangsan")).await;
    // Another corp's or app's token neither redeems nor spends it.
    assert_wecom_err(&getuserinfo(&sim, &other_corp, &code).await, 40029);
    assert_wecom_err(&getuserinfo(&sim, &second_app, &code).await, 40029);
    assert_eq!(getuserinfo(&sim, &token, &code).await["userid"], "zhangsan");
    assert_wecom_err(&getuserinfo(&sim, &token, &code).await, 40029);
    assert_wecom_err(&getuserinfo(&sim, &token, "unknown-code").await, 40029);

    // A base code opened without agentid serves any app of its corp.
    let any_app = code_from(&sim, &in_app_url(CORP, "snsapi_base", "&sim_member=lisi")).await;
    assert_eq!(
        getuserinfo(&sim, &second_app, &any_app).await["userid"],
        "lisi"
    );

    let late = code_from(&sim, &sso_url("&sim_member=zhangsan")).await;
    let in_time = code_from(&sim, &sso_url("&sim_member=zhangsan")).await;
    sim.advance(299).await;
    assert_eq!(
        getuserinfo(&sim, &token, &in_time).await["userid"],
        "zhangsan"
    );
    sim.advance(1).await;
    assert_wecom_err(&getuserinfo(&sim, &token, &late).await, 40029);
}

#[tokio::test]
async fn members_outside_visibility_get_60011_and_spend_the_code() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/wecom/members",
        json!({"corp_id": CORP, "userid": "hidden", "visible": false}),
    )
    .await;
    let html = page(&sim, &sso_url("")).await;
    assert!(html.contains("scan as hidden (hidden)"), "{html}");
    let token = token_of(&sim, CORP, SECRET).await;
    let code = code_from(&sim, &sso_url("&sim_member=hidden")).await;
    assert_wecom_err(&getuserinfo(&sim, &token, &code).await, 60011);
    assert_wecom_err(&getuserinfo(&sim, &token, &code).await, 40029);
}

#[tokio::test]
async fn the_same_userid_in_two_corps_is_two_people() {
    let sim = Sim::start().await;
    add_other_corp(&sim).await;
    let mut mobiles = Vec::new();
    for (corp, secret, agent) in [(CORP, SECRET, AGENT), (OTHER_CORP, OTHER_SECRET, 1)] {
        let token = token_of(&sim, corp, secret).await;
        let path = in_app_url(
            corp,
            "snsapi_privateinfo",
            &format!("&agentid={agent}&sim_member=zhangsan"),
        );
        let who = getuserinfo(&sim, &token, &code_from(&sim, &path).await).await;
        assert_eq!(who["userid"], "zhangsan");
        let detail = getuserdetail(&sim, &token, &who["user_ticket"]).await;
        assert_ok(&detail);
        mobiles.push((detail["mobile"].clone(), detail["email"].clone()));
    }
    assert_eq!(
        mobiles,
        [
            (json!("13800138000"), json!("")),
            (json!("13900000000"), json!("zsf@example.com"))
        ]
    );
    let html = page(&sim, &in_app_url(OTHER_CORP, "snsapi_base", "&agentid=1")).await;
    assert!(
        html.contains("scan as zhangsan (张三丰)") && !html.contains("李四"),
        "{html}"
    );
}

#[tokio::test]
async fn userids_ignore_case_and_answer_as_stored() {
    let sim = Sim::start().await;
    let token = token_of(&sim, CORP, SECRET).await;
    let code = code_from(&sim, &sso_url("&sim_member=ZhangSan")).await;
    assert_eq!(getuserinfo(&sim, &token, &code).await["userid"], "zhangsan");

    sim.control(
        "/_sim/wecom/members",
        json!({"corp_id": CORP, "userid": "WangWu"}),
    )
    .await;
    let code = code_from(&sim, &sso_url("&sim_member=wangwu")).await;
    assert_eq!(getuserinfo(&sim, &token, &code).await["userid"], "WangWu");

    // Replacing in another case keeps one member, spelt the new way.
    sim.control(
        "/_sim/wecom/members",
        json!({"corp_id": CORP, "userid": "WANGWU", "name": "王五", "mobile": "13600136000"}),
    )
    .await;
    let html = page(&sim, &sso_url("")).await;
    assert_eq!(html.matches("&amp;sim_member=").count(), 3, "{html}");
    let path = in_app_url(
        CORP,
        "snsapi_privateinfo",
        &format!("&agentid={AGENT}&sim_member=wangWu"),
    );
    let who = getuserinfo(&sim, &token, &code_from(&sim, &path).await).await;
    assert_eq!(who["userid"], "WANGWU");
    assert_eq!(
        getuserdetail(&sim, &token, &who["user_ticket"]).await["mobile"],
        "13600136000"
    );
}

#[tokio::test]
async fn faults_apply_to_wecom_paths_and_calls_are_counted() {
    let sim = Sim::start().await;
    let token = token_of(&sim, CORP, SECRET).await;
    let code = code_from(&sim, &sso_url("&sim_member=lisi")).await;
    sim.control(
        "/_sim/faults",
        json!({"path": "/cgi-bin/auth/getuserinfo", "errcode": 42001, "times": 1}),
    )
    .await;
    assert_wecom_err(&getuserinfo(&sim, &token, &code).await, 42001);
    // The fault answered before WeCom ran, so the code is still good.
    assert_eq!(getuserinfo(&sim, &token, &code).await["userid"], "lisi");

    let (status, calls) = sim.control_get("/_sim/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls["/cgi-bin/auth/getuserinfo"], 2, "{calls}");
    assert_eq!(calls["/cgi-bin/gettoken"], 1, "{calls}");
}

#[tokio::test]
async fn a_router_served_without_connection_info_still_names_an_ip() {
    // In-process users may serve `Simulator::router` themselves; WeCom's errmsg then says
    // loopback rather than failing the request.
    let sim = Simulator::new();
    sim.seed_demo();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("bound address");
    let server = tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener,
        sim.router(),
    )));
    let url = format!("http://{addr}/cgi-bin/gettoken?corpid={CORP}&corpsecret=wrong");
    let response = reqwest::get(url).await.expect("GET");
    assert_wecom_err(&wechat_body(response).await, 40001);
    server.abort();
}
