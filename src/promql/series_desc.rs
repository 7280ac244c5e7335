//! Series descriptions: `<series> <value items…>`, as Prometheus's PromQL
//! test scripts (`load` blocks, expected results) and `promtool test rules`
//! input series write them, and Go's number syntax.
//!
//! Follows upstream's series-description lexer and grammar
//! (`promql/parser/lex.go`, `generated_parser.y`). Easy to get wrong, each
//! covered by a unit test below: `NxK` and `N+DxK` give K + 1 values but
//! `_xK` gives K; `0x59` is 0 repeated, not hex; `N+DxK` adds D repeatedly
//! rather than computing N + i·D; `stale` and `NaN` keep their exact bits.
//! Native-histogram literals `{{…}}` are checked field by field but kept as
//! text: the engine stores floats only.

use rampart_storage::{Label, Labels, STALE_NAN_BITS};

/// Go's `math.NaN()`: the NaN the scripts' `NaN` literal stands for.
pub const GO_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// One slot of a value sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `_`: no sample, time still advances.
    Omitted,
    /// A float sample (stale markers are the NaN with [`STALE_NAN_BITS`]).
    Float(f64),
    /// A native histogram sample, kept as its literal text: the engine
    /// stores floats only, so histograms are never loaded or compared.
    Histogram(String),
}

// ---- numbers ------------------------------------------------------------

/// Go's `strconv.ParseInt(s, 0, 64)`, then `strconv.ParseFloat(s, 64)`: how
/// upstream reads a scalar expectation line and a number token. Base
/// prefixes (`0x`, `0o`, `0b`, and a leading `0` for octal) and digit
/// underscores apply to the integer form only. Go's hexadecimal float form
/// (`0x1p-2`) is not supported.
pub fn parse_go_number(s: &str) -> Option<f64> {
    go_parse_int(s).map(|n| n as f64).or_else(|| go_parse_float(s))
}

fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() || !underscore_ok(s) {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (base, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_owned())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_owned())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned())
    } else {
        (10, lower)
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return None;
    }
    let mag = u64::from_str_radix(&digits, base).ok()?;
    if neg {
        if mag > i64::MAX as u64 + 1 {
            return None;
        }
        Some((mag as i64).wrapping_neg())
    } else {
        i64::try_from(mag).ok()
    }
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    let mut saw = b'^';
    let mut hex = false;
    if b.len() >= i + 2 && b[i] == b'0' && matches!(b[i + 1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        hex = b[i + 1].eq_ignore_ascii_case(&b'x');
        i += 2;
        saw = b'0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input and the special
/// values `inf`, `infinity` (any case, optional sign) and `nan` (any case).
pub fn go_parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (sign, body) = match lower.as_bytes().first()? {
        b'-' => (-1.0, &lower[1..]),
        b'+' => (1.0, &lower[1..]),
        _ => (1.0, &lower[..]),
    };
    if body == "inf" || body == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Some(f64::from_bits(GO_NAN_BITS));
    }
    if !body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-')) {
        return None;
    }
    s.parse().ok()
}

// ---- series descriptions ------------------------------------------------

/// A byte cursor over one line.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.s.as_bytes().get(self.pos + n).copied()
    }

    fn eof(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips whitespace; true if there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A quoted PromQL string (`"…"`, `'…'` or `` `…` ``), unquoted.
    fn string(&mut self) -> Result<String, String> {
        let start = self.pos;
        let q = self.peek().ok_or("expected string")?;
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(format!("unterminated string {}", &self.s[start..])),
                Some(b'\\') if q != b'`' => self.pos += 2,
                Some(c) if c == q => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        let lit = self.s.get(start..self.pos).ok_or("invalid string")?;
        promql_parser::util::unquote_string(lit).map_err(|e| format!("invalid string {lit}: {e}"))
    }
}

