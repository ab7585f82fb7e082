//! One model call under the attempt protocol: the attempt row (and the caller's
//! start events) are committed before the call; the finished attempt is handed back
//! for the caller to commit together with the task's new state and its events.

use std::time::{Duration, Instant};

use baton_core::event::EventPayload;
use baton_core::ids::{AttemptId, TaskId};
use baton_core::journal::{AttemptRecord, JournalError, TaskRecord};
use baton_core::status::{AttemptStatus, CallKind};
use baton_core::usage::{Usage, estimate_tokens};
use baton_providers::provider::{
    Completion, CompletionRequest, ErrorKind, ProviderError, TimeoutKind,
};
use baton_router::{CallOutcome, RateLimitHint, RoutedModel};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::ctx::{RunCtx, Write};

/// A call to make.
#[derive(Debug)]
pub(crate) struct CallPlan<'a> {
    pub(crate) kind: CallKind,
    pub(crate) task_id: Option<&'a TaskId>,
    /// The attempt's number within its task (or its kind, for run-level calls).
    pub(crate) number: u32,
    pub(crate) model: &'a RoutedModel,
    /// The request. One already fitted to `model` ([`fit_to_model`]) is sent as it
    /// is; any other is copied and fitted for the call.
    pub(crate) request: &'a CompletionRequest,
    pub(crate) timeout: Duration,
    /// Extra writes committed with the attempt row (e.g. `task_start` and the task
    /// moving to `running`).
    pub(crate) start: Write,
}

/// Sets a request's model to `model`'s and caps its output tokens at the model's
/// most, as a call to that model sends it. A caller that calls the same model with
/// the same request again fits it once, and no call copies it.
pub(crate) fn fit_to_model(request: &mut CompletionRequest, model: &RoutedModel) {
    if request.model != model.model {
        request.model.clone_from(&model.model);
    }
    request.max_output_tokens = request.max_output_tokens.min(output_cap(model));
}

fn is_fitted(request: &CompletionRequest, model: &RoutedModel) -> bool {
    request.model == model.model && request.max_output_tokens <= output_cap(model)
}

/// The most output tokens a call to `model` asks for (at least one).
fn output_cap(model: &RoutedModel) -> u32 {
    model.max_output_tokens.max(1)
}

/// How a call ended.
#[derive(Debug)]
pub(crate) enum CallEnd {
    /// The call returned output.
    Done(Completion),
    /// The provider failed (classified).
    Failed(ProviderError),
    /// The run was cancelled during the call.
    Cancelled,
}

/// A finished call: its outcome and its attempt row, not yet committed.
#[derive(Debug)]
pub(crate) struct CallResult {
    pub(crate) end: CallEnd,
    pub(crate) attempt: AttemptRecord,
    pub(crate) usage: Usage,
    pub(crate) cost_usd: f64,
    pub(crate) latency: Duration,
}

/// Why a call was not made.
#[derive(Debug)]
pub(crate) enum CallRefused {
    /// Its worst-case cost would break the run's budget. `unwritten` are the events
    /// of the plan's `start`, which were not committed.
    Budget {
        worst_case_usd: f64,
        unwritten: Vec<EventPayload>,
    },
    /// The journal failed; nothing more can be done safely.
    Journal(JournalError),
    /// The run was cancelled before the call began (`unwritten` as for `Budget`).
    Cancelled { unwritten: Vec<EventPayload> },
}

impl CallRefused {
    /// The events of the plan's `start` that were not committed because the call
    /// was refused before its attempt row was written.
    pub(crate) fn take_unwritten(&mut self) -> Vec<EventPayload> {
        match self {
            CallRefused::Budget { unwritten, .. } | CallRefused::Cancelled { unwritten } => {
                std::mem::take(unwritten)
            }
            CallRefused::Journal(_) => Vec::new(),
        }
    }
}

impl From<JournalError> for CallRefused {
    fn from(err: JournalError) -> Self {
        CallRefused::Journal(err)
    }
}

