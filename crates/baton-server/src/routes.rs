//! The handlers, one module per resource, and the fallbacks that turn unknown routes
//! and wrong methods into problems.

pub(crate) mod docs;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod runs;
pub(crate) mod system;

use axum::http::{Method, Uri};
use baton_core::error::ErrorCode;

use crate::error::ApiError;
use crate::extract::truncate;

/// 404 `not_found` for a path that no route matches.
pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "no route matches `{method} {}`: the routes are listed at /docs and /openapi.json",
            truncate(uri.path(), 200)
        ),
    )
}

/// 405 `method_not_allowed` for a known path with another method; axum adds the
/// `Allow` header.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "`{method}` is not allowed on `{}`: the Allow header lists the methods it accepts",
            truncate(uri.path(), 200)
        ),
    )
}
