//! Per-provider limits: token buckets for requests and tokens per minute (with
//! optional per-hour and per-day tiers), an optional cap on calls in flight, and
//! the vendor's own rate-limit headers, which slow the buckets down.
//!
//! A call reserves its estimated tokens before it is made ([`RateLimiter::acquire`])
//! and corrects them by its real usage after ([`RateLimiter::settle`]). Buckets may
//! go into debt: a caller deducts at once and then waits until the debt is paid
//! back, so waiters are served in arrival order without polling. Time spent
//! waiting is counted per provider.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use utoipa::ToSchema;

use crate::error::RouterError;

/// One provider's limits; every field is optional and absent means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    /// Tokens (prompt plus completion) per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    /// Requests per hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_hour: Option<u64>,
    /// Tokens per hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_hour: Option<u64>,
    /// Requests per day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_day: Option<u64>,
    /// Tokens per day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
    /// Calls in flight at once, over all runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
}

/// What a vendor's response said about its limits (`Retry-After`,
/// `x-ratelimit-remaining-*`, `x-ratelimit-reset-*`, `anthropic-ratelimit-*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitHint {
    /// Wait this long before the next call.
    pub retry_after: Option<Duration>,
    /// Requests left in the vendor's current window.
    pub remaining_requests: Option<u64>,
    /// Tokens left in the vendor's current window.
    pub remaining_tokens: Option<u64>,
    /// When the vendor's request window resets.
    pub reset_requests: Option<Duration>,
    /// When the vendor's token window resets.
    pub reset_tokens: Option<Duration>,
}

impl From<&baton_providers::provider::VendorLimits> for RateLimitHint {
    /// What a successful answer's rate-limit headers said (no `Retry-After`).
    fn from(limits: &baton_providers::provider::VendorLimits) -> Self {
        RateLimitHint {
            retry_after: None,
            remaining_requests: limits.remaining_requests,
            remaining_tokens: limits.remaining_tokens,
            reset_requests: limits.reset_requests,
            reset_tokens: limits.reset_tokens,
        }
    }
}

/// Leave to make one call: held for the length of the call, then given back to
/// [`RateLimiter::settle`] with the real usage. Dropping it without settling
/// frees its concurrency slot and keeps the estimated tokens as spent.
#[derive(Debug)]
pub struct Permit {
    provider: String,
    reserved_tokens: u64,
    waited: Duration,
    /// The provider's concurrency slot, when it has a cap; released on drop.
    _slot: Option<OwnedSemaphorePermit>,
}

/// One provider's waiting figures, for `GET /stats` and `GET /models`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RateLimitStats {
    /// The provider.
    pub provider: String,
    /// Permits given.
    pub acquired: u64,
    /// Permits that had to wait.
    pub waits: u64,
    /// Total time spent waiting, in milliseconds.
    pub waited_ms: u64,
    /// Seconds until the vendor's `Retry-After` (or reset) lets calls go again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_for_s: Option<f64>,
}

/// Token buckets and concurrency caps for every provider. `Send + Sync`; share it
/// behind an `Arc` (the router holds one).
#[derive(Debug)]
pub struct RateLimiter {
    configs: BTreeMap<String, RateLimitConfig>,
    /// One semaphore per provider with `max_concurrent`: `acquire` takes a slot,
    /// the permit's drop gives it back. Never closed.
    slots: BTreeMap<String, Arc<Semaphore>>,
    providers: Mutex<BTreeMap<String, ProviderLimits>>,
}

#[derive(Debug)]
struct ProviderLimits {
    requests: Vec<Bucket>,
    tokens: Vec<Bucket>,
    blocked_until: Option<Instant>,
    acquired: u64,
    waits: u64,
    waited: Duration,
}

/// A bucket that refills continuously at `capacity` per `period` and may be in debt.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    level: f64,
    updated_at: Instant,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

