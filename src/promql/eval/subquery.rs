//! Time arithmetic of `offset`, `@` and subqueries.

use std::time::{Duration, SystemTime};

use promql_parser::parser::{AtModifier, Offset, SubqueryExpr};

use super::steps::Grid;

/// Milliseconds of a duration (saturating).
pub fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds of an `offset` (negative for `offset -5m`), 0 without one.
pub fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// The query's start and end, which `@ start()` and `@ end()` refer to.
#[derive(Clone, Copy, Debug)]
pub struct QueryTimes {
    /// Query start (milliseconds).
    pub start: i64,
    /// Query end (milliseconds).
    pub end: i64,
}

/// Milliseconds of an `@` modifier; times before 1970 are negative.
pub fn at_ms(at: &Option<AtModifier>, q: QueryTimes) -> Option<i64> {
    match at.as_ref()? {
        AtModifier::Start => Some(q.start),
        AtModifier::End => Some(q.end),
        AtModifier::At(t) => Some(system_time_ms(*t)),
    }
}

fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => duration_ms(&d),
        Err(e) => -duration_ms(&e.duration()),
    }
}

/// The first multiple of `interval` strictly after `t` (any sign of `t`).
pub fn first_aligned_after(t: i64, interval: i64) -> i64 {
    // Division truncates toward zero, as Go's does in Prometheus; the
    // correction makes this the first multiple > t for either sign.
    let mut start = interval * (t / interval);
    if start <= t {
        start += interval;
    }
    start
}

/// The grid a subquery evaluates its expression on when its parent is
/// evaluated over `parent`: every multiple of the subquery step in
/// `(first − offset − range, last − offset]`, where first and last are the
/// parent's first and last steps, or both the `@` time when there is one.
/// Also returns the subquery's offset and `@` time in milliseconds.
pub fn subquery_grid(
    parent: &Grid,
    sq: &SubqueryExpr,
    q: QueryTimes,
    default_step_ms: i64,
) -> (Grid, i64, Option<i64>) {
    let offset = offset_ms(&sq.offset);
    let range = duration_ms(&sq.range);
    let step = sq.step.as_ref().map(duration_ms).filter(|s| *s > 0).unwrap_or(default_step_ms).max(1);
    let at = at_ms(&sq.at, q);
    if parent.is_empty() {
        return (Grid { start: 1, end: 0, interval: step }, offset, at);
    }
    let (first, last) = match at {
        Some(t) => (t, t),
        None => (parent.start, parent.last()),
    };
    let start = first_aligned_after(first.saturating_sub(offset).saturating_sub(range), step);
    (Grid { start, end: last.saturating_sub(offset), interval: step }, offset, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_for_both_signs() {
        assert_eq!(first_aligned_after(-90, 60), -60);
        assert_eq!(first_aligned_after(-120, 60), -60);
        assert_eq!(first_aligned_after(-30, 60), 0);
        assert_eq!(first_aligned_after(0, 60), 60);
        assert_eq!(first_aligned_after(30, 60), 60);
        assert_eq!(first_aligned_after(60, 60), 120);
    }

    #[test]
    fn at_before_epoch_is_negative() {
        let e = promql_parser::parser::parse("x @ -1.5").unwrap();
        let promql_parser::parser::Expr::VectorSelector(vs) = e else { panic!() };
        assert_eq!(at_ms(&vs.at, QueryTimes { start: 0, end: 0 }), Some(-1500));
    }
}
