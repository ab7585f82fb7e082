//! A run from start to end: plan (or take the client's graph), schedule the tasks in
//! parallel under the run's limits, assemble one answer, and record the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_core::encoded::EncodedJson;
use baton_core::error::{ErrorCode, RunError};
use baton_core::event::{EventPayload, PlanPhase};
use baton_core::graph::{TaskGraph, TaskSpec};
use baton_core::ids::TaskId;
use baton_core::journal::{JournalError, RunState, TaskRecord};
use baton_core::request::{AssembleMode, RunOptions};
use baton_core::status::{CallKind, RunStatus, TaskStatus};
use baton_core::usage::RunUsage;
use baton_router::{Route, RouteRequest};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use time::OffsetDateTime;

use crate::call::{CallEnd, CallPlan, CallRefused, estimate_input_tokens, make_call};
use crate::ctx::{RunCtx, Write};
use crate::retry::RetryDecision;
use crate::schedule::{Dependencies, ReadyQueue, descendants};
use crate::task::{TaskEnd, run_task};

/// Why a run was stopped from outside its own flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A client cancelled it.
    Cancelled,
    /// It ran past its `timeout_s`.
    Timeout,
    /// The server is shutting down: the run stays unfinished and is resumed at the
    /// next start.
    Shutdown,
}

impl StopReason {
    /// How a run stopped for this reason ends; `None` for a shutdown, which leaves
    /// it unfinished, to be resumed.
    fn ending(self, options: &RunOptions) -> Option<(RunStatus, RunError)> {
        match self {
            StopReason::Cancelled => Some((
                RunStatus::Cancelled,
                RunError::new(ErrorCode::Cancelled, "the run was cancelled"),
            )),
            StopReason::Timeout => Some((
                RunStatus::Failed,
                RunError::new(
                    ErrorCode::RunTimeout,
                    format!(
                        "the run took longer than its timeout of {}s",
                        options.timeout_s.unwrap_or(0.0)
                    ),
                ),
            )),
            StopReason::Shutdown => None,
        }
    }
}

/// What the run starts from: a fresh request, or the journaled state of a run that
/// was interrupted.
#[derive(Debug)]
pub(crate) struct RunStart {
    /// The graph, when known (a client's workflow, or the stored plan on resume).
    pub(crate) graph: Option<TaskGraph>,
    /// Whether the graph came from the client (published as such) or was stored.
    pub(crate) graph_is_workflow: bool,
    /// Task rows already journaled (on resume).
    pub(crate) tasks: Vec<TaskRecord>,
}

