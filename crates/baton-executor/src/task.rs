//! One task from start to end: route it, call the model, retry transient failures,
//! verify the output, repair it, fall back to the next model, or fail.

use std::time::Duration;

use baton_core::event::{Check, EventPayload};
use baton_core::graph::TaskSpec;
use baton_core::journal::{JournalError, TaskRecord};
use baton_core::status::{AttemptStatus, CallKind, TaskStatus};
use baton_providers::provider::{CompletionRequest, ErrorKind};
use baton_router::{ModelRef, Route, RouteRequest, RoutedModel};
use time::OffsetDateTime;

use crate::call::{
    CallEnd, CallPlan, CallRefused, CallResult, estimate_input_tokens, fit_to_model, make_call,
    task_started,
};
use crate::ctx::{RunCtx, Write};
use crate::retry::RetryDecision;

/// How a task ended.
#[derive(Debug)]
pub(crate) enum TaskEnd {
    /// Its output passed verification.
    Succeeded,
    /// Every model failed; the message says why.
    Failed,
    /// Its worst-case cost would have broken the budget.
    BudgetExceeded,
    /// The run was stopped while it ran.
    Cancelled,
    /// The journal failed.
    Journal(JournalError),
}

/// Runs one task and returns its final record and how it ended.
///
/// Not an `async fn`: the record goes into the runner before the future is made, so
/// the future has room for it once instead of twice (W4, see BENCHMARKS.md).
pub(crate) fn run_task<'a>(
    ctx: &'a RunCtx,
    spec: &'a TaskSpec,
    record: TaskRecord,
    dependency_outputs: Vec<(baton_core::ids::TaskId, String)>,
) -> impl Future<Output = (TaskRecord, TaskEnd)> + 'a {
    let mut runner = TaskRunner {
        ctx,
        spec,
        task: record,
        attempt_no: 0,
        judge_no: 0,
        carried: Vec::new(),
    };
    async move {
        let end = runner.run(&dependency_outputs).await;
        (runner.task, end)
    }
}

struct TaskRunner<'a> {
    ctx: &'a RunCtx,
    spec: &'a TaskSpec,
    task: TaskRecord,
    attempt_no: u32,
    judge_no: u32,
    /// Events decided but not yet committed (a `decision`, a `task_failed` with its
    /// fallback): they go in with the next attempt's start, or with whatever the
    /// task commits first, so choosing a model costs no commit of its own.
    carried: Vec<EventPayload>,
}

/// What a call on a model leads to (see `TaskRunner::after_call`).
enum Next {
    /// Call the model again: a retry after its delay, or a repair.
    Again,
    /// Leave the model.
    Stop(ModelEnd),
}

impl Next {
    /// The task ends.
    fn end(end: TaskEnd) -> Self {
        Next::Stop(ModelEnd::End(end))
    }
}

/// What carries over from one call on a model to the next.
struct Tries {
    /// Transient failures retried so far.
    retries: u32,
    /// The most retries of transient failures (the task's, else the run's).
    max_retries: u32,
    /// Repairs asked for so far.
    repairs: u32,
}

/// What happened on one model, when it did not end the task.
enum ModelEnd {
    /// Move to the next model; `reason` says why this one was left, and
    /// `larger_window` asks for a model with a larger context window (the prompt
    /// did not fit this one's).
    Fallback { reason: String, larger_window: bool },
    /// The task ended.
    End(TaskEnd),
}

impl ModelEnd {
    fn fallback(reason: impl Into<String>) -> Self {
        ModelEnd::Fallback {
            reason: reason.into(),
            larger_window: false,
        }
    }
}

