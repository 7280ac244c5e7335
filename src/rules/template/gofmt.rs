//! The parts of Go's `fmt` and `strconv` that templates print through:
//! `print`, `printf` and `println` (verbs, flags, width, precision,
//! argument indexes and the `%!verb(type=value)` error forms), how a value
//! prints in an action (`%v`: `1e+06` for large floats, `map[a:b]`), and
//! Go's quoting, unquoting and float parsing.

use std::fmt::Write as _;

use super::gotime;
use super::value::Value;

use crate::promql::gocompat::format::escape_rune;
pub(super) use crate::promql::gocompat::format::{is_print, quote};

/// Go's `strconv.QuoteRune`.
fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    escape_rune(&mut out, c, '\'');
    out.push('\'');
    out
}

/// Go's `strconv.Unquote` of a `"..."`, `` `...` `` or `'.'` literal; Err
/// is Go's `invalid syntax`.
pub(super) fn unquote(s: &str) -> Result<String, String> {
    let bad = || "invalid syntax".to_owned();
    let quote = s.chars().next().ok_or_else(bad)?;
    if s.len() < 2 || !s.ends_with(quote) {
        return Err(bad());
    }
    let body = &s[1..s.len() - 1];
    match quote {
        '`' if !body.contains('`') => return Ok(body.replace('\r', "")),
        '"' | '\'' => {}
        _ => return Err(bad()),
    }
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    let mut count = 0;
    while let Some(c) = chars.next() {
        count += 1;
        if c == quote && quote == '\'' || c == '\n' {
            return Err(bad());
        }
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '\'' | '"' if e == quote => Some(e as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let mut take = |n: usize, radix: u32| -> Result<u32, String> {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            if digits.len() != n {
                return Err(bad());
            }
            u32::from_str_radix(&digits, radix).map_err(|_| bad())
        };
        match e {
            'x' => out.push(u8::try_from(take(2, 16)?).map_err(|_| bad())?),
            '0'..='7' => {
                let rest = take(2, 8)?;
                let v = (e as u32 - '0' as u32) * 64 + rest;
                out.push(u8::try_from(v).map_err(|_| bad())?);
            }
            'u' | 'U' => {
                let c = char::from_u32(take(if e == 'u' { 4 } else { 8 }, 16)?).ok_or_else(bad)?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => return Err(bad()),
        }
    }
    if quote == '\'' && count != 1 {
        return Err(bad());
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Removes `_` digit separators if each stands between two digits (or a
/// base prefix and a digit), as Go allows; None otherwise.
pub(super) fn strip_underscores(s: &str) -> Option<String> {
    if !s.contains('_') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before = i > 0 && b[i - 1].is_ascii_alphanumeric();
            let after = i + 1 < b.len() && b[i + 1].is_ascii_hexdigit();
            if !before || !after {
                return None;
            }
        }
    }
    Some(s.replace('_', ""))
}

/// Why [`parse_float`] failed, as Go's `strconv.ParseFloat` says it.
#[derive(Debug, PartialEq)]
pub(super) enum FloatError {
    Syntax,
    Range,
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hexadecimal (`0x1p-2`)
/// forms, `_` separators, `Inf`/`Infinity`/`NaN` in any case.
pub(super) fn parse_float(s: &str) -> Result<f64, FloatError> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            let clean = strip_underscores(&lower).ok_or(FloatError::Syntax)?;
            let v = if let Some(hex) = clean.strip_prefix("0x") {
                parse_hex_float(hex)?
            } else {
                let valid = !clean.is_empty()
                    && clean.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
                    && clean.bytes().next().is_some_and(|c| c.is_ascii_digit() || c == b'.');
                if !valid {
                    return Err(FloatError::Syntax);
                }
                clean.parse::<f64>().map_err(|_| FloatError::Syntax)?
            };
            if v.is_infinite() {
                return Err(FloatError::Range);
            }
            v
        }
    };
    Ok(if neg { -v } else { v })
}

fn parse_hex_float(s: &str) -> Result<f64, FloatError> {
    let (mantissa, exp) = s.split_once('p').ok_or(FloatError::Syntax)?;
    let exp: i32 = exp.parse().map_err(|_| FloatError::Syntax)?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(FloatError::Syntax);
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16).ok_or(FloatError::Syntax)?);
    }
    let shift = exp - 4 * i32::try_from(frac.len()).map_err(|_| FloatError::Syntax)?;
    Ok(v * 2f64.powi(shift))
}