impl RateLimitConfig {
    pub(crate) fn validate(&self, key: &str) -> Result<(), RouterError> {
        let limits = [
            ("requests_per_minute", self.requests_per_minute),
            ("tokens_per_minute", self.tokens_per_minute),
            ("requests_per_hour", self.requests_per_hour),
            ("tokens_per_hour", self.tokens_per_hour),
            ("requests_per_day", self.requests_per_day),
            ("tokens_per_day", self.tokens_per_day),
            ("max_concurrent", self.max_concurrent.map(u64::from)),
        ];
        for (name, limit) in limits {
            if limit == Some(0) {
                return Err(RouterError::config(
                    format!("{key}.{name}"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
        }
        Ok(())
    }

    fn request_tiers(&self) -> [(Option<u64>, Duration); 3] {
        [
            (self.requests_per_minute, MINUTE),
            (self.requests_per_hour, HOUR),
            (self.requests_per_day, DAY),
        ]
    }

    fn token_tiers(&self) -> [(Option<u64>, Duration); 3] {
        [
            (self.tokens_per_minute, MINUTE),
            (self.tokens_per_hour, HOUR),
            (self.tokens_per_day, DAY),
        ]
    }
}

impl RateLimitHint {
    /// A hint carrying only `Retry-After`.
    pub fn retry_after(delay: Duration) -> Self {
        Self {
            retry_after: Some(delay),
            ..Self::default()
        }
    }
}

impl Permit {
    /// The provider the permit is for.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The tokens reserved for the call.
    pub fn reserved_tokens(&self) -> u64 {
        self.reserved_tokens
    }

    /// How long getting the permit took.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl Bucket {
    fn new(capacity: u64, period: Duration, now: Instant) -> Self {
        let capacity = capacity as f64;
        Self {
            capacity,
            per_second: capacity / period.as_secs_f64(),
            level: capacity,
            updated_at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated_at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_second).min(self.capacity);
        self.updated_at = self.updated_at.max(now);
    }

    /// Deducts `cost` (at most one full bucket) and returns the deducted amount and
    /// how long until the bucket is out of debt.
    fn take(&mut self, cost: f64, now: Instant) -> (f64, Duration) {
        self.refill(now);
        let cost = cost.min(self.capacity);
        self.level -= cost;
        (cost, self.debt_wait())
    }

    fn debt_wait(&self) -> Duration {
        if self.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.level / self.per_second)
        }
    }

    fn give_back(&mut self, amount: f64, now: Instant) {
        self.refill(now);
        self.level = (self.level + amount).min(self.capacity);
    }
}

impl ProviderLimits {
    fn new(config: Option<&RateLimitConfig>, now: Instant) -> Self {
        let buckets = |tiers: [(Option<u64>, Duration); 3]| -> Vec<Bucket> {
            tiers
                .into_iter()
                .filter_map(|(limit, period)| limit.map(|limit| Bucket::new(limit, period, now)))
                .collect()
        };
        Self {
            requests: config
                .map(|c| buckets(c.request_tiers()))
                .unwrap_or_default(),
            tokens: config.map(|c| buckets(c.token_tiers())).unwrap_or_default(),
            blocked_until: None,
            acquired: 0,
            waits: 0,
            waited: Duration::ZERO,
        }
    }
}

/// Amounts deducted by an `acquire` in progress; given back if the caller stops
/// waiting (its future is dropped) before the permit is handed out.
struct Reservation<'a> {
    limiter: &'a RateLimiter,
    provider: &'a str,
    requests: Vec<f64>,
    tokens: Vec<f64>,
    committed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let now = Instant::now();
        self.limiter.with_provider(self.provider, now, |limits| {
            for (bucket, amount) in limits.requests.iter_mut().zip(&self.requests) {
                bucket.give_back(*amount, now);
            }
            for (bucket, amount) in limits.tokens.iter_mut().zip(&self.tokens) {
                bucket.give_back(*amount, now);
            }
        });
    }
}

impl RateLimiter {
    /// A limiter with these limits by provider name.
    pub fn new(configs: BTreeMap<String, RateLimitConfig>) -> Self {
        let slots = configs
            .iter()
            .filter_map(|(provider, config)| {
                let cap = config.max_concurrent?;
                Some((provider.clone(), Arc::new(Semaphore::new(cap as usize))))
            })
            .collect();
        Self {
            configs,
            slots,
            providers: Mutex::new(BTreeMap::new()),
        }
    }

    /// The configured limits of a provider.
    pub fn config(&self, provider: &str) -> Option<&RateLimitConfig> {
        self.configs.get(provider)
    }

