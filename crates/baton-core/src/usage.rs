//! Tokens and money: what a call used and what it cost.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The tokens one call used, as the vendor reported them (or as estimated when the
/// vendor's report was lost, e.g. a stream cut before its usage chunk).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// Prompt tokens, including cached ones.
    pub input_tokens: u64,
    /// Completion tokens, including reasoning ("thinking") tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from the vendor's cache (billed at the cached price).
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Reasoning tokens inside `output_tokens`, where the vendor reports them.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// True when the figures are an estimate because the vendor's own count was lost.
    #[serde(default)]
    pub estimated: bool,
}

impl Usage {
    /// The sum of two usages; the result is estimated if either part was.
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + other.input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
            cached_input_tokens: self.cached_input_tokens + other.cached_input_tokens,
            reasoning_tokens: self.reasoning_tokens + other.reasoning_tokens,
            estimated: self.estimated || other.estimated,
        }
    }
}

/// A model's prices in US dollars per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Price {
    /// Dollars per million prompt tokens.
    pub input_per_mtok: f64,
    /// Dollars per million completion tokens.
    pub output_per_mtok: f64,
    /// Dollars per million cached prompt tokens; the input price when absent.
    #[serde(default)]
    pub cached_input_per_mtok: Option<f64>,
}

impl Price {
    /// What a call with this usage costs, in dollars.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let uncached = usage.input_tokens - cached;
        let cached_price = self.cached_input_per_mtok.unwrap_or(self.input_per_mtok);
        (uncached as f64 * self.input_per_mtok
            + cached as f64 * cached_price
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }

    /// The most a call can cost: every prompt token uncached and the whole output
    /// allowance used. This is what is reserved against a budget before a call.
    pub fn worst_case_cost(&self, input_tokens: u64, max_output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_per_mtok
            + max_output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// A rough token count for text whose real count is unknown: about four bytes a
/// token for English, rounded up, so estimates err on the side of cost.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// What a run used in all, summed over every call it made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunUsage {
    /// Model calls made (every attempt, including failed ones).
    pub llm_calls: u64,
    /// Prompt tokens over all calls.
    pub tokens_in: u64,
    /// Completion tokens over all calls.
    pub tokens_out: u64,
    /// Dollars over all calls.
    pub cost_usd: f64,
}

impl RunUsage {
    /// Counts one more call.
    pub fn record_call(&mut self, usage: &Usage, cost_usd: f64) {
        self.llm_calls += 1;
        self.tokens_in += usage.input_tokens;
        self.tokens_out += usage.output_tokens;
        self.cost_usd += cost_usd;
    }
}

#[cfg(test)]
mod tests;
