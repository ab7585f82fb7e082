//! The OpenAPI document and the interactive docs page (Swagger UI, embedded in the
//! binary by utoipa-swagger-ui's `vendored` feature, so it works with no internet).

use std::sync::{Arc, OnceLock};

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use baton_core::error::ErrorCode;
use utoipa_swagger_ui::Config;

use crate::error::ApiError;
use crate::extract::truncate;
use crate::openapi::openapi;

/// Where the docs page is served; `/docs` redirects here so the page's relative links work.
const DOCS_PATH: &str = "/docs/";

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "get_openapi",
    tag = "system",
    responses((status = 200, description = "The OpenAPI 3.1 document, generated from the code.", content_type = "application/json", body = Object))
)]
pub(crate) async fn get_openapi() -> Result<Response, ApiError> {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let document = match DOCUMENT.get() {
        Some(document) => document,
        None => {
            let rendered = openapi()
                .to_pretty_json()
                .map_err(|error| ApiError::from_source(ErrorCode::Internal, error))?;
            DOCUMENT.get_or_init(|| rendered)
        }
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document.as_str(),
    )
        .into_response())
}

/// `GET /docs`: redirects to `/docs/`.
pub(crate) async fn redirect_to_docs() -> Redirect {
    Redirect::to(DOCS_PATH)
}

/// `GET /docs/`: the docs page.
pub(crate) async fn get_docs_index() -> Result<Response, ApiError> {
    docs_file("")
}

/// `GET /docs/{*file}`: the page's scripts and styles.
pub(crate) async fn get_docs_file(Path(file): Path<String>) -> Result<Response, ApiError> {
    docs_file(&file)
}

fn docs_file(file: &str) -> Result<Response, ApiError> {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        // `none` turns off Swagger UI's online validator, which would call swagger.io.
        Arc::new(Config::new(["/openapi.json"]).validator_url("none"))
    });
    match utoipa_swagger_ui::serve(file, Arc::clone(config)) {
        Ok(Some(found)) => {
            let content_type = HeaderValue::from_str(&found.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            Ok((
                [(header::CONTENT_TYPE, content_type)],
                found.bytes.into_owned(),
            )
                .into_response())
        }
        Ok(None) => Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "the docs page has no file `{}`: open {DOCS_PATH}",
                truncate(file, 200)
            ),
        )),
        Err(error) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("the docs page could not be served: {error}"),
        )),
    }
}
