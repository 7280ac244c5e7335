//! The values a template handles, standing in for the Go types Prometheus
//! hands to `text/template` (its data struct, `map[string]string` label
//! sets, query samples, `*time.Time`, ...), with their Go type names for
//! error messages.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A query sample: Prometheus's `*template.sample`.
#[derive(Debug)]
pub(super) struct Sample {
    pub labels: Rc<BTreeMap<String, String>>,
    pub value: f64,
}

/// The alert template data: Prometheus's anonymous struct with `Labels`,
/// `ExternalLabels`, `ExternalURL` and `Value`.
#[derive(Debug)]
pub(super) struct Data {
    pub labels: Rc<BTreeMap<String, String>>,
    pub external_labels: Rc<BTreeMap<String, String>>,
    pub external_url: String,
    pub value: f64,
}

/// A value during execution.
#[derive(Debug, Clone)]
pub(super) enum Value {
    /// No value: Go's invalid `reflect.Value` (a nil interface).
    Nil,
    Bool(bool),
    /// Go `int`.
    Int(i64),
    /// Go `int64` (results of `time` methods such as `UnixMilli`).
    Int64(i64),
    /// Go `uint8` (indexing a string yields a byte).
    Byte(u8),
    Float(f64),
    Str(Rc<str>),
    /// `html/template.HTML`, from `safeHtml`.
    Html(Rc<str>),
    /// `map[string]string`: label sets.
    StrMap(Rc<BTreeMap<String, String>>),
    /// `map[string]interface {}`: the result of `args`.
    AnyMap(Rc<BTreeMap<String, Value>>),
    Data(Rc<Data>),
    /// `*template.sample`.
    Sample(Rc<Sample>),
    /// `template.queryResult`; shared, because `sortByLabel` sorts in place.
    Vector(Rc<RefCell<Vec<Rc<Sample>>>>),
    /// `*time.Time` in UTC, as nanoseconds since the epoch.
    TimePtr(i64),
    /// `time.Time` in UTC, as nanoseconds since the epoch.
    Time(i64),
    /// `*time.Duration`, in nanoseconds.
    DurationPtr(i64),
    /// `time.Duration`, in nanoseconds.
    Duration(i64),
    /// `time.Month` (1-12).
    Month(i64),
    /// `time.Weekday` (0 = Sunday).
    Weekday(i64),
}

/// Go's type string of the data struct.
const DATA_TYPE: &str =
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    pub fn vector(samples: Vec<Rc<Sample>>) -> Value {
        Value::Vector(Rc::new(RefCell::new(samples)))
    }

    /// Go's `%T`-style type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Byte(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::StrMap(_) => "map[string]string",
            Value::AnyMap(_) => "map[string]interface {}",
            Value::Data(_) => DATA_TYPE,
            Value::Sample(_) => "*template.sample",
            Value::Vector(_) => "template.queryResult",
            Value::TimePtr(_) => "*time.Time",
            Value::Time(_) => "time.Time",
            Value::DurationPtr(_) => "*time.Duration",
            Value::Duration(_) => "time.Duration",
            Value::Month(_) => "time.Month",
            Value::Weekday(_) => "time.Weekday",
        }
    }

    /// Go's truth of a value in `if`, `with`, `and`, `or` and `not`: false
    /// for nil, zero numbers and empty strings, maps and slices.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) | Value::Duration(i) | Value::Month(i) | Value::Weekday(i) => *i != 0,
            Value::Byte(b) => *b != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::AnyMap(m) => !m.is_empty(),
            Value::Vector(v) => !v.borrow().is_empty(),
            Value::Data(_) | Value::Sample(_) | Value::TimePtr(_) | Value::Time(_) | Value::DurationPtr(_) => true,
        }
    }

    /// The string of a value whose Go kind is string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Html(s) => Some(s),
            _ => None,
        }
    }
}
