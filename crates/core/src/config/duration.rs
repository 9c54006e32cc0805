//! The one duration syntax of the whole configuration, Synapse's (`parse_duration` in
//! `synapse/config/_base.py`): a bare number is milliseconds, a number with one of the
//! suffixes `s m h d w y` (a year is 365 days) is that many units. `ms` is accepted too,
//! so `timeout: 500ms` reads as it always did.

use std::{fmt, time::Duration};

use serde::{de, Deserialize, Deserializer};

/// A duration read from the configuration (see the module docs for the syntax).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigDuration(Duration);

impl ConfigDuration {
    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self(Duration::from_millis(millis))
    }

    /// As a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds, saturating at `u64::MAX`.
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// Whole milliseconds as a signed timestamp offset, saturating at `i64::MAX`.
    pub fn as_millis_i64(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }

    /// Whether it is zero.
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<ConfigDuration> for Duration {
    fn from(duration: ConfigDuration) -> Self {
        duration.0
    }
}

/// Parses the string form: digits, then optionally `ms`, `s`, `m`, `h`, `d`, `w` or `y`.
pub fn parse_duration(text: &str) -> Result<ConfigDuration, String> {
    const SECOND: u64 = 1000;
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(split);
    let unit = match suffix.trim_start() {
        "" | "ms" => 1,
        "s" => SECOND,
        "m" => 60 * SECOND,
        "h" => 3600 * SECOND,
        "d" => 86_400 * SECOND,
        "w" => 7 * 86_400 * SECOND,
        "y" => 365 * 86_400 * SECOND,
        other => {
            return Err(format!("unknown duration unit `{other}` in `{text}`; use ms, s, m, h, d, w or y"));
        }
    };
    let amount: u64 = digits.parse().map_err(|_| {
        format!("`{text}` is not a duration such as `500ms`, `30s`, `6w` or a whole number of milliseconds")
    })?;
    amount.checked_mul(unit).map(ConfigDuration::from_millis).ok_or_else(|| format!("`{text}` is too long"))
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `500ms`, `30s`, `6w`, or a whole number of milliseconds")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ConfigDuration, E> {
                Ok(ConfigDuration::from_millis(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ConfigDuration, E> {
                u64::try_from(value)
                    .map(ConfigDuration::from_millis)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<ConfigDuration, E> {
                Err(E::custom(format!("`{value}` is not a whole number of milliseconds")))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ConfigDuration, E> {
                parse_duration(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Result<ConfigDuration, String> {
        Ok(ConfigDuration::from_millis(millis))
    }

    #[test]
    fn a_bare_number_is_milliseconds_and_suffixes_are_synapses() {
        assert_eq!(parse_duration("500"), ms(500));
        assert_eq!(parse_duration("500ms"), ms(500));
        assert_eq!(parse_duration("5s"), ms(5_000));
        assert_eq!(parse_duration("2m"), ms(120_000));
        assert_eq!(parse_duration("1h"), ms(3_600_000));
        assert_eq!(parse_duration("1d"), ms(86_400_000));
        assert_eq!(parse_duration("6w"), ms(6 * 7 * 86_400_000));
        assert_eq!(parse_duration("1y"), ms(365 * 86_400_000));
        assert!(parse_duration("3q").unwrap_err().contains("unknown duration unit `q`"));
        assert!(parse_duration("fast").unwrap_err().contains("unknown duration unit"));
        assert!(parse_duration("1.5s").is_err(), "whole numbers only, as Synapse's `int(value)`");
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999y").unwrap_err().contains("too long"));
    }

    #[test]
    fn yaml_numbers_are_milliseconds_too() {
        let read = |yaml: &str| serde_yaml::from_str::<ConfigDuration>(yaml).map_err(|e| e.to_string());
        assert_eq!(read("500"), ms(500));
        assert_eq!(read("\"500\""), ms(500));
        assert_eq!(read("30s"), ms(30_000));
        assert!(read("-1").unwrap_err().contains("cannot be negative"));
        assert!(read("1.5").unwrap_err().contains("whole number"));
    }
}
