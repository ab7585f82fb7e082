//! Routing: the model registry, live telemetry, scoring, circuit breakers and rate
//! limits. The router picks a provider and model for every call Baton makes and
//! explains each choice with the scored candidates.
//!
//! Invariant: hard constraints (provider configured, context window, breaker,
//! budget, already failed) are never traded against score; a candidate that
//! breaks one is skipped with its reason, and only the rest are scored.
//! Everything time-based uses `tokio::time::Instant`, so tests run on paused time.
//!
//! Modules in reading order: the catalogue lists models; the config sets weights
//! and limits; outcomes are what calls report; telemetry and breakers learn from
//! them; scoring and the router decide; the limiter paces calls per provider.

mod breaker;
mod catalogue;
mod config;
mod error;
mod limits;
mod outcome;
mod router;
mod score;
mod telemetry;

pub use breaker::{Admission, BreakerConfig, BreakerState, BreakerStatus, CircuitBreaker};
pub use catalogue::{Catalogue, MAX_TIER, MIN_TIER, ModelRef, ModelSpec};
pub use config::{ProfileWeights, RoleConfig, Roles, RouterConfig, ScoringConfig, Weights};
pub use error::{RouteError, RouterError};
pub use limits::{Permit, RateLimitConfig, RateLimitHint, RateLimitStats, RateLimiter};
pub use outcome::{CallOutcome, error_kind_name};
pub use router::{ModelStatus, Route, RouteRequest, RoutedModel, Router};
pub use telemetry::{LastError, TelemetryConfig, TelemetrySnapshot, TelemetryState};
