//! `[[webhook]]` rules.

use super::*;

const HOOK: &str = "[[webhook]]\nid = \"orders\"\nurl = \"https://orders.internal/events\"\nsecret = \"whsec_0123456789abcdef\"\n";

#[test]
fn a_webhook_takes_its_defaults_and_every_event_type() {
    let config = load(HOOK).unwrap();
    let hook = &config.webhooks[0];
    assert_eq!(hook.id, "orders");
    assert_eq!(hook.events, None);
    assert_eq!(hook.timeout, Duration::from_secs(10));
    assert_eq!(hook.backoff, Duration::from_secs(2));
    assert_eq!(hook.max_backoff, Duration::from_secs(600));
    assert_eq!(hook.retry_for, Duration::from_secs(86_400));
    let sub = hook.subscription();
    assert!(wxgate_core::events::EventType::ALL
        .iter()
        .all(|t| sub.wants(*t)));
    assert!(!format!("{config:?}").contains("whsec_0123456789abcdef"));
}

#[test]
fn webhook_rules_name_their_keys() {
    let text = format!("{HOOK}events = [\"user.merged\", \"user.renamed\"]\n");
    assert_error(
        &text,
        "webhook[0].events[1]",
        5,
        "unknown event type \"user.renamed\"",
    );
    let text =
        "[[webhook]]\nid = \"Orders!\"\nurl = \"ftp://x\"\nsecret = \"short\"\ntimeout = \"2m\"\n";
    assert_error(text, "webhook[0].id", 2, "a-z, 0-9");
    assert_error(text, "webhook[0].url", 3, "scheme");
    assert_error(text, "webhook[0].secret", 4, "at least 16");
    assert_error(text, "webhook[0].timeout", 5, "between 1s and 1m");
    let twice = format!("{HOOK}{HOOK}");
    assert_error(
        &twice,
        "webhook[1].id",
        6,
        "duplicate webhook id \"orders\": also used by webhook[0].id (line 2)",
    );
    let text = format!("{HOOK}backoff = \"5m\"\nmax_backoff = \"1m\"\n");
    assert_error(&text, "webhook[0].backoff", 5, "between 100ms and 1m");
    let text = format!("{HOOK}events = []\n");
    assert_error(&text, "webhook[0].events", 5, "leave it out");
    let text = format!("{HOOK}urll = \"x\"\n");
    assert_error(&text, "webhook[0].urll", 5, "unknown field");
}

#[test]
fn a_webhook_only_wants_what_it_lists() {
    let text = format!("{HOOK}events = [\"user.merged\", \"user.deleted\"]\n");
    let sub = load(&text).unwrap().webhooks[0].subscription();
    use wxgate_core::events::EventType;
    assert!(sub.wants(EventType::UserMerged) && sub.wants(EventType::UserDeleted));
    assert!(!sub.wants(EventType::UserCreated));
}
