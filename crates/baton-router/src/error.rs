//! The router's errors: a call that cannot be routed, and a catalogue or
//! configuration that cannot be loaded.

use baton_core::error::{ErrorCode, HasCode};

/// Why no model was chosen for a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Every candidate was skipped; `reasons` says why, model by model.
    #[error("no model can serve this call: {reasons}")]
    NoModel {
        /// Each candidate and the reason it was skipped, joined by `; `.
        reasons: String,
    },
    /// The pinned model is not in the catalogue, or its provider is not configured.
    #[error("unknown model `{0}`: it is not in the catalogue or its provider is not configured")]
    UnknownModel(String),
}

impl HasCode for RouteError {
    fn code(&self) -> ErrorCode {
        ErrorCode::NoModelAvailable
    }
}

/// Why the catalogue or the router's configuration was refused. Each variant
/// names the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The catalogue text is not valid TOML or not of the expected shape.
    #[error("the model catalogue cannot be read")]
    CatalogueSyntax(#[source] toml::de::Error),
    /// A catalogue entry has a bad value.
    #[error("invalid model catalogue entry `{key}`: {reason}")]
    InvalidCatalogue {
        /// The key, e.g. `models[3].context_window`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A router setting has a bad value.
    #[error("invalid router setting `{key}`: {reason}")]
    InvalidConfig {
        /// The key under `[router]`, e.g. `router.breaker.error_rate`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two configured providers have the same name.
    #[error("provider `{0}` is configured twice")]
    DuplicateProvider(String),
}

impl RouterError {
    pub(crate) fn catalogue(key: impl Into<String>, reason: impl Into<String>) -> Self {
        RouterError::InvalidCatalogue {
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        RouterError::InvalidConfig {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
