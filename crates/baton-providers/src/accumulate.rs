//! Normalised stream events and the one accumulator that turns them into a
//! [`Completion`], shared by every adapter: each vendor's stream decoder only
//! translates its events into [`StreamEvent`]s.

use std::collections::BTreeMap;

use baton_core::usage::{Usage, estimate_tokens};

use crate::provider::{Completion, CompletionRequest, FinishReason, ToolCall};

/// One vendor stream event, in Baton's terms.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StreamEvent {
    /// The vendor named the model that answers.
    Model(String),
    /// Output text.
    Text(String),
    /// A tool call begins at `index` (arguments may follow as fragments).
    ToolCallStart {
        /// The vendor's index for the call (OpenAI `index`, Anthropic block index).
        index: u64,
        /// The vendor's call id.
        id: String,
        /// The tool's name.
        name: String,
        /// The first fragment of the arguments (often empty).
        arguments: String,
    },
    /// More argument text for the call at `index`.
    ToolCallArguments {
        /// The vendor's index for the call.
        index: u64,
        /// The fragment, to append.
        fragment: String,
    },
    /// A whole tool call in one event (Gemini), placed after the others.
    ToolCallWhole {
        /// The vendor's call id, if it gave one.
        id: Option<String>,
        /// The tool's name.
        name: String,
        /// The arguments, as JSON text.
        arguments: String,
    },
    /// The vendor said why it stopped.
    Finish(FinishReason),
    /// Token counts so far (running or final); later values replace earlier ones
    /// field by field.
    Usage(UsageReport),
    /// A vendor event that carries nothing Baton uses but shows the call is alive
    /// (for example Anthropic `content_block_stop` or a thinking delta).
    Progress,
    /// A keep-alive (Anthropic `ping`): not progress, so it never resets a timer.
    KeepAlive,
    /// The vendor's explicit end of stream (`[DONE]`, `message_stop`).
    Done,
}

/// Token counts as a vendor reported them; `None` where it said nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UsageReport {
    /// Prompt tokens, including cached ones.
    pub(crate) input: Option<u64>,
    /// Output tokens, including reasoning ones.
    pub(crate) output: Option<u64>,
    /// Prompt tokens served from cache.
    pub(crate) cached: Option<u64>,
    /// Reasoning tokens inside `output`.
    pub(crate) reasoning: Option<u64>,
}

impl UsageReport {
    /// Takes every field that `later` reports.
    pub(crate) fn merge(&mut self, later: UsageReport) {
        self.input = later.input.or(self.input);
        self.output = later.output.or(self.output);
        self.cached = later.cached.or(self.cached);
        self.reasoning = later.reasoning.or(self.reasoning);
    }

    /// The vendor's usage, when it reported both input and output.
    pub(crate) fn complete(&self) -> Option<Usage> {
        Some(Usage {
            input_tokens: self.input?,
            output_tokens: self.output?,
            cached_input_tokens: self.cached.unwrap_or(0),
            reasoning_tokens: self.reasoning.unwrap_or(0),
            estimated: false,
        })
    }
}

/// A rough token count of everything a request sends, for usage the vendor never
/// reported. Never zero: a call that reached the vendor used at least one token.
pub(crate) fn estimate_prompt_tokens(request: &CompletionRequest) -> u64 {
    let system = request.system.as_deref().map_or(0, estimate_tokens);
    let messages: u64 = request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .sum();
    (system + messages).max(1)
}

/// Usage for a finished call: the vendor's when it gave both counts, else an
/// estimate that keeps whatever the vendor did say.
pub(crate) fn usage_or_estimate(report: &UsageReport, prompt_estimate: u64, output: &str) -> Usage {
    if let Some(usage) = report.complete() {
        return usage;
    }
    Usage {
        input_tokens: report.input.unwrap_or(prompt_estimate),
        output_tokens: report.output.unwrap_or_else(|| estimate_tokens(output)),
        cached_input_tokens: report.cached.unwrap_or(0),
        reasoning_tokens: report.reasoning.unwrap_or(0),
        estimated: true,
    }
}

/// Gives a decoded plain answer whose vendor sent no usage the prompt estimate as its
/// input count (decoders are pure and do not know the request).
pub(crate) fn fill_input_estimate(completion: &mut Completion, prompt_estimate: u64) {
    if completion.usage.estimated && completion.usage.input_tokens == 0 {
        completion.usage.input_tokens = prompt_estimate;
    }
}

