//! Go's `time` as templates meet it: `time.Time` (always UTC here) printed
//! with `String()` or a `Format` layout such as `"2006-01-02 15:04"`, and
//! `time.Duration` printed with `String()` (`1h2m3.5s`).

use chrono::{DateTime, Datelike, Timelike};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// `time.Month.String()` of a month number (1-12).
pub(super) fn month_name(m: i64) -> &'static str {
    usize::try_from(m - 1).ok().and_then(|i| MONTHS.get(i)).copied().unwrap_or("%!Month")
}

/// `time.Weekday.String()` (0 = Sunday).
pub(super) fn weekday_name(d: i64) -> &'static str {
    usize::try_from(d).ok().and_then(|i| WEEKDAYS.get(i)).copied().unwrap_or("%!Weekday")
}

/// The calendar fields of a UTC instant.
pub(super) struct Civil {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub nanosecond: i64,
    pub weekday: i64,
    pub yearday: i64,
}

/// Splits nanoseconds since the epoch into UTC calendar fields.
pub(super) fn civil(ns: i64) -> Civil {
    let secs = ns.div_euclid(NANOS_PER_SECOND);
    let nanos = ns.rem_euclid(NANOS_PER_SECOND);
    // Every i64 of nanoseconds is within chrono's range.
    let t = DateTime::from_timestamp(secs, u32::try_from(nanos).unwrap_or(0)).unwrap_or_default();
    Civil {
        year: i64::from(t.year()),
        month: i64::from(t.month()),
        day: i64::from(t.day()),
        hour: i64::from(t.hour()),
        minute: i64::from(t.minute()),
        second: i64::from(t.second()),
        nanosecond: nanos,
        weekday: i64::from(t.weekday().num_days_from_sunday()),
        yearday: i64::from(t.ordinal()),
    }
}

/// `time.Time.String()` of a UTC instant: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(super) fn time_string(ns: i64) -> String {
    format(ns, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// One element of a layout.
enum Chunk {
    Literal(char),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm {
        upper: bool,
    },
    Tz,
    /// A numeric zone offset; `iso` prints `Z` for UTC.
    Offset {
        text: &'static str,
        iso: bool,
    },
    /// Fractional seconds: separator, digit count, and whether trailing
    /// zeros are kept (`.000`) or dropped (`.999`).
    Frac {
        sep: char,
        digits: usize,
        zeros: bool,
    },
}

const OFFSETS: [&str; 5] = ["-070000", "-07:00:00", "-0700", "-07:00", "-07"];

/// The chunk at the start of `l`, and its length (Go's `nextStdChunk`).
fn next_chunk(l: &str) -> (Chunk, usize) {
    let b = l.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    match at(0) {
        b'J' if l.starts_with("January") => return (Chunk::LongMonth, 7),
        b'J' if l.starts_with("Jan") => return (Chunk::Month, 3),
        b'M' if l.starts_with("Monday") => return (Chunk::LongWeekDay, 6),
        b'M' if l.starts_with("Mon") => return (Chunk::WeekDay, 3),
        b'M' if l.starts_with("MST") => return (Chunk::Tz, 3),
        b'0' if (b'1'..=b'6').contains(&at(1)) => {
            let c = match at(1) {
                b'1' => Chunk::ZeroMonth,
                b'2' => Chunk::ZeroDay,
                b'3' => Chunk::ZeroHour12,
                b'4' => Chunk::ZeroMinute,
                b'5' => Chunk::ZeroSecond,
                _ => Chunk::Year,
            };
            return (c, 2);
        }
        b'0' if l.starts_with("002") => return (Chunk::ZeroYearDay, 3),
        b'1' if l.starts_with("15") => return (Chunk::Hour, 2),
        b'1' => return (Chunk::NumMonth, 1),
        b'2' if l.starts_with("2006") => return (Chunk::LongYear, 4),
        b'2' => return (Chunk::Day, 1),
        b'_' if l.starts_with("_2") && !l.starts_with("_2006") => return (Chunk::UnderDay, 2),
        b'_' if l.starts_with("__2") => return (Chunk::UnderYearDay, 3),
        b'3' => return (Chunk::Hour12, 1),
        b'4' => return (Chunk::Minute, 1),
        b'5' => return (Chunk::Second, 1),
        b'P' if l.starts_with("PM") => return (Chunk::Pm { upper: true }, 2),
        b'p' if l.starts_with("pm") => return (Chunk::Pm { upper: false }, 2),
        b'-' | b'Z' => {
            let iso = at(0) == b'Z';
            for text in OFFSETS {
                if l[1..].starts_with(&text[1..]) {
                    return (Chunk::Offset { text, iso }, text.len());
                }
            }
        }
        c @ (b'.' | b',') if matches!(at(1), b'0' | b'9') => {
            let d = at(1);
            let n = b[1..].iter().take_while(|&&x| x == d).count();
            if !at(1 + n).is_ascii_digit() {
                return (Chunk::Frac { sep: char::from(c), digits: n, zeros: d == b'0' }, 1 + n);
            }
        }
        _ => {}
    }
    let c = l.chars().next().unwrap_or(' ');
    (Chunk::Literal(c), c.len_utf8())
}

/// `time.Time.Format(layout)` of a UTC instant.
pub(super) fn format(ns: i64, layout: &str) -> String {
    let t = civil(ns);
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (chunk, len) = next_chunk(rest);
        rest = &rest[len..];
        let hour12 = if t.hour % 12 == 0 { 12 } else { t.hour % 12 };
        let s = match chunk {
            Chunk::Literal(c) => c.to_string(),
            Chunk::LongMonth => month_name(t.month).to_owned(),
            Chunk::Month => month_name(t.month)[..3].to_owned(),
            Chunk::NumMonth => t.month.to_string(),
            Chunk::ZeroMonth => format!("{:02}", t.month),
            Chunk::LongWeekDay => weekday_name(t.weekday).to_owned(),
            Chunk::WeekDay => weekday_name(t.weekday)[..3].to_owned(),
            Chunk::Day => t.day.to_string(),
            Chunk::UnderDay => format!("{:>2}", t.day),
            Chunk::ZeroDay => format!("{:02}", t.day),
            Chunk::UnderYearDay => format!("{:>3}", t.yearday),
            Chunk::ZeroYearDay => format!("{:03}", t.yearday),
            Chunk::Hour => format!("{:02}", t.hour),
            Chunk::Hour12 => hour12.to_string(),
            Chunk::ZeroHour12 => format!("{hour12:02}"),
            Chunk::Minute => t.minute.to_string(),
            Chunk::ZeroMinute => format!("{:02}", t.minute),
            Chunk::Second => t.second.to_string(),
            Chunk::ZeroSecond => format!("{:02}", t.second),
            Chunk::LongYear => format!("{:04}", t.year),
            Chunk::Year => format!("{:02}", t.year.rem_euclid(100)),
            Chunk::Pm { upper } => match (t.hour >= 12, upper) {
                (true, true) => "PM".into(),
                (true, false) => "pm".into(),
                (false, true) => "AM".into(),
                (false, false) => "am".into(),
            },
            Chunk::Tz => "UTC".into(),
            Chunk::Offset { iso: true, .. } => "Z".into(),
            Chunk::Offset { text, .. } => text.replace('-', "+").replace('7', "0"),
            Chunk::Frac { sep, digits, zeros } => {
                let all = format!("{:09}", t.nanosecond);
                let mut f = all[..digits.min(9)].to_owned();
                if zeros {
                    f.extend(std::iter::repeat_n('0', digits.saturating_sub(9)));
                } else {
                    f.truncate(f.trim_end_matches('0').len());
                }
                if f.is_empty() {
                    String::new()
                } else {
                    format!("{sep}{f}")
                }
            }
        };
        out.push_str(&s);
    }
    out
}

