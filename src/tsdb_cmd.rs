//! `rampart tsdb stats` and `rampart tsdb dump`: read-only views of a stopped
//! store's data directory, in the spirit of `promtool tsdb`.

use std::io::Write;

use anyhow::{bail, Context};
use promql_parser::parser::{self, Expr};
use rampart_storage::{Db, Labels, MatchKind, Matcher, Options};

use crate::promql::storage::selector_matchers;

use crate::cli::{TsdbDumpArgs, TsdbStatsArgs};

fn open(data_dir: &std::path::Path) -> anyhow::Result<Db> {
    let mut opts = Options::new(data_dir);
    opts.read_only = true;
    Db::open(opts)
        .with_context(|| format!("opening {} read-only (is a store still running on it?)", data_dir.display()))
}

/// Prints storage statistics, per partition and in total.
pub fn stats(args: &TsdbStatsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let db = open(&args.data_dir)?;
    let s = db.stats()?;
    writeln!(
        out,
        "{:<26} {:<26} {:>7} {:>10} {:>12} {:>14} {:>8}",
        "PARTITION START", "END", "SEALED", "SERIES", "SAMPLES", "BYTES", "B/SAMPLE"
    )?;
    let (mut samples, mut bytes) = (0u64, 0u64);
    for p in &s.partitions {
        writeln!(
            out,
            "{:<26} {:<26} {:>7} {:>10} {:>12} {:>14} {:>8}",
            time(p.start),
            time(p.end),
            if p.sealed { "yes" } else { "no" },
            p.series,
            p.samples,
            p.bytes,
            per_sample(p.bytes, p.samples)
        )?;
        samples += p.samples;
        bytes += p.bytes;
    }
    writeln!(out)?;
    writeln!(out, "series in index:        {}", s.index_series)?;
    writeln!(out, "samples persisted:      {samples}")?;
    writeln!(out, "bytes in partitions:    {bytes} ({} bytes/sample)", per_sample(bytes, samples))?;
    writeln!(out, "head (from WAL):        {} series, {} samples", s.head_series, s.head_samples)?;
    writeln!(out, "wal bytes:              {}", s.wal_bytes)?;
    writeln!(
        out,
        "data directory bytes:   {} ({} bytes/sample over all samples)",
        s.total_bytes,
        per_sample(s.total_bytes, samples + s.head_samples)
    )?;
    Ok(())
}

/// Prints samples as `{labels} value timestamp_ms`, like `promtool tsdb dump`.
pub fn dump(args: &TsdbDumpArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let matchers = match &args.selector {
        Some(s) => parse_selector(s)?,
        None => vec![Matcher::new(MatchKind::Regex, "__name__", ".+")?],
    };
    let db = open(&args.data_dir)?;
    let q = db.querier(&args.tenant, args.min_time, args.max_time);
    for series in q.select(&matchers)? {
        let labels = dump_labels(&series.labels);
        for s in series.samples()? {
            writeln!(out, "{labels} {} {}", format_value(s.v), s.t)?;
        }
    }
    Ok(())
}

/// Parses a series selector such as `up{job="a"}` into storage matchers.
pub fn parse_selector(s: &str) -> anyhow::Result<Vec<Matcher>> {
    let expr = parser::parse(s).map_err(|e| anyhow::anyhow!("invalid selector {s:?}: {e}"))?;
    let Expr::VectorSelector(vs) = expr else {
        bail!("invalid selector {s:?}: expected a series selector like up{{job=\"a\"}}")
    };
    Ok(selector_matchers(&vs)?)
}

/// Labels as `promtool tsdb dump` prints them: `{__name__="up", job="a"}`.
fn dump_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", parts.join(", "))
}

/// A float as Go's `%g` prints it (what `promtool tsdb dump` uses): the
/// shortest representation, in exponent form when the exponent is below -4
/// or at least 6, with a sign and two or more exponent digits.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{v}")
    } else {
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

fn time(ms: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
        .to_string()
}

fn per_sample(bytes: u64, samples: u64) -> String {
    if samples == 0 {
        "-".into()
    } else {
        format!("{:.3}", bytes as f64 / samples as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_become_matchers() {
        let m = parse_selector(r#"up{job="a", i=~"x.*", e!="", n!~"y"}"#).expect("valid");
        let got: Vec<(String, MatchKind, String)> =
            m.iter().map(|m| (m.name.clone(), m.kind, m.value.clone())).collect();
        assert_eq!(got[0], ("__name__".into(), MatchKind::Equal, "up".into()));
        assert_eq!(got.len(), 5);
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector("{").is_err());
    }

    #[test]
    fn values_print_like_go() {
        for (v, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0"),
            (123456.0, "123456"),
            (1048576.0, "1.048576e+06"),
            (0.0001, "0.0001"),
        ] {
            assert_eq!(format_value(v), want, "{v}");
        }
    }
}
