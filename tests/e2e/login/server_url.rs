//! The official account's server URL as a good citizen: pushes that are not follow-to-login go
//! to `forward_to` as they came and its answer goes back to WeChat; with nowhere to go they get
//! `success`; and a push is answered within WeChat's 5 seconds while the database hangs.

use super::follow::{setup, Shape};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use wxgate_tests::control;
use wxgate_tests::web::Browser;
use wxgate_tests::Backend;

/// A backend's own WeChat handler: records what it got and answers with a passive reply.
#[derive(Clone, Default)]
struct Handler(Arc<Mutex<Vec<(String, String)>>>);

const ITS_REPLY: &str =
    "<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[from the backend]]></Content></xml>";

async fn handle(State(h): State<Handler>, RawQuery(q): RawQuery, body: Bytes) -> &'static str {
    h.0.lock().unwrap().push((
        q.unwrap_or_default(),
        String::from_utf8_lossy(&body).into_owned(),
    ));
    ITS_REPLY
}

async fn start_handler() -> (std::net::SocketAddr, Handler) {
    let h = Handler::default();
    let app = Router::new()
        .route("/wechat", post(handle))
        .with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, h)
}

/// A text message, an unsubscribe and a scan of the account's own campaign code reach the
/// backend unchanged (query and sealed body), and its reply reaches the person.
async fn other_pushes_go_to_forward_to(backend: Backend) {
    let (addr, handler) = start_handler().await;
    let message = format!(
        ", encoding_aes_key = \"{}\", forward_to = \"http://{addr}/wechat\"",
        super::follow::KEY
    );
    let Some(s) = setup(
        backend,
        Shape {
            message: &message,
            ..Shape::default()
        },
    )
    .await
    else {
        return;
    };
    let mut last = None;
    for fields in [
        json!({"user": "alice", "text": "你好"}),
        json!({"user": "alice", "event": "SCAN", "event_key": "campaign-7"}),
        json!({"user": "alice", "event": "unsubscribe"}),
    ] {
        let report = s.push(fields.clone()).await;
        assert_eq!(report["status"], 200, "{report}");
        assert_eq!(
            report["body"], ITS_REPLY,
            "{fields}: the backend's reply, relayed"
        );
        let got = handler
            .0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("forwarded");
        assert_eq!(got.0, report["sent"]["query"].as_str().unwrap(), "{fields}");
        assert_eq!(got.1, report["sent"]["body"].as_str().unwrap(), "{fields}");
        last = Some(report["sent"].clone());
    }
    assert_eq!(handler.0.lock().unwrap().len(), 3);
    // The backend saw every signature: one used again (the same push, or another body under
    // it) is answered `success` and goes nowhere, on either replica.
    let sent = last.unwrap();
    let other = tokio::task::block_in_place(|| s.gateway_builder().start());
    for replica in [&s.gw, &other] {
        assert_eq!(
            crate::login::follow::replay(replica.addr, &sent).await,
            "success"
        );
    }
    assert_eq!(handler.0.lock().unwrap().len(), 3, "a replay was forwarded");
}

/// Without `forward_to`, any other push is answered `success`: the person sees nothing odd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_pushes_without_forward_to_get_success() {
    let s = setup(Backend::Sqlite, Shape::default()).await.unwrap();
    let report = s.push(json!({"user": "bob", "text": "hello"})).await;
    assert_eq!(
        (report["status"].as_u64(), report["body"].as_str()),
        (Some(200), Some("success"))
    );
    assert_eq!(report["reply"]["kind"], "none");
}

/// WeChat got `success` (the person sees no error) before its 5 seconds ran out.
fn answered_success_in_time(report: &Value) {
    assert_eq!(report["timed_out"], false, "{report}");
    assert_eq!(
        (report["status"].as_u64(), report["body"].as_str()),
        (Some(200), Some("success")),
        "{report}"
    );
    assert!(report["elapsed_ms"].as_u64().unwrap() < 5000, "{report}");
}

/// The database hangs: the push is still answered `success` within WeChat's 5 seconds, and
/// creates nothing; once it is back, the next scan signs in.
async fn a_push_is_answered_in_time_while_the_database_hangs(backend: Backend) {
    if backend == Backend::Sqlite {
        unreachable!("SQLite is a file: there is no connection to hang");
    }
    let Some(mut s) = setup(
        backend,
        Shape {
            relay: true,
            ..Shape::default()
        },
    )
    .await
    else {
        return;
    };
    let mut browser = Browser::new();
    let (_, ticket) = s.open(&mut browser).await;
    s.relay.as_ref().unwrap().stall();
    answered_success_in_time(&s.scan("alice", &ticket).await);
    // The test's own connection does not go through the stalled relay.
    assert_eq!(s.users().await, 0, "a push that timed out created someone");
    s.relay.as_mut().unwrap().restore().await;
    // The next scan (a new push) signs in.
    assert_eq!(s.scan("alice", &ticket).await["reply"]["kind"], "text");
    assert_eq!(s.status(&mut browser).await["status"], "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_hangs_and_pushes_are_answered_in_time() {
    a_push_is_answered_in_time_while_the_database_hangs(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_hangs_and_pushes_are_answered_in_time() {
    a_push_is_answered_in_time_while_the_database_hangs(Backend::Mysql).await;
}

per_backend!(other_pushes_go_to_forward_to);

/// WeChat's `user/info` hangs: the push is still answered `success` in time, nothing is
/// created, and the person's next scan signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_answered_in_time_while_wechat_hangs() {
    let s = setup(Backend::Sqlite, Shape::default()).await.unwrap();
    let mut browser = Browser::new();
    let (_, ticket) = s.open(&mut browser).await;
    control::post(
        &s.world.http,
        &s.world.base(),
        "/_sim/faults",
        json!({"path": "/cgi-bin/user/info", "delay_ms": 8000, "times": 1}),
    )
    .await;
    answered_success_in_time(&s.scan("alice", &ticket).await);
    assert_eq!(s.status(&mut browser).await["status"], "waiting");
    assert!(s.gw.logs().contains("push took too long"));
    // The next scan (a new push) signs in.
    assert_eq!(s.scan("alice", &ticket).await["reply"]["kind"], "text");
    assert_eq!(s.status(&mut browser).await["status"], "confirmed");
}