/// Runs a run to its end. Returns `Ok(None)` when it was stopped for shutdown and left
/// unfinished on purpose; otherwise the final status.
pub(crate) async fn execute(
    ctx: Arc<RunCtx>,
    start: RunStart,
    stop: Arc<std::sync::Mutex<Option<StopReason>>>,
) -> Result<Option<RunStatus>, JournalError> {
    let began = Instant::now();
    // Not waited for: the first task's attempt row (or the planner's) follows.
    ctx.write_later(Write::default().with_run(|state| {
        state.status = RunStatus::Running;
        state.started_at.get_or_insert_with(OffsetDateTime::now_utc);
    }));

    let (graph, mut tasks) = match start.graph {
        Some(graph) if !start.tasks.is_empty() => (graph, start.tasks),
        Some(graph) => {
            let source = if start.graph_is_workflow {
                "workflow"
            } else {
                "plan"
            };
            let tasks = publish_plan(&ctx, &graph, source, false);
            (graph, tasks)
        }
        // Boxed: planning's state would otherwise be part of every run's future for
        // its whole life, planned or not (W4runs, see BENCHMARKS.md).
        None => match Box::pin(plan(&ctx)).await? {
            Planned::Graph { graph, fallback } => {
                let source = if fallback { "fallback" } else { "planner" };
                let tasks = publish_plan(&ctx, &graph, source, fallback);
                (graph, tasks)
            }
            Planned::Stopped => return stopped_while_planning(&ctx, &stop, began).await,
        },
    };

    let failure = schedule(&ctx, &graph, &mut tasks).await?;
    let stop_reason = *stop.lock().unwrap_or_else(|p| p.into_inner());
    if stop_reason == Some(StopReason::Shutdown) {
        // What is still being written lands before the store closes.
        ctx.flush().await?;
        return Ok(None);
    }

    let succeeded = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Succeeded)
        .count();
    let critical_failed = tasks
        .iter()
        .any(|t| t.status != TaskStatus::Succeeded && graph.task(t.position as usize).critical);
    let stopped = stop_reason.and_then(|reason| reason.ending(&ctx.options));
    let (status, error) = match (stopped, failure) {
        (Some((status, error)), _) => (status, Some(error)),
        (_, Some(error)) => (RunStatus::Failed, Some(error)),
        (_, None) if critical_failed => (
            RunStatus::Failed,
            Some(RunError::new(
                ErrorCode::TaskFailed,
                "a critical task failed",
            )),
        ),
        (_, None) if succeeded < tasks.len() => (RunStatus::Partial, None),
        (_, None) => (RunStatus::Succeeded, None),
    };

    let mut status = status;
    let mut error = error;
    let output = if matches!(status, RunStatus::Succeeded | RunStatus::Partial) {
        // Boxed, like planning: assembling is the run's last step, and its state
        // would otherwise be part of the run's future from the start.
        match Box::pin(assemble(&ctx, &graph, &tasks)).await? {
            Ok(output) => Some(output),
            Err(assembly_error) => {
                status = RunStatus::Failed;
                error = Some(assembly_error);
                None
            }
        }
    } else {
        None
    };

    finish(&ctx, &tasks, status, output, error, began.elapsed()).await?;
    Ok(Some(status))
}

/// Stores the plan and publishes `plan` (started, for workflows, and completed), and
/// gives the tasks' first records, all pending. Not waited for: the first task's
/// attempt row follows at once, and the run's commits land in order, so the plan is
/// durable before any task's call (and shares that commit's transaction instead of
/// taking one of its own). No task row is written yet: a task's row is first
/// written when it starts (or is skipped or cancelled), and until then the journal
/// lists it from the plan (`with_planned_tasks`): a wide plan costs no row per task
/// in the transaction before its first call (W2, W4, see BENCHMARKS.md).
fn publish_plan(ctx: &RunCtx, graph: &TaskGraph, source: &str, fallback: bool) -> Vec<TaskRecord> {
    let tasks: Vec<TaskRecord> = graph
        .tasks()
        .iter()
        .enumerate()
        .map(|(position, spec)| TaskRecord::pending(ctx.run_id, position as u32, Arc::clone(spec)))
        .collect();
    // The plan is stored as text, encoded once (a wide plan as a JSON tree is several
    // times its text) straight from the graph (`{"tasks": [...]}`, a workflow's
    // shape). A graph's tasks always encode.
    let tasks_of_plan = graph.tasks().to_vec();
    let plan_json = EncodedJson::encode(&PlanText {
        tasks: &tasks_of_plan,
    })
    .ok();
    let mut events = Vec::new();
    if source != "planner" && source != "fallback" {
        events.push(plan_event(PlanPhase::Started, None, false, source));
    }
    events.push(plan_event(
        PlanPhase::Completed,
        Some(tasks_of_plan),
        fallback,
        source,
    ));
    let write = Write::events(events).with_run(move |state| state.plan = plan_json);
    ctx.write_later(write);
    tasks
}

/// A plan as stored: a workflow's shape, borrowed from the graph.
#[derive(serde::Serialize)]
struct PlanText<'a> {
    tasks: &'a [Arc<TaskSpec>],
}

fn plan_event(
    phase: PlanPhase,
    tasks: Option<Vec<Arc<TaskSpec>>>,
    fallback: bool,
    source: &str,
) -> EventPayload {
    EventPayload::Plan {
        phase,
        tasks,
        fallback,
        source: Some(source.to_owned()),
    }
}

