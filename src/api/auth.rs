//! The store's check of write credentials: when `auth.write_bearer_token_hashes`
//! is set, every remote write (and HA lease request) must carry one of those
//! bearer tokens, else 401 with `WWW-Authenticate`; nothing is stored. With
//! no hashes configured the store accepts writes as before (the loopback
//! quick start). Reads are not covered here.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::config::auth::AuthConfig;
use crate::credentials::{SecretHash, VerifiedCache};

/// Paths that need write credentials.
const WRITE_PATHS: [&str; 4] = ["/api/v1/write", "/api/v1/push", "/api/v1/receive", "/api/v1/ha_tracker/elect"];

/// Verified write tokens.
struct WriteAuth {
    hashes: Vec<SecretHash>,
    cache: VerifiedCache<bool>,
}

/// `router` with the write-credential check in front, or unchanged when no
/// credentials are configured.
pub fn require_write_credentials(router: Router, config: &AuthConfig) -> Router {
    if config.write_bearer_token_hashes.is_empty() {
        return router;
    }
    let auth =
        Arc::new(WriteAuth { hashes: config.write_bearer_token_hashes.clone(), cache: VerifiedCache::default() });
    router.layer(middleware::from_fn_with_state(auth, check))
}

async fn check(State(auth): State<Arc<WriteAuth>>, request: Request, next: Next) -> Response {
    if !WRITE_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")))
        .map(|(_, token)| token.trim().to_owned());
    let allowed = token.is_some_and(|t| {
        tokio::task::block_in_place(|| {
            auth.cache.get_or_verify(t.as_bytes(), || auth.hashes.iter().any(|h| h.verify(t.as_bytes())))
        })
    });
    if allowed {
        return next.run(request).await;
    }
    let mut r = (
        StatusCode::UNAUTHORIZED,
        "missing or invalid credentials: this store only accepts writes with a bearer token listed in \
         auth.write_bearer_token_hashes (send through rampart relay, or set the relay's store.bearer_token_file)\n",
    )
        .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"rampart\""));
    r
}
