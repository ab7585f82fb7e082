//! Circuit breakers: closed (calls flow), open (calls are refused) and half-open
//! (one probe call at a time is let through; its success closes the breaker).
//!
//! A breaker opens after `failure_threshold` consecutive failures, or when the
//! failure rate over the last `window_s` exceeds `error_rate` once at least
//! `min_calls` calls fell in the window, so one failure in a quiet minute does not
//! open it. Each failed probe doubles the open interval, up to `max_open_s`.
//!
//! The window counts calls per slot, a sixtieth of it each ([`WINDOW_SLOTS`]), not
//! call by call: a breaker's memory and its saved state stay the same size however
//! busy its model is (a window of single calls held up to 10,000 of them, and saving
//! it wrote them all). A call leaves the window between `window_s` less one slot
//! and `window_s` after it was made.
//!
//! A breaker's state can be saved ([`CircuitBreaker::snapshot`], with times as
//! ages in seconds, since `Instant`s do not survive a restart) and restored, with
//! the time the process was down counted as having passed.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use utoipa::ToSchema;

use crate::error::RouterError;

/// When a breaker opens and how long it stays open.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// The failure rate over the window (0..1) above which the breaker opens.
    pub error_rate: f64,
    /// The fewest calls in the window for the rate to count.
    pub min_calls: u32,
    /// The length of the window, in seconds.
    pub window_s: f64,
    /// Seconds the breaker stays open before the first probe.
    pub open_s: f64,
    /// The longest the open interval grows to after failed probes, in seconds.
    pub max_open_s: f64,
}

/// A breaker's state, as shown on `GET /models`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls are refused until the next probe is due.
    Open,
    /// One probe call may go (or is in flight); its outcome decides.
    HalfOpen,
}

/// A breaker's state with its figures, for `GET /models`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BreakerStatus {
    /// Closed, open or half-open.
    pub state: BreakerState,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Seconds until a probe may go, while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_in_s: Option<f64>,
    /// How many times the breaker opened from closed (lifetime, kept across restarts).
    #[serde(default)]
    pub openings: u64,
}

/// A breaker's state as saved in the journal: times are ages, in seconds, at the
/// moment it was taken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct BreakerSnapshot {
    /// Closed, open or half-open (a probe was in flight).
    pub(crate) state: BreakerState,
    /// While open: seconds until a probe could go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) open_for_s: Option<f64>,
    /// Failures since the last success.
    pub(crate) consecutive_failures: u32,
    /// The current open interval, in seconds (it doubles after failed probes).
    pub(crate) open_interval_s: f64,
    /// Recent calls, per slot of the window, oldest first: how long ago the slot
    /// began, in seconds, its calls and its failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) window_slots: Vec<(f64, u64, u64)>,
    /// Recent calls one by one, oldest first (how long ago, in seconds, and whether
    /// it failed), as states saved before the window was counted per slot hold
    /// them: read, no longer written.
    #[serde(skip_serializing)]
    pub(crate) window: Vec<(f64, bool)>,
    /// Openings so far.
    pub(crate) openings: u64,
}

/// Whether a call may go through a breaker now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The breaker is closed.
    Allowed,
    /// The breaker is open but a probe is due: this call may be the probe.
    Probe,
    /// The breaker is open (or its probe is in flight) until this instant.
    Rejected {
        /// When a probe may go next.
        until: Instant,
    },
}

/// One circuit breaker. Not thread-safe by itself: the router keeps its breakers
/// under its state lock.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Inner,
    consecutive_failures: u32,
    /// Recent calls within `window_s`, counted per slot.
    window: Window,
    open_interval: Duration,
    /// Times a closed breaker opened.
    openings: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inner {
    Closed,
    /// Refusing calls until `until`; from then on a probe may go.
    Open {
        until: Instant,
    },
    /// A probe went at `probe_since`; if it never reports, another may go one
    /// open interval later.
    HalfOpen {
        probe_since: Instant,
    },
}

/// The slots a breaker's window is cut into.
pub(crate) const WINDOW_SLOTS: u32 = 60;

/// Recent calls, counted per slot of the window, with their totals.
#[derive(Clone, Debug, Default)]
struct Window {
    /// Oldest first; a slot begins with its first call.
    slots: VecDeque<Slot>,
    calls: u64,
    failures: u64,
}

/// The calls of one slot of a window.
#[derive(Clone, Copy, Debug)]
struct Slot {
    start: Instant,
    calls: u64,
    failures: u64,
}