/// What planning ended with.
#[derive(Debug)]
enum Planned {
    /// A graph to run: the planner's, or the one-task fallback.
    Graph { graph: TaskGraph, fallback: bool },
    /// The run was stopped (cancelled, timed out, shut down) before a plan was
    /// accepted: no plan is journaled, so a fallback never stands in for a plan
    /// the run did not get to make.
    Stopped,
}

/// Ends a run that was stopped while it was planning: it has no tasks, and no plan is
/// journaled. A shutdown leaves it unfinished, to be planned afresh when resumed.
async fn stopped_while_planning(
    ctx: &RunCtx,
    stop: &std::sync::Mutex<Option<StopReason>>,
    began: Instant,
) -> Result<Option<RunStatus>, JournalError> {
    // The token fires only after a reason is set; a missing one is a cancellation.
    let reason = stop
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or(StopReason::Cancelled);
    let Some((status, error)) = reason.ending(&ctx.options) else {
        ctx.flush().await?;
        return Ok(None);
    };
    finish(ctx, &[], status, None, Some(error), began.elapsed()).await?;
    Ok(Some(status))
}

/// Asks the planner for a graph, repairing invalid answers up to the limit; falls back
/// to a one-task plan. Each rejected answer's problems are journaled in its attempt's
/// `error`. A run stopped before a plan is accepted gets no plan at all.
async fn plan(ctx: &RunCtx) -> Result<Planned, JournalError> {
    // Not waited for: the planner's attempt row follows.
    ctx.write_later(Write::events(vec![plan_event(
        PlanPhase::Started,
        None,
        false,
        "planner",
    )]));
    let prompt = ctx.prompt.clone().unwrap_or_default();
    let config = &ctx.engine.config;
    let mut request = baton_planner::plan_request(&prompt, &config.planner);
    let mut number = 0;
    let mut repairs = 0;
    let mut retries = 0;
    loop {
        let route = match route_run_call(
            ctx,
            CallKind::Plan,
            &request,
            ctx.options.planner_model.as_deref(),
        ) {
            Ok(route) => route,
            Err(reason) => {
                tracing::warn!(run.id = %ctx.run_id, %reason, "no planner model; using a one-task plan");
                break;
            }
        };
        number += 1;
        let plan = CallPlan {
            kind: CallKind::Plan,
            task_id: None,
            number,
            model: &route.chosen,
            request: &request,
            timeout: Duration::from_secs_f64(ctx.options.task_timeout_s),
            start: Write::default(),
        };
        let mut call = match make_call(ctx, plan).await {
            Ok(call) => call,
            Err(CallRefused::Journal(err)) => return Err(err),
            Err(CallRefused::Budget { .. } | CallRefused::Cancelled { .. }) => break,
        };
        // An answer is judged before its attempt is committed, so a rejected plan's
        // problems are journaled with the call that produced it, not only logged.
        let answer = match call.end {
            CallEnd::Done(completion) => {
                let parsed = baton_planner::parse_plan(&completion.text, &config.limits.graph);
                if let Err(err) = &parsed {
                    call.attempt.error = Some(format!("the plan was rejected: {err}"));
                }
                Ok((completion.text, parsed))
            }
            end => Err(end),
        };
        let (usage, cost_usd) = (call.usage, call.cost_usd);
        let write = Write {
            attempts: vec![call.attempt],
            ..Write::default()
        }
        .with_run(move |state| state.usage.record_call(&usage, cost_usd));
        // Not waited for: the next call's attempt row (a repair's, or the first
        // task's), or the run's end, follows.
        ctx.write_later(write);
        match answer {
            Ok((_, Ok(graph))) => {
                return Ok(Planned::Graph {
                    graph,
                    fallback: false,
                });
            }
            Ok((text, Err(err))) if repairs < config.planner.plan_repair_limit => {
                repairs += 1;
                tracing::warn!(run.id = %ctx.run_id, error = %err, "invalid plan; asking for a repair");
                request = baton_planner::repair_request(&prompt, &text, &err, &config.planner);
            }
            Ok((_, Err(err))) => {
                tracing::warn!(run.id = %ctx.run_id, error = %err, "invalid plan after repairs; using a one-task plan");
                break;
            }
            Err(CallEnd::Failed(err)) if err.is_transient() => {
                retries += 1;
                match config.retry.decide(
                    retries,
                    ctx.options.max_retries,
                    err.retry_after,
                    rand::random(),
                ) {
                    RetryDecision::RetryAfter(delay) => {
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = ctx.cancel.cancelled() => break,
                        }
                    }
                    RetryDecision::GiveUp => break,
                }
            }
            // A permanent failure or a cancelled call: no more plan calls.
            Err(_) => break,
        }
    }
    if ctx.cancel.is_cancelled() {
        return Ok(Planned::Stopped);
    }
    Ok(Planned::Graph {
        graph: baton_planner::fallback_plan(&prompt),
        fallback: true,
    })
}