/// Builds a completion from stream events.
#[derive(Debug)]
pub(crate) struct StreamAccumulator {
    prompt_estimate: u64,
    text: String,
    tool_calls: BTreeMap<u64, ToolCall>,
    whole_calls: Vec<ToolCall>,
    finish: Option<FinishReason>,
    usage: UsageReport,
    model: Option<String>,
    done: bool,
}

/// What one event meant to the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Progress; with text to forward to the caller's delta channel, if any.
    Progress(Option<String>),
    /// A keep-alive: no progress.
    KeepAlive,
    /// The vendor ended the stream.
    Done,
}

impl StreamAccumulator {
    /// An empty accumulator for a request whose prompt is about `prompt_estimate`
    /// tokens.
    pub(crate) fn new(prompt_estimate: u64) -> Self {
        Self {
            prompt_estimate,
            text: String::new(),
            tool_calls: BTreeMap::new(),
            whole_calls: Vec::new(),
            finish: None,
            usage: UsageReport::default(),
            model: None,
            done: false,
        }
    }

    /// Takes one event.
    pub(crate) fn apply(&mut self, event: StreamEvent) -> Step {
        match event {
            StreamEvent::Model(model) => self.model = Some(model),
            StreamEvent::Text(text) => {
                if text.is_empty() {
                    return Step::Progress(None);
                }
                self.text.push_str(&text);
                return Step::Progress(Some(text));
            }
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                arguments,
            } => {
                let call = self.tool_calls.entry(index).or_insert_with(|| ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                call.id = id;
                call.name = name;
                call.arguments.push_str(&arguments);
            }
            StreamEvent::ToolCallArguments { index, fragment } => {
                let call = self.tool_calls.entry(index).or_insert_with(|| ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                call.arguments.push_str(&fragment);
            }
            StreamEvent::ToolCallWhole {
                id,
                name,
                arguments,
            } => {
                let id = id.unwrap_or_else(|| format!("call_{}", self.whole_calls.len()));
                self.whole_calls.push(ToolCall {
                    id,
                    name,
                    arguments,
                });
            }
            StreamEvent::Finish(reason) => self.finish = Some(reason),
            StreamEvent::Usage(report) => self.usage.merge(report),
            StreamEvent::Progress => {}
            StreamEvent::KeepAlive => return Step::KeepAlive,
            StreamEvent::Done => {
                self.done = true;
                return Step::Done;
            }
        }
        Step::Progress(None)
    }

    /// Whether the stream may end here without being cut: the vendor said it was
    /// done, or at least said why it stopped.
    pub(crate) fn is_complete(&self) -> bool {
        self.done || self.finish.is_some()
    }

    /// The finished completion.
    pub(crate) fn finish(self) -> Completion {
        let usage = usage_or_estimate(&self.usage, self.prompt_estimate, &self.output_so_far());
        let mut tool_calls: Vec<ToolCall> = self.tool_calls.into_values().collect();
        tool_calls.extend(self.whole_calls);
        for call in &mut tool_calls {
            // A tool called with no arguments streams none (Anthropic sends one empty
            // fragment); the arguments of such a call are the empty object.
            if call.arguments.trim().is_empty() {
                call.arguments = "{}".to_owned();
            }
        }
        Completion {
            text: self.text,
            tool_calls,
            finish_reason: self.finish.unwrap_or(FinishReason::Stop),
            usage,
            model: self.model,
            limits: None,
        }
    }

    /// What the call used so far, for a stream that failed: the vendor's counts
    /// where it gave them, raised to an estimate from the output so far, and always
    /// marked estimated, since the vendor's final count never came.
    pub(crate) fn partial_usage(&self) -> Usage {
        let output_estimate = estimate_tokens(&self.output_so_far());
        Usage {
            input_tokens: self.usage.input.unwrap_or(self.prompt_estimate).max(1),
            output_tokens: self.usage.output.unwrap_or(0).max(output_estimate),
            cached_input_tokens: self.usage.cached.unwrap_or(0),
            reasoning_tokens: self.usage.reasoning.unwrap_or(0),
            estimated: true,
        }
    }

    fn output_so_far(&self) -> String {
        let mut output = self.text.clone();
        for call in self.tool_calls.values().chain(&self.whole_calls) {
            output.push_str(&call.name);
            output.push_str(&call.arguments);
        }
        output
    }
}

#[cfg(test)]
mod tests;