impl Window {
    /// Counts `calls` (`failures` of them failed) made at `at`, no earlier than the
    /// calls counted so far, in the slot of `length / WINDOW_SLOTS` they fall in.
    fn add(&mut self, at: Instant, calls: u64, failures: u64, length: Duration) {
        let width = length / WINDOW_SLOTS;
        match self.slots.back_mut() {
            Some(slot) if at.saturating_duration_since(slot.start) < width => {
                slot.calls = slot.calls.saturating_add(calls);
                slot.failures = slot.failures.saturating_add(failures);
            }
            _ => self.slots.push_back(Slot {
                start: at,
                calls,
                failures,
            }),
        }
        // Saturating: a restored state holds whatever counts its row held.
        self.calls = self.calls.saturating_add(calls);
        self.failures = self.failures.saturating_add(failures);
    }

    /// Forgets the slots that began `length` or more before `now`.
    fn expire(&mut self, now: Instant, length: Duration) {
        while let Some(slot) = self.slots.front() {
            if now.saturating_duration_since(slot.start) < length {
                break;
            }
            self.calls = self.calls.saturating_sub(slot.calls);
            self.failures = self.failures.saturating_sub(slot.failures);
            self.slots.pop_front();
        }
    }

    fn clear(&mut self) {
        *self = Window::default();
    }
}

impl Default for BreakerSnapshot {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed,
            open_for_s: None,
            consecutive_failures: 0,
            open_interval_s: 0.0,
            window_slots: Vec::new(),
            window: Vec::new(),
            openings: 0,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            error_rate: 0.5,
            min_calls: 10,
            window_s: 60.0,
            open_s: 30.0,
            max_open_s: 300.0,
        }
    }
}

