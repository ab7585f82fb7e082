//! Helpers: a provider that is never called, and a small catalogue.

use std::sync::Arc;

use async_trait::async_trait;
use baton_core::graph::Capability;
use baton_core::request::RoutingProfile;
use baton_core::status::CallKind;
use baton_providers::provider::{
    Completion, CompletionRequest, DeltaSender, ErrorKind, Provider, ProviderError,
};
use baton_router::{Catalogue, ModelRef, RouteRequest, Router, RouterConfig};

/// A provider that only has a name; routing never calls it.
#[derive(Debug)]
pub(crate) struct NamedProvider(pub(crate) String);

#[async_trait]
impl Provider for NamedProvider {
    fn name(&self) -> &str {
        &self.0
    }

    async fn complete(
        &self,
        _request: &CompletionRequest,
        _deltas: Option<&DeltaSender>,
    ) -> Result<Completion, ProviderError> {
        Err(ProviderError::permanent(
            ErrorKind::Unsupported,
            "routing tests make no calls",
        ))
    }
}

pub(crate) fn providers(names: &[&str]) -> Vec<Arc<dyn Provider>> {
    names
        .iter()
        .map(|name| Arc::new(NamedProvider((*name).to_owned())) as Arc<dyn Provider>)
        .collect()
}

/// Four models: a cheap fast one, a smart dear one, a small-window coder, and one
/// from a provider the tests usually leave unconfigured.
pub(crate) const CATALOGUE: &str = r#"
[[models]]
provider = "alpha"
model = "cheap"
capabilities = { general = 2, writing = 3, reasoning = 2 }
context_window = 100000
max_output_tokens = 8000
price = { input_per_mtok = 0.1, output_per_mtok = 0.4 }

[[models]]
provider = "alpha"
model = "smart"
capabilities = { general = 5, writing = 5, reasoning = 5, coding = 4 }
context_window = 200000
max_output_tokens = 16000
price = { input_per_mtok = 5.0, output_per_mtok = 25.0 }

[[models]]
provider = "beta"
model = "coder"
capabilities = { coding = 5, general = 3 }
context_window = 8192
max_output_tokens = 4096
price = { input_per_mtok = 1.0, output_per_mtok = 2.0 }

[[models]]
provider = "gamma"
model = "elsewhere"
capabilities = { general = 5, writing = 5, reasoning = 5, coding = 5 }
context_window = 1000000
max_output_tokens = 32000
price = { input_per_mtok = 0.01, output_per_mtok = 0.01 }
"#;

pub(crate) fn router(config: RouterConfig, configured: &[&str]) -> Router {
    Router::new(
        config,
        Catalogue::from_toml(CATALOGUE).unwrap(),
        providers(configured),
    )
    .unwrap()
}

pub(crate) fn task(capability: Capability) -> RouteRequest<'static> {
    RouteRequest {
        kind: CallKind::Task,
        capability,
        pinned: None,
        input_tokens: 1000,
        max_output_tokens: 1000,
        budget_left_usd: None,
        profile: RoutingProfile::Default,
        exclude: &[],
    }
}

pub(crate) fn model(provider: &str, model: &str) -> ModelRef {
    ModelRef::new(provider, model)
}
