//! A run as its commits left it: what the journal holds for a run once every commit
//! written for it since its creation is durable, rebuilt from those commits instead
//! of read back.

use std::collections::HashMap;

use super::{AttemptRecord, Commit, NewRun, RunRecord, StoredRun, TaskRecord, stored_time};
use crate::ids::{AttemptId, TaskId};

/// A run rebuilt from the commits written for it, applied in the order the journal
/// wrote them, the way the journal applies them: the run's last state (its plan kept
/// while a state sets none), each task's last row, each attempt's last row (its run
/// and start never change). [`CommittedRun::into_stored`] gives what
/// [`Journal::get_run_with_rows`](super::Journal::get_run_with_rows) would read once
/// those commits are durable, and nothing else wrote to the run.
#[derive(Debug)]
pub struct CommittedRun {
    run: RunRecord,
    tasks: HashMap<TaskId, TaskRecord>,
    attempts: HashMap<AttemptId, AttemptRecord>,
}

impl CommittedRun {
    /// A run as first stored.
    pub fn new(run: &NewRun) -> Self {
        CommittedRun {
            run: RunRecord::new(run),
            tasks: HashMap::new(),
            attempts: HashMap::new(),
        }
    }

    /// Applies a commit the journal wrote for this run (its events are not kept).
    pub fn apply(&mut self, commit: Commit) {
        if let Some(state) = commit.run {
            let mut state = *state;
            if state.plan.is_none() {
                state.plan = self.run.state.plan.take();
            }
            self.run.state = state;
        }
        for task in commit.tasks {
            self.tasks.insert(task.task_id.clone(), task);
        }
        for mut attempt in commit.attempts {
            if let Some(stored) = self.attempts.get(&attempt.id) {
                attempt.run_id = stored.run_id;
                attempt.started_at = stored.started_at;
            }
            self.attempts.insert(attempt.id, attempt);
        }
    }

