//! The router's settings: the `[router]` section of `config/baton.toml`. Every
//! field has a default, so an empty section is a working configuration.

use std::collections::BTreeMap;

use baton_core::graph::Capability;
use baton_core::request::RoutingProfile;
use baton_core::status::CallKind;
use serde::{Deserialize, Serialize};

use crate::breaker::BreakerConfig;
use crate::error::RouterError;
use crate::limits::RateLimitConfig;
use crate::telemetry::TelemetryConfig;

/// Everything the router can be told: weights per profile, how prices and
/// latencies are compared, breakers, telemetry, per-role defaults and per-provider
/// rate limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// The score weights of each routing profile.
    pub weights: ProfileWeights,
    /// How the price and latency parts are normalised.
    pub scoring: ScoringConfig,
    /// The breaker of each model.
    pub model_breaker: BreakerConfig,
    /// The breaker of each provider (all its models together). Keys left out of
    /// a `[router.provider_breaker]` section take the model breaker's defaults.
    pub provider_breaker: BreakerConfig,
    /// How telemetry forgets.
    pub telemetry: TelemetryConfig,
    /// Defaults for the calls that are not tasks: assessment, planning, judging, synthesis.
    pub roles: Roles,
    /// Rate limits by provider name; a provider without an entry is not limited
    /// (except by the vendor's own `Retry-After`).
    pub rate_limits: BTreeMap<String, RateLimitConfig>,
}

/// Score weights for each routing profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileWeights {
    /// Balanced.
    pub default: Weights,
    /// Latency first.
    pub fast: Weights,
    /// Quality first.
    pub accurate: Weights,
    /// Price first.
    pub cheap: Weights,
}

/// How much each part of a score counts. Only the ratios matter: the weights are
/// divided by their sum, so a score is always between 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// How well the model's capabilities match the call's.
    pub capability: f64,
    /// The model's quality tier for the capability.
    pub quality: f64,
    /// How cheap the call is expected to be, relative to the cheapest candidate.
    pub price: f64,
    /// How fast the model has been, relative to the fastest candidate.
    pub latency: f64,
    /// The model's recent success rate.
    pub success: f64,
}

/// How prices and latencies become parts between 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// The share of the output allowance a call is expected to use, for the
    /// expected price (the worst case, used for budgets, assumes all of it).
    pub expected_output_fraction: f64,
    /// A candidate this many times dearer than the cheapest scores 0 on price;
    /// in between, the part falls with the logarithm of the ratio.
    pub price_span: f64,
    /// A candidate this many times slower than the fastest scores 0 on latency.
    pub latency_span: f64,
    /// The latency part of a model with no telemetry and no typical latency.
    pub unknown_latency_part: f64,
}

/// Routing defaults for each kind of call that is not a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Roles {
    /// Assessing how clear a request is.
    pub assess: RoleConfig,
    /// Planning the task graph.
    pub plan: RoleConfig,
    /// Judging an output against its criteria.
    pub judge: RoleConfig,
    /// Merging outputs into the answer.
    pub synthesis: RoleConfig,
}

/// The routing defaults of one kind of call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The capability asked for when the call names none (i.e. `general`).
    pub capability: Capability,
    /// A profile that replaces the run's profile for this kind of call.
    #[serde(default)]
    pub profile: Option<RoutingProfile>,
    /// A model (`provider/model` or a catalogue id) used when the call pins none.
    #[serde(default)]
    pub model: Option<String>,
    /// The output allowance callers should ask for.
    pub max_output_tokens: u32,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            weights: ProfileWeights::default(),
            scoring: ScoringConfig::default(),
            model_breaker: BreakerConfig::default(),
            provider_breaker: BreakerConfig::provider_default(),
            telemetry: TelemetryConfig::default(),
            roles: Roles::default(),
            rate_limits: BTreeMap::new(),
        }
    }
}

impl RouterConfig {
    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), RouterError> {
        self.weights.validate("router.weights")?;
        self.scoring.validate("router.scoring")?;
        self.model_breaker.validate("router.model_breaker")?;
        self.provider_breaker.validate("router.provider_breaker")?;
        self.telemetry.validate("router.telemetry")?;
        self.roles.validate("router.roles")?;
        for (provider, limits) in &self.rate_limits {
            limits.validate(&format!("router.rate_limits.{provider}"))?;
        }
        Ok(())
    }

    /// The weights of a profile.
    pub fn weights_for(&self, profile: RoutingProfile) -> Weights {
        match profile {
            RoutingProfile::Default => self.weights.default,
            RoutingProfile::Fast => self.weights.fast,
            RoutingProfile::Accurate => self.weights.accurate,
            RoutingProfile::Cheap => self.weights.cheap,
        }
    }

    /// The defaults of a kind of call; `None` for tasks, which name their own capability.
    pub fn role(&self, kind: CallKind) -> Option<&RoleConfig> {
        match kind {
            CallKind::Task => None,
            CallKind::Assess => Some(&self.roles.assess),
            CallKind::Plan => Some(&self.roles.plan),
            CallKind::Judge => Some(&self.roles.judge),
            CallKind::Synthesis => Some(&self.roles.synthesis),
        }
    }
}

