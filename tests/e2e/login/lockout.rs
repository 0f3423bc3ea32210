//! SMS login against someone who wants to lock its owner out, or to spend the channel's money:
//! numbers as the numbering plans define them, guesses that cost only the guesser, and limits
//! counted per client network. The gateway binary, the simulator's SMS sink, and a test that
//! plays a trusted proxy to speak for clients on many networks.

use crate::login::sms::{post_to, setup_with, wrong, Setup};
use serde_json::json;
use std::time::{Duration, Instant};
use wxgate_tests::gateway::RawResponse;
use wxgate_tests::gateway::{Channel, GatewayBuilder, TestGateway};
use wxgate_tests::world::World;
use wxgate_tests::Backend;

const ATTACKER: &str = "198.51.100.7";
const OWNER: &str = "203.0.113.9";
const P: &str = "13800138000";

fn from(s: &Setup, client: &str, path: &str, body: serde_json::Value) -> RawResponse {
    post_to(
        s.gw.addr,
        path,
        &body,
        &format!("X-Forwarded-For: {client}\r\n"),
    )
}

fn send_from(s: &Setup, client: &str, phone: &str) -> RawResponse {
    from(s, client, "/_auth/sms/send_code", json!({ "phone": phone }))
}

fn login_from(s: &Setup, client: &str, phone: &str, code: &str) -> RawResponse {
    from(
        s,
        client,
        "/_auth/sms/login",
        json!({ "phone": phone, "code": code }),
    )
}

/// The test is the trusted proxy: `X-Forwarded-For` says which network each request is from.
async fn proxied(backend: Backend, sms_keys: &str) -> Option<Setup> {
    setup_with(backend, sms_keys, GatewayBuilder::behind_a_trusted_proxy).await
}

