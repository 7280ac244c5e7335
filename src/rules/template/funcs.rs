//! The functions a template can call: Go's builtins (`and`, `printf`,
//! `index`, `eq`, ...) and Prometheus's (`query`, `humanize`, `title`,
//! ...), plus the methods of the `time` values `toTime` and `toDuration`
//! return (`.Format`, `.Add`, `.Seconds`, ...). Each has a Go signature,
//! which the executor checks arguments against as Go's reflection would.

use std::collections::BTreeMap;
use std::rc::Rc;

use regex::Regex;

use super::gofmt::{self, quote, sprint, sprintf, sprintln};
use super::gotime;
use super::humanize::{self, float_to_time, go_float_to_i64, to_float};
use super::value::{Sample, Value};
use super::TemplateQuery;

/// What the functions need from outside the template.
pub(super) struct Env<'a> {
    pub query: &'a dyn TemplateQuery,
    /// Evaluation time in seconds since the epoch.
    pub now: f64,
    pub external_url: &'a str,
}

/// A parameter's Go type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Ty {
    /// `interface {}` or `reflect.Value`: anything.
    Any,
    Str,
    /// `*template.sample`.
    Sample,
    /// `template.queryResult`.
    Vector,
    /// `time.Duration`.
    Duration,
    /// `time.Time`.
    Time,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Str => "string",
            Ty::Sample => "*template.sample",
            Ty::Vector => "template.queryResult",
            Ty::Duration => "time.Duration",
            Ty::Time => "time.Time",
        }
    }

    /// Whether Go accepts `nil` for it (interfaces, pointers, slices).
    pub fn can_be_nil(self) -> bool {
        matches!(self, Ty::Any | Ty::Sample | Ty::Vector)
    }
}

/// A function's parameters: fixed ones, then an optional variadic tail.
pub(super) struct Sig {
    pub fixed: &'static [Ty],
    pub variadic: Option<Ty>,
}

const fn sig(fixed: &'static [Ty]) -> Sig {
    Sig { fixed, variadic: None }
}

const fn variadic(fixed: &'static [Ty], tail: Ty) -> Sig {
    Sig { fixed, variadic: Some(tail) }
}

macro_rules! funcs {
    ($($variant:ident = $name:literal,)*) => {
        /// A template function.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub(super) enum Func { $($variant,)* }

        /// Function names, as templates spell them.
        const FUNCS: &[(&str, Func)] = &[$(($name, Func::$variant),)*];
    };
}

funcs! {
    And = "and",
    Or = "or",
    Call = "call",
    Html = "html",
    Index = "index",
    Slice = "slice",
    Js = "js",
    Len = "len",
    Not = "not",
    Print = "print",
    Printf = "printf",
    Println = "println",
    Urlquery = "urlquery",
    Eq = "eq",
    Ge = "ge",
    Gt = "gt",
    Le = "le",
    Lt = "lt",
    Ne = "ne",
    Query = "query",
    First = "first",
    Label = "label",
    SampleValue = "value",
    Strvalue = "strvalue",
    Args = "args",
    ReReplaceAll = "reReplaceAll",
    SafeHtml = "safeHtml",
    Match = "match",
    Title = "title",
    ToUpper = "toUpper",
    ToLower = "toLower",
    GraphLink = "graphLink",
    TableLink = "tableLink",
    SortByLabel = "sortByLabel",
    StripPort = "stripPort",
    StripDomain = "stripDomain",
    Humanize = "humanize",
    Humanize1024 = "humanize1024",
    HumanizeDuration = "humanizeDuration",
    HumanizePercentage = "humanizePercentage",
    HumanizeTimestamp = "humanizeTimestamp",
    ToTime = "toTime",
    ToDuration = "toDuration",
    Now = "now",
    PathPrefix = "pathPrefix",
    ExternalUrl = "externalURL",
    ParseDuration = "parseDuration",
    UrlQueryEscape = "urlQueryEscape",
}

