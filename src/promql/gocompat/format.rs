//! Go's text forms of numbers and strings, as Prometheus prints them in
//! error messages, annotations, `count_values` labels and API responses.
//!
//! - [`format_g`]: `fmt`'s `%g`/`%v` of a `float64` (`strconv.FormatFloat(v,
//!   'g', -1, 64)` plus `fmt`'s `+Inf`): shortest digits, exponent form when
//!   the decimal exponent is below -4 or at least 6 (`1e+06`, `1.5e-07`).
//! - [`format_f`]: `strconv.FormatFloat(v, 'f', -1, 64)`: shortest digits,
//!   never an exponent (`1e+21` prints as `1000000000000000000000`).
//! - [`format_e`]: `strconv.FormatFloat(v, 'e', -1, 64)`: shortest digits,
//!   always an exponent of at least two digits (`1e-07`, `1.5e+21`).
//! - [`quote`], [`quote_into`]: `strconv.Quote` (`%q`).
//!
//! All float forms start from Rust's shortest round-trip digits (`{:e}`),
//! which are the digits Go's shortest formatting chooses too.

use std::fmt::Write as _;

/// Shortest decimal digits of a finite `v` and its decimal point position:
/// `v = ±0.d1d2… × 10^dp`. Zero gives `("0", 1)`.
fn shortest_digits(v: f64) -> (bool, String, i32) {
    let s = format!("{:e}", v.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (v.is_sign_negative(), digits, exp + 1)
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
    format_with(v, |out, digits, dp| {
        if (-4..6).contains(&(dp - 1)) {
            write_fixed(out, digits, dp);
        } else {
            write_exp(out, digits, dp);
        }
    })
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub fn format_f(v: f64) -> String {
    format_with(v, write_fixed)
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`.
pub fn format_e(v: f64) -> String {
    format_with(v, write_exp)
}

/// `NaN`, `+Inf`, `-Inf`, or the sign followed by what `write` makes of the
/// shortest digits of `v` and their decimal point position.
fn format_with(v: f64, write: impl FnOnce(&mut String, &str, i32)) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    let (neg, digits, dp) = shortest_digits(v);
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    write(&mut out, &digits, dp);
    out
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
    let _ = write!(out, "{:02}", exp.unsigned_abs());
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