/// The message of Go's `strconv.ParseFloat` error for `s`.
pub(super) fn parse_float_message(s: &str, e: &FloatError) -> String {
    let why = match e {
        FloatError::Syntax => "invalid syntax",
        FloatError::Range => "value out of range",
    };
    format!("strconv.ParseFloat: parsing {}: {why}", quote(s))
}

/// Decimal digits of a float: value = 0.d1d2... × 10^dp; no digits for 0.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

impl Digits {
    /// From Rust's `{:e}` rendering (`1.2345e6`) of a finite, non-negative value.
    fn from_exp(s: &str) -> Digits {
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        let mut d: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        while d.last() == Some(&b'0') {
            d.pop();
        }
        let exp: i32 = exp.parse().unwrap_or(0);
        if d.is_empty() {
            return Digits { d, dp: 0 };
        }
        Digits { d, dp: exp + 1 }
    }

    /// The shortest digits that read back as `v`.
    fn shortest(v: f64) -> Digits {
        Digits::from_exp(&format!("{v:e}"))
    }

    /// `v` correctly rounded to `n` significant digits, trailing zeros dropped.
    fn significant(v: f64, n: usize) -> Digits {
        Digits::from_exp(&format!("{:.*e}", n.saturating_sub(1), v))
    }

    fn nd(&self) -> i32 {
        i32::try_from(self.d.len()).unwrap_or(i32::MAX)
    }

    fn digit(&self, i: i32) -> char {
        usize::try_from(i).ok().and_then(|i| self.d.get(i)).map_or('0', |&b| b as char)
    }

    /// `%e`: d.ddde±xx with `prec` decimals.
    fn fmt_e(&self, out: &mut String, prec: i32, e: char) {
        out.push(self.digit(0));
        if prec > 0 {
            out.push('.');
            for i in 1..=prec {
                out.push(self.digit(i));
            }
        }
        out.push(e);
        let exp = if self.d.is_empty() { 0 } else { self.dp - 1 };
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
    }

    /// `%f` with `prec` decimals.
    fn fmt_f(&self, out: &mut String, prec: i32) {
        if self.dp > 0 {
            for i in 0..self.dp {
                out.push(self.digit(i));
            }
        } else {
            out.push('0');
        }
        if prec > 0 {
            out.push('.');
            for i in 1..=prec {
                out.push(self.digit(self.dp + i - 1));
            }
        }
    }
}

/// Go's `strconv.FormatFloat(v, fmt, prec, 64)` for `fmt` in `e E f g G`;
/// `prec` < 0 means the shortest representation.
pub(super) fn format_float(v: f64, fmt: char, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    let prec_usize = usize::try_from(prec).ok();
    match fmt {
        'f' | 'F' => match prec_usize {
            Some(p) => {
                let _ = write!(out, "{a:.p$}");
            }
            None => {
                let d = Digits::shortest(a);
                d.fmt_f(&mut out, (d.nd() - d.dp).max(0));
            }
        },
        'e' | 'E' => {
            let d = match prec_usize {
                Some(p) => Digits::significant(a, p + 1),
                None => Digits::shortest(a),
            };
            let p = if prec < 0 { (d.nd() - 1).max(0) } else { prec };
            d.fmt_e(&mut out, p, fmt);
        }
        _ => {
            let shortest = prec < 0;
            let mut prec = if prec == 0 { 1 } else { prec };
            let d = if shortest { Digits::shortest(a) } else { Digits::significant(a, prec_usize.unwrap_or(1).max(1)) };
            let mut eprec = prec;
            if shortest {
                prec = d.nd();
                eprec = 6;
            } else if eprec > d.nd() && d.nd() >= d.dp {
                eprec = d.nd();
            }
            let exp = d.dp - 1;
            if exp < -4 || exp >= eprec {
                if prec > d.nd() {
                    prec = d.nd();
                }
                d.fmt_e(&mut out, prec - 1, if fmt == 'G' { 'E' } else { 'e' });
            } else {
                if prec > d.dp {
                    prec = d.nd();
                }
                d.fmt_f(&mut out, (prec - d.dp).max(0));
            }
        }
    }
    out
}

