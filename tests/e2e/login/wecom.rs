//! WeCom (企业微信) sign-in against the gateway binary and the simulated WeCom: web SSO from a
//! desktop and in-app OAuth inside WeCom land on the same member; a member is (corp, userid),
//! so two corps' `zhangsan` are two people; outsiders and members the app cannot see are
//! refused with nothing created; a code works once; two replicas share one corp token, also
//! after a 42001; and `trust_mobile` decides whether the mobile joins an SMS user's account.

use serde_json::{json, Value};
use wxgate_core::identity::history::count_live_users;
use wxgate_tests::control;
use wxgate_tests::gateway::{Channel, GatewayBuilder, Route, TestGateway};
use wxgate_tests::web::Browser;
use wxgate_tests::world::World;
use wxgate_tests::{Backend, TestDb};

const CORP: &str = "ww00000000000000c1";
const OTHER_CORP: &str = "ww00000000000000c2";
const AGENT: i64 = 1000002;
const SECRET: &str = "CANARY_CORPSECRET_c1";
const OTHER_SECRET: &str = "CANARY_CORPSECRET_c2";
pub(crate) const WECOM_UA: &str =
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/130.0 Mobile Safari/537.36 wxwork/4.1.22 MicroMessenger/7.0.1 NetType/WIFI Language/zh";

pub(crate) struct Setup {
    pub(crate) gw: TestGateway,
    gateway: GatewayBuilder,
    pub(crate) world: World,
    db: TestDb,
    _upstream: wxgate_sim::SimHandle,
}

/// The corp with members zhangsan (mobile 13800138000) and lisi (outside the app's
/// visibility), a second corp with its own zhangsan, and alice, a WeChat user outside both;
/// channels `wecom` (corp one, `wecom_keys` added) and `wecom2` (corp two), and `sms`.
pub(crate) async fn setup(backend: Backend, wecom_keys: &str) -> Option<Setup> {
    let db = TestDb::new(backend).await?;
    let world = World::start().await;
    world.person("alice", Some("13900139000")).await;
    for (corp, secret) in [(CORP, SECRET), (OTHER_CORP, OTHER_SECRET)] {
        sim(
            &world,
            "/_sim/wecom/apps",
            json!({"corp_id": corp, "agent_id": AGENT, "secret": secret}),
        )
        .await;
        sim(&world, "/_sim/wecom/members", json!({"corp_id": corp, "userid": "zhangsan", "name": "张三", "mobile": "13800138000", "avatar": "https://wework.example/a.png"})).await;
    }
    sim(
        &world,
        "/_sim/wecom/members",
        json!({"corp_id": CORP, "userid": "lisi", "visible": false}),
    )
    .await;
    let s = world.base();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gateway = TestGateway::builder(&db.url, &db.dir)
        .channel(Channel::wecom("wecom", CORP, AGENT, SECRET, &s).with(wecom_keys))
        .channel(Channel::wecom(
            "wecom2",
            OTHER_CORP,
            AGENT,
            OTHER_SECRET,
            &s,
        ))
        .channel(Channel::phone_sms("sms", &s))
        .route(Route::required("/api/", upstream.addr));
    let gw = tokio::task::block_in_place(|| gateway.start());
    Some(Setup {
        gw,
        gateway,
        world,
        db,
        _upstream: upstream,
    })
}

async fn sim(world: &World, path: &str, body: Value) -> Value {
    control::post(&world.http, &world.base(), path, body).await
}

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.addr)
    }

    /// Who signs in on the corp's next WeCom pages.
    async fn next(&self, corp: &str, who: Value) {
        let mut body = json!({"corp_id": corp});
        body.as_object_mut()
            .unwrap()
            .extend(who.as_object().unwrap().clone());
        sim(&self.world, "/_sim/wecom/next", body).await;
    }

    /// `browser` signs in through `channel` on `gw`: the redirect trail and the page it lands on.
    async fn sign_in(
        &self,
        gw: &TestGateway,
        browser: &mut Browser,
        channel: &str,
    ) -> (Vec<String>, wxgate_tests::web::Page) {
        let start = format!(
            "http://{}/_auth/{channel}/authorize?return_to=%2Fapi%2Fx",
            gw.addr
        );
        let (page, trail) = browser.open(&start).await;
        (trail, page)
    }

    async fn users(&self) -> i64 {
        count_live_users(&self.db.db).await.unwrap()
    }
}

