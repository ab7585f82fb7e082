//! Planning: the prompts that turn a request into a task graph, the tolerant parser
//! and validator of the planner's answer, the repair conversation, the one-task
//! fallback, and the prompts of task and synthesis calls.
//!
//! Invariant: everything here is pure. The engine makes the calls (so it can journal
//! each attempt); this crate only builds requests and reads answers.

use std::borrow::Cow;
use std::sync::OnceLock;

use baton_core::graph::{GraphLimits, TaskGraph, TaskSpec, Workflow, fill_placeholders};
use baton_core::ids::TaskId;
use baton_core::json_text::extract_json;
use baton_core::status::CallKind;
use baton_providers::provider::{CompletionRequest, JsonSchemaFormat, Message};
use baton_providers::sim::{REQUEST_END, REQUEST_START, TASK_END, TASK_START};
use serde::Deserialize;
use serde_json::{Value, json};

/// The planner's settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlannerConfig {
    /// The output allowance of a planning call, in tokens.
    pub max_output_tokens: u32,
    /// How many times an invalid plan is sent back for repair before the one-task
    /// fallback.
    pub plan_repair_limit: u32,
    /// The size limits a plan must respect.
    pub limits: GraphLimits,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            max_output_tokens: 4096,
            plan_repair_limit: 2,
            limits: GraphLimits {
                max_tasks: 50,
                ..GraphLimits::default()
            },
        }
    }
}

/// Why a planner's answer is not a usable plan: every problem, in words the planner
/// model can act on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct PlanError {
    /// Each problem found.
    pub problems: Vec<String>,
}

impl PlanError {
    fn one(problem: impl Into<String>) -> Self {
        Self {
            problems: vec![problem.into()],
        }
    }

    /// Every problem, up to [`MAX_PROBLEMS`], with a count of the rest.
    fn many(mut problems: Vec<String>) -> Self {
        if problems.len() > MAX_PROBLEMS {
            let rest = problems.len() - (MAX_PROBLEMS - 1);
            problems.truncate(MAX_PROBLEMS - 1);
            problems.push(format!("and {rest} more problems of the same kinds"));
        }
        Self { problems }
    }
}

const PLANNER_SYSTEM: &str = "You are the planner of an orchestration system. Break the user's request into a small graph of tasks that other models will carry out, in parallel where possible.
Rules:
- Answer with one JSON object and nothing else: {\"tasks\": [...]}.
- Each task has an \"id\" (letters, digits, _ - ., unique), a short \"title\", self-contained \"instructions\", and \"depends_on\" (ids of tasks whose output it needs).
- Optional: \"priority\" (integer, higher first), \"capability\" (general, reasoning, writing, coding, research, extraction), \"success_criteria\" (list of strings), \"critical\" (false if the answer can do without it).
- No cycles. Use as few tasks as the request needs; a simple request is one task.
- A task may refer to a dependency's output as {{id}}.";

/// The published JSON Schema of a plan: `{"tasks": [TaskSpec…]}`.
pub fn plan_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Baton plan",
        "type": "object",
        "required": ["tasks"],
        "additionalProperties": false,
        "properties": {
            "tasks": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["id", "instructions"],
                    "additionalProperties": false,
                    "properties": {
                        "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
                        "title": {"type": "string"},
                        "instructions": {"type": "string", "minLength": 1},
                        "depends_on": {"type": "array", "items": {"type": "string"}},
                        "priority": {"type": "integer"},
                        "capability": {"enum": ["general", "reasoning", "writing", "coding", "research", "extraction"]},
                        "success_criteria": {"type": "array", "items": {"type": "string"}},
                        "output_schema": {"type": ["object", "boolean"]},
                        "critical": {"type": "boolean"},
                        "model": {"type": "string"},
                        "max_retries": {"type": "integer", "minimum": 0},
                        "timeout_s": {"type": "number", "exclusiveMinimum": 0},
                        "cost_limit_usd": {"type": "number", "minimum": 0}
                    }
                }
            }
        }
    })
}

/// The planning call for a request.
pub fn plan_request(prompt: &str, config: &PlannerConfig) -> CompletionRequest {
    let user = format!(
        "Plan this request.\n{REQUEST_START}\n{prompt}\n{REQUEST_END}\nAnswer with the JSON plan only."
    );
    request(
        CallKind::Plan,
        Some(PLANNER_SYSTEM),
        vec![Message::user(user)],
        config.max_output_tokens,
    )
    .with_schema("plan", plan_schema())
}

