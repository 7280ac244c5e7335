//! Durations as Prometheus users write them: `15d`, `1h30m`, `500ms`, `0`.
//! One parser serves flags, config and (later) API parameters.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration string that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {0:?}: use a number and unit (ms, s, m, h, d, w, y), e.g. 15d or 1h30m, or 0")]
pub struct DurationError(String);

/// Parses `0` or a sequence of `<number><unit>` with units `ms s m h d w y`
/// in decreasing order, as Prometheus does (`1y` is 365 days).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(s.to_owned());
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    // Units from largest to smallest; each may appear once, in this order.
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if s.is_empty() {
        return Err(err());
    }
    let mut rest = s;
    let mut total: u64 = 0;
    let mut next_rank = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        // `ms` must win over `m`: take the longest unit that matches.
        let (rank, (unit, ms)) = UNITS
            .iter()
            .enumerate()
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
            .ok_or_else(err)?;
        if rank < next_rank {
            return Err(err());
        }
        next_rank = rank + 1;
        total = n.checked_mul(*ms).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
        rest = &rest[unit.len()..];
    }
    Ok(Duration::from_millis(total))
}

/// Serde helper for duration fields.
pub fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Int(0) => Ok(Duration::ZERO),
        Raw::Int(n) => Err(serde::de::Error::custom(DurationError(n.to_string()))),
        Raw::Text(s) => parse_duration(&s).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("0", 0),
            ("15d", 15 * 86_400_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("2w", 14 * 86_400_000),
            ("1y", 365 * 86_400_000),
            ("1s500ms", 1500),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        for bad in ["", "15", "d", "1x", "30m1h", "1h1h", "-1s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
