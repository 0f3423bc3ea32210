//! The official account: temporary QR codes and their image, user/info, JS-SDK tickets, and the
//! pushes to the account's server URL in the plain, compat and safe modes (wechat-api.md §12–13).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::oa_receiver::{sha1_sorted, xml_field, Answer, Receiver};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const TOKEN: &str = "oa-test-token";
const SCENE: &str = "Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR";

async fn access_token(sim: &Sim, appid: &str, secret: &str) -> String {
    string(&sim.stable_token(appid, secret, false).await["access_token"])
}

/// `POST /cgi-bin/qrcode/create` with a raw body.
async fn create(sim: &Sim, token: &str, body: &str) -> Value {
    let response = sim
        .client
        .post(sim.url(&format!("/cgi-bin/qrcode/create?access_token={token}")))
        .body(body.to_owned())
        .send()
        .await
        .expect("POST");
    wechat_body(response).await
}

/// A temporary code for `scene`, living 300 s.
async fn temporary_code(sim: &Sim, token: &str, scene: &str) -> Value {
    let body = json!({"expire_seconds": 300, "action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}});
    let code = create(sim, token, &body.to_string()).await;
    assert_eq!(errcode(&code), 0, "{code}");
    code
}

/// Registers an official account; `extra` adds or overrides fields of the spec.
async fn add_account(sim: &Sim, appid: &str, extra: Value) {
    let mut spec = json!({"appid": appid, "secret": "s", "kind": "official_account"});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    sim.control("/_sim/apps", spec).await;
}

async fn user_info(sim: &Sim, token: &str, openid: &str) -> Value {
    sim.get(&format!(
        "/cgi-bin/user/info?access_token={token}&openid={openid}&lang=zh_CN"
    ))
    .await
}

fn encoded(ticket: &str) -> String {
    url::form_urlencoded::byte_serialize(ticket.as_bytes()).collect()
}

#[tokio::test]
async fn qrcode_create_answers_tickets_and_remembers_codes() {
    let sim = Sim::start().await;
    let token = access_token(&sim, OA, OA_SECRET).await;
    let code = temporary_code(&sim, &token, SCENE).await;
    assert_eq!(code["expire_seconds"], 300);
    let ticket = string(&code["ticket"]);
    assert!(ticket.contains('+') && ticket.contains('/') && ticket.ends_with('='));
    assert!(string(&code["url"]).starts_with("http://weixin.qq.com/q/"));

    let no_expiry =
        json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "a"}}});
    assert_eq!(
        create(&sim, &token, &no_expiry.to_string()).await["expire_seconds"],
        60
    );
    let too_long = json!({"expire_seconds": 9_999_999, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 42}}});
    assert_eq!(
        create(&sim, &token, &too_long.to_string()).await["expire_seconds"],
        2_592_000
    );
    let permanent = json!({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "forever"}}});
    let permanent = create(&sim, &token, &permanent.to_string()).await;
    assert!(permanent.get("expire_seconds").is_none() && permanent["ticket"].is_string());

    let now = sim.control_get("/_sim/clock").await.1["now"]
        .as_i64()
        .expect("now");
    let (status, made) = sim.control_get("/_sim/qrcodes").await;
    assert_eq!(status, StatusCode::OK);
    let scenes: Vec<&Value> = made
        .as_array()
        .expect("list")
        .iter()
        .map(|c| &c["scene"])
        .collect();
    assert_eq!(scenes, [SCENE, "a", "42", "forever"]);
    assert_eq!(made[0]["appid"], OA);
    assert_eq!(made[0]["ticket"], ticket.as_str());
    let expires_at = made[0]["expires_at"].as_i64().expect("expires_at");
    assert!(
        (now + 299..=now + 300).contains(&expires_at),
        "{expires_at} vs {now}"
    );
    assert_eq!(made[3]["expires_at"], Value::Null);
}

