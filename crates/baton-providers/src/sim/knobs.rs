//! The simulator's knobs, as configured in `[providers.sim]`.

use serde::Deserialize;

/// How the simulated model behaves. Every knob is deterministic for a seed: the same
/// request and seed give the same latency, errors and output, whatever the call order.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// The seed that, with each request, decides every random choice.
    pub seed: u64,
    /// The base latency of a call, in milliseconds (0: answer at once, after one yield).
    pub latency_ms: u64,
    /// Extra latency drawn uniformly from 0 up to this many milliseconds.
    pub latency_jitter_ms: u64,
    /// The share of calls (0..1) that fail with a transient error.
    pub error_rate: f64,
    /// Which transient errors `error_rate` produces, drawn in turn: `rate_limited`
    /// (429), `server` (500), `timeout`.
    pub error_kinds: Vec<SimErrorKind>,
    /// The share of calls (0..1) whose output is malformed (truncated JSON for plans
    /// and judgements, empty text for tasks), to exercise repair paths.
    pub malformed_rate: f64,
    /// How many words each streamed piece carries.
    pub stream_chunk_words: usize,
}

/// A transient failure the simulator can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimErrorKind {
    /// A 429 with a one-second `Retry-After`.
    RateLimited,
    /// A 500.
    Server,
    /// The first token never came.
    Timeout,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            latency_ms: 40,
            latency_jitter_ms: 40,
            error_rate: 0.0,
            error_kinds: vec![
                SimErrorKind::RateLimited,
                SimErrorKind::Server,
                SimErrorKind::Timeout,
            ],
            malformed_rate: 0.0,
            stream_chunk_words: 3,
        }
    }
}
