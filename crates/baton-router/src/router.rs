//! The router: picks a provider and model for each call from the catalogue, the
//! configured providers, live telemetry and the breakers, and explains its choice.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use baton_core::event::Candidate;
use baton_core::graph::Capability;
use baton_core::journal::TelemetryRecord;
use baton_core::request::RoutingProfile;
use baton_core::status::CallKind;
use baton_core::usage::Price;
use baton_providers::provider::Provider;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::time::Instant;
use utoipa::ToSchema;

use crate::breaker::{Admission, BreakerSnapshot, BreakerState, BreakerStatus, CircuitBreaker};
use crate::catalogue::{Catalogue, ModelRef, ModelSpec};
use crate::config::{RoleConfig, RouterConfig};
use crate::error::{RouteError, RouterError};
use crate::limits::{RateLimitConfig, RateLimiter};
use crate::outcome::{CallOutcome, Health};
use crate::score::{self, CallShape, ScoreInput};
use crate::telemetry::{ModelTelemetry, TelemetrySnapshot, TelemetryState};

/// Picks models for calls. `Send + Sync`: share it behind an `Arc`. Its state
/// (telemetry and breakers) sits behind one short-lived lock that is never held
/// across an `.await`.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    catalogue: Catalogue,
    providers: BTreeMap<String, Arc<dyn Provider>>,
    limiter: RateLimiter,
    state: Mutex<State>,
}

/// A call to route.
#[derive(Clone, Copy, Debug)]
pub struct RouteRequest<'a> {
    /// What the call is for; calls other than tasks take their role's defaults.
    pub kind: CallKind,
    /// The capability asked for; `general` on a non-task call means "the role's default".
    pub capability: Capability,
    /// A model to use instead of routing: `provider/model` or a bare model id.
    pub pinned: Option<&'a str>,
    /// The prompt's size in tokens (estimated).
    pub input_tokens: u64,
    /// The output allowance asked for.
    pub max_output_tokens: u32,
    /// What is left of the run's budget, in dollars, if it has one.
    pub budget_left_usd: Option<f64>,
    /// Which weights to score with.
    pub profile: RoutingProfile,
    /// Models that already failed for this task.
    pub exclude: &'a [ModelRef],
}

/// The router's choice, with every candidate it considered.
#[derive(Clone, Debug)]
pub struct Route {
    /// The model to call.
    pub chosen: RoutedModel,
    /// Its score (0..=1).
    pub score: f64,
    /// Every model of a configured provider: scored ones first, best first, then
    /// the skipped ones with their reasons, in catalogue order. Models whose
    /// provider is not configured are no candidates and are left out.
    pub candidates: Vec<Candidate>,
}

/// A model ready to be called.
#[derive(Clone, Debug)]
pub struct RoutedModel {
    /// The provider to call.
    pub provider: Arc<dyn Provider>,
    /// The provider's name.
    pub provider_name: String,
    /// The vendor's model id.
    pub model: String,
    /// Its prices.
    pub price: Price,
    /// Its context window, in tokens.
    pub context_window: u64,
    /// The longest completion it can produce; ask for no more than this.
    pub max_output_tokens: u32,
}

/// A model as `GET /models` shows it: its catalogue entry, whether its provider is
/// configured, its breakers, its provider's limits and its live telemetry.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ModelStatus {
    /// The catalogue entry: provider, model, capabilities, context window, prices.
    #[serde(flatten)]
    pub spec: ModelSpec,
    /// Whether its provider is configured (otherwise it is never chosen).
    pub configured: bool,
    /// The model's own breaker.
    pub breaker: BreakerStatus,
    /// Its provider's breaker.
    pub provider_breaker: BreakerStatus,
    /// Its provider's rate limits, when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
    /// Live figures.
    pub telemetry: TelemetrySnapshot,
}

/// What the journal keeps for one model (its telemetry and breaker) or for one
/// provider (its breaker; the row's model is empty), as the `state` JSON of a
/// [`TelemetryRecord`].
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct SavedState {
    #[serde(skip_serializing_if = "Option::is_none")]
    telemetry: Option<TelemetryState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker: Option<BreakerSnapshot>,
}

#[derive(Debug, Default)]
struct State {
    telemetry: BTreeMap<ModelRef, ModelTelemetry>,
    model_breakers: BTreeMap<ModelRef, CircuitBreaker>,
    provider_breakers: BTreeMap<String, CircuitBreaker>,
}