/// The reproduction of the review: guesses at a phone nobody sent a code to used to lock its
/// owner out for an hour (429, `Retry-After: 3600`).
async fn guesses_at_a_phone_without_a_code_lock_nobody_out(backend: Backend) {
    let Some(s) = proxied(backend, "").await else {
        return;
    };
    for _ in 0..25 {
        let r = login_from(&s, ATTACKER, P, "000000");
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(send_from(&s, OWNER, P).status, 202);
    let code = s.texted(P).await;
    let r = login_from(&s, OWNER, P, &code);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// Brute force stays out (a code takes `max_attempts` wrong tries, from anywhere), and the
/// owner is held back no longer than `resend_after`: then a new code works.
async fn a_code_burnt_elsewhere_is_replaced_within_resend_after(backend: Backend) {
    let Some(s) = proxied(backend, "resend_after = \"2s\"").await else {
        return;
    };
    let sent_at = Instant::now();
    assert_eq!(send_from(&s, OWNER, P).status, 202);
    let code = s.texted(P).await;
    for i in 0..5 {
        // Each guess from another address of the attacker's: the code's count is shared.
        let attacker = format!("198.51.{i}.7");
        assert_eq!(login_from(&s, &attacker, P, wrong(&code)).status, 401);
    }
    assert_eq!(login_from(&s, OWNER, P, &code).status, 401, "burnt");
    let resent = loop {
        let r = send_from(&s, OWNER, P);
        if r.status == 202 {
            break sent_at.elapsed();
        }
        assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
        assert!(sent_at.elapsed() < Duration::from_secs(10), "never resent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // resend_after is 2 s: far below the hour a lockout would last, with room for a slow machine.
    assert!(resent < Duration::from_secs(8), "held back {resent:?}");
    let code = s.texted(P).await;
    let r = login_from(&s, OWNER, P, &code);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["user"]["phone"], "+8613800138000");
}

per_backend!(
    guesses_at_a_phone_without_a_code_lock_nobody_out,
    a_code_burnt_elsewhere_is_replaced_within_resend_after,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_capped_per_network_and_stops_only_that_network() {
    let s = proxied(Backend::Sqlite, "guesses_per_ip_hour = 4")
        .await
        .unwrap();
    // Four addresses of one home line (one /64) share its cap…
    for host in 1..=4 {
        let line = format!("2001:db8:1:2::{host}");
        assert_eq!(login_from(&s, &line, P, "000000").status, 401);
    }
    let r = login_from(&s, "2001:db8:1:2:ffff::1", P, "000000");
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"], "rate_limited");
    // …another line is not held back, nor is the phone's owner.
    assert_eq!(login_from(&s, "2001:db8:1:3::1", P, "000000").status, 401);
    assert_eq!(send_from(&s, OWNER, P).status, 202);
    let code = s.texted(P).await;
    assert_eq!(login_from(&s, OWNER, P, &code).status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_cap_counts_an_ipv6_line_as_one_client() {
    let s = proxied(Backend::Sqlite, "sends_per_ip_hour = 2")
        .await
        .unwrap();
    assert_eq!(send_from(&s, "2001:db8:5:6::a", "13800138001").status, 202);
    assert_eq!(send_from(&s, "2001:db8:5:6::b", "13800138002").status, 202);
    let r = send_from(&s, "2001:db8:5:6:1:2:3:4", "13800138003");
    assert_eq!(r.status, 429, "a third address of the same /64");
    assert_eq!(send_from(&s, "2001:db8:5:7::1", "13800138003").status, 202);
}

/// A forwarded entry that does not parse ends the walk at the last trusted hop: the client
/// cannot choose its address by writing garbage right of a made-up one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_entry_that_does_not_parse_cannot_pick_the_clients_address() {
    let s = proxied(Backend::Sqlite, "sends_per_ip_hour = 1")
        .await
        .unwrap();
    for (i, chain) in ["6.6.6.6, 1.2.3.4:5678", "7.7.7.7, unknown", "8.8.8.8, "]
        .into_iter()
        .enumerate()
    {
        let r = send_from(&s, chain, &format!("1380013801{i}"));
        let want = if i == 0 { 202 } else { 429 };
        assert_eq!(r.status, want, "{chain:?}: all are the proxy's own client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_that_cannot_be_a_persons_phone_get_no_text_and_say_why() {
    let s = proxied(Backend::Sqlite, "").await.unwrap();
    for (number, why) in [
        ("+447400123456", "region GB"),
        ("+85251234567", "region HK"),
        ("+1 900 555 0123", "region US"),
        ("+86 10 1234 5678", "fixed-line"),
        ("+86 800 123 4567", "toll-free"),
        ("+86 168 1234 5", "premium-rate"),
        ("+86 400 123 4567", "shared-cost"),
        ("12800138000", "not a valid phone number"),
        ("1-800-FLOWERS", "no letters"),
    ] {
        let r = send_from(&s, OWNER, number);
        assert_eq!(r.status, 400, "{number}");
        let v = r.json();
        assert_eq!(v["error"], "invalid_request", "{number}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(why), "{number}: {message}");
    }
    let texts = wxgate_tests::control::get(&s.http, &s.sim.base_url(), "/_sim/sms").await;
    assert_eq!(texts.as_array().map(Vec::len), Some(0), "{texts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_phone_typed_many_ways_is_one_phone() {
    let s = proxied(Backend::Sqlite, "").await.unwrap();
    assert_eq!(send_from(&s, OWNER, "138 0013 8000").status, 202);
    for typed in [
        "138-0013-8000",
        "+86 0138 0013 8000",
        "１３８００１３８０００",
        "(138) 0013.8000",
    ] {
        // The cooldown of the one phone answers, whatever the spelling.
        assert_eq!(send_from(&s, OWNER, typed).status, 429, "{typed:?}");
    }
    let code = s.texted(P).await;
    let r = login_from(&s, OWNER, "0086 138 0013 8000", &code);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["user"]["phone"], "+8613800138000");
}

/// A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`; they are their IPv4 address
/// everywhere, `trusted_proxies` included: the proxy's forwarded client is believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_ipv4_peer_is_its_ipv4_address_for_trusted_proxies() {
    let t = wxgate_tests::TestDb::new(Backend::Sqlite).await.unwrap();
    let sim = World::start().await.sim;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&t.url, &t.dir)
            .dual_stack()
            .behind_a_trusted_proxy()
            .channel(Channel::phone_sms("sms", &sim.base_url()).with("sends_per_ip_hour = 1"))
            .start()
    });
    for (client, phone) in [(ATTACKER, "13800138001"), (OWNER, "13800138002")] {
        let r = post_to(
            gw.addr,
            "/_auth/sms/send_code",
            &json!({ "phone": phone }),
            &format!("X-Forwarded-For: {client}\r\n"),
        );
        assert_eq!(
            r.status, 202,
            "{client}: each forwarded client has its own cap"
        );
    }
}
