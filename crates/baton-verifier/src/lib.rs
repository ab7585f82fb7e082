//! Verification: checks on a task's output (non-empty, length, output schema), the
//! judge call that scores it against the task's success criteria, the repair call,
//! and the verdict that combines them.
//!
//! Invariant: everything here is pure; the engine makes the judge and repair calls.

use baton_core::event::Check;
use baton_core::graph::TaskSpec;
use baton_core::json_text::{extract_json, strip_code_fence};
use baton_core::status::CallKind;
use baton_providers::provider::{CompletionRequest, JsonSchemaFormat, Message};
use serde::Deserialize;
use serde_json::{Value, json};

/// The verifier's settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// The shortest acceptable output, in characters (after trimming).
    pub min_output_chars: usize,
    /// The longest acceptable output, in characters.
    pub max_output_chars: usize,
    /// The judge's score (0..1) below which an output fails.
    pub judge_threshold: f64,
    /// The output allowance of a judge call, in tokens.
    pub judge_max_output_tokens: u32,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            min_output_chars: 1,
            max_output_chars: 200_000,
            judge_threshold: 0.6,
            judge_max_output_tokens: 512,
        }
    }
}

/// What the judge said.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Judgement {
    /// Whether the output meets the criteria.
    pub passed: bool,
    /// How well, 0..1.
    pub score: f64,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// The result of verifying one output.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Whether every check passed.
    pub passed: bool,
    /// The judge's score when it ran, else the share of checks passed.
    pub score: f64,
    /// Each check.
    pub checks: Vec<Check>,
}

/// Why a judge's answer could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// The answer holds no JSON verdict.
    #[error("the judge's answer holds no JSON verdict")]
    NoVerdict,
    /// The JSON is not of the verdict's shape.
    #[error("the judge's verdict is malformed: {0}")]
    Malformed(String),
}

/// The checks that need no model: non-empty, within length bounds, and valid against
/// the task's `output_schema` when it has one.
pub fn check_output(spec: &TaskSpec, output: &str, config: &VerifyConfig) -> Vec<Check> {
    let trimmed = output.trim();
    let mut checks = vec![check(
        "non_empty",
        trimmed.chars().count() >= config.min_output_chars.max(1),
        || "the output is empty".to_owned(),
    )];
    let length = trimmed.chars().count();
    checks.push(check(
        "length",
        length >= config.min_output_chars && length <= config.max_output_chars,
        || {
            format!(
                "the output is {length} characters; between {} and {} are expected",
                config.min_output_chars, config.max_output_chars
            )
        },
    ));
    if let Some(schema) = &spec.output_schema {
        checks.push(schema_check(schema, trimmed));
    }
    checks
}

fn check(name: &str, passed: bool, detail: impl FnOnce() -> String) -> Check {
    Check {
        name: name.to_owned(),
        passed,
        detail: (!passed).then(detail),
    }
}

/// The most schema problems listed in one check's detail.
const MAX_PROBLEMS: usize = 10;

/// The longest problem message kept whole; longer ones (which quote a large part of
/// the output) are given without the quoted value.
const MAX_PROBLEM_CHARS: usize = 300;

/// The output must be JSON by itself (one surrounding ``` fence is tolerated) and
/// valid against the schema; the detail says what failed and where (JSON pointer).
fn schema_check(schema: &Value, output: &str) -> Check {
    let failed = |detail: String| Check {
        name: "output_schema".to_owned(),
        passed: false,
        detail: Some(detail),
    };
    let json = strip_code_fence(output);
    let value = match serde_json::from_str::<Value>(json) {
        Ok(value) => value,
        Err(err) => {
            let hint = if extract_json(json).is_some() {
                "it holds JSON with other text around it: answer with the JSON alone"
            } else {
                "answer with JSON only"
            };
            return failed(format!(
                "the output is not JSON ({err}); the task asks for JSON matching its output_schema: {hint}"
            ));
        }
    };
    let validator = match jsonschema::validator_for(schema) {
        Ok(validator) => validator,
        Err(err) => {
            return failed(format!(
                "the task's output_schema is not a valid JSON Schema: {}",
                shorten(&err.to_string())
            ));
        }
    };
    let mut problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|err| describe_schema_error(&err))
        .collect();
    if problems.is_empty() {
        return Check {
            name: "output_schema".to_owned(),
            passed: true,
            detail: None,
        };
    }
    if problems.len() > MAX_PROBLEMS {
        let rest = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(format!("and {rest} more"));
    }
    failed(format!(
        "the output does not match its output_schema: {}",
        problems.join("; ")
    ))
}

