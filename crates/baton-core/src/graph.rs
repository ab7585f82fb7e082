//! Task graphs: the shape a plan or a client's workflow takes, and the rules that
//! make one valid (unique ids, known dependencies, no cycles, size limits).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{IdError, TaskId};

/// What kind of work a task is; the router matches it against model capabilities.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Anything; the default.
    #[default]
    General,
    /// Step-by-step thinking, analysis, planning.
    Reasoning,
    /// Prose: drafting, editing, summarising.
    Writing,
    /// Code: writing, reviewing, explaining.
    Coding,
    /// Gathering and comparing information.
    Research,
    /// Pulling structured data out of text.
    Extraction,
}

impl Capability {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::General => "general",
            Capability::Reasoning => "reasoning",
            Capability::Writing => "writing",
            Capability::Coding => "coding",
            Capability::Research => "research",
            Capability::Extraction => "extraction",
        }
    }
}

/// One task of a graph, as a client or the planner writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Unique within the graph: 1 to 64 letters, digits, `_`, `-` or `.`.
    #[schema(value_type = String, example = "research")]
    pub id: TaskId,
    /// A short human title; the id when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the model must do. `{{other_task_id}}` is replaced by that dependency's output.
    pub instructions: String,
    /// Ids of the tasks whose outputs this task needs.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub depends_on: Vec<TaskId>,
    /// Higher runs first among ready tasks (default 0).
    #[serde(default)]
    pub priority: i32,
    /// The kind of work, used for routing (default `general`).
    #[serde(default)]
    pub capability: Capability,
    /// What a good output must satisfy; checked by the judge when `verify` is on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub success_criteria: Vec<String>,
    /// A JSON Schema the output must match (the output must then be JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<serde_json::Value>,
    /// Whether the run fails when this task fails (default true).
    #[serde(default = "default_true")]
    pub critical: bool,
    /// Pin a model (`provider/model` or a catalogue id) instead of routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Retries of transient errors for this task (server default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Time limit for one attempt, in seconds (server default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// The most this task may spend, in dollars, over all its attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_limit_usd: Option<f64>,
}

fn default_true() -> bool {
    true
}

impl TaskSpec {
    /// A task with the given id and instructions and every other field at its default.
    pub fn new(id: TaskId, instructions: impl Into<String>) -> Self {
        Self {
            id,
            title: None,
            instructions: instructions.into(),
            depends_on: Vec::new(),
            priority: 0,
            capability: Capability::General,
            success_criteria: Vec::new(),
            output_schema: None,
            critical: true,
            model: None,
            max_retries: None,
            timeout_s: None,
            cost_limit_usd: None,
        }
    }

    /// The title, or the id when there is none.
    pub fn display_title(&self) -> &str {
        self.title.as_deref().unwrap_or(self.id.as_str())
    }
}

/// A task graph as sent by a client or produced by the planner, before validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// The tasks, in plan order (the tie-break among ready tasks of equal priority).
    pub tasks: Vec<TaskSpec>,
}

/// Limits on the size of a graph.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphLimits {
    /// The most tasks a graph may have.
    pub max_tasks: usize,
    /// The longest `instructions` accepted, in bytes.
    pub max_instructions_bytes: usize,
    /// The most dependencies one task may have.
    pub max_dependencies: usize,
}

impl Default for GraphLimits {
    fn default() -> Self {
        Self {
            max_tasks: 10_000,
            max_instructions_bytes: 64 * 1024,
            max_dependencies: 10_000,
        }
    }
}