fn is_metric_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_metric_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn is_label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Parses `<series> <value items…>`: a label set and its slots.
pub fn parse_series_desc(s: &str) -> Result<(Labels, Vec<Item>), String> {
    let mut c = Cursor::new(s);
    let labels = parse_metric(&mut c)?;
    let mut values = Vec::new();
    loop {
        let had_ws = c.skip_ws();
        if c.eof() {
            break;
        }
        if !had_ws {
            return Err(format!("unexpected {:?} in series values (a space must separate values)", c.rest()));
        }
        parse_item(&mut c, &mut values).map_err(|e| format!("{e} in {s:?}"))?;
    }
    Ok((labels, values))
}

/// `name`, `name{…}` or `{…}`.
fn parse_metric(c: &mut Cursor<'_>) -> Result<Labels, String> {
    let mut labels: Vec<Label> = Vec::new();
    let mut any = false;
    if c.peek().is_some_and(is_metric_start) {
        let name = c.take_while(is_metric_char);
        labels.push(Label::new("__name__", name));
        any = true;
    }
    if c.eat(b'{') {
        any = true;
        loop {
            c.skip_ws();
            if c.eat(b'}') {
                break;
            }
            let (name, quoted) = match c.peek() {
                Some(b'"' | b'\'' | b'`') => (c.string()?, true),
                Some(ch) if ch.is_ascii_alphabetic() || ch == b'_' => (c.take_while(is_label_char).to_owned(), false),
                _ => return Err(format!("unexpected {:?} in label set", c.rest())),
            };
            c.skip_ws();
            if c.eat(b'=') {
                c.skip_ws();
                if !matches!(c.peek(), Some(b'"' | b'\'' | b'`')) {
                    return Err(format!("expected string after {name}= in label set"));
                }
                let value = c.string()?;
                labels.push(Label::new(name, value));
            } else if quoted && matches!(c.peek(), Some(b',' | b'}')) {
                labels.push(Label::new("__name__", name));
            } else {
                return Err(format!("expected \"=\" after label name {name:?}"));
            }
            c.skip_ws();
            if c.eat(b',') {
                continue;
            }
            if c.eat(b'}') {
                break;
            }
            return Err(format!("expected \",\" or \"}}\" in label set, got {:?}", c.rest()));
        }
    }
    if !any {
        return Err(format!("expected a series identifier, got {:?}", c.rest()));
    }
    let n = labels.len();
    let set = Labels::from_unsorted(labels);
    if set.len() != n {
        return Err("duplicate label name in label set".into());
    }
    Ok(set)
}

/// A repeat count after `x`.
fn parse_uint(c: &mut Cursor<'_>) -> Result<u64, String> {
    let digits = c.take_while(|b| b.is_ascii_digit());
    digits.parse().map_err(|_| format!("invalid repetition in series values: {digits:?}"))
}

/// One value item, expanded into `out`.
fn parse_item(c: &mut Cursor<'_>, out: &mut Vec<Item>) -> Result<(), String> {
    if c.rest().starts_with("{{") {
        let a = parse_histogram(c)?;
        match c.peek() {
            Some(b'x') => {
                c.pos += 1;
                let k = parse_uint(c)?;
                out.extend(std::iter::repeat_n(Item::Histogram(a), k as usize + 1));
            }
            Some(op @ (b'+' | b'-')) => {
                c.pos += 1;
                if !c.rest().starts_with("{{") {
                    return Err("expected a histogram after +/- in histogram series".into());
                }
                let b = parse_histogram(c)?;
                if !c.eat(b'x') {
                    return Err("expected x<count> after histogram increment".into());
                }
                let k = parse_uint(c)?;
                out.push(Item::Histogram(a.clone()));
                for i in 1..=k {
                    out.push(Item::Histogram(format!("{a}{}{i}×{b}", op as char)));
                }
            }
            _ => out.push(Item::Histogram(a)),
        }
        return Ok(());
    }
    if c.eat(b'_') {
        if c.eat(b'x') {
            let k = parse_uint(c)?;
            out.extend(std::iter::repeat_n(Item::Omitted, k as usize));
        } else {
            out.push(Item::Omitted);
        }
        return Ok(());
    }
    let v = parse_series_value(c)?;
    match c.peek() {
        Some(b'x') => {
            c.pos += 1;
            let k = parse_uint(c)?;
            out.extend(std::iter::repeat_n(Item::Float(v), k as usize + 1));
        }
        Some(b'+' | b'-') => {
            let d = parse_series_value(c)?;
            if !c.eat(b'x') {
                return Err("expected x<count> after increment".into());
            }
            let k = parse_uint(c)?;
            let mut v = v;
            for _ in 0..=k {
                out.push(Item::Float(v));
                v += d;
            }
        }
        _ => out.push(Item::Float(v)),
    }
    Ok(())
}

