//! Delivers identity events to the `[[webhook]]` receivers. Every replica runs one loop per
//! webhook; the outbox in the shared database decides who sends what (a claimed lease per
//! delivery, one pending event per user at a time), so a receiver sees each event once in the
//! normal case and again only after a replica crashed mid-delivery or a replay. Nothing here
//! runs on the request path: a slow or dead receiver delays its own events and nothing else.

use crate::config::Webhook;
use crate::metrics::Metrics;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use wxgate_core::clock::SharedClock;
use wxgate_core::events::deliveries::{Claimed, Deliveries};
use wxgate_core::events::signature;
use wxgate_core::store::Db;

/// How often an idle loop looks for due events.
const POLL: Duration = Duration::from_millis(500);
/// Deliveries one loop sends at once (distinct users; one event per user is in flight).
const BATCH: i64 = 32;
/// A claim outlives the receiver's timeout by this much, so a live sender never loses it.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How often the backlog gauges are read from the database.
const STATS_EVERY: Duration = Duration::from_secs(10);
/// Delivered or parked events are forgotten after this long.
const KEEP_FOR: Duration = Duration::from_secs(30 * 86_400);

pub struct Dispatcher {
    deliveries: Deliveries,
    http: reqwest::Client,
    clock: SharedClock,
    metrics: Arc<Metrics>,
}

impl Dispatcher {
    pub fn new(db: Db, clock: SharedClock, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // A receiver's redirect could point anywhere; it is an error, not a hop.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wxgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            deliveries: Deliveries::new(db),
            http,
            clock,
            metrics,
        })
    }

    /// Starts one delivery loop per webhook and the backlog gauges on `rt`.
    pub fn spawn(self: Arc<Self>, rt: &tokio::runtime::Handle, hooks: &[Webhook]) {
        for hook in hooks {
            let (me, hook) = (self.clone(), hook.clone());
            rt.spawn(async move { me.run(hook).await });
        }
        if !hooks.is_empty() {
            let ids: Vec<String> = hooks.iter().map(|h| h.id.clone()).collect();
            rt.spawn(async move { self.watch_backlog(ids).await });
        }
    }

    async fn run(&self, hook: Webhook) {
        let lease = i64::try_from((hook.timeout + LEASE_MARGIN).as_millis()).unwrap_or(60_000);
        let mut failing = false;
        loop {
            let now = self.clock.now_ms();
            match self.deliveries.claim(&hook.id, now, lease, BATCH).await {
                Ok(batch) if batch.is_empty() => {
                    failing = false;
                    tokio::time::sleep(POLL).await;
                }
                Ok(batch) => {
                    failing = false;
                    futures::future::join_all(batch.iter().map(|c| self.deliver(&hook, c))).await;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(webhook = %hook.id, error = %e, "cannot read the event outbox; retrying");
                        failing = true;
                    }
                    tokio::time::sleep(POLL * 4).await;
                }
            }
        }
    }

    /// One attempt: POST, then record what happened.
    async fn deliver(&self, hook: &Webhook, c: &Claimed) {
        let body = c.event.body();
        let signed = signature::sign(
            hook.secret.expose().as_bytes(),
            self.clock.now_secs(),
            body.as_bytes(),
        );
        let sent = self
            .http
            .post(&hook.url)
            .timeout(hook.timeout)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, signed)
            .header("wxgate-event-id", &c.event.id)
            .header("wxgate-event-type", &c.event.kind)
            .body(body)
            .send()
            .await;
        // The receiver's answer is never read or logged: only its status counts.
        let outcome = match sent {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
            Err(e) if e.is_timeout() => Err(format!("no answer within {:?}", hook.timeout)),
            Err(e) => Err(format!("could not send: {}", e.without_url())),
        };
        let now = self.clock.now_ms();
        let counter = |outcome: &str| {
            self.metrics
                .events
                .deliveries
                .with_label_values(&[&hook.id, outcome])
                .inc()
        };
        let recorded = match outcome {
            Ok(()) => {
                counter("delivered");
                self.deliveries.delivered(c, now).await
            }
            Err(why) => {
                let retry_at = now + retry_delay_ms(hook, c.attempts);
                let retry_for = i64::try_from(hook.retry_for.as_millis()).unwrap_or(i64::MAX);
                let give_up = retry_at - c.event.created_at > retry_for;
                if give_up {
                    counter("failed");
                    tracing::warn!(
                        webhook = %hook.id, event = %c.event.id, kind = %c.event.kind,
                        attempts = c.attempts + 1, last_error = %why,
                        "identity event parked as failed after retry_for; `wxgate events replay` sends it again"
                    );
                } else {
                    counter("retried");
                    tracing::debug!(webhook = %hook.id, event = %c.event.id, error = %why, "delivery failed; will retry");
                }
                self.deliveries
                    .attempt_failed(c, (!give_up).then_some(retry_at), &why)
                    .await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                webhook = %hook.id, event = %c.event.id,
                "a delivery outlived its claim; the receiver may see this event again"
            ),
            Err(e) => tracing::warn!(
                webhook = %hook.id, event = %c.event.id, error = %e,
                "could not record a delivery; it will be sent again"
            ),
        }
    }

    async fn watch_backlog(&self, hooks: Vec<String>) {
        let mut ticker = tokio::time::interval(STATS_EVERY);
        let mut last_prune: Option<i64> = None;
        loop {
            ticker.tick().await;
            let now = self.clock.now_ms();
            let Ok(stats) = self.deliveries.stats().await else {
                continue;
            };
            let m = &self.metrics.events;
            for id in &hooks {
                let s = stats.iter().find(|s| &s.webhook == id);
                m.pending
                    .with_label_values(&[id])
                    .set(s.map_or(0, |s| s.pending));
                m.failed
                    .with_label_values(&[id])
                    .set(s.map_or(0, |s| s.failed));
                let age = s
                    .and_then(|s| s.oldest_pending)
                    .map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
                m.oldest_pending.with_label_values(&[id]).set(age);
            }
            if prune_due(last_prune, now) {
                last_prune = Some(now);
                let before = now - i64::try_from(KEEP_FOR.as_millis()).unwrap_or(i64::MAX / 2);
                if let Err(e) = self.deliveries.prune(before).await {
                    tracing::warn!(error = %e, "could not prune old identity events");
                }
            }
        }
    }
}

