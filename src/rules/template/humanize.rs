//! Prometheus's number-formatting template functions (`humanize`,
//! `humanize1024`, `humanizeDuration`, `humanizePercentage`,
//! `humanizeTimestamp`) and the conversions behind them (`ConvertToFloat`,
//! `FloatToTime`), with Prometheus's exact output and error texts.

use super::gofmt::{self, format_float, format_v};
use super::value::Value;

/// `%.4g`.
fn g4(v: f64) -> String {
    format_float(v, 'g', 4)
}

/// Prometheus's `ConvertToFloat`: floats, Go ints, numeric strings (as
/// `strconv.ParseFloat` reads them) and `time.Duration` (in seconds).
pub(super) fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Str(s) => gofmt::parse_float(s).map_err(|e| gofmt::parse_float_message(s, &e)),
        Value::Int(i) | Value::Int64(i) => Ok(*i as f64),
        Value::Duration(d) => Ok(*d as f64 / 1e9),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// `humanize`: SI prefixes (`1.235M`, `120m`) with 4 significant digits.
pub(super) fn humanize(v: &Value) -> Result<String, String> {
    let mut v = to_float(v)?;
    if v == 0.0 || !v.is_finite() {
        return Ok(g4(v));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(format!("{}{prefix}", g4(v)))
}

/// `humanize1024`: binary prefixes (`1Mi`) with 4 significant digits.
pub(super) fn humanize1024(v: &Value) -> Result<String, String> {
    let mut v = to_float(v)?;
    if v.abs() <= 1.0 || !v.is_finite() {
        return Ok(g4(v));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(format!("{}{prefix}", g4(v)))
}

/// `humanizeDuration` of seconds: `1d 2h 3m 4s`, `1.234s`, `100ms`.
pub(super) fn humanize_duration(v: &Value) -> Result<String, String> {
    let mut v = to_float(v)?;
    if !v.is_finite() {
        return Ok(g4(v));
    }
    if v == 0.0 {
        return Ok(format!("{}s", g4(v)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let duration = go_float_to_i64(v);
        let (seconds, minutes, hours, days) =
            (duration % 60, (duration / 60) % 60, (duration / 3600) % 24, duration / 86400);
        return Ok(if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", g4(v))
        });
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    Ok(format!("{}{prefix}s", g4(v)))
}

/// Go's float64-to-int64 conversion on amd64: truncation, and the minimum
/// int64 for NaN and out-of-range values.
pub(super) fn go_float_to_i64(f: f64) -> i64 {
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// `humanizePercentage`: a ratio as a percentage, `12.35%`.
pub(super) fn humanize_percentage(v: &Value) -> Result<String, String> {
    Ok(format!("{}%", g4(to_float(v)? * 100.0)))
}

/// What [`float_to_time`] can fail with.
pub(super) enum TimeError {
    NanOrInf,
    Overflow(String),
}

impl TimeError {
    pub fn message(self) -> String {
        match self {
            TimeError::NanOrInf => "value is NaN or Inf".into(),
            TimeError::Overflow(m) => m,
        }
    }
}

/// Prometheus's `FloatToTime`: seconds since the epoch to nanoseconds,
/// truncated to whole milliseconds as `model.Time` holds them.
pub(super) fn float_to_time(v: f64) -> Result<i64, TimeError> {
    if !v.is_finite() {
        return Err(TimeError::NanOrInf);
    }
    let ts = v * 1e9;
    if ts > i64::MAX as f64 || ts < i64::MIN as f64 {
        return Err(TimeError::Overflow(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            format_v(&Value::Float(v))
        )));
    }
    Ok((ts as i64 / 1_000_000) * 1_000_000)
}

/// `humanizeTimestamp`: seconds since the epoch as Go prints a UTC time.
pub(super) fn humanize_timestamp(v: &Value) -> Result<String, String> {
    let f = to_float(v)?;
    match float_to_time(f) {
        Ok(ns) => Ok(super::gotime::time_string(ns)),
        Err(TimeError::NanOrInf) => Ok(g4(f)),
        Err(e) => Err(e.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn each(f: fn(&Value) -> Result<String, String>, values: &[Value]) -> String {
        values.iter().map(|v| f(v).unwrap() + ":").collect()
    }

    fn floats(v: &[f64]) -> Vec<Value> {
        v.iter().map(|f| Value::Float(*f)).collect()
    }

    fn strs(v: &[&str]) -> Vec<Value> {
        v.iter().map(|s| Value::str(s)).collect()
    }

    fn ints(v: &[i64]) -> Vec<Value> {
        v.iter().map(|i| Value::Int(*i)).collect()
    }

    #[test]
    fn humanize_matches_prometheus() {
        assert_eq!(each(humanize, &floats(&[0.0, 1.0, 1234567.0, 0.12])), "0:1:1.235M:120m:");
        assert_eq!(each(humanize, &strs(&["0.0", "1.0", "1234567.0", ".12"])), "0:1:1.235M:120m:");
        assert_eq!(each(humanize, &ints(&[0, -1, 1, 1234567, i64::MAX])), "0:-1:1:1.235M:9.223E:");
        assert_eq!(humanize(&Value::str("one")).unwrap_err(), "strconv.ParseFloat: parsing \"one\": invalid syntax");
        assert_eq!(humanize(&Value::Bool(true)).unwrap_err(), "can't convert bool to float");
    }

    #[test]
    fn humanize1024_matches_prometheus() {
        assert_eq!(each(humanize1024, &floats(&[0.0, 1.0, 1048576.0, 0.12])), "0:1:1Mi:0.12:");
        assert_eq!(each(humanize1024, &strs(&["0.0", "1.0", "1048576.0", ".12"])), "0:1:1Mi:0.12:");
        assert_eq!(each(humanize1024, &ints(&[0, -1, 1, 1234567, i64::MAX])), "0:-1:1:1.177Mi:8Ei:");
    }

    #[test]
    fn humanize_duration_matches_prometheus() {
        let v = floats(&[
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99,
        ]);
        assert_eq!(each(humanize_duration, &v), "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:");
        assert_eq!(
            each(humanize_duration, &strs(&["0", "1", "60", "3600", "86400"])),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"
        );
        let v = floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]);
        assert_eq!(each(humanize_duration, &v), "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:");
        let v = strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]);
        assert_eq!(each(humanize_duration, &v), "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:");
        assert_eq!(each(humanize_duration, &ints(&[0, -1, 1, 1234567])), "0s:-1s:1s:14d 6h 56m 7s:");
    }

    #[test]
    fn non_finite_values_print_plainly() {
        let all = |v: &Value| -> String {
            [humanize(v), humanize1024(v), humanize_duration(v), humanize_timestamp(v)]
                .into_iter()
                .map(|r| r.unwrap() + ":")
                .collect()
        };
        let out: String = floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]).iter().map(all).collect();
        assert_eq!(out, "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:");
        let out: String = strs(&["+Inf", "-Inf", "NaN"]).iter().map(all).collect();
        assert_eq!(out, "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:");
    }

    #[test]
    fn humanize_percentage_matches_prometheus() {
        assert_eq!(
            each(humanize_percentage, &floats(&[-0.22222, 0.0, 0.1234567, 1.23456])),
            "-22.22%:0%:12.35%:123.5%:"
        );
        assert_eq!(
            each(humanize_percentage, &ints(&[0, -1, 1, 1234567, i64::MAX])),
            "0%:-100%:100%:1.235e+08%:9.223e+20%:"
        );
    }

    #[test]
    fn humanize_timestamp_matches_prometheus() {
        assert_eq!(
            each(humanize_timestamp, &ints(&[0, -1, 1, 1234567, 9223372036])),
            "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:\
             1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"
        );
        assert_eq!(humanize_timestamp(&Value::Float(1435065584.128)).unwrap(), "2015-06-23 13:19:44.128 +0000 UTC");
        assert_eq!(
            humanize_timestamp(&Value::Int(i64::MIN)).unwrap_err(),
            "-9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64"
        );
    }
}
