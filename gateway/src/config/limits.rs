//! `[limits]`: how clients are told apart (networks), and caps on what costs before anything
//! is proved.

use serde::Deserialize;

use super::validate::Validator;

/// `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A client's network: this many leading bits of its IPv4 address (8 to 32). Default 32.
    pub ipv4_prefix: u8,
    /// … of its IPv6 address (32 to 128). Default 64: a home line gets a whole /64, so per
    /// address no limit would hold.
    pub ipv6_prefix: u8,
    /// Browser logins a client network may start per minute (each writes a row), per replica.
    pub browser_logins_per_minute: u32,
    /// Mini-program code exchanges a client network may ask for per minute (each costs a row
    /// and a WeChat call), per replica.
    pub wechat_logins_per_minute: u32,
    /// Times a browser may ask how its ticket stands per minute (a waiting page asks every
    /// 2 s), per ticket, and polls finding none per client network; per replica.
    pub ticket_polls_per_minute: u32,
}

/// `[limits]`: how clients are told apart, and caps on what costs before anything is proved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLimits {
    /// Leading bits of an IPv4 address that make a client's network. Default `32`.
    pub ipv4_prefix: u8,
    /// Leading bits of an IPv6 address that make a client's network. Default `64` (a home
    /// line gets a whole /64).
    pub ipv6_prefix: u8,
    /// Browser logins one client network may start per minute, per replica. Default `30`.
    pub browser_logins_per_minute: u32,
    /// Calls that exchange a WeChat code (mini-program logins) one client network may make per
    /// minute, per replica. Default `60`.
    pub wechat_logins_per_minute: u32,
    /// Ticket status polls one client network may make per minute, per replica. Default `120`.
    pub ticket_polls_per_minute: u32,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            browser_logins_per_minute: 30,
            wechat_logins_per_minute: 60,
            ticket_polls_per_minute: 120,
        }
    }
}

// === rules ===

impl Validator<'_> {
    pub(super) fn limits(&mut self, raw: RawLimits) -> Limits {
        // Wider than a /8 or a /32 lumps whole providers together; narrower than a host is none.
        if !(8..=32).contains(&raw.ipv4_prefix) {
            self.error(
                "limits.ipv4_prefix",
                format!("{} must be between 8 and 32", raw.ipv4_prefix),
            );
        }
        if !(32..=128).contains(&raw.ipv6_prefix) {
            self.error(
                "limits.ipv6_prefix",
                format!("{} must be between 32 and 128", raw.ipv6_prefix),
            );
        }
        for (key, value) in [
            (
                "limits.browser_logins_per_minute",
                raw.browser_logins_per_minute,
            ),
            (
                "limits.wechat_logins_per_minute",
                raw.wechat_logins_per_minute,
            ),
            (
                "limits.ticket_polls_per_minute",
                raw.ticket_polls_per_minute,
            ),
        ] {
            if value == 0 {
                self.error(key, "must be at least 1");
            }
        }
        Limits {
            ipv4_prefix: raw.ipv4_prefix,
            ipv6_prefix: raw.ipv6_prefix,
            browser_logins_per_minute: raw.browser_logins_per_minute,
            wechat_logins_per_minute: raw.wechat_logins_per_minute,
            ticket_polls_per_minute: raw.ticket_polls_per_minute,
        }
    }
}
