//! HTTP API: routes, shared state and the start-up gate.
//!
//! Handlers are thin: parse, call, render. The storage engine is opened in
//! the background while the server already answers, so that `/-/healthy`
//! and `/-/ready` (503 until the WAL is replayed) work during a long replay.
//!
//! | module | owns |
//! |---|---|
//! | `write` | remote write |
//! | `query` | `query`, `query_range`, `format_query`, `parse_query` |
//! | `meta` | `series`, `labels`, `label/<name>/values`, `metadata`, `query_exemplars` |
//! | `status` | `status/buildinfo`, `status/tsdb`, `status/runtimeinfo`, `status/flags` |
//! | `read` | remote read |
//! | `rules` | `rules`, `alerts`, `/-/reload` |
//! | `request` | tenant and form parameters of a request |
//! | `params` | times, durations, limits, `match[]` selectors |
//! | `response` | the JSON envelope, error types and Prometheus's number formats |
//! | `exec` | query slots, deadlines, blocking threads |
//! | `ast_json` | `parse_query`'s syntax tree |
//! | `access` | request log lines and query API metrics |
//! | `auth` | the store's credentials and their reload (each route's role is beside it, below) |
//! | `verify` | running the store's tamper verification on demand |

pub(crate) mod access;
mod admin;
mod ast_json;
pub mod auth;
mod exec;
pub mod ha_tracker;
mod health;
mod meta;
mod params;
mod query;
mod read;
mod request;
mod response;
mod rules;
mod status;
mod verify;
mod write;

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use axum::http::{header, StatusCode};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use rampart_storage::Db;

use crate::audit::{Action, AuditLog};
use crate::auth::{ErrorFormat, GuardedRouter, Role, RouteRule, Scope};
use crate::config::QueryConfig;
use crate::ingest::IngestLimits;
use crate::rules::Ruler;
use crate::telemetry::{IngestMetrics, QueryMetrics};
pub use exec::QueryExecutor;
pub use response::{ApiError, ErrorType};

/// State shared by all handlers.
pub struct AppState {
    /// The engine, once opened.
    pub db: OnceLock<Arc<Db>>,
    /// Remote-write limits.
    pub limits: IngestLimits,
    /// Ingest counters.
    pub metrics: IngestMetrics,
    /// Query slots, deadlines and engine options.
    pub queries: QueryExecutor,
    /// Query API counters.
    pub query_metrics: QueryMetrics,
    /// When the process started.
    pub started: SystemTime,
    /// The rule evaluator, once the engine is open.
    pub ruler: OnceLock<Arc<Ruler>>,
    /// Where reads, admin actions and refusals are recorded.
    pub audit: AuditLog,
    /// Who may call which route.
    pub access: Arc<auth::StoreAccess>,
    /// The store's tamper verification, once the engine is open.
    pub verifier: OnceLock<Arc<crate::verify::Verifier>>,
}

impl AppState {
    /// State with no engine yet and the default query limits.
    pub fn new(limits: IngestLimits) -> Self {
        Self {
            db: OnceLock::new(),
            limits,
            metrics: IngestMetrics::default(),
            queries: QueryExecutor::new(QueryConfig::default()),
            query_metrics: QueryMetrics::default(),
            started: SystemTime::now(),
            ruler: OnceLock::new(),
            audit: AuditLog::disabled(),
            access: Arc::new(auth::StoreAccess::open()),
            verifier: OnceLock::new(),
        }
    }

    /// The same state with this access control.
    pub fn with_access(mut self, access: auth::StoreAccess) -> Self {
        self.access = Arc::new(access);
        self
    }

    /// The same state with these query limits.
    pub fn with_query(mut self, config: QueryConfig) -> Self {
        self.queries = QueryExecutor::new(config);
        self
    }

    /// The same state recording into this audit log.
    pub fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = audit;
        self
    }

    /// The engine, or `unavailable` (503) while the WAL is replayed.
    pub fn db(&self) -> Result<Arc<Db>, ApiError> {
        self.db.get().cloned().ok_or_else(ApiError::not_ready)
    }
}

