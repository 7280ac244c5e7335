//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` and
//! `/api/v1/parse_query` (GET or form POST), as Prometheus's `query`,
//! `queryRange`, `formatQuery` and `parseQuery`: the same parameters, checks
//! in the same order, and the same error texts.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::Expr;

use super::access::with_query;
use super::ast_json;
use super::exec::Weight;
use super::params::{nanos_to_ms, parse_duration, parse_limit, parse_time, time_param};
use super::request::{ApiRequest, Params};
use super::response::{annotation_strings, query_data, ApiError, ApiSuccess};
use super::AppState;
use crate::promql::gocompat::format::quote;
use crate::promql::storage::FederatedStorage;
use crate::promql::{self, Engine, QueryOutput, Value};

/// Most points per series a range query may ask for.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// `GET|POST /api/v1/query`: `query`, `time`, `timeout`, `limit`,
/// `lookback_delta`.
pub async fn instant(State(state): State<Arc<AppState>>, req: ApiRequest) -> Response {
    let text = req.params.get("query").unwrap_or_default().to_owned();
    let result = run_instant(&state, req, text.clone()).await;
    with_query(text, result)
}

async fn run_instant(state: &AppState, req: ApiRequest, text: String) -> Result<ApiSuccess, ApiError> {
    let db = state.db()?;
    let p = &req.params;
    let limit = parse_limit(p.get("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
    let t = time_param(p, "time", crate::now_ms())?;
    let timeout = timeout_param(p)?;
    let lookback = lookback_param(p)?;
    let expr = promql::parse(&text).map_err(|e| ApiError::invalid_param("query", e.message()))?;
    let exec = &state.queries;
    let weight = Weight::of(&FederatedStorage::new(&db, &req.tenants), &expr, 1);
    let job_text = text.clone();
    let out = exec
        .run(exec.timeout(timeout), weight, exec.engine_options(lookback), move |opts| {
            let storage = FederatedStorage::new(&db, &req.tenants);
            Engine::new(opts).instant(&storage, &job_text, &expr, t)
        })
        .await?;
    Ok(render(out, limit, &text))
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step`,
/// `timeout`, `limit`, `lookback_delta`.
pub async fn range(State(state): State<Arc<AppState>>, req: ApiRequest) -> Response {
    let text = req.params.get("query").unwrap_or_default().to_owned();
    let result = run_range(&state, req, text.clone()).await;
    with_query(text, result)
}

async fn run_range(state: &AppState, req: ApiRequest, text: String) -> Result<ApiSuccess, ApiError> {
    let db = state.db()?;
    let p = &req.params;
    let limit = parse_limit(p.get("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
    let start = parse_time(p.get("start").unwrap_or_default()).map_err(|e| ApiError::invalid_param("start", e))?;
    let end = parse_time(p.get("end").unwrap_or_default()).map_err(|e| ApiError::invalid_param("end", e))?;
    if end < start {
        return Err(ApiError::invalid_param("end", "end timestamp must not be before start time"));
    }
    let step = parse_duration(p.get("step").unwrap_or_default()).map_err(|e| ApiError::invalid_param("step", e))?;
    if step <= 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Go's `end.Sub(start)` in nanoseconds, saturating like time.Duration.
    let span_ns = i64::try_from((i128::from(end) - i128::from(start)) * 1_000_000).unwrap_or(i64::MAX);
    if span_ns / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = timeout_param(p)?;
    let lookback = lookback_param(p)?;
    let expr = promql::parse(&text).map_err(|e| ApiError::invalid_param("query", e.message()))?;
    let kind = expr.value_type();
    if kind != ValueType::Vector && kind != ValueType::Scalar {
        return Err(ApiError::invalid_param(
            "query",
            format!(
                "invalid expression type {} for range query, must be Scalar or instant Vector",
                quote(documented_type(kind))
            ),
        ));
    }
    // The engine works in milliseconds; a sub-millisecond step is one.
    let step_ms = nanos_to_ms(step).max(1);
    let steps = usize::try_from((end - start) / step_ms + 1).unwrap_or(usize::MAX);
    let exec = &state.queries;
    let weight = Weight::of(&FederatedStorage::new(&db, &req.tenants), &expr, steps);
    let job_text = text.clone();
    let out = exec
        .run(exec.timeout(timeout), weight, exec.engine_options(lookback), move |opts| {
            let storage = FederatedStorage::new(&db, &req.tenants);
            Engine::new(opts).range(&storage, &job_text, &expr, start, end, step_ms)
        })
        .await?;
    Ok(render(out, limit, &text))
}

/// `GET|POST /api/v1/format_query`: the query pretty-printed.
pub async fn format(req: ApiRequest) -> Response {
    let text = req.params.get("query").unwrap_or_default().to_owned();
    let result = parse_param(&text).and_then(|expr| ApiSuccess::json(&expr.prettify()));
    with_query(text, result)
}

/// `GET|POST /api/v1/parse_query`: the query's syntax tree as JSON.
pub async fn parse(req: ApiRequest) -> Response {
    let text = req.params.get("query").unwrap_or_default().to_owned();
    let result = parse_param(&text).and_then(|expr| ApiSuccess::json(&ast_json::translate(&expr)));
    with_query(text, result)
}

fn parse_param(text: &str) -> Result<Expr, ApiError> {
    promql::parse(text).map_err(|e| ApiError::invalid_param("query", e.message()))
}

/// `timeout`, in nanoseconds.
fn timeout_param(p: &Params) -> Result<Option<i64>, ApiError> {
    p.get("timeout").map(|t| parse_duration(t).map_err(|e| ApiError::invalid_param("timeout", e))).transpose()
}

/// `lookback_delta`, in milliseconds (`extractQueryOpts`).
fn lookback_param(p: &Params) -> Result<Option<i64>, ApiError> {
    p.get("lookback_delta")
        .map(|d| {
            parse_duration(d)
                .map(nanos_to_ms)
                .map_err(|e| ApiError::bad_data(format!("error parsing lookback delta duration: {e}")))
        })
        .transpose()
}

/// Prometheus's `parser.DocumentedType`.
fn documented_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
    }
}

/// The `data` of a query response: the result cut to `limit` series (when
/// positive, with a warning if it cut anything), warnings and infos.
fn render(out: QueryOutput, limit: usize, text: &str) -> ApiSuccess {
    let QueryOutput { mut value, annotations } = out;
    let truncated = limit > 0
        && match &mut value {
            Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
    let (mut warnings, infos) = annotation_strings(&annotations, text);
    if truncated {
        warnings.push("results truncated due to limit".to_owned());
    }
    let mut ok = ApiSuccess::raw(query_data(&value));
    ok.warnings = warnings;
    ok.infos = infos;
    ok
}