/// The most problems reported for one plan: enough to fix a plan in one round, few
/// enough that a hopeless answer does not turn into a huge repair prompt.
const MAX_PROBLEMS: usize = 20;

/// The longest problem message kept whole; longer ones (which quote a large part of
/// the answer) are reported without the quoted value.
const MAX_PROBLEM_CHARS: usize = 300;

/// Reads a planner's answer: finds the JSON in it (code fences and prose are fine),
/// accepts `{"tasks": […]}`, a bare array of tasks or a plan wrapped in one outer key,
/// drops `null` optional fields, and validates it against the schema, the graph rules
/// and (for each `output_schema`) the JSON Schema rules.
pub fn parse_plan(text: &str, limits: &GraphLimits) -> Result<TaskGraph, PlanError> {
    let json = extract_json(text).ok_or_else(|| {
        PlanError::one("the answer holds no JSON object: answer with {\"tasks\": [...]}")
    })?;
    let value: Value =
        serde_json::from_str(json).map_err(|err| PlanError::one(format!("invalid JSON: {err}")))?;
    let mut value = unwrap_plan(value);
    drop_null_fields(&mut value);

    let validator = plan_validator().map_err(|message| PlanError::one(message.clone()))?;
    let mut problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|err| describe_schema_error(&err))
        .collect();
    problems.extend(output_schema_problems(&value));
    if !problems.is_empty() {
        return Err(PlanError::many(problems));
    }
    let workflow: Workflow =
        serde_json::from_value(value).map_err(|err| PlanError::one(err.to_string()))?;
    TaskGraph::new(workflow, limits)
        .map_err(|errors| PlanError::many(errors.0.iter().map(ToString::to_string).collect()))
}

/// The plan schema, compiled once.
fn plan_validator() -> Result<&'static jsonschema::Validator, &'static String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            jsonschema::validator_for(&plan_schema())
                .map_err(|err| format!("the plan schema does not compile: {err}"))
        })
        .as_ref()
}

/// `{"tasks": …}` as it is; a bare array as the tasks; `{"plan": {"tasks": …}}` (any
/// one outer key) unwrapped. Anything else is left for the schema to report.
fn unwrap_plan(value: Value) -> Value {
    match value {
        Value::Array(tasks) => json!({ "tasks": tasks }),
        Value::Object(mut object) if !object.contains_key("tasks") && object.len() == 1 => {
            let inner_is_plan = object
                .values()
                .next()
                .is_some_and(|inner| inner.get("tasks").is_some());
            match object.values_mut().next() {
                Some(inner) if inner_is_plan => inner.take(),
                _ => Value::Object(object),
            }
        }
        other => other,
    }
}

/// Removes `"field": null` from each task: models often spell an absent optional
/// field that way, and every optional field has a default.
fn drop_null_fields(plan: &mut Value) {
    let Some(tasks) = plan.get_mut("tasks").and_then(Value::as_array_mut) else {
        return;
    };
    for task in tasks.iter_mut().filter_map(Value::as_object_mut) {
        task.retain(|name, field| !field.is_null() || name == "id" || name == "instructions");
    }
}