#[tokio::test]
async fn qrcode_create_errors() {
    let sim = Sim::start().await;
    let token = access_token(&sim, OA, OA_SECRET).await;
    let scene = |s: Value| {
        json!({"expire_seconds": 60, "action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": s}}}).to_string()
    };
    let cases = [
        ("action_name=QR_STR_SCENE".to_owned(), 47001),
        (
            json!({"expire_seconds": 60, "action_name": "QR_STR_SCENE"}).to_string(),
            40097,
        ),
        (scene(json!("")), 40097),
        (scene(json!("x".repeat(65))), 40097),
        (
            json!({"action_name": "QR_NOPE", "action_info": {"scene": {"scene_str": "a"}}})
                .to_string(),
            40097,
        ),
    ];
    for (body, expected) in cases {
        assert_err(&create(&sim, &token, &body).await, expected);
    }
    assert_eq!(
        errcode(&create(&sim, &token, &scene(json!("x".repeat(64)))).await),
        0
    );
    assert_err(
        &create(&sim, "not-a-token", &scene(json!("a"))).await,
        40001,
    );

    add_account(
        &sim,
        "wx00000000000000c1",
        json!({"service_account": false}),
    )
    .await;
    let subscription = access_token(&sim, "wx00000000000000c1", "s").await;
    assert_err(
        &create(&sim, &subscription, &scene(json!("a"))).await,
        48001,
    );
    let mini_program = access_token(&sim, MP, MP_SECRET).await;
    assert_err(
        &create(&sim, &mini_program, &scene(json!("a"))).await,
        48001,
    );

    sim.advance(7200).await;
    assert_err(&create(&sim, &token, &scene(json!("a"))).await, 42001);
}

#[tokio::test]
async fn qrcode_create_is_counted_and_takes_faults() {
    let sim = Sim::start().await;
    let token = access_token(&sim, OA, OA_SECRET).await;
    sim.control(
        "/_sim/faults",
        json!({"path": "/cgi-bin/qrcode/create", "errcode": 45009, "times": 1}),
    )
    .await;
    let body = json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "a"}}});
    assert_err(&create(&sim, &token, &body.to_string()).await, 45009);
    assert_eq!(errcode(&create(&sim, &token, &body.to_string()).await), 0);
    let calls = sim.control_get("/_sim/calls").await.1;
    assert_eq!(calls["/cgi-bin/qrcode/create"], 2);
}

