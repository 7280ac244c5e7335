//! Parsing of the query API's parameter values, with Prometheus's rules and
//! error texts (`parseTime`, `parseDuration`, `parseLimitParam`,
//! `parseMatchersParam` in `web/api/v1/api.go`).
//!
//! Times are milliseconds since the epoch, durations nanoseconds (so that a
//! step like `0.0001` is still positive, as in Prometheus).

use chrono::DateTime;
use promql_parser::parser::Expr;
use rampart_storage::Matcher;

use super::request::Params;
use super::response::ApiError;
use crate::promql::gocompat::format::quote;
use crate::promql::storage::selector_matchers;

/// Prometheus's `MinTime` (`-292273086-05-16T16:47:06Z`) in milliseconds:
/// the start of optional time ranges.
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Prometheus's `MaxTime` (`292277025-08-18T07:12:54.999999999Z`) in
/// milliseconds: the end of optional time ranges.
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;
/// `MinTime` as RFC 3339, accepted although no 4-digit-year parser reads it.
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
/// `MaxTime` as RFC 3339.
const MAX_TIME_TEXT: &str = "292277025-08-18T07:12:54.999999999Z";

const NANOS_PER_MS: i64 = 1_000_000;
const NANOS_PER_SECOND: f64 = 1e9;

/// A time: Unix seconds with an optional fraction (rounded to milliseconds)
/// or RFC 3339 with optional fractional seconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {} to a valid timestamp", quote(s));
    if let Some(secs) = parse_go_float(s) {
        if !secs.is_finite() {
            return Err(err());
        }
        let whole = secs.trunc();
        let millis = ((secs - whole) * 1000.0).round();
        // Saturating casts: far-away times clamp to the ends of i64.
        return Ok(((whole as i64).saturating_mul(1000)).saturating_add(millis as i64));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp().saturating_mul(1000).saturating_add(i64::from(t.timestamp_subsec_millis())));
    }
    match s {
        MIN_TIME_TEXT => Ok(MIN_TIME_MS),
        MAX_TIME_TEXT => Ok(MAX_TIME_MS),
        _ => Err(err()),
    }
}

/// An optional time parameter (`parseTimeParam`): `default` when absent or
/// empty, else `invalid parameter "<name>": invalid time value for '<name>': …`.
pub fn time_param(params: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => {
            parse_time(v).map_err(|e| ApiError::invalid_param(name, format!("invalid time value for '{name}': {e}")))
        }
    }
}

/// A duration in nanoseconds: seconds as a float (`15`, `0.5`, `-1`) or
/// Prometheus's duration syntax (`5m`, `1h30m`).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Some(secs) = parse_go_float(s) {
        if secs.is_nan() {
            return Err(format!("cannot parse {} to a valid duration", quote(s)));
        }
        let ns = secs * NANOS_PER_SECOND;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!("cannot parse {} to a valid duration. It overflows int64", quote(s)));
        }
        return Ok(ns as i64);
    }
    crate::duration::parse_duration(s)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .ok_or_else(|| format!("cannot parse {} to a valid duration", quote(s)))
}

/// Nanoseconds to whole milliseconds (truncating, as Prometheus's
/// `durationMilliseconds`).
pub fn nanos_to_ms(ns: i64) -> i64 {
    ns / NANOS_PER_MS
}

/// `parseLimitParam`: absent or empty is 0 (no limit); otherwise a
/// non-negative integer, with `strconv.Atoi`'s error texts.
pub fn parse_limit(s: Option<&str>) -> Result<usize, String> {
    let Some(s) = s else { return Ok(0) };
    let n = go_atoi(s)?;
    usize::try_from(n).map_err(|_| "limit must be non-negative".to_owned())
}

/// Go's `strconv.Atoi` for base-10 input, with its error texts.
pub fn go_atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {}: invalid syntax", quote(s)));
    }
    s.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", quote(s)))
}

/// Go's `strconv.ParseFloat` for the decimal forms people and clients send
/// (`1`, `-1.5`, `.5`, `1e3`, `NaN`, `Inf`); Rust's parser reads the same
/// syntax except hexadecimal floats and `_` separators, which no client
/// sends as a time or a step.
fn parse_go_float(s: &str) -> Option<f64> {
    // Rust also accepts "infinity"/"inf"/"nan" in any case, as Go does.
    s.parse::<f64>().ok()
}

/// The error of a `match[]` selector that would select every series.
const EMPTY_MATCHERS: &str = "match[] must contain at least one non-empty matcher";

/// `parseMatchersParam`: each `match[]` value must be a series selector
/// (`up`, `{job="a"}`, `up{job=~"a|b"}`) with at least one matcher that
/// does not match the empty string.
pub fn parse_matcher_sets(values: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::with_capacity(values.len());
    for v in values {
        let expr = crate::promql::parse(v).map_err(|e| {
            // Prometheus parses `match[]` with its selector grammar, which
            // leaves this check to the API and its text.
            if e.message().ends_with("vector selector must contain at least one non-empty matcher") {
                EMPTY_MATCHERS.to_owned()
            } else {
                e.message().to_owned()
            }
        })?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(format!("1:1: parse error: {} is not a series selector", quote(v)));
        };
        if vs.offset.is_some() || vs.at.is_some() {
            return Err(format!(
                "1:1: parse error: {} is not a series selector: offset and @ are not allowed",
                quote(v)
            ));
        }
        let matchers = selector_matchers(&vs).map_err(|e| e.message().to_owned())?;
        if matchers.iter().all(Matcher::matches_empty) {
            return Err(EMPTY_MATCHERS.to_owned());
        }
        sets.push(matchers);
    }
    Ok(sets)
}