/// A task whose `output_schema` is not a usable JSON Schema would fail every output
/// it is checked against, so it is a problem of the plan.
fn output_schema_problems(plan: &Value) -> Vec<String> {
    let Some(tasks) = plan.get("tasks").and_then(Value::as_array) else {
        return Vec::new();
    };
    tasks
        .iter()
        .filter_map(|task| {
            let schema = task.get("output_schema")?;
            let err = jsonschema::validator_for(schema).err()?;
            let id = task.get("id").and_then(Value::as_str).unwrap_or("?");
            Some(format!(
                "task `{id}` has an output_schema that is not a valid JSON Schema: {}",
                shorten(&err.to_string())
            ))
        })
        .collect()
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

/// The conversation that sends an invalid plan back to the planner with its problems.
pub fn repair_request(
    prompt: &str,
    previous_answer: &str,
    error: &PlanError,
    config: &PlannerConfig,
) -> CompletionRequest {
    let mut repair = plan_request(prompt, config);
    // Vendors refuse an empty assistant turn; an empty answer is named instead.
    let previous = if previous_answer.trim().is_empty() {
        "(an empty answer)"
    } else {
        previous_answer
    };
    repair.messages.push(Message::assistant(previous));
    repair.messages.push(Message::user(format!(
        "That plan cannot be used: {error}. Fix every problem and answer with the corrected JSON plan only."
    )));
    repair
}

/// The plan used when planning fails: one task whose instructions are the request.
pub fn fallback_plan(prompt: &str) -> TaskGraph {
    let instructions = if prompt.trim().is_empty() {
        "Answer the request."
    } else {
        prompt
    };
    let id = TaskId::parse("main").unwrap_or_else(|_| unreachable!("`main` is a valid task id"));
    let mut task = TaskSpec::new(id, instructions);
    task.title = Some("Answer the request".to_owned());
    TaskGraph::single(task)
}

const TASK_SYSTEM: &str = "You carry out one task of a larger piece of work. Do exactly what the task asks, completely and concisely. Use the outputs of earlier tasks when they are given.";

/// The call that carries out one task: its instructions with `{{id}}` placeholders
/// filled, its dependencies' outputs as context, the original request as background,
/// and its success criteria and output schema.
pub fn task_request(
    spec: &TaskSpec,
    prompt: Option<&str>,
    dependency_outputs: &[(&TaskId, &str)],
    max_output_tokens: u32,
) -> CompletionRequest {
    let outputs = dependency_outputs
        .iter()
        .map(|(id, output)| (id.as_str(), *output))
        .collect();
    let instructions = fill_placeholders(&spec.instructions, &outputs);
    let mut user = String::new();
    if let Some(prompt) = prompt {
        user.push_str(&format!(
            "The overall request, for background:\n{REQUEST_START}\n{prompt}\n{REQUEST_END}\n\n"
        ));
    }
    for (id, output) in dependency_outputs {
        user.push_str(&format!(
            "Output of the earlier task `{id}`:\n<output task=\"{id}\">\n{output}\n</output>\n\n"
        ));
    }
    user.push_str(&format!(
        "Your task ({}):\n{TASK_START}\n{instructions}\n{TASK_END}",
        spec.display_title()
    ));
    if !spec.success_criteria.is_empty() {
        user.push_str("\n\nA good answer:\n");
        for criterion in &spec.success_criteria {
            user.push_str(&format!("- {criterion}\n"));
        }
    }
    // Built piece by piece, it has room to spare, and it lives as long as the task.
    user.shrink_to_fit();
    let mut call = request(
        CallKind::Task,
        Some(TASK_SYSTEM),
        vec![Message::user(user)],
        max_output_tokens,
    );
    if let Some(schema) = &spec.output_schema {
        call.messages[0]
            .content
            .push_str("\n\nAnswer with JSON that matches the given schema, and nothing else.");
        call = call.with_schema("task_output", schema.clone());
    }
    call
}

const SYNTHESIS_SYSTEM: &str = "You assemble the final answer of a piece of work from the outputs of its tasks. Merge them into one coherent answer to the request; do not mention the tasks.";

/// The call that merges the task outputs (in plan order) into one answer.
pub fn synthesis_request(
    prompt: Option<&str>,
    outputs: &[(&TaskSpec, &str)],
    max_output_tokens: u32,
) -> CompletionRequest {
    let mut user = String::new();
    if let Some(prompt) = prompt {
        user.push_str(&format!(
            "The request:\n{REQUEST_START}\n{prompt}\n{REQUEST_END}\n\n"
        ));
    }
    for (spec, output) in outputs {
        user.push_str(&format!(
            "Output of `{}` ({}):\n<output task=\"{}\">\n{output}\n</output>\n\n",
            spec.id,
            spec.display_title(),
            spec.id
        ));
    }
    user.push_str("Write the final answer.");
    request(
        CallKind::Synthesis,
        Some(SYNTHESIS_SYSTEM),
        vec![Message::user(user)],
        max_output_tokens,
    )
}

fn request(
    kind: CallKind,
    system: Option<&'static str>,
    messages: Vec<Message>,
    max_output_tokens: u32,
) -> CompletionRequest {
    CompletionRequest {
        model: String::new(),
        kind,
        system: system.map(Cow::Borrowed),
        messages,
        max_output_tokens,
        temperature: None,
        json_schema: None,
        seed: None,
        stream: false,
    }
}

trait WithSchema {
    fn with_schema(self, name: &str, schema: Value) -> Self;
}

impl WithSchema for CompletionRequest {
    fn with_schema(mut self, name: &str, schema: Value) -> Self {
        self.json_schema = Some(JsonSchemaFormat {
            name: name.to_owned(),
            schema,
        });
        self
    }
}

#[cfg(test)]
mod tests;
