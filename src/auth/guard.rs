//! The one access layer in front of every route of the store and the relay.
//!
//! Routes are added through [`GuardedRouter`], which takes each route's
//! [`RouteRule`] together with its handler, so no route exists without a
//! rule; [`GuardedRouter::rules`] lists them (tests compare it with the
//! endpoints they call). For each request the layer finds the rule of the
//! matched route, authenticates (when the [`Coverage`](super::Coverage) asks for a
//! credential), authorizes ([`authorize`](super::authorize)), and hands the handler the
//! [`Principal`](super::Principal) (`Arc<Principal>`) and the tenants ([`RequestTenants`]) as
//! request extensions. A single-tenant request that named no tenant gets
//! `X-Scope-OrgID` set to the tenant chosen, so handlers that read the
//! header act on it.
//!
//! Refusals are written in the route's format with a message that says
//! what is missing (401 with `WWW-Authenticate`, 403, or 400 for tenant
//! headers), and every refusal is audited (`AuthFailure`, `Denied`); calls
//! of routes with an audit action are audited with their outcome.
//!
//! The authenticator is swapped whole on a config reload
//! ([`AccessControl::replace`]); requests in flight finish with the one
//! they started with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use parking_lot::RwLock;

use super::authenticator::{Authenticator, ClientCertificate};
use super::policy::{authorize, Access, AccessError, ErrorFormat, RouteRule, Scope};
use super::principal::UNAUTHENTICATED;
use crate::api::access::LoggedQuery;
use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
use crate::tenant::{TenantId, TENANT_HEADER};

/// The challenge sent with every 401.
pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"rampart\", Basic realm=\"rampart\"";

/// The tenants a request acts on, as authorized (sorted; one on
/// single-tenant routes; empty on routes that touch no tenant's data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTenants(pub Vec<TenantId>);

/// Called with the route path and the refusal, e.g. to count refusals.
pub type RefusalHook = Box<dyn Fn(&str, &AccessError) + Send + Sync>;

/// The current authenticator of a server, and how it reads tenants.
pub struct AccessControl {
    authenticator: RwLock<Arc<Authenticator>>,
    tenant_headers: &'static [&'static str],
    on_refusal: Option<RefusalHook>,
}

impl AccessControl {
    /// Access control with `authenticator`, reading tenants from
    /// `tenant_headers` (in order).
    pub fn new(authenticator: Authenticator, tenant_headers: &'static [&'static str]) -> Self {
        Self { authenticator: RwLock::new(Arc::new(authenticator)), tenant_headers, on_refusal: None }
    }

    /// The same, calling `hook` on every refusal.
    pub fn with_refusal_hook(mut self, hook: RefusalHook) -> Self {
        self.on_refusal = Some(hook);
        self
    }

    /// The authenticator in force.
    pub fn current(&self) -> Arc<Authenticator> {
        self.authenticator.read().clone()
    }

    /// Puts `authenticator` in force for the requests that follow.
    pub fn replace(&self, authenticator: Authenticator) {
        let coverage = authenticator.coverage();
        *self.authenticator.write() = Arc::new(authenticator);
        tracing::info!(?coverage, "access control: credentials reloaded");
    }
}

/// Routes, each added together with its access rule.
pub struct GuardedRouter<S = ()> {
    router: Router<S>,
    rules: Vec<RouteRule>,
}

impl<S: Clone + Send + Sync + 'static> Default for GuardedRouter<S> {
    fn default() -> Self {
        Self { router: Router::new(), rules: Vec::new() }
    }
}

impl<S: Clone + Send + Sync + 'static> GuardedRouter<S> {
    /// Adds `handler` at `rule.path` under `rule`.
    pub fn route(mut self, rule: RouteRule, handler: MethodRouter<S>) -> Self {
        self.router = self.router.route(rule.path, handler);
        self.rules.push(rule);
        self
    }

    /// Adds the routes of `other`.
    pub fn merge(mut self, other: GuardedRouter<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.rules.extend(other.rules);
        self
    }

    /// Every route's rule.
    pub fn rules(&self) -> &[RouteRule] {
        &self.rules
    }

    /// Changes the router (layers, state) and keeps the rules.
    pub fn map<S2>(self, f: impl FnOnce(Router<S>) -> Router<S2>) -> GuardedRouter<S2> {
        GuardedRouter { router: f(self.router), rules: self.rules }
    }
}