/// A query API route: OPTIONS is answered 204 (as Prometheus answers CORS
/// preflights) and other methods get Prometheus's 405 answer.
fn api_route(route: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    route.options(|| async { StatusCode::NO_CONTENT }).fallback(|| async {
        (StatusCode::METHOD_NOT_ALLOWED, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "Method Not Allowed\n")
    })
}

const READ: &[Role] = &[Role::Read];
const WRITE: &[Role] = &[Role::Write];
/// `/-/reload` re-reads rule files and credentials.
const RELOAD: &[Role] = &[Role::Rules, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];
const METRICS: &[Role] = &[Role::Metrics];

/// A query API route that reads `scope`'s data, audited as `action`.
const fn query_api_rule(path: &'static str, scope: Scope, action: Action) -> RouteRule {
    RouteRule::new(path, READ, scope, ErrorFormat::PrometheusJson).audited(action)
}

/// The query API: Prometheus's routes, logged per request. `Tenants`
/// routes read across tenants (`X-Scope-OrgID: a|b`); the others read one.
fn query_api_routes() -> GuardedRouter<Arc<AppState>> {
    use Action::{Query, Read};
    use Scope::{AnyTenant, Tenant, Tenants};
    GuardedRouter::default()
        .route(query_api_rule("/api/v1/query", Tenants, Query), api_route(get(query::instant).post(query::instant)))
        .route(query_api_rule("/api/v1/query_range", Tenants, Query), api_route(get(query::range).post(query::range)))
        .route(
            query_api_rule("/api/v1/format_query", AnyTenant, Read),
            api_route(get(query::format).post(query::format)),
        )
        .route(query_api_rule("/api/v1/parse_query", AnyTenant, Read), api_route(get(query::parse).post(query::parse)))
        .route(
            query_api_rule("/api/v1/query_exemplars", Tenant, Read),
            api_route(get(meta::exemplars).post(meta::exemplars)),
        )
        .route(query_api_rule("/api/v1/series", Tenants, Read), api_route(get(meta::series).post(meta::series)))
        .route(
            query_api_rule("/api/v1/labels", Tenants, Read),
            api_route(get(meta::label_names).post(meta::label_names)),
        )
        .route(query_api_rule("/api/v1/label/{name}/values", Tenants, Read), api_route(get(meta::label_values)))
        .route(query_api_rule("/api/v1/metadata", Tenants, Read), api_route(get(meta::metadata)))
        .route(query_api_rule("/api/v1/status/buildinfo", AnyTenant, Read), api_route(get(status::build_info)))
        .route(query_api_rule("/api/v1/status/runtimeinfo", AnyTenant, Read), api_route(get(status::runtime_info)))
        .route(query_api_rule("/api/v1/status/flags", AnyTenant, Read), api_route(get(status::flags)))
        .route(query_api_rule("/api/v1/status/tsdb", Tenant, Read), api_route(get(status::tsdb)))
        // Remote read answers errors in plain text, as Prometheus does.
        .route(
            RouteRule::new("/api/v1/read", READ, Tenant, ErrorFormat::Text).audited(Query),
            api_route(post(read::remote_read)),
        )
        .route(query_api_rule("/api/v1/rules", Tenant, Read), api_route(get(rules::rules)))
        .route(query_api_rule("/api/v1/alerts", Tenant, Read), api_route(get(rules::alerts)))
}

