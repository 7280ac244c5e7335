//! Series metadata endpoints, answered from the tenant's index and chunks
//! without PromQL evaluation, as Prometheus's `series`, `labelNames`,
//! `labelValues`, `metricMetadata` and `queryExemplars`:
//!
//! - `GET|POST /api/v1/series` (`match[]` required, `start`, `end`, `limit`)
//! - `GET|POST /api/v1/labels` and `GET /api/v1/label/<name>/values`
//!   (`match[]`, `start`, `end`, `limit`)
//! - `GET /api/v1/metadata` (`metric`, `limit`, `limit_per_metric`)
//! - `GET|POST /api/v1/query_exemplars` (`query`, `start`, `end`)
//!
//! A missing `start`/`end` means Prometheus's `MinTime`/`MaxTime`; only
//! series with samples in the range count.
//!
//! Series, label names and label values are answered from the in-memory
//! index and chunk spans on the request's own thread: their cost grows
//! with the series they match, and for the calls dashboards make it is
//! tens of microseconds, less than handing them to another thread costs.
//! Metadata and exemplars read RocksDB and run under [`blocking`].
//!
//! Series, label names, label values and metadata read several tenants
//! (`X-Scope-OrgID: a|b`) as PromQL does: series carry `__tenant_id__`,
//! which is then also a label name with the tenants as its values, and
//! `__tenant_id__` matchers choose the tenants (`crate::promql::storage`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use rampart_storage::labels::METRIC_NAME;
use rampart_storage::{Labels, Matcher};
use serde::Serialize;

use super::access::with_query;
use super::exec::blocking;
use super::params::{
    go_atoi, label_name_from_path, parse_limit, parse_matcher_sets, time_param, MAX_TIME_MS, MIN_TIME_MS,
};
use super::request::{ApiRequest, Params};
use super::response::{format_value, write_labels, write_str, write_timestamp, ApiError, ApiSuccess};
use super::AppState;
use crate::promql::storage::{federate, selector_matchers, vector_selectors, with_tenant_label, TENANT_LABEL};
use crate::tenant::TenantId;

/// The warning of a result cut short by `limit`.
const TRUNCATED: &str = "results truncated due to limit";

/// `start`, `end` (defaulting to the widest range) and `limit` of a call.
struct Range {
    start: i64,
    end: i64,
    limit: usize,
}

fn range_and_limit(p: &Params) -> Result<Range, ApiError> {
    let limit = parse_limit(p.get("limit")).map_err(|e| ApiError::invalid_param("limit", e))?;
    let start = time_param(p, "start", MIN_TIME_MS)?;
    let end = time_param(p, "end", MAX_TIME_MS)?;
    Ok(Range { start, end, limit })
}

/// Cuts `items` to a positive `limit`, warning when it cut anything.
fn limited<T>(mut items: Vec<T>, limit: usize) -> (Vec<T>, Option<&'static str>) {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        (items, Some(TRUNCATED))
    } else {
        (items, None)
    }
}

fn with_warning(ok: ApiSuccess, warning: Option<&str>) -> ApiSuccess {
    match warning {
        Some(w) => ok.warn(w),
        None => ok,
    }
}

/// `/api/v1/series`.
pub async fn series(State(state): State<Arc<AppState>>, req: ApiRequest) -> Response {
    let text = req.params.all("match[]").join(" ");
    with_query(text, find_series(&state, req))
}

fn find_series(state: &AppState, req: ApiRequest) -> Result<ApiSuccess, ApiError> {
    let db = state.db()?;
    let p = &req.params;
    let selectors = p.all("match[]");
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let r = range_and_limit(p)?;
    let sets = parse_matcher_sets(&selectors).map_err(|e| ApiError::invalid_param("match[]", e))?;
    let federated = req.tenants.len() > 1;
    let mut found: Vec<Labels> = Vec::new();
    for set in &sets {
        for (tenant, own) in federate(&req.tenants, set) {
            let series = db.querier(tenant.as_str(), r.start, r.end).series(&own)?;
            found.extend(series.into_iter().map(|l| if federated { with_tenant_label(l, tenant) } else { l }));
        }
    }
    if sets.len() > 1 || federated {
        found.sort();
        found.dedup();
    }
    let (found, warning) = limited(found, r.limit);
    let mut data = String::from("[");
    for (i, labels) in found.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        write_labels(&mut data, labels);
    }
    data.push(']');
    Ok(with_warning(ApiSuccess::raw(data), warning))
}

