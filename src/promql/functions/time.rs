//! Functions about time: `time`, `timestamp`, `start_timestamp`, the
//! calendar functions (`year`, `month`, `day_of_month`, `day_of_year`,
//! `day_of_week`, `days_in_month`, `hour`, `minute`), and the query's own
//! bounds (`start`, `end`, `range`, `step`).
//!
//! Calendar functions read each value as Unix seconds in UTC, converted to
//! an integer as Go does on amd64 (NaN, infinities and out-of-range values
//! become the smallest int64); without an argument they use the evaluation
//! time. They keep labels and mark the name for removal.

use super::super::value::Sample;
use super::{duration_seconds, unlabelled, vector_arg, Arg, FnCtx};
use crate::promql::error::QueryError;

/// `time()`: the evaluation time in seconds.
pub(super) fn time(ctx: &mut FnCtx<'_>, _args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(unlabelled(ctx, ctx.ts as f64 / 1000.0))
}

/// `timestamp(v)`: each sample's own time in seconds (the evaluator passes
/// a selector's sample times, and the step time for anything else).
pub(super) fn timestamp(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let input = vector_arg(args, 0)?;
    Ok(input
        .iter()
        .map(|s| Sample { labels: s.labels.clone(), t: ctx.ts, v: s.t as f64 / 1000.0, drop_name: true })
        .collect())
}

/// `start_timestamp(v)` (experimental): the start time of each sample's
/// counter. Rampart stores no start timestamps, so, as Prometheus without
/// them, there is no result.
pub(super) fn start_timestamp(_ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    vector_arg(args, 0)?;
    Ok(Vec::new())
}

/// `start()`: the query's start in seconds.
pub(super) fn start(ctx: &mut FnCtx<'_>, _args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(unlabelled(ctx, ctx.query_start as f64 / 1000.0))
}

/// `end()`: the query's end in seconds.
pub(super) fn end(ctx: &mut FnCtx<'_>, _args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(unlabelled(ctx, ctx.query_end as f64 / 1000.0))
}

/// `range()`: the query's end minus its start, in seconds.
pub(super) fn range(ctx: &mut FnCtx<'_>, _args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(unlabelled(ctx, duration_seconds(ctx.query_end - ctx.query_start)))
}

/// `step()`: the query's step in seconds; 0 when start and end coincide.
pub(super) fn step(ctx: &mut FnCtx<'_>, _args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let step = if ctx.query_start == ctx.query_end { 0.0 } else { duration_seconds(ctx.query_step) };
    Ok(unlabelled(ctx, step))
}

functions_via! { calendar:
    /// `year(v=vector(time()))`.
    year => |c| c.year as f64;
    /// `month(v=vector(time()))`: 1 to 12.
    month => |c| f64::from(c.month);
    /// `day_of_month(v=vector(time()))`: 1 to 31.
    day_of_month => |c| f64::from(c.day);
    /// `day_of_year(v=vector(time()))`: 1 to 366.
    day_of_year => |c| f64::from(c.year_day);
    /// `day_of_week(v=vector(time()))`: 0 (Sunday) to 6.
    day_of_week => |c| f64::from(c.week_day);
    /// `days_in_month(v=vector(time()))`: 28 to 31.
    days_in_month => |c| f64::from(month_length(c.year, c.month));
    /// `hour(v=vector(time()))`: 0 to 23.
    hour => |c| f64::from(c.hour);
    /// `minute(v=vector(time()))`: 0 to 59.
    minute => |c| f64::from(c.minute);
}

fn calendar(ctx: &FnCtx<'_>, args: &[Arg<'_>], f: impl Fn(&Civil) -> f64) -> Result<Vec<Sample>, QueryError> {
    if args.is_empty() {
        return Ok(unlabelled(ctx, f(&Civil::from_unix(ctx.ts / 1000))));
    }
    let input = vector_arg(args, 0)?;
    Ok(input
        .iter()
        .map(|s| Sample {
            labels: s.labels.clone(),
            t: ctx.ts,
            v: f(&Civil::from_unix(go_float_to_int(s.v))),
            drop_name: true,
        })
        .collect())
}

/// Go's `int64(f)` on amd64: truncation, and the "integer indefinite"
/// value (the smallest int64) for NaN and anything out of range.
fn go_float_to_int(v: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-TWO_63..TWO_63).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// A UTC calendar time in the proleptic Gregorian calendar.
#[derive(Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    year_day: u32,
    week_day: u32,
    hour: u32,
    minute: u32,
}

impl Civil {
    /// The calendar time of Unix second `secs` (any int64).
    fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let second_of_day = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's days-to-civil, on a calendar starting in March.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let year_day = (1..month).map(|m| month_length(year, m)).sum::<u32>() + day;
        Civil {
            year,
            month,
            day,
            year_day,
            week_day: (days + 4).rem_euclid(7) as u32,
            hour: second_of_day / 3600,
            minute: second_of_day % 3600 / 60,
        }
    }
}

fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Days in `month` (1–12) of `year`.
fn month_length(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{sample, Harness};
    use super::super::FnImpl;
    use super::*;

    fn at(f: FnImpl, unix_s: f64) -> f64 {
        let input = [sample(&[("__name__", "x")], unix_s)];
        let out = Harness::new(0).call(f, &[Arg::Vector(&input)]).unwrap();
        assert!(out[0].drop_name && out[0].labels == input[0].labels);
        out[0].v
    }

    #[test]
    fn calendar_of_known_times() {
        // 2006-01-02T22:04:05Z, a Monday.
        let t = 1_136_239_445.0;
        let cases: [(FnImpl, f64); 8] = [
            (year, 2006.0),
            (month, 1.0),
            (day_of_month, 2.0),
            (day_of_year, 2.0),
            (day_of_week, 1.0),
            (hour, 22.0),
            (minute, 4.0),
            (days_in_month, 31.0),
        ];
        for (f, want) in cases {
            assert_eq!(at(f, t), want);
        }
        assert_eq!(at(year, 1_230_767_999.0), 2008.0);
        assert_eq!(at(year, 1_230_768_000.0), 2009.0);
        assert_eq!((at(month, 1_456_790_399.0), at(day_of_month, 1_456_790_399.0)), (2.0, 29.0));
        assert_eq!((at(month, 1_456_790_400.0), at(day_of_month, 1_456_790_400.0)), (3.0, 1.0));
        assert_eq!(at(day_of_year, 1_483_191_420.0), 366.0);
        assert_eq!(at(day_of_year, 1_672_493_820.0), 365.0);
        assert_eq!(at(days_in_month, 1_454_284_800.0), 29.0);
        assert_eq!(at(days_in_month, 1_485_907_200.0), 28.0);
        // Fractions truncate towards zero: -0.5 is 1970-01-01.
        assert_eq!(at(year, -0.5), 1970.0);
        assert_eq!(at(year, -1.0), 1969.0);
        assert_eq!(at(day_of_week, -86_400.0), 3.0);
    }

    #[test]
    fn calendar_without_argument_uses_the_evaluation_time() {
        let cases: [(FnImpl, f64); 7] = [
            (year, 1970.0),
            (month, 1.0),
            (day_of_month, 1.0),
            (day_of_year, 1.0),
            (day_of_week, 4.0),
            (hour, 0.0),
            (minute, 0.0),
        ];
        for (f, want) in cases {
            let out = Harness::new(999).call(f, &[]).unwrap();
            assert_eq!(out.len(), 1);
            assert!(out[0].labels.is_empty() && !out[0].drop_name);
            assert_eq!(out[0].v, want);
        }
        let out = Harness::new(1_136_239_445_000).call(hour, &[]).unwrap();
        assert_eq!(out[0].v, 22.0);
    }

    #[test]
    fn calendar_of_extreme_values_matches_go() {
        // int64(NaN) on amd64 is the smallest int64: -292277022657-01-27T08:29:52Z.
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
            assert_eq!(
                Civil::from_unix(go_float_to_int(v)),
                Civil { year: -292_277_022_657, month: 1, day: 27, year_day: 27, week_day: 0, hour: 8, minute: 29 }
            );
        }
        let max = Civil::from_unix(i64::MAX);
        assert_eq!((max.year, max.month, max.day, max.hour, max.minute), (292_277_026_596, 12, 4, 15, 30));
    }

    #[test]
    fn civil_agrees_with_day_counting_over_centuries() {
        let mut secs = -62_135_596_800; // 0001-01-01
        let mut expected = (1i64, 1u32, 1u32, 1u32);
        while secs < 7_258_118_400 {
            // 2200-01-01
            let c = Civil::from_unix(secs);
            assert_eq!((c.year, c.month, c.day, c.year_day), expected, "{secs}");
            let (y, m, d, yd) = expected;
            expected = if d < month_length(y, m) {
                (y, m, d + 1, yd + 1)
            } else if m < 12 {
                (y, m + 1, 1, yd + 1)
            } else {
                (y + 1, 1, 1, 1)
            };
            secs += 86_400;
        }
    }

    #[test]
    fn time_timestamp_and_query_bounds() {
        let mut h = Harness::new(1);
        assert_eq!(h.call(time, &[]).unwrap()[0].v, 0.001);
        let input = [Sample { t: 10_000, ..sample(&[("__name__", "m")], 5.0) }];
        let out = h.call(timestamp, &[Arg::Vector(&input)]).unwrap();
        assert_eq!((out[0].v, out[0].drop_name), (10.0, true));
        assert!(h.call(start_timestamp, &[Arg::Vector(&input)]).unwrap().is_empty());

        let mut h = Harness::new(110_000);
        (h.query_start, h.query_end, h.query_step) = (100_000, 130_000, 10_000);
        let values = |h: &mut Harness, f: FnImpl| h.call(f, &[]).unwrap()[0].v;
        assert_eq!(values(&mut h, start), 100.0);
        assert_eq!(values(&mut h, end), 130.0);
        assert_eq!(values(&mut h, range), 30.0);
        assert_eq!(values(&mut h, step), 10.0);
        // Instant query: no range, no step.
        let mut h = Harness::new(100_000);
        assert_eq!(values(&mut h, range), 0.0);
        assert_eq!(values(&mut h, step), 0.0);
        assert_eq!(values(&mut h, start), 100.0);
    }
}
