//! The system's own state: the model registry with live telemetry, and the
//! figures of everything the server has done.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use baton_core::journal::{JournalStats, LatencySum};
use baton_core::status::{RunStatus, TaskStatus};

use crate::error::ApiError;
use crate::openapi::ReadProblems;
use crate::state::AppState;
use crate::wire::{ModelsResponse, ProviderStats, RunCounts, StatsResponse};

/// The model registry: every catalogue model with its price, limits, whether its
/// provider is configured, its circuit breakers and its live telemetry.
#[utoipa::path(
    get,
    path = "/models",
    operation_id = "list_models",
    tag = "system",
    responses(
        (status = 200, description = "Every model of the catalogue, by provider then model.", body = ModelsResponse),
    )
)]
pub(crate) async fn list_models(State(state): State<AppState>) -> Json<ModelsResponse> {
    Json(ModelsResponse {
        models: state.engine().router().models(),
    })
}

/// What the server has done: runs by outcome, tasks, calls, tokens, cost, task
/// latency, rate-limit waits and breaker openings, overall and per provider. Runs,
/// tasks, calls, tokens and cost come from the journal (every replica's, since the
/// start of the database); waits and breaker openings are this process's.
#[utoipa::path(
    get,
    path = "/stats",
    operation_id = "get_stats",
    tag = "system",
    responses(
        (status = 200, description = "The figures, overall and per provider.", body = StatsResponse),
        ReadProblems,
    )
)]
pub(crate) async fn get_stats(
    State(state): State<AppState>,
) -> Result<Json<StatsResponse>, ApiError> {
    let journal = state.journal().stats().await?;
    let router = state.engine().router();
    let waits: BTreeMap<String, (u64, u64)> = router
        .limiter()
        .stats()
        .into_iter()
        .map(|s| (s.provider, (s.waits, s.waited_ms)))
        .collect();
    let openings = router.breaker_openings();
    Ok(Json(stats_response(&journal, &waits, &openings)))
}

/// Combines the journal's sums with the router's waits and breaker openings.
pub(crate) fn stats_response(
    journal: &JournalStats,
    waits: &BTreeMap<String, (u64, u64)>,
    openings: &BTreeMap<String, u64>,
) -> StatsResponse {
    let count_runs = |status| count_of(&journal.runs, status);
    let count_tasks = |status| count_of(&journal.tasks, status);
    let runs = RunCounts {
        started: journal.runs.iter().map(|(_, n)| n).sum(),
        succeeded: count_runs(RunStatus::Succeeded),
        failed: count_runs(RunStatus::Failed),
        partial: count_runs(RunStatus::Partial),
        cancelled: count_runs(RunStatus::Cancelled),
        running: count_runs(RunStatus::Queued)
            + count_runs(RunStatus::Running)
            + count_runs(RunStatus::AwaitingInput),
    };
    let finished = runs.succeeded + runs.failed + runs.partial + runs.cancelled;
    let mut names: Vec<&str> = journal
        .providers
        .iter()
        .map(|p| p.provider.as_str())
        .chain(waits.keys().map(String::as_str))
        .chain(openings.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let providers: Vec<ProviderStats> = names
        .into_iter()
        .map(|name| {
            let usage = journal.providers.iter().find(|p| p.provider == name);
            let (rate_limit_waits, rate_limit_waited_ms) =
                waits.get(name).copied().unwrap_or_default();
            let calls = usage.map_or(0, |u| u.calls);
            let failed_calls = usage.map_or(0, |u| u.failed_calls);
            ProviderStats {
                provider: name.to_owned(),
                calls,
                failed_calls,
                call_success_rate: ratio(calls - failed_calls.min(calls), calls),
                tokens_in: usage.map_or(0, |u| u.tokens_in),
                tokens_out: usage.map_or(0, |u| u.tokens_out),
                cost_usd: usage.map_or(0.0, |u| u.cost_usd),
                average_call_latency_ms: usage.and_then(|u| u.call_latency.average_ms()),
                tasks: usage.map_or(0, |u| u.tasks),
                tasks_succeeded: usage.map_or(0, |u| u.tasks_succeeded),
                tasks_failed: usage.map_or(0, |u| u.tasks_failed),
                average_task_latency_ms: usage.and_then(|u| u.task_latency.average_ms()),
                rate_limit_waits,
                rate_limit_waited_ms,
                breaker_openings: openings.get(name).copied().unwrap_or(0),
            }
        })
        .collect();
    let calls: u64 = providers.iter().map(|p| p.calls).sum();
    let failed_calls: u64 = providers.iter().map(|p| p.failed_calls).sum();
    let call_latency = journal
        .providers
        .iter()
        .fold(LatencySum::default(), |sum, p| LatencySum {
            count: sum.count + p.call_latency.count,
            total_ms: sum.total_ms + p.call_latency.total_ms,
        });
    StatsResponse {
        success_rate: ratio(runs.succeeded, finished),
        runs,
        tasks: journal.tasks.iter().map(|(_, n)| n).sum(),
        tasks_succeeded: count_tasks(TaskStatus::Succeeded),
        tasks_failed: count_tasks(TaskStatus::Failed),
        average_task_latency_ms: journal.task_latency.average_ms(),
        calls,
        failed_calls,
        average_call_latency_ms: call_latency.average_ms(),
        tokens_in: providers.iter().map(|p| p.tokens_in).sum(),
        tokens_out: providers.iter().map(|p| p.tokens_out).sum(),
        cost_usd: providers.iter().map(|p| p.cost_usd).sum(),
        rate_limit_waits: providers.iter().map(|p| p.rate_limit_waits).sum(),
        rate_limit_waited_ms: providers.iter().map(|p| p.rate_limit_waited_ms).sum(),
        breaker_openings: providers.iter().map(|p| p.breaker_openings).sum(),
        providers,
    }
}

/// The count of one status in a journal tally.
fn count_of<S: PartialEq>(tally: &[(S, u64)], status: S) -> u64 {
    tally
        .iter()
        .filter(|(s, _)| *s == status)
        .map(|(_, n)| n)
        .sum()
}

/// `part / whole`, or `None` when nothing was counted.
fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests;
