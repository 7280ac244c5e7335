//! `GET /api/v1/rules`, `GET /api/v1/alerts` and `POST /-/reload`, in
//! Prometheus's shapes (Grafana's alerting view reads the first two).
//!
//! A tenant sees only its own groups. Without rules configured both lists
//! are empty, as on a Prometheus without rule files.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::request::ApiRequest;
use super::response::{ApiError, ApiSuccess};
use super::AppState;
use crate::promql::gocompat::format::format_e;
use crate::rules::alerting::Alert;
use crate::rules::file::RuleKind;
use crate::rules::group::{Group, RuleState};
use rampart_storage::Labels;

/// Which rules a `/api/v1/rules` call asks for.
struct RuleFilter<'a> {
    kind: Option<&'static str>,
    names: Vec<&'a str>,
    groups: Vec<&'a str>,
    files: Vec<&'a str>,
    exclude_alerts: bool,
}

/// `GET /api/v1/rules`.
pub async fn rules(State(state): State<Arc<AppState>>, req: ApiRequest) -> Result<ApiSuccess, ApiError> {
    let p = &req.params;
    let kind = match p.get("type") {
        None => None,
        Some("alert") => Some("alerting"),
        Some("record") => Some("recording"),
        Some(other) => return Err(ApiError::bad_data(format!("not supported value {other:?}"))),
    };
    let exclude_alerts = match p.get("exclude_alerts") {
        None => false,
        Some(v) => v.parse::<bool>().map_err(|_| ApiError::invalid_param("exclude_alerts", "not a boolean"))?,
    };
    let filter = RuleFilter {
        kind,
        names: p.all("rule_name[]"),
        groups: p.all("rule_group[]"),
        files: p.all("file[]"),
        exclude_alerts,
    };
    let mut groups = Vec::new();
    for g in state.ruler.get().map(|r| r.groups(req.tenant.as_str())).unwrap_or_default() {
        let g = g.lock();
        let file = g.spec.file.display().to_string();
        if (!filter.groups.is_empty() && !filter.groups.contains(&g.spec.name.as_str()))
            || (!filter.files.is_empty() && !filter.files.contains(&file.as_str()))
        {
            continue;
        }
        let rules: Vec<Value> = g.rules.iter().filter_map(|r| rule_json(r, &filter)).collect();
        if rules.is_empty() && (filter.kind.is_some() || !filter.names.is_empty()) {
            continue;
        }
        groups.push(group_json(&g, file, rules));
    }
    ApiSuccess::json(&json!({ "groups": groups }))
}

/// `GET /api/v1/alerts`: every pending and firing alert of the tenant.
pub async fn alerts(State(state): State<Arc<AppState>>, req: ApiRequest) -> Result<ApiSuccess, ApiError> {
    let mut alerts = Vec::new();
    for g in state.ruler.get().map(|r| r.groups(req.tenant.as_str())).unwrap_or_default() {
        let g = g.lock();
        for a in g.rules.iter().filter_map(|r| r.alerting.as_ref()) {
            alerts.extend(a.alerts().map(alert_json));
        }
    }
    ApiSuccess::json(&json!({ "alerts": alerts }))
}

/// `POST /-/reload`: reloads the credentials (`auth:`) and rule files; 500
/// with the problems when something could not be loaded (what was in force
/// stays: the previous credentials, a bad file's previous groups).
pub async fn reload(State(state): State<Arc<AppState>>) -> Response {
    let mut problems = Vec::new();
    if let Err(e) = state.access.reload() {
        problems.push(format!("failed to reload the auth section, the credentials in force stay: {e}"));
    }
    if let Some(Err(errors)) = state.ruler.get().map(|r| r.reload()) {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        problems.push(format!("failed to reload rules:\n{}", text.join("\n")));
    }
    if problems.is_empty() {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", problems.join("\n"))).into_response()
    }
}

fn group_json(g: &Group, file: String, rules: Vec<Value>) -> Value {
    json!({
        "name": g.spec.name,
        "file": file,
        "rules": rules,
        "interval": g.spec.interval.as_secs_f64(),
        "limit": g.spec.limit,
        "evaluationTime": g.eval_duration.as_secs_f64(),
        "lastEvaluation": go_time(g.last_eval),
    })
}

fn rule_json(r: &RuleState, filter: &RuleFilter<'_>) -> Option<Value> {
    let kind = if r.alerting.is_some() { "alerting" } else { "recording" };
    if filter.kind.is_some_and(|k| k != kind) || (!filter.names.is_empty() && !filter.names.contains(&r.spec.name())) {
        return None;
    }
    let mut out = Map::new();
    match (&r.spec.kind, &r.alerting) {
        (RuleKind::Alerting { name, hold, keep_firing_for, annotations }, Some(a)) => {
            out.insert("state".into(), a.state().as_str().into());
            out.insert("name".into(), name.as_str().into());
            out.insert("query".into(), r.spec.expr_text.as_str().into());
            out.insert("duration".into(), hold.as_secs_f64().into());
            out.insert("keepFiringFor".into(), keep_firing_for.as_secs_f64().into());
            out.insert("labels".into(), labels_json(&r.spec.labels));
            out.insert("annotations".into(), labels_json(annotations));
            let alerts: Vec<Value> =
                if filter.exclude_alerts { Vec::new() } else { a.alerts().map(alert_json).collect() };
            out.insert("alerts".into(), alerts.into());
        }
        _ => {
            out.insert("name".into(), r.spec.name().into());
            out.insert("query".into(), r.spec.expr_text.as_str().into());
            out.insert("labels".into(), labels_json(&r.spec.labels));
        }
    }
    out.insert("health".into(), r.health.as_str().into());
    if let Some(e) = &r.last_error {
        out.insert("lastError".into(), e.as_str().into());
    }
    out.insert("evaluationTime".into(), r.eval_duration.as_secs_f64().into());
    out.insert("lastEvaluation".into(), go_time(r.last_eval).into());
    out.insert("type".into(), kind.into());
    Some(Value::Object(out))
}

fn alert_json(a: &Alert) -> Value {
    let mut out = Map::new();
    out.insert("labels".into(), labels_json(&a.labels));
    out.insert("annotations".into(), labels_json(&a.annotations));
    out.insert("state".into(), a.state.as_str().into());
    out.insert("activeAt".into(), go_time(Some(a.active_at)).into());
    if let Some(t) = a.keep_firing_since {
        out.insert("keepFiringSince".into(), go_time(Some(t)).into());
    }
    out.insert("value".into(), format_e(a.value).into());
    Value::Object(out)
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(labels.pairs().map(|(k, v)| (k.to_owned(), Value::from(v))).collect())
}

/// A time as Go's `time.Time` marshals to JSON (RFC 3339, UTC, trailing
/// zeros of the fraction dropped); `None` is Go's zero time.
fn go_time(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "0001-01-01T00:00:00Z".into() };
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else { return "0001-01-01T00:00:00Z".into() };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = ms.rem_euclid(1000);
    if frac != 0 {
        let digits = format!("{frac:03}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::go_time;

    #[test]
    fn times_are_formatted_as_go_marshals_them() {
        assert_eq!(go_time(None), "0001-01-01T00:00:00Z");
        assert_eq!(go_time(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(go_time(Some(1_500)), "1970-01-01T00:00:01.5Z");
        assert_eq!(go_time(Some(1_234)), "1970-01-01T00:00:01.234Z");
    }
}