/// The function called `name`, if any.
pub(super) fn lookup(name: &str) -> Option<Func> {
    FUNCS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// A method of a `time` value.
#[derive(Clone, Copy, Debug)]
pub(super) enum Method {
    Format,
    Add,
    Sub,
    Unix,
    UnixMilli,
    UnixMicro,
    UnixNano,
    Utc,
    String,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Nanosecond,
    YearDay,
    Weekday,
    Before,
    After,
    Equal,
    Seconds,
    Minutes,
    Hours,
    Milliseconds,
    Microseconds,
    Nanoseconds,
    Abs,
    Round,
    Truncate,
}

/// Something callable: a function, or a method bound to its receiver.
pub(super) enum Callable {
    Func(Func),
    Method(Method, Value),
}

/// The method `name` of `receiver`, if it has one.
pub(super) fn method(receiver: &Value, name: &str) -> Option<Callable> {
    use Method as M;
    let m = match receiver {
        Value::Time(_) | Value::TimePtr(_) => match name {
            "Format" => M::Format,
            "Add" => M::Add,
            "Sub" => M::Sub,
            "Unix" => M::Unix,
            "UnixMilli" => M::UnixMilli,
            "UnixMicro" => M::UnixMicro,
            "UnixNano" => M::UnixNano,
            "UTC" => M::Utc,
            "String" => M::String,
            "Year" => M::Year,
            "Month" => M::Month,
            "Day" => M::Day,
            "Hour" => M::Hour,
            "Minute" => M::Minute,
            "Second" => M::Second,
            "Nanosecond" => M::Nanosecond,
            "YearDay" => M::YearDay,
            "Weekday" => M::Weekday,
            "Before" => M::Before,
            "After" => M::After,
            "Equal" => M::Equal,
            _ => return None,
        },
        Value::Duration(_) | Value::DurationPtr(_) => match name {
            "String" => M::String,
            "Seconds" => M::Seconds,
            "Minutes" => M::Minutes,
            "Hours" => M::Hours,
            "Milliseconds" => M::Milliseconds,
            "Microseconds" => M::Microseconds,
            "Nanoseconds" => M::Nanoseconds,
            "Abs" => M::Abs,
            "Round" => M::Round,
            "Truncate" => M::Truncate,
            _ => return None,
        },
        Value::Month(_) | Value::Weekday(_) if name == "String" => M::String,
        _ => return None,
    };
    Some(Callable::Method(m, receiver.clone()))
}

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

impl Callable {
    pub fn sig(&self) -> Sig {
        use Ty::*;
        match self {
            Callable::Func(f) => match f {
                Func::And | Func::Or | Func::Eq | Func::Index | Func::Slice | Func::Call => variadic(&[Any], Any),
                Func::Html | Func::Js | Func::Urlquery | Func::Print | Func::Println | Func::Args => variadic(&[], Any),
                Func::Printf => variadic(&[Str], Any),
                Func::Len | Func::Not => sig(&[Any]),
                Func::Ge | Func::Gt | Func::Le | Func::Lt | Func::Ne => sig(&[Any, Any]),
                Func::Query
                | Func::SafeHtml
                | Func::Title
                | Func::ToUpper
                | Func::ToLower
                | Func::GraphLink
                | Func::TableLink
                | Func::StripPort
                | Func::StripDomain
                | Func::ParseDuration
                | Func::UrlQueryEscape => sig(&[Str]),
                Func::First => sig(&[Vector]),
                Func::Label => sig(&[Str, Sample]),
                Func::SampleValue | Func::Strvalue => sig(&[Sample]),
                Func::ReReplaceAll => sig(&[Str, Str, Str]),
                Func::Match => sig(&[Str, Str]),
                Func::SortByLabel => sig(&[Str, Vector]),
                Func::Humanize
                | Func::Humanize1024
                | Func::HumanizeDuration
                | Func::HumanizePercentage
                | Func::HumanizeTimestamp
                | Func::ToTime
                | Func::ToDuration => sig(&[Any]),
                Func::Now | Func::PathPrefix | Func::ExternalUrl => sig(&[]),
            },
            Callable::Method(m, _) => match m {
                Method::Format => sig(&[Str]),
                Method::Add | Method::Round | Method::Truncate => sig(&[Duration]),
                Method::Sub | Method::Before | Method::After | Method::Equal => sig(&[Time]),
                _ => sig(&[]),
            },
        }
    }

    /// Calls it with arguments already checked against its signature.
    pub fn call(&self, env: &Env<'_>, args: Vec<Value>) -> Result<Value, String> {
        match self {
            Callable::Func(f) => call_func(*f, env, args),
            Callable::Method(m, recv) => call_method(*m, recv, &args),
        }
    }
}

fn arg_str(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn arg_sample(v: &Value) -> Result<&Sample, String> {
    match v {
        Value::Sample(s) => Ok(s),
        _ => Err(NIL_DEREF.into()),
    }
}

fn arg_samples(v: &Value) -> Vec<Rc<Sample>> {
    match v {
        Value::Vector(s) => s.borrow().clone(),
        _ => Vec::new(),
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i)
        | Value::Int64(i)
        | Value::Duration(i)
        | Value::DurationPtr(i)
        | Value::Time(i)
        | Value::TimePtr(i) => *i,
        _ => 0,
    }
}

fn call_func(f: Func, env: &Env<'_>, args: Vec<Value>) -> Result<Value, String> {
    let a = |i: usize| args.get(i).unwrap_or(&Value::Nil);
    Ok(match f {
        Func::And | Func::Or => return Err("and/or are evaluated by the executor".into()),
        Func::Call => {
            return Err(match a(0) {
                Value::Nil => "call of nil".into(),
                v => format!("non-function of type {}", v.type_name()),
            })
        }
        Func::Html => Value::str(&html_escape(&eval_args(&args))),
        Func::Js => Value::str(&js_escape(&eval_args(&args))),
        Func::Urlquery => Value::str(&query_escape(&eval_args(&args))),
        Func::Index => index(a(0), &args[1..])?,
        Func::Slice => slice(a(0), &args[1..])?,
        Func::Len => Value::Int(length(a(0))?),
        Func::Not => Value::Bool(!a(0).truth()),
        Func::Print => Value::str(&sprint(&args)),
        Func::Printf => Value::str(&sprintf(arg_str(a(0)), &args[1..])),
        Func::Println => Value::str(&sprintln(&args)),
        Func::Eq => Value::Bool(eq(a(0), &args[1..])?),
        Func::Ne => Value::Bool(!eq(a(0), &args[1..])?),
        Func::Lt => Value::Bool(lt(a(0), a(1))?),
        Func::Le => Value::Bool(lt(a(0), a(1))? || eq(a(0), &args[1..])?),
        Func::Gt => Value::Bool(!(lt(a(0), a(1))? || eq(a(0), &args[1..])?)),
        Func::Ge => Value::Bool(!lt(a(0), a(1))?),
        Func::Query => {
            let samples = env.query.query(arg_str(a(0)))?;
            Value::vector(
                samples
                    .into_iter()
                    .map(|(labels, value)| {
                        let map = labels.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                        Rc::new(Sample { labels: Rc::new(map), value })
                    })
                    .collect(),
            )
        }
        Func::First => match arg_samples(a(0)).first() {
            Some(s) => Value::Sample(s.clone()),
            None => return Err("first() called on vector with no elements".into()),
        },
        Func::Label => Value::str(arg_sample(a(1))?.labels.get(arg_str(a(0))).map_or("", String::as_str)),
        Func::SampleValue => Value::Float(arg_sample(a(0))?.value),
        Func::Strvalue => Value::str(arg_sample(a(0))?.labels.get("__value__").map_or("", String::as_str)),
        Func::Args => Value::AnyMap(Rc::new(
            args.iter().enumerate().map(|(i, v)| (format!("arg{i}"), v.clone())).collect::<BTreeMap<_, _>>(),
        )),
        Func::ReReplaceAll => {
            let re = Regex::new(arg_str(a(0))).map_err(|e| {
                let pattern = arg_str(a(0));
                let shown = if pattern.contains('`') { quote(pattern) } else { format!("`{pattern}`") };
                format!("regexp: Compile({shown}): {}", regex_error(&e, pattern))
            })?;
            Value::str(&re.replace_all(arg_str(a(2)), arg_str(a(1))))
        }
        Func::SafeHtml => Value::Html(Rc::from(arg_str(a(0)))),
        Func::Match => {
            let pattern = arg_str(a(0));
            let re = Regex::new(pattern).map_err(|e| regex_error(&e, pattern))?;
            Value::Bool(re.is_match(arg_str(a(1))))
        }
        Func::Title => Value::str(&title(arg_str(a(0)))),
        Func::ToUpper => Value::str(&map_chars(arg_str(a(0)), |c| c.to_uppercase())),
        Func::ToLower => Value::str(&map_chars(arg_str(a(0)), |c| c.to_lowercase())),
        Func::GraphLink => Value::str(&format!("/graph?g0.expr={}&g0.tab=0", query_escape(arg_str(a(0))))),
        Func::TableLink => Value::str(&format!("/graph?g0.expr={}&g0.tab=1", query_escape(arg_str(a(0))))),
        Func::SortByLabel => {
            if let Value::Vector(v) = a(1) {
                let label = arg_str(a(0));
                let key = |s: &Sample| s.labels.get(label).map_or("", String::as_str).to_owned();
                v.borrow_mut().sort_by_key(|s| key(s));
                Value::Vector(v.clone())
            } else {
                Value::vector(Vec::new())
            }
        }
        Func::StripPort => Value::str(&strip_port(arg_str(a(0)))),
        Func::StripDomain => Value::str(&strip_domain(arg_str(a(0)))),
        Func::Humanize => Value::str(&humanize::humanize(a(0))?),
        Func::Humanize1024 => Value::str(&humanize::humanize1024(a(0))?),
        Func::HumanizeDuration => Value::str(&humanize::humanize_duration(a(0))?),
        Func::HumanizePercentage => Value::str(&humanize::humanize_percentage(a(0))?),
        Func::HumanizeTimestamp => Value::str(&humanize::humanize_timestamp(a(0))?),
        Func::ToTime => Value::TimePtr(float_to_time(to_float(a(0))?).map_err(humanize::TimeError::message)?),
        Func::ToDuration => Value::DurationPtr(go_float_to_i64(to_float(a(0))? * 1e9)),
        Func::Now => Value::Float(env.now),
        Func::PathPrefix => Value::str(url_path(env.external_url)),
        Func::ExternalUrl => Value::str(env.external_url),
        Func::ParseDuration => Value::Float(parse_duration(arg_str(a(0)))? as f64 / 1e9),
        Func::UrlQueryEscape => Value::str(&query_escape(arg_str(a(0)))),
    })
}

fn call_method(m: Method, recv: &Value, args: &[Value]) -> Result<Value, String> {
    let r = int_of(recv);
    let arg = args.first().map_or(0, int_of);
    let t = || gotime::civil(r);
    const S: i64 = 1_000_000_000;
    Ok(match m {
        Method::Format => Value::str(&gotime::format(r, args.first().and_then(Value::as_str).unwrap_or_default())),
        Method::Add => Value::Time(r.saturating_add(arg)),
        Method::Sub => Value::Duration(r.saturating_sub(arg)),
        Method::Unix => Value::Int64(r.div_euclid(S)),
        Method::UnixMilli => Value::Int64(r.div_euclid(1_000_000)),
        Method::UnixMicro => Value::Int64(r.div_euclid(1_000)),
        Method::UnixNano => Value::Int64(r),
        Method::Utc => Value::Time(r),
        Method::String => Value::str(&gofmt::format_v(recv)),
        Method::Year => Value::Int(t().year),
        Method::Month => Value::Month(t().month),
        Method::Day => Value::Int(t().day),
        Method::Hour => Value::Int(t().hour),
        Method::Minute => Value::Int(t().minute),
        Method::Second => Value::Int(t().second),
        Method::Nanosecond => Value::Int(t().nanosecond),
        Method::YearDay => Value::Int(t().yearday),
        Method::Weekday => Value::Weekday(t().weekday),
        Method::Before => Value::Bool(r < arg),
        Method::After => Value::Bool(r > arg),
        Method::Equal => Value::Bool(r == arg),
        Method::Seconds => Value::Float((r / S) as f64 + (r % S) as f64 / 1e9),
        Method::Minutes => Value::Float((r / (60 * S)) as f64 + (r % (60 * S)) as f64 / (60e9)),
        Method::Hours => Value::Float((r / (3600 * S)) as f64 + (r % (3600 * S)) as f64 / (3600e9)),
        Method::Milliseconds => Value::Int64(r / 1_000_000),
        Method::Microseconds => Value::Int64(r / 1_000),
        Method::Nanoseconds => Value::Int64(r),
        Method::Abs => Value::Duration(if r == i64::MIN { i64::MAX } else { r.abs() }),
        Method::Round => Value::Duration(round_duration(r, arg)),
        Method::Truncate => Value::Duration(if arg <= 0 { r } else { r - r % arg }),
    })
}

/// `time.Duration.Round`.
fn round_duration(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let less_than_half = |x: i64| (x as u64).wrapping_add(x as u64) < m as u64;
    let r = d % m;
    if d < 0 {
        let r = -r;
        if less_than_half(r) {
            return d + r;
        }
        return d.checked_sub(m - r).unwrap_or(i64::MIN);
    }
    if less_than_half(r) {
        return d - r;
    }
    d.checked_add(m - r).unwrap_or(i64::MAX)
}

/// A regexp syntax error in Go's words for the common mistakes, otherwise
/// with the regex crate's description of the problem.
fn regex_error(e: &regex::Error, pattern: &str) -> String {
    let detail = e.to_string();
    let why = detail.lines().rev().find_map(|l| l.trim().strip_prefix("error: ")).unwrap_or(detail.trim());
    let why = match why {
        "unclosed group" => "missing closing )",
        "unopened group" => "unexpected )",
        "unclosed character class" => "missing closing ]",
        "repetition operator missing expression" => "missing argument to repetition operator",
        other => other,
    };
    format!("error parsing regexp: {why}: `{pattern}`")
}

/// Maps each char as Go's `unicode.ToUpper`/`ToLower` do: one char to one
/// char, leaving chars whose mapping is longer as they are.
fn map_chars<I: Iterator<Item = char>>(s: &str, f: impl Fn(char) -> I) -> String {
    s.chars()
        .map(|c| {
            let mut m = f(c);
            match (m.next(), m.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// Prometheus's `title` (`cases.Title(language.AmericanEnglish,
/// cases.NoLower)`): the first cased letter of each word is title-cased,
/// the rest is left alone. Words break as Unicode word boundaries do:
/// letters, digits and `_` continue a word, and so do single apostrophes,
/// periods and colons between them.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut mid_word = false;
    let mut prev_mid = false;
    for c in s.chars() {
        let is_mid = matches!(
            c,
            '\'' | '.'
                | ':'
                | '\u{b7}'
                | '\u{387}'
                | '\u{5f4}'
                | '\u{2018}'
                | '\u{2019}'
                | '\u{2024}'
                | '\u{2027}'
                | '\u{fe13}'
                | '\u{fe52}'
                | '\u{fe55}'
                | '\u{ff07}'
                | '\u{ff0e}'
                | '\u{ff1a}'
        );
        if prev_mid && is_mid {
            mid_word = false;
        }
        if c.is_lowercase() || c.is_uppercase() {
            if mid_word {
                out.push(c);
            } else {
                let mut upper = c.to_uppercase();
                out.extend(upper.next());
                out.extend(upper.flat_map(char::to_lowercase));
                mid_word = true;
            }
        } else {
            out.push(c);
            if !(is_mid || c.is_alphanumeric() || c == '_') {
                mid_word = false;
            }
        }
        prev_mid = is_mid;
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            _ if c < ' ' => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            _ if c.is_ascii() || gofmt::is_print(c) => out.push(c),
            _ => out.push_str(&format!("\\u{:04X}", u32::from(c))),
        }
    }
    out
}

/// The text that `html`, `js` and `urlquery` escape: a lone string as is,
/// otherwise the arguments as `print` joins them (nil as `<no value>`).
fn eval_args(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    let args: Vec<Value> =
        args.iter().map(|a| if matches!(a, Value::Nil) { Value::str("<no value>") } else { a.clone() }).collect();
    sprint(&args)
}

/// An index or slice bound, checked against `cap`.
fn index_arg(v: &Value, cap: usize) -> Result<usize, String> {
    let x = match v {
        Value::Int(i) | Value::Int64(i) | Value::Duration(i) | Value::Month(i) | Value::Weekday(i) => *i,
        Value::Byte(b) => i64::from(*b),
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => return Err(format!("cannot index slice/array with type {}", other.type_name())),
    };
    match usize::try_from(x) {
        Ok(i) if i <= cap => Ok(i),
        _ => Err(format!("index out of range: {x}")),
    }
}

/// A map key, which must be a Go `string`.
fn map_key(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Nil => Err("value is nil; should be of type string".into()),
        other => Err(format!("value has type {}; should be string", other.type_name())),
    }
}

/// Go's `index`.
fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if matches!(item, Value::Nil) {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for idx in indexes {
        item = match &item {
            Value::Str(s) | Value::Html(s) => {
                let i = index_arg(idx, s.len())?;
                Value::Byte(*s.as_bytes().get(i).ok_or("reflect: string index out of range")?)
            }
            Value::Vector(v) => {
                let v = v.borrow();
                let i = index_arg(idx, v.len())?;
                Value::Sample(v.get(i).ok_or("reflect: slice index out of range")?.clone())
            }
            Value::StrMap(m) => Value::str(m.get(map_key(idx)?).map_or("", String::as_str)),
            Value::AnyMap(m) => m.get(map_key(idx)?).cloned().unwrap_or(Value::Nil),
            Value::Nil => return Err("index of nil pointer".into()),
            other => return Err(format!("can't index item of type {}", deref_type_name(other))),
        };
    }
    Ok(item)
}

/// The type name after following a pointer, as Go reports it.
fn deref_type_name(v: &Value) -> &'static str {
    match v {
        Value::Sample(_) => "template.sample",
        Value::TimePtr(_) => "time.Time",
        Value::DurationPtr(_) => "time.Duration",
        other => other.type_name(),
    }
}

/// Go's `slice`.
fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if matches!(item, Value::Nil) {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::Str(s) | Value::Html(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Vector(v) => v.borrow().len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, x) in indexes.iter().enumerate() {
        idx[i] = index_arg(x, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::Str(s) => Value::str(&String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]])),
        Value::Html(s) => Value::Html(Rc::from(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).as_ref())),
        _ => Value::vector(arg_samples(item)[idx[0]..idx[1]].to_vec()),
    })
}

