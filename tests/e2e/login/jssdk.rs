//! JS-SDK signatures: `GET /{oa}/jssdk?url=` signs pages of this site only, each replica signs
//! with the one `jsapi_ticket` fetched once for all, and a stale access_token under `getticket`
//! is replaced once.

use super::follow::{setup, sha1_hex, Setup, Shape};
use serde_json::{json, Value};
use wxgate_tests::control;
use wxgate_tests::gateway::TestGateway;
use wxgate_tests::Backend;

const PAGE: &str = "/shop/item?id=7&from=share";

async fn sign(gw: &TestGateway, url: &str) -> (u16, Value) {
    let query: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
    let r = reqwest::get(format!("http://{}/_auth/oa/jssdk?url={query}", gw.addr))
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The tickets the simulated WeChat issued to the account.
async fn tickets(s: &Setup) -> Vec<String> {
    let all = control::get(&s.world.http, &s.world.base(), "/_sim/jsapi_tickets").await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|t| t["appid"] == super::follow::OA)
        .map(|t| t["ticket"].as_str().unwrap().to_string())
        .collect()
}

fn signature_holds(answer: &Value, ticket: &str, url: &str) -> bool {
    let text = format!(
        "jsapi_ticket={ticket}&noncestr={}&timestamp={}&url={url}",
        answer["nonceStr"].as_str().unwrap(),
        answer["timestamp"].as_i64().unwrap()
    );
    answer["signature"].as_str() == Some(sha1_hex(text.as_bytes()).as_str())
}

/// Two replicas, asked at once: one `getticket` call in all, and every signature is over
/// that ticket and the page's URL without its fragment.
async fn two_replicas_share_one_jsapi_ticket(backend: Backend) {
    let Some(s) = setup(backend, Shape::default()).await else {
        return;
    };
    let other = tokio::task::block_in_place(|| s.gateway_builder().start());
    // Each test replica has its own public_url: the page is on the shared `jssdk_origins`.
    let page = format!("https://shop.example.com{PAGE}");
    let with_fragment = format!("{page}#section-2");
    let answers = futures::future::join_all(
        [&s.gw, &other, &s.gw, &other, &s.gw, &other]
            .into_iter()
            .map(|gw| sign(gw, &with_fragment)),
    )
    .await;
    let issued = tickets(&s).await;
    assert_eq!(
        issued.len(),
        1,
        "one getticket for both replicas: {issued:?}"
    );
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["appId"], super::follow::OA);
        assert_eq!(answer["nonceStr"].as_str().unwrap().len(), 16);
        assert!(signature_holds(answer, &issued[0], &page), "{answer}");
    }
    let calls = control::get(&s.world.http, &s.world.base(), "/_sim/calls").await;
    assert_eq!(calls["/cgi-bin/ticket/getticket"], 1, "{calls}");
}

/// Only pages of this site are signed; a missing or odd `url` is a 400 that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_this_sites_pages_are_signed() {
    let s = setup(Backend::Sqlite, Shape::default()).await.unwrap();
    for bad in [
        "https://evil.example/shop".to_string(),
        format!("http://{}.evil.example/", s.gw.addr.ip()),
        format!("http://user@evil.example/{}", s.gw.addr),
        "/shop/relative".to_string(),
    ] {
        let (status, answer) = sign(&s.gw, &bad).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert_eq!(answer["error"], "invalid_request");
    }
    let r = reqwest::get(format!("http://{}/_auth/oa/jssdk", s.gw.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        tickets(&s).await.is_empty(),
        "a refused page costs no ticket"
    );
}

/// `getticket` says the access_token is stale (40001): the token is replaced once and the
/// ticket asked for again; the page is signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_access_token_is_replaced_once() {
    let s = setup(Backend::Sqlite, Shape::default()).await.unwrap();
    control::post(
        &s.world.http,
        &s.world.base(),
        "/_sim/faults",
        json!({"path": "/cgi-bin/ticket/getticket", "errcode": 40001, "times": 1}),
    )
    .await;
    let page = format!("http://{}{PAGE}", s.gw.addr);
    let (status, answer) = sign(&s.gw, &page).await;
    assert_eq!(status, 200, "{answer}");
    let issued = tickets(&s).await;
    assert!(signature_holds(&answer, issued.last().unwrap(), &page));
    let calls = control::get(&s.world.http, &s.world.base(), "/_sim/calls").await;
    assert_eq!(calls["/cgi-bin/ticket/getticket"], 2, "{calls}");
    assert_eq!(
        calls["/cgi-bin/stable_token"], 2,
        "one forced refresh: {calls}"
    );
}

per_backend!(two_replicas_share_one_jsapi_ticket);