/// A constraint on top of the request's own: the candidate's window must exceed
/// that of a model whose context overflowed.
#[derive(Clone, Debug)]
struct LargerThan {
    model: ModelRef,
    context_window: u64,
}

impl<'a> RouteRequest<'a> {
    /// A request with no pin, no budget, the default profile and nothing excluded.
    pub fn new(
        kind: CallKind,
        capability: Capability,
        input_tokens: u64,
        max_output_tokens: u32,
    ) -> Self {
        Self {
            kind,
            capability,
            pinned: None,
            input_tokens,
            max_output_tokens,
            budget_left_usd: None,
            profile: RoutingProfile::Default,
            exclude: &[],
        }
    }
}

impl RoutedModel {
    /// The model's name as a [`ModelRef`].
    pub fn model_ref(&self) -> ModelRef {
        ModelRef::new(self.provider_name.clone(), self.model.clone())
    }
}

impl Router {
    /// A router over the catalogue. Only models whose provider is among `providers`
    /// (by [`Provider::name`]) can be chosen; the others are reported as skipped.
    pub fn new(
        config: RouterConfig,
        catalogue: Catalogue,
        providers: Vec<Arc<dyn Provider>>,
    ) -> Result<Router, RouterError> {
        config.validate()?;
        let mut by_name = BTreeMap::new();
        for provider in providers {
            let name = provider.name().to_owned();
            if by_name.insert(name.clone(), provider).is_some() {
                return Err(RouterError::DuplicateProvider(name));
            }
        }
        for name in by_name.keys() {
            if !catalogue.models().iter().any(|spec| &spec.provider == name) {
                tracing::warn!(provider = %name, "provider is configured but the catalogue lists none of its models");
            }
        }
        let limiter = RateLimiter::new(config.rate_limits.clone());
        Ok(Router {
            config,
            catalogue,
            providers: by_name,
            limiter,
            state: Mutex::default(),
        })
    }

    /// The settings the router was built with.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The rate limiter of the configured providers.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The routing defaults of a kind of call (`None` for tasks).
    pub fn role(&self, kind: CallKind) -> Option<&RoleConfig> {
        self.config.role(kind)
    }

    /// Whether a provider of that name is configured.
    pub fn is_configured(&self, provider: &str) -> bool {
        self.providers.contains_key(provider)
    }

    /// Picks the best model for a call, or says why none fits.
    pub fn route(&self, request: &RouteRequest<'_>) -> Result<Route, RouteError> {
        self.route_with(request, None)
    }

    /// Picks a model for a call whose prompt did not fit `overflowed`'s context
    /// window: only models with a larger window are considered.
    pub fn route_with_larger_window(
        &self,
        request: &RouteRequest<'_>,
        overflowed: &ModelRef,
    ) -> Result<Route, RouteError> {
        let context_window = self
            .catalogue
            .models()
            .iter()
            .find(|spec| spec.provider == overflowed.provider && spec.model == overflowed.model)
            .map_or(0, |spec| spec.context_window);
        let larger = LargerThan {
            model: overflowed.clone(),
            context_window,
        };
        self.route_with(request, Some(&larger))
    }

    /// Records the outcome of a call: telemetry, then the model's and the
    /// provider's breakers.
    pub fn record(&self, provider: &str, model: &str, outcome: &CallOutcome) {
        let now = Instant::now();
        let key = ModelRef::new(provider, model);
        let mut state = self.lock();
        let State {
            telemetry,
            model_breakers,
            provider_breakers,
        } = &mut *state;
        telemetry
            .entry(key.clone())
            .or_insert_with(|| ModelTelemetry::new(now))
            .record(&self.config.telemetry, now, outcome);
        let model_breaker = model_breakers
            .entry(key)
            .or_insert_with(|| CircuitBreaker::new(self.config.model_breaker));
        let provider_breaker = provider_breakers
            .entry(provider.to_owned())
            .or_insert_with(|| CircuitBreaker::new(self.config.provider_breaker));
        let model_was = model_breaker.state(now);
        let provider_was = provider_breaker.state(now);
        match Health::of(outcome) {
            Health::Healthy => {
                model_breaker.on_success(now);
                provider_breaker.on_success(now);
            }
            Health::Failing => {
                model_breaker.on_failure(now);
                provider_breaker.on_failure(now);
            }
            Health::ModelUnusable => {
                model_breaker.trip(now);
                provider_breaker.on_neutral(now);
            }
            Health::ProviderUnusable => {
                provider_breaker.trip(now);
                model_breaker.on_neutral(now);
            }
            Health::Neutral => {
                model_breaker.on_neutral(now);
                provider_breaker.on_neutral(now);
            }
        }
        log_transition(
            "model",
            provider,
            model,
            model_was,
            model_breaker.state(now),
        );
        log_transition(
            "provider",
            provider,
            model,
            provider_was,
            provider_breaker.state(now),
        );
    }

