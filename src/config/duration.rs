//! Durations written the way Prometheus users write them: `30s`, `5m`, `1h30m`, `250ms`.
//!
//! A bare number is refused on purpose: `30` could mean seconds or milliseconds, and a
//! threshold off by a factor of 1000 is a silent alerting bug.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A [`Duration`] parsed from a Prometheus-style string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn from_secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let units: [(&str, u128); 5] = [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ];
        let mut rest = ms;
        for (unit, size) in units {
            if rest >= size {
                write!(f, "{}{}", rest / size, unit)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

/// Parses `1h30m`, `90s`, `250ms`, `2d`. Units: ms, s, m, h, d.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. `30s`".into());
    }
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "`{s}` has no unit; write e.g. `{s}s` (units: ms, s, m, h, d)"
        ));
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "`{s}` is not a duration; write e.g. `30s`, `5m` or `1h30m`"
            ));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{s}` is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => {
                return Err(format!(
                    "`{s}` has unknown unit `{unit}`; use ms, s, m, h or d"
                ))
            }
        };
        total_ms = number
            .checked_mul(scale)
            .and_then(|v| v.checked_add(total_ms))
            .ok_or_else(|| format!("`{s}` is too large"))?;
    }
    let ms = u64::try_from(total_ms).map_err(|_| format!("`{s}` is too large"))?;
    Ok(Duration::from_millis(ms))
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `30s`, `5m` or `1h30m`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                parse_duration(v).map(HumanDuration).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit; write e.g. `{v}s` (units: ms, s, m, h, d)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                self.visit_u64(v.unsigned_abs())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit; write e.g. `{v}s` (units: ms, s, m, h, d)"
                )))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_style_durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
    }

    #[test]
    fn refuses_what_is_ambiguous_or_wrong() {
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("30x")
            .unwrap_err()
            .contains("unknown unit `x`"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999999d").is_err());
    }

    #[test]
    fn displays_in_the_same_syntax() {
        assert_eq!(HumanDuration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(
            HumanDuration(Duration::from_millis(1500)).to_string(),
            "1s500ms"
        );
        assert_eq!(HumanDuration::from_secs(0).to_string(), "0s");
    }
}
