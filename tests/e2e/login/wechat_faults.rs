//! WeChat misbehaving, as the simulator can make it: every fault becomes the contract's error
//! within a bounded time, and creates nothing.

use serde_json::json;
use std::time::{Duration, Instant};
use wxgate_core::identity::history::count_live_users;
use wxgate_tests::control;
use wxgate_tests::gateway::Channel;
use wxgate_tests::gateway::{call, TestGateway};
use wxgate_tests::world::World;
use wxgate_tests::{Backend, TestDb};

const MP: &str = "wx00000000000000e1";
const OA: &str = "wx00000000000000e2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wechat_fault_is_a_bounded_contract_error_that_creates_nothing() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let world = World::start().await;
    world.mini_program(MP, "m", Some("op")).await;
    world.app(json!({"appid": OA, "secret": "o", "kind": "official_account", "open_platform": "op", "redirect_domain": "127.0.0.1"})).await;
    world.person("alice", Some("13800138000")).await;
    let s = world.base();
    let World { sim: _sim, http } = world;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .channel(Channel::mini_program("mp", MP, "m", &s).with("timeout = \"1s\""))
            .start()
    });

    let login = |with_phone: bool| {
        let (http, s) = (http.clone(), s.clone());
        async move {
            let code = control::post(
                &http,
                &s,
                "/_sim/login_code",
                json!({"appid": MP, "user": "alice"}),
            )
            .await;
            let mut body = json!({"code": code["code"]});
            if with_phone {
                let p = control::post(
                    &http,
                    &s,
                    "/_sim/phone_code",
                    json!({"appid": MP, "user": "alice"}),
                )
                .await;
                body["phone_code"] = p["code"].clone();
            }
            let started = Instant::now();
            let r = tokio::task::block_in_place(|| {
                call(gw.addr, "POST", "/_auth/mp/login", &body.to_string(), None)
            });
            (r, started.elapsed())
        }
    };
    let code_exchange = "/sns/jscode2session";
    let phone_exchange = "/wxa/business/getuserphonenumber";
    let cases = [
        (
            "busy through every retry",
            code_exchange,
            json!({"errcode": -1, "times": 3}),
            false,
            502,
            "upstream_unavailable",
        ),
        (
            "minute quota",
            code_exchange,
            json!({"errcode": 45011, "times": 1}),
            false,
            429,
            "rate_limited",
        ),
        (
            "a token rejected twice",
            phone_exchange,
            json!({"errcode": 40001, "times": 2}),
            true,
            502,
            "upstream_unavailable",
        ),
        (
            "a hung answer",
            code_exchange,
            json!({"delay_ms": 3000, "times": 1}),
            false,
            502,
            "upstream_unavailable",
        ),
        (
            "a reset connection",
            code_exchange,
            json!({"broken": "reset", "times": 1}),
            false,
            502,
            "upstream_unavailable",
        ),
        (
            "malformed JSON",
            code_exchange,
            json!({"broken": "malformed", "times": 1}),
            false,
            502,
            "upstream_unavailable",
        ),
        (
            "an HTML error page",
            code_exchange,
            json!({"broken": "html", "times": 1}),
            false,
            502,
            "upstream_unavailable",
        ),
        (
            "a redirect (following it would get a real answer)",
            code_exchange,
            json!({"broken": "redirect", "times": 1}),
            false,
            502,
            "upstream_unavailable",
        ),
        (
            "an answer over 1 MiB (reading it whole would get a real one)",
            code_exchange,
            json!({"broken": "huge", "times": 1}),
            false,
            502,
            "upstream_unavailable",
        ),
        (
            "a phone exchange that resets",
            phone_exchange,
            json!({"broken": "reset", "times": 1}),
            true,
            502,
            "upstream_unavailable",
        ),
    ];
    for (what, path, fault, with_phone, status, code) in cases {
        let mut fault = fault;
        fault["path"] = path.into();
        control::post(&http, &s, "/_sim/faults", fault).await;
        let (r, took) = login(with_phone).await;
        assert_eq!(
            r.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["error"], code, "{what}");
        assert!(took < Duration::from_millis(2500), "{what}: took {took:?}");
        assert_eq!(
            count_live_users(&db.db).await.unwrap(),
            0,
            "{what}: nothing created"
        );
        let leftover: serde_json::Value = http
            .get(format!("{s}/_sim/faults"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(leftover, json!([]), "{what}: every fault was met");
    }
    // And with WeChat well again, the same person logs in.
    let (r, _) = login(true).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