fn route_run_call(
    ctx: &RunCtx,
    kind: CallKind,
    request: &baton_providers::provider::CompletionRequest,
    pinned: Option<&str>,
) -> Result<Route, String> {
    ctx.engine
        .router
        .route(&RouteRequest {
            kind,
            // `general` lets the role's capability (`[router.roles.*]`) decide:
            // reasoning for planning, writing for synthesis, by default.
            capability: baton_core::graph::Capability::General,
            pinned,
            input_tokens: estimate_input_tokens(request),
            max_output_tokens: request.max_output_tokens,
            budget_left_usd: ctx.budget_left(),
            profile: ctx.options.profile,
            exclude: &[],
        })
        .map_err(|err| err.to_string())
}

/// Runs the graph's tasks: ready tasks in parallel up to the run's concurrency, in
/// priority then plan order. Returns the run-level failure, if one stopped it.
async fn schedule(
    ctx: &RunCtx,
    graph: &TaskGraph,
    tasks: &mut [TaskRecord],
) -> Result<Option<RunError>, JournalError> {
    let mut queue = ReadyQueue::new(ctx.options.strategy);
    let mut dependencies = Dependencies::new(graph);
    let limit = queue.concurrency(ctx.options.max_concurrency);
    // On resume, finished work stays finished: a committed result is never redone.
    for (position, task) in tasks.iter().enumerate() {
        if task.status == TaskStatus::Succeeded {
            dependencies.succeed(graph, position);
        }
    }
    for (position, task) in tasks.iter_mut().enumerate() {
        if dependencies.is_free(position) && !task.status.is_terminal() {
            task.status = TaskStatus::Ready;
            queue.push(graph, position);
        }
    }

    let mut failure: Option<RunError> = None;
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < limit && failure.is_none() && !ctx.cancel.is_cancelled() {
            let Some(position) = queue.pop() else { break };
            let outputs: Vec<(TaskId, String)> = graph
                .dependencies(position)
                .iter()
                .filter_map(|&d| Some((tasks[d].task_id.clone(), tasks[d].output.clone()?)))
                .collect();
            let record = tasks[position].clone();
            // Boxed: a `FuturesUnordered` allocates a stub task the size of its
            // future, so each run would pay for one more task future than it runs.
            // Mapped rather than awaited in an `async` block, which would keep room
            // for the record it moved into `run_task` (W4, see BENCHMARKS.md).
            running.push(Box::pin(
                run_task(ctx, graph.task(position), record, outputs)
                    .map(move |(record, end)| (position, record, end)),
            ));
        }
        let Some((position, record, end)) = running.next().await else {
            break;
        };
        tasks[position] = record;
        match end {
            TaskEnd::Succeeded => {
                for ready in dependencies.succeed(graph, position) {
                    if !tasks[ready].status.is_terminal() {
                        tasks[ready].status = TaskStatus::Ready;
                        queue.push(graph, ready);
                    }
                }
            }
            TaskEnd::Failed | TaskEnd::BudgetExceeded => {
                skip_dependents(ctx, graph, tasks, position).await?;
                if matches!(end, TaskEnd::BudgetExceeded) {
                    failure.get_or_insert_with(|| {
                        RunError::new(
                            ErrorCode::BudgetExceeded,
                            format!(
                                "the run's budget of ${:.4} would have been exceeded",
                                ctx.options.budget_usd.unwrap_or(0.0)
                            ),
                        )
                    });
                    ctx.cancel.cancel();
                } else if ctx.options.fail_fast {
                    failure.get_or_insert_with(|| {
                        RunError::new(
                            ErrorCode::TaskFailed,
                            format!(
                                "task `{}` failed and fail_fast is on",
                                tasks[position].task_id
                            ),
                        )
                    });
                    ctx.cancel.cancel();
                }
            }
            TaskEnd::Cancelled => {}
            TaskEnd::Journal(err) => return Err(err),
        }
    }

    // Whatever never started was stopped before it could.
    let now = OffsetDateTime::now_utc();
    let unstarted: Vec<TaskRecord> = tasks
        .iter_mut()
        .filter(|t| !t.status.is_terminal())
        .map(|t| {
            t.status = TaskStatus::Cancelled;
            t.finished_at = Some(now);
            t.clone()
        })
        .collect();
    if !unstarted.is_empty() {
        ctx.write(Write {
            tasks: unstarted,
            ..Write::default()
        })
        .await?;
    }
    Ok(failure)
}