    /// Waits until a call to `provider` with about `estimated_tokens` tokens (prompt
    /// plus expected completion) fits every limit, reserves it, and returns the
    /// permit. Cancel-safe: dropping the future gives the reservation back.
    pub async fn acquire(&self, provider: &str, estimated_tokens: u64) -> Permit {
        let started = Instant::now();
        // Whether the call had to wait at all: only then is it counted as a wait
        // (the few microseconds of taking the locks are not).
        let mut held_back = false;
        let slot = match self.slots.get(provider) {
            Some(semaphore) => match Arc::clone(semaphore).try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    held_back = true;
                    Arc::clone(semaphore).acquire_owned().await.ok()
                }
            },
            None => None,
        };
        let now = Instant::now();
        let (requests, tokens, mut ready_at) = self.with_provider(provider, now, |limits| {
            let mut ready_at = now;
            let mut requests = Vec::with_capacity(limits.requests.len());
            for bucket in &mut limits.requests {
                let (taken, wait) = bucket.take(1.0, now);
                requests.push(taken);
                ready_at = ready_at.max(now + wait);
            }
            let mut tokens = Vec::with_capacity(limits.tokens.len());
            for bucket in &mut limits.tokens {
                let (taken, wait) = bucket.take(estimated_tokens as f64, now);
                tokens.push(taken);
                ready_at = ready_at.max(now + wait);
            }
            (requests, tokens, ready_at)
        });
        let mut reservation = Reservation {
            limiter: self,
            provider,
            requests,
            tokens,
            committed: false,
        };
        // The vendor may ask us to hold off while we wait, so its block is
        // checked again after every sleep.
        loop {
            if let Some(blocked_until) = self.blocked_until(provider) {
                ready_at = ready_at.max(blocked_until);
            }
            if Instant::now() >= ready_at {
                break;
            }
            held_back = true;
            tokio::time::sleep_until(ready_at).await;
        }
        reservation.committed = true;
        let waited = if held_back {
            Instant::now().saturating_duration_since(started)
        } else {
            Duration::ZERO
        };
        self.with_provider(provider, Instant::now(), |limits| {
            limits.acquired += 1;
            if held_back {
                limits.waits += 1;
                limits.waited += waited;
            }
        });
        Permit {
            provider: provider.to_owned(),
            reserved_tokens: estimated_tokens,
            waited,
            _slot: slot,
        }
    }

    /// Corrects a call's reservation by the tokens it really used, and frees its
    /// concurrency slot.
    pub fn settle(&self, permit: Permit, actual_tokens: u64) {
        let now = Instant::now();
        let correction = actual_tokens as f64 - permit.reserved_tokens as f64;
        self.with_provider(&permit.provider, now, |limits| {
            for bucket in &mut limits.tokens {
                bucket.refill(now);
                bucket.level = (bucket.level - correction).min(bucket.capacity);
            }
        });
    }

    /// Applies what the vendor said about its limits: `Retry-After` (or an
    /// exhausted window with its reset) holds every call back until then, and a
    /// reported remaining count lowers the matching per-minute bucket to it.
    pub fn slow_down(&self, provider: &str, hint: &RateLimitHint) {
        let now = Instant::now();
        self.with_provider(provider, now, |limits| {
            let mut block = |delay: Duration| {
                let until = now + delay;
                limits.blocked_until = Some(limits.blocked_until.map_or(until, |b| b.max(until)));
            };
            if let Some(delay) = hint.retry_after {
                block(delay);
            }
            if hint.remaining_requests == Some(0)
                && let Some(reset) = hint.reset_requests
            {
                block(reset);
            }
            if hint.remaining_tokens == Some(0)
                && let Some(reset) = hint.reset_tokens
            {
                block(reset);
            }
            let lower = |buckets: &mut [Bucket], remaining: Option<u64>| {
                if let (Some(bucket), Some(remaining)) = (buckets.first_mut(), remaining) {
                    bucket.refill(now);
                    bucket.level = bucket.level.min(remaining as f64);
                }
            };
            lower(&mut limits.requests, hint.remaining_requests);
            lower(&mut limits.tokens, hint.remaining_tokens);
        });
    }

    /// Waiting figures for every provider that has been used, by name.
    pub fn stats(&self) -> Vec<RateLimitStats> {
        let now = Instant::now();
        let providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        providers
            .iter()
            .map(|(provider, limits)| RateLimitStats {
                provider: provider.clone(),
                acquired: limits.acquired,
                waits: limits.waits,
                waited_ms: u64::try_from(limits.waited.as_millis()).unwrap_or(u64::MAX),
                blocked_for_s: limits
                    .blocked_until
                    .filter(|until| *until > now)
                    .map(|until| until.saturating_duration_since(now).as_secs_f64()),
            })
            .collect()
    }

    /// Total time spent waiting for permits, over all providers.
    pub fn total_waited(&self) -> Duration {
        let providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        providers.values().map(|limits| limits.waited).sum()
    }

    fn blocked_until(&self, provider: &str) -> Option<Instant> {
        let providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        providers
            .get(provider)
            .and_then(|limits| limits.blocked_until)
    }

    fn with_provider<T>(
        &self,
        provider: &str,
        now: Instant,
        f: impl FnOnce(&mut ProviderLimits) -> T,
    ) -> T {
        let mut providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let limits = providers
            .entry(provider.to_owned())
            .or_insert_with(|| ProviderLimits::new(self.configs.get(provider), now));
        f(limits)
    }
}

#[cfg(test)]
mod tests;
