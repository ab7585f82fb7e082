//! Builds the parts from the configuration: the store, the providers, the router and
//! the engine.

use std::sync::Arc;

use anyhow::Context;
use baton_core::journal::Journal;
use baton_executor::engine::Engine;
use baton_journal::Store;
use baton_providers::provider::Provider;
use baton_router::{Catalogue, Router};

use crate::config::Config;

/// The assembled application.
#[derive(Debug)]
pub(crate) struct App {
    /// The store, for start-up messages.
    pub(crate) store: Arc<Store>,
    /// The engine.
    pub(crate) engine: Engine,
    /// The names of the configured providers.
    pub(crate) provider_names: Vec<String>,
}

/// Connects to the database and applies the migrations.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database)
        .await
        .context("could not open the database")?;
    store
        .migrate()
        .await
        .context("could not apply the database migrations")?;
    Ok(store)
}

/// Builds everything.
pub(crate) async fn build(config: &Config) -> anyhow::Result<App> {
    let store = Arc::new(open_store(config).await?);
    let providers = build_providers(config)?;
    let provider_names = providers.iter().map(|p| p.name().to_owned()).collect();
    let mut catalogue =
        Catalogue::from_toml(&config.models_toml()?).context("invalid model catalogue")?;
    catalogue.extend(compatible_models(config)?);
    let router = Router::new(config.router.clone(), catalogue, providers)
        .context("invalid router configuration")?;
    // What the router learned before the restart (telemetry, breakers) goes on.
    let saved = store
        .load_telemetry()
        .await
        .context("could not read the saved router state")?;
    let restored = router.restore(&saved);
    tracing::debug!(restored, "router state restored from the journal");
    let journal: Arc<dyn Journal> = store.clone();
    let engine = Engine::new(config.engine_config(), journal, Arc::new(router));
    Ok(App {
        store,
        engine,
        provider_names,
    })
}

/// The configured providers; the sim is on when no real provider is configured, or
/// when asked for, and never silently beside real ones.
fn build_providers(config: &Config) -> anyhow::Result<Vec<Arc<dyn Provider>>> {
    use baton_providers::anthropic::{AnthropicConfig, AnthropicProvider};
    use baton_providers::gemini::{GeminiConfig, GeminiProvider};
    use baton_providers::openai::{OpenAiConfig, OpenAiProvider, Preset};

    let section = &config.providers;
    let timeouts = section.timeouts.to_timeouts()?;
    let vendors = &section.vendors;
    let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
    if vendors.openai.is_configured() {
        let base_url = vendors
            .openai
            .base_url
            .as_deref()
            .unwrap_or(OpenAiConfig::DEFAULT_BASE_URL);
        let openai = OpenAiConfig::new(
            "openai",
            base_url,
            "OPENAI_BASE_URL",
            vendors.openai.api_key.clone(),
        )?
        .with_timeouts(timeouts);
        providers.push(Arc::new(OpenAiProvider::new(openai)?));
    }
    if vendors.anthropic.is_configured() {
        let base_url = vendors
            .anthropic
            .base_url
            .as_deref()
            .unwrap_or(AnthropicConfig::DEFAULT_BASE_URL);
        let anthropic = AnthropicConfig::new(
            base_url,
            "ANTHROPIC_BASE_URL",
            vendors.anthropic.api_key.clone(),
        )?
        .with_timeouts(timeouts);
        providers.push(Arc::new(AnthropicProvider::new(anthropic)?));
    }
    if vendors.gemini.is_configured() {
        let base_url = vendors
            .gemini
            .base_url
            .as_deref()
            .unwrap_or(GeminiConfig::DEFAULT_BASE_URL);
        let gemini =
            GeminiConfig::new(base_url, "GEMINI_BASE_URL", vendors.gemini.api_key.clone())?
                .with_timeouts(timeouts);
        providers.push(Arc::new(GeminiProvider::new(gemini)?));
    }
    for (name, entry) in &section.compatible {
        let preset_name = entry.preset.as_deref().unwrap_or(name);
        let preset = Preset::from_name(preset_name);
        if entry.preset.is_some() && preset.is_none() {
            anyhow::bail!(
                "providers.compatible.{name}.preset: `{preset_name}` is not a preset; use one of {:?}",
                Preset::ALL.iter().map(|p| p.name()).collect::<Vec<_>>()
            );
        }
        let Some(base_url) = entry
            .base_url
            .as_deref()
            .or(preset.map(Preset::default_base_url))
        else {
            anyhow::bail!(
                "providers.compatible.{name}.base_url is required (no preset named `{name}`)"
            );
        };
        let setting = format!("providers.compatible.{name}.base_url");
        let mut compatible =
            OpenAiConfig::new(name.clone(), base_url, &setting, entry.api_key.clone())?
                .with_timeouts(timeouts);
        if let Some(preset) = preset {
            compatible = compatible.with_profile(preset.profile());
        }
        providers.push(Arc::new(OpenAiProvider::new(compatible)?));
    }
    let sim = &section.sim;
    if sim.enabled.unwrap_or(providers.is_empty()) {
        providers.push(Arc::new(baton_providers::sim::SimProvider::new(
            sim.knobs.clone(),
        )));
    }
    Ok(providers)
}

/// Catalogue entries for the models of compatible servers (local models are free).
fn compatible_models(config: &Config) -> anyhow::Result<Catalogue> {
    use baton_core::graph::Capability;
    let models = config
        .providers
        .compatible
        .iter()
        .flat_map(|(name, entry)| {
            entry
                .models
                .iter()
                .map(move |model| baton_router::ModelSpec {
                    provider: name.clone(),
                    model: model.clone(),
                    capabilities: [
                        Capability::General,
                        Capability::Reasoning,
                        Capability::Writing,
                    ]
                    .into_iter()
                    .map(|c| (c, 2))
                    .collect(),
                    context_window: entry.context_window,
                    max_output_tokens: u32::try_from(entry.context_window / 2).unwrap_or(u32::MAX),
                    price: baton_core::usage::Price::default(),
                    typical_latency_ms: None,
                })
        })
        .collect();
    Ok(Catalogue::from_models(models)?)
}
