//! Identity events end to end: the real binary, the simulator and a receiver. A late unionid's
//! merge arrives signed; a failing receiver gets the same event again; one that was down gets
//! everything in order per user; two replicas deliver each event once; logins do not wait for
//! a receiver that hangs; `wxgate events` lists and replays.

use serde_json::{json, Value};
use std::time::Duration;
use wxgate_core::events::deliveries::Deliveries;
use wxgate_tests::control;
use wxgate_tests::gateway::{
    call, gateway_bin, Channel, GatewayBuilder, RawResponse, TestGateway, Webhook,
};
use wxgate_tests::receiver::{Received, Receiver};
use wxgate_tests::world::World;
use wxgate_tests::{Backend, TestDb};

const MP: &str = "wx00000000000000e1";
const MP2: &str = "wx00000000000000e2";
const SECRET: &str = "mp-secret";
const HOOK_SECRET: &str = "whsec_test_0123456789";

struct Setup {
    gw: TestGateway,
    sim: wxgate_sim::SimHandle,
    http: reqwest::Client,
    db: TestDb,
    /// What started `gw`: another replica starts from it.
    gateway: GatewayBuilder,
}

fn webhook(url: &str, extra: &str) -> Webhook {
    Webhook::new("svc", url, HOOK_SECRET)
        .with("backoff = \"100ms\"\nmax_backoff = \"400ms\"")
        .with(extra)
}

/// MP starts outside the open platform (no unionid), MP2 inside it.
async fn setup(backend: Backend, hook: Webhook) -> Option<Setup> {
    setup_with_server(backend, "", hook).await
}

async fn setup_with_server(backend: Backend, server_toml: &str, hook: Webhook) -> Option<Setup> {
    let db = TestDb::new(backend).await?;
    let world = World::start().await;
    world.mini_program(MP, SECRET, None).await;
    world.mini_program(MP2, SECRET, Some("op1")).await;
    for name in ["alice", "bob", "carol"] {
        world.person(name, None).await;
    }
    let s = world.base();
    let World { sim, http } = world;
    let gateway = TestGateway::builder(&db.url, &db.dir)
        .server(server_toml)
        .channel(Channel::mini_program("mp", MP, SECRET, &s))
        .channel(Channel::mini_program("mp2", MP2, SECRET, &s))
        .webhook(hook);
    let gw = tokio::task::block_in_place(|| gateway.start());
    Some(Setup {
        gw,
        sim,
        http,
        db,
        gateway,
    })
}