/// `/api/v1/labels`.
pub async fn label_names(State(state): State<Arc<AppState>>, req: ApiRequest) -> Response {
    let text = req.params.all("match[]").join(" ");
    with_query(text, find_label_names(&state, req))
}

fn find_label_names(state: &AppState, req: ApiRequest) -> Result<ApiSuccess, ApiError> {
    let db = state.db()?;
    let r = range_and_limit(&req.params)?;
    let sets = parse_matcher_sets(&req.params.all("match[]")).map_err(ApiError::bad_data)?;
    let names = union(&sets, |set| {
        per_tenant(&req.tenants, set, |tenant, own| {
            let mut names = db.querier(tenant.as_str(), r.start, r.end).label_names(own)?;
            if req.tenants.len() > 1 && !names.is_empty() {
                names.push(TENANT_LABEL.to_owned());
            }
            Ok(names)
        })
    })?;
    let (names, warning) = limited(names, r.limit);
    Ok(with_warning(ApiSuccess::json(&names)?, warning))
}

/// `/api/v1/label/<name>/values`; `name` may be in the `U__` escape form.
pub async fn label_values(State(state): State<Arc<AppState>>, Path(name): Path<String>, req: ApiRequest) -> Response {
    let text = req.params.all("match[]").join(" ");
    with_query(text, find_label_values(&state, &name, req))
}

fn find_label_values(state: &AppState, raw_name: &str, req: ApiRequest) -> Result<ApiSuccess, ApiError> {
    let db = state.db()?;
    let name = label_name_from_path(raw_name)?;
    let r = range_and_limit(&req.params)?;
    let sets = parse_matcher_sets(&req.params.all("match[]")).map_err(ApiError::bad_data)?;
    let tenant_ids = req.tenants.len() > 1 && name == TENANT_LABEL;
    let values = union(&sets, |set| {
        per_tenant(&req.tenants, set, |tenant, own| {
            let querier = db.querier(tenant.as_str(), r.start, r.end);
            if !tenant_ids {
                return querier.label_values(&name, own);
            }
            let has_series = !querier.label_values(METRIC_NAME, own)?.is_empty();
            Ok(if has_series { vec![tenant.to_string()] } else { Vec::new() })
        })
    })?;
    let (values, warning) = limited(values, r.limit);
    Ok(with_warning(ApiSuccess::json(&values)?, warning))
}

/// The sorted union of `f` over each matcher set, or `f(&[])` for none.
fn union(
    sets: &[Vec<Matcher>],
    f: impl Fn(&[Matcher]) -> rampart_storage::Result<Vec<String>>,
) -> rampart_storage::Result<Vec<String>> {
    match sets {
        [] => f(&[]),
        [one] => f(one),
        many => {
            let mut all = Vec::new();
            for set in many {
                all.extend(f(set)?);
            }
            all.sort();
            all.dedup();
            Ok(all)
        }
    }
}

/// `f` over each tenant of a read with its own matchers
/// ([`federate`]), the results merged, sorted and deduplicated.
fn per_tenant(
    tenants: &[TenantId],
    set: &[Matcher],
    f: impl Fn(&TenantId, &[Matcher]) -> rampart_storage::Result<Vec<String>>,
) -> rampart_storage::Result<Vec<String>> {
    let mut all = Vec::new();
    for (tenant, own) in federate(tenants, set) {
        all.extend(f(tenant, &own)?);
    }
    if tenants.len() > 1 {
        all.sort();
        all.dedup();
    }
    Ok(all)
}

/// One entry of `/api/v1/metadata`.
#[derive(PartialEq, Serialize)]
struct MetadataEntry {
    #[serde(rename = "type")]
    kind: String,
    help: String,
    unit: String,
}