/// One thing wrong with a graph.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The graph has no tasks.
    #[error("the graph has no tasks: give at least one")]
    Empty,
    /// The graph has more tasks than allowed.
    #[error("the graph has {count} tasks; at most {max} are allowed")]
    TooManyTasks {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A task id is malformed.
    #[error(transparent)]
    BadId(#[from] IdError),
    /// Two tasks share an id.
    #[error("task id `{0}` is used more than once: ids must be unique")]
    DuplicateId(TaskId),
    /// A task depends on an id that is not in the graph.
    #[error("task `{task}` depends on `{dependency}`, which is not a task in this graph")]
    UnknownDependency {
        /// The task with the bad dependency.
        task: TaskId,
        /// The id it names.
        dependency: TaskId,
    },
    /// A task depends on itself.
    #[error("task `{0}` depends on itself")]
    SelfDependency(TaskId),
    /// A task lists the same dependency twice.
    #[error("task `{task}` lists `{dependency}` more than once in depends_on")]
    DuplicateDependency {
        /// The task.
        task: TaskId,
        /// The repeated dependency.
        dependency: TaskId,
    },
    /// A task has too many dependencies.
    #[error("task `{task}` has {count} dependencies; at most {max} are allowed")]
    TooManyDependencies {
        /// The task.
        task: TaskId,
        /// How many it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The dependencies form a cycle.
    #[error("the dependencies form a cycle: {}", path.iter().map(TaskId::as_str).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// The cycle, starting and ending at the same task.
        path: Vec<TaskId>,
    },
    /// A task has blank instructions.
    #[error("task `{0}` has empty instructions: say what it must do")]
    EmptyInstructions(TaskId),
    /// A task's instructions are too long.
    #[error("task `{task}` has {bytes} bytes of instructions; at most {max} are allowed")]
    InstructionsTooLong {
        /// The task.
        task: TaskId,
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A task's `output_schema` is not a JSON Schema object.
    #[error("task `{0}` has an output_schema that is not a JSON object or boolean")]
    BadOutputSchema(TaskId),
    /// A number is out of range.
    #[error("task `{task}`: {message}")]
    BadValue {
        /// The task.
        task: TaskId,
        /// What is wrong.
        message: String,
    },
}

/// All that is wrong with a graph, so a client (or the planner, in a repair round)
/// can fix everything at once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct GraphErrors(pub Vec<GraphError>);

/// A validated task graph: ids unique, dependencies known, acyclic, within limits.
/// Tasks are indexed by their position in plan order. Each task's spec is shared
/// with the records of it ([`crate::journal::TaskRecord::spec`]) rather than copied
/// into each.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskGraph {
    tasks: Vec<Arc<TaskSpec>>,
    index: HashMap<TaskId, usize>,
    dependencies: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
}

impl TaskGraph {
    /// Validates a workflow into a graph, reporting every problem found.
    pub fn new(workflow: Workflow, limits: &GraphLimits) -> Result<TaskGraph, GraphErrors> {
        let tasks: Vec<Arc<TaskSpec>> = workflow.tasks.into_iter().map(Arc::new).collect();
        let mut errors = Vec::new();
        if tasks.is_empty() {
            return Err(GraphErrors(vec![GraphError::Empty]));
        }
        if tasks.len() > limits.max_tasks {
            return Err(GraphErrors(vec![GraphError::TooManyTasks {
                count: tasks.len(),
                max: limits.max_tasks,
            }]));
        }

        let mut index = HashMap::with_capacity(tasks.len());
        for (position, task) in tasks.iter().enumerate() {
            if index.insert(task.id.clone(), position).is_some() {
                errors.push(GraphError::DuplicateId(task.id.clone()));
            }
        }

        let mut dependencies = vec![Vec::new(); tasks.len()];
        let mut dependents = vec![Vec::new(); tasks.len()];
        for (position, task) in tasks.iter().enumerate() {
            check_task_fields(task, limits, &mut errors);
            if task.depends_on.len() > limits.max_dependencies {
                errors.push(GraphError::TooManyDependencies {
                    task: task.id.clone(),
                    count: task.depends_on.len(),
                    max: limits.max_dependencies,
                });
            }
            let mut seen = Vec::with_capacity(task.depends_on.len());
            for dependency in &task.depends_on {
                if dependency == &task.id {
                    errors.push(GraphError::SelfDependency(task.id.clone()));
                    continue;
                }
                let Some(&dependency_position) = index.get(dependency) else {
                    errors.push(GraphError::UnknownDependency {
                        task: task.id.clone(),
                        dependency: dependency.clone(),
                    });
                    continue;
                };
                if seen.contains(&dependency_position) {
                    errors.push(GraphError::DuplicateDependency {
                        task: task.id.clone(),
                        dependency: dependency.clone(),
                    });
                    continue;
                }
                seen.push(dependency_position);
                dependencies[position].push(dependency_position);
                dependents[dependency_position].push(position);
            }
        }
        if !errors.is_empty() {
            return Err(GraphErrors(errors));
        }

        let graph = TaskGraph {
            tasks,
            index,
            dependencies,
            dependents,
        };
        if let Some(path) = graph.find_cycle() {
            return Err(GraphErrors(vec![GraphError::Cycle { path }]));
        }
        Ok(graph)
    }

    /// A graph of one task. Its dependencies are dropped: a lone task has none.
    pub fn single(mut task: TaskSpec) -> TaskGraph {
        task.depends_on.clear();
        TaskGraph {
            index: HashMap::from([(task.id.clone(), 0)]),
            tasks: vec![Arc::new(task)],
            dependencies: vec![Vec::new()],
            dependents: vec![Vec::new()],
        }
    }

    /// The tasks in plan order.
    pub fn tasks(&self) -> &[Arc<TaskSpec>] {
        &self.tasks
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Always false: a valid graph has at least one task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The task at a position.
    pub fn task(&self, position: usize) -> &Arc<TaskSpec> {
        &self.tasks[position]
    }

    /// The position of a task id.
    pub fn position(&self, id: &TaskId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Positions of the tasks that the task at `position` depends on.
    pub fn dependencies(&self, position: usize) -> &[usize] {
        &self.dependencies[position]
    }

    /// Positions of the tasks that depend on the task at `position`.
    pub fn dependents(&self, position: usize) -> &[usize] {
        &self.dependents[position]
    }

    /// Positions in a topological order (dependencies first; plan order breaks ties).
    pub fn topological_order(&self) -> Vec<usize> {
        let mut remaining: Vec<usize> = self.dependencies.iter().map(Vec::len).collect();
        let mut ready: std::collections::BTreeSet<usize> =
            (0..self.len()).filter(|&p| remaining[p] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(position) = ready.pop_first() {
            order.push(position);
            for &dependent in &self.dependents[position] {
                remaining[dependent] -= 1;
                if remaining[dependent] == 0 {
                    ready.insert(dependent);
                }
            }
        }
        order
    }

    /// The longest chain of tasks, counted in tasks (1 for a graph with no edges).
    pub fn depth(&self) -> usize {
        let mut depth = vec![1usize; self.len()];
        for position in self.topological_order() {
            for &dependent in &self.dependents[position] {
                depth[dependent] = depth[dependent].max(depth[position] + 1);
            }
        }
        depth.into_iter().max().unwrap_or(0)
    }

    fn find_cycle(&self) -> Option<Vec<TaskId>> {
        // Iterative three-colour depth-first search, so deep chains cannot overflow the stack.
        #[derive(Clone, Copy, PartialEq)]
        enum Colour {
            White,
            Grey,
            Black,
        }
        let mut colour = vec![Colour::White; self.len()];
        for start in 0..self.len() {
            if colour[start] != Colour::White {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            colour[start] = Colour::Grey;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&dependency) = self.dependencies[node].get(*next) {
                    *next += 1;
                    match colour[dependency] {
                        Colour::White => {
                            colour[dependency] = Colour::Grey;
                            stack.push((dependency, 0));
                        }
                        Colour::Grey => {
                            let from = stack
                                .iter()
                                .position(|&(n, _)| n == dependency)
                                .unwrap_or(0);
                            let mut path: Vec<TaskId> = stack[from..]
                                .iter()
                                .map(|&(n, _)| self.tasks[n].id.clone())
                                .collect();
                            path.push(self.tasks[dependency].id.clone());
                            // The walk follows dependencies; report the cycle in execution order.
                            path.reverse();
                            return Some(path);
                        }
                        Colour::Black => {}
                    }
                } else {
                    colour[node] = Colour::Black;
                    stack.pop();
                }
            }
        }
        None
    }
}

fn check_task_fields(task: &TaskSpec, limits: &GraphLimits, errors: &mut Vec<GraphError>) {
    if task.instructions.trim().is_empty() {
        errors.push(GraphError::EmptyInstructions(task.id.clone()));
    } else if task.instructions.len() > limits.max_instructions_bytes {
        errors.push(GraphError::InstructionsTooLong {
            task: task.id.clone(),
            bytes: task.instructions.len(),
            max: limits.max_instructions_bytes,
        });
    }
    if let Some(schema) = &task.output_schema
        && !(schema.is_object() || schema.is_boolean())
    {
        errors.push(GraphError::BadOutputSchema(task.id.clone()));
    }
    if let Some(timeout) = task.timeout_s
        && !(timeout.is_finite() && timeout > 0.0)
    {
        errors.push(GraphError::BadValue {
            task: task.id.clone(),
            message: format!("timeout_s must be a positive number of seconds, got {timeout}"),
        });
    }
    if let Some(limit) = task.cost_limit_usd
        && !(limit.is_finite() && limit >= 0.0)
    {
        errors.push(GraphError::BadValue {
            task: task.id.clone(),
            message: format!("cost_limit_usd must be zero or more, got {limit}"),
        });
    }
}

/// Replaces each `{{task_id}}` in `instructions` with that task's output, for the ids
/// in `outputs`; other text (including unknown placeholders) is left as it is.
pub fn fill_placeholders(instructions: &str, outputs: &BTreeMap<&str, &str>) -> String {
    let mut filled = String::with_capacity(instructions.len());
    let mut rest = instructions;
    while let Some(open) = rest.find("{{") {
        filled.push_str(&rest[..open]);
        let after_open = &rest[open + 2..];
        match after_open.find("}}") {
            Some(close) => {
                let name = after_open[..close].trim();
                match outputs.get(name) {
                    Some(output) => filled.push_str(output),
                    None => filled.push_str(&rest[open..open + 2 + close + 2]),
                }
                rest = &after_open[close + 2..];
            }
            None => {
                filled.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    filled.push_str(rest);
    filled
}

#[cfg(test)]
mod tests;