impl BreakerConfig {
    /// The default for a provider's breaker: it sums the failures of all the
    /// provider's models, so it is slower to open than a model's.
    pub fn provider_default() -> Self {
        Self {
            failure_threshold: 10,
            min_calls: 20,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self, key: &str) -> Result<(), RouterError> {
        if self.failure_threshold == 0 {
            return Err(RouterError::config(
                format!("{key}.failure_threshold"),
                "must be at least 1",
            ));
        }
        if !(self.error_rate > 0.0 && self.error_rate <= 1.0) {
            return Err(RouterError::config(
                format!("{key}.error_rate"),
                "must be in (0, 1]",
            ));
        }
        if self.min_calls == 0 {
            return Err(RouterError::config(
                format!("{key}.min_calls"),
                "must be at least 1",
            ));
        }
        for (name, seconds) in [
            ("window_s", self.window_s),
            ("open_s", self.open_s),
            ("max_open_s", self.max_open_s),
        ] {
            if !(seconds.is_finite() && seconds > 0.0 && seconds < 1e9) {
                return Err(RouterError::config(
                    format!("{key}.{name}"),
                    "must be a positive number of seconds",
                ));
            }
        }
        if self.max_open_s < self.open_s {
            return Err(RouterError::config(
                format!("{key}.max_open_s"),
                "must not be less than open_s",
            ));
        }
        Ok(())
    }

    fn open_interval(&self) -> Duration {
        Duration::from_secs_f64(self.open_s)
    }

    fn window(&self) -> Duration {
        Duration::from_secs_f64(self.window_s)
    }
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Inner::Closed,
            consecutive_failures: 0,
            window: Window::default(),
            open_interval: config.open_interval(),
            openings: 0,
        }
    }

    /// A breaker as it was saved `elapsed` ago: an open breaker stays open for what
    /// was left of its interval (less the time down), a probe that was in flight is
    /// forgotten (another may go now), and the window keeps the calls still inside it.
    pub(crate) fn restore(
        config: BreakerConfig,
        saved: &BreakerSnapshot,
        now: Instant,
        elapsed: Duration,
    ) -> Self {
        let length = config.window();
        let mut window = Window::default();
        // A state saved call by call (older rows), then one saved per slot: each
        // oldest first, and neither kind is written beside the other.
        let calls = saved
            .window
            .iter()
            .map(|&(age_s, failed)| (age_s, 1, u64::from(failed)))
            .chain(saved.window_slots.iter().copied());
        for (age_s, calls, failures) in calls {
            let Some(age) = Duration::try_from_secs_f64(age_s)
                .ok()
                .map(|age| age + elapsed)
                .filter(|age| *age < length)
            else {
                continue;
            };
            if let Some(at) = now.checked_sub(age) {
                window.add(at, calls, failures.min(calls), length);
            }
        }
        let open_interval = Duration::try_from_secs_f64(saved.open_interval_s)
            .unwrap_or_default()
            .clamp(
                config.open_interval(),
                Duration::from_secs_f64(config.max_open_s),
            );
        let state = match saved.state {
            BreakerState::Closed => Inner::Closed,
            BreakerState::Open => {
                let left = saved
                    .open_for_s
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .unwrap_or_default()
                    .saturating_sub(elapsed);
                Inner::Open { until: now + left }
            }
            BreakerState::HalfOpen => Inner::Open { until: now },
        };
        Self {
            config,
            state,
            consecutive_failures: saved.consecutive_failures,
            window,
            open_interval,
            openings: saved.openings,
        }
    }

    /// The state to save, with times as ages at `now`.
    pub(crate) fn snapshot(&self, now: Instant) -> BreakerSnapshot {
        let length = self.config.window();
        let (state, open_for_s) = match self.state {
            Inner::Closed => (BreakerState::Closed, None),
            Inner::Open { until } => (
                BreakerState::Open,
                Some(until.saturating_duration_since(now).as_secs_f64()),
            ),
            Inner::HalfOpen { .. } => (BreakerState::HalfOpen, None),
        };
        BreakerSnapshot {
            state,
            open_for_s,
            consecutive_failures: self.consecutive_failures,
            open_interval_s: self.open_interval.as_secs_f64(),
            window_slots: self
                .window
                .slots
                .iter()
                .map(|slot| (now.saturating_duration_since(slot.start), slot))
                .filter(|(age, _)| *age < length)
                .map(|(age, slot)| (age.as_secs_f64(), slot.calls, slot.failures))
                .collect(),
            window: Vec::new(),
            openings: self.openings,
        }
    }

    /// How many times the breaker opened from closed.
    pub fn openings(&self) -> u64 {
        self.openings
    }

    /// Whether a call may go now, without taking the probe.
    pub fn admission(&self, now: Instant) -> Admission {
        match self.state {
            Inner::Closed => Admission::Allowed,
            Inner::Open { until } if now < until => Admission::Rejected { until },
            Inner::Open { .. } => Admission::Probe,
            Inner::HalfOpen { probe_since } => {
                let retry_at = probe_since + self.open_interval;
                if now < retry_at {
                    Admission::Rejected { until: retry_at }
                } else {
                    Admission::Probe
                }
            }
        }
    }

    /// Whether a call may go now; when it is the probe, the probe is taken, so
    /// nobody else gets through until it reports (or one open interval passes).
    pub fn try_acquire(&mut self, now: Instant) -> Admission {
        let admission = self.admission(now);
        if admission == Admission::Probe {
            self.state = Inner::HalfOpen { probe_since: now };
        }
        admission
    }

    /// A call succeeded: the breaker closes.
    pub fn on_success(&mut self, now: Instant) {
        self.consecutive_failures = 0;
        if self.state != Inner::Closed {
            self.state = Inner::Closed;
            self.open_interval = self.config.open_interval();
            self.window.clear();
        }
        self.push(now, false);
    }

    /// A call failed in a way that says the model (or provider) is unhealthy.
    pub fn on_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.push(now, true);
        match self.state {
            Inner::Closed => {
                if self.should_open() {
                    self.open(now);
                }
            }
            Inner::HalfOpen { .. } => {
                let doubled = self.open_interval.saturating_mul(2);
                self.open_interval = doubled.min(Duration::from_secs_f64(self.config.max_open_s));
                self.state = Inner::Open {
                    until: now + self.open_interval,
                };
            }
            Inner::Open { .. } => {}
        }
    }

    /// A call ended in a way that says nothing about health (e.g. the prompt was
    /// too long): a probe in flight is released so another call may probe now.
    pub fn on_neutral(&mut self, now: Instant) {
        if let Inner::HalfOpen { .. } = self.state {
            self.state = Inner::Open { until: now };
        }
    }

    /// Opens the breaker at once (e.g. the provider refused the API key).
    pub fn trip(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.push(now, true);
        match self.state {
            Inner::Open { until } if until > now => {}
            _ => self.open(now),
        }
    }

    /// The state now.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            Inner::Closed => BreakerState::Closed,
            Inner::Open { until } if now < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// The state and figures now.
    pub fn status(&self, now: Instant) -> BreakerStatus {
        let probe_in_s = match self.admission(now) {
            Admission::Rejected { until } => {
                Some(until.saturating_duration_since(now).as_secs_f64())
            }
            Admission::Allowed | Admission::Probe => None,
        };
        BreakerStatus {
            state: self.state(now),
            consecutive_failures: self.consecutive_failures,
            probe_in_s,
            openings: self.openings,
        }
    }

    fn open(&mut self, now: Instant) {
        if self.state == Inner::Closed {
            self.openings += 1;
        }
        self.open_interval = self.config.open_interval();
        self.state = Inner::Open {
            until: now + self.open_interval,
        };
    }

    fn should_open(&self) -> bool {
        if self.consecutive_failures >= self.config.failure_threshold {
            return true;
        }
        let Window {
            calls, failures, ..
        } = self.window;
        if calls < u64::from(self.config.min_calls) {
            return false;
        }
        failures as f64 / calls as f64 > self.config.error_rate
    }

    fn push(&mut self, now: Instant, failed: bool) {
        let length = self.config.window();
        self.window.expire(now, length);
        self.window.add(now, 1, u64::from(failed), length);
    }
}

#[cfg(test)]
mod tests;