    /// Every model of the catalogue with its status, in catalogue order.
    pub fn models(&self) -> Vec<ModelStatus> {
        let now = Instant::now();
        let state = self.lock();
        let closed = |breaker: Option<&CircuitBreaker>| {
            breaker.map_or(
                BreakerStatus {
                    state: BreakerState::Closed,
                    consecutive_failures: 0,
                    probe_in_s: None,
                    openings: 0,
                },
                |b| b.status(now),
            )
        };
        self.catalogue
            .models()
            .iter()
            .map(|spec| {
                let key = spec.model_ref();
                ModelStatus {
                    spec: spec.clone(),
                    configured: self.is_configured(&spec.provider),
                    breaker: closed(state.model_breakers.get(&key)),
                    provider_breaker: closed(state.provider_breakers.get(&spec.provider)),
                    rate_limit: self.limiter.config(&spec.provider).copied(),
                    telemetry: state.telemetry.get(&key).map_or_else(
                        || TelemetrySnapshot {
                            success_rate: self.config.telemetry.prior_success_rate,
                            ..TelemetrySnapshot::default()
                        },
                        |t| t.snapshot(&self.config.telemetry, now),
                    ),
                }
            })
            .collect()
    }

    /// The learned state of a model and of its provider, as journal rows: what to
    /// save with the outcome of a call to it. Empty when neither was ever called.
    pub fn saved_state_of(&self, provider: &str, model: &str) -> Vec<TelemetryRecord> {
        let now = Instant::now();
        let taken_at = OffsetDateTime::now_utc();
        let state = self.lock();
        let key = ModelRef::new(provider, model);
        let mut records = Vec::with_capacity(2);
        if let Some(record) = self.model_record(&state, &key, now, taken_at) {
            records.push(record);
        }
        if let Some(breaker) = state.provider_breakers.get(provider) {
            records.push(provider_record(provider, breaker, now, taken_at));
        }
        records
    }

    /// The learned state of every model and provider that was called (or
    /// restored), as journal rows.
    pub fn saved_state(&self) -> Vec<TelemetryRecord> {
        let now = Instant::now();
        let taken_at = OffsetDateTime::now_utc();
        let state = self.lock();
        let mut keys: Vec<&ModelRef> = state
            .telemetry
            .keys()
            .chain(state.model_breakers.keys())
            .collect();
        keys.sort();
        keys.dedup();
        let mut records: Vec<TelemetryRecord> = keys
            .into_iter()
            .filter_map(|key| self.model_record(&state, key, now, taken_at))
            .collect();
        records.extend(
            state
                .provider_breakers
                .iter()
                .map(|(provider, breaker)| provider_record(provider, breaker, now, taken_at)),
        );
        records
    }

