//! An in-memory `Journal` with switches that break it, so the engine and the HTTP
//! surface are tested without a database (and under tokio's paused clock, which a
//! real pool's timeouts would not survive): the store can be made to fail, report
//! not ready, or panic.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use baton_core::event::Event;
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{
    AttemptRecord, Commit, CommitChain, Journal, JournalError, JournalStats, LatencySum, NewRun,
    OnCommitted, ProviderUsage, RunQuery, RunRecord, RunState, TaskRecord, TelemetryRecord,
    Urgency, with_planned_tasks,
};
use baton_core::status::{AttemptStatus, RunStatus, TaskStatus};

use crate::fake::lock;

/// How the journal behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Everything works.
    #[default]
    Healthy,
    /// Every call fails as if the database were down.
    Unavailable,
    /// Calls work but `ready` says the migrations are missing.
    NotReady,
    /// Every read panics (to prove a panic becomes a 500 problem).
    Panicking,
}

#[derive(Debug, Default)]
struct Tables {
    runs: BTreeMap<RunId, RunRecord>,
    tasks: HashMap<RunId, Vec<TaskRecord>>,
    attempts: Vec<AttemptRecord>,
    events: HashMap<RunId, Vec<Event>>,
    telemetry: BTreeMap<(String, String), TelemetryRecord>,
}

/// The in-memory journal.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    tables: Mutex<Tables>,
    mode: Mutex<Mode>,
    held: Mutex<Held>,
    /// Woken whenever a submitted write is held.
    held_changed: tokio::sync::Notify,
}

/// Submitted writes held back, unwritten and unanswered, while holding is on (see
/// [`MemoryJournal::hold_commits`] and [`MemoryJournal::hold_writes`]), in
/// submission order.
#[derive(Default)]
struct Held {
    commits: bool,
    new_runs: bool,
    writes: Vec<(CommitChain, HeldWrite, OnCommitted)>,
}

/// One held write.
enum HeldWrite {
    Commit(Commit),
    NewRun(NewRun, Vec<Event>),
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("commits", &self.commits)
            .field("new_runs", &self.new_runs)
            .field("writes", &self.writes.len())
            .finish()
    }
}

impl MemoryJournal {
    /// From now on, holds every submitted commit back, unwritten and unanswered,
    /// until [`MemoryJournal::release_held`]: so a test sees which commits a run has
    /// in flight at once.
    pub fn hold_commits(&self) {
        lock(&self.held).commits = true;
    }

    /// From now on, holds every submitted write back, new runs
    /// ([`Journal::submit_run`]) as well as commits, unwritten and unanswered, until
    /// [`MemoryJournal::release_held`]: so a test sees what a run does before it is
    /// stored.
    pub fn hold_writes(&self) {
        let mut held = lock(&self.held);
        held.commits = true;
        held.new_runs = true;
    }

    /// Waits until at least `count` submitted commits are held, and returns what
    /// they hold, in submission order (held new runs are not counted).
    pub async fn until_held(&self, count: usize) -> Vec<Commit> {
        loop {
            let notified = self.held_changed.notified();
            let held: Vec<Commit> = lock(&self.held)
                .writes
                .iter()
                .filter_map(|(_, write, _)| match write {
                    HeldWrite::Commit(commit) => Some(commit.clone()),
                    HeldWrite::NewRun(..) => None,
                })
                .collect();
            if held.len() >= count {
                return held;
            }
            notified.await;
        }
    }

    /// Stops holding, and writes and answers the held writes in submission order
    /// among themselves (a write submitted meanwhile, from another thread, may land
    /// first).
    pub fn release_held(&self) {
        let writes = {
            let mut held = lock(&self.held);
            held.commits = false;
            held.new_runs = false;
            std::mem::take(&mut held.writes)
        };
        for (chain, write, done) in writes {
            self.write_submitted(&chain, write, done);
        }
    }

    /// Holds a submitted write if holding is on for its kind; else writes it.
    fn submitted(&self, chain: &CommitChain, write: HeldWrite, done: OnCommitted) {
        {
            let mut held = lock(&self.held);
            let holding = match write {
                HeldWrite::Commit(_) => held.commits,
                HeldWrite::NewRun(..) => held.new_runs,
            };
            if holding {
                held.writes.push((chain.clone(), write, done));
                drop(held);
                self.held_changed.notify_waiters();
                return;
            }
        }
        self.write_submitted(chain, write, done);
    }

    /// Writes a submitted write and answers it; a failure breaks its chain.
    fn write_submitted(&self, chain: &CommitChain, write: HeldWrite, done: OnCommitted) {
        let (result, commit) = match write {
            HeldWrite::Commit(commit) => (chain.check().and_then(|()| self.write(&commit)), commit),
            HeldWrite::NewRun(run, events) => (
                chain.check().and_then(|()| self.create(&run, &events)),
                Commit::default(),
            ),
        };
        if result.is_err() {
            chain.break_chain();
        }
        done(result, commit);
    }

