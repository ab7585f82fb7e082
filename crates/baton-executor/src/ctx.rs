//! The state a running run shares between its tasks: its journal writer (which
//! numbers, commits and then publishes events, in that order), its budget and its
//! per-provider limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton_core::event::{Event, EventPayload};
use baton_core::ids::RunId;
use baton_core::journal::{
    AttemptRecord, Commit, CommitChain, CommittedRun, JournalError, RunState, StoredRun,
    TaskRecord, TelemetryRecord, Urgency,
};
use baton_core::request::RunOptions;
use baton_core::status::AttemptStatus;
use baton_core::usage::RunUsage;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use crate::engine::Inner;

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
    writer: Mutex<Writer>,
    budget: Mutex<Budget>,
    /// One semaphore per provider, sized by `max_concurrency_per_provider`.
    provider_slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// The run as its commits leave it, when it was submitted with
    /// `keep_committed`; taken when the run's task ends.
    kept: Option<Arc<Mutex<Option<Kept>>>>,
}

/// A run kept as its commits leave it ([`CommittedRun`]), with what it takes to know
/// it is what the journal holds.
#[derive(Debug)]
struct Kept {
    run: CommittedRun,
    /// Commits submitted whose outcome has not come back yet.
    unsettled: u64,
    /// Whether a commit failed: the run as kept is then not what is stored.
    failed: bool,
}

impl Kept {
    /// Applies a commit's outcome, in the order the journal wrote the run's commits.
    fn settle(&mut self, result: &Result<(), JournalError>, commit: Commit) {
        self.unsettled -= 1;
        match result {
            Ok(()) => self.run.apply(commit),
            Err(_) => self.failed = true,
        }
    }
}

/// The run's event numbering and state, behind one lock under which each write is
/// numbered and submitted to the journal, so that events are committed and
/// published in `seq` order while several commits are in flight.
#[derive(Debug)]
struct Writer {
    /// The run's commits, in submission order.
    chain: CommitChain,
    next_seq: u64,
    /// The run's state without its plan (`state.plan` is always `None` here), so
    /// that a write that changes the usage neither copies nor re-stores the plan, and
    /// a run does not hold its plan in memory once it is committed (W4, see
    /// BENCHMARKS.md).
    state: RunState,
    /// The outcome of the last write submitted without waiting, for `flush`.
    pending: Option<oneshot::Receiver<Result<(), JournalError>>>,
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

/// The error of a write whose outcome never came back (the journal went away).
pub(crate) fn dropped() -> JournalError {
    JournalError::Unavailable(Box::new(std::io::Error::other(
        "the journal dropped a write without answering",
    )))
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
        chain: CommitChain,
    ) -> Self {
        let spent = state.usage.cost_usd;
        let mut state = state;
        state.plan = None;
        Self {
            run_id: state.id,
            engine,
            options,
            prompt,
            cancel,
            writer: Mutex::new(Writer {
                chain,
                next_seq,
                state,
                pending: None,
            }),
            budget: Mutex::new(Budget {
                spent,
                reserved: 0.0,
            }),
            provider_slots: Mutex::new(HashMap::new()),
            kept: None,
        }
    }

    /// Keeps the run as its commits leave it, from `run` (the run as created) on;
    /// [`RunCtx::take_committed`] gives it back.
    pub(crate) fn keeping(mut self, run: Option<CommittedRun>) -> Self {
        self.kept = run.map(|run| {
            Arc::new(Mutex::new(Some(Kept {
                run,
                unsettled: 0,
                failed: false,
            })))
        });
        self
    }

    /// The run as its commits left it, once its task is done: `None` unless it was
    /// kept, every commit submitted came back, and none failed.
    pub(crate) fn take_committed(&self) -> Option<StoredRun> {
        let kept = self
            .kept
            .as_ref()?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        (kept.unsettled == 0 && !kept.failed).then(|| kept.run.into_stored())
    }