fn identity(page: &wxgate_tests::web::Page) -> Value {
    assert_eq!(page.status, 200, "{}", page.body);
    page.json()["headers"].clone()
}

/// A desktop goes through the SSO page, a phone inside WeCom through the in-app page: both
/// land signed in, as the same member of the corp.
async fn sso_and_in_app_sign_in_the_same_member(backend: Backend) {
    let Some(s) = setup(backend, "").await else {
        return;
    };
    s.next(CORP, json!({"member": "zhangsan"})).await;
    let mut desktop = Browser::new();
    let (trail, page) = s.sign_in(&s.gw, &mut desktop, "wecom").await;
    assert!(
        trail[0].contains("/wwlogin/sso/login?login_type=CorpApp&appid=ww00000000000000c1&agentid=1000002&redirect_uri="),
        "{trail:?}"
    );
    let seen = identity(&page);
    assert_eq!(seen["x-auth-channel"], "wecom");
    assert_eq!(seen["x-auth-openid"], "zhangsan");
    let user = seen["x-auth-user"].as_str().unwrap().to_string();

    let mut phone = Browser::with_user_agent(WECOM_UA);
    let (trail, page) = s.sign_in(&s.gw, &mut phone, "wecom").await;
    assert!(
        trail[0].contains("/connect/oauth2/authorize?appid=ww00000000000000c1&")
            && trail[0].contains("agentid=1000002")
            && trail[0].contains("scope=snsapi_base"),
        "{trail:?}"
    );
    assert_eq!(identity(&page)["x-auth-user"], user.as_str());
    // Inside WeCom the login page goes straight to the in-app flow.
    let (_, trail) = Browser::with_user_agent(WECOM_UA)
        .open(&s.url("/api/x"))
        .await;
    assert!(
        trail.iter().any(|t| t.contains("/_auth/wecom/authorize")),
        "{trail:?}"
    );
    assert_eq!(s.users().await, 1);
}

/// The same userid in two corps: two people, two users.
async fn the_same_userid_in_two_corps_is_two_people(backend: Backend) {
    let Some(s) = setup(backend, "").await else {
        return;
    };
    let mut users = Vec::new();
    for (corp, channel) in [(CORP, "wecom"), (OTHER_CORP, "wecom2")] {
        s.next(corp, json!({"member": "ZhangSan"})).await;
        let (_, page) = s.sign_in(&s.gw, &mut Browser::new(), channel).await;
        let seen = identity(&page);
        assert_eq!(
            seen["x-auth-openid"], "zhangsan",
            "userids are case-insensitive"
        );
        users.push(seen["x-auth-user"].as_str().unwrap().to_string());
    }
    assert_ne!(users[0], users[1]);
    assert_eq!(s.users().await, 2);
}

/// Someone outside the corp, and a member the app is not visible to: back on the login page
/// with a notice that says why; nothing is created.
async fn outsiders_are_refused_and_nothing_is_created(backend: Backend) {
    let Some(s) = setup(backend, "").await else {
        return;
    };
    for (who, error, notice) in [
        (
            json!({"member": null, "outsider": "alice"}),
            "not_member",
            "只有本企业成员可以登录",
        ),
        (
            json!({"member": "lisi"}),
            "not_permitted",
            "你没有使用此应用的权限",
        ),
    ] {
        s.next(CORP, who).await;
        let mut browser = Browser::new();
        let (trail, page) = s.sign_in(&s.gw, &mut browser, "wecom").await;
        assert!(
            trail
                .last()
                .unwrap()
                .contains(&format!("/_auth/login?return_to=%2Fapi%2Fx&error={error}")),
            "{trail:?}"
        );
        assert!(page.body.contains(notice), "{}", page.body);
        assert!(browser.cookie("127.0.0.1", "wxgate").is_none());
    }
    assert_eq!(s.users().await, 0);
}

