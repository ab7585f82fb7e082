//! The model catalogue: every model Baton knows, with its provider, capabilities
//! (each with a quality tier), context window, output limit and prices.

use std::collections::BTreeMap;
use std::fmt;

use baton_core::graph::Capability;
use baton_core::usage::Price;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::RouterError;

/// The lowest quality tier a capability can have.
pub const MIN_TIER: u8 = 1;
/// The highest quality tier a capability can have.
pub const MAX_TIER: u8 = 5;

/// The models Baton knows, in catalogue order (which breaks ties between equal scores).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalogue {
    models: Vec<ModelSpec>,
}

/// One model of the catalogue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelSpec {
    /// The provider's configured name (`openai`, `anthropic`, `gemini`, `sim`, …).
    pub provider: String,
    /// The vendor's model id.
    pub model: String,
    /// What the model is good at, each with a quality tier from 1 (weak) to 5 (best).
    #[schema(value_type = BTreeMap<String, u8>)]
    pub capabilities: BTreeMap<Capability, u8>,
    /// The most tokens (prompt plus completion) the model accepts.
    pub context_window: u64,
    /// The longest completion the model can produce.
    pub max_output_tokens: u32,
    /// Prices in dollars per million tokens.
    pub price: Price,
    /// A typical call's latency in milliseconds, used for scoring until the model
    /// has live telemetry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical_latency_ms: Option<u64>,
}

/// A model named by its provider and id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub struct ModelRef {
    /// The provider's configured name.
    pub provider: String,
    /// The vendor's model id.
    pub model: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    models: Vec<ModelEntry>,
}

/// A `[[models]]` table as written: a [`ModelSpec`] that refuses unknown keys, so
/// a typo in the file is an error. (`ModelSpec` itself accepts them, because its
/// schema is also part of `GET /models`, where it is extended.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    provider: String,
    model: String,
    capabilities: BTreeMap<Capability, u8>,
    context_window: u64,
    max_output_tokens: u32,
    price: PriceEntry,
    #[serde(default)]
    typical_latency_ms: Option<u64>,
}

/// A price table as written, refusing unknown keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceEntry {
    input_per_mtok: f64,
    output_per_mtok: f64,
    #[serde(default)]
    cached_input_per_mtok: Option<f64>,
}

impl From<ModelEntry> for ModelSpec {
    fn from(entry: ModelEntry) -> Self {
        let ModelEntry {
            provider,
            model,
            capabilities,
            context_window,
            max_output_tokens,
            price,
            typical_latency_ms,
        } = entry;
        ModelSpec {
            provider,
            model,
            capabilities,
            context_window,
            max_output_tokens,
            price: Price {
                input_per_mtok: price.input_per_mtok,
                output_per_mtok: price.output_per_mtok,
                cached_input_per_mtok: price.cached_input_per_mtok,
            },
            typical_latency_ms,
        }
    }
}

impl Catalogue {
    /// Parses and checks a catalogue in the shape of `config/models.toml`: a list of
    /// `[[models]]` tables.
    pub fn from_toml(text: &str) -> Result<Catalogue, RouterError> {
        let file: CatalogueFile = toml::from_str(text).map_err(RouterError::CatalogueSyntax)?;
        Catalogue::from_models(file.models.into_iter().map(ModelSpec::from).collect())
    }

    /// A catalogue of these models, checked.
    pub fn from_models(models: Vec<ModelSpec>) -> Result<Catalogue, RouterError> {
        for (idx, spec) in models.iter().enumerate() {
            spec.check(idx)?;
            if let Some(first) = models[..idx]
                .iter()
                .position(|m| m.provider == spec.provider && m.model == spec.model)
            {
                return Err(RouterError::catalogue(
                    format!("models[{idx}]"),
                    format!(
                        "{}/{} is already listed as models[{first}]",
                        spec.provider, spec.model
                    ),
                ));
            }
        }
        Ok(Catalogue { models })
    }

    /// Adds the models of another catalogue (e.g. a deployment's own file); an
    /// entry for a model already listed replaces it in place.
    pub fn extend(&mut self, other: Catalogue) {
        for spec in other.models {
            match self
                .models
                .iter_mut()
                .find(|m| m.provider == spec.provider && m.model == spec.model)
            {
                Some(existing) => *existing = spec,
                None => self.models.push(spec),
            }
        }
    }

    /// Every model, in catalogue order.
    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }
}

impl ModelSpec {
    /// The model's name as a [`ModelRef`].
    pub fn model_ref(&self) -> ModelRef {
        ModelRef {
            provider: self.provider.clone(),
            model: self.model.clone(),
        }
    }

    /// The quality tier for a capability: its own tier when listed, else one
    /// below the `general` tier, else the lowest tier.
    pub fn tier_for(&self, capability: Capability) -> u8 {
        if let Some(tier) = self.capabilities.get(&capability) {
            return *tier;
        }
        match self.capabilities.get(&Capability::General) {
            Some(general) => general.saturating_sub(1).max(MIN_TIER),
            None => MIN_TIER,
        }
    }

    fn check(&self, idx: usize) -> Result<(), RouterError> {
        let key = |field: &str| format!("models[{idx}].{field}");
        if self.provider.trim().is_empty() || self.provider.contains('/') {
            return Err(RouterError::catalogue(
                key("provider"),
                "must be a non-empty name without `/`",
            ));
        }
        if self.model.trim().is_empty() {
            return Err(RouterError::catalogue(key("model"), "must not be empty"));
        }
        if self.capabilities.is_empty() {
            return Err(RouterError::catalogue(
                key("capabilities"),
                "list at least one capability",
            ));
        }
        for (capability, tier) in &self.capabilities {
            if !(MIN_TIER..=MAX_TIER).contains(tier) {
                return Err(RouterError::catalogue(
                    key(&format!("capabilities.{}", capability.as_str())),
                    format!("tier {tier} is outside {MIN_TIER}..={MAX_TIER}"),
                ));
            }
        }
        if self.context_window == 0 {
            return Err(RouterError::catalogue(
                key("context_window"),
                "must be positive",
            ));
        }
        if self.max_output_tokens == 0 {
            return Err(RouterError::catalogue(
                key("max_output_tokens"),
                "must be positive",
            ));
        }
        let prices = [
            ("price.input_per_mtok", Some(self.price.input_per_mtok)),
            ("price.output_per_mtok", Some(self.price.output_per_mtok)),
            (
                "price.cached_input_per_mtok",
                self.price.cached_input_per_mtok,
            ),
        ];
        for (field, value) in prices {
            if let Some(value) = value
                && !(value.is_finite() && value >= 0.0)
            {
                return Err(RouterError::catalogue(
                    key(field),
                    "must be a finite, non-negative price",
                ));
            }
        }
        Ok(())
    }
}

impl ModelRef {
    /// A model reference.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

#[cfg(test)]
mod tests;
