//! `POST /api/v1/admin/verify`: runs the store's tamper verification now
//! (`crate::verify`) and answers its report, `{"status": "success", "data":
//! {"ok": ..., "sections": [{"name", "checked", "problems"}], ...}}`. Found
//! problems are data, not an HTTP error: the call itself succeeded.

use std::sync::Arc;

use axum::extract::State;
use axum::Extension;

use super::response::{ApiError, ApiSuccess};
use super::AppState;
use crate::auth::Principal;

/// Verifies the store in the principal's name.
pub async fn verify(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Arc<Principal>>,
) -> Result<ApiSuccess, ApiError> {
    let verifier = state.verifier.get().cloned().ok_or_else(ApiError::not_ready)?;
    let report = tokio::task::spawn_blocking(move || verifier.run(&principal.name))
        .await
        .map_err(|e| ApiError::internal(format!("verification task: {e}")))?;
    ApiSuccess::json(&report)
}