/// The digits of `u / 10^prec`'s fraction, without trailing zeros, as
/// `.123`, or nothing when it is zero; and `u / 10^prec`.
fn frac(u: u64, prec: u32) -> (String, u64) {
    let p = 10u64.pow(prec);
    let f = u % p;
    if f == 0 {
        return (String::new(), u / p);
    }
    let digits = format!("{f:0width$}", width = prec as usize);
    (format!(".{}", digits.trim_end_matches('0')), u / p)
}

/// `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(super) fn duration_string(d: i64) -> String {
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if u < NANOS_PER_SECOND as u64 {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            1..=999 => (0, "ns"),
            1000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (f, whole) = frac(u, prec);
        out = format!("{whole}{f}{unit}");
    } else {
        let (f, secs) = frac(u, 9);
        u = secs;
        let s = format!("{}{f}s", u % 60);
        u /= 60;
        if u > 0 {
            let m = format!("{}m", u % 60);
            u /= 60;
            if u > 0 {
                out = format!("{u}h");
            }
            out.push_str(&m);
        }
        out.push_str(&s);
    }
    if d < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_as_go() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(1800 * NANOS_PER_SECOND), "30m0s");
        assert_eq!(duration_string(3723 * NANOS_PER_SECOND + 500_000_000), "1h2m3.5s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(-2_000), "-2µs");
        assert_eq!(duration_string(7), "7ns");
    }

    #[test]
    fn formats_times_as_go() {
        let t = 1_435_065_584_128_000_000;
        assert_eq!(time_string(t), "2015-06-23 13:19:44.128 +0000 UTC");
        assert_eq!(time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(time_string(-NANOS_PER_SECOND), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(format(t, "2006"), "2015");
        assert_eq!(format(t, "Mon Jan _2 3:04:05PM 06 Z07:00 .000 __2"), "Tue Jun 23 1:19:44PM 15 Z .128 174");
        assert_eq!(
            format(t, "Monday, 02-January-2006 15:04:05,999 -07:00 MST"),
            "Tuesday, 23-June-2015 13:19:44,128 +00:00 UTC"
        );
    }
}