/// Formatting flags of one verb.
#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt` printer state.
#[derive(Default)]
struct Printer {
    buf: String,
    f: Flags,
}

const MAX_NUM: usize = 1_000_000;

impl Printer {
    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    fn pad(&mut self, s: &str) {
        let Some(wid) = self.f.wid else {
            self.buf.push_str(s);
            return;
        };
        let n = wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.write_padding(n);
        } else {
            self.write_padding(n);
            self.buf.push_str(s);
        }
    }

    fn bad_verb(&mut self, verb: char, v: &Value) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        if matches!(v, Value::Nil) {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(v.type_name());
            self.buf.push('=');
            self.print_value(v, 'v', 0);
        }
        self.buf.push(')');
    }

    fn fmt_bool(&mut self, b: bool) {
        self.pad(if b { "true" } else { "false" });
    }

    fn fmt_integer(&mut self, neg: bool, u: u64, verb: char, v: &Value) {
        let base = match verb {
            'd' | 'v' => 10,
            'b' => 2,
            'o' | 'O' => 8,
            'x' | 'X' => 16,
            'c' => {
                let c = u32::try_from(u).ok().and_then(char::from_u32).filter(|_| !neg).unwrap_or('\u{FFFD}');
                self.pad(&c.to_string());
                return;
            }
            'q' => {
                let c = u32::try_from(u).ok().and_then(char::from_u32).filter(|_| !neg).unwrap_or('\u{FFFD}');
                self.pad(&quote_rune(c));
                return;
            }
            'U' => {
                let mut s = format!("U+{u:04X}");
                if self.f.sharp {
                    if let Some(c) = u32::try_from(u).ok().and_then(char::from_u32).filter(|c| is_print(*c)) {
                        let _ = write!(s, " '{c}'");
                    }
                }
                let saved = self.f.zero;
                self.f.zero = false;
                self.pad(&s);
                self.f.zero = saved;
                return;
            }
            _ => return self.bad_verb(verb, v),
        };
        let mut prec = 0;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let saved = self.f.zero;
                self.f.zero = false;
                let n = self.f.wid.unwrap_or(0);
                self.write_padding(n);
                self.f.zero = saved;
                return;
            }
        } else if let (true, Some(w)) = (self.f.zero, self.f.wid) {
            prec = w;
            if neg || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut digits = match base {
            2 => format!("{u:b}"),
            8 => format!("{u:o}"),
            16 if verb == 'X' => format!("{u:X}"),
            16 => format!("{u:x}"),
            _ => u.to_string(),
        };
        if digits.len() < prec {
            digits = "0".repeat(prec - digits.len()) + &digits;
        }
        let mut prefix = String::new();
        if neg {
            prefix.push('-');
        } else if self.f.plus {
            prefix.push('+');
        } else if self.f.space {
            prefix.push(' ');
        }
        match (base, verb, self.f.sharp) {
            (2, _, true) => prefix.push_str("0b"),
            (8, 'O', _) => prefix.push_str("0o"),
            (8, _, true) if !digits.starts_with('0') => prefix.push('0'),
            (16, 'x', true) => prefix.push_str("0x"),
            (16, 'X', true) => prefix.push_str("0X"),
            _ => {}
        }
        let saved = self.f.zero;
        self.f.zero = false;
        self.pad(&(prefix + &digits));
        self.f.zero = saved;
    }

    fn fmt_float(&mut self, x: f64, verb: char, v: &Value) {
        let (fmt, default_prec) = match verb {
            'v' | 'g' => ('g', -1),
            'G' => ('G', -1),
            'e' | 'E' | 'f' => (verb, 6),
            'F' => ('f', 6),
            _ => return self.bad_verb(verb, v),
        };
        let prec = self.f.prec.map_or(default_prec, |p| i32::try_from(p).unwrap_or(i32::MAX));
        let mut num = format_float(x, fmt, prec);
        if !num.starts_with(['-', '+']) {
            num.insert(0, '+');
        }
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(0..1, " ");
        }
        if num[1..].starts_with(['I', 'N']) {
            let saved = self.f.zero;
            self.f.zero = false;
            if num[1..].starts_with('N') && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad(&num);
            self.f.zero = saved;
            return;
        }
        if self.f.plus || !num.starts_with('+') {
            if let (true, Some(w)) = (self.f.zero, self.f.wid) {
                if w > num.len() {
                    self.buf.push_str(&num[..1]);
                    self.write_padding(w - num.len());
                    self.buf.push_str(&num[1..]);
                    return;
                }
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        match verb {
            'v' | 's' => {
                let s: String = match self.f.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.to_owned(),
                };
                self.pad(&s);
            }
            'q' => self.pad(&quote(s)),
            'x' | 'X' => {
                let bytes = match self.f.prec {
                    Some(p) => &s.as_bytes()[..p.min(s.len())],
                    None => s.as_bytes(),
                };
                let mut out = String::new();
                for (i, b) in bytes.iter().enumerate() {
                    if self.f.space && i > 0 {
                        out.push(' ');
                    }
                    if self.f.sharp && (self.f.space || i == 0) {
                        out.push_str(if verb == 'x' { "0x" } else { "0X" });
                    }
                    let _ = if verb == 'x' { write!(out, "{b:02x}") } else { write!(out, "{b:02X}") };
                }
                self.pad(&out);
            }
            _ => self.bad_verb(verb, v),
        }
    }

    /// Prints one operand for `verb` (Go's `printArg`).
    fn print_arg(&mut self, v: &Value, verb: char) {
        match (v, verb) {
            (_, 'T') => {
                let t = v.type_name();
                self.fmt_string(t, 's', v);
            }
            (Value::Nil, 'v') => self.pad("<nil>"),
            (Value::Nil, _) => self.bad_verb(verb, v),
            _ => self.print_value(v, verb, 0),
        }
    }

    /// A value's `String()` method, for the types that have one.
    fn stringer(v: &Value) -> Option<String> {
        Some(match v {
            Value::Duration(d) | Value::DurationPtr(d) => gotime::duration_string(*d),
            Value::Time(t) | Value::TimePtr(t) => gotime::time_string(*t),
            Value::Month(m) => gotime::month_name(*m).to_owned(),
            Value::Weekday(d) => gotime::weekday_name(*d).to_owned(),
            _ => return None,
        })
    }

    fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
        if matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') {
            if let Some(s) = Printer::stringer(v) {
                return self.fmt_string(&s, verb, v);
            }
        }
        match v {
            Value::Nil => {
                if depth == 0 {
                    self.bad_verb(verb, v);
                } else {
                    self.pad("<nil>");
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.fmt_bool(*b),
                _ => self.bad_verb(verb, v),
            },
            Value::Int(i) | Value::Int64(i) | Value::Duration(i) | Value::Month(i) | Value::Weekday(i) => {
                self.fmt_integer(*i < 0, i.unsigned_abs(), verb, v);
            }
            Value::Byte(b) => self.fmt_integer(false, u64::from(*b), verb, v),
            Value::Float(f) => self.fmt_float(*f, verb, v),
            Value::Str(s) | Value::Html(s) => self.fmt_string(s, verb, v),
            Value::StrMap(m) => {
                self.buf.push_str("map[");
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.print_value(&Value::str(k), verb, depth + 1);
                    self.buf.push(':');
                    self.print_value(&Value::str(val), verb, depth + 1);
                }
                self.buf.push(']');
            }
            Value::AnyMap(m) => {
                self.buf.push_str("map[");
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.print_value(&Value::str(k), verb, depth + 1);
                    self.buf.push(':');
                    self.print_value(val, verb, depth + 1);
                }
                self.buf.push(']');
            }
            Value::Vector(samples) => {
                self.buf.push('[');
                for (i, s) in samples.borrow().iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.print_value(&Value::Sample(s.clone()), verb, depth + 1);
                }
                self.buf.push(']');
            }
            Value::Sample(s) => {
                self.buf.push_str("&{");
                self.field("Labels");
                self.print_value(&Value::StrMap(s.labels.clone()), verb, depth + 1);
                self.buf.push(' ');
                self.field("Value");
                self.print_value(&Value::Float(s.value), verb, depth + 1);
                self.buf.push('}');
            }
            Value::Data(d) => {
                self.buf.push('{');
                let fields = [
                    ("Labels", Value::StrMap(d.labels.clone())),
                    ("ExternalLabels", Value::StrMap(d.external_labels.clone())),
                    ("ExternalURL", Value::str(&d.external_url)),
                    ("Value", Value::Float(d.value)),
                ];
                for (i, (name, val)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.field(name);
                    self.print_value(val, verb, depth + 1);
                }
                self.buf.push('}');
            }
            Value::TimePtr(_) | Value::Time(_) | Value::DurationPtr(_) => self.bad_verb(verb, v),
        }
    }

    /// A struct field's name, printed with `%+v`.
    fn field(&mut self, name: &str) {
        if self.f.plus_v {
            self.buf.push_str(name);
            self.buf.push(':');
        }
    }
}

