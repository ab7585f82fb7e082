//! The state a running run shares between its tasks: its journal writer (which
//! numbers, commits and then publishes events, in that order), its budget and its
//! per-provider limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_core::event::{Event, EventPayload};
use baton_core::ids::RunId;
use baton_core::journal::{
    AttemptRecord, Commit, JournalError, RunState, TaskRecord, TelemetryRecord,
};
use baton_core::request::RunOptions;
use baton_core::status::AttemptStatus;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::engine::Inner;

/// How often a failed commit is tried again before the run gives up. Commits are
/// idempotent, so a retry after an unknown outcome is harmless.
const COMMIT_ATTEMPTS: u32 = 3;

/// One run's shared state.
#[derive(Debug)]
pub(crate) struct RunCtx {
    pub(crate) run_id: RunId,
    pub(crate) engine: Arc<Inner>,
    pub(crate) options: RunOptions,
    pub(crate) prompt: Option<String>,
    /// Cancelled by `Engine::cancel`, the run timeout, fail-fast or shutdown. Every
    /// call of the run selects on it, so in-flight calls are dropped promptly.
    pub(crate) cancel: CancellationToken,
    writer: tokio::sync::Mutex<Writer>,
    budget: Mutex<Budget>,
    /// One semaphore per provider, sized by `max_concurrency_per_provider`.
    provider_slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// The run's event numbering and state, behind one async lock so that events are
/// committed and published in `seq` order.
#[derive(Debug)]
struct Writer {
    next_seq: u64,
    /// The run's state without its plan (`state.plan` is always `None` here), so
    /// that a write that changes the usage neither copies nor re-stores the plan.
    state: RunState,
    /// The plan as committed.
    plan: Option<serde_json::Value>,
}

#[derive(Debug, Default)]
struct Budget {
    spent: f64,
    reserved: f64,
}

/// What one commit writes, in the run's terms.
#[derive(Default)]
pub(crate) struct Write {
    /// Tasks to upsert.
    pub(crate) tasks: Vec<TaskRecord>,
    /// Attempts to upsert.
    pub(crate) attempts: Vec<AttemptRecord>,
    /// Events to append, numbered at commit time.
    pub(crate) events: Vec<EventPayload>,
    /// Applied to the run state before it is written (the run row is written whenever
    /// this is set).
    pub(crate) update_run: Option<RunUpdate>,
}

/// A change to the run's state.
pub(crate) type RunUpdate = Box<dyn FnOnce(&mut RunState) + Send>;

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Write")
            .field("tasks", &self.tasks.len())
            .field("attempts", &self.attempts.len())
            .field("events", &self.events)
            .field("update_run", &self.update_run.is_some())
            .finish()
    }
}

impl Write {
    pub(crate) fn events(events: Vec<EventPayload>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    pub(crate) fn with_run(mut self, update: impl FnOnce(&mut RunState) + Send + 'static) -> Self {
        self.update_run = Some(Box::new(update));
        self
    }
}

impl RunCtx {
    pub(crate) fn new(
        engine: Arc<Inner>,
        state: RunState,
        next_seq: u64,
        options: RunOptions,
        prompt: Option<String>,
        cancel: CancellationToken,
    ) -> Self {
        let spent = state.usage.cost_usd;
        let mut state = state;
        let plan = state.plan.take();
        Self {
            run_id: state.id,
            engine,
            options,
            prompt,
            cancel,
            writer: tokio::sync::Mutex::new(Writer {
                next_seq,
                state,
                plan,
            }),
            budget: Mutex::new(Budget {
                spent,
                reserved: 0.0,
            }),
            provider_slots: Mutex::new(HashMap::new()),
        }
    }