/// Old deliveries are pruned at the first stats tick and hourly after.
fn prune_due(last: Option<i64>, now_ms: i64) -> bool {
    last.is_none_or(|last| now_ms.saturating_sub(last) > 3_600_000)
}

/// The wait after the `attempts`-th failure: `backoff`, doubling, capped at `max_backoff`, with
/// ±10% jitter so that replicas and receivers coming back do not move in lockstep.
fn retry_delay_ms(hook: &Webhook, attempts: i64) -> i64 {
    let base = hook.backoff.as_millis() as f64;
    let cap = hook.max_backoff.as_millis() as f64;
    let exp = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let delay = (base * 2f64.powi(exp as i32)).min(cap);
    let jitter = rand::thread_rng().gen_range(0.9..=1.1);
    (delay * jitter) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    // The first tick prunes (it once computed `now - i64::MIN` and overflowed, killing the
    // stats loop in debug builds), then once an hour.
    #[test]
    fn pruning_is_due_at_the_first_tick_and_hourly_after() {
        let now = 1_796_040_000_000;
        assert!(prune_due(None, now));
        assert!(!prune_due(Some(now), now + 3_599_999));
        assert!(prune_due(Some(now), now + 3_600_001));
        assert!(prune_due(Some(i64::MIN), now));
    }

    fn hook(backoff_ms: u64, max_ms: u64) -> Webhook {
        Webhook {
            id: "h".into(),
            url: "http://127.0.0.1:1/".into(),
            secret: wxgate_core::secret::Secret::new("0123456789abcdef"),
            events: None,
            timeout: Duration::from_secs(1),
            backoff: Duration::from_millis(backoff_ms),
            max_backoff: Duration::from_millis(max_ms),
            retry_for: Duration::from_secs(60),
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let h = hook(1_000, 10_000);
        let within = |attempts, expected: f64| {
            let d = retry_delay_ms(&h, attempts) as f64;
            assert!(
                (expected * 0.9..=expected * 1.1).contains(&d),
                "{attempts}: {d}"
            );
        };
        within(0, 1_000.0);
        within(1, 2_000.0);
        within(2, 4_000.0);
        within(3, 8_000.0);
        within(4, 10_000.0);
        within(40, 10_000.0);
    }
}