/// `stale`, or a number with an optional sign (`Inf`/`NaN` in any case).
fn parse_series_value(c: &mut Cursor<'_>) -> Result<f64, String> {
    let sign = match c.peek() {
        Some(b'+') => {
            c.pos += 1;
            1.0
        }
        Some(b'-') => {
            c.pos += 1;
            -1.0
        }
        _ => 0.0,
    };
    match c.peek() {
        Some(ch) if ch.is_ascii_alphabetic() || ch == b'_' => {
            let word = c.take_while(is_metric_char);
            match word.to_ascii_lowercase().as_str() {
                _ if word == "stale" && sign == 0.0 => Ok(f64::from_bits(STALE_NAN_BITS)),
                "inf" => Ok(if sign < 0.0 { f64::NEG_INFINITY } else { f64::INFINITY }),
                "nan" => {
                    let nan = f64::from_bits(GO_NAN_BITS);
                    Ok(if sign < 0.0 { -nan } else { nan })
                }
                _ => Err(format!("unexpected {word:?} in series values, expected number or \"stale\"")),
            }
        }
        Some(ch) if ch.is_ascii_digit() || (ch == b'.' && c.peek_at(1).is_some_and(|d| d.is_ascii_digit())) => {
            let text = scan_number(c)?;
            let v = parse_go_number(text).ok_or_else(|| format!("bad number syntax: {text:?}"))?;
            Ok(if sign < 0.0 { -v } else { v })
        }
        _ => Err(format!("unexpected {:?} in series values", c.rest())),
    }
}

/// The series-description number token (upstream's `scanNumber` with hex
/// disabled): digits, one `.`, one exponent with optional sign, digit
/// underscores. It must be followed by `x` or a non-alphanumeric.
fn scan_number<'a>(c: &mut Cursor<'a>) -> Result<&'a str, String> {
    let start = c.pos;
    let bad = |c: &Cursor<'a>| Err(format!("bad number syntax: {:?}", &c.s[start..c.pos.min(c.s.len())]));
    c.eat(b'.');
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        c.pos += 1;
    }
    let (mut dot, mut exp) = (false, false);
    while let Some(ch) = c.peek() {
        match ch {
            b'.' => {
                c.pos += 1;
                if dot || matches!(c.peek(), Some(b'_' | b'.')) {
                    return bad(c);
                }
                dot = true;
            }
            b'e' | b'E' => {
                c.pos += 1;
                if exp {
                    return bad(c);
                }
                exp = true;
                if matches!(c.peek(), Some(b'+' | b'-')) {
                    c.pos += 1;
                }
                if matches!(c.peek(), None | Some(b'.' | b'_' | b'e' | b'E')) {
                    return bad(c);
                }
            }
            b'_' => {
                c.pos += 1;
                if matches!(c.peek(), None | Some(b'.' | b'_' | b'e' | b'E')) {
                    return bad(c);
                }
            }
            d if d.is_ascii_digit() => c.pos += 1,
            _ => break,
        }
    }
    match c.peek() {
        Some(b'x') => {}
        Some(ch) if ch.is_ascii_alphanumeric() || ch == b'_' => {
            c.pos += 1;
            return bad(c);
        }
        _ => {}
    }
    Ok(&c.s[start..c.pos])
}