    /// Stores a new run, unless the journal is switched to fail, its id is taken, or
    /// its tenant's idempotency key is.
    fn create(&self, run: &NewRun, events: &[Event]) -> Result<(), JournalError> {
        self.check()?;
        let mut tables = lock(&self.tables);
        if tables.runs.contains_key(&run.id) {
            return Err(JournalError::Corrupt(format!(
                "run {} is stored already",
                run.id
            )));
        }
        if let Some(key) = &run.idempotency_key
            && let Some(existing) = tables
                .runs
                .values()
                .find(|r| r.tenant == run.tenant && r.idempotency_key.as_ref() == Some(key))
        {
            return Err(JournalError::IdempotencyKeyTaken {
                existing: existing.id,
            });
        }
        tables.runs.insert(run.id, RunRecord::new(run));
        Self::apply(
            &mut tables,
            &Commit {
                events: events.to_vec(),
                ..Commit::default()
            },
        );
        Ok(())
    }

    /// Writes a commit, unless the journal is switched to fail.
    fn write(&self, commit: &Commit) -> Result<(), JournalError> {
        self.check()?;
        Self::apply(&mut lock(&self.tables), commit);
        Ok(())
    }

    /// Switches how the journal behaves from now on.
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.mode) = mode;
    }

    fn check(&self) -> Result<(), JournalError> {
        match *lock(&self.mode) {
            Mode::Healthy | Mode::NotReady => Ok(()),
            Mode::Unavailable => Err(JournalError::Unavailable(Box::new(std::io::Error::other(
                "connection refused: postgres://baton:s3cret@db.internal:5432/baton",
            )))),
            // This mode exists to prove a panic becomes a 500 problem.
            Mode::Panicking => panic!("the memory journal was told to panic"),
        }
    }

    fn apply(tables: &mut Tables, commit: &Commit) {
        if let Some(state) = &commit.run
            && let Some(run) = tables.runs.get_mut(&state.id)
        {
            let plan = state.plan.clone().or_else(|| run.state.plan.clone());
            run.state = RunState {
                plan,
                ..(**state).clone()
            };
        }
        for task in &commit.tasks {
            let tasks = tables.tasks.entry(task.run_id).or_default();
            match tasks.iter_mut().find(|t| t.task_id == task.task_id) {
                Some(existing) => *existing = task.clone(),
                None => tasks.push(task.clone()),
            }
            tasks.sort_by_key(|t| t.position);
        }
        for attempt in &commit.attempts {
            match tables.attempts.iter_mut().find(|a| a.id == attempt.id) {
                Some(existing) => *existing = attempt.clone(),
                None => tables.attempts.push(attempt.clone()),
            }
        }
        for event in &commit.events {
            let events = tables.events.entry(event.run_id).or_default();
            if !events.iter().any(|e| e.seq == event.seq) {
                events.push(event.clone());
                events.sort_by_key(|e| e.seq);
            }
        }
        for record in &commit.telemetry {
            let key = (record.provider.clone(), record.model.clone());
            match tables.telemetry.get(&key) {
                Some(stored) if stored.updated_at > record.updated_at => {}
                _ => {
                    tables.telemetry.insert(key, record.clone());
                }
            }
        }
    }

    fn stats(tables: &Tables) -> JournalStats {
        let mut runs: Vec<(RunStatus, u64)> = Vec::new();
        for status in RunStatus::ALL {
            let n = tables
                .runs
                .values()
                .filter(|run| run.state.status == *status)
                .count() as u64;
            if n > 0 {
                runs.push((*status, n));
            }
        }
        let all_tasks: Vec<&TaskRecord> = tables.tasks.values().flatten().collect();
        // The tasks of unfinished runs' plans that have no row yet are pending.
        let planned_only: usize = tables
            .runs
            .values()
            .filter(|run| !run.state.status.is_terminal())
            .map(|run| {
                let rows = tables.tasks.get(&run.id).cloned().unwrap_or_default();
                let stored = rows.len();
                with_planned_tasks(run.id, run.state.plan.as_ref(), rows).len() - stored
            })
            .sum();
        let mut tasks: Vec<(TaskStatus, u64)> = Vec::new();
        for status in TaskStatus::ALL {
            let mut n = all_tasks.iter().filter(|t| t.status == *status).count() as u64;
            if *status == TaskStatus::Pending {
                n += planned_only as u64;
            }
            if n > 0 {
                tasks.push((*status, n));
            }
        }
        let duration = |task: &TaskRecord| -> Option<f64> {
            let (Some(started), Some(finished)) = (task.started_at, task.finished_at) else {
                return None;
            };
            Some((finished - started).as_seconds_f64() * 1000.0)
        };
        let mut task_latency = LatencySum::default();
        for ms in all_tasks.iter().filter_map(|t| duration(t)) {
            task_latency.count += 1;
            task_latency.total_ms += ms;
        }
        let mut providers: BTreeMap<String, ProviderUsage> = BTreeMap::new();
        for attempt in &tables.attempts {
            let usage = providers
                .entry(attempt.provider.clone())
                .or_insert_with(|| ProviderUsage {
                    provider: attempt.provider.clone(),
                    ..ProviderUsage::default()
                });
            usage.calls += 1;
            if attempt.status == AttemptStatus::Failed {
                usage.failed_calls += 1;
            }
            if let Some(tokens) = &attempt.usage {
                usage.tokens_in += tokens.input_tokens;
                usage.tokens_out += tokens.output_tokens;
            }
            usage.cost_usd += attempt.cost_usd;
            if let Some(ms) = attempt.latency_ms {
                usage.call_latency.count += 1;
                usage.call_latency.total_ms += ms as f64;
            }
        }
        for task in &all_tasks {
            let Some(provider) = &task.provider else {
                continue;
            };
            let usage = providers
                .entry(provider.clone())
                .or_insert_with(|| ProviderUsage {
                    provider: provider.clone(),
                    ..ProviderUsage::default()
                });
            usage.tasks += 1;
            match task.status {
                TaskStatus::Succeeded => usage.tasks_succeeded += 1,
                TaskStatus::Failed => usage.tasks_failed += 1,
                _ => {}
            }
            if let Some(ms) = duration(task) {
                usage.task_latency.count += 1;
                usage.task_latency.total_ms += ms;
            }
        }
        JournalStats {
            runs,
            tasks,
            task_latency,
            providers: providers.into_values().collect(),
        }
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn create_run(&self, run: &NewRun, events: &[Event]) -> Result<(), JournalError> {
        self.create(run, events)
    }

    async fn commit(&self, commit: &Commit) -> Result<(), JournalError> {
        self.write(commit)
    }

    /// Writes at once whatever the urgency (unless held back by the test).
    fn submit(&self, chain: &CommitChain, commit: Commit, _urgency: Urgency, done: OnCommitted) {
        self.submitted(chain, HeldWrite::Commit(commit), done);
    }

    /// Stores the run at once whatever the urgency (unless held back by the test).
    fn submit_run(
        &self,
        chain: &CommitChain,
        run: NewRun,
        events: Vec<Event>,
        _urgency: Urgency,
        done: OnCommitted,
    ) {
        self.submitted(chain, HeldWrite::NewRun(run, events), done);
    }

    async fn get_run(
        &self,
        id: RunId,
        tenant: Option<&str>,
    ) -> Result<Option<RunRecord>, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        Ok(tables
            .runs
            .get(&id)
            .filter(|run| tenant.is_none() || run.tenant.as_deref() == tenant)
            .cloned())
    }

    async fn find_by_idempotency_key(
        &self,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Option<RunRecord>, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        Ok(tables
            .runs
            .values()
            .find(|r| r.tenant.as_deref() == tenant && r.idempotency_key.as_deref() == Some(key))
            .cloned())
    }

    async fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        Ok(tables
            .runs
            .values()
            .rev()
            .filter(|run| query.tenant.is_none() || run.tenant == query.tenant)
            .filter(|run| query.status.is_none_or(|status| run.state.status == status))
            .filter(|run| query.before.is_none_or(|before| run.id < before))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }

    async fn list_tasks(&self, run_id: RunId) -> Result<Vec<TaskRecord>, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        let rows = tables.tasks.get(&run_id).cloned().unwrap_or_default();
        let plan = tables
            .runs
            .get(&run_id)
            .and_then(|run| run.state.plan.as_ref());
        Ok(with_planned_tasks(run_id, plan, rows))
    }

    async fn list_attempts(
        &self,
        run_id: RunId,
        task_id: Option<&TaskId>,
    ) -> Result<Vec<AttemptRecord>, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        Ok(tables
            .attempts
            .iter()
            .filter(|a| a.run_id == run_id)
            .filter(|a| task_id.is_none() || a.task_id.as_ref() == task_id)
            .cloned()
            .collect())
    }

    async fn events_after(
        &self,
        run_id: RunId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        Ok(tables
            .events
            .get(&run_id)
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn unfinished_runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        Ok(tables
            .runs
            .values()
            .filter(|run| !run.state.status.is_terminal())
            .cloned()
            .collect())
    }

    async fn ready(&self) -> Result<bool, JournalError> {
        self.check()?;
        Ok(*lock(&self.mode) != Mode::NotReady)
    }

    async fn load_telemetry(&self) -> Result<Vec<TelemetryRecord>, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        Ok(tables.telemetry.values().cloned().collect())
    }

    async fn stats(&self) -> Result<JournalStats, JournalError> {
        self.check()?;
        let tables = lock(&self.tables);
        Ok(Self::stats(&tables))
    }
}
