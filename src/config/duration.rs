//! Human-readable durations in config files (`"250ms"`, `"5s"`, `"2m"`, `"1h"`, `"7d"`).
//!
//! Operators read `read_timeout = "30s"` faster than `read_timeout_ms = 30000`, and a unit
//! suffix makes a missing zero visible.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A [`Duration`] that (de)serializes as a string with a unit suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

/// Parses `"<integer><unit>"` with unit one of `ms`, `s`, `m`, `h`, `d`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let error = |problem| DurationError {
        text: text.to_string(),
        problem,
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| error(DurationProblem::NoUnit))?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(error(DurationProblem::NoNumber));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| error(DurationProblem::TooLarge))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(error(DurationProblem::UnknownUnit(unit.to_string()))),
    };
    value
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| error(DurationProblem::TooLarge))
}

/// A duration that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("duration {text:?} {problem}")]
pub struct DurationError {
    pub text: String,
    pub problem: DurationProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationProblem {
    #[error("has no unit (use ms, s, m, h or d)")]
    NoUnit,
    #[error("must start with a number")]
    NoNumber,
    #[error("has an unknown unit {0:?} (use ms, s, m, h or d)")]
    UnknownUnit(String),
    #[error("is too large")]
    TooLarge,
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"500ms\", \"5s\", \"2m\" or \"1h\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map(ConfigDuration).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn refuses_missing_or_unknown_units_and_overflow() {
        let problem = |text| parse_duration(text).unwrap_err().problem;
        assert_eq!(problem("5"), DurationProblem::NoUnit);
        assert_eq!(
            problem("5 weeks"),
            DurationProblem::UnknownUnit(" weeks".into())
        );
        assert_eq!(problem("s"), DurationProblem::NoNumber);
        assert_eq!(problem("99999999999999999999d"), DurationProblem::TooLarge);
        assert_eq!(
            parse_duration("5").unwrap_err().to_string(),
            "duration \"5\" has no unit (use ms, s, m, h or d)"
        );
    }
}
