//! `wxgate events …`: what the outbox holds and what became of each delivery, and sending
//! events again (a receiver that lost data, a webhook added later, events parked as failed).

use crate::config::Config;
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};
use wxgate_core::clock::{Clock, SystemClock};
use wxgate_core::events::deliveries::{Deliveries, DeliveryState, Replay};
use wxgate_core::events::{rfc3339_millis, Event};
use wxgate_core::store::Db;

/// One `wxgate events` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    List { failed: bool, limit: i64 },
    Replay { which: Which },
}

/// What `replay` sends again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    Id(String),
    /// An RFC 3339 time (`2026-11-30T08:00:00Z`) or a duration back from now (`2h`).
    Since(String),
}

/// Runs `command` and returns what to print: readable text, or JSON with `json`.
pub fn run(config: &Config, command: Command, json: bool) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let db = Db::connect(&config.database.url)
            .await
            .map_err(|e| format!("connecting to the database: {e}"))?;
        db.migrate()
            .await
            .map_err(|e| format!("applying migrations: {e}"))?;
        let deliveries = Deliveries::new(db.clone());
        let out = match command {
            Command::List { failed, limit } => deliveries
                .list(failed, limit)
                .await
                .map_err(|e| e.to_string())
                .map(|events| listing(&events, json)),
            Command::Replay { which } => replay(config, &deliveries, which, json).await,
        };
        db.close().await;
        out
    })
}

async fn replay(
    config: &Config,
    deliveries: &Deliveries,
    which: Which,
    json: bool,
) -> Result<String, String> {
    if config.webhooks.is_empty() {
        return Err("no [[webhook]] in the config: nothing to send events to".into());
    }
    let now = SystemClock.now_ms();
    let selector = match which {
        Which::Id(id) => Replay::Id(id),
        Which::Since(when) => Replay::Since(since(&when, now)?),
    };
    let subs: Vec<_> = config.webhooks.iter().map(|w| w.subscription()).collect();
    let queued = deliveries
        .replay(&selector, &subs, now)
        .await
        .map_err(|e| e.to_string())?;
    if queued == 0 {
        if let Replay::Id(id) = &selector {
            return Err(format!("no event {id:?} (or no webhook wants its type)"));
        }
    }
    Ok(if json {
        json!({ "queued": queued }).to_string()
    } else {
        format!("{queued} deliver(ies) queued; running gateways send them within a second")
    })
}

/// `--since`: an RFC 3339 time, or a duration back from `now` (ms).
fn since(text: &str, now: i64) -> Result<i64, String> {
    if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "a time before 1970".to_string())?
            .as_millis();
        return i64::try_from(ms).map_err(|e| e.to_string());
    }
    let back: Duration = humantime::parse_duration(text).map_err(|_| {
        format!("--since {text:?}: expected a time (2026-11-30T08:00:00Z) or a duration (2h)")
    })?;
    Ok(now - i64::try_from(back.as_millis()).unwrap_or(i64::MAX / 2))
}

fn listing(events: &[(Event, Vec<DeliveryState>)], json: bool) -> String {
    if json {
        return Value::Array(
            events
                .iter()
                .map(|(e, states)| {
                    json!({
                        "seq": e.seq,
                        "id": e.id,
                        "type": e.kind,
                        "time": rfc3339_millis(e.created_at),
                        "user": e.user_id,
                        "other_user": e.other_user_id,
                        "actor": e.actor,
                        "data": e.data,
                        "deliveries": states.iter().map(|d| json!({
                            "webhook": d.webhook,
                            "status": d.status,
                            "attempts": d.attempts,
                            "next_attempt_at": (d.status == "pending").then(|| rfc3339_millis(d.next_attempt_at)),
                            "last_error": d.last_error,
                            "delivered_at": d.delivered_at.map(rfc3339_millis),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
        .to_string();
    }
    if events.is_empty() {
        return "no events".into();
    }
    let mut out = String::new();
    for (e, states) in events {
        let other = e
            .other_user_id
            .as_deref()
            .map(|o| format!(" + {o}"))
            .unwrap_or_default();
        let actor = e
            .actor
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}  {}  {:<16} {}{other}{actor}  {}\n",
            rfc3339_millis(e.created_at),
            e.id,
            e.kind,
            e.user_id,
            e.data
        ));
        for d in states {
            let detail = match d.status.as_str() {
                "delivered" => format!(
                    "delivered at {} after {} attempt(s)",
                    d.delivered_at.map(rfc3339_millis).unwrap_or_default(),
                    d.attempts
                ),
                "pending" if d.attempts == 0 => "pending".to_string(),
                "pending" => format!(
                    "pending, {} attempt(s), next at {}",
                    d.attempts,
                    rfc3339_millis(d.next_attempt_at)
                ),
                other => format!("{other} after {} attempt(s)", d.attempts),
            };
            let error = d
                .last_error
                .as_deref()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            out.push_str(&format!("    {}: {detail}{error}\n", d.webhook));
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_a_time_or_a_duration_back() {
        let now = 1_796_043_498_000;
        assert_eq!(since("2h", now), Ok(now - 7_200_000));
        assert_eq!(since("2026-11-30T00:00:00Z", now), Ok(1_795_996_800_000));
        assert!(since("yesterday-ish", now).unwrap_err().contains("--since"));
    }
}
