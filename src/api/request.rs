//! What every query API handler reads from a request: the tenants (as the
//! access layer authorized them from `X-Scope-OrgID`, see `crate::auth`)
//! and the parameters, merged from a form-encoded body and the URL the way
//! Go's `Request.Form` merges them (body values first), so that GET and
//! form POST are the same call.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Method};

use super::response::ApiError;
use crate::auth::RequestTenants;
use crate::tenant::{self, TenantId};

/// Request parameters in Go's `Request.Form` order.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parameters of a URL query string and, when present, a form body.
    pub fn new(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(body) = form_body {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Self(pairs)
    }

    /// The first value of `name`; `None` when absent or empty, as Go's
    /// `FormValue` makes the two the same.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// Every value of `name` (e.g. repeated `match[]`), empty ones included.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// The tenants and parameters of a query API call.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// Whose data the call reads: the only tenant on single-tenant routes
    /// (the access layer refuses more), the first of [`Self::tenants`].
    pub tenant: TenantId,
    /// Every tenant the call reads (`a|b`), sorted; never empty.
    pub tenants: Vec<TenantId>,
    /// The call's parameters.
    pub params: Params,
}

/// The tenant a request names; an invalid header is `bad_data`.
pub fn tenant_of(headers: &HeaderMap) -> Result<TenantId, ApiError> {
    tenant::from_header_bytes(headers.get(tenant::TENANT_HEADER).map(|v| v.as_bytes()))
        .map_err(|e| ApiError::bad_data(e.to_string()))
}

impl<S: Send + Sync> FromRequest<S> for ApiRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // Routes that touch no tenant's data get no tenants from the
        // access layer; for them the header is read as before.
        let tenants = match req.extensions().get::<RequestTenants>() {
            Some(RequestTenants(t)) if !t.is_empty() => t.clone(),
            _ => vec![tenant_of(req.headers())?],
        };
        let tenant = tenants[0].clone();
        let query = req.uri().query().map(str::to_owned);
        // Go's ParseForm reads the body only for these methods and this type.
        let is_form = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH)
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        let body = if is_form {
            Some(
                Bytes::from_request(req, state)
                    .await
                    .map_err(|e| ApiError::bad_data(format!("error parsing form values: {}", e.body_text())))?,
            )
        } else {
            None
        };
        Ok(Self { tenant, tenants, params: Params::new(query.as_deref(), body.as_deref()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_values_come_first_and_empty_is_absent() {
        let p = Params::new(Some("query=url&match[]=a&time="), Some(b"query=body&match[]=b%7Bx%3D%221%22%7D"));
        assert_eq!(p.get("query"), Some("body"));
        assert_eq!(p.all("match[]"), vec![r#"b{x="1"}"#, "a"]);
        assert_eq!(p.get("time"), None);
        assert_eq!(p.all("time"), vec![""]);
        assert_eq!(p.get("missing"), None);
        let plus = Params::new(Some("query=1%2B1+%2B+a"), None);
        assert_eq!(plus.get("query"), Some("1+1 + a"));
    }
}