    /// Numbers the events, commits everything in one transaction, then publishes the
    /// events.
    pub(crate) async fn write(&self, write: Write) -> Result<(), JournalError> {
        let mut writer = self.writer.lock().await;
        let mut state = writer.state.clone();
        let run_changed = write.update_run.is_some();
        if let Some(update) = write.update_run {
            update(&mut state);
        }
        let now = OffsetDateTime::now_utc();
        let events: Vec<Event> = write
            .events
            .into_iter()
            .enumerate()
            .map(|(offset, payload)| Event {
                run_id: self.run_id,
                seq: writer.next_seq + offset as u64,
                ts: now,
                payload,
            })
            .collect();
        let telemetry = self.router_state_of(&write.attempts);
        let commit = Commit {
            run: run_changed.then(|| state.clone()),
            tasks: write.tasks,
            attempts: write.attempts,
            events,
            telemetry,
        };
        // The numbers are taken before the commit is awaited: should this future be
        // dropped (a call cancelled while its deltas are written) after the journal
        // has the commit, the next write must not reuse them. A commit that fails
        // gives them back.
        let first_seq = writer.next_seq;
        writer.next_seq += commit.events.len() as u64;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.engine.journal.commit(&commit).await {
                Ok(()) => break,
                Err(err) if tries < COMMIT_ATTEMPTS => {
                    tracing::warn!(run.id = %self.run_id, error = %err, "journal commit failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(tries))).await;
                }
                Err(err) => {
                    writer.next_seq = first_seq;
                    return Err(err);
                }
            }
        }
        // A plan set by this write was committed with it (the stored one is kept
        // when the state's plan is `None`); from now on it is held apart.
        if let Some(plan) = state.plan.take() {
            writer.plan = Some(plan);
        }
        writer.state = state;
        self.engine.hub.publish(&commit.events);
        Ok(())
    }

    /// The router's state (telemetry and breakers) of the models whose calls these
    /// attempts finish, saved with the attempts' outcome in the same commit. A
    /// failure's is always saved (failures are what open breakers); a success's at
    /// most once per `TELEMETRY_SAVE_INTERVAL` (a second) per model, so a busy model does not
    /// rewrite its row with every call. A restart forgets at most that much.
    fn router_state_of(&self, attempts: &[AttemptRecord]) -> Vec<TelemetryRecord> {
        let mut records = Vec::new();
        for attempt in attempts {
            let failed = match attempt.status {
                AttemptStatus::Failed => true,
                AttemptStatus::Succeeded => false,
                _ => continue,
            };
            if self
                .engine
                .telemetry_save_due(&attempt.provider, &attempt.model, failed)
            {
                records.extend(
                    self.engine
                        .router
                        .saved_state_of(&attempt.provider, &attempt.model),
                );
            }
        }
        records
    }

    /// The run's current state, with its plan.
    pub(crate) async fn state(&self) -> RunState {
        let writer = self.writer.lock().await;
        RunState {
            plan: writer.plan.clone(),
            ..writer.state.clone()
        }
    }

    /// Reserves a call's worst-case cost; `false` when it would break the budget.
    pub(crate) fn reserve(&self, worst_case_usd: f64) -> bool {
        let mut budget = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(limit) = self.options.budget_usd
            && budget.spent + budget.reserved + worst_case_usd > limit + f64::EPSILON
        {
            return false;
        }
        budget.reserved += worst_case_usd;
        true
    }

    /// Replaces a reservation with the real cost.
    pub(crate) fn settle(&self, reserved_usd: f64, cost_usd: f64) {
        let mut budget = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        budget.reserved = (budget.reserved - reserved_usd).max(0.0);
        budget.spent += cost_usd;
    }

    /// What is left of the budget, if the run has one.
    pub(crate) fn budget_left(&self) -> Option<f64> {
        let budget = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        self.options
            .budget_usd
            .map(|limit| (limit - budget.spent - budget.reserved).max(0.0))
    }

    /// The run's concurrency slots for a provider.
    pub(crate) fn provider_slots(&self, provider: &str) -> Arc<Semaphore> {
        let mut slots = self
            .provider_slots
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        slots
            .entry(provider.to_owned())
            .or_insert_with(|| {
                Arc::new(Semaphore::new(
                    self.options.max_concurrency_per_provider.max(1) as usize,
                ))
            })
            .clone()
    }
}