/// Makes one call: reserves its worst case against the budget, commits the attempt
/// row `in_flight`, calls the provider (streaming deltas as `task_delta` events when
/// the run streams), and returns the outcome with the finished attempt row. The
/// reservation and the attempt row's submission happen when this is called; the
/// future waits for the row to be durable before it calls.
pub(crate) fn make_call<'a>(
    ctx: &'a RunCtx,
    plan: CallPlan<'a>,
) -> impl Future<Output = Result<CallResult, CallRefused>> + 'a {
    // Not an `async fn`: the plan is taken apart, the budget reserved and the attempt
    // row submitted before the future is made, so the future keeps room only for
    // what it needs across the call, not for the plan and the start write beside
    // it (W4, see BENCHMARKS.md).
    let CallPlan {
        kind,
        task_id,
        number,
        model,
        request,
        timeout,
        mut start,
    } = plan;
    // A request not fitted to the model gets a fitted copy, boxed: this future
    // lives as long as the call, and most requests come fitted.
    let fitted = (!is_fitted(request, model)).then(|| {
        let mut fitted = Box::new(request.clone());
        fit_to_model(&mut fitted, model);
        fitted
    });
    let sent = fitted.as_deref().unwrap_or(request);
    let input_tokens = estimate_input_tokens(sent);
    let max_output = u64::from(sent.max_output_tokens);
    let worst_case_usd = model.price.worst_case_cost(input_tokens, max_output);
    let mut attempt = AttemptRecord {
        id: AttemptId::new(),
        run_id: ctx.run_id,
        task_id: task_id.cloned(),
        kind,
        number,
        provider: model.provider_name.clone(),
        model: model.model.clone(),
        status: AttemptStatus::InFlight,
        reserved_cost_usd: worst_case_usd,
        usage: None,
        cost_usd: 0.0,
        latency_ms: None,
        error: None,
        started_at: OffsetDateTime::now_utc(),
        finished_at: None,
    };
    let committed = if ctx.cancel.is_cancelled() {
        Err(CallRefused::Cancelled {
            unwritten: start.events,
        })
    } else if !ctx.reserve(worst_case_usd) {
        Err(CallRefused::Budget {
            worst_case_usd,
            unwritten: start.events,
        })
    } else {
        start.attempts.push(attempt.clone());
        Ok(ctx.write(start))
    };
    async move {
        if let Err(err) = committed?.await {
            ctx.settle(worst_case_usd, 0.0);
            return Err(err.into());
        }
        let request = fitted.as_deref().unwrap_or(request);

        // Slots and rate limits are waited for after the attempt row is committed and
        // before the clock of the call starts: telemetry measures the vendor, not the
        // queue. The order (the run's slot, the engine's, the provider's buckets) keeps
        // a run that is at its own limit from holding the engine's slots.
        let run_slots = ctx.provider_slots(&model.provider_name);
        let engine_slots = ctx.engine.call_slots.clone();
        let limiter = ctx.engine.router.limiter();
        let estimated_tokens = input_tokens + max_output;
        let stream_to = if request.stream { task_id } else { None };
        let mut timing = None;
        let waiting_since = Instant::now();
        let end = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => CallEnd::Cancelled,
            end = async {
                let Ok(_run_slot) = run_slots.acquire().await else {
                    return CallEnd::Failed(ProviderError::transient(ErrorKind::Unsupported, "provider slots closed"));
                };
                let _engine_slot = match &engine_slots {
                    Some(slots) => match slots.acquire().await {
                        Ok(slot) => Some(slot),
                        Err(_) => return CallEnd::Failed(ProviderError::transient(ErrorKind::Unsupported, "engine slots closed")),
                    },
                    None => None,
                };
                // Boxed: its state (a sleep, a semaphore's wait) would otherwise keep
                // room in every task's future for as long as the call lasts (W4).
                let permit = Box::pin(limiter.acquire(&model.provider_name, estimated_tokens)).await;
                let began = Instant::now();
                let (end, first_delta) = call_with_deltas(ctx, model, request, stream_to, timeout).await;
                timing = Some((began.elapsed(), first_delta.map(|at| at.saturating_duration_since(began))));
                let used = match &end {
                    CallEnd::Done(completion) => completion.usage.input_tokens + completion.usage.output_tokens,
                    CallEnd::Failed(err) => err.partial_usage.map_or(input_tokens, |u| u.input_tokens + u.output_tokens),
                    CallEnd::Cancelled => input_tokens,
                };
                limiter.settle(permit, used);
                if let Some(hint) = vendor_hint(&end) {
                    limiter.slow_down(&model.provider_name, &hint);
                }
                end
            } => end,
        };
        // A call cancelled before it returned counts from when it began to wait.
        let (latency, time_to_first_token) = timing.unwrap_or((waiting_since.elapsed(), None));

        let (usage, status, error) = match &end {
            CallEnd::Done(completion) => (completion.usage, AttemptStatus::Succeeded, None),
            CallEnd::Failed(err) => (
                err.partial_usage.unwrap_or(Usage {
                    input_tokens,
                    estimated: true,
                    ..Usage::default()
                }),
                AttemptStatus::Failed,
                Some(err.message.clone()),
            ),
            CallEnd::Cancelled => (
                Usage {
                    input_tokens,
                    estimated: true,
                    ..Usage::default()
                },
                AttemptStatus::Cancelled,
                Some("cancelled".to_owned()),
            ),
        };
        let cost_usd = model.price.cost(&usage);
        ctx.settle(worst_case_usd, cost_usd);
        attempt.status = status;
        attempt.usage = Some(usage);
        attempt.cost_usd = cost_usd;
        attempt.latency_ms = Some(latency.as_millis() as u64);
        attempt.error = error;
        attempt.finished_at = Some(OffsetDateTime::now_utc());

        if !matches!(end, CallEnd::Cancelled) {
            ctx.engine.router.record(
                &model.provider_name,
                &model.model,
                &CallOutcome {
                    success: matches!(end, CallEnd::Done(_)),
                    latency,
                    time_to_first_token,
                    error: match &end {
                        CallEnd::Failed(err) => Some((err.kind.clone(), err.message.clone())),
                        _ => None,
                    },
                    usage,
                    cost_usd,
                },
            );
        }
        Ok(CallResult {
            end,
            attempt,
            usage,
            cost_usd,
            latency,
        })
    }
}

