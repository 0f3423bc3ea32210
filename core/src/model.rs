//! The identity vocabulary: who a user is, the WeChat identities and phone numbers bound to it.

use serde::Serialize;
use std::fmt;

/// A stable, opaque user id (`u_` + 32 hex). Never reused; a merged-away id stays resolvable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    pub fn generate() -> Self {
        Self(format!("u_{}", uuid::Uuid::new_v4().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WeChat identity as WeChat itself vouched for it: `(appid, openid)`, plus the unionid when the
/// app is bound to an open platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatIdentity {
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
}

/// A phone number in E.164 (`+8613800138000`). Only ever built by [`Phone::parse`], so holding
/// one means the format was checked; whether it was *verified* is the caller's claim, carried by
/// the type it sits in ([`crate::identity::LoginAttempt::verified_phone`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number may contain only digits after an optional leading '+'")]
    BadCharacters,
    #[error("phone number must have 7 to 15 digits including the country code")]
    BadLength,
    #[error("not a valid mainland China mobile number (11 digits starting with 1)")]
    BadMainland,
    #[error("country code must be 1 to 3 digits")]
    BadCountryCode,
}

impl Phone {
    /// Parses `13800138000` (national, `default_cc` is prepended), `+8613800138000` or
    /// `008613800138000`. Spaces and dashes are not accepted: clients send raw digits.
    pub fn parse(input: &str, default_cc: &str) -> Result<Self, PhoneError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(PhoneError::Empty);
        }
        if default_cc.is_empty()
            || default_cc.len() > 3
            || !default_cc.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(PhoneError::BadCountryCode);
        }
        let (international, digits) = if let Some(rest) = input.strip_prefix('+') {
            (true, rest)
        } else if let Some(rest) = input.strip_prefix("00") {
            (true, rest)
        } else {
            (false, input)
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::BadCharacters);
        }
        let full = if international {
            digits.to_string()
        } else {
            format!("{default_cc}{digits}")
        };
        if !(7..=15).contains(&full.len()) || full.starts_with('0') {
            return Err(PhoneError::BadLength);
        }
        if let Some(national) = full.strip_prefix("86") {
            let b = national.as_bytes();
            if b.len() != 11 || b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
                return Err(PhoneError::BadMainland);
            }
        }
        Ok(Self(format!("+{full}")))
    }

    /// Rebuilds a phone read back from storage (already validated when it was written).
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: keeps the country code and last 4 digits (`+86*******8000`).
    pub fn masked(&self) -> String {
        let s = &self.0;
        let keep = 4.min(s.len());
        let cc_end = if s.starts_with("+86") { 3 } else { 1 };
        let hidden = s.len().saturating_sub(cc_end + keep);
        format!(
            "{}{}{}",
            &s[..cc_end],
            "*".repeat(hidden),
            &s[s.len() - keep..]
        )
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Profile facts a channel may report. Untrusted (user-chosen nickname and avatar): stored for
/// display, never used to link anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
}

/// A user as stored: the current phone and unionid, when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub unionid: Option<String>,
    pub phone: Option<Phone>,
    /// Display name and avatar a channel reported (untrusted, for display only).
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub created_at: i64,
}

/// One `(appid, openid)` binding of a user, with the channel it was first seen through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub channel: String,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_national_and_international_forms() {
        let want = "+8613800138000";
        for input in [
            "13800138000",
            "+8613800138000",
            "008613800138000",
            " 13800138000 ",
        ] {
            assert_eq!(Phone::parse(input, "86").unwrap().as_str(), want, "{input}");
        }
        assert_eq!(
            Phone::parse("+14155550123", "86").unwrap().as_str(),
            "+14155550123"
        );
    }

    #[test]
    fn rejects_hostile_or_malformed_numbers() {
        let cases = [
            ("", PhoneError::Empty),
            ("138-0013-8000", PhoneError::BadCharacters),
            ("1380013800a", PhoneError::BadCharacters),
            ("+86 13800138000", PhoneError::BadCharacters),
            ("12800138000", PhoneError::BadMainland),
            ("1380013800", PhoneError::BadMainland),
            ("+8612345", PhoneError::BadMainland),
            ("+1234567890123456", PhoneError::BadLength),
            ("+0123456789", PhoneError::BadLength),
            ("13800138000\n", PhoneError::BadCharacters),
        ];
        for (input, want) in cases {
            // A trailing newline is trimmed away, so that case must parse; check it separately.
            if input.ends_with('\n') {
                assert!(Phone::parse(input, "86").is_ok());
                continue;
            }
            assert_eq!(Phone::parse(input, "86"), Err(want), "{input:?}");
        }
        assert_eq!(
            Phone::parse("13800138000", "8x"),
            Err(PhoneError::BadCountryCode)
        );
    }

    #[test]
    fn masks_all_but_country_code_and_last_four() {
        let p = Phone::parse("13800138000", "86").unwrap();
        assert_eq!(p.masked(), "+86*******8000");
    }
}