/// Marks every task downstream of a failed one as skipped.
async fn skip_dependents(
    ctx: &RunCtx,
    graph: &TaskGraph,
    tasks: &mut [TaskRecord],
    failed: usize,
) -> Result<(), JournalError> {
    let now = OffsetDateTime::now_utc();
    let failed_id = tasks[failed].task_id.clone();
    let positions: Vec<usize> = descendants(graph, failed)
        .into_iter()
        .filter(|&p| !tasks[p].status.is_terminal())
        .collect();
    let skipped: Vec<TaskRecord> = positions
        .into_iter()
        .map(|p| {
            tasks[p].status = TaskStatus::Skipped;
            tasks[p].error = Some(format!("not run: dependency `{failed_id}` failed"));
            tasks[p].finished_at = Some(now);
            tasks[p].clone()
        })
        .collect();
    if !skipped.is_empty() {
        ctx.write(Write {
            tasks: skipped,
            ..Write::default()
        })
        .await?;
    }
    Ok(())
}

/// Turns the succeeded tasks' outputs into one answer.
async fn assemble(
    ctx: &RunCtx,
    graph: &TaskGraph,
    tasks: &[TaskRecord],
) -> Result<Result<String, RunError>, JournalError> {
    let outputs: Vec<(&TaskSpec, &str)> = tasks
        .iter()
        .filter_map(|t| Some((&**graph.task(t.position as usize), t.output.as_deref()?)))
        .collect();
    let strategy = match (outputs.len(), ctx.options.assemble) {
        (1, _) => "single",
        (_, AssembleMode::Concat) => "concat",
        (_, AssembleMode::Synthesize) => "synthesize",
    };
    // Not waited for: the synthesis call's attempt row or the run's end follows.
    ctx.write_later(Write::events(vec![EventPayload::AssembleStart {
        strategy: strategy.to_owned(),
    }]));
    match strategy {
        "single" => Ok(Ok(outputs[0].1.to_owned())),
        "concat" => Ok(Ok(concat(&outputs))),
        _ => Ok(synthesize(ctx, &outputs).await?.or_else(|reason| {
            tracing::warn!(run.id = %ctx.run_id, %reason, "synthesis failed; joining the outputs instead");
            Ok(concat(&outputs))
        })),
    }
}