impl GuardedRouter<()> {
    /// The router with the access layer in front of every route.
    pub fn guard(self, control: Arc<AccessControl>, audit: AuditLog) -> Router {
        let rules = self.rules.iter().map(|r| (r.path, *r)).collect();
        let state = Arc::new(GuardState { control, rules, audit });
        self.router.layer(middleware::from_fn_with_state(state, guard))
    }
}

struct GuardState {
    control: Arc<AccessControl>,
    rules: HashMap<&'static str, RouteRule>,
    audit: AuditLog,
}

/// What the audit log records of a request besides its principal.
struct Facts {
    /// Method and path.
    route: String,
    /// The matched route pattern.
    path: String,
    /// The tenant header as sent.
    named_tenants: String,
    /// The client's address.
    source: Option<SocketAddr>,
}

impl GuardState {
    /// Records and answers a refusal.
    fn refuse(&self, principal: &str, e: &AccessError, facts: Facts, format: ErrorFormat) -> Response {
        tracing::info!(route = %facts.route, principal, status = e.status(), error = %e, "access refused");
        self.audit.record(AuditEvent {
            principal: principal.to_owned(),
            tenant: facts.named_tenants,
            action: Action::AuthFailure,
            target: facts.route,
            outcome: Outcome::Denied,
            source: facts.source,
        });
        if let Some(hook) = &self.control.on_refusal {
            hook(&facts.path, e);
        }
        refusal(e, format)
    }
}

async fn guard(State(state): State<Arc<GuardState>>, mut req: Request, next: Next) -> Response {
    let Some(path) = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()) else {
        return next.run(req).await;
    };
    let Some(rule) = state.rules.get(path.as_str()).copied() else {
        tracing::error!(%path, "access control: route without an access rule refused; add it through GuardedRouter");
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("route {path} has no access rule; refusing\n"))
            .into_response();
    };
    let Access::Role { any_of, scope } = rule.access else { return next.run(req).await };
    // CORS preflights carry no credentials and are answered without a handler.
    if req.method() == Method::OPTIONS {
        return next.run(req).await;
    }
    let facts = Facts {
        route: format!("{} {}", req.method(), req.uri().path()),
        path,
        named_tenants: state
            .control
            .tenant_headers
            .iter()
            .find_map(|h| req.headers().get(*h))
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
        source: req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
    };
    let authenticator = state.control.current();
    let requires_credentials = authenticator.requires_credentials(any_of);
    let principal = if requires_credentials {
        let certificate = req.extensions().get::<ClientCertificate>();
        // A cache hit is a hash and a lookup; a miss runs Argon2 (tens of ms).
        match tokio::task::block_in_place(|| authenticator.authenticate(req.headers(), certificate)) {
            Ok(p) => p,
            Err(e) => return state.refuse(UNAUTHENTICATED, &e.into(), facts, rule.format),
        }
    } else {
        authenticator.anonymous()
    };
    // Where no credential is needed, only a tenant-scoped route has
    // something to decide: which tenants the request names (an open relay
    // writes as tenant `default` only, yet shows its `/metrics`).
    let unguarded_global = !requires_credentials && matches!(scope, Scope::AnyTenant | Scope::AllTenants);
    let decided = if unguarded_global {
        Ok(Vec::new())
    } else {
        authorize(&principal, any_of, scope, &facts.route, req.headers(), state.control.tenant_headers)
    };
    let tenants = match decided {
        Ok(t) => t,
        Err(e) => return state.refuse(&principal.name, &e, facts, rule.format),
    };
    if tenants.len() == 1 && !req.headers().contains_key(TENANT_HEADER) {
        if let Ok(v) = HeaderValue::from_str(tenants[0].as_str()) {
            req.headers_mut().insert(TENANT_HEADER, v);
        }
    }
    let tenant = tenants.iter().map(TenantId::as_str).collect::<Vec<_>>().join("|");
    req.extensions_mut().insert(principal.clone());
    req.extensions_mut().insert(RequestTenants(tenants));
    let response = next.run(req).await;
    if let Some(action) = rule.audit {
        let target = match response.extensions().get::<LoggedQuery>() {
            Some(q) if !q.0.is_empty() => format!("{} {}", facts.route, q.0),
            _ => facts.route,
        };
        let outcome = if response.status().is_success() { Outcome::Success } else { Outcome::Error };
        let source = facts.source;
        state.audit.record(AuditEvent { principal: principal.name.clone(), tenant, action, target, outcome, source });
    }
    response
}