/// One schema violation as `at <pointer>: <message>`, without quoting a large value.
fn describe_schema_error(err: &jsonschema::ValidationError<'_>) -> String {
    let full = err.to_string();
    let message = if full.chars().count() > MAX_PROBLEM_CHARS {
        shorten(&err.masked().to_string())
    } else {
        full
    };
    let at = err.instance_path().to_string();
    if at.is_empty() {
        message
    } else {
        format!("at {at}: {message}")
    }
}

fn shorten(message: &str) -> String {
    if message.chars().count() <= MAX_PROBLEM_CHARS {
        return message.to_owned();
    }
    let head: String = message.chars().take(MAX_PROBLEM_CHARS).collect();
    format!("{head}…")
}

const JUDGE_SYSTEM: &str = "You review the output of a task against its success criteria. Be strict but fair. Answer with JSON only: {\"passed\": bool, \"score\": number from 0 to 1, \"reason\": string}.";

/// The judge call for an output.
pub fn judge_request(spec: &TaskSpec, output: &str) -> CompletionRequest {
    let mut user = format!(
        "The task ({}):\n{}\n\nSuccess criteria:\n",
        spec.display_title(),
        spec.instructions
    );
    for criterion in &spec.success_criteria {
        user.push_str(&format!("- {criterion}\n"));
    }
    user.push_str(&format!(
        "\nThe output to review:\n<output>\n{output}\n</output>\n\nYour verdict as JSON:"
    ));
    CompletionRequest {
        model: String::new(),
        kind: CallKind::Judge,
        system: Some(JUDGE_SYSTEM.into()),
        messages: vec![Message::user(user)],
        max_output_tokens: VerifyConfig::default().judge_max_output_tokens,
        temperature: Some(0.0),
        json_schema: Some(JsonSchemaFormat {
            name: "verdict".to_owned(),
            schema: json!({
                "type": "object",
                "required": ["passed", "score", "reason"],
                "additionalProperties": false,
                "properties": {
                    "passed": {"type": "boolean"},
                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                    "reason": {"type": "string"}
                }
            }),
        }),
        seed: None,
        stream: false,
    }
}

/// Reads the judge's verdict, tolerating code fences and prose around it.
pub fn parse_judgement(text: &str) -> Result<Judgement, VerifyError> {
    let json = extract_json(text).ok_or(VerifyError::NoVerdict)?;
    let mut judgement: Judgement =
        serde_json::from_str(json).map_err(|err| VerifyError::Malformed(err.to_string()))?;
    if !judgement.score.is_finite() {
        return Err(VerifyError::Malformed("score is not a number".to_owned()));
    }
    judgement.score = judgement.score.clamp(0.0, 1.0);
    Ok(judgement)
}

/// The repair call: the original call, the rejected output, and what was wrong.
pub fn repair_request(
    task_request: &CompletionRequest,
    output: &str,
    failed: &[Check],
) -> CompletionRequest {
    let mut repair = task_request.clone();
    let problems: Vec<String> = failed
        .iter()
        .map(|c| format!("- {}: {}", c.name, c.detail.as_deref().unwrap_or("failed")))
        .collect();
    // Vendors refuse an empty assistant turn, and an empty output is a common reason
    // for a repair, so it is named instead.
    let previous = if output.trim().is_empty() {
        "(an empty answer)"
    } else {
        output
    };
    repair.messages.push(Message::assistant(previous));
    repair.messages.push(Message::user(format!(
        "That answer was rejected:\n{}\nWrite a corrected answer to the same task.",
        problems.join("\n")
    )));
    repair
}

/// Combines the checks and the judge's verdict.
pub fn verdict(
    mut checks: Vec<Check>,
    judgement: Option<&Judgement>,
    config: &VerifyConfig,
) -> Verdict {
    if let Some(judgement) = judgement {
        let passed = judgement.passed && judgement.score >= config.judge_threshold;
        let detail = if judgement.passed && !passed {
            // The judge passed it, but not by enough: say so, or the reason reads as praise.
            Some(format!(
                "the judge scored it {:.2}, below the threshold of {:.2}: {}",
                judgement.score, config.judge_threshold, judgement.reason
            ))
        } else {
            (!passed || !judgement.reason.is_empty()).then(|| judgement.reason.clone())
        };
        checks.push(Check {
            name: "judge".to_owned(),
            passed,
            detail,
        });
    }
    let passed = checks.iter().all(|c| c.passed);
    let score = match judgement {
        Some(judgement) => judgement.score,
        None if checks.is_empty() => 1.0,
        None => checks.iter().filter(|c| c.passed).count() as f64 / checks.len() as f64,
    };
    Verdict {
        passed,
        score,
        checks,
    }
}

#[cfg(test)]
mod tests;
