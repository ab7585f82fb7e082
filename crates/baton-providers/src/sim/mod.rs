//! `sim`: a built-in simulated model for trying Baton without keys, for tests, and
//! for load and chaos testing. It answers every kind of call (assessment, plan, task,
//! judge, synthesis) with well-formed synthetic content marked `[simulated]`.

mod answer;
mod gauge;
mod knobs;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use baton_core::usage::{Usage, estimate_tokens};

pub use gauge::SimGauge;
pub use knobs::{SimConfig, SimErrorKind};

use crate::provider::{
    Completion, CompletionRequest, DeltaSender, ErrorKind, FinishReason, Provider, ProviderError,
    Role, TimeoutKind,
};

/// Marks the start of the user's request inside a prompt (planning, task background,
/// synthesis), so the simulator can find it. The planner writes these markers; the
/// sim reads them. They also tell a real model where the request begins and ends.
pub const REQUEST_START: &str = "<<<REQUEST";
/// Marks the end of the user's request inside a prompt.
pub const REQUEST_END: &str = "REQUEST>>>";
/// Marks the start of a task's own instructions inside a task prompt (after the
/// background and the outputs of its dependencies).
pub const TASK_START: &str = "<<<TASK";
/// Marks the end of a task's own instructions inside a task prompt.
pub const TASK_END: &str = "TASK>>>";

/// How many distinct requests the simulator remembers the repeats of; past this it
/// forgets them all and starts again, so a long load test cannot grow it without bound.
const MAX_TRACKED_REQUESTS: usize = 65_536;

/// The simulated provider.
///
/// What a call says depends only on the seed and the request (kind, model, system
/// prompt, messages). Its luck (latency, injected errors, malformed output) depends
/// on the seed, the request and how many times that same request was made before, so
/// a retried call meets fresh luck, as it would at a real vendor, while the n-th
/// repeat of a request still behaves the same in every run, whatever the order of the
/// other calls.
#[derive(Debug, Clone)]
pub struct SimProvider {
    config: SimConfig,
    /// Counts the calls in flight (clones share it), so a benchmark can prove the
    /// concurrency it claims.
    gauge: Arc<SimGauge>,
    /// How many times each request was made (clones share it).
    repeats: Arc<Repeats>,
}

impl SimProvider {
    /// A simulator with these knobs and a gauge of its own.
    pub fn new(config: SimConfig) -> Self {
        Self::with_gauge(config, Arc::default())
    }

    /// A simulator with these knobs that counts its calls on `gauge`, which several
    /// simulators may share.
    pub fn with_gauge(config: SimConfig, gauge: Arc<SimGauge>) -> Self {
        Self {
            config,
            gauge,
            repeats: Arc::default(),
        }
    }

    /// The gauge of the calls in flight, shared with this simulator.
    pub fn gauge(&self) -> Arc<SimGauge> {
        self.gauge.clone()
    }
}

#[async_trait]
impl Provider for SimProvider {
    fn name(&self) -> &str {
        "sim"
    }

    async fn complete(
        &self,
        request: &CompletionRequest,
        deltas: Option<&DeltaSender>,
    ) -> Result<Completion, ProviderError> {
        let key = request_key(self.config.seed, request);
        let repeat = self.repeats.count(key);
        let mut luck = Dice::from_key(key ^ repeat.wrapping_mul(LUCK_STEP));
        let mut content = Dice::from_key(key ^ CONTENT_SALT);
        let latency = self.config.latency_ms
            + match self.config.latency_jitter_ms {
                0 => 0,
                jitter => luck.below(jitter + 1),
            };
        {
            // In flight for the simulated latency; a dropped (cancelled) call leaves too.
            let _in_flight = self.gauge.enter();
            if latency == 0 {
                // Still give the scheduler a turn, as a real call would.
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(latency)).await;
            }
        }

        if luck.chance(self.config.error_rate) && !self.config.error_kinds.is_empty() {
            let index = luck.below(self.config.error_kinds.len() as u64) as usize;
            return Err(simulated_error(self.config.error_kinds[index]));
        }
        let malformed = luck.chance(self.config.malformed_rate);
        let text = answer::answer(request, &mut content, malformed);
        let (text, finish_reason) = within_allowance(text, request.max_output_tokens);

