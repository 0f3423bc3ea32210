//! Durations in config are strings such as `"90s"`, `"15m"`, `"30d"` (humantime syntax). A bare
//! number is refused: its unit would be guesswork.
//!
//! Use with `#[serde(deserialize_with = "wxgate_core::rules::duration::deserialize")]`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Parses `"90s"`, `"15m"`, `"30d"`, `"1h 30m"`. The error names the value and the syntax.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?}: {e}; write a number and a unit, e.g. \"90s\", \"15m\", \"30d\"")
    })
}

/// Serde `deserialize_with` helper for a required or defaulted `Duration` field.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_str(DurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string such as \"90s\", \"15m\" or \"30d\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "deserialize")]
        ttl: Duration,
    }

    #[test]
    fn parses_the_contract_forms() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(15 * 60)));
        assert_eq!(parse("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5_400)));
    }

    #[test]
    fn rejects_prose_and_names_the_value() {
        let err = parse("15 minutes please").unwrap_err();
        assert!(err.contains("\"15 minutes please\""), "{err}");
        assert!(err.contains("\"90s\""), "{err}");
    }

    #[test]
    fn rejects_a_bare_number() {
        let err = toml::from_str::<Holder>("ttl = 900").unwrap_err();
        assert!(err.message().contains("duration string"), "{err}");
        let ok: Holder = toml::from_str("ttl = \"5s\"").unwrap();
        assert_eq!(ok.ttl, Duration::from_secs(5));
    }
}