fn concat(outputs: &[(&TaskSpec, &str)]) -> String {
    outputs
        .iter()
        .map(|(spec, output)| format!("## {}\n\n{}", spec.display_title(), output.trim()))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// One synthesis call, with retries of transient failures.
async fn synthesize(
    ctx: &RunCtx,
    outputs: &[(&TaskSpec, &str)],
) -> Result<Result<String, String>, JournalError> {
    let config = &ctx.engine.config;
    let request = baton_planner::synthesis_request(
        ctx.prompt.as_deref(),
        outputs,
        config.synthesis_max_output_tokens,
    );
    let mut retries = 0;
    let mut number = 0;
    loop {
        let route = match route_run_call(ctx, CallKind::Synthesis, &request, None) {
            Ok(route) => route,
            Err(reason) => return Ok(Err(reason)),
        };
        number += 1;
        let plan = CallPlan {
            kind: CallKind::Synthesis,
            task_id: None,
            number,
            model: &route.chosen,
            request: &request,
            timeout: Duration::from_secs_f64(ctx.options.task_timeout_s),
            start: Write::default(),
        };
        let call = match make_call(ctx, plan).await {
            Ok(call) => call,
            Err(CallRefused::Journal(err)) => return Err(err),
            Err(CallRefused::Budget { .. }) => return Ok(Err("over budget".to_owned())),
            Err(CallRefused::Cancelled { .. }) => return Ok(Err("cancelled".to_owned())),
        };
        let (usage, cost_usd) = (call.usage, call.cost_usd);
        let write = Write {
            attempts: vec![call.attempt],
            ..Write::default()
        }
        .with_run(move |state| state.usage.record_call(&usage, cost_usd));
        ctx.write(write).await?;
        match call.end {
            CallEnd::Done(completion) if !completion.text.trim().is_empty() => {
                return Ok(Ok(completion.text));
            }
            CallEnd::Done(_) => return Ok(Err("the synthesis was empty".to_owned())),
            CallEnd::Failed(err) if err.is_transient() => {
                retries += 1;
                match config.retry.decide(
                    retries,
                    ctx.options.max_retries,
                    err.retry_after,
                    rand::random(),
                ) {
                    RetryDecision::RetryAfter(delay) => tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = ctx.cancel.cancelled() => return Ok(Err("cancelled".to_owned())),
                    },
                    RetryDecision::GiveUp => return Ok(Err(err.message)),
                }
            }
            CallEnd::Failed(err) => return Ok(Err(err.message)),
            CallEnd::Cancelled => return Ok(Err("cancelled".to_owned())),
        }
    }
}

/// Records the end: the run's final state with `final` and `stats`, in one commit.
pub(crate) async fn finish(
    ctx: &RunCtx,
    tasks: &[TaskRecord],
    status: RunStatus,
    output: Option<String>,
    error: Option<RunError>,
    elapsed: Duration,
) -> Result<(), JournalError> {
    let stats = stats_event(&ctx.usage(), tasks, elapsed);
    let final_event = EventPayload::Final {
        status,
        output: output.clone(),
        error: error.clone(),
    };
    let write = Write::events(vec![final_event, stats]).with_run(move |state: &mut RunState| {
        state.status = status;
        state.output = output;
        state.error = error;
        state.finished_at = Some(OffsetDateTime::now_utc());
    });
    ctx.write(write).await?;
    Ok(())
}

pub(crate) fn stats_event(
    usage: &RunUsage,
    tasks: &[TaskRecord],
    elapsed: Duration,
) -> EventPayload {
    let count = |status: TaskStatus| tasks.iter().filter(|t| t.status == status).count() as u64;
    EventPayload::Stats {
        tasks_total: tasks.len() as u64,
        tasks_succeeded: count(TaskStatus::Succeeded),
        tasks_failed: count(TaskStatus::Failed),
        llm_calls: usage.llm_calls,
        tokens_in: usage.tokens_in,
        tokens_out: usage.tokens_out,
        cost_usd: usage.cost_usd,
        duration_ms: elapsed.as_millis() as u64,
    }
}