impl Default for ProfileWeights {
    fn default() -> Self {
        Self {
            default: Weights {
                capability: 1.0,
                quality: 1.5,
                price: 1.0,
                latency: 0.5,
                success: 1.5,
            },
            fast: Weights {
                capability: 1.0,
                quality: 0.5,
                price: 0.5,
                latency: 2.5,
                success: 1.5,
            },
            accurate: Weights {
                capability: 1.0,
                quality: 3.0,
                price: 0.25,
                latency: 0.25,
                success: 1.5,
            },
            cheap: Weights {
                capability: 1.0,
                quality: 0.5,
                price: 3.0,
                latency: 0.25,
                success: 1.0,
            },
        }
    }
}

impl ProfileWeights {
    fn validate(&self, key: &str) -> Result<(), RouterError> {
        self.default.validate(&format!("{key}.default"))?;
        self.fast.validate(&format!("{key}.fast"))?;
        self.accurate.validate(&format!("{key}.accurate"))?;
        self.cheap.validate(&format!("{key}.cheap"))
    }
}

impl Weights {
    /// The weights by part name, in the order parts are reported.
    pub fn by_part(&self) -> [(&'static str, f64); 5] {
        [
            ("capability", self.capability),
            ("quality", self.quality),
            ("price", self.price),
            ("latency", self.latency),
            ("success", self.success),
        ]
    }

    /// The sum of the weights (positive once validated).
    pub fn total(&self) -> f64 {
        self.by_part().iter().map(|(_, w)| w).sum()
    }

    fn validate(&self, key: &str) -> Result<(), RouterError> {
        for (name, weight) in self.by_part() {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(RouterError::config(
                    format!("{key}.{name}"),
                    "must be a finite, non-negative number",
                ));
            }
        }
        if self.total() <= 0.0 {
            return Err(RouterError::config(
                key,
                "at least one weight must be positive",
            ));
        }
        Ok(())
    }
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            expected_output_fraction: 0.5,
            price_span: 100.0,
            latency_span: 10.0,
            unknown_latency_part: 0.5,
        }
    }
}

impl ScoringConfig {
    fn validate(&self, key: &str) -> Result<(), RouterError> {
        if !(self.expected_output_fraction > 0.0 && self.expected_output_fraction <= 1.0) {
            return Err(RouterError::config(
                format!("{key}.expected_output_fraction"),
                "must be in (0, 1]",
            ));
        }
        for (name, span) in [
            ("price_span", self.price_span),
            ("latency_span", self.latency_span),
        ] {
            if !(span.is_finite() && span > 1.0) {
                return Err(RouterError::config(
                    format!("{key}.{name}"),
                    "must be greater than 1",
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.unknown_latency_part) {
            return Err(RouterError::config(
                format!("{key}.unknown_latency_part"),
                "must be in [0, 1]",
            ));
        }
        Ok(())
    }
}

impl Default for Roles {
    fn default() -> Self {
        let role = |capability, max_output_tokens| RoleConfig {
            capability,
            profile: None,
            model: None,
            max_output_tokens,
        };
        Self {
            assess: role(Capability::Reasoning, 1024),
            plan: role(Capability::Reasoning, 4096),
            judge: role(Capability::Reasoning, 1024),
            synthesis: role(Capability::Writing, 8192),
        }
    }
}

impl Roles {
    fn validate(&self, key: &str) -> Result<(), RouterError> {
        let roles = [
            ("assess", &self.assess),
            ("plan", &self.plan),
            ("judge", &self.judge),
            ("synthesis", &self.synthesis),
        ];
        for (name, role) in roles {
            if role.max_output_tokens == 0 {
                return Err(RouterError::config(
                    format!("{key}.{name}.max_output_tokens"),
                    "must be positive",
                ));
            }
            if role.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
                return Err(RouterError::config(
                    format!("{key}.{name}.model"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