/// What the vendor said about its limits, to slow the provider's buckets down: the
/// rate-limit headers of a successful answer (before it starts refusing), or the
/// `Retry-After` of a 429, which holds back every call to the provider and not only
/// this task's retry.
fn vendor_hint(end: &CallEnd) -> Option<RateLimitHint> {
    match end {
        CallEnd::Done(Completion {
            limits: Some(limits),
            ..
        }) => Some(RateLimitHint::from(limits)),
        CallEnd::Failed(err) if err.kind == ErrorKind::RateLimited => {
            err.retry_after.map(RateLimitHint::retry_after)
        }
        _ => None,
    }
}

/// Calls the provider with a time limit, turning streamed text into committed
/// `task_delta` events when `stream_to` names a task. Returns how the call ended
/// and, for a streamed call, when its first text arrived.
async fn call_with_deltas(
    ctx: &RunCtx,
    model: &RoutedModel,
    request: &CompletionRequest,
    stream_to: Option<&TaskId>,
    timeout: Duration,
) -> (CallEnd, Option<Instant>) {
    let (result, first_delta) = match stream_to {
        // No channel for a call that streams nothing: thousands of calls in flight
        // would each keep one. A streamed call's state is boxed, so that the others'
        // futures do not keep room for it.
        None => (
            tokio::time::timeout(timeout, model.provider.complete(request, None)).await,
            None,
        ),
        Some(task_id) => Box::pin(call_streamed(ctx, model, request, task_id, timeout)).await,
    };
    let end = match result {
        Ok(Ok(completion)) => CallEnd::Done(completion),
        Ok(Err(err)) => CallEnd::Failed(err),
        Err(_elapsed) => CallEnd::Failed(ProviderError::transient(
            ErrorKind::Timeout(TimeoutKind::Total),
            format!(
                "the call took longer than the task timeout of {:.1}s",
                timeout.as_secs_f64()
            ),
        )),
    };
    (end, first_delta)
}

/// A call's outcome within its time limit.
type Timed<T> = Result<T, tokio::time::error::Elapsed>;

/// Calls the provider with a time limit, committing the text it streams as
/// `task_delta` events of `task_id` as it arrives; returns the outcome and when the
/// first text arrived.
async fn call_streamed(
    ctx: &RunCtx,
    model: &RoutedModel,
    request: &CompletionRequest,
    task_id: &TaskId,
    timeout: Duration,
) -> (Timed<Result<Completion, ProviderError>>, Option<Instant>) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<String>();
    let call = tokio::time::timeout(timeout, model.provider.complete(request, Some(&sender)));
    tokio::pin!(call);
    let mut first_delta = None;
    let result = loop {
        tokio::select! {
            result = &mut call => break result,
            Some(text) = receiver.recv() => {
                first_delta.get_or_insert_with(Instant::now);
                publish_deltas(ctx, task_id, text, &mut receiver).await;
            }
        }
    };
    if let Ok(text) = receiver.try_recv() {
        publish_deltas(ctx, task_id, text, &mut receiver).await;
    }
    (result, first_delta)
}

/// Commits and publishes one `task_delta` holding `first` and whatever else has
/// already arrived, so a fast stream costs few commits.
async fn publish_deltas(
    ctx: &RunCtx,
    task_id: &TaskId,
    first: String,
    receiver: &mut mpsc::UnboundedReceiver<String>,
) {
    let mut text = first;
    while let Ok(more) = receiver.try_recv() {
        text.push_str(&more);
    }
    let event = EventPayload::TaskDelta {
        task_id: task_id.clone(),
        text,
    };
    if let Err(err) = ctx.write(Write::events(vec![event])).await {
        // Deltas are a courtesy; the artifact carries the whole output.
        tracing::warn!(run.id = %ctx.run_id, error = %err, "could not journal a task_delta");
    }
}

/// The estimated prompt size of a request, for budgets and context checks.
pub(crate) fn estimate_input_tokens(request: &CompletionRequest) -> u64 {
    let system = request.system.as_deref().map_or(0, estimate_tokens);
    let messages: u64 = request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.content) + 4)
        .sum();
    system + messages + 8
}

/// A task row updated for the start of an attempt.
pub(crate) fn task_started(task: &TaskRecord, model: &RoutedModel) -> TaskRecord {
    let mut task = task.clone();
    task.status = baton_core::status::TaskStatus::Running;
    task.provider = Some(model.provider_name.clone());
    task.model = Some(model.model.clone());
    task.attempts += 1;
    task.started_at.get_or_insert_with(OffsetDateTime::now_utc);
    task
}