impl Setup {
    async fn login_on(&self, gw: &TestGateway, channel: &str, appid: &str, user: &str) -> Value {
        let code = control::post(
            &self.http,
            &self.sim.base_url(),
            "/_sim/login_code",
            json!({"appid": appid, "user": user}),
        )
        .await;
        let body = json!({ "code": code["code"] }).to_string();
        let r: RawResponse = tokio::task::block_in_place(|| {
            call(
                gw.addr,
                "POST",
                &format!("/_auth/{channel}/login"),
                &body,
                None,
            )
        });
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    async fn login(&self, channel: &str, appid: &str, user: &str) -> Value {
        self.login_on(&self.gw, channel, appid, user).await
    }

    /// Every event the outbox holds, oldest first.
    async fn events(&self) -> Vec<wxgate_core::events::Event> {
        let mut all: Vec<_> = Deliveries::new(self.db.db.clone())
            .list(false, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        all.reverse();
        all
    }
}

fn first_receipts(received: &[Received]) -> Vec<&Received> {
    let mut seen = std::collections::HashSet::new();
    received
        .iter()
        .filter(|r| r.status < 300 && seen.insert(r.id.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_unionid_merge_reaches_the_receiver_signed() {
    let receiver = Receiver::start(HOOK_SECRET).await;
    let s = setup(Backend::Sqlite, webhook(&receiver.url(), ""))
        .await
        .unwrap();
    let older = s.login("mp", MP, "alice").await;
    let younger = s.login("mp2", MP2, "alice").await;
    let (a, b) = (older["user"]["id"].clone(), younger["user"]["id"].clone());
    assert_ne!(a, b, "without a unionid on MP, two users");
    // MP joins the open platform: its next login reports the unionid, which merges them.
    control::post(
        &s.http,
        &s.sim.base_url(),
        "/_sim/apps",
        json!({"appid": MP, "secret": SECRET, "kind": "miniprogram", "open_platform": "op1"}),
    )
    .await;
    let merged = s.login("mp", MP, "alice").await;
    assert_eq!(merged["user"]["id"], a, "the older user survives");

    let got = receiver
        .wait_until(Duration::from_secs(15), |r| {
            r.iter().any(|r| r.kind == "user.merged")
        })
        .await;
    let m = got
        .iter()
        .find(|r| r.kind == "user.merged")
        .unwrap_or_else(|| panic!("no user.merged in {got:?}"));
    assert!(m.signature_ok, "signed with the webhook's secret");
    assert_eq!(m.status, 204);
    assert_eq!(m.header_id, m.id);
    assert!(m.id.starts_with("evt_"));
    assert_eq!(m.body["data"], json!({ "survivor": a, "absorbed": b }));
    assert!(m.body["time"].as_str().unwrap().ends_with('Z'));
    // Everything before it arrived too, each once.
    let kinds: Vec<&str> = first_receipts(&got)
        .iter()
        .map(|r| r.kind.as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "user.created").count(),
        2,
        "{kinds:?}"
    );
    assert!(got.iter().all(|r| r.signature_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_twice_gets_the_event_a_third_time_with_the_same_id() {
    let receiver = Receiver::start(HOOK_SECRET).await;
    receiver.fail_next(2);
    let metrics = wxgate_tests::gateway::free_port();
    let s = setup_with_server(
        Backend::Sqlite,
        &format!("metrics_listen = \"127.0.0.1:{metrics}\""),
        webhook(&receiver.url(), "events = [\"user.created\"]"),
    )
    .await
    .unwrap();
    let user = s.login("mp", MP, "bob").await["user"]["id"].clone();
    let got = receiver
        .wait_until(Duration::from_secs(15), |r| {
            r.iter().any(|r| r.status == 204)
        })
        .await;
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 204]);
    assert!(
        got.windows(2).all(|w| w[0].id == w[1].id),
        "the same event each time"
    );
    assert!(got
        .iter()
        .all(|r| r.kind == "user.created" && r.body["data"]["user"] == user));
    let listed = Deliveries::new(s.db.db.clone())
        .list(false, 10)
        .await
        .unwrap();
    let state = &listed.iter().find(|(e, _)| e.id == got[0].id).unwrap().1[0];
    assert_eq!((state.status.as_str(), state.attempts), ("delivered", 3));
    assert_eq!(
        listed.len(),
        2,
        "identity.bound is written but not wanted here"
    );
    let text = reqwest::get(format!("http://127.0.0.1:{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "wxgate_event_deliveries_total{outcome=\"retried\",webhook=\"svc\"} 2",
        "wxgate_event_deliveries_total{outcome=\"delivered\",webhook=\"svc\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    for gauge in [
        "wxgate_events_pending",
        "wxgate_events_oldest_pending_seconds",
        "wxgate_events_failed",
    ] {
        assert!(
            text.contains(&format!("{gauge}{{webhook=\"svc\"}}")),
            "{gauge} missing"
        );
    }
    assert!(listed
        .iter()
        .find(|(e, _)| e.kind == "identity.bound")
        .unwrap()
        .1
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_was_down_gets_everything_in_order_per_user() {
    let port = wxgate_tests::gateway::free_port();
    let url = format!("http://127.0.0.1:{port}/events");
    let s = setup(Backend::Sqlite, webhook(&url, "")).await.unwrap();
    for user in ["alice", "bob", "carol"] {
        s.login("mp", MP, user).await;
        s.login("mp2", MP2, user).await;
    }
    // Deliveries fail while nobody listens (connection refused), and back off.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let written = s.events().await;
    // MP reports no unionid: each person is two users here, each created and bound.
    assert_eq!(written.len(), 12);
    let receiver =
        Receiver::start_on(format!("127.0.0.1:{port}").parse().unwrap(), HOOK_SECRET).await;
    let got = receiver
        .wait_until(Duration::from_secs(20), |r| {
            first_receipts(r).len() == written.len()
        })
        .await;
    let firsts = first_receipts(&got);
    assert_eq!(firsts.len(), written.len(), "everything arrives: {got:?}");
    // Per user, in the order the changes were made.
    let mut users: Vec<&str> = written.iter().map(|e| e.user_id.as_str()).collect();
    users.dedup();
    for user in users {
        let expected: Vec<&str> = written
            .iter()
            .filter(|e| e.user_id == user)
            .map(|e| e.id.as_str())
            .collect();
        let arrived: Vec<&str> = firsts
            .iter()
            .filter(|r| r.body["data"]["user"] == user)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(arrived, expected, "order for {user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_do_not_wait_for_a_receiver_that_hangs() {
    let receiver = Receiver::start(HOOK_SECRET).await;
    receiver.hold(true);
    let s = setup(Backend::Sqlite, webhook(&receiver.url(), ""))
        .await
        .unwrap();
    s.login("mp", MP, "alice").await;
    receiver
        .wait_until(Duration::from_secs(10), |r| {
            r.is_empty() && receiver.in_flight() > 0
        })
        .await;
    assert!(receiver.in_flight() > 0, "a delivery is being held open");
    // While the receiver holds it, logins of other people complete.
    for user in ["bob", "carol"] {
        s.login("mp", MP, user).await;
        s.login("mp2", MP2, user).await;
    }
    assert!(
        receiver.in_flight() > 0,
        "still held: the logins did not wait for it"
    );
    assert!(receiver.received().is_empty());
    receiver.hold(false);
    let written = s.events().await.len();
    let got = receiver
        .wait_until(Duration::from_secs(20), |r| {
            first_receipts(r).len() == written
        })
        .await;
    assert_eq!(first_receipts(&got).len(), written);
}

/// Two replicas with the same webhook on one database: each event reaches the receiver once.
async fn two_replicas_deliver_each_event_once(backend: Backend) {
    let receiver = Receiver::start(HOOK_SECRET).await;
    let Some(s) = setup(backend, webhook(&receiver.url(), "")).await else {
        return;
    };
    let b = tokio::task::block_in_place(|| s.gateway.start());
    for (i, user) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let (first, second) = if i % 2 == 0 { (&s.gw, &b) } else { (&b, &s.gw) };
        s.login_on(first, "mp", MP, user).await;
        s.login_on(second, "mp2", MP2, user).await;
    }
    let written = s.events().await.len();
    let got = receiver
        .wait_until(Duration::from_secs(20), |r| {
            first_receipts(r).len() == written
        })
        .await;
    assert_eq!(first_receipts(&got).len(), written);
    // Give a duplicate the time to show up, then count.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.received();
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "an event was delivered twice: {got:?}");
    assert_eq!(ids.len(), written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once_on_sqlite() {
    two_replicas_deliver_each_event_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once_on_postgres() {
    two_replicas_deliver_each_event_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once_on_mariadb() {
    two_replicas_deliver_each_event_once(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_events_are_listed_and_replayed_by_the_cli() {
    let receiver = Receiver::start(HOOK_SECRET).await;
    receiver.fail_next(1000);
    let hook = webhook(
        &receiver.url(),
        "events = [\"user.created\"]\nretry_for = \"1500ms\"",
    );
    let s = setup(Backend::Sqlite, hook).await.unwrap();
    s.login("mp", MP, "carol").await;
    let config = s.gw.config_path();
    let cli = |args: &[&str]| wxgate_tests::gateway::cli(args, &config);
    let mut parked = Value::Null;
    for _ in 0..100 {
        parked = serde_json::from_str(&cli(&["events", "list", "--failed", "--json"])).unwrap();
        if parked.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event = &parked[0];
    assert_eq!(event["type"], "user.created");
    assert_eq!(event["deliveries"][0]["status"], "failed");
    assert_eq!(event["deliveries"][0]["last_error"], "HTTP 500");
    let attempts = event["deliveries"][0]["attempts"].as_i64().unwrap();
    assert!(attempts >= 2, "{event}");
    let text = cli(&["events", "list"]);
    assert!(text.contains("svc: failed after"), "{text}");

    receiver.fail_next(0);
    let id = event["id"].as_str().unwrap();
    let out = cli(&["events", "replay", id]);
    assert!(out.starts_with("1 deliver"), "{out}");
    let got = receiver
        .wait_until(Duration::from_secs(10), |r| {
            r.iter().any(|r| r.status == 204)
        })
        .await;
    let ok: Vec<&Received> = got.iter().filter(|r| r.status == 204).collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].id, id, "the same event, by its id");
    let unknown = std::process::Command::new(gateway_bin())
        .args(["events", "replay", "evt_nope", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no event \"evt_nope\""));
}