    /// Restores rows saved by [`Router::saved_state_of`] and [`Router::saved_state`]
    /// (at start, before any call), counting the time since each was taken as
    /// passed: telemetry decays, open breakers get closer to their probe. A restored
    /// row replaces what the router holds for its model or provider. Rows that
    /// cannot be read, or name a model the catalogue no longer lists, are skipped.
    /// Returns how many rows were restored.
    pub fn restore(&self, records: &[TelemetryRecord]) -> usize {
        let now = Instant::now();
        let now_utc = OffsetDateTime::now_utc();
        let mut state = self.lock();
        let mut restored = 0;
        for record in records {
            let saved: SavedState = match serde_json::from_value(record.state.clone()) {
                Ok(saved) => saved,
                Err(err) => {
                    tracing::warn!(provider = %record.provider, model = %record.model, error = %err, "skipping saved router state that cannot be read");
                    continue;
                }
            };
            // A row from a clock ahead of ours counts as just taken.
            let elapsed = if record.updated_at >= now_utc {
                std::time::Duration::ZERO
            } else {
                (now_utc - record.updated_at).unsigned_abs()
            };
            if record.model.is_empty() {
                if let Some(breaker) = &saved.breaker {
                    state.provider_breakers.insert(
                        record.provider.clone(),
                        CircuitBreaker::restore(
                            self.config.provider_breaker,
                            breaker,
                            now,
                            elapsed,
                        ),
                    );
                }
                restored += 1;
                continue;
            }
            let key = ModelRef::new(record.provider.clone(), record.model.clone());
            let listed = self
                .catalogue
                .models()
                .iter()
                .any(|spec| spec.provider == key.provider && spec.model == key.model);
            if !listed {
                tracing::debug!(model = %key, "skipping saved state of a model the catalogue no longer lists");
                continue;
            }
            if let Some(telemetry) = &saved.telemetry {
                state.telemetry.insert(
                    key.clone(),
                    ModelTelemetry::restore(telemetry, &self.config.telemetry, now, elapsed),
                );
            }
            if let Some(breaker) = &saved.breaker {
                state.model_breakers.insert(
                    key,
                    CircuitBreaker::restore(self.config.model_breaker, breaker, now, elapsed),
                );
            }
            restored += 1;
        }
        restored
    }

