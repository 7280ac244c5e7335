//! Durations as Prometheus users write them: `15d`, `1h30m`, `500ms`, `0`.
//! One parser serves flags, config and API parameters, and one formatter
//! prints durations back in the same syntax (in messages that name a limit).
//!
//! Syntax: `0`, or one or more `<digits><unit>` terms with units `y w d h m
//! s ms`, each unit at most once and in that (decreasing) order, as
//! Prometheus's `model.ParseDuration` accepts. `1y` is 365 days, `1w` 7
//! days. Fractions, signs, spaces and bare numbers other than `0` are
//! refused. Durations are whole milliseconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Milliseconds per second.
const MS_PER_SECOND: u64 = 1000;
/// Milliseconds per minute.
const MS_PER_MINUTE: u64 = 60 * MS_PER_SECOND;
/// Milliseconds per hour.
const MS_PER_HOUR: u64 = 60 * MS_PER_MINUTE;
/// Milliseconds per day.
const MS_PER_DAY: u64 = 24 * MS_PER_HOUR;
/// Milliseconds per week.
const MS_PER_WEEK: u64 = 7 * MS_PER_DAY;
/// Milliseconds per year (365 days, as in Prometheus).
const MS_PER_YEAR: u64 = 365 * MS_PER_DAY;

/// A unit of the duration syntax.
struct Unit {
    /// Its suffix.
    suffix: &'static str,
    /// Milliseconds in one of it.
    ms: u64,
    /// Printed only when it divides the duration exactly (`90d` reads better
    /// than `12w6d`), as Prometheus prints durations.
    print_only_exact: bool,
}

/// Units from largest to smallest; the order terms must follow.
const UNITS: [Unit; 7] = [
    Unit { suffix: "y", ms: MS_PER_YEAR, print_only_exact: true },
    Unit { suffix: "w", ms: MS_PER_WEEK, print_only_exact: true },
    Unit { suffix: "d", ms: MS_PER_DAY, print_only_exact: false },
    Unit { suffix: "h", ms: MS_PER_HOUR, print_only_exact: false },
    Unit { suffix: "m", ms: MS_PER_MINUTE, print_only_exact: false },
    Unit { suffix: "s", ms: MS_PER_SECOND, print_only_exact: false },
    Unit { suffix: "ms", ms: 1, print_only_exact: false },
];

/// A duration string that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid duration {0:?}: use whole numbers with units in decreasing order (y, w, d, h, m, s, ms), \
     e.g. 15d, 1h30m or 500ms, or 0"
)]
pub struct DurationError(pub String);

/// Parses `0` or a sequence of `<number><unit>` terms (see the module doc).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(s.to_owned());
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut rest = s;
    let mut total: u64 = 0;
    // Index into `UNITS` of the first unit the next term may use.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        // The unit is the letters up to the next digit; `ms` is then told
        // apart from `m` by whole-suffix comparison.
        let letters = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let suffix = &rest[..letters];
        let index = UNITS.iter().position(|u| u.suffix == suffix).ok_or_else(err)?;
        if index < next_unit {
            return Err(err());
        }
        next_unit = index + 1;
        total = n.checked_mul(UNITS[index].ms).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
        rest = &rest[letters..];
    }
    Ok(Duration::from_millis(total))
}

/// Prints a duration in the syntax [`parse_duration`] reads, largest units
/// first: `10m`, `1h30m`, `15d`, `0s`. Sub-millisecond parts are dropped.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for unit in &UNITS {
        if unit.print_only_exact && ms % unit.ms != 0 {
            continue;
        }
        let n = ms / unit.ms;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit.suffix);
            ms -= n * unit.ms;
        }
    }
    out
}

/// Serde helper for duration fields: a string in the syntax above, or the
/// number `0`.
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
    fn valid_durations_parse() {
        let cases = [
            ("0", 0),
            ("0s", 0),
            ("15d", 15 * MS_PER_DAY),
            ("1h30m", 90 * MS_PER_MINUTE),
            ("500ms", 500),
            ("1m30s", 90 * MS_PER_SECOND),
            ("2w", 14 * MS_PER_DAY),
            ("1y", 365 * MS_PER_DAY),
            ("1s500ms", 1500),
            (
                "1y2w3d4h5m6s7ms",
                MS_PER_YEAR + 2 * MS_PER_WEEK + 3 * MS_PER_DAY + 4 * MS_PER_HOUR + 5 * MS_PER_MINUTE + 6007,
            ),
            ("90m", 90 * MS_PER_MINUTE),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
    }

    #[test]
    fn invalid_durations_are_refused_with_the_input_named() {
        let bad = [
            "",
            "15",
            "d",
            "1x",
            "30m1h",
            "1h1h",
            "-1s",
            "1.5h",
            " 1h",
            "1h ",
            "1H",
            "1ms1s",
            "1mss",
            // Overflows u64 milliseconds.
            "99999999999999999999y",
            "600000000y",
        ];
        for s in bad {
            assert_eq!(parse_duration(s), Err(DurationError(s.to_owned())), "{s:?}");
        }
        assert_eq!(
            DurationError("1x".into()).to_string(),
            "invalid duration \"1x\": use whole numbers with units in decreasing order (y, w, d, h, m, s, ms), \
             e.g. 15d, 1h30m or 500ms, or 0"
        );
    }

    #[test]
    fn durations_print_in_the_syntax_they_parse_from() {
        let cases = [
            (0, "0s"),
            (500, "500ms"),
            (10 * MS_PER_MINUTE, "10m"),
            (90 * MS_PER_MINUTE, "1h30m"),
            (15 * MS_PER_DAY, "15d"),
            (14 * MS_PER_DAY, "2w"),
            (90 * MS_PER_DAY, "90d"),
            (MS_PER_YEAR, "1y"),
            (MS_PER_DAY + 1, "1d1ms"),
        ];
        for (ms, text) in cases {
            assert_eq!(format_duration(Duration::from_millis(ms)), text, "{ms}");
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
    }

    #[test]
    fn serde_accepts_strings_and_zero() {
        #[derive(Deserialize, Debug)]
        struct C {
            #[serde(deserialize_with = "deserialize_duration")]
            d: Duration,
        }
        let parse = |yaml: &str| serde_yaml::from_str::<C>(yaml).map(|c| c.d).map_err(|e| e.to_string());
        assert_eq!(parse("d: 1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("d: 0"), Ok(Duration::ZERO));
        let err = parse("d: 15").expect_err("bare number");
        assert!(err.starts_with("invalid duration \"15\""), "{err}");
        let err = parse("d: 1x").expect_err("bad unit");
        assert!(err.starts_with("invalid duration \"1x\""), "{err}");
    }
}
