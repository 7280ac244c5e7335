//! The Prometheus HTTP API's response envelope and JSON encoding
//! (`web/api/v1/api.go`, `json_codec.go`, `util/jsonutil`):
//!
//! - success: `{"status":"success","data":…,"warnings":[…],"infos":[…]}`,
//!   `warnings`/`infos` left out when empty, `data` left out when absent;
//! - error: `{"status":"error","errorType":…,"error":…}` with the status of
//!   its type (400 `bad_data`, 422 `execution`, 503 `timeout`, 499
//!   `canceled`, 500 `internal`, 503 `unavailable`, 404 `not_found`);
//! - sample values as strings in Go's shortest round-trip form (`"NaN"`,
//!   `"+Inf"`, `"-Inf"`, exponent form below 1e-6 and from 1e21), sample
//!   times as Unix seconds with up to three decimals, `[<time>, "<value>"]`.
//!
//! Query results are written by hand rather than through serde, so that
//! times come out exactly as Prometheus writes them and large matrices are
//! not built as `serde_json::Value` trees first.

use std::fmt::Write as _;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rampart_storage::Labels;
use serde::Serialize;

use crate::promql::gocompat::format::{format_e, format_f, quote, write_e, write_f};
use crate::promql::{AnnotationKind, Annotations, QueryError, Value};

/// Prometheus's `errorType`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// Invalid parameters or query (400).
    BadData,
    /// Evaluation failed (422).
    Execution,
    /// Ran out of time (503).
    Timeout,
    /// Canceled by the client (499).
    Canceled,
    /// A server-side fault (500).
    Internal,
    /// Not ready yet (503).
    Unavailable,
    /// No such thing (404).
    NotFound,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadData => "bad_data",
            Self::Execution => "execution",
            Self::Timeout => "timeout",
            Self::Canceled => "canceled",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::NotFound => "not_found",
        }
    }

    /// The HTTP status of this type.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadData => StatusCode::BAD_REQUEST,
            Self::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Timeout | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            // nginx's "client closed request", as Prometheus answers.
            Self::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// A failed API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// Its type.
    pub kind: ErrorType,
    /// Its text.
    pub message: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// `bad_data`.
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorType::BadData, message)
    }

    /// `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorType::Internal, message)
    }

    /// Prometheus's `invalidParamError`: `invalid parameter "<name>": <why>`.
    pub fn invalid_param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter {}: {why}", quote(name)))
    }

    /// The store has not finished replaying its WAL.
    pub fn not_ready() -> Self {
        Self::new(ErrorType::Unavailable, "replaying the WAL; retry once /-/ready answers 200")
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let kind = match e {
            QueryError::BadData(_) => ErrorType::BadData,
            QueryError::Execution(_) => ErrorType::Execution,
            QueryError::Timeout(_) => ErrorType::Timeout,
            QueryError::Canceled(_) => ErrorType::Canceled,
            QueryError::Internal(_) => ErrorType::Internal,
        };
        Self::new(kind, e.message())
    }
}

