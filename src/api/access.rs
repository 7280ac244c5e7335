//! One log line and one metric observation per query API request: method,
//! path, tenant, the PromQL (or selector) text, duration and status.
//!
//! Handlers do not log themselves; the ones that take a query attach its
//! text to their response ([`with_query`]) and this middleware reads it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::response::{ApiError, ApiSuccess};
use super::AppState;
use crate::tenant::{DEFAULT_TENANT, TENANT_HEADER};

/// The query text of a request, carried from handler to access log.
#[derive(Clone, Debug)]
pub struct LoggedQuery(pub String);

/// Renders a handler's result with its query text attached for the log.
pub fn with_query(text: String, result: Result<ApiSuccess, ApiError>) -> Response {
    let mut response = match result {
        Ok(ok) => ok.into_response(),
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(LoggedQuery(text));
    response
}

/// Middleware: logs and counts each request of the routes it wraps.
pub async fn log_requests(
    State(state): State<Arc<AppState>>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let handler = matched.map_or_else(|| path.clone(), |m| m.as_str().to_owned());
    let tenant = req
        .headers()
        .get(TENANT_HEADER)
        .map_or_else(|| DEFAULT_TENANT.to_owned(), |v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let response = next.run(req).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    state.query_metrics.observe(&handler, status, elapsed);
    let query = response.extensions().get::<LoggedQuery>().map_or("", |q| q.0.as_str());
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, %path, %tenant, query, duration_ms, status, "api request failed");
    } else {
        tracing::info!(%method, %path, %tenant, query, duration_ms, status, "api request");
    }
    response
}