const HISTOGRAM_KEYS: [&str; 11] = [
    "schema",
    "sum",
    "count",
    "z_bucket",
    "z_bucket_w",
    "custom_values",
    "buckets",
    "offset",
    "n_buckets",
    "n_offset",
    "counter_reset_hint",
];

/// A `{{…}}` literal: checks its fields and returns its text.
fn parse_histogram(c: &mut Cursor<'_>) -> Result<String, String> {
    let start = c.pos;
    let end = c.rest().find("}}").ok_or("unterminated histogram literal")?;
    let body = &c.s[start + 2..start + end];
    c.pos = start + end + 2;
    let mut seen: Vec<&str> = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or_else(|| format!("bad histogram descriptor {rest:?}"))?;
        let key = &rest[..colon];
        if !HISTOGRAM_KEYS.contains(&key) {
            return Err(format!("bad histogram descriptor found: {key:?}"));
        }
        if seen.contains(&key) {
            return Err(format!("duplicate key {key:?} in histogram"));
        }
        seen.push(key);
        rest = &rest[colon + 1..];
        let value;
        if let Some(list) = rest.strip_prefix('[') {
            let close = list.find(']').ok_or("unterminated bucket list")?;
            for n in list[..close].split_whitespace() {
                parse_go_number(n).ok_or_else(|| format!("bad number {n:?} in histogram {key}"))?;
            }
            rest = list[close + 1..].trim_start();
            continue;
        } else {
            let e = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = &rest[..e];
            rest = rest[e..].trim_start();
        }
        let ok = match key {
            "counter_reset_hint" => matches!(value, "unknown" | "reset" | "not_reset" | "gauge"),
            "schema" | "offset" | "n_offset" => value.parse::<i64>().is_ok(),
            "custom_values" | "buckets" | "n_buckets" => false,
            _ => parse_go_number(value).is_some(),
        };
        if !ok {
            return Err(format!("bad value {value:?} for histogram {key}"));
        }
    }
    Ok(c.s[start..c.pos].to_owned())
}

