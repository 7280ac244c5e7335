//! Go's text forms of numbers and strings, as Prometheus prints them in
//! error messages, annotations, `count_values` labels and API responses.
//!
//! - [`format_g`]: `fmt`'s `%g`/`%v` of a `float64` (`strconv.FormatFloat(v,
//!   'g', -1, 64)` plus `fmt`'s `+Inf`): shortest digits, exponent form when
//!   the decimal exponent is below -4 or at least 6 (`1e+06`, `1.5e-07`).
//! - [`format_f`], [`write_f`]: `strconv.FormatFloat(v, 'f', -1, 64)`:
//!   shortest digits, never an exponent (`1e+21` prints as
//!   `1000000000000000000000`).
//! - [`format_e`], [`write_e`]: `strconv.FormatFloat(v, 'e', -1, 64)`:
//!   shortest digits, always an exponent of at least two digits (`1e-07`,
//!   `1.5e+21`).
//! - [`quote`], [`quote_into`]: `strconv.Quote` (`%q`).
//!
//! All float forms start from the shortest round-trip digits that `ryu`
//! computes (the closest shortest decimal, which is what Go's shortest
//! formatting chooses too), taken from `ryu`'s text on the stack: the
//! `write_*` forms append to a string without allocating, which is what
//! query responses with many thousands of values need.

use std::fmt::Write as _;

/// Shortest round-trip decimal digits of a finite float without leading or
/// trailing zeros, and the decimal point position: `|v| = 0.d1d2… ×
/// 10^dp`. Zero is the digit `0` with `dp = 1`.
struct Digits {
    buf: [u8; 32],
    len: usize,
    dp: i32,
}

impl Digits {
    fn of(v: f64) -> Self {
        let mut text = ryu::Buffer::new();
        let s = text.format_finite(v.abs()).as_bytes();
        let (mantissa, exp) = match s.iter().position(|&b| b == b'e') {
            Some(i) => (&s[..i], parse_exponent(&s[i + 1..])),
            None => (s, 0),
        };
        let mut d = Self { buf: [0; 32], len: 0, dp: exp };
        let mut before_point = true;
        for &b in mantissa {
            if b == b'.' {
                before_point = false;
                continue;
            }
            if before_point {
                d.dp += 1;
            }
            if d.len == 0 && b == b'0' {
                // A leading zero moves the point left.
                d.dp -= 1;
                continue;
            }
            d.buf[d.len] = b;
            d.len += 1;
        }
        while d.len > 0 && d.buf[d.len - 1] == b'0' {
            d.len -= 1;
        }
        if d.len == 0 {
            d.buf[0] = b'0';
            d.len = 1;
            d.dp = 1;
        }
        d
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("ryu writes ASCII digits")
    }
}