/// Go's `len`.
fn length(item: &Value) -> Result<i64, String> {
    let n = match item {
        Value::Str(s) | Value::Html(s) => s.len(),
        Value::StrMap(m) => m.len(),
        Value::AnyMap(m) => m.len(),
        Value::Vector(v) => v.borrow().len(),
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        other => return Err(format!("len of type {}", deref_type_name(other))),
    };
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The basic kind of a value for comparisons.
#[derive(PartialEq)]
enum Kind<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
    /// Not a basic kind (nil, maps, samples, ...).
    Other,
}

fn kind(v: &Value) -> Kind<'_> {
    match v {
        Value::Bool(b) => Kind::Bool(*b),
        Value::Int(i) | Value::Int64(i) | Value::Duration(i) | Value::Month(i) | Value::Weekday(i) => Kind::Int(*i),
        Value::Byte(b) => Kind::Uint(u64::from(*b)),
        Value::Float(f) => Kind::Float(*f),
        Value::Str(s) | Value::Html(s) => Kind::Str(s),
        _ => Kind::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

/// Go's reflect kind of a non-basic value, to tell which can be compared.
fn reflect_kind(v: &Value) -> &'static str {
    match v {
        Value::StrMap(_) | Value::AnyMap(_) => "map",
        Value::Vector(_) => "slice",
        Value::Sample(_) | Value::TimePtr(_) | Value::DurationPtr(_) => "ptr",
        Value::Data(_) | Value::Time(_) => "struct",
        _ => "invalid",
    }
}