/// Go's `fmt.Sprint`: operands in their `%v` form, with spaces between
/// two operands when neither is a string.
pub(super) fn sprint(args: &[Value]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = a.as_str().is_some();
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// Go's `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(super) fn sprintln(args: &[Value]) -> String {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// How a value prints in an action or with `%v`.
pub(super) fn format_v(v: &Value) -> String {
    sprint(std::slice::from_ref(v))
}

/// Parses a decimal number at `format[i..end]` (Go's `parsenum`).
fn parse_num(format: &[u8], mut i: usize, end: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n = 0usize;
    while i < end && format[i].is_ascii_digit() {
        n = n * 10 + usize::from(format[i] - b'0');
        if n > MAX_NUM {
            return (None, end);
        }
        i += 1;
    }
    ((i > start).then_some(n), i)
}

/// State of argument numbering while running a format.
struct ArgState {
    arg_num: usize,
    reordered: bool,
    good_arg_num: bool,
}

impl ArgState {
    /// Parses an explicit `[n]` argument index at `format[i..]`; returns the
    /// new position and whether an index was read.
    fn arg_number(&mut self, format: &[u8], i: usize, num_args: usize) -> (usize, bool) {
        if i >= format.len() || format[i] != b'[' {
            return (i, false);
        }
        self.reordered = true;
        let rest = &format[i..];
        if rest.len() < 3 {
            self.good_arg_num = false;
            return (i + 1, false);
        }
        for j in 1..rest.len() {
            if rest[j] == b']' {
                let (n, newj) = parse_num(rest, 1, j);
                match n {
                    Some(n) if newj == j && n >= 1 && n - 1 < num_args => {
                        self.arg_num = n - 1;
                        return (i + j + 1, true);
                    }
                    Some(_) if newj == j => {
                        self.good_arg_num = false;
                        return (i + j + 1, true);
                    }
                    _ => {
                        self.good_arg_num = false;
                        return (i + j + 1, false);
                    }
                }
            }
        }
        self.good_arg_num = false;
        (i + 1, false)
    }

    /// An int operand for `*` width or precision.
    fn int_from_arg(&mut self, args: &[Value]) -> Option<i64> {
        let v = args.get(self.arg_num)?;
        self.arg_num += 1;
        let n = match v {
            Value::Int(i) | Value::Int64(i) | Value::Duration(i) => *i,
            Value::Byte(b) => i64::from(*b),
            _ => return None,
        };
        (n.unsigned_abs() <= MAX_NUM as u64).then_some(n)
    }
}

/// Go's `fmt.Sprintf`.
pub(super) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    let fb = format.as_bytes();
    let end = fb.len();
    let mut st = ArgState { arg_num: 0, reordered: false, good_arg_num: true };
    let mut i = 0;
    while i < end {
        st.good_arg_num = true;
        let last = i;
        while i < end && fb[i] != b'%' {
            i += 1;
        }
        p.buf.push_str(&format[last..i]);
        if i >= end {
            break;
        }
        i += 1;
        p.f = Flags::default();
        while i < end {
            match fb[i] {
                b'#' => p.f.sharp = true,
                b'0' => p.f.zero = !p.f.minus,
                b'+' => p.f.plus = true,
                b'-' => {
                    p.f.minus = true;
                    p.f.zero = false;
                }
                b' ' => p.f.space = true,
                _ => break,
            }
            i += 1;
        }
        let (ni, mut after_index) = st.arg_number(fb, i, args.len());
        i = ni;
        if i < end && fb[i] == b'*' {
            i += 1;
            match st.int_from_arg(args) {
                Some(w) => {
                    if w < 0 {
                        p.f.minus = true;
                        p.f.zero = false;
                    }
                    p.f.wid = usize::try_from(w.unsigned_abs()).ok();
                }
                None => p.buf.push_str("%!(BADWIDTH)"),
            }
            after_index = false;
        } else {
            let (w, ni) = parse_num(fb, i, end);
            p.f.wid = w;
            i = ni;
            if after_index && w.is_some() {
                st.good_arg_num = false;
            }
        }
        if i + 1 < end && fb[i] == b'.' {
            i += 1;
            if after_index {
                st.good_arg_num = false;
            }
            let (ni, ai) = st.arg_number(fb, i, args.len());
            i = ni;
            after_index = ai;
            if i < end && fb[i] == b'*' {
                i += 1;
                match st.int_from_arg(args) {
                    Some(pr) if pr >= 0 => p.f.prec = usize::try_from(pr).ok(),
                    _ => {
                        p.f.prec = None;
                        p.buf.push_str("%!(BADPREC)");
                    }
                }
                after_index = false;
            } else {
                let (pr, ni) = parse_num(fb, i, end);
                p.f.prec = Some(pr.unwrap_or(0));
                i = ni;
            }
        }
        if !after_index {
            let (ni, _) = st.arg_number(fb, i, args.len());
            i = ni;
        }
        if i >= end {
            p.buf.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('?');
        i += verb.len_utf8();
        if verb == '%' {
            p.buf.push('%');
        } else if !st.good_arg_num {
            let _ = write!(p.buf, "%!{verb}(BADINDEX)");
        } else if st.arg_num >= args.len() {
            let _ = write!(p.buf, "%!{verb}(MISSING)");
        } else {
            if verb == 'v' {
                p.f.plus_v = p.f.plus;
                p.f.plus = false;
                p.f.sharp = false;
            }
            p.print_arg(&args[st.arg_num], verb);
            st.arg_num += 1;
        }
    }
    if !st.reordered && st.arg_num < args.len() {
        p.f = Flags::default();
        p.buf.push_str("%!(EXTRA ");
        for (i, a) in args[st.arg_num..].iter().enumerate() {
            if i > 0 {
                p.buf.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                p.buf.push_str("<nil>");
            } else {
                p.buf.push_str(a.type_name());
                p.buf.push('=');
                p.print_arg(a, 'v');
            }
        }
        p.buf.push(')');
    }
    p.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        let v = |f: f64| format_v(&Value::Float(f));
        assert_eq!(v(0.5), "0.5");
        assert_eq!(v(11.0), "11");
        assert_eq!(v(123456.0), "123456");
        assert_eq!(v(1234567.0), "1.234567e+06");
        assert_eq!(v(1e21), "1e+21");
        assert_eq!(v(0.0001), "0.0001");
        assert_eq!(v(0.000012), "1.2e-05");
        assert_eq!(v(-0.0), "-0");
        assert_eq!(v(f64::INFINITY), "+Inf");
        assert_eq!(v(f64::NEG_INFINITY), "-Inf");
        assert_eq!(v(f64::NAN), "NaN");
        assert_eq!(v(1353755652.0), "1.353755652e+09");
    }

    #[test]
    fn sprintf_matches_go() {
        let f = |s: &str, a: &[Value]| sprintf(s, a);
        assert_eq!(
            f(
                "%v %g %.4g %e %f",
                &[Value::Float(1e21), Value::Float(1e-7), Value::Float(1.5), Value::Float(123456.0), Value::Float(2.5)]
            ),
            "1e+21 1e-07 1.5 1.234560e+05 2.500000"
        );
        assert_eq!(
            f(
                "%.0f %.1f %.2f %5.1f|%-6s|%06.2f|%x|%X|%q|%v|%d",
                &[
                    Value::Float(2.5),
                    Value::Float(0.25),
                    Value::Float(1.005),
                    Value::Float(4.14159),
                    Value::str("ab"),
                    Value::Float(-1.5),
                    Value::str("hi"),
                    Value::Int(255),
                    Value::str("a\"b"),
                    Value::StrMap(Default::default()),
                    Value::Int(3),
                ]
            ),
            "2 0.2 1.00   4.1|ab    |-01.50|6869|FF|\"a\\\"b\"|map[]|3"
        );
        assert_eq!(f("%d %s %v", &[Value::str("x"), Value::Float(1.5)]), "%!d(string=x) %!s(float64=1.5) %!v(MISSING)");
        assert_eq!(f("%!", &[]), "%!!(MISSING)");
        assert_eq!(f("%z", &[Value::Int(1)]), "%!z(int=1)");
        assert_eq!(f("%d", &[Value::Int(1), Value::Int(2)]), "1%!(EXTRA int=2)");
        assert_eq!(f("%[2]s %[1]s", &[Value::str("a"), Value::str("b")]), "b a");
        assert_eq!(f("%5.2f%%", &[Value::Float(12.3456)]), "12.35%");
        assert_eq!(
            f(
                "%+d %05d %x %o %c %q %U",
                &[
                    Value::Int(5),
                    Value::Int(-42),
                    Value::Int(-255),
                    Value::Int(8),
                    Value::Int(65),
                    Value::Int(97),
                    Value::Int(0x1F600)
                ]
            ),
            "+5 -0042 -ff 10 A 'a' U+1F600"
        );
        assert_eq!(f("%t %v %s", &[Value::Bool(true), Value::Nil, Value::Nil]), "true <nil> %!s(<nil>)");
        assert_eq!(
            f("%.3s|%8.3e|%G", &[Value::str("abcdef"), Value::Float(1234.5678), Value::Float(1e-10)]),
            "abc|1.235e+03|1E-10"
        );
    }

    #[test]
    fn sprint_spaces_non_string_operands() {
        assert_eq!(sprint(&[Value::Int(1), Value::Int(2), Value::str("a"), Value::Int(3), Value::Nil]), "1 2a3 <nil>");
        assert_eq!(sprintln(&[Value::Int(1), Value::str("a")]), "1 a\n");
    }

    #[test]
    fn quotes_and_unquotes_like_strconv() {
        assert_eq!(quote("a\"b\\\n\u{a0}\u{1}é"), "\"a\\\"b\\\\\\n\\u00a0\\x01é\"");
        assert_eq!(unquote("\"a\\tb\\u00e9\\x41\\101\""), Ok("a\tbéAA".to_owned()));
        assert_eq!(unquote("`a\\n`"), Ok("a\\n".to_owned()));
        assert_eq!(unquote("'x'"), Ok("x".to_owned()));
        assert_eq!(unquote("\"a\\q\""), Err("invalid syntax".to_owned()));
    }

    #[test]
    fn parses_floats_like_strconv() {
        assert_eq!(parse_float("1_000"), Ok(1000.0));
        assert_eq!(parse_float(".12"), Ok(0.12));
        assert_eq!(parse_float("-Inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_float("0x1p-2"), Ok(0.25));
        assert_eq!(parse_float("1e400"), Err(FloatError::Range));
        assert_eq!(parse_float("one"), Err(FloatError::Syntax));
        assert_eq!(parse_float("1__0"), Err(FloatError::Syntax));
        assert_eq!(
            parse_float_message("one", &FloatError::Syntax),
            "strconv.ParseFloat: parsing \"one\": invalid syntax"
        );
    }
}