#[tokio::test]
async fn showqrcode_is_a_png_carrying_its_ticket_until_it_expires() {
    let sim = Sim::start().await;
    let token = access_token(&sim, OA, OA_SECRET).await;
    let ticket = string(&temporary_code(&sim, &token, SCENE).await["ticket"]);
    let response = sim
        .get_raw(&format!("/cgi-bin/showqrcode?ticket={}", encoded(&ticket)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    let png = response.bytes().await.expect("png");
    assert_eq!(wxgate_sim::ticket_of_qrcode(&png), Some(ticket.clone()));
    assert_eq!(wxgate_sim::ticket_of_qrcode(b"not a png"), None);

    // A ticket sent without URL-encoding loses its '+' to a space.
    let raw = sim
        .get_raw(&format!("/cgi-bin/showqrcode?ticket={ticket}"))
        .await;
    assert_eq!(raw.status(), StatusCode::NOT_FOUND);
    let unknown = sim.get_raw("/cgi-bin/showqrcode?ticket=gQnope").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    sim.advance(300).await;
    let expired = sim
        .get_raw(&format!("/cgi-bin/showqrcode?ticket={}", encoded(&ticket)))
        .await;
    assert_eq!(expired.status(), StatusCode::NOT_FOUND);
    assert!(!expired.text().await.expect("text").is_empty());
}

#[tokio::test]
async fn user_info_for_followers_non_followers_and_foreign_openids() {
    let sim = Sim::start().await;
    let receiver = Receiver::start(TOKEN, None, OA, Answer::Success).await;
    add_account(&sim, OA, json!({"secret": OA_SECRET, "open_platform": "demo-open", "message_token": TOKEN, "server_url": receiver.url})).await;
    let token = access_token(&sim, OA, OA_SECRET).await;
    temporary_code(&sim, &token, SCENE).await;
    let report = sim
        .control(
            "/_sim/officialaccount/scan",
            json!({"appid": OA, "user": "alice", "scene": SCENE}),
        )
        .await;
    assert_eq!(report["status"], 200, "{report}");

    let alice = sim.identity(OA, "alice").await;
    let info = user_info(&sim, &token, &string(&alice["openid"])).await;
    assert_eq!(info["subscribe"], 1, "{info}");
    assert_eq!(info["openid"], alice["openid"]);
    assert_eq!(info["unionid"], alice["unionid"]);
    assert_eq!(info["unionid"], sim.identity(MP, "alice").await["unionid"]);
    assert_eq!(info["subscribe_scene"], "ADD_SCENE_QR_CODE");
    assert_eq!(info["qr_scene_str"], SCENE);
    assert_eq!(info["qr_scene"], 0);
    assert_eq!(info["sex"], 0);
    assert_eq!(info["tagid_list"], json!([]));
    let since = info["subscribe_time"].as_i64().expect("subscribe_time");
    let now = sim.control_get("/_sim/clock").await.1["now"]
        .as_i64()
        .expect("now");
    assert!((now - 5..=now).contains(&since));

    let bob = sim.identity(OA, "bob").await;
    let info = user_info(&sim, &token, &string(&bob["openid"])).await;
    assert_eq!(
        info,
        json!({"subscribe": 0, "openid": bob["openid"], "unionid": bob["unionid"]})
    );

    let foreign = sim.identity(MP, "bob").await;
    assert_err(
        &user_info(&sim, &token, &string(&foreign["openid"])).await,
        40003,
    );
    assert_err(
        &user_info(&sim, "not-a-token", &string(&bob["openid"])).await,
        40001,
    );
    sim.advance(7200).await;
    assert_err(
        &user_info(&sim, &token, &string(&bob["openid"])).await,
        42001,
    );
}

#[tokio::test]
async fn user_info_has_no_unionid_without_an_open_platform() {
    let sim = Sim::start().await;
    let appid = "wx00000000000000c2";
    let receiver = Receiver::start(TOKEN, None, appid, Answer::Success).await;
    add_account(
        &sim,
        appid,
        json!({"message_token": TOKEN, "server_url": receiver.url}),
    )
    .await;
    let token = access_token(&sim, appid, "s").await;
    sim.control(
        "/_sim/officialaccount/push",
        json!({"appid": appid, "user": "alice", "event": "subscribe"}),
    )
    .await;
    let alice = sim.identity(appid, "alice").await;
    let info = user_info(&sim, &token, &string(&alice["openid"])).await;
    assert_eq!(info["subscribe"], 1, "{info}");
    assert_eq!(info["subscribe_scene"], "ADD_SCENE_OTHERS");
    assert!(info.get("unionid").is_none(), "{info}");
    let bob = sim.identity(appid, "bob").await;
    let info = user_info(&sim, &token, &string(&bob["openid"])).await;
    assert_eq!(info, json!({"subscribe": 0, "openid": bob["openid"]}));

    // A genuine unsubscribe push means the person left.
    sim.control(
        "/_sim/officialaccount/push",
        json!({"appid": appid, "user": "alice", "event": "unsubscribe"}),
    )
    .await;
    assert_eq!(
        user_info(&sim, &token, &string(&alice["openid"])).await["subscribe"],
        0
    );
}

#[tokio::test]
async fn getticket_issues_a_fresh_jsapi_ticket_each_call() {
    let sim = Sim::start().await;
    let token = access_token(&sim, OA, OA_SECRET).await;
    let path =
        |t: &str, kind: &str| format!("/cgi-bin/ticket/getticket?access_token={t}&type={kind}");
    let first = sim.get(&path(&token, "jsapi")).await;
    assert_eq!(first["errcode"], 0, "{first}");
    assert_eq!(first["errmsg"], "ok");
    assert_eq!(first["expires_in"], 7200);
    assert_eq!(string(&first["ticket"]).len(), 86);
    let second = sim.get(&path(&token, "wx_card")).await;
    assert_eq!(second["errcode"], 0);
    assert_ne!(second["ticket"], first["ticket"]);

    assert_err(&sim.get(&path(&token, "nope")).await, 40097);
    assert_err(&sim.get(&path("not-a-token", "jsapi")).await, 40001);
    let mini_program = access_token(&sim, MP, MP_SECRET).await;
    assert_err(&sim.get(&path(&mini_program, "jsapi")).await, 48001);
    sim.advance(7200).await;
    assert_err(&sim.get(&path(&token, "jsapi")).await, 42001);
}

/// Scans a fresh code twice in `mode` and checks both pushes end to end.
async fn scan_twice(sim: &Sim, appid: &str, secret: &str, token: &str, key: &str, mode: &str) {
    let receiver = Receiver::start(token, Some(key), appid, Answer::Text("欢迎")).await;
    sim.sim.set_server_url(appid, &receiver.url);
    let access = access_token(sim, appid, secret).await;
    let code = temporary_code(sim, &access, SCENE).await;
    let ticket = string(&code["ticket"]);
    let openid = string(&sim.identity(appid, "alice").await["openid"]);
    let original = wxgate_sim::original_id(appid);

    let report = sim
        .control(
            "/_sim/officialaccount/scan",
            json!({"appid": appid, "user": "alice", "ticket": ticket}),
        )
        .await;
    let seen = receiver.last();
    assert!(seen.signature_ok, "{mode}: {report}");
    assert_eq!(seen.query, string(&report["sent"]["query"]), "{mode}");
    assert_eq!(seen.body, string(&report["sent"]["body"]), "{mode}");
    assert_eq!(seen.params["openid"], openid);
    assert_eq!(seen.field("ToUserName").as_deref(), Some(original.as_str()));
    assert_eq!(seen.field("FromUserName"), Some(openid.clone()));
    assert_eq!(seen.field("MsgType").as_deref(), Some("event"));
    assert_eq!(seen.field("Event").as_deref(), Some("subscribe"));
    assert_eq!(seen.field("EventKey"), Some(format!("qrscene_{SCENE}")));
    assert_eq!(seen.field("Ticket"), Some(ticket.clone()));
    let encrypted = mode != "plain";
    assert_eq!(seen.msg_signature_ok, encrypted.then_some(true), "{mode}");
    if encrypted {
        assert_eq!(seen.params["encrypt_type"], "aes");
        assert_eq!(seen.appid.as_deref(), Some(appid));
        // Safe mode carries nothing else in the clear; compat mode carries both.
        assert_eq!(
            xml_field(&seen.body, "Event").is_some(),
            mode == "compat",
            "{mode}"
        );
        assert_eq!(xml_field(&seen.body, "ToUserName"), Some(original.clone()));
    } else {
        assert!(!seen.query.contains("encrypt_type") && !seen.body.contains("<Encrypt>"));
    }
    assert_eq!(report["status"], 200);
    assert_eq!(report["timed_out"], false);
    assert!(report["elapsed_ms"].as_u64().is_some());
    let signature_ok = if encrypted { json!(true) } else { Value::Null };
    assert_eq!(
        report["reply"],
        json!({"kind": "text", "content": "欢迎", "to": openid, "from": original, "encrypted": encrypted, "signature_ok": signature_ok}),
        "{mode}: {report}"
    );

    // Now a follower: SCAN, and the scene without the prefix.
    let again = sim
        .control(
            "/_sim/officialaccount/scan",
            json!({"appid": appid, "user": "alice", "scene": SCENE}),
        )
        .await;
    let seen = receiver.last();
    assert_eq!(
        seen.field("Event").as_deref(),
        Some("SCAN"),
        "{mode}: {again}"
    );
    assert_eq!(seen.field("EventKey").as_deref(), Some(SCENE));
    assert_eq!(seen.field("Ticket"), Some(ticket));
    assert_eq!(receiver.seen().len(), 2);
}

#[tokio::test]
async fn scans_push_subscribe_then_scan_in_the_plain_mode() {
    let sim = Sim::start().await;
    let appid = "wx00000000000000a1";
    add_account(
        &sim,
        appid,
        json!({"message_token": TOKEN, "message_mode": "plain"}),
    )
    .await;
    scan_twice(&sim, appid, "s", TOKEN, KEY, "plain").await;
}

#[tokio::test]
async fn scans_push_subscribe_then_scan_in_the_compat_mode() {
    let sim = Sim::start().await;
    let appid = "wx00000000000000a2";
    add_account(
        &sim,
        appid,
        json!({"message_token": TOKEN, "encoding_aes_key": KEY, "message_mode": "compat"}),
    )
    .await;
    scan_twice(&sim, appid, "s", TOKEN, KEY, "compat").await;
}

#[tokio::test]
async fn the_demo_account_pushes_in_the_safe_mode() {
    let sim = Sim::start().await;
    assert_eq!(wxgate_sim::DEMO_OA_MESSAGE_TOKEN, "wxgateDevToken");
    let key = wxgate_sim::DEMO_OA_ENCODING_AES_KEY;
    scan_twice(&sim, OA, OA_SECRET, "wxgateDevToken", key, "safe").await;
}

#[tokio::test]
async fn an_expired_or_unknown_code_pushes_nothing() {
    let sim = Sim::start().await;
    let receiver = Receiver::start(TOKEN, Some(KEY), OA, Answer::Success).await;
    sim.sim.set_server_url(OA, &receiver.url);
    let token = access_token(&sim, OA, OA_SECRET).await;
    let ticket = string(&temporary_code(&sim, &token, SCENE).await["ticket"]);
    sim.advance(300).await;
    for body in [
        json!({"appid": OA, "user": "alice", "ticket": ticket}),
        json!({"appid": OA, "user": "alice", "scene": SCENE}),
        json!({"appid": OA, "user": "alice", "ticket": "gQnope"}),
    ] {
        let (status, answer) = sim.control_status("/_sim/officialaccount/scan", body).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(string(&answer["error"]).contains("expired"), "{answer}");
    }
    assert!(receiver.seen().is_empty());
    let alice = string(&sim.identity(OA, "alice").await["openid"]);
    assert_eq!(user_info(&sim, &token, &alice).await["subscribe"], 0);
}

#[tokio::test]
async fn tampered_pushes_fail_the_checks_they_name() {
    let sim = Sim::start().await;
    let receiver = Receiver::start(
        "wxgateDevToken",
        Some(wxgate_sim::DEMO_OA_ENCODING_AES_KEY),
        OA,
        Answer::Success,
    )
    .await;
    sim.sim.set_server_url(OA, &receiver.url);
    let push = |tamper: &str| json!({"appid": OA, "user": "bob", "event": "subscribe", "event_key": "qrscene_x", "tamper": tamper});

    let report = sim
        .control("/_sim/officialaccount/push", push("signature"))
        .await;
    let seen = receiver.last();
    assert!(!seen.signature_ok && seen.msg_signature_ok == Some(true));
    assert_eq!(report["status"], 403);
    assert_eq!(report["reply"], json!({"kind": "invalid"}));

    sim.control("/_sim/officialaccount/push", push("msg_signature"))
        .await;
    let seen = receiver.last();
    assert!(seen.signature_ok && seen.msg_signature_ok == Some(false));

    sim.control("/_sim/officialaccount/push", push("appid"))
        .await;
    let seen = receiver.last();
    assert!(seen.signature_ok && seen.msg_signature_ok == Some(true));
    assert!(seen.appid.as_deref().is_some_and(|a| a != OA));
    assert_eq!(seen.field("Event").as_deref(), Some("subscribe"));

    // Forgeries change nothing in the world; plain mode has no msg_signature to tamper with.
    let token = access_token(&sim, OA, OA_SECRET).await;
    let bob = string(&sim.identity(OA, "bob").await["openid"]);
    assert_eq!(user_info(&sim, &token, &bob).await["subscribe"], 0);
    let mut plain = push("msg_signature");
    plain["mode"] = json!("plain");
    let (status, answer) = sim
        .control_status("/_sim/officialaccount/push", plain)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

#[tokio::test]
async fn push_sends_text_messages_with_the_given_envelope() {
    let sim = Sim::start().await;
    let receiver = Receiver::start(TOKEN, None, OA, Answer::Json).await;
    add_account(
        &sim,
        OA,
        json!({"secret": OA_SECRET, "message_token": TOKEN}),
    )
    .await;
    let body = json!({"appid": OA, "user": "alice", "text": "hello", "create_time": 1_796_040_000, "timestamp": 1_796_040_001, "nonce": "1320562132", "url": receiver.url});
    let report = sim.control("/_sim/officialaccount/push", body).await;
    let seen = receiver.last();
    assert!(seen.signature_ok);
    assert_eq!(seen.params["timestamp"], "1796040001");
    assert_eq!(
        seen.params["signature"],
        sha1_sorted(&[TOKEN, "1796040001", "1320562132"])
    );
    assert_eq!(seen.field("MsgType").as_deref(), Some("text"));
    assert_eq!(seen.field("Content").as_deref(), Some("hello"));
    assert_eq!(seen.field("CreateTime").as_deref(), Some("1796040000"));
    assert!(seen
        .field("MsgId")
        .is_some_and(|id| id.parse::<u64>().is_ok()));
    // A JSON answer is no reply WeChat can use.
    assert_eq!(report["reply"], json!({"kind": "invalid"}), "{report}");

    let (status, answer) = sim
        .control_status(
            "/_sim/officialaccount/push",
            json!({"appid": OA, "user": "alice", "text": "a", "event": "CLICK"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

#[tokio::test]
async fn a_success_answer_reads_as_no_reply_and_a_dead_server_as_a_transport_error() {
    let sim = Sim::start().await;
    let receiver = Receiver::start(TOKEN, None, OA, Answer::Success).await;
    add_account(
        &sim,
        OA,
        json!({"secret": OA_SECRET, "message_token": TOKEN, "server_url": receiver.url}),
    )
    .await;
    let click = json!({"appid": OA, "user": "alice", "event": "CLICK", "event_key": "menu_login"});
    let report = sim
        .control("/_sim/officialaccount/push", click.clone())
        .await;
    assert_eq!(report["reply"], json!({"kind": "none"}));
    assert_eq!(
        receiver.last().field("EventKey").as_deref(),
        Some("menu_login")
    );

    let url = receiver.url.clone();
    drop(receiver);
    let mut dead = click;
    dead["url"] = json!(url);
    let report = sim.control("/_sim/officialaccount/push", dead).await;
    assert_eq!(report["status"], Value::Null);
    assert_eq!(report["timed_out"], false);
    assert!(report["transport_error"].is_string(), "{report}");
}

#[tokio::test]
async fn a_server_slower_than_five_seconds_times_out() {
    let sim = Sim::start().await;
    let receiver = Receiver::start(TOKEN, None, OA, Answer::Sleep(Duration::from_secs(6))).await;
    add_account(
        &sim,
        OA,
        json!({"secret": OA_SECRET, "message_token": TOKEN, "server_url": receiver.url}),
    )
    .await;
    let started = Instant::now();
    let report = sim
        .control(
            "/_sim/officialaccount/push",
            json!({"appid": OA, "user": "alice", "event": "SCAN", "event_key": "x"}),
        )
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(4900) && took < Duration::from_millis(5800),
        "{took:?}"
    );
    assert_eq!(report["timed_out"], true, "{report}");
    assert_eq!(report["status"], Value::Null);
    assert_eq!(report["reply"], Value::Null);
    let elapsed = report["elapsed_ms"].as_u64().expect("elapsed_ms");
    assert!((4900..5800).contains(&elapsed), "{elapsed}");
}

#[tokio::test]
async fn official_account_settings_are_validated() {
    let sim = Sim::start().await;
    let cases = [
        json!({"encoding_aes_key": "too-short"}),
        json!({"encoding_aes_key": "!".repeat(43)}),
        json!({"message_mode": "safe"}),
        json!({"message_mode": "loud"}),
        json!({"server_url": "ftp://example.com/"}),
        json!({"kind": "miniprogram", "service_account": true}),
    ];
    for extra in cases {
        let mut spec =
            json!({"appid": "wx00000000000000c3", "secret": "s", "kind": "official_account"});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        let (status, answer) = sim.control_status("/_sim/apps", spec).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["error"].is_string());
    }
    // Without a server URL or token there is nothing to push to.
    add_account(&sim, "wx00000000000000c3", json!({})).await;
    let (status, answer) = sim
        .control_status(
            "/_sim/officialaccount/push",
            json!({"appid": "wx00000000000000c3", "user": "alice", "event": "subscribe"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(string(&answer["error"]).contains("server_url"), "{answer}");
}

#[tokio::test]
async fn the_scan_page_lists_live_codes_and_scans_by_form() {
    let sim = Sim::start().await;
    let receiver = Receiver::start(
        "wxgateDevToken",
        Some(wxgate_sim::DEMO_OA_ENCODING_AES_KEY),
        OA,
        Answer::Text("ok"),
    )
    .await;
    sim.sim.set_server_url(OA, &receiver.url);
    let token = access_token(&sim, OA, OA_SECRET).await;
    let ticket = string(&temporary_code(&sim, &token, SCENE).await["ticket"]);
    let page = sim.get_raw("/_sim/officialaccount/scan").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains(SCENE) && html.contains("scan as alice") && html.contains("scan as bob"));

    let form = format!("appid={OA}&user=bob&ticket={}&page=1", encoded(&ticket));
    let posted = sim
        .client
        .post(sim.url("/_sim/officialaccount/scan"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("form POST");
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    assert_eq!(receiver.last().field("Event").as_deref(), Some("subscribe"));
    let html = sim
        .get_raw("/_sim/officialaccount/scan")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Last scan") && html.contains("&quot;kind&quot;: &quot;text&quot;"),
        "{html}"
    );
}