/// Go's `eq`: whether `a` equals any of `others`.
fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = kind(a);
    for b in others {
        let k2 = kind(b);
        let truth = match (&k1, &k2) {
            (Kind::Bool(x), Kind::Bool(y)) => x == y,
            (Kind::Int(x), Kind::Int(y)) => x == y,
            (Kind::Uint(x), Kind::Uint(y)) => x == y,
            (Kind::Float(x), Kind::Float(y)) => x == y,
            (Kind::Str(x), Kind::Str(y)) => x == y,
            (Kind::Int(x), Kind::Uint(y)) | (Kind::Uint(y), Kind::Int(x)) => u64::try_from(*x).is_ok_and(|x| x == *y),
            (Kind::Other, Kind::Other) => {
                let (nil_a, nil_b) = (matches!(a, Value::Nil), matches!(b, Value::Nil));
                if !nil_a && !nil_b && reflect_kind(a) != reflect_kind(b) {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        gofmt::format_v(a),
                        a.type_name(),
                        b.type_name(),
                        gofmt::format_v(b)
                    ));
                }
                if nil_a || nil_b {
                    nil_a == nil_b
                } else {
                    match (a, b) {
                        (Value::Sample(x), Value::Sample(y)) => Rc::ptr_eq(x, y),
                        (Value::Time(x), Value::Time(y)) => x == y,
                        (Value::TimePtr(_), Value::TimePtr(_)) | (Value::DurationPtr(_), Value::DurationPtr(_)) => {
                            false
                        }
                        _ => return Err(format!("non-comparable type {}: {}", gofmt::format_v(b), b.type_name())),
                    }
                }
            }
            _ if matches!(a, Value::Nil) || matches!(b, Value::Nil) => false,
            _ => return Err(BAD_COMPARISON.into()),
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (kind(a), kind(b));
    if k1 == Kind::Other || k2 == Kind::Other {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    Ok(match (k1, k2) {
        (Kind::Int(x), Kind::Int(y)) => x < y,
        (Kind::Uint(x), Kind::Uint(y)) => x < y,
        (Kind::Float(x), Kind::Float(y)) => x < y,
        (Kind::Str(x), Kind::Str(y)) => x < y,
        (Kind::Int(x), Kind::Uint(y)) => u64::try_from(x).map_or(true, |x| x < y),
        (Kind::Uint(x), Kind::Int(y)) => u64::try_from(y).is_ok_and(|y| x < y),
        (Kind::Bool(_), Kind::Bool(_)) => return Err(BAD_COMPARISON_TYPE.into()),
        _ => return Err(BAD_COMPARISON.into()),
    })
}