/// Parses a series identifier alone (`name`, `name{…}` or `{…}`).
pub fn parse_series_id(s: &str) -> Result<Labels, String> {
    let mut c = Cursor::new(s);
    let labels = parse_metric(&mut c)?;
    if !c.eof() {
        return Err(format!("unexpected {:?} after the series identifier", c.rest()));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(items: &[Item]) -> Vec<f64> {
        items
            .iter()
            .map(|i| match i {
                Item::Float(f) => *f,
                other => panic!("not a float: {other:?}"),
            })
            .collect()
    }

    fn values(s: &str) -> Vec<Item> {
        parse_series_desc(&format!("m {s}")).expect("parses").1
    }

    #[test]
    fn expansion_counts_follow_upstream() {
        let cases: &[(&str, usize)] = &[
            ("1x3", 4),
            ("1+0x3", 4),
            ("_x3", 3),
            ("_", 1),
            ("_x0", 0),
            ("1x0", 1),
            ("0+20x1000 200+30x1000", 2002),
            ("1 2 _ _ 3 stale 4 5 NaN Inf -Inf", 11),
            ("_ _ 0+60x14", 17),
            ("{{schema:0 sum:1 count:1}}x2", 3),
            ("{{count:0}}+{{count:1}}x4", 5),
        ];
        for &(s, n) in cases {
            assert_eq!(values(s).len(), n, "{s}");
        }
    }

    #[test]
    fn hex_looking_items_are_repeats() {
        assert_eq!(floats(&values("0x59")), vec![0.0; 60]);
        assert_eq!(floats(&values("1x2")), vec![1.0; 3]);
    }

    #[test]
    fn increments_add_repeatedly() {
        let v = floats(&values("0+1.33x10"));
        let mut acc = 0.0;
        for (i, x) in v.iter().enumerate() {
            assert_eq!(x.to_bits(), f64::to_bits(acc), "step {i}");
            acc += 1.33;
        }
        assert_eq!(floats(&values("10-2x2")), vec![10.0, 8.0, 6.0]);
        assert_eq!(floats(&values("-1+1x2")), vec![-1.0, 0.0, 1.0]);
        assert_eq!(floats(&values("1e-6+1x1")), vec![1e-6, 1e-6 + 1.0]);
        assert_eq!(floats(&values("-9.988465674311579e+307")), vec!["-9.988465674311579e307".parse::<f64>().unwrap()]);
    }

    #[test]
    fn special_values_keep_their_bits() {
        let v = values("stale NaN nan Inf +Inf -inf .5 2.");
        let f = floats(&v);
        assert_eq!(f[0].to_bits(), STALE_NAN_BITS);
        assert_eq!(f[1].to_bits(), GO_NAN_BITS);
        assert_eq!(f[2].to_bits(), GO_NAN_BITS);
        assert_eq!(&f[3..], &[f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, 0.5, 2.0]);
        assert!(parse_series_desc("m 1m").is_err());
        assert!(parse_series_desc("m foo").is_err());
        assert!(parse_series_desc("m 1 2_").is_err());
    }

    #[test]
    fn series_identifiers() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("up 1", &[("__name__", "up")]),
            (r#"a:b:{job="x", i='y'} 1"#, &[("__name__", "a:b:"), ("i", "y"), ("job", "x")]),
            (r#"{job="x",} 1"#, &[("job", "x")]),
            ("{} 1", &[]),
            (r#"{"utf.name", x="\"q\""} 1"#, &[("__name__", "utf.name"), ("x", "\"q\"")]),
            (r#"m{} 1 _ 3"#, &[("__name__", "m")]),
            (r#"m{a="x\ny"} 1"#, &[("__name__", "m"), ("a", "x\ny")]),
        ];
        for &(s, want) in cases {
            let (labels, _) = parse_series_desc(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(labels, Labels::from_pairs(want.iter().copied()), "{s}");
        }
        assert!(parse_series_desc(r#"m{a="x" b="y"} 1"#).is_err());
        assert!(parse_series_desc(r#"m{a="x", a="y"} 1"#).is_err());
    }

    #[test]
    fn histogram_literals_parse_and_are_checked() {
        let v = values(
            "{{schema:-53 sum:5 count:4 custom_values:[0.1 0.5 1] buckets:[1 2 0 1] counter_reset_hint:gauge}} {{}}",
        );
        assert!(matches!(&v[0], Item::Histogram(t) if t.starts_with("{{schema:-53")));
        assert_eq!(v[1], Item::Histogram("{{}}".into()));
        assert!(parse_series_desc("m {{schema:x}}").is_err());
        assert!(parse_series_desc("m {{bogus:1}}").is_err());
        assert!(parse_series_desc("m {{n_buckets:[1 2] n_offset:-1 z_bucket_w:0.001}}").is_ok());
    }

    #[test]
    fn go_numbers_for_scalar_lines() {
        let cases: &[(&str, Option<f64>)] = &[
            ("2", Some(2.0)),
            ("-0.0000002", Some(-0.0000002)),
            ("+Inf", Some(f64::INFINITY)),
            ("-Inf", Some(f64::NEG_INFINITY)),
            ("0x10", Some(16.0)),
            ("010", Some(8.0)),
            ("09", Some(9.0)),
            ("1_000", Some(1000.0)),
            ("12340000", Some(12340000.0)),
            ("1e3", Some(1000.0)),
            ("foo", None),
            ("1 2", None),
            ("_1", None),
            ("{} 3", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_go_number(s), want, "{s}");
        }
        assert!(parse_go_number("NaN").is_some_and(f64::is_nan));
    }
}