/// `/api/v1/metadata`: metric families' type, help and unit, as remote
/// write delivered them.
pub async fn metadata(State(state): State<Arc<AppState>>, req: ApiRequest) -> Response {
    let text = req.params.get("metric").unwrap_or_default().to_owned();
    with_query(text, find_metadata(&state, req).await)
}

async fn find_metadata(state: &AppState, req: ApiRequest) -> Result<ApiSuccess, ApiError> {
    let db = state.db()?;
    let p = &req.params;
    // Negative means no limit; 0 gives nothing, as in Prometheus.
    let limit = match p.get("limit") {
        Some(s) => go_atoi(s).map_err(|_| ApiError::bad_data("limit must be a number"))?,
        None => -1,
    };
    let limit_per_metric = match p.get("limit_per_metric") {
        Some(s) => go_atoi(s).map_err(|_| ApiError::bad_data("limit_per_metric must be a number"))?,
        None => -1,
    };
    let metric = p.get("metric").map(str::to_owned);
    let entries = blocking(|| {
        let mut all = Vec::new();
        for tenant in &req.tenants {
            all.extend(db.querier(tenant.as_str(), MIN_TIME_MS, MAX_TIME_MS).metadata(metric.as_deref())?);
        }
        // Families in order, so that several tenants' entries group.
        all.sort_by(|a, b| a.metric_family.cmp(&b.metric_family));
        Ok(all)
    })?;
    let mut out: BTreeMap<String, Vec<MetadataEntry>> = BTreeMap::new();
    for m in entries {
        if limit >= 0 && out.len() as i64 >= limit && !out.contains_key(&m.metric_family) {
            break;
        }
        let list = out.entry(m.metric_family).or_default();
        let entry = MetadataEntry { kind: m.kind, help: m.help, unit: m.unit };
        if (limit_per_metric > 0 && list.len() as i64 >= limit_per_metric) || list.contains(&entry) {
            continue;
        }
        list.push(entry);
    }
    ApiSuccess::json(&out)
}

/// `/api/v1/query_exemplars`: exemplars of the series every selector of
/// `query` selects, in `[start, end]`.
pub async fn exemplars(State(state): State<Arc<AppState>>, req: ApiRequest) -> Response {
    let text = req.params.get("query").unwrap_or_default().to_owned();
    with_query(text.clone(), find_exemplars(&state, req, text).await)
}

async fn find_exemplars(state: &AppState, req: ApiRequest, text: String) -> Result<ApiSuccess, ApiError> {
    let db = state.db()?;
    let p = &req.params;
    let start = time_param(p, "start", MIN_TIME_MS)?;
    let end = time_param(p, "end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let expr = crate::promql::parse(&text).map_err(|e| ApiError::bad_data(e.message()))?;
    let selectors = vector_selectors(&expr);
    if selectors.is_empty() {
        return Ok(ApiSuccess::no_content());
    }
    let sets = selectors
        .into_iter()
        .map(|vs| selector_matchers(vs).map_err(|e| ApiError::bad_data(e.message())))
        .collect::<Result<Vec<_>, _>>()?;
    let found = blocking(|| {
        let querier = db.querier(req.tenant.as_str(), start, end);
        let mut by_series = BTreeMap::new();
        for set in &sets {
            for (labels, exemplars) in querier.exemplars(set)? {
                by_series.entry(labels).or_insert(exemplars);
            }
        }
        Ok(by_series)
    })?;
    let mut data = String::from("[");
    for (i, (series, exemplars)) in found.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        data.push_str(r#"{"seriesLabels":"#);
        write_labels(&mut data, series);
        data.push_str(r#","exemplars":["#);
        for (j, e) in exemplars.iter().enumerate() {
            if j > 0 {
                data.push(',');
            }
            data.push_str(r#"{"labels":"#);
            write_labels(&mut data, &e.labels);
            data.push_str(r#","value":"#);
            write_str(&mut data, &format_value(e.v));
            data.push_str(r#","timestamp":"#);
            write_timestamp(&mut data, e.t);
            data.push('}');
        }
        data.push_str("]}");
    }
    data.push(']');
    Ok(ApiSuccess::raw(data))
}