impl TaskRunner<'_> {
    async fn run(&mut self, dependency_outputs: &[(baton_core::ids::TaskId, String)]) -> TaskEnd {
        let config = &self.ctx.engine.config;
        let deps: Vec<_> = dependency_outputs
            .iter()
            .map(|(id, out)| (id, out.as_str()))
            .collect();
        let mut base = baton_planner::task_request(
            self.spec,
            self.ctx.prompt.as_deref(),
            &deps,
            config.task_max_output_tokens,
        );
        base.stream = self.ctx.options.stream;
        let max_output_tokens = base.max_output_tokens;

        if let Some(end) = self.verify_recovered_output().await {
            return end;
        }
        let mut tried: Vec<ModelRef> = Vec::new();
        let mut route = match self.route(&base, &tried) {
            Ok(route) => route,
            Err(message) => return self.unroutable(message, &base, &tried).await,
        };
        loop {
            self.carried.push(EventPayload::Decision {
                task_id: self.task.task_id.clone(),
                provider: route.chosen.provider_name.clone(),
                model: route.chosen.model.clone(),
                score: route.score,
                // Moved, not copied: nothing else reads them, and the route lives as
                // long as the task's call.
                candidates: std::mem::take(&mut route.candidates),
            });
            // Fitted in place for this model's calls, so that none copies it; the
            // output tokens asked for are restored for routing the next model.
            fit_to_model(&mut base, &route.chosen);
            let (reason, larger_window) = match self.run_on_model(&route, &base).await {
                ModelEnd::End(end) => return end,
                ModelEnd::Fallback {
                    reason,
                    larger_window,
                } => (reason, larger_window),
            };
            base.max_output_tokens = max_output_tokens;
            // Choosing the next model is a plain function: what it takes (the model
            // left, the next route) is gone before the awaits below, where it would
            // take room in this future beside the call's (W4, see BENCHMARKS.md).
            if let Some(reason) =
                self.fall_back(&mut route, &base, &mut tried, reason, larger_window)
            {
                return self.unroutable(reason, &base, &tried).await;
            }
        }
    }

    /// After `route`'s model failed for `reason`: routes the next model (a larger
    /// window's when the prompt did not fit) and makes it `route`, carrying the
    /// `task_failed` that names it. Gives `reason` back when no model is left.
    fn fall_back(
        &mut self,
        route: &mut Route,
        base: &CompletionRequest,
        tried: &mut Vec<ModelRef>,
        reason: String,
        larger_window: bool,
    ) -> Option<String> {
        let left = route.chosen.model_ref();
        tried.push(left.clone());
        let next = if larger_window {
            self.route_larger_than(base, tried, &left)
        } else {
            self.route(base, tried)
        };
        let Ok(next) = next else {
            return Some(reason);
        };
        self.carried.push(EventPayload::TaskFailed {
            task_id: self.task.task_id.clone(),
            error: reason,
            fallback: Some(format!(
                "{}/{}",
                next.chosen.provider_name, next.chosen.model
            )),
        });
        *route = next;
        None
    }

    /// On resume, a task whose call's output was committed but not yet verified
    /// (the process stopped in between) is verified again rather than called
    /// again. `None` when there is no such output, or it fails verification (the
    /// task then runs afresh).
    async fn verify_recovered_output(&mut self) -> Option<TaskEnd> {
        let output = self.task.output.clone()?;
        let verdict = match self.verify(&output).await {
            Ok(verdict) => verdict,
            Err(end) => return Some(end),
        };
        let verified = EventPayload::TaskVerified {
            task_id: self.task.task_id.clone(),
            passed: verdict.passed,
            score: verdict.score,
            checks: verdict.checks,
        };
        if !verdict.passed {
            self.task.output = None;
            let write = Write {
                tasks: vec![self.task.clone()],
                events: vec![verified],
                ..Write::default()
            };
            return match self.ctx.write(write).await {
                Ok(_) => None,
                Err(err) => Some(TaskEnd::Journal(err)),
            };
        }
        Some(self.succeed(output, verified, Write::default()))
    }

    /// Submits the task's verified output and its `task_verified` event, with
    /// whatever else `write` holds, as one commit (see `RunCtx::write_later`).
    fn succeed(&mut self, output: String, verified: EventPayload, mut write: Write) -> TaskEnd {
        self.task.status = TaskStatus::Succeeded;
        self.task.output = Some(output);
        self.task.error = None;
        self.task.finished_at = Some(OffsetDateTime::now_utc());
        write.tasks.push(self.task.clone());
        write.events.push(verified);
        // Not waited for: what depends on this success (a dependent's call, the run's
        // end) waits for a later commit of the run, which lands after this one.
        self.ctx.write_later(write);
        TaskEnd::Succeeded
    }

    /// No model can take the task: because of the budget (the run ends
    /// `budget_exceeded`), or for the router's reasons.
    async fn unroutable(
        &mut self,
        message: String,
        request: &CompletionRequest,
        tried: &[ModelRef],
    ) -> TaskEnd {
        if self.over_budget_only(request, tried) {
            return self.budget_exceeded().await;
        }
        self.fail(message, None).await
    }

    /// Whether some model could take the task were it not for the budget.
    fn over_budget_only(&self, request: &CompletionRequest, tried: &[ModelRef]) -> bool {
        self.ctx.budget_left().is_some() && self.route_with_budget(request, tried, None).is_ok()
    }

    async fn budget_exceeded(&mut self) -> TaskEnd {
        let message = "every model that could take this task might cost more than is left of the run's budget".to_owned();
        match self.fail(message, None).await {
            TaskEnd::Failed => TaskEnd::BudgetExceeded,
            other => other,
        }
    }

    fn route(&self, request: &CompletionRequest, tried: &[ModelRef]) -> Result<Route, String> {
        self.route_with_budget(request, tried, self.ctx.budget_left())
    }

    /// Routes to a model whose context window is larger than `overflowed`'s.
    fn route_larger_than(
        &self,
        request: &CompletionRequest,
        tried: &[ModelRef],
        overflowed: &ModelRef,
    ) -> Result<Route, String> {
        let budget_left = self.ctx.budget_left();
        self.ctx
            .engine
            .router
            .route_with_larger_window(&self.route_request(request, tried, budget_left), overflowed)
            .map_err(|err| err.to_string())
    }

    fn route_with_budget(
        &self,
        request: &CompletionRequest,
        tried: &[ModelRef],
        budget_left_usd: Option<f64>,
    ) -> Result<Route, String> {
        self.ctx
            .engine
            .router
            .route(&self.route_request(request, tried, budget_left_usd))
            .map_err(|err| err.to_string())
    }

    fn route_request<'r>(
        &'r self,
        request: &CompletionRequest,
        tried: &'r [ModelRef],
        budget_left_usd: Option<f64>,
    ) -> RouteRequest<'r> {
        RouteRequest {
            kind: CallKind::Task,
            capability: self.spec.capability,
            pinned: self.spec.model.as_deref(),
            input_tokens: estimate_input_tokens(request),
            max_output_tokens: request.max_output_tokens,
            budget_left_usd,
            profile: self.ctx.options.profile,
            exclude: tried,
        }
    }

    /// Attempts, retries and repairs on one model.
    async fn run_on_model(&mut self, route: &Route, base: &CompletionRequest) -> ModelEnd {
        let model = &route.chosen;
        let options = &self.ctx.options;
        let timeout =
            Duration::from_secs_f64(self.spec.timeout_s.unwrap_or(options.task_timeout_s));
        // The request is `base` until a repair replaces it. Boxed: it is kept across
        // every call, and most tasks never repair (W4, see BENCHMARKS.md).
        let mut repaired: Option<Box<CompletionRequest>> = None;
        let mut tries = Tries {
            retries: 0,
            max_retries: self.spec.max_retries.unwrap_or(options.max_retries),
            repairs: 0,
        };
        let mut refused = loop {
            self.attempt_no += 1;
            let carried = std::mem::take(&mut self.carried);
            let started = task_started(&self.task, model);
            // Only its start time is kept across the call (the rest is made again
            // after it): a task's future is what a task in flight costs (W4).
            let started_at = started.started_at;
            let start_event = EventPayload::TaskStart {
                task_id: self.task.task_id.clone(),
                attempt: self.attempt_no,
                provider: model.provider_name.clone(),
                model: model.model.clone(),
            };
            let plan = CallPlan {
                kind: CallKind::Task,
                task_id: Some(&self.task.task_id),
                number: self.attempt_no,
                model,
                request: repaired.as_deref().unwrap_or(base),
                timeout,
                start: Write {
                    tasks: vec![started],
                    events: carried.into_iter().chain([start_event]).collect(),
                    ..Write::default()
                },
            };
            // No arm of this `match` awaits: its result would keep room in this
            // future beside the awaited one's (W4, see BENCHMARKS.md).
            let call = match make_call(self.ctx, plan).await {
                Ok(call) => call,
                Err(refused) => break refused,
            };
            // The rest is a function of its own, so that its state and the call's
            // share room in this future instead of taking room side by side.
            match self
                .after_call(model, call, started_at, &mut tries, base, &mut repaired)
                .await
            {
                Next::Again => {}
                Next::Stop(end) => return end,
            }
        };
        // Nothing was committed: what was carried goes in with the end, without the
        // start of the attempt that never began.
        self.carried = refused.take_unwritten();
        self.carried
            .retain(|event| !matches!(event, EventPayload::TaskStart { .. }));
        ModelEnd::End(self.refused(refused).await)
    }

    /// What a call on a model leads to: its attempt journaled, then a retry, a
    /// repair, a fallback, or the task's end.
    ///
    /// Not an `async fn`: the call is taken apart and the task's record updated before
    /// the future is made, so the future has no room for them beside its own state.
    /// The record becomes the one the call's start committed (`task_started`, with
    /// the start time it had).
    fn after_call<'s>(
        &'s mut self,
        model: &'s RoutedModel,
        call: CallResult,
        started_at: Option<OffsetDateTime>,
        tries: &'s mut Tries,
        base: &'s CompletionRequest,
        repaired: &'s mut Option<Box<CompletionRequest>>,
    ) -> impl Future<Output = Next> + 's {
        let CallResult {
            end,
            attempt,
            usage,
            cost_usd,
            latency,
        } = call;
        self.task = TaskRecord {
            started_at,
            ..task_started(&self.task, model)
        };
        self.task.usage.record_call(&usage, cost_usd);
        let mut write = Write {
            attempts: vec![attempt],
            ..Write::default()
        }
        .with_run(move |state| state.usage.record_call(&usage, cost_usd));
        async move {
            let config = &self.ctx.engine.config;
            let completion = match end {
                CallEnd::Done(completion) => completion,
                CallEnd::Cancelled => {
                    return Next::end(self.cancelled(write.attempts).await);
                }
                CallEnd::Failed(err) => {
                    let mut reason = err.message.clone();
                    if err.is_transient() {
                        tries.retries += 1;
                        let unit: f64 = rand::random();
                        if let RetryDecision::RetryAfter(delay) = config.retry.decide(
                            tries.retries,
                            tries.max_retries,
                            err.retry_after,
                            unit,
                        ) {
                            // A model whose breaker opened with this failure is left
                            // now, not retried into (at most one probe goes through).
                            if self
                                .ctx
                                .engine
                                .router
                                .try_admit(&model.provider_name, &model.model)
                            {
                                write.tasks.push(self.task.clone());
                                write.events.push(EventPayload::TaskRetry {
                                    task_id: self.task.task_id.clone(),
                                    attempt: self.attempt_no,
                                    delay_ms: delay.as_millis() as u64,
                                    error: err.message.clone(),
                                });
                                // Not waited for: the next try's attempt row follows.
                                self.ctx.write_later(write);
                                tokio::select! {
                                    () = tokio::time::sleep(delay) => return Next::Again,
                                    () = self.ctx.cancel.cancelled() => {
                                        return Next::end(self.cancelled(Vec::new()).await);
                                    }
                                }
                            }
                            reason = format!(
                                "{reason} (the circuit breaker of {}/{} is open)",
                                model.provider_name, model.model
                            );
                        }
                    }
                    write.tasks.push(self.task.clone());
                    // Not waited for: the next model's attempt row, or the task's
                    // end, follows.
                    self.ctx.write_later(write);
                    return Next::Stop(ModelEnd::Fallback {
                        larger_window: err.kind == ErrorKind::ContextTooLong,
                        reason,
                    });
                }
            };

            let output = completion.text;
            // The output is journaled with its artifact, before verification: a
            // restart during the judge's call verifies it again instead of paying
            // for the task's call twice.
            self.task.output = Some(output.clone());
            write.events.push(EventPayload::TaskArtifact {
                task_id: self.task.task_id.clone(),
                output: output.clone(),
                usage,
                cost_usd,
                latency_ms: latency.as_millis() as u64,
            });
            // Without a judge the verdict needs no call, and is committed with the
            // artifact; a judge's call first needs the artifact committed.
            let checks = baton_verifier::check_output(self.spec, &output, &config.verify);
            let verdict = if self.needs_judge(&checks) {
                write.tasks.push(self.task.clone());
                // Not waited for: the judge's attempt row follows, and lands after it.
                self.ctx.write_later(std::mem::take(&mut write));
                // Boxed: the judge's state would otherwise be part of every task's
                // future for its whole life, judged or not (see BENCHMARKS.md, W4).
                let judgement = match Box::pin(self.judge(&output)).await {
                    Ok(judgement) => judgement,
                    Err(end) => return Next::end(end),
                };
                baton_verifier::verdict(checks, judgement.as_ref(), &config.verify)
            } else {
                baton_verifier::verdict(checks, None, &config.verify)
            };
            let verified = EventPayload::TaskVerified {
                task_id: self.task.task_id.clone(),
                passed: verdict.passed,
                score: verdict.score,
                checks: verdict.checks.clone(),
            };
            if verdict.passed {
                return Next::end(self.succeed(output, verified, write));
            }
            let failed: Vec<Check> = verdict.checks.into_iter().filter(|c| !c.passed).collect();
            let reason = describe_failed_checks(&failed);
            let mut events = vec![verified];
            let repair = tries.repairs < self.ctx.options.repair_limit;
            if repair {
                tries.repairs += 1;
                events.push(EventPayload::TaskRepaired {
                    task_id: self.task.task_id.clone(),
                    attempt: self.attempt_no + 1,
                    reason: reason.clone(),
                });
            }
            self.task.output = None;
            write.tasks.push(self.task.clone());
            write.events.extend(events);
            // Not waited for: the repair's or the next model's attempt row, or the
            // task's end, follows.
            self.ctx.write_later(write);
            if !repair {
                return Next::Stop(ModelEnd::fallback(format!(
                    "the output failed verification: {reason}"
                )));
            }
            *repaired = Some(Box::new(baton_verifier::repair_request(
                base, &output, &failed,
            )));
            Next::Again
        }
    }

    /// Whether a model must judge an output that passed these checks: when the run
    /// verifies, the task has success criteria, and every check passed.
    fn needs_judge(&self, checks: &[Check]) -> bool {
        self.ctx.options.verify
            && !self.spec.success_criteria.is_empty()
            && checks.iter().all(|c| c.passed)
    }

    /// Checks the output and, when asked to, has a model judge it.
    async fn verify(&mut self, output: &str) -> Result<baton_verifier::Verdict, TaskEnd> {
        let config = &self.ctx.engine.config.verify;
        let checks = baton_verifier::check_output(self.spec, output, config);
        let judgement = if self.needs_judge(&checks) {
            // Boxed, as in `run_on_model`.
            Box::pin(self.judge(output)).await?
        } else {
            None
        };
        Ok(baton_verifier::verdict(checks, judgement.as_ref(), config))
    }

    /// One judge call; a judge that cannot answer leaves the output unjudged rather
    /// than failing a good output for the judge's sake.
    async fn judge(&mut self, output: &str) -> Result<Option<baton_verifier::Judgement>, TaskEnd> {
        let request = baton_verifier::judge_request(self.spec, output);
        let route = self.ctx.engine.router.route(&RouteRequest {
            kind: CallKind::Judge,
            // The judge's role (`[router.roles.judge]`) names its capability.
            capability: baton_core::graph::Capability::General,
            pinned: None,
            input_tokens: estimate_input_tokens(&request),
            max_output_tokens: request.max_output_tokens,
            budget_left_usd: self.ctx.budget_left(),
            profile: self.ctx.options.profile,
            exclude: &[],
        });
        let Ok(route) = route else {
            return Ok(None);
        };
        self.judge_no += 1;
        let plan = CallPlan {
            kind: CallKind::Judge,
            task_id: Some(&self.task.task_id),
            number: self.judge_no,
            model: &route.chosen,
            request: &request,
            timeout: Duration::from_secs_f64(self.ctx.options.task_timeout_s),
            start: Write::default(),
        };
        let call = match make_call(self.ctx, plan).await {
            Ok(call) => call,
            Err(CallRefused::Budget { .. }) => return Ok(None),
            Err(CallRefused::Cancelled { .. }) => return Err(self.cancelled(Vec::new()).await),
            Err(CallRefused::Journal(err)) => return Err(TaskEnd::Journal(err)),
        };
        self.task.usage.record_call(&call.usage, call.cost_usd);
        let (usage, cost_usd) = (call.usage, call.cost_usd);
        let cancelled = call.attempt.status == AttemptStatus::Cancelled;
        let write = Write {
            attempts: vec![call.attempt],
            tasks: vec![self.task.clone()],
            ..Write::default()
        }
        .with_run(move |state| state.usage.record_call(&usage, cost_usd));
        // Not waited for: the task's end, or its next attempt row, follows.
        self.ctx.write_later(write);
        if cancelled {
            return Err(self.cancelled(Vec::new()).await);
        }
        Ok(match call.end {
            CallEnd::Done(completion) => baton_verifier::parse_judgement(&completion.text).ok(),
            CallEnd::Failed(_) | CallEnd::Cancelled => None,
        })
    }

    /// Ends the task when its call was not made.
    async fn refused(&mut self, refused: CallRefused) -> TaskEnd {
        match refused {
            CallRefused::Budget { worst_case_usd, .. } => {
                let message = format!(
                    "the next call could cost up to ${worst_case_usd:.4}, more than is left of the run's budget"
                );
                match self.fail(message, None).await {
                    TaskEnd::Failed => TaskEnd::BudgetExceeded,
                    other => other,
                }
            }
            CallRefused::Cancelled { .. } => self.cancelled(Vec::new()).await,
            CallRefused::Journal(err) => TaskEnd::Journal(err),
        }
    }

    async fn fail(&mut self, error: String, fallback: Option<String>) -> TaskEnd {
        self.task.status = TaskStatus::Failed;
        // A rejected output is in its `task_artifact` event; the task has none.
        self.task.output = None;
        self.task.error = Some(error.clone());
        self.task.finished_at = Some(OffsetDateTime::now_utc());
        let mut events = std::mem::take(&mut self.carried);
        events.push(EventPayload::TaskFailed {
            task_id: self.task.task_id.clone(),
            error,
            fallback,
        });
        let write = Write {
            tasks: vec![self.task.clone()],
            events,
            ..Write::default()
        };
        match self.ctx.write(write).await {
            Ok(_) => TaskEnd::Failed,
            Err(err) => TaskEnd::Journal(err),
        }
    }

    async fn cancelled(&mut self, attempts: Vec<baton_core::journal::AttemptRecord>) -> TaskEnd {
        self.task.status = TaskStatus::Cancelled;
        self.task.finished_at = Some(OffsetDateTime::now_utc());
        let write = Write {
            tasks: vec![self.task.clone()],
            attempts,
            events: std::mem::take(&mut self.carried),
            ..Write::default()
        };
        match self.ctx.write(write).await {
            Ok(_) => TaskEnd::Cancelled,
            Err(err) => TaskEnd::Journal(err),
        }
    }
}

fn describe_failed_checks(failed: &[Check]) -> String {
    failed
        .iter()
        .map(|check| match &check.detail {
            Some(detail) => format!("{}: {detail}", check.name),
            None => check.name.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
