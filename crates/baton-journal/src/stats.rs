//! `GET /stats` from the journal: both backends read the same four aggregates (runs
//! by status, tasks by status, tasks by provider, calls by provider) and this module
//! puts them together.

use std::collections::BTreeMap;

use baton_core::journal::{JournalError, JournalStats, LatencySum, ProviderUsage};
use baton_core::status::{RunStatus, TaskStatus};

use crate::codec::{from_db_u64, parse_status};

/// One provider's calls: `select provider, count(*), … from attempts group by provider`.
#[derive(Debug)]
pub(crate) struct CallRow {
    pub(crate) provider: String,
    pub(crate) calls: i64,
    pub(crate) failed_calls: i64,
    pub(crate) tokens_in: i64,
    pub(crate) tokens_out: i64,
    pub(crate) cost_usd: f64,
    pub(crate) timed_calls: i64,
    pub(crate) latency_ms: f64,
}

/// Tasks by the provider of their last call (`None`: never called).
#[derive(Debug)]
pub(crate) struct TaskRow {
    pub(crate) provider: Option<String>,
    pub(crate) tasks: i64,
    pub(crate) succeeded: i64,
    pub(crate) failed: i64,
    pub(crate) timed: i64,
    pub(crate) latency_ms: f64,
}

/// The aggregates as read.
#[derive(Debug, Default)]
pub(crate) struct StatsRows {
    pub(crate) runs: Vec<(String, i64)>,
    pub(crate) tasks: Vec<(String, i64)>,
    pub(crate) task_rows: Vec<TaskRow>,
    pub(crate) call_rows: Vec<CallRow>,
}

impl StatsRows {
    /// The rows as [`JournalStats`]; statuses in lifecycle order, providers by name.
    pub(crate) fn assemble(self) -> Result<JournalStats, JournalError> {
        let mut runs = Vec::with_capacity(self.runs.len());
        for (status, n) in &self.runs {
            let status: RunStatus = parse_status(status, "run status")?;
            runs.push((status, from_db_u64(*n, "run count")?));
        }
        runs.sort_by_key(|(status, _)| RunStatus::ALL.iter().position(|s| s == status));
        let mut tasks = Vec::with_capacity(self.tasks.len());
        for (status, n) in &self.tasks {
            let status: TaskStatus = parse_status(status, "task status")?;
            tasks.push((status, from_db_u64(*n, "task count")?));
        }
        tasks.sort_by_key(|(status, _)| TaskStatus::ALL.iter().position(|s| s == status));

        let mut providers: BTreeMap<String, ProviderUsage> = BTreeMap::new();
        for row in &self.call_rows {
            let usage = entry(&mut providers, &row.provider);
            usage.calls = from_db_u64(row.calls, "call count")?;
            usage.failed_calls = from_db_u64(row.failed_calls, "failed call count")?;
            usage.tokens_in = from_db_u64(row.tokens_in, "tokens in")?;
            usage.tokens_out = from_db_u64(row.tokens_out, "tokens out")?;
            usage.cost_usd = row.cost_usd;
            usage.call_latency = LatencySum {
                count: from_db_u64(row.timed_calls, "timed call count")?,
                total_ms: row.latency_ms,
            };
        }
        let mut task_latency = LatencySum::default();
        for row in &self.task_rows {
            let timed = from_db_u64(row.timed, "timed task count")?;
            task_latency.count += timed;
            task_latency.total_ms += row.latency_ms;
            let Some(provider) = &row.provider else {
                continue;
            };
            let usage = entry(&mut providers, provider);
            usage.tasks = from_db_u64(row.tasks, "task count")?;
            usage.tasks_succeeded = from_db_u64(row.succeeded, "succeeded task count")?;
            usage.tasks_failed = from_db_u64(row.failed, "failed task count")?;
            usage.task_latency = LatencySum {
                count: timed,
                total_ms: row.latency_ms,
            };
        }
        Ok(JournalStats {
            runs,
            tasks,
            task_latency,
            providers: providers.into_values().collect(),
        })
    }
}

fn entry<'a>(
    providers: &'a mut BTreeMap<String, ProviderUsage>,
    provider: &str,
) -> &'a mut ProviderUsage {
    providers
        .entry(provider.to_owned())
        .or_insert_with(|| ProviderUsage {
            provider: provider.to_owned(),
            ..ProviderUsage::default()
        })
}