        if request.stream
            && let Some(deltas) = deltas
        {
            for piece in pieces(&text, self.config.stream_chunk_words.max(1)) {
                // A closed receiver only means nobody is watching the stream.
                let _ = deltas.send(piece);
            }
        }
        let input_tokens = request.system.as_deref().map_or(0, estimate_tokens)
            + request
                .messages
                .iter()
                .map(|m| estimate_tokens(&m.content))
                .sum::<u64>();
        Ok(Completion {
            usage: Usage {
                input_tokens: input_tokens.max(1),
                output_tokens: estimate_tokens(&text).max(1),
                ..Usage::default()
            },
            text,
            tool_calls: Vec::new(),
            finish_reason,
            model: Some(request.model.clone()),
            limits: None,
        })
    }
}

fn simulated_error(kind: SimErrorKind) -> ProviderError {
    match kind {
        SimErrorKind::RateLimited => {
            let mut err =
                ProviderError::transient(ErrorKind::RateLimited, "[simulated] 429 rate limited");
            err.status = Some(429);
            err.retry_after = Some(Duration::from_secs(1));
            err
        }
        SimErrorKind::Server => {
            let mut err = ProviderError::transient(
                ErrorKind::Server,
                "[simulated] 500 internal server error",
            );
            err.status = Some(500);
            err
        }
        SimErrorKind::Timeout => ProviderError::transient(
            ErrorKind::Timeout(TimeoutKind::FirstToken),
            "[simulated] no first token in time",
        ),
    }
}

/// Splits text into pieces of `words` words, keeping the spaces, so the pieces
/// concatenate back to the text exactly.
fn pieces(text: &str, words: usize) -> Vec<String> {
    let parts: Vec<&str> = text.split_inclusive(' ').collect();
    parts.chunks(words).map(|chunk| chunk.concat()).collect()
}

/// Cuts an answer to the call's output allowance (about four bytes a token, as
/// `estimate_tokens` counts), as a vendor stops at `max_output_tokens`; 0 means no cap.
fn within_allowance(mut text: String, max_output_tokens: u32) -> (String, FinishReason) {
    let limit = (max_output_tokens as usize).saturating_mul(4);
    if max_output_tokens == 0 || text.len() <= limit {
        return (text, FinishReason::Stop);
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    (text, FinishReason::Length)
}

/// Spreads the luck of successive repeats of a request apart (the golden-ratio step).
const LUCK_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// Separates the content's random stream from the luck's, so knobs such as
/// `latency_jitter_ms` or `error_rate` never change what a call says.
const CONTENT_SALT: u64 = 0x5bd1_e995_c3a5_c85c;

/// A stable key for a request under a seed: FNV-1a over the kind, model, request seed,
/// system prompt and each message's role and text.
fn request_key(seed: u64, request: &CompletionRequest) -> u64 {
    let mut hash = Fnv::new();
    hash.write(&seed.to_le_bytes());
    hash.write(request.kind.as_str().as_bytes());
    hash.write(request.model.as_bytes());
    hash.write(&request.seed.unwrap_or(0).to_le_bytes());
    hash.write(request.system.as_deref().unwrap_or("").as_bytes());
    for message in &request.messages {
        let role: &[u8] = match message.role {
            Role::User => b"user",
            Role::Assistant => b"assistant",
        };
        hash.write(role);
        hash.write(message.content.as_bytes());
    }
    hash.finish()
}

/// How many times each request (by its key) was made, bounded by
/// [`MAX_TRACKED_REQUESTS`].
#[derive(Default)]
struct Repeats(Mutex<HashMap<u64, u64>>);

impl Repeats {
    /// How many calls with this key came before this one (which is now counted).
    fn count(&self, key: u64) -> u64 {
        // A panic elsewhere while holding the lock leaves a map of counts that is
        // still usable.
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_TRACKED_REQUESTS && !seen.contains_key(&key) {
            seen.clear();
        }
        let count = seen.entry(key).or_insert(0);
        let earlier = *count;
        *count += 1;
        earlier
    }
}

impl fmt::Debug for Repeats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tracked = self.0.lock().map_or(0, |seen| seen.len());
        f.debug_struct("Repeats")
            .field("tracked", &tracked)
            .finish()
    }
}

/// A small deterministic generator (SplitMix64), seeded from a request key, so
/// answers do not depend on call order.
#[derive(Debug)]
pub(crate) struct Dice {
    state: u64,
}

impl Dice {
    fn from_key(key: u64) -> Self {
        Self { state: key }
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// 64-bit FNV-1a: a fixed hash, stable across Rust releases (unlike `DefaultHasher`).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") hash differently.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests;
