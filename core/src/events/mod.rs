//! Identity events for upstream services: what changed about a user, written to an outbox in the
//! same transaction as the change ([`outbox`]), then delivered to webhooks at least once, in
//! order per user, one replica at a time ([`deliveries`]), signed ([`signature`]).

pub mod deliveries;
pub(crate) mod outbox;
pub mod signature;

use serde_json::Value;

/// The event types upstreams can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    UserCreated,
    IdentityBound,
    IdentityUnbound,
    UserMerged,
    PhoneChanged,
    /// An operator detached the user's WeChat person: the unionid links it no more.
    UnionidReleased,
    UserDeleted,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::UserCreated,
        EventType::IdentityBound,
        EventType::IdentityUnbound,
        EventType::UserMerged,
        EventType::PhoneChanged,
        EventType::UnionidReleased,
        EventType::UserDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::IdentityBound => "identity.bound",
            Self::IdentityUnbound => "identity.unbound",
            Self::UserMerged => "user.merged",
            Self::PhoneChanged => "phone.changed",
            Self::UnionidReleased => "unionid.released",
            Self::UserDeleted => "user.deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A webhook's interest: its name and the types it wants (every type when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub webhook: String,
    pub types: Option<Vec<EventType>>,
}

impl Subscription {
    pub fn wants(&self, t: EventType) -> bool {
        self.types.as_ref().is_none_or(|types| types.contains(&t))
    }
}

/// One event as stored and as delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Outbox order: events of one user are delivered in this order.
    pub seq: i64,
    /// Unique and stable across retries and replays: receivers deduplicate on it.
    pub id: String,
    pub kind: String,
    /// The user the event is about; `user.merged` is about the survivor and the absorbed one.
    pub user_id: String,
    pub other_user_id: Option<String>,
    /// Who made the change: `None` for the person's own login, else an operator or `self`.
    pub actor: Option<String>,
    pub data: Value,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

impl Event {
    /// The JSON body a webhook receives.
    pub fn body(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "type": self.kind,
            "time": rfc3339_millis(self.created_at),
            "actor": self.actor,
            "data": self.data,
        })
        .to_string()
    }
}

/// `2026-11-30T12:00:00.123Z` for milliseconds since the epoch (UTC, proleptic Gregorian).
pub fn rfc3339_millis(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_by_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("user.renamed"), None);
    }

    #[test]
    fn a_subscription_without_types_wants_everything() {
        let all = Subscription {
            webhook: "a".into(),
            types: None,
        };
        let some = Subscription {
            webhook: "b".into(),
            types: Some(vec![EventType::UserMerged]),
        };
        assert!(EventType::ALL.iter().all(|t| all.wants(*t)));
        assert!(some.wants(EventType::UserMerged));
        assert!(!some.wants(EventType::UserCreated));
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(
            rfc3339_millis(1_796_043_498_123),
            "2026-11-30T12:58:18.123Z"
        );
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }
}