    /// Numbers the events and submits everything as one commit; the journal
    /// publishes the events once it is durable, and this returns then.
    ///
    /// The run's lock is held only to number and submit, not across the commit: the
    /// journal writes one run's commits in submission order (its `CommitChain`), so
    /// the writes of many parallel tasks share transactions instead of waiting for
    /// each other. Should this future be dropped (a call cancelled while its deltas
    /// are written), the commit still lands and its events are still published, so
    /// the next write never reuses their numbers. Once a commit fails (the journal
    /// tried it again first), the run's later writes fail too: its stored events
    /// never have a gap.
    ///
    /// The write is submitted when this is called, not when the future is first
    /// polled, and the future holds no more than the wait for its outcome: a call's
    /// attempt row is submitted before the call's future is made (`make_call`).
    pub(crate) fn write(
        &self,
        write: Write,
    ) -> impl Future<Output = Result<(), JournalError>> + use<> {
        let outcome = self.submit(write, Urgency::Now);
        async move {
            match outcome {
                Some(outcome) => outcome.await.unwrap_or_else(|_| Err(dropped())),
                None => Ok(()),
            }
        }
    }

    /// Submits a write like [`RunCtx::write`] without waiting for it. Its outcome
    /// shows in the next write that is waited for: the run's commits land in order,
    /// and once one fails the later ones fail too. So a later commit that is durable
    /// implies this one is: a call's attempt row, waited for before the call, also
    /// makes every earlier write of the run durable. Before the run's task ends,
    /// [`RunCtx::flush`] waits for what is left. It is submitted
    /// [`Urgency::Later`], so the journal may hold it a moment to share the next
    /// waited-for write's transaction.
    pub(crate) fn write_later(&self, write: Write) {
        self.submit(write, Urgency::Later);
    }

    /// Waits until the last write submitted with [`RunCtx::write_later`] (and so
    /// every earlier one) is durable.
    pub(crate) async fn flush(&self) -> Result<(), JournalError> {
        let pending = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending
            .take();
        match pending {
            Some(outcome) => outcome.await.unwrap_or_else(|_| Err(dropped())),
            None => Ok(()),
        }
    }

    /// Numbers and submits a write, and returns where its outcome arrives; a write
    /// submitted [`Urgency::Later`] becomes the run's pending one instead (its failure is
    /// logged here, and shows again in every later write).
    fn submit(
        &self,
        write: Write,
        urgency: Urgency,
    ) -> Option<oneshot::Receiver<Result<(), JournalError>>> {
        let (done, outcome) = oneshot::channel();
        let run_id = self.run_id;
        {
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let now = OffsetDateTime::now_utc();
            let events = Event::numbered(self.run_id, writer.next_seq, now, write.events);
            writer.next_seq += events.len() as u64;
            // The state is changed at once, before the commit lands: the next write
            // builds on it, and should this one fail, so do all later ones.
            let run = write.update_run.map(|update| {
                update(&mut writer.state);
                writer.state.updated_at = now;
                // A plan set by this write goes in with it (the stored one is kept
                // when the state's plan is `None`), and is not kept here.
                let plan = writer.state.plan.take();
                Box::new(RunState {
                    plan,
                    ..writer.state.clone()
                })
            });
            let commit = Commit {
                run,
                tasks: fitted(write.tasks),
                telemetry: self.router_state_of(&write.attempts),
                attempts: fitted(write.attempts),
                events,
            };
            let engine = self.engine.clone();
            let later = urgency == Urgency::Later;
            // Counted before the journal has it: its outcome may come back at once.
            let kept = self.kept.clone().inspect(|kept| {
                if let Some(kept) = kept.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                    kept.unsettled += 1;
                }
            });
            self.engine.journal.submit(
                &writer.chain,
                commit,
                urgency,
                Box::new(move |result, commit| {
                    match &result {
                        Ok(()) => engine.hub.publish(&commit.events),
                        Err(err) if later => {
                            tracing::warn!(run.id = %run_id, error = %err, "a journal commit failed");
                        }
                        Err(_) => {}
                    }
                    if let Some(kept) = kept
                        && let Some(kept) =
                            kept.lock().unwrap_or_else(|p| p.into_inner()).as_mut()
                    {
                        kept.settle(&result, commit);
                    }
                    // The writer may have gone away (see above).
                    let _ = done.send(result);
                }),
            );
            if later {
                writer.pending = Some(outcome);
                return None;
            }
        }
        Some(outcome)
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

    /// What the run has used so far.
    pub(crate) fn usage(&self) -> RunUsage {
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state
            .usage
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

/// The rows without spare room: a commit may wait in the write queue, thousands at
/// once (W4), and a `Vec` that grew by `push` holds room for four rows (a task record
/// is 440 bytes) where it has one.
fn fitted<T>(mut rows: Vec<T>) -> Vec<T> {
    rows.shrink_to_fit();
    rows
}