    /// Whether a call to this model may go now; when its breaker (or its
    /// provider's) is due a probe, this call takes it. The executor asks before
    /// retrying a model, so a model whose breaker opened meanwhile is left.
    pub fn try_admit(&self, provider: &str, model: &str) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        let key = ModelRef::new(provider, model);
        let admitted = |breaker: Option<&CircuitBreaker>| {
            breaker.is_none_or(|b| !matches!(b.admission(now), Admission::Rejected { .. }))
        };
        if !admitted(state.provider_breakers.get(provider))
            || !admitted(state.model_breakers.get(&key))
        {
            return false;
        }
        if let Some(breaker) = state.provider_breakers.get_mut(provider) {
            breaker.try_acquire(now);
        }
        if let Some(breaker) = state.model_breakers.get_mut(&key) {
            breaker.try_acquire(now);
        }
        true
    }

    /// How many times breakers opened, by provider: its models' and its own
    /// (lifetime, kept across restarts).
    pub fn breaker_openings(&self) -> BTreeMap<String, u64> {
        let state = self.lock();
        let mut openings: BTreeMap<String, u64> = BTreeMap::new();
        for (key, breaker) in &state.model_breakers {
            *openings.entry(key.provider.clone()).or_default() += breaker.openings();
        }
        for (provider, breaker) in &state.provider_breakers {
            *openings.entry(provider.clone()).or_default() += breaker.openings();
        }
        openings
    }

    fn model_record(
        &self,
        state: &State,
        key: &ModelRef,
        now: Instant,
        taken_at: OffsetDateTime,
    ) -> Option<TelemetryRecord> {
        let telemetry = state
            .telemetry
            .get(key)
            .map(|t| t.state(&self.config.telemetry, now));
        let breaker = state.model_breakers.get(key).map(|b| b.snapshot(now));
        if telemetry.is_none() && breaker.is_none() {
            return None;
        }
        Some(TelemetryRecord {
            provider: key.provider.clone(),
            model: key.model.clone(),
            state: saved_json(&SavedState { telemetry, breaker }),
            updated_at: taken_at,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves figures that are at worst a call
        // out of date, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Finds a model by `provider/model` or bare id; configured providers win
    /// over unconfigured ones for a bare id shared by several.
    fn resolve(&self, name: &str) -> Option<usize> {
        let models = self.catalogue.models();
        if let Some((provider, model)) = name.split_once('/')
            && let Some(idx) = models
                .iter()
                .position(|m| m.provider == provider && m.model == model)
        {
            return Some(idx);
        }
        models
            .iter()
            .position(|m| m.model == name && self.is_configured(&m.provider))
            .or_else(|| models.iter().position(|m| m.model == name))
    }

    fn route_with(
        &self,
        request: &RouteRequest<'_>,
        larger: Option<&LargerThan>,
    ) -> Result<Route, RouteError> {
        let role = self.config.role(request.kind);
        let capability = match role {
            Some(role) if request.capability == Capability::General => role.capability,
            _ => request.capability,
        };
        let profile = role
            .and_then(|role| role.profile)
            .unwrap_or(request.profile);
        let pinned_name = request
            .pinned
            .or_else(|| role.and_then(|role| role.model.as_deref()));
        let pinned = match pinned_name {
            Some(name) => match self.resolve(name) {
                Some(idx) if self.is_configured(&self.catalogue.models()[idx].provider) => {
                    Some(idx)
                }
                _ => return Err(RouteError::UnknownModel(name.to_owned())),
            },
            None => None,
        };
        let shape = CallShape {
            capability,
            input_tokens: request.input_tokens,
            max_output_tokens: request.max_output_tokens,
        };

        let now = Instant::now();
        let mut state = self.lock();
        let models = self.catalogue.models();
        let skips: Vec<Option<Skip>> = models
            .iter()
            .enumerate()
            .map(|(idx, spec)| {
                if !self.is_configured(&spec.provider) {
                    return Some(Skip::Unconfigured);
                }
                match pinned {
                    Some(pinned_idx) if pinned_idx != idx => Some(Skip::Because(format!(
                        "not pinned (the call pins {})",
                        models[pinned_idx].model_ref()
                    ))),
                    _ => self
                        .skip_reason(&state, spec, request, larger, now)
                        .map(Skip::Because),
                }
            })
            .collect();
        let eligible: Vec<usize> = (0..models.len())
            .filter(|idx| skips[*idx].is_none())
            .collect();
        let inputs: Vec<ScoreInput<'_>> = eligible
            .iter()
            .map(|idx| {
                let spec = &models[*idx];
                let telemetry = state.telemetry.get(&spec.model_ref());
                ScoreInput {
                    spec,
                    success_rate: telemetry.map_or(self.config.telemetry.prior_success_rate, |t| {
                        t.success_rate(&self.config.telemetry, now)
                    }),
                    latency_ms: telemetry
                        .and_then(ModelTelemetry::latency_p50_ms)
                        .or(spec.typical_latency_ms.map(|ms| ms as f64)),
                }
            })
            .collect();
        let weights = self.config.weights_for(profile);
        let scored = score::score_all(&inputs, &shape, &self.config.scoring, &weights);

        // The best score wins; ties go to the model listed first.
        let mut best: Option<(usize, f64)> = None;
        for (pos, result) in scored.iter().enumerate() {
            if best.is_none_or(|(_, score)| result.total > score) {
                best = Some((pos, result.total));
            }
        }
        let Some((best_pos, best_score)) = best else {
            return Err(RouteError::NoModel {
                reasons: no_model_reasons(models, &skips),
            });
        };
        let chosen_spec = &models[eligible[best_pos]];
        let Some(provider) = self.providers.get(&chosen_spec.provider) else {
            return Err(RouteError::UnknownModel(
                chosen_spec.model_ref().to_string(),
            ));
        };
        self.take_probes(&mut state, chosen_spec, now);
        drop(state);

        let mut order: Vec<usize> = (0..scored.len()).collect();
        order.sort_by(|a, b| scored[*b].total.total_cmp(&scored[*a].total).then(a.cmp(b)));
        let mut candidates: Vec<Candidate> = order
            .iter()
            .map(|pos| {
                let spec = &models[eligible[*pos]];
                Candidate {
                    provider: spec.provider.clone(),
                    model: spec.model.clone(),
                    score: Some(scored[*pos].total),
                    parts: Some(score::parts_of(&scored[*pos])),
                    skipped: None,
                }
            })
            .collect();
        candidates.extend(
            models
                .iter()
                .zip(&skips)
                .filter_map(|(spec, skip)| match skip {
                    Some(Skip::Because(reason)) => Some(Candidate {
                        provider: spec.provider.clone(),
                        model: spec.model.clone(),
                        score: None,
                        parts: None,
                        skipped: Some(reason.clone()),
                    }),
                    Some(Skip::Unconfigured) | None => None,
                }),
        );

        Ok(Route {
            chosen: RoutedModel {
                provider: Arc::clone(provider),
                provider_name: chosen_spec.provider.clone(),
                model: chosen_spec.model.clone(),
                price: chosen_spec.price,
                context_window: chosen_spec.context_window,
                max_output_tokens: chosen_spec.max_output_tokens,
            },
            score: best_score,
            candidates,
        })
    }

    /// Why a model cannot take the call, or `None` when it can. Hard constraints
    /// only: a model that fits them is scored.
    fn skip_reason(
        &self,
        state: &State,
        spec: &ModelSpec,
        request: &RouteRequest<'_>,
        larger: Option<&LargerThan>,
        now: Instant,
    ) -> Option<String> {
        if request
            .exclude
            .iter()
            .any(|m| m.provider == spec.provider && m.model == spec.model)
        {
            return Some("already failed for this task".to_owned());
        }
        if let Some(larger) = larger
            && spec.context_window <= larger.context_window
        {
            return Some(format!(
                "context window {} is not larger than {}'s {}",
                spec.context_window, larger.model, larger.context_window
            ));
        }
        let output = score::output_allowance(spec, request.max_output_tokens);
        let needed = request.input_tokens.saturating_add(u64::from(output));
        if spec.context_window < needed {
            return Some(format!(
                "context window {} < {needed} tokens needed",
                spec.context_window
            ));
        }
        let breakers = [
            ("provider", state.provider_breakers.get(&spec.provider)),
            ("model", state.model_breakers.get(&spec.model_ref())),
        ];
        for (scope, breaker) in breakers {
            if let Some(breaker) = breaker
                && let Admission::Rejected { until } = breaker.admission(now)
            {
                let seconds = until.saturating_duration_since(now).as_secs_f64().ceil();
                return Some(format!("{scope} circuit open until a probe in {seconds}s"));
            }
        }
        if let Some(budget) = request.budget_left_usd {
            let budget = budget.max(0.0);
            let worst =
                score::worst_case_cost(spec, request.input_tokens, request.max_output_tokens);
            if worst > budget {
                return Some(format!(
                    "worst-case cost {} > {} left",
                    score::format_usd(worst),
                    score::format_usd(budget)
                ));
            }
        }
        None
    }

    /// When the chosen model's (or provider's) breaker is due a probe, this call
    /// is the probe: nobody else gets through until it reports.
    fn take_probes(&self, state: &mut State, spec: &ModelSpec, now: Instant) {
        if let Some(breaker) = state.provider_breakers.get_mut(&spec.provider) {
            breaker.try_acquire(now);
        }
        if let Some(breaker) = state.model_breakers.get_mut(&spec.model_ref()) {
            breaker.try_acquire(now);
        }
    }
}

fn provider_record(
    provider: &str,
    breaker: &CircuitBreaker,
    now: Instant,
    taken_at: OffsetDateTime,
) -> TelemetryRecord {
    TelemetryRecord {
        provider: provider.to_owned(),
        model: String::new(),
        state: saved_json(&SavedState {
            telemetry: None,
            breaker: Some(breaker.snapshot(now)),
        }),
        updated_at: taken_at,
    }
}

fn saved_json(saved: &SavedState) -> serde_json::Value {
    // Plain numbers, strings and maps: serialising cannot fail. Non-finite floats
    // (which telemetry never holds) would become null, and restore as defaults.
    serde_json::to_value(saved).unwrap_or_default()
}

/// Why a model of the catalogue cannot take a call.
enum Skip {
    /// Its provider is not configured: it is no candidate at all, so a `decision`
    /// does not list it (`GET /models` shows it, with `configured: false`).
    Unconfigured,
    /// A hard constraint of this call rules it out; the `decision` lists it with
    /// this reason.
    Because(String),
}

fn no_model_reasons(models: &[ModelSpec], skips: &[Option<Skip>]) -> String {
    if models.is_empty() {
        return "the catalogue lists no models".to_owned();
    }
    models
        .iter()
        .zip(skips)
        .filter_map(|(spec, skip)| {
            let reason = match skip.as_ref()? {
                Skip::Unconfigured => "provider not configured",
                Skip::Because(reason) => reason,
            };
            Some(format!("{}: {reason}", spec.model_ref()))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn log_transition(scope: &str, provider: &str, model: &str, was: BreakerState, now: BreakerState) {
    if was == now {
        return;
    }
    match now {
        BreakerState::Open => {
            tracing::warn!(scope, provider, model, "circuit breaker opened");
        }
        BreakerState::Closed => {
            tracing::info!(scope, provider, model, "circuit breaker closed");
        }
        BreakerState::HalfOpen => {}
    }
}
