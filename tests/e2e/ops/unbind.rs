//! An operator's unbind sticks: the next login through what was detached is somebody new, and
//! the sessions started through it end. The gateway binary, the simulator, and `wxgate user`
//! on the same database, on every backend.

use crate::login::sms::{setup_with, Setup, MP};
use crate::ops::admin_cli::wxgate;
use serde_json::{json, Value};
use wxgate_core::identity::history::audit_events_for;
use wxgate_tests::gateway::call;
use wxgate_tests::Backend;

fn me(s: &Setup, token: &str) -> Value {
    let r = tokio::task::block_in_place(|| call(s.gw.addr, "GET", "/_auth/me", "", Some(token)));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["user"].clone()
}

fn user_cli(s: &Setup, args: &[&str]) -> String {
    let (ok, out, err) = tokio::task::block_in_place(|| wxgate(&s.db, args));
    assert!(ok, "wxgate user {args:?}: {err}");
    out
}

fn refresh(s: &Setup, token: &str) -> u16 {
    let body = json!({ "refresh_token": token }).to_string();
    tokio::task::block_in_place(|| call(s.gw.addr, "POST", "/_auth/token/refresh", &body, None))
        .status
}

/// The review's reproduction: the user kept the unionid, so the next login joined it back.
async fn unbinding_the_last_identity_of_a_wechat_person_releases_it(backend: Backend) {
    let Some(s) = setup_with(backend, "", |b| b).await else {
        return;
    };
    let first = s.mini_program("alice", false).await;
    let user = first["user"]["id"].as_str().unwrap().to_string();
    let unionid = first["user"]["unionid"].as_str().unwrap().to_string();
    let openid = me(&s, first["access_token"].as_str().unwrap())["identities"][0]["openid"]
        .as_str()
        .unwrap()
        .to_string();
    let out = user_cli(
        &s,
        &["unbind", &user, &format!("{MP}:{openid}"), "--by", "ops"],
    );
    assert!(out.contains("1 session(s) ended"), "{out}");
    assert_eq!(
        refresh(&s, first["refresh_token"].as_str().unwrap()),
        401,
        "the identity's session ended"
    );
    let shown: Value = serde_json::from_str(&user_cli(&s, &["show", &user, "--json"])).unwrap();
    assert_eq!(shown["users"][0]["unionid"], Value::Null, "{shown}");

    let again = s.mini_program("alice", false).await;
    assert_eq!(again["user"]["is_new"], true, "{again}");
    assert_ne!(again["user"]["id"], user.as_str());
    assert_eq!(again["user"]["unionid"], unionid.as_str());
    let events = audit_events_for(&s.db.db, &user).await.unwrap();
    let released = events.iter().find(|e| e.kind == "unionid_released");
    assert_eq!(
        released.and_then(|e| e.actor.as_deref()),
        Some("ops"),
        "{events:?}"
    );
}

/// `unionid:<id>` detaches the whole WeChat person at once.
async fn unbinding_a_unionid_detaches_every_identity_with_it(backend: Backend) {
    let Some(s) = setup_with(backend, "", |b| b).await else {
        return;
    };
    let first = s.mini_program("alice", false).await;
    let user = first["user"]["id"].as_str().unwrap().to_string();
    let unionid = first["user"]["unionid"].as_str().unwrap().to_string();
    let out = user_cli(
        &s,
        &[
            "unbind",
            &user,
            &format!("unionid:{unionid}"),
            "--by",
            "ops",
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sessions_ended"], 1, "{v}");
    let shown: Value = serde_json::from_str(&user_cli(&s, &["show", &user, "--json"])).unwrap();
    assert_eq!(shown["users"][0]["identities"], json!([]), "{shown}");
    assert_eq!(shown["users"][0]["unionid"], Value::Null);
    let again = s.mini_program("alice", false).await;
    assert_eq!(again["user"]["is_new"], true);
    assert_ne!(again["user"]["id"], user.as_str());
}

/// Unbinding a phone ends the sessions that proved it (SMS logins), and no other.
async fn unbinding_a_phone_ends_the_sessions_that_proved_it(backend: Backend) {
    let Some(s) = setup_with(backend, "resend_after = \"1s\"", |b| b).await else {
        return;
    };
    assert_eq!(s.send("13900139000").status, 202);
    let code = s.texted("13900139000").await;
    let by_sms = s.login("13900139000", &code);
    assert_eq!(by_sms.status, 200);
    let by_sms = by_sms.json();
    let user = by_sms["user"]["id"].as_str().unwrap().to_string();
    let out = user_cli(&s, &["unbind", &user, "139 0013 9000", "--by", "ops"]);
    assert!(out.contains("1 session(s) ended"), "{out}");
    assert_eq!(refresh(&s, by_sms["refresh_token"].as_str().unwrap()), 401);
    // The phone is free: its next SMS login is somebody new.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(s.send("13900139000").status, 202);
    let code = s.texted("13900139000").await;
    let again = s.login("13900139000", &code).json();
    assert_eq!(again["user"]["is_new"], true);
}

per_backend!(
    unbinding_the_last_identity_of_a_wechat_person_releases_it,
    unbinding_a_unionid_detaches_every_identity_with_it,
    unbinding_a_phone_ends_the_sessions_that_proved_it,
);