/// A refusal in the route's format.
fn refusal(e: &AccessError, format: ErrorFormat) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = match format {
        ErrorFormat::Text => (status, format!("{e}\n")).into_response(),
        ErrorFormat::PrometheusJson => {
            let body = serde_json::json!({"status": "error", "errorType": e.error_type(), "error": e.to_string()});
            (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
    };
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(WWW_AUTHENTICATE));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use axum::routing::get;
    use axum::Extension;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::auth::authenticator::Secrets;
    use crate::auth::principal::{Principal, Role, Tenants};
    use crate::auth::Coverage;
    use crate::credentials::{hash_secret, SecretHash};

    /// A router with one read route that answers with the principal and
    /// tenants it was handed, behind a guard with one credential of tenant a.
    fn app() -> Router {
        let tokens = [SecretHash::parse(&hash_secret(b"reader")).expect("hash")];
        let a = crate::tenant::from_header(Some("a")).expect("id");
        let authenticator = Authenticator::new(
            [(
                Principal::new("reader-a", Tenants::one(a), [Role::Read]),
                Secrets { bearer_token_hashes: &tokens, ..Default::default() },
            )],
            Coverage::Everything,
            Principal::anonymous(Tenants::All),
        );
        let control = Arc::new(AccessControl::new(authenticator, &[TENANT_HEADER]));
        let handler = |Extension(p): Extension<Arc<Principal>>, Extension(t): Extension<RequestTenants>| async move {
            format!("{} {:?}", p.name, t.0.iter().map(TenantId::as_str).collect::<Vec<_>>())
        };
        GuardedRouter::default()
            .route(RouteRule::new("/read", &[Role::Read], Scope::Tenants, ErrorFormat::PrometheusJson), get(handler))
            .route(RouteRule::open("/open"), get(|| async { "open" }))
            .guard(control, AuditLog::disabled())
    }

    async fn send(app: &Router, path: &str, headers: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let mut req = HttpRequest::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = app.clone().oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
        let challenge = r.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().expect("ascii").to_owned());
        let status = r.status().as_u16();
        let body = r.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned(), challenge)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_layer_refuses_in_the_route_format_and_hands_over_principal_and_tenants() {
        let app = app();
        let (status, body, challenge) = send(&app, "/read", &[]).await;
        assert_eq!((status, challenge.as_deref()), (401, Some(WWW_AUTHENTICATE)));
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!((v["status"].as_str(), v["errorType"].as_str()), (Some("error"), Some("unauthorized")), "{v}");
        assert!(v["error"].as_str().expect("text").starts_with("missing credentials"), "{v}");

        let bearer = [("authorization", "Bearer reader")];
        assert_eq!(send(&app, "/read", &bearer).await.1, "reader-a [\"a\"]", "the only tenant is the default");
        let (status, body, _) = send(&app, "/read", &[bearer[0], ("X-Scope-OrgID", "a|b")]).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("\"errorType\":\"forbidden\""), "{body}");
        let (status, body, _) = send(&app, "/read", &[("authorization", "Bearer nope")]).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("invalid credentials"), "{body}");
        assert_eq!(send(&app, "/open", &[]).await.1, "open");
        assert_eq!(send(&app, "/nowhere", &bearer).await.0, 404, "unrouted paths reach the fallback");
    }
}

#[cfg(test)]
mod open_tests {
    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    use super::*;
    use crate::auth::principal::{default_tenant, Principal, Role, Tenants};
    use crate::auth::{Coverage, Scope};

    #[tokio::test(flavor = "multi_thread")]
    async fn an_open_server_shows_its_global_routes_and_writes_only_as_its_anonymous_tenant() {
        let authenticator =
            Authenticator::new([], Coverage::Nothing, Principal::anonymous(Tenants::one(default_tenant())));
        let control = Arc::new(AccessControl::new(authenticator, &[TENANT_HEADER]));
        let app = GuardedRouter::default()
            .route(
                RouteRule::new("/metrics", &[Role::Metrics], Scope::AllTenants, ErrorFormat::Text),
                get(|| async { "m" }),
            )
            .route(RouteRule::new("/write", &[Role::Write], Scope::Tenant, ErrorFormat::Text), post(|| async { "w" }))
            .guard(control, AuditLog::disabled());
        let status = |req: HttpRequest<Body>| {
            let app = app.clone();
            async move { app.oneshot(req).await.expect("response").status().as_u16() }
        };
        assert_eq!(status(HttpRequest::get("/metrics").body(Body::empty()).expect("req")).await, 200);
        assert_eq!(status(HttpRequest::post("/write").body(Body::empty()).expect("req")).await, 200);
        let other = HttpRequest::post("/write").header(TENANT_HEADER, "other").body(Body::empty()).expect("req");
        assert_eq!(status(other).await, 403);
    }
}