    /// The run with its tasks (in plan order, with a pending record for each planned
    /// task without a row) and attempts (in the order they began), its times to the
    /// microsecond, as the journal gives them back.
    pub fn into_stored(self) -> StoredRun {
        let CommittedRun {
            mut run,
            tasks,
            attempts,
        } = self;
        run.created_at = stored_time(run.created_at);
        let state = &mut run.state;
        state.updated_at = stored_time(state.updated_at);
        state.started_at = state.started_at.map(stored_time);
        state.finished_at = state.finished_at.map(stored_time);

        let tasks = tasks
            .into_values()
            .map(|mut task| {
                task.started_at = task.started_at.map(stored_time);
                task.finished_at = task.finished_at.map(stored_time);
                task
            })
            .collect();
        // Ordered once their times are cut, as the journal orders what it stored.
        let attempts = attempts
            .into_values()
            .map(|mut attempt| {
                attempt.started_at = stored_time(attempt.started_at);
                attempt.finished_at = attempt.finished_at.map(stored_time);
                attempt
            })
            .collect();
        StoredRun::in_order(run, tasks, attempts)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::graph::TaskSpec;
    use crate::ids::RunId;
    use crate::journal::RunState;
    use crate::status::{AttemptStatus, CallKind, RunStatus, TaskStatus};

    fn new_run() -> NewRun {
        NewRun {
            id: RunId::new(),
            tenant: Some("acme".to_owned()),
            request: serde_json::json!({"prompt": "hi"}).into(),
            idempotency_key: None,
            request_hash: None,
            status: RunStatus::Queued,
            created_at: datetime!(2026-12-06 10:00:00.123456789 UTC),
        }
    }

    fn spec(id: &str) -> TaskSpec {
        serde_json::from_value(serde_json::json!({"id": id, "instructions": "do it"})).unwrap()
    }

    fn attempt(run: &NewRun, started_at: time::OffsetDateTime) -> AttemptRecord {
        AttemptRecord {
            id: AttemptId::new(),
            run_id: run.id,
            task_id: Some(TaskId::parse("a").unwrap()),
            kind: CallKind::Task,
            number: 1,
            provider: "sim".to_owned(),
            model: "sim-fast".to_owned(),
            status: AttemptStatus::InFlight,
            reserved_cost_usd: 0.0,
            usage: None,
            cost_usd: 0.0,
            latency_ms: None,
            error: None,
            started_at,
            finished_at: None,
        }
    }

    #[test]
    fn a_state_without_a_plan_keeps_the_plan_and_times_are_cut_to_microseconds() {
        let run = new_run();
        let mut committed = CommittedRun::new(&run);
        let planned_at = datetime!(2026-12-06 10:00:01.000000999 UTC);
        let plan = crate::encoded::EncodedJson::from(
            serde_json::json!({"tasks": [{"id": "a", "instructions": "do it"}, {"id": "b", "instructions": "do it"}]}),
        );
        let mut state = RunState::new(run.id, RunStatus::Running, planned_at);
        state.plan = Some(plan.clone());
        committed.apply(Commit {
            run: Some(Box::new(state.clone())),
            ..Commit::default()
        });
        let ended_at = datetime!(2026-12-06 10:00:02.5 UTC);
        committed.apply(Commit {
            run: Some(Box::new(RunState {
                status: RunStatus::Succeeded,
                plan: None,
                updated_at: ended_at,
                ..state
            })),
            ..Commit::default()
        });

        let stored = committed.into_stored();
        assert_eq!(stored.run.state.plan, Some(plan));
        assert_eq!(stored.run.state.status, RunStatus::Succeeded);
        assert_eq!(stored.run.state.updated_at, ended_at);
        assert_eq!(
            stored.run.created_at,
            datetime!(2026-12-06 10:00:00.123456 UTC)
        );
        // Neither task has a row: both are listed from the plan, as pending.
        let ids: Vec<&str> = stored.tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(stored.tasks.iter().all(|t| t.status == TaskStatus::Pending));
    }

    #[test]
    fn tasks_keep_their_last_row_in_plan_order_and_attempts_their_start() {
        let run = new_run();
        let mut committed = CommittedRun::new(&run);
        let task = |id: &str, position: u32, status: TaskStatus| TaskRecord {
            status,
            ..TaskRecord::pending(run.id, position, spec(id).into())
        };
        let first = attempt(&run, datetime!(2026-12-06 10:00:03.000000500 UTC));
        let second = attempt(&run, datetime!(2026-12-06 10:00:03.000000100 UTC));
        committed.apply(Commit {
            tasks: vec![
                task("b", 1, TaskStatus::Running),
                task("a", 0, TaskStatus::Running),
            ],
            attempts: vec![first.clone(), second.clone()],
            ..Commit::default()
        });
        let mut finished = first.clone();
        finished.status = AttemptStatus::Succeeded;
        finished.started_at = datetime!(2026-12-06 11:00:00 UTC);
        committed.apply(Commit {
            tasks: vec![task("a", 0, TaskStatus::Succeeded)],
            attempts: vec![finished],
            ..Commit::default()
        });

        let stored = committed.into_stored();
        let tasks: Vec<(&str, TaskStatus)> = stored
            .tasks
            .iter()
            .map(|t| (t.task_id.as_str(), t.status))
            .collect();
        assert_eq!(
            tasks,
            [("a", TaskStatus::Succeeded), ("b", TaskStatus::Running)]
        );
        // Both began in the same microsecond: the stored order is then by id.
        let mut ids = [first.id, second.id];
        ids.sort();
        let order: Vec<AttemptId> = stored.attempts.iter().map(|a| a.id).collect();
        assert_eq!(order, ids);
        let kept = stored.attempts.iter().find(|a| a.id == first.id).unwrap();
        assert_eq!(kept.status, AttemptStatus::Succeeded);
        assert_eq!(kept.started_at, datetime!(2026-12-06 10:00:03 UTC));
    }
}
