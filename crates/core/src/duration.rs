//! Human durations as written in `greenlight.yaml`: `30s`, `5m`, `1h`, `1h30m`, `2d`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole number of seconds, written and read in the `1h30m` form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_secs(secs: u64) -> Self {
        Duration(secs)
    }

    pub const fn from_mins(mins: u64) -> Self {
        Duration(mins * 60)
    }

    pub const fn as_secs(self) -> u64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn saturating_add(self, other: Duration) -> Duration {
        Duration(self.0.saturating_add(other.0))
    }

    pub fn saturating_mul(self, n: u64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }

    /// `t + self`, or `None` past what a timestamp can hold (never a panic).
    pub fn after(self, t: chrono::DateTime<chrono::Utc>) -> Option<chrono::DateTime<chrono::Utc>> {
        let secs = i64::try_from(self.0).ok()?;
        t.checked_add_signed(chrono::TimeDelta::try_seconds(secs)?)
    }
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; write it as e.g. `30s`, `5m`, `1h`")]
    Empty,
    #[error("`{0}` is not a duration; write a number followed by s, m, h or d, e.g. `30s`, `5m`, `1h30m`")]
    Malformed(String),
    #[error("`{0}` is too large")]
    Overflow(String),
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        if s.is_empty() {
            return Err(DurationError::Empty);
        }
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        let malformed = || DurationError::Malformed(text.to_string());
        let mut total: u64 = 0;
        let mut digits = String::new();
        let mut last_unit_rank = usize::MAX;
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let (rank, factor) = match c {
                'd' => (3, 86_400),
                'h' => (2, 3_600),
                'm' => (1, 60),
                's' => (0, 1),
                _ => return Err(malformed()),
            };
            // Units must appear once each, largest first: `1h30m`, not `30m1h`.
            if digits.is_empty() || rank >= last_unit_rank {
                return Err(malformed());
            }
            last_unit_rank = rank;
            let n: u64 = digits
                .parse()
                .map_err(|_| DurationError::Overflow(text.to_string()))?;
            digits.clear();
            total = n
                .checked_mul(factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| DurationError::Overflow(text.to_string()))?;
        }
        if !digits.is_empty() {
            return Err(malformed());
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{}", rest / size, unit)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(0|([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?)$",
            "description": "A duration: a number followed by s, m, h or d, largest unit first, e.g. `30s`, `5m`, `1h30m`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("30s".parse::<Duration>().unwrap().as_secs(), 30);
        assert_eq!("5m".parse::<Duration>().unwrap().as_secs(), 300);
        assert_eq!("1h".parse::<Duration>().unwrap().as_secs(), 3600);
        assert_eq!("1h30m".parse::<Duration>().unwrap().as_secs(), 5400);
        assert_eq!("2d".parse::<Duration>().unwrap().as_secs(), 172_800);
        assert_eq!("0".parse::<Duration>().unwrap(), Duration::ZERO);
    }

    #[test]
    fn refuses_what_is_ambiguous_or_malformed() {
        for bad in ["", "5", "m", "5x", "30m1h", "1h1h", "-5s", "1.5h", "5 m"] {
            assert!(
                bad.parse::<Duration>().is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(matches!(
            "99999999999999999999d".parse::<Duration>(),
            Err(DurationError::Overflow(_))
        ));
    }

    proptest! {
        #[test]
        fn display_round_trips(secs in 0u64..10_000_000) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
    }
}