/// Writes, admin, probes, reload and `/metrics`.
fn service_routes() -> GuardedRouter<Arc<AppState>> {
    let write = |path| RouteRule::new(path, WRITE, Scope::Tenant, ErrorFormat::Text);
    GuardedRouter::default()
        .route(write("/api/v1/write"), post(write::remote_write))
        .route(write("/api/v1/push"), post(write::remote_write))
        .route(write("/api/v1/receive"), post(write::remote_write))
        .route(
            RouteRule::new("/api/v1/admin/flush", ADMIN, Scope::AllTenants, ErrorFormat::PrometheusJson)
                .audited(Action::Admin),
            post(admin::flush),
        )
        .route(
            RouteRule::new("/api/v1/admin/tsdb/delete_series", ADMIN, Scope::Tenant, ErrorFormat::PrometheusJson)
                .audited(Action::Admin),
            post(admin::delete_series).put(admin::delete_series),
        )
        .route(
            RouteRule::new("/api/v1/admin/verify", ADMIN, Scope::AllTenants, ErrorFormat::PrometheusJson)
                .audited(Action::Admin),
            post(verify::verify),
        )
        .route(RouteRule::open("/-/healthy"), get(health::healthy))
        .route(RouteRule::open("/-/ready"), get(health::ready))
        .route(
            RouteRule::new("/-/reload", RELOAD, Scope::AnyTenant, ErrorFormat::Text).audited(Action::Reload),
            post(rules::reload).put(rules::reload),
        )
        .route(RouteRule::new("/metrics", METRICS, Scope::AllTenants, ErrorFormat::Text), get(health::metrics))
}

/// The rule of every route of the store, as [`router`] serves them.
pub fn route_rules() -> Vec<RouteRule> {
    let mut rules = query_api_routes().rules().to_vec();
    rules.extend_from_slice(service_routes().rules());
    rules.extend_from_slice(ha_tracker::routes().rules());
    rules
}

/// All routes of the store, behind its access control.
pub fn router(state: Arc<AppState>, lease: Arc<ha_tracker::HaLease>) -> Router {
    let logged = axum::middleware::from_fn_with_state(state.clone(), access::log_requests);
    let query_api = query_api_routes().map(|r| r.route_layer(logged).with_state(state.clone()));
    let body_limit = usize::try_from(state.limits.max_body_bytes).unwrap_or(usize::MAX);
    service_routes()
        .map(|r| r.with_state(state.clone()))
        .merge(query_api)
        .merge(ha_tracker::routes().map(|r| r.with_state(lease)))
        .guard(state.access.control.clone(), state.audit.clone())
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::auth::Access;

    #[test]
    fn every_route_has_one_rule_and_the_role_its_kind_needs() {
        let rules = route_rules();
        let paths: BTreeSet<&str> = rules.iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), rules.len(), "one rule per route");
        for rule in rules {
            let want = match rule.path {
                "/-/healthy" | "/-/ready" => Access::Open,
                "/api/v1/write" | "/api/v1/push" | "/api/v1/receive" | "/api/v1/ha_tracker/elect" => {
                    Access::Role { any_of: WRITE, scope: Scope::Tenant }
                }
                "/-/reload" => Access::Role { any_of: &[Role::Rules, Role::Admin], scope: Scope::AnyTenant },
                "/metrics" => Access::Role { any_of: &[Role::Metrics], scope: Scope::AllTenants },
                "/api/v1/admin/flush" | "/api/v1/admin/verify" => {
                    Access::Role { any_of: &[Role::Admin], scope: Scope::AllTenants }
                }
                "/api/v1/admin/tsdb/delete_series" => Access::Role { any_of: &[Role::Admin], scope: Scope::Tenant },
                "/api/v1/status/buildinfo"
                | "/api/v1/status/runtimeinfo"
                | "/api/v1/status/flags"
                | "/api/v1/format_query"
                | "/api/v1/parse_query" => Access::Role { any_of: READ, scope: Scope::AnyTenant },
                "/api/v1/query"
                | "/api/v1/query_range"
                | "/api/v1/series"
                | "/api/v1/labels"
                | "/api/v1/label/{name}/values"
                | "/api/v1/metadata" => Access::Role { any_of: READ, scope: Scope::Tenants },
                _ => Access::Role { any_of: READ, scope: Scope::Tenant },
            };
            assert_eq!(rule.access, want, "{}", rule.path);
            let audited = match rule.access {
                Access::Open => false,
                Access::Role { any_of, .. } => !any_of.contains(&Role::Write) && !any_of.contains(&Role::Metrics),
            };
            assert_eq!(rule.audit.is_some(), audited, "{}: reads, admin and reloads are audited", rule.path);
        }
    }
}