/// A code works once: brought back in a new flow (a fresh state), it is refused.
async fn a_reused_code_is_refused(backend: Backend) {
    let Some(s) = setup(backend, "").await else {
        return;
    };
    s.next(CORP, json!({"member": "zhangsan"})).await;
    let mut first = Browser::new();
    let (trail, page) = s.sign_in(&s.gw, &mut first, "wecom").await;
    identity(&page);
    let callback = trail
        .iter()
        .find(|t| t.contains("/_auth/wecom/callback"))
        .unwrap();
    let code = url::Url::parse(callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    // A new flow in another browser: its own state, the old code.
    let mut other = Browser::new();
    let start = other
        .get(&s.url("/_auth/wecom/authorize?return_to=%2Fapi%2Fx"))
        .await;
    let sso = url::Url::parse(start.location().unwrap()).unwrap();
    let state = sso
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let replay = other
        .request(
            &s.url(&format!("/_auth/wecom/callback?code={code}&state={state}")),
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert_eq!(replay.json()["error"], "invalid_code");
    assert_eq!(s.users().await, 1);
}

/// Two replicas share one corp token: one `gettoken` for both; after WeCom calls it expired
/// (42001), exactly one more, and the login goes through.
async fn two_replicas_share_one_corp_token(backend: Backend) {
    let Some(s) = setup(backend, "").await else {
        return;
    };
    let other = tokio::task::block_in_place(|| s.gateway.start());
    s.next(CORP, json!({"member": "zhangsan"})).await;
    for gw in [&s.gw, &other, &s.gw, &other] {
        let (_, page) = s.sign_in(gw, &mut Browser::new(), "wecom").await;
        identity(&page);
    }
    let calls = control::get(&s.world.http, &s.world.base(), "/_sim/calls").await;
    assert_eq!(calls["/cgi-bin/gettoken"], 1, "{calls}");
    sim(
        &s.world,
        "/_sim/faults",
        json!({"path": "/cgi-bin/auth/getuserinfo", "errcode": 42001, "times": 1}),
    )
    .await;
    for gw in [&other, &s.gw] {
        let (_, page) = s.sign_in(gw, &mut Browser::new(), "wecom").await;
        identity(&page);
    }
    let calls = control::get(&s.world.http, &s.world.base(), "/_sim/calls").await;
    assert_eq!(calls["/cgi-bin/gettoken"], 2, "{calls}");
    assert_eq!(s.users().await, 1);
}

/// A phone that signed in by SMS first. With `trust_mobile` the member whose mobile it is
/// joins that account; without it the mobile links nothing.
async fn trust_mobile_decides_whether_the_mobile_joins(backend: Backend) {
    for (trusted, keys) in [
        (true, "scope = \"snsapi_privateinfo\"\ntrust_mobile = true"),
        (false, "scope = \"snsapi_privateinfo\""),
    ] {
        let Some(s) = setup(backend, keys).await else {
            return;
        };
        let by_sms = sms_login(&s, "13800138000").await;
        s.next(CORP, json!({"member": "zhangsan"})).await;
        let mut phone = Browser::with_user_agent(WECOM_UA);
        let (trail, page) = s.sign_in(&s.gw, &mut phone, "wecom").await;
        assert!(trail[0].contains("scope=snsapi_privateinfo"), "{trail:?}");
        let seen = identity(&page);
        let same = seen["x-auth-user"] == by_sms.as_str();
        assert_eq!(same, trusted, "trust_mobile = {trusted}: {seen}");
        assert_eq!(s.users().await, if trusted { 1 } else { 2 });
    }
}

/// Signs `phone` in by SMS: the user id.
async fn sms_login(s: &Setup, phone: &str) -> String {
    let http = reqwest::Client::new();
    let sent = http
        .post(s.url("/_auth/sms/send_code"))
        .json(&json!({ "phone": phone }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let texted = control::get(
        &s.world.http,
        &s.world.base(),
        &format!("/_sim/sms/last?phone={phone}"),
    )
    .await;
    let login: Value = http
        .post(s.url("/_auth/sms/login"))
        .json(&json!({"phone": phone, "code": texted["code"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["user"]["id"]
        .as_str()
        .expect("an SMS login")
        .to_string()
}

per_backend!(
    sso_and_in_app_sign_in_the_same_member,
    the_same_userid_in_two_corps_is_two_people,
    outsiders_are_refused_and_nothing_is_created,
    a_reused_code_is_refused,
    two_replicas_share_one_corp_token,
    trust_mobile_decides_whether_the_mobile_joins,
);