impl From<rampart_storage::Error> for ApiError {
    fn from(e: rampart_storage::Error) -> Self {
        Self::internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = String::with_capacity(self.message.len() + 64);
        body.push_str(r#"{"status":"error","errorType":"#);
        write_str(&mut body, self.kind.as_str());
        body.push_str(r#","error":"#);
        write_str(&mut body, &self.message);
        body.push('}');
        json_response(self.kind.status(), body)
    }
}

/// A successful API call.
#[derive(Debug, Default)]
pub struct ApiSuccess {
    /// The `data` field, already JSON; `None` answers 204 No Content.
    data: Option<String>,
    /// `warnings`.
    pub warnings: Vec<String>,
    /// `infos`.
    pub infos: Vec<String>,
}

impl ApiSuccess {
    /// `data` from JSON text.
    pub fn raw(data: String) -> Self {
        Self { data: Some(data), ..Self::default() }
    }

    /// `data` from a serializable value.
    pub fn json<T: Serialize + ?Sized>(data: &T) -> Result<Self, ApiError> {
        serde_json::to_string(data).map(Self::raw).map_err(|e| ApiError::internal(format!("encoding response: {e}")))
    }

    /// No data: Prometheus answers such calls with 204 No Content.
    pub fn no_content() -> Self {
        Self::default()
    }

    /// Adds a warning.
    pub fn warn(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }
}

impl IntoResponse for ApiSuccess {
    fn into_response(self) -> Response {
        let Some(data) = self.data else { return StatusCode::NO_CONTENT.into_response() };
        let mut body = String::with_capacity(data.len() + 64);
        body.push_str(r#"{"status":"success","data":"#);
        body.push_str(&data);
        for (key, list) in [("warnings", &self.warnings), ("infos", &self.infos)] {
            if list.is_empty() {
                continue;
            }
            let _ = write!(body, r#","{key}":["#);
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                write_str(&mut body, s);
            }
            body.push(']');
        }
        body.push('}');
        json_response(StatusCode::OK, body)
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Most warnings (and, separately, infos) listed in a response; the rest
/// are counted in one last line, as Prometheus does.
pub const MAX_ANNOTATIONS: usize = 10;

/// Splits annotations into the response's `warnings` and `infos`, each
/// capped at [`MAX_ANNOTATIONS`] (`AsStrings(query, 10, 10)`).
pub fn annotation_strings(annotations: &Annotations, query: &str) -> (Vec<String>, Vec<String>) {
    let cap = |mut list: Vec<String>, what: &str| {
        if list.len() > MAX_ANNOTATIONS {
            let omitted = list.len() - MAX_ANNOTATIONS;
            list.truncate(MAX_ANNOTATIONS);
            list.push(format!("{omitted} more {what} annotations omitted"));
        }
        list
    };
    (
        cap(annotations.rendered(AnnotationKind::Warning, query), "warning"),
        cap(annotations.rendered(AnnotationKind::Info, query), "info"),
    )
}

// ---- query results ---------------------------------------------------

/// `{"resultType":…,"result":…}` of a query result.
pub fn query_data(value: &Value) -> String {
    let mut out = String::new();
    out.push_str(r#"{"resultType":"#);
    write_str(&mut out, value.type_name());
    out.push_str(r#","result":"#);
    match value {
        Value::Scalar { t, v } => {
            out.push('[');
            write_float_seconds(&mut out, *t);
            out.push_str(",\"");
            write_f(&mut out, *v);
            out.push_str("\"]");
        }
        Value::String { t, s } => {
            out.push('[');
            write_float_seconds(&mut out, *t);
            out.push(',');
            write_str(&mut out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(&mut out, &s.labels);
                out.push_str(r#","value":"#);
                write_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(&mut out, &s.labels);
                if !s.points.is_empty() {
                    out.push_str(r#","values":["#);
                    for (j, p) in s.points.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_point(&mut out, p.t, p.v);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// `[<time>, "<value>"]`.
pub fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    write_value(out, v);
    out.push_str("\"]");
}

/// A label set as a JSON object in label order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

/// A sample time in Unix seconds as Prometheus writes it
/// (`jsonutil.MarshalTimestamp`): whole seconds, then `.` and exactly three
/// digits when the millisecond part is not zero.
pub fn write_timestamp(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let abs = t.unsigned_abs();
    out.push_str(itoa::Buffer::new().format(abs / 1000));
    let fraction = abs % 1000;
    if fraction != 0 {
        out.push('.');
        for digit in [fraction / 100, fraction / 10 % 10, fraction % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
    }
}

/// A scalar's or string's time: `float64(t)/1000` through Go's JSON
/// encoder, i.e. the shortest decimal (no trailing zeros).
fn write_float_seconds(out: &mut String, t: i64) {
    out.push_str(&format_go_json_float(t as f64 / 1000.0));
}

/// A sample value as Prometheus writes it (`jsonutil.MarshalFloat`): Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, or `'e'` for magnitudes below
/// 1e-6 or from 1e21 on.
pub fn format_value(v: f64) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// Appends [`format_value`]'s form of `v` to `out` without allocating.
pub fn write_value(out: &mut String, v: f64) {
    let abs = v.abs();
    if abs != 0.0 && abs.is_finite() && !(1e-6..1e21).contains(&abs) {
        write_e(out, v)
    } else {
        write_f(out, v)
    }
}

/// Go's `encoding/json` for a float64: `'f'` form, or `'e'` form (with a
/// one-digit exponent kept as Go writes it, `1e-07` → `1e-7`) below 1e-6
/// or from 1e21 on.
fn format_go_json_float(v: f64) -> String {
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format_e(v);
        // encoding/json trims "e-07" to "e-7".
        match s.split_once('e') {
            Some((m, e)) if e.len() == 3 && e.as_bytes()[1] == b'0' => format!("{m}e{}{}", &e[..1], &e[2..]),
            _ => s,
        }
    } else {
        format_f(v)
    }
}

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` does
/// (`<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes too).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::promql::{Point, Sample, Series};

    #[test]
    fn values_follow_go_formatting() {
        let cases = [
            (1.0, "1"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1234567.891, "1234567.891"),
            (1e-6, "0.000001"),
            (1e-7, "1e-07"),
            (1.5e-10, "1.5e-10"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-1.25e300, "-1.25e+300"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (0.30000000000000004, "0.30000000000000004"),
        ];
        for (v, want) in cases {
            assert_eq!(format_value(v), want, "{v:e}");
        }
    }

    #[test]
    fn timestamps_follow_marshal_timestamp() {
        for (t, want) in [
            (1_435_781_451_781, "1435781451.781"),
            (1_435_781_451_780, "1435781451.780"),
            (1_435_781_451_000, "1435781451"),
            (1_435_781_451_001, "1435781451.001"),
            (0, "0"),
            (-1500, "-1.500"),
            (-1, "-0.001"),
        ] {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            assert_eq!(s, want, "{t}");
        }
        assert_eq!(format_go_json_float(1_435_781_451_780.0 / 1000.0), "1435781451.78");
        assert_eq!(format_go_json_float(1e-7), "1e-7");
    }

    #[test]
    fn query_results_have_prometheus_shapes() {
        let labels = Arc::new(Labels::from_pairs([("__name__", "up"), ("job", "a<b")]));
        let vector = Value::Vector(vec![Sample { labels: labels.clone(), t: 1_000_500, v: 1.0, drop_name: false }]);
        assert_eq!(
            query_data(&vector),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"value":[1000.500,"1"]}]}"#
        );
        let matrix = Value::Matrix(vec![Series {
            labels,
            points: vec![Point { t: 1000, v: f64::NAN }, Point { t: 2000, v: 2.0 }],
            drop_name: false,
        }]);
        assert_eq!(
            query_data(&matrix),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"values":[[1,"NaN"],[2,"2"]]}]}"#
        );
        assert_eq!(query_data(&Value::Matrix(vec![])), r#"{"resultType":"matrix","result":[]}"#);
        assert_eq!(
            query_data(&Value::Scalar { t: 1_500, v: 1e-7 }),
            r#"{"resultType":"scalar","result":[1.5,"0.0000001"]}"#
        );
        assert_eq!(
            query_data(&Value::String { t: 2_000, s: "a\"b".into() }),
            r#"{"resultType":"string","result":[2,"a\"b"]}"#
        );
    }

    #[test]
    fn envelope_and_errors() {
        let ok = ApiSuccess::raw("[]".into()).warn("w");
        let r = ok.into_response();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let e = ApiError::invalid_param("start", "cannot parse \"x\" to a valid timestamp");
        assert_eq!(e.message, r#"invalid parameter "start": cannot parse "x" to a valid timestamp"#);
        assert_eq!(e.clone().into_response().status(), 400);
        assert_eq!(ApiError::new(ErrorType::Canceled, "c").into_response().status(), 499);
        assert_eq!(ApiError::from(QueryError::Timeout("t".into())).into_response().status(), 503);
        assert_eq!(ApiError::from(QueryError::execution("x")).into_response().status(), 422);
        assert_eq!(ApiSuccess::no_content().into_response().status(), 204);
    }

    #[test]
    fn annotations_are_capped_like_prometheus() {
        let mut a = Annotations::default();
        for i in 0..12 {
            a.warn(format!("w{i}"), None);
        }
        a.info("i", None);
        let (w, i) = annotation_strings(&a, "q");
        assert_eq!(w.len(), 11);
        assert_eq!(w[10], "2 more warning annotations omitted");
        assert_eq!(i, vec!["PromQL info: i".to_owned()]);
    }

    #[test]
    fn strings_escape_like_go() {
        let mut s = String::new();
        write_str(&mut s, "a\"\\\n\u{1}<>&\u{2028}é");
        assert_eq!(s, r#""a\"\\\n\u0001\u003c\u003e\u0026\u2028é""#);
    }
}