/// The exponent of `ryu`'s scientific form (`e-7`, `e21`).
fn parse_exponent(s: &[u8]) -> i32 {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let magnitude = digits.iter().fold(0i32, |acc, &b| acc * 10 + i32::from(b - b'0'));
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// Non-finite values as Go's `fmt` prints them.
fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Writes `digits` (point after `dp` digits) in plain decimal form.
fn write_fixed(out: &mut String, digits: &str, dp: i32) {
    let nd = digits.len() as i32;
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..-dp {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    if dp >= nd {
        out.push_str(digits);
        for _ in 0..dp - nd {
            out.push('0');
        }
        return;
    }
    out.push_str(&digits[..dp as usize]);
    out.push('.');
    out.push_str(&digits[dp as usize..]);
}

/// Go's `%g` (and `%v`) of a float64.
pub fn format_g(v: f64) -> String {
    let mut out = String::new();
    write_with(&mut out, v, |out, digits, dp| {
        if (-4..6).contains(&(dp - 1)) {
            write_fixed(out, digits, dp);
        } else {
            write_exp(out, digits, dp);
        }
    });
    out
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub fn format_f(v: f64) -> String {
    let mut out = String::new();
    write_f(&mut out, v);
    out
}

/// Appends Go's `strconv.FormatFloat(v, 'f', -1, 64)` to `out`.
pub fn write_f(out: &mut String, v: f64) {
    write_with(out, v, write_fixed);
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`.
pub fn format_e(v: f64) -> String {
    let mut out = String::new();
    write_e(&mut out, v);
    out
}

/// Appends Go's `strconv.FormatFloat(v, 'e', -1, 64)` to `out`.
pub fn write_e(out: &mut String, v: f64) {
    write_with(out, v, write_exp);
}

/// Appends `NaN`, `+Inf`, `-Inf`, or the sign followed by what `write`
/// makes of the shortest digits of `v` and their decimal point position.
fn write_with(out: &mut String, v: f64, write: impl FnOnce(&mut String, &str, i32)) {
    if let Some(s) = non_finite(v) {
        out.push_str(s);
        return;
    }
    let digits = Digits::of(v);
    if v.is_sign_negative() {
        out.push('-');
    }
    write(out, digits.as_str(), digits.dp);
}

/// Writes `digits` (point after `dp` digits) as `d.ddde±XX`.
fn write_exp(out: &mut String, digits: &str, dp: i32) {
    let exp = dp - 1;
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let magnitude = exp.unsigned_abs();
    if magnitude < 10 {
        out.push('0');
    }
    out.push_str(itoa::Buffer::new().format(magnitude));
}

/// Whether Go's `strconv.IsPrint` holds for `c`: graphic characters and the
/// ASCII space. Rust has no Unicode category table in `std`, so this
/// excludes controls, the non-ASCII spaces and separators, the common
/// format characters, private-use characters and noncharacters, which is
/// what `IsPrint` excludes in practice.
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0x00AD
        | 0x0600..=0x0605
        | 0x061C
        | 0x06DD
        | 0x070F
        | 0x08E2
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x206F
        | 0xE000..=0xF8FF
        | 0xFDD0..=0xFDEF
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0xFFFE..=0xFFFF
        | 0xF0000..=0x10FFFF
    ) && (c as u32 & 0xFFFE) != 0xFFFE
}

/// Go's `strconv.Quote`: double quotes, Go escapes, non-printable
/// characters as `\x`, `\u` or `\U` escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(&mut out, s);
    out
}

/// Appends `strconv.Quote(s)` to `out`.
pub fn quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        escape_rune(out, c, '"');
    }
    out.push('"');
}

/// Appends `c` as it appears inside a Go literal delimited by `quote`
/// (`"` for `strconv.Quote`, `'` for `strconv.QuoteRune`).
pub fn escape_rune(out: &mut String, c: char, quote: char) {
    match c {
        _ if c == quote || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if is_print(c) => out.push(c),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_g_matches_go_percent_g() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (1.1, "1.1"),
            (-1.1, "-1.1"),
            (100000.0, "100000"),
            (999999.0, "999999"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.000123, "0.000123"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5e-300, "-2.5e-300"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (9223372036854775807.0, "9.223372036854776e+18"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (5e-324, "5e-324"),
        ];
        for (v, want) in cases {
            assert_eq!(format_g(*v), *want, "{v:?}");
        }
    }

    #[test]
    fn format_f_matches_go_strconv_f_shortest() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (6.0, "6"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (1e6, "1000000"),
            (1e21, "1000000000000000000000"),
            (1.5e-7, "0.00000015"),
            (123.456, "123.456"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(format_f(*v), *want, "{v:?}");
        }
    }

    #[test]
    fn format_e_matches_go_strconv_e_shortest() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0e+00"),
            (-0.0, "-0e+00"),
            (1.0, "1e+00"),
            (1e-7, "1e-07"),
            (1.5e-10, "1.5e-10"),
            (1e21, "1e+21"),
            (-1.25e300, "-1.25e+300"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(format_e(*v), *want, "{v:?}");
        }
    }

    /// The digits and exponent of std's shortest `{:e}` form.
    fn std_digits(v: f64) -> (String, i32) {
        let s = format!("{:e}", v.abs());
        let (mantissa, exp) = s.split_once('e').expect("exponent");
        (mantissa.replace('.', ""), exp.parse::<i32>().expect("number") + 1)
    }

    #[test]
    fn shortest_digits_round_trip_and_are_as_short_as_std() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let edges = [0.0, 1.0, 0.1, 1e-5, 1e-6, 1e-7, 1e15, 1e16, 1e17, 1e21, 1e22, 123456789012345680.0, 5e-324];
        let randoms: Vec<f64> = (0..200_000).map(|_| f64::from_bits(rng.gen::<u64>())).collect();
        let counters: Vec<f64> = (0..50_000).map(|_| rng.gen_range(0..1u64 << 53) as f64 / 1000.0).collect();
        for v in edges.into_iter().chain(randoms).chain(counters).filter(|v| v.is_finite()) {
            let d = Digits::of(v);
            let text = format!("0.{}e{}", d.as_str(), d.dp);
            assert_eq!(text.parse::<f64>().expect("a number"), v.abs(), "{v:e} as {text}");
            assert_eq!(d.as_str().len(), std_digits(v).0.len(), "{v:e}");
        }
    }

    #[test]
    fn exact_ties_round_to_even_like_go() {
        // -153622082178829.125 is exactly between the 17-digit candidates;
        // Go (and ryu) pick the even one, std's `{:e}` the odd one.
        assert_eq!(format_f(-1.5362208217882913e14), "-153622082178829.12");
        assert_eq!(format_e(-1.5362208217882913e14), "-1.5362208217882912e+14");
    }

    #[test]
    fn quote_matches_go_strconv_quote() {
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("abc", r#""abc""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("tab\there\nnl", r#""tab\there\nnl""#),
            ("\u{7}\u{8}\u{c}\r\u{b}", r#""\a\b\f\r\v""#),
            ("\u{1}\u{7f}", r#""\x01\x7f""#),
            ("aÅz", "\"aÅz\""),
            ("é€", "\"é€\""),
            ("日本", "\"日本\""),
            ("\u{a0}", r#""\u00a0""#),
            ("\u{200b}", r#""\u200b""#),
            ("\u{feff}", r#""\ufeff""#),
            ("\u{10ffff}", r#""\U0010ffff""#),
        ];
        for (s, want) in cases {
            assert_eq!(quote(s), *want, "{s:?}");
        }
    }
}