/// A label name from a URL path: Prometheus 3 accepts any non-empty UTF-8
/// name, and names written in the `U__` value-encoding escape form (how
/// clients put UTF-8 names into paths) are unescaped first.
pub fn label_name_from_path(raw: &str) -> Result<String, ApiError> {
    let name = if raw.starts_with("U__") { unescape_name(raw) } else { raw.to_owned() };
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid label name: {}", quote(&name))));
    }
    Ok(name)
}

/// `model.UnescapeName(name, ValueEncodingEscaping)`: `U__` then the name
/// with `__` for `_` and `_<hex>_` for any other code point; anything
/// malformed is returned unchanged.
fn unescape_name(name: &str) -> String {
    let Some(escaped) = name.strip_prefix("U__") else { return name.to_owned() };
    let bytes = escaped.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'_' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        i += 1;
        if i >= bytes.len() {
            return name.to_owned();
        }
        if bytes[i] == b'_' {
            out.push(b'_');
            i += 1;
            continue;
        }
        let mut value: u32 = 0;
        let mut digits = 0;
        loop {
            if i >= bytes.len() || digits >= 6 && bytes[i] != b'_' {
                return name.to_owned();
            }
            if bytes[i] == b'_' {
                let Some(c) = char::from_u32(value) else { return name.to_owned() };
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 1;
                break;
            }
            let Some(d) = (bytes[i] as char).to_digit(16) else { return name.to_owned() };
            value = value * 16 + d;
            digits += 1;
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let cases = [
            ("1435781451", 1_435_781_451_000),
            ("1435781451.781", 1_435_781_451_781),
            ("-1.5", -1500),
            ("0", 0),
            ("1e3", 1_000_000),
            ("2015-07-01T20:10:51.781Z", 1_435_781_451_781),
            ("2015-07-01T22:10:51+02:00", 1_435_781_451_000),
            ("2015-07-01T20:10:51.7819Z", 1_435_781_451_781),
            (MIN_TIME_TEXT, MIN_TIME_MS),
            (MAX_TIME_TEXT, MAX_TIME_MS),
            // promtool and client_golang send MinTime/MaxTime as seconds.
            ("-9223309901257974", -9_223_309_901_257_974_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_time(s), Ok(want), "{s}");
        }
        assert_eq!(MIN_TIME_MS, -9_223_309_901_257_974_000);
        assert_eq!(MAX_TIME_MS, 9_223_309_901_257_974_999);
        for bad in ["x", "", "NaN", "Inf", "2015-07-01", "1h"] {
            assert_eq!(parse_time(bad), Err(format!("cannot parse {} to a valid timestamp", quote(bad))), "{bad}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("15", 15_000_000_000),
            ("0.5", 500_000_000),
            ("0.0001", 100_000),
            ("-1", -1_000_000_000),
            ("0", 0),
            ("5m", 300_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("100ms", 100_000_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration(s), Ok(want), "{s}");
        }
        assert_eq!(parse_duration("x"), Err(r#"cannot parse "x" to a valid duration"#.to_owned()));
        assert_eq!(
            parse_duration("1e20"),
            Err(r#"cannot parse "1e20" to a valid duration. It overflows int64"#.to_owned())
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5m1h").is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None), Ok(0));
        assert_eq!(parse_limit(Some("5")), Ok(5));
        assert_eq!(parse_limit(Some("+5")), Ok(5));
        assert_eq!(parse_limit(Some("-1")), Err("limit must be non-negative".to_owned()));
        assert_eq!(parse_limit(Some("x")), Err(r#"strconv.Atoi: parsing "x": invalid syntax"#.to_owned()));
        assert_eq!(
            parse_limit(Some("99999999999999999999")),
            Err(r#"strconv.Atoi: parsing "99999999999999999999": value out of range"#.to_owned())
        );
    }

    #[test]
    fn matcher_sets() {
        let sets = parse_matcher_sets(&["up", r#"{job=~"a|b", env!=""}"#]).expect("valid");
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].len(), 1);
        assert_eq!(sets[0][0].name, "__name__");
        assert_eq!(sets[1].len(), 2);
        for empty in [r#"{job=~".*"}"#, r#"{__name__=~".*", a=""}"#] {
            assert_eq!(parse_matcher_sets(&[empty]).expect_err(empty), EMPTY_MATCHERS);
        }
        assert!(parse_matcher_sets(&["rate(up[5m])"]).expect_err("not a selector").contains("not a series selector"));
        assert!(parse_matcher_sets(&["up{"]).expect_err("syntax").contains("parse error"));
    }

    #[test]
    fn label_names_from_paths() {
        assert_eq!(label_name_from_path("job").expect("plain"), "job");
        assert_eq!(label_name_from_path("U__http_2e_status__code").expect("escaped"), "http.status_code");
        assert_eq!(label_name_from_path("U__a_1f600_").expect("emoji"), "a😀");
        assert_eq!(label_name_from_path("U__bad_zz_").expect("malformed kept"), "U__bad_zz_");
        assert_eq!(label_name_from_path("").expect_err("empty").message, r#"invalid label name: """#);
    }
}