/// Go's `net.SplitHostPort`, or None where it fails.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

/// Prometheus's `stripPort`: the host of `host:port`.
fn strip_port(hp: &str) -> String {
    split_host_port(hp).map_or(hp, |(h, _)| h).to_owned()
}

/// Prometheus's `stripDomain`: the first label of a host name, keeping
/// any port; IP addresses stay as they are.
fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_owned();
    }
    let host = host.split('.').next().unwrap_or_default();
    match port {
        "" => host.to_owned(),
        _ if host.contains(':') => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

/// The path of a URL (Go's `url.URL.Path`, not unescaped).
fn url_path(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            &after[after.find(['/', '?', '#']).unwrap_or(after.len())..]
        }
        None => url,
    };
    &rest[..rest.find(['?', '#']).unwrap_or(rest.len())]
}

/// Prometheus's `model.ParseDurationAllowNegative`, in nanoseconds.
fn parse_duration(s: &str) -> Result<i64, String> {
    match s.strip_prefix('-') {
        Some(rest) => parse_unsigned_duration(rest).map(|d| -d),
        None => parse_unsigned_duration(s),
    }
}

fn parse_unsigned_duration(orig: &str) -> Result<i64, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1_000_000_000),
        ("w", 7 * 24 * 3600 * 1_000_000_000),
        ("d", 24 * 3600 * 1_000_000_000),
        ("h", 3600 * 1_000_000_000),
        ("m", 60 * 1_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    match orig {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", quote(orig));
    let mut s = orig;
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !s.is_empty() {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let v: u64 = s[..digits].parse().map_err(|_| invalid())?;
        s = &s[digits..];
        let letters = s.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if letters == 0 {
            return Err(invalid());
        }
        let unit = &s[..letters];
        s = &s[letters..];
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!("unknown unit {} in duration {}", quote(unit), quote(orig)));
        };
        if pos < next_unit {
            return Err(invalid());
        }
        next_unit = pos + 1;
        let mult = UNITS[pos].1;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total += v * mult;
        if total > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
    }
    Ok(i64::try_from(total).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_follows_word_boundaries() {
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
        assert_eq!(title("hello-world foo_bar o'neil x.y"), "Hello-World Foo_bar O'neil X.y");
        assert_eq!(title("straße"), "Straße");
    }

    #[test]
    fn strips_ports_and_domains_like_prometheus() {
        let cases = [
            ("foo.example.com", "foo.example.com", "foo"),
            ("foo.example.com:12345", "foo.example.com", "foo:12345"),
            ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
            ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
            ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
            ("[2001:0DB8::1]:12345", "2001:0DB8::1", "[2001:0DB8::1]:12345"),
            ("[2001:0DB8::1]::12345", "[2001:0DB8::1]::12345", "[2001:0DB8::1]::12345"),
        ];
        for (input, port, domain) in cases {
            assert_eq!(strip_port(input), port, "{input}");
            assert_eq!(strip_domain(input), domain, "{input}");
        }
    }

    #[test]
    fn parses_durations_like_prometheus() {
        assert_eq!(parse_duration("1h2m10ms"), Ok(3_720_010_000_000));
        assert_eq!(parse_duration("-30m"), Ok(-1_800_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1m1h"), Err("not a valid duration string: \"1m1h\"".into()));
        assert_eq!(parse_duration("1q"), Err("unknown unit \"q\" in duration \"1q\"".into()));
        assert_eq!(parse_duration(""), Err("empty duration string".into()));
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(query_escape("up{job=\"a b\"}"), "up%7Bjob%3D%22a+b%22%7D");
        assert_eq!(html_escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;");
        assert_eq!(js_escape("a'b\"<=>\n"), "a\\'b\\\"\\u003C\\u003D\\u003E\\u000A");
        assert_eq!(url_path("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(url_path("http://host"), "");
    }

    #[test]
    fn compares_like_go() {
        assert_eq!(eq(&Value::Int(1), &[Value::Int(2), Value::Int(1)]), Ok(true));
        assert_eq!(eq(&Value::Int(1), &[Value::Float(1.0)]), Err(BAD_COMPARISON.into()));
        assert_eq!(eq(&Value::str("a"), &[Value::Nil]), Ok(false));
        assert_eq!(lt(&Value::str("a"), &Value::str("b")), Ok(true));
        assert_eq!(lt(&Value::Bool(true), &Value::Bool(false)), Err(BAD_COMPARISON_TYPE.into()));
        assert_eq!(lt(&Value::Nil, &Value::Int(1)), Err(BAD_COMPARISON_TYPE.into()));
    }
}
