//! The conformance suite: the behaviour every journal must have, as stories that
//! panic on the first broken promise. `tests/it` runs each one on SQLite always and
//! on PostgreSQL when `BATON_TEST_DATABASE_URL` is set; an in-memory journal (for
//! engine tests) can run the `&dyn Journal` stories too.
//!
//! Each `&dyn Journal` story expects an empty, migrated journal of its own. Each
//! `&JournalConfig` story expects the URL of an empty database that has not been
//! migrated, and opens (and reopens) the store itself.
#![expect(
    clippy::expect_used,
    reason = "a test suite: a failed expectation is a failed test, with its message"
)]

use baton_core::encoded::EncodedJson;
use baton_core::error::{ErrorCode, RunError};
use baton_core::event::{Candidate, Check, Event, EventPayload, PlanPhase, ScoreParts};
use baton_core::graph::TaskSpec;
use baton_core::ids::{AttemptId, RunId, TaskId};
use baton_core::journal::{
    AttemptRecord, Commit, CommitChain, Journal, JournalError, JournalStats, NewRun, RunQuery,
    RunRecord, RunState, StoredRun, TaskRecord, TelemetryRecord, Urgency,
};
use baton_core::status::{AttemptStatus, CallKind, RunStatus, TaskStatus};
use baton_core::usage::{RunUsage, Usage};
use futures_util::future::join_all;
use serde_json::json;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::{JournalConfig, Store};

// ---------------------------------------------------------------------------
// Stories on any journal.
// ---------------------------------------------------------------------------

/// A created run reads back exactly as it was stored, with its first events, by id
/// and by idempotency key.
pub async fn created_run_reads_back_as_stored(journal: &dyn Journal) {
    // Arrange
    let run = new_run(Some("acme"), Some("key-1"));
    let created = run_created(&run);

    // Act
    journal
        .create_run(&run, std::slice::from_ref(&created))
        .await
        .expect("create_run");

    // Assert
    let stored = journal
        .get_run(run.id, None)
        .await
        .expect("get_run")
        .expect("the run exists");
    assert_eq!(stored, RunRecord::new(&run), "updated when it was created");
    let by_key = journal
        .find_by_idempotency_key(Some("acme"), "key-1")
        .await
        .expect("find_by_idempotency_key");
    assert_eq!(by_key.as_ref().map(|found| found.id), Some(run.id));
    assert_eq!(events_of(journal, run.id).await, vec![created]);
    let missing = journal.get_run(RunId::new(), None).await.expect("get_run");
    assert_eq!(missing, None, "an unknown id finds nothing");
}

/// A second run with a tenant's taken idempotency key is refused, names the run
/// that holds the key, and writes nothing at all.
pub async fn taken_idempotency_key_writes_nothing(journal: &dyn Journal) {
    // Arrange
    let first = new_run(Some("acme"), Some("same-key"));
    journal
        .create_run(&first, &[run_created(&first)])
        .await
        .expect("create the first run");
    let second = new_run(Some("acme"), Some("same-key"));

    // Act
    let refused = journal.create_run(&second, &[run_created(&second)]).await;

    // Assert
    match refused {
        Err(JournalError::IdempotencyKeyTaken { existing }) => assert_eq!(existing, first.id),
        other => panic!("expected IdempotencyKeyTaken, got {other:?}"),
    }
    let second_stored = journal.get_run(second.id, None).await.expect("get_run");
    assert_eq!(second_stored, None, "the refused run is not stored");
    assert!(
        events_of(journal, second.id).await.is_empty(),
        "the refused run's events are not stored"
    );
    assert_eq!(all_runs(journal).await.len(), 1);
}

/// Idempotency keys are scoped to a tenant: another tenant (or no tenant) may use
/// the same key, and runs without a key never conflict.
pub async fn idempotency_keys_are_per_tenant(journal: &dyn Journal) {
    let acme = new_run(Some("acme"), Some("shared"));
    let globex = new_run(Some("globex"), Some("shared"));
    let no_tenant = new_run(None, Some("shared"));
    let keyless_a = new_run(Some("acme"), None);
    let keyless_b = new_run(Some("acme"), None);
    for run in [&acme, &globex, &no_tenant, &keyless_a, &keyless_b] {
        journal
            .create_run(run, &[run_created(run)])
            .await
            .expect("create_run");
    }

    for (tenant, expected) in [
        (Some("acme"), acme.id),
        (Some("globex"), globex.id),
        (None, no_tenant.id),
    ] {
        let found = journal
            .find_by_idempotency_key(tenant, "shared")
            .await
            .expect("find_by_idempotency_key")
            .expect("the tenant's run");
        assert_eq!(found.id, expected, "tenant {tenant:?}");
    }
    let unused = journal
        .find_by_idempotency_key(Some("initech"), "shared")
        .await
        .expect("find_by_idempotency_key");
    assert_eq!(unused, None);
    assert_eq!(all_runs(journal).await.len(), 5);
}

/// A commit writes the run's new state, its tasks, attempts, events and the
/// router's telemetry, and they all read back as written.
pub async fn commit_writes_run_tasks_attempts_and_events(journal: &dyn Journal) {
    // Arrange
    let run = stored_run(journal).await;
    let mut state = running_state(&run);
    state.plan = Some(json!({"tasks": [{"id": "research", "instructions": "Look it up."}]}).into());
    state.usage = RunUsage {
        llm_calls: 1,
        tokens_in: 120,
        tokens_out: 80,
        cost_usd: 0.0042,
    };
    let task = task_record(run.id, "research", 0, TaskStatus::Running);
    let attempt = in_flight_attempt(run.id, Some("research"), 1, at(10));
    let events = vec![
        event(run.id, 2, plan_completed()),
        event(run.id, 3, task_start("research", 1)),
    ];
    let telemetry = vec![telemetry_record("sim", "sim-large", 0.75, at(11))];
    let commit = Commit {
        run: Some(Box::new(state.clone())),
        tasks: vec![task.clone()],
        attempts: vec![attempt.clone()],
        events: events.clone(),
        telemetry: telemetry.clone(),
    };

    // Act
    journal.commit(&commit).await.expect("commit");

    // Assert
    let stored = journal
        .get_run(run.id, None)
        .await
        .expect("get_run")
        .expect("the run");
    assert_eq!(stored.state, state);
    assert_eq!(list_tasks(journal, run.id).await, vec![task]);
    assert_eq!(list_attempts(journal, run.id).await, vec![attempt]);
    assert_eq!(events_of(journal, run.id).await[1..], events[..]);
    assert_eq!(load_telemetry(journal).await, telemetry);
}

/// Applying the same commit twice leaves the journal as one application did: no
/// duplicate tasks, attempts or events.
pub async fn reapplying_a_commit_is_harmless(journal: &dyn Journal) {
    let run = stored_run(journal).await;
    let commit = task_a_started(&run);

    journal.commit(&commit).await.expect("first commit");
    let after_once = snapshot(journal, run.id).await;
    journal.commit(&commit).await.expect("second commit");
    let after_twice = snapshot(journal, run.id).await;

    assert_eq!(after_twice.tasks, after_once.tasks);
    assert_eq!(after_twice.attempts, after_once.attempts);
    assert_eq!(after_twice.events, after_once.events);
    assert_eq!(after_twice.events.len(), 3);
    assert_eq!(after_twice.run.state, after_once.run.state);
    assert_eq!(load_telemetry(journal).await, commit.telemetry);
}

/// The same commit applied several times at once lands once: whether the
/// applications share a transaction or race in several, none fails and nothing is
/// stored twice.
pub async fn the_same_commit_applied_at_once_lands_once(journal: &dyn Journal) {
    // Arrange
    let run = stored_run(journal).await;
    let commit = task_a_started(&run);

    // Act
    let outcomes = join_all((0..4).map(|_| journal.commit(&commit))).await;

    // Assert
    for outcome in outcomes {
        outcome.expect("every application succeeds");
    }
    let stored = snapshot(journal, run.id).await;
    assert_eq!(stored.tasks, commit.tasks);
    assert_eq!(stored.attempts, commit.attempts);
    assert_eq!(stored.events[1..], commit.events[..]);
}

/// A commit that starts task `a` of a stored run: the run running, the task and its
/// attempt, two events and a model's telemetry.
fn task_a_started(run: &NewRun) -> Commit {
    Commit {
        run: Some(Box::new(running_state(run))),
        tasks: vec![task_record(run.id, "a", 0, TaskStatus::Running)],
        attempts: vec![in_flight_attempt(run.id, Some("a"), 1, at(1))],
        events: vec![
            event(run.id, 2, task_start("a", 1)),
            event(run.id, 3, delta("a", "hello")),
        ],
        telemetry: vec![telemetry_record("sim", "sim-large", 0.5, at(2))],
    }
}

/// An event, once written, is never replaced: a later commit with the same
/// `(run_id, seq)` keeps the first one.
pub async fn a_written_event_is_never_replaced(journal: &dyn Journal) {
    let run = new_run(None, None);
    let created = run_created(&run);
    journal
        .create_run(&run, std::slice::from_ref(&created))
        .await
        .expect("create_run");
    let first = event(run.id, 2, delta("a", "first"));
    journal
        .commit(&events_commit(vec![first.clone()]))
        .await
        .expect("commit");

    journal
        .commit(&events_commit(vec![event(run.id, 2, delta("a", "second"))]))
        .await
        .expect("commit of the same seq");

    assert_eq!(events_of(journal, run.id).await, vec![created, first]);
}

/// A commit that cannot be applied whole (here: an event of a run that does not
/// exist) fails, and none of its other writes land.
pub async fn failed_commit_writes_nothing(journal: &dyn Journal) {
    // Arrange
    let run = new_run(None, None);
    let created = run_created(&run);
    journal
        .create_run(&run, std::slice::from_ref(&created))
        .await
        .expect("create_run");
    let before = snapshot(journal, run.id).await;
    let unknown_run = RunId::new();
    let commit = Commit {
        run: Some(Box::new(running_state(&run))),
        tasks: vec![task_record(run.id, "a", 0, TaskStatus::Running)],
        attempts: vec![in_flight_attempt(run.id, Some("a"), 1, at(1))],
        events: vec![
            event(run.id, 2, task_start("a", 1)),
            event(unknown_run, 1, delta("a", "orphan")),
        ],
        telemetry: vec![telemetry_record("sim", "sim-large", 0.5, at(2))],
    };

    // Act
    let result = journal.commit(&commit).await;

    // Assert
    assert!(result.is_err(), "a commit naming an unknown run must fail");
    let after = snapshot(journal, run.id).await;
    assert_eq!(after.run.state, before.run.state, "the run is unchanged");
    assert!(after.tasks.is_empty(), "no task landed");
    assert!(after.attempts.is_empty(), "no attempt landed");
    assert_eq!(after.events, vec![created], "no event landed");
    assert!(
        load_telemetry(journal).await.is_empty(),
        "no telemetry landed"
    );
}

/// A task or an attempt of a run that is not stored is refused as `Corrupt`, alone
/// or beside rows of a stored run, and nothing of its commit lands.
pub async fn rows_of_an_unknown_run_are_refused_whole(journal: &dyn Journal) {
    // Arrange
    let run = stored_run(journal).await;
    let unknown_run = RunId::new();
    let orphan_task = Commit {
        tasks: vec![
            task_record(run.id, "a", 0, TaskStatus::Running),
            task_record(unknown_run, "a", 0, TaskStatus::Running),
        ],
        ..Commit::default()
    };
    let orphan_attempt = Commit {
        events: vec![event(run.id, 2, task_start("a", 1))],
        attempts: vec![in_flight_attempt(unknown_run, Some("a"), 1, at(1))],
        ..Commit::default()
    };

    // Act
    let results = [
        journal.commit(&orphan_task).await,
        journal.commit(&orphan_attempt).await,
    ];

    // Assert
    for result in &results {
        assert!(
            matches!(result, Err(JournalError::Corrupt(_))),
            "{result:?}"
        );
    }
    let after = snapshot(journal, run.id).await;
    assert!(after.tasks.is_empty(), "no task landed");
    assert_eq!(
        after.events.len(),
        1,
        "only run_created: {:?}",
        after.events
    );
}

/// A commit too large for one statement (SQLite sends it as several scripts, in one
/// transaction) that fails late, after rows were already sent, is refused whole, and
/// the journal goes on working.
pub async fn a_large_commit_that_fails_late_is_refused_whole(journal: &dyn Journal) {
    // Arrange
    let run = stored_run(journal).await;
    let tasks: Vec<TaskRecord> = (0..1_200)
        .map(|i| task_record(run.id, &format!("t{i:04}"), i, TaskStatus::Running))
        .collect();
    let large = Commit {
        tasks: tasks.clone(),
        attempts: vec![in_flight_attempt(RunId::new(), Some("t0000"), 1, at(1))],
        ..Commit::default()
    };
    let after_it = Commit {
        tasks: tasks[..2].to_vec(),
        events: vec![event(run.id, 2, task_start("t0000", 1))],
        ..Commit::default()
    };

    // Act
    let failed = journal.commit(&large).await;
    let next = journal.commit(&after_it).await;

    // Assert
    assert!(
        matches!(failed, Err(JournalError::Corrupt(_))),
        "{failed:?}"
    );
    next.expect("a commit after the failed one lands");
    let stored = snapshot(journal, run.id).await;
    assert_eq!(stored.tasks.len(), 2, "only the next commit's tasks landed");
    assert_eq!(
        stored.events.len(),
        2,
        "run_created and the next commit's event"
    );
}

/// A run state without a plan leaves the stored plan as it is; every other field
/// of the state is replaced.
pub async fn a_state_without_plan_keeps_the_stored_plan(journal: &dyn Journal) {
    let run = stored_run(journal).await;
    let plan = EncodedJson::from(json!({"tasks": [{"id": "only", "instructions": "Do it."}]}));
    let mut planned = running_state(&run);
    planned.plan = Some(plan.clone());
    journal
        .commit(&state_commit(planned))
        .await
        .expect("commit the plan");

    let mut finished = running_state(&run);
    finished.plan = None;
    finished.status = RunStatus::Failed;
    finished.output = Some("partial answer".to_owned());
    finished.error = Some(RunError::new(
        ErrorCode::BudgetExceeded,
        "the budget ran out",
    ));
    finished.finished_at = Some(at(30));
    journal
        .commit(&state_commit(finished.clone()))
        .await
        .expect("commit the end");

    let stored = journal
        .get_run(run.id, None)
        .await
        .expect("get_run")
        .expect("the run");
    assert_eq!(stored.state.plan, Some(plan));
    assert_eq!(
        RunState {
            plan: None,
            ..stored.state
        },
        finished
    );
}

/// Events written together (one commit, or a run's commits in one transaction, may
/// be stored as one row) read back one by one from any `seq`, at most `limit`; and
/// written again, cut into other commits than they first came in, they are not
/// stored twice, while a new event after them is.
pub async fn events_written_together_read_back_one_by_one_and_land_once(journal: &dyn Journal) {
    // Arrange: one commit of six events, seq 2 to 7.
    let run = stored_run(journal).await;
    let events: Vec<Event> = (2..=7)
        .map(|seq| event(run.id, seq, task_start(&format!("t{seq}"), 1)))
        .collect();
    journal
        .commit(&events_commit(events.clone()))
        .await
        .expect("commit the six events");

    // Act: the same events again in two commits, then a new one.
    let (early, late) = events.split_at(2);
    for again in [early, late] {
        journal
            .commit(&events_commit(again.to_vec()))
            .await
            .expect("commit events already stored");
    }
    let next = event(run.id, 8, task_start("t8", 1));
    journal
        .commit(&events_commit(vec![next.clone()]))
        .await
        .expect("commit a new event");

    // Assert
    let mut expected = vec![run_created(&run)];
    expected.extend(events.iter().cloned());
    expected.push(next.clone());
    assert_eq!(events_of(journal, run.id).await, expected);
    let page = journal
        .events_after(run.id, 3, 2)
        .await
        .expect("events_after");
    assert_eq!(
        page,
        events[2..4],
        "seq 4 and 5, from inside what was written together"
    );
    let tail = journal
        .events_after(run.id, 6, 100)
        .await
        .expect("events_after");
    assert_eq!(tail, [events[5].clone(), next]);
}

/// `last_seq` is the `seq` of a run's last event, whether its events were written one
/// by one or together (stored as one row), and 0 for a run without events.
pub async fn last_seq_is_the_last_events_seq(journal: &dyn Journal) {
    // Arrange: a run whose events 2 to 5 come in one commit and 6 in another.
    let run = stored_run(journal).await;
    let together: Vec<Event> = (2..=5)
        .map(|seq| event(run.id, seq, task_start(&format!("t{seq}"), 1)))
        .collect();
    journal
        .commit(&events_commit(together))
        .await
        .expect("commit four events");
    let after_four = journal.last_seq(run.id).await.expect("last_seq");
    journal
        .commit(&events_commit(vec![event(run.id, 6, task_start("t6", 1))]))
        .await
        .expect("commit a sixth event");

    // Act
    let last = journal.last_seq(run.id).await.expect("last_seq");
    let unknown = journal.last_seq(RunId::new()).await.expect("last_seq");

    // Assert
    assert_eq!(after_four, 5, "the last of the events written together");
    assert_eq!(last, 6);
    assert_eq!(unknown, 0, "a run without events");
}

/// `events_after` returns the events after a seq, in seq order, at most `limit`,
/// only of the run asked for, and each reads back exactly as written (nanosecond
/// times, odd floats, any text).
pub async fn events_after_a_seq_come_in_order_and_round_trip_exactly(journal: &dyn Journal) {
    // Arrange
    let run = new_run(None, None);
    let other = new_run(None, None);
    let mut events = vec![run_created(&run)];
    events.extend(
        varied_payloads()
            .into_iter()
            .zip(2..)
            .map(|(payload, seq)| event(run.id, seq, payload)),
    );
    let n_events = events.len();
    journal
        .create_run(&run, &events[..1])
        .await
        .expect("create_run");
    journal
        .create_run(&other, &[run_created(&other)])
        .await
        .expect("create the other run");
    // Written out of order and in two commits: the log is ordered by seq.
    let (early, late) = events[1..].split_at(4);
    journal
        .commit(&events_commit(late.to_vec()))
        .await
        .expect("commit the late events");
    journal
        .commit(&events_commit(early.to_vec()))
        .await
        .expect("commit the early events");

    // Act & Assert
    assert_eq!(events_of(journal, run.id).await, events);
    let page = journal
        .events_after(run.id, 2, 3)
        .await
        .expect("events_after");
    assert_eq!(page, events[2..5]);
    let last = u64::try_from(n_events).expect("a small count");
    let tail = journal
        .events_after(run.id, last - 1, 100)
        .await
        .expect("events_after");
    assert_eq!(tail, events[n_events - 1..]);
    let none = journal
        .events_after(run.id, last, 100)
        .await
        .expect("events_after");
    assert!(none.is_empty(), "nothing after the last event");
    assert_eq!(events_of(journal, other.id).await.len(), 1);
}

/// A run is visible to its own tenant and to a caller that names no tenant, and to
/// no other tenant, by id or in a list.
pub async fn other_tenants_cannot_see_a_run(journal: &dyn Journal) {
    let acme = new_run(Some("acme"), None);
    let untenanted = new_run(None, None);
    for run in [&acme, &untenanted] {
        journal
            .create_run(run, &[run_created(run)])
            .await
            .expect("create_run");
    }

    let own = journal
        .get_run(acme.id, Some("acme"))
        .await
        .expect("get_run");
    let anyone = journal.get_run(acme.id, None).await.expect("get_run");
    let other = journal
        .get_run(acme.id, Some("globex"))
        .await
        .expect("get_run");
    let cross = journal
        .get_run(untenanted.id, Some("acme"))
        .await
        .expect("get_run");

    assert_eq!(own.map(|run| run.id), Some(acme.id));
    assert_eq!(anyone.map(|run| run.id), Some(acme.id));
    assert_eq!(other, None, "another tenant does not see it");
    assert_eq!(cross, None, "a tenant does not see runs without a tenant");
    let listed = list_ids(
        journal,
        RunQuery {
            tenant: Some("globex".to_owned()),
            limit: 10,
            ..RunQuery::default()
        },
    )
    .await;
    assert!(listed.is_empty(), "another tenant lists nothing");
}

/// `get_run_with_rows` gives what `get_run`, `list_tasks` and `list_attempts` give,
/// and nothing for a run that is not stored or belongs to another tenant.
pub async fn a_run_reads_back_with_its_rows_at_once(journal: &dyn Journal) {
    let run = new_run(Some("acme"), None);
    journal
        .create_run(&run, &[run_created(&run)])
        .await
        .expect("create_run");
    let mut plan = in_flight_attempt(run.id, None, 1, at(1));
    plan.kind = CallKind::Plan;
    // Stored against their order: the later task and attempt first, and the plan
    // order unlike the ids' (`b` comes first).
    journal
        .commit(&Commit {
            run: Some(Box::new(running_state(&run))),
            tasks: vec![task_record(run.id, "a", 1, TaskStatus::Running)],
            attempts: vec![in_flight_attempt(run.id, Some("a"), 1, at(3))],
            ..Commit::default()
        })
        .await
        .expect("commit");
    journal
        .commit(&Commit {
            tasks: vec![task_record(run.id, "b", 0, TaskStatus::Running)],
            attempts: vec![in_flight_attempt(run.id, Some("b"), 1, at(2)), plan],
            ..Commit::default()
        })
        .await
        .expect("commit");

    let stored = journal
        .get_run_with_rows(run.id, Some("acme"))
        .await
        .expect("get_run_with_rows")
        .expect("the run is stored");

    let one_by_one = StoredRun {
        run: journal
            .get_run(run.id, Some("acme"))
            .await
            .expect("get_run")
            .expect("stored"),
        tasks: list_tasks(journal, run.id).await,
        attempts: list_attempts(journal, run.id).await,
    };
    assert_eq!(stored, one_by_one);
    let tasks: Vec<&str> = stored.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(tasks, ["b", "a"], "tasks in plan order");
    let began: Vec<OffsetDateTime> = stored.attempts.iter().map(|a| a.started_at).collect();
    assert_eq!(
        began,
        [at(1), at(2), at(3)],
        "attempts in the order they began"
    );
    let other_tenant = journal
        .get_run_with_rows(run.id, Some("globex"))
        .await
        .expect("get_run_with_rows");
    assert_eq!(other_tenant, None, "another tenant does not see it");
    let unknown = journal
        .get_run_with_rows(RunId::new(), None)
        .await
        .expect("get_run_with_rows");
    assert_eq!(unknown, None);
}

/// `list_runs` returns runs newest first and pages with a `before` cursor: each
/// page holds only runs strictly older than the cursor, and the last page is short.
pub async fn list_runs_is_newest_first_and_pages_with_a_cursor(journal: &dyn Journal) {
    // Arrange: five runs, created in order (their UUIDv7 ids grow).
    let mut ids = Vec::new();
    for _ in 0..5 {
        let run = stored_run(journal).await;
        ids.push(run.id);
    }
    let page = |before: Option<RunId>| RunQuery {
        before,
        limit: 2,
        ..RunQuery::default()
    };

    // Act
    let first = list_ids(journal, page(None)).await;
    let second = list_ids(journal, page(first.last().copied())).await;
    let third = list_ids(journal, page(second.last().copied())).await;
    let beyond = list_ids(journal, page(third.last().copied())).await;

    // Assert
    assert_eq!(first, [ids[4], ids[3]]);
    assert_eq!(second, [ids[2], ids[1]]);
    assert_eq!(third, [ids[0]]);
    assert!(beyond.is_empty());
    let none = list_ids(
        journal,
        RunQuery {
            limit: 0,
            ..RunQuery::default()
        },
    )
    .await;
    assert!(none.is_empty(), "a limit of 0 returns nothing");
}

/// `list_runs` filters by status and by tenant, and the filters combine with the
/// cursor.
pub async fn list_runs_filters_by_status_and_tenant(journal: &dyn Journal) {
    // Arrange: r0..r5; r1 and r3 succeed; r4 and r5 belong to acme.
    let mut runs = Vec::new();
    for tenant in [None, None, None, None, Some("acme"), Some("acme")] {
        let run = new_run(tenant, None);
        journal
            .create_run(&run, &[run_created(&run)])
            .await
            .expect("create_run");
        runs.push(run);
    }
    for index in [1, 3] {
        let mut state = running_state(&runs[index]);
        state.status = RunStatus::Succeeded;
        journal.commit(&state_commit(state)).await.expect("commit");
    }
    let ids: Vec<RunId> = runs.iter().map(|run| run.id).collect();
    let query = |tenant: Option<&str>, status: Option<RunStatus>, before: Option<RunId>| RunQuery {
        tenant: tenant.map(str::to_owned),
        status,
        before,
        limit: 10,
    };

    // Act & Assert
    let succeeded = list_ids(journal, query(None, Some(RunStatus::Succeeded), None)).await;
    assert_eq!(succeeded, [ids[3], ids[1]]);
    let queued = list_ids(journal, query(None, Some(RunStatus::Queued), None)).await;
    assert_eq!(queued, [ids[5], ids[4], ids[2], ids[0]]);
    let queued_before = list_ids(journal, query(None, Some(RunStatus::Queued), Some(ids[4]))).await;
    assert_eq!(queued_before, [ids[2], ids[0]]);
    let acme = list_ids(journal, query(Some("acme"), None, None)).await;
    assert_eq!(acme, [ids[5], ids[4]]);
    let acme_succeeded = list_ids(
        journal,
        query(Some("acme"), Some(RunStatus::Succeeded), None),
    )
    .await;
    assert!(acme_succeeded.is_empty());
    let everyone = list_ids(journal, query(None, None, None)).await;
    assert_eq!(everyone.len(), 6);
}

/// An attempt is written `in_flight` with its reserved cost and no usage, then
/// rewritten in place with its outcome, usage, cost and latency.
pub async fn attempt_goes_from_in_flight_to_succeeded(journal: &dyn Journal) {
    // Arrange
    let run = stored_run(journal).await;
    let in_flight = in_flight_attempt(run.id, Some("draft"), 1, at(5));
    journal
        .commit(&Commit {
            tasks: vec![task_record(run.id, "draft", 0, TaskStatus::Running)],
            attempts: vec![in_flight.clone()],
            ..Commit::default()
        })
        .await
        .expect("commit the attempt in flight");
    assert_eq!(
        list_attempts(journal, run.id).await,
        vec![in_flight.clone()]
    );

    // Act
    let succeeded = AttemptRecord {
        status: AttemptStatus::Succeeded,
        usage: Some(Usage {
            input_tokens: 1_200,
            output_tokens: 340,
            cached_input_tokens: 1_000,
            reasoning_tokens: 120,
            estimated: true,
        }),
        cost_usd: 0.012_345,
        latency_ms: Some(850),
        finished_at: Some(at(6)),
        ..in_flight.clone()
    };
    journal
        .commit(&Commit {
            attempts: vec![succeeded.clone()],
            ..Commit::default()
        })
        .await
        .expect("commit the outcome");

    // Assert
    assert_eq!(
        list_attempts(journal, run.id).await,
        vec![succeeded.clone()]
    );
    let of_task = journal
        .list_attempts(run.id, Some(&task_id("draft")))
        .await
        .expect("list_attempts");
    assert_eq!(of_task, vec![succeeded]);
}

/// A run's attempts list in the order they began (then by id), and filter by task;
/// run-level calls have no task.
pub async fn attempts_list_in_start_order_and_by_task(journal: &dyn Journal) {
    let run = stored_run(journal).await;
    let mut plan = in_flight_attempt(run.id, None, 1, at(1));
    plan.kind = CallKind::Plan;
    let a1 = in_flight_attempt(run.id, Some("a"), 1, at(2));
    let b1 = in_flight_attempt(run.id, Some("b"), 1, at(3));
    let mut judge_a = in_flight_attempt(run.id, Some("a"), 1, at(4));
    judge_a.kind = CallKind::Judge;
    // Written in another order than they began.
    journal
        .commit(&Commit {
            attempts: vec![judge_a.clone(), b1.clone(), plan.clone(), a1.clone()],
            ..Commit::default()
        })
        .await
        .expect("commit");

    assert_eq!(
        list_attempts(journal, run.id).await,
        vec![plan, a1.clone(), b1, judge_a.clone()]
    );
    let of_a = journal
        .list_attempts(run.id, Some(&task_id("a")))
        .await
        .expect("list_attempts");
    assert_eq!(of_a, vec![a1, judge_a]);
    let other_run = journal
        .list_attempts(RunId::new(), None)
        .await
        .expect("list_attempts");
    assert!(other_run.is_empty());
}

/// A task of a stored plan that has no row yet (it has not started) lists as pending,
/// from the plan, in its place: in `list_tasks`, in `get_run_with_rows`, and in the
/// stats while its run is unfinished; a row, once written, replaces it.
pub async fn a_planned_task_without_a_row_lists_as_pending(journal: &dyn Journal) {
    let run = stored_run(journal).await;
    let research = task_record(run.id, "research", 0, TaskStatus::Pending);
    let outline = task_record(run.id, "outline", 1, TaskStatus::Pending);
    let write = task_record(run.id, "write", 2, TaskStatus::Pending);
    let mut state = running_state(&run);
    state.plan = Some(
        json!({
            "tasks": [&research.spec, &outline.spec, &write.spec],
        })
        .into(),
    );
    let started = TaskRecord {
        status: TaskStatus::Running,
        provider: Some("sim".to_owned()),
        model: Some("sim-large".to_owned()),
        attempts: 1,
        started_at: Some(at(2)),
        ..outline.clone()
    };
    journal
        .commit(&Commit {
            run: Some(Box::new(state)),
            tasks: vec![started.clone()],
            ..Commit::default()
        })
        .await
        .expect("commit the plan and one task's start");

    let listed = list_tasks(journal, run.id).await;
    let with_rows = journal
        .get_run_with_rows(run.id, None)
        .await
        .expect("get_run_with_rows")
        .expect("the run is stored");
    let stats = journal.stats().await.expect("stats");

    let expected = vec![research, started, write];
    assert_eq!(listed, expected);
    assert_eq!(with_rows.tasks, expected);
    assert_eq!(
        stats.tasks,
        vec![(TaskStatus::Pending, 2), (TaskStatus::Running, 1)]
    );
}

/// A run's tasks list in plan order, and a task written again is replaced in place.
pub async fn tasks_list_in_plan_order_and_are_replaced_in_place(journal: &dyn Journal) {
    let run = stored_run(journal).await;
    let write = task_record(run.id, "write", 2, TaskStatus::Pending);
    let outline = task_record(run.id, "outline", 1, TaskStatus::Pending);
    let research = task_record(run.id, "research", 0, TaskStatus::Pending);
    journal
        .commit(&Commit {
            tasks: vec![write.clone(), outline.clone(), research.clone()],
            ..Commit::default()
        })
        .await
        .expect("commit the plan's tasks");

    let done = TaskRecord {
        status: TaskStatus::Succeeded,
        output: Some("Findings: …".to_owned()),
        provider: Some("sim".to_owned()),
        model: Some("sim-large".to_owned()),
        attempts: 2,
        usage: RunUsage {
            llm_calls: 2,
            tokens_in: 900,
            tokens_out: 400,
            cost_usd: 0.003,
        },
        started_at: Some(at(3)),
        finished_at: Some(at(9)),
        ..research
    };
    journal
        .commit(&Commit {
            tasks: vec![done.clone()],
            ..Commit::default()
        })
        .await
        .expect("commit the result");

    assert_eq!(
        list_tasks(journal, run.id).await,
        vec![done, outline, write]
    );
}

/// The unfinished runs are exactly those not in a terminal status, oldest first.
pub async fn unfinished_runs_are_those_not_in_a_terminal_status(journal: &dyn Journal) {
    let mut unfinished = Vec::new();
    for &status in RunStatus::ALL {
        let run = stored_run(journal).await;
        let mut state = running_state(&run);
        state.status = status;
        journal.commit(&state_commit(state)).await.expect("commit");
        if !status.is_terminal() {
            unfinished.push(run.id);
        }
    }

    let found: Vec<RunId> = journal
        .unfinished_runs()
        .await
        .expect("unfinished_runs")
        .iter()
        .map(|run| run.id)
        .collect();

    assert_eq!(found, unfinished);
    assert_eq!(found.len(), 3, "queued, running and awaiting_input");
}

/// Many commits at once all land; none fails because another is writing.
pub async fn concurrent_commits_all_land(journal: &dyn Journal) {
    const N_COMMITS: u64 = 24;
    let run = stored_run(journal).await;
    let commits: Vec<Commit> = (0..N_COMMITS)
        .map(|index| {
            let name = format!("t{index}");
            let position = u32::try_from(index).expect("a small index");
            Commit {
                run: Some(Box::new(running_state(&run))),
                tasks: vec![task_record(run.id, &name, position, TaskStatus::Running)],
                attempts: vec![in_flight_attempt(run.id, Some(&name), 1, at(1))],
                events: vec![event(run.id, index + 2, task_start(&name, 1))],
                telemetry: Vec::new(),
            }
        })
        .collect();

    let results = join_all(commits.iter().map(|commit| journal.commit(commit))).await;

    for result in results {
        result.expect("every concurrent commit succeeds");
    }
    let expected_len = usize::try_from(N_COMMITS).expect("a small count");
    assert_eq!(list_tasks(journal, run.id).await.len(), expected_len);
    assert_eq!(list_attempts(journal, run.id).await.len(), expected_len);
    assert_eq!(events_of(journal, run.id).await.len(), expected_len + 1);
}

/// Commits submitted without waiting, for one run, land in submission order and are
/// answered in that order; commits that share a transaction keep the last state of
/// each row (a later state without a plan keeps the earlier plan).
pub async fn a_chain_of_submitted_commits_lands_in_order(journal: &dyn Journal) {
    const N_DELTAS: u64 = 40;
    // Arrange
    let run = stored_run(journal).await;
    let chain = CommitChain::for_run(run.id);
    let plan =
        EncodedJson::from(json!({"tasks": [{"id": "t0", "instructions": "Carry out `t0`."}]}));
    let mut planned = running_state(&run);
    planned.plan = Some(plan.clone());
    let mut attempt = in_flight_attempt(run.id, Some("t0"), 1, at(1));
    let mut commits = vec![Commit {
        run: Some(Box::new(planned)),
        tasks: vec![task_record(run.id, "t0", 0, TaskStatus::Running)],
        attempts: vec![attempt.clone()],
        events: vec![event(run.id, 2, task_start("t0", 1))],
        telemetry: Vec::new(),
    }];
    commits.extend((0..N_DELTAS).map(|index| {
        events_commit(vec![event(
            run.id,
            index + 3,
            delta("t0", &format!("part {index}")),
        )])
    }));
    attempt.status = AttemptStatus::Succeeded;
    attempt.finished_at = Some(at(2));
    let mut finished = running_state(&run);
    finished.usage.llm_calls = 1;
    commits.push(Commit {
        run: Some(Box::new(finished)),
        tasks: vec![task_record(run.id, "t0", 0, TaskStatus::Succeeded)],
        attempts: vec![attempt],
        events: vec![event(run.id, N_DELTAS + 3, delta("t0", "last"))],
        telemetry: Vec::new(),
    });
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));

    // Act
    let outcomes: Vec<_> = commits
        .into_iter()
        .enumerate()
        .map(|(index, commit)| {
            let answered = answered.clone();
            submit_answered(journal, &chain, commit, move || {
                answered.lock().expect("the order").push(index);
            })
        })
        .collect();
    for outcome in join_all(outcomes).await {
        outcome.expect("an answer").expect("every commit lands");
    }

    // Assert
    let order = answered.lock().expect("the order").clone();
    let n_commits = usize::try_from(N_DELTAS).expect("a small count") + 2;
    assert_eq!(
        order,
        (0..n_commits).collect::<Vec<_>>(),
        "answered in order"
    );
    let seqs = seqs_of(journal, run.id).await;
    assert_eq!(seqs, (1..=N_DELTAS + 3).collect::<Vec<_>>());
    let stored = journal
        .get_run(run.id, None)
        .await
        .expect("get_run")
        .expect("the run");
    assert_eq!(stored.state.plan, Some(plan), "the plan is kept");
    assert_eq!(stored.state.usage.llm_calls, 1, "the last state wins");
    let tasks = list_tasks(journal, run.id).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].status, TaskStatus::Succeeded);
    let attempts = list_attempts(journal, run.id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, AttemptStatus::Succeeded);
}

/// A submitted commit that fails breaks its chain: the chain's later commits fail
/// unwritten (so a run's events never have a gap), while another run's chain, in
/// flight at the same time, lands whole.
pub async fn a_failed_commit_breaks_only_its_own_chain(journal: &dyn Journal) {
    // Arrange
    let broken = new_run(None, None);
    let healthy = new_run(None, None);
    for run in [&broken, &healthy] {
        journal
            .create_run(run, &[run_created(run)])
            .await
            .expect("create_run");
    }
    let broken_chain = CommitChain::for_run(broken.id);
    let healthy_chain = CommitChain::for_run(healthy.id);
    let orphan = event(RunId::new(), 1, delta("t0", "orphan"));
    let submit =
        |chain: &CommitChain, commit: Commit| submit_answered(journal, chain, commit, || ());

    // Act
    let mut outcomes = Vec::new();
    for seq in 2..=6 {
        let mut events = vec![event(broken.id, seq, delta("t0", "text"))];
        if seq == 4 {
            events.push(orphan.clone());
        }
        outcomes.push(submit(&broken_chain, events_commit(events)));
        outcomes.push(submit(
            &healthy_chain,
            events_commit(vec![event(healthy.id, seq, delta("t0", "text"))]),
        ));
    }
    let results: Vec<bool> = join_all(outcomes)
        .await
        .into_iter()
        .map(|outcome| outcome.expect("an answer").is_ok())
        .collect();

    // Assert
    let broken_results: Vec<bool> = results.iter().step_by(2).copied().collect();
    let healthy_results: Vec<bool> = results.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(broken_results, vec![true, true, false, false, false]);
    assert_eq!(healthy_results, vec![true; 5]);
    assert!(broken_chain.is_broken());
    assert!(!healthy_chain.is_broken());
    let broken_seqs = seqs_of(journal, broken.id).await;
    assert_eq!(
        broken_seqs,
        vec![1, 2, 3],
        "nothing after the failed commit"
    );
    let healthy_seqs = seqs_of(journal, healthy.id).await;
    assert_eq!(healthy_seqs, vec![1, 2, 3, 4, 5, 6]);
}

/// A run submitted without waiting ([`Journal::submit_run`]) lands ahead of the
/// commits submitted after it on its chain, and is answered first: its first waited
/// commit, submitted before the run is stored, lands whole (a later run update with
/// it, and router state, whatever the batch).
pub async fn a_submitted_run_lands_before_its_chains_commits(journal: &dyn Journal) {
    // Arrange
    let run = new_run(None, None);
    let chain = CommitChain::for_run(run.id);
    let created = run_created(&run);
    let router_state = telemetry_record("submitted", "first-model", 0.5, at(1));
    let first = Commit {
        run: Some(Box::new(running_state(&run))),
        tasks: vec![task_record(run.id, "t0", 0, TaskStatus::Running)],
        attempts: vec![in_flight_attempt(run.id, Some("t0"), 1, at(1))],
        events: vec![event(run.id, 2, task_start("t0", 1))],
        telemetry: vec![router_state.clone()],
    };
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));

    // Act
    let (done, stored) = tokio::sync::oneshot::channel();
    let order = answered.clone();
    journal.submit_run(
        &chain,
        run.clone(),
        vec![created],
        Urgency::Later,
        Box::new(move |result, _| {
            order.lock().expect("the order").push("run");
            let _ = done.send(result);
        }),
    );
    let order = answered.clone();
    let committed = submit_answered(journal, &chain, first, move || {
        order.lock().expect("the order").push("commit");
    });

    // Assert
    committed
        .await
        .expect("an answer")
        .expect("the commit lands");
    stored.await.expect("an answer").expect("the run is stored");
    assert_eq!(*answered.lock().expect("the order"), ["run", "commit"]);
    let stored = journal
        .get_run(run.id, None)
        .await
        .expect("get_run")
        .expect("the run");
    assert_eq!(
        stored.state.status,
        RunStatus::Running,
        "the commit's update"
    );
    assert_eq!(stored.request, run.request);
    assert_eq!(seqs_of(journal, run.id).await, vec![1, 2]);
    assert_eq!(list_tasks(journal, run.id).await.len(), 1);
    assert_eq!(list_attempts(journal, run.id).await.len(), 1);
    assert!(load_telemetry(journal).await.contains(&router_state));
}

/// A submitted run that cannot be stored (here: its id is taken) breaks its chain,
/// so the commits submitted after it fail unwritten, even those that would land.
pub async fn a_submitted_run_that_fails_breaks_its_chain(journal: &dyn Journal) {
    // Arrange
    let stored = stored_run(journal).await;
    let duplicate = NewRun {
        id: stored.id,
        request: json!({"prompt": "another run with a taken id"}).into(),
        ..new_run(None, None)
    };
    let chain = CommitChain::for_run(stored.id);

    // Act
    let (done, outcome) = tokio::sync::oneshot::channel();
    journal.submit_run(
        &chain,
        duplicate,
        vec![run_created(&stored)],
        Urgency::Now,
        Box::new(move |result, _| drop(done.send(result))),
    );
    let after = submit_answered(
        journal,
        &chain,
        events_commit(vec![event(stored.id, 2, delta("t0", "text"))]),
        || (),
    );

    // Assert
    assert!(
        outcome.await.expect("an answer").is_err(),
        "a second run with a taken id is refused"
    );
    assert!(
        after.await.expect("an answer").is_err(),
        "the chain is broken"
    );
    assert!(chain.is_broken());
    assert_eq!(
        seqs_of(journal, stored.id).await,
        vec![1],
        "nothing more lands"
    );
    let read = journal
        .get_run(stored.id, None)
        .await
        .expect("get_run")
        .expect("the run");
    assert_eq!(read.request, stored.request, "the stored run is kept");
}

/// A bad commit among many concurrent ones fails alone and writes nothing; the
/// others land (a store that batches commits must not fail them all together).
pub async fn a_bad_commit_among_concurrent_ones_fails_alone(journal: &dyn Journal) {
    const N_COMMITS: u64 = 16;
    const BAD: u64 = 7;
    let run = stored_run(journal).await;
    let unknown_run = RunId::new();
    let commits: Vec<Commit> = (0..N_COMMITS)
        .map(|index| {
            let name = format!("t{index}");
            let position = u32::try_from(index).expect("a small index");
            let mut events = vec![event(run.id, index + 2, task_start(&name, 1))];
            if index == BAD {
                events.push(event(unknown_run, 1, delta(&name, "orphan")));
            }
            Commit {
                run: None,
                tasks: vec![task_record(run.id, &name, position, TaskStatus::Running)],
                attempts: vec![in_flight_attempt(run.id, Some(&name), 1, at(1))],
                events,
                telemetry: Vec::new(),
            }
        })
        .collect();

    let results = join_all(commits.iter().map(|commit| journal.commit(commit))).await;

    for (index, result) in (0..N_COMMITS).zip(&results) {
        assert_eq!(result.is_err(), index == BAD, "commit {index}: {result:?}");
    }
    let tasks = list_tasks(journal, run.id).await;
    let expected_len = usize::try_from(N_COMMITS - 1).expect("a small count");
    assert_eq!(tasks.len(), expected_len);
    assert!(
        tasks
            .iter()
            .all(|t| t.task_id.as_str() != format!("t{BAD}")),
        "the bad commit's task did not land"
    );
    assert_eq!(list_attempts(journal, run.id).await.len(), expected_len);
    let seqs = seqs_of(journal, run.id).await;
    assert_eq!(seqs.len(), expected_len + 1, "{seqs:?}");
    assert!(
        !seqs.contains(&(BAD + 2)),
        "the bad commit's event did not land"
    );
}

/// Several creates racing with one tenant and key make exactly one run; every
/// other create is told which run holds the key.
pub async fn racing_creates_with_one_key_make_one_run(journal: &dyn Journal) {
    let runs: Vec<NewRun> = (0..8)
        .map(|_| new_run(Some("acme"), Some("race")))
        .collect();
    let events: Vec<Vec<Event>> = runs.iter().map(|run| vec![run_created(run)]).collect();

    let results = join_all(
        runs.iter()
            .zip(&events)
            .map(|(run, events)| journal.create_run(run, events)),
    )
    .await;

    let winners: Vec<RunId> = runs
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_ok())
        .map(|(run, _)| run.id)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one create wins: {results:?}");
    let winner = winners[0];
    for result in &results {
        match result {
            Ok(()) => {}
            Err(JournalError::IdempotencyKeyTaken { existing }) => assert_eq!(*existing, winner),
            Err(other) => panic!("expected IdempotencyKeyTaken, got {other:?}"),
        }
    }
    assert_eq!(all_runs(journal).await.len(), 1);
    for run in &runs {
        let n_events = events_of(journal, run.id).await.len();
        assert_eq!(
            n_events,
            usize::from(run.id == winner),
            "events of {}",
            run.id
        );
    }
}

/// A migrated journal is ready.
pub async fn a_migrated_journal_is_ready(journal: &dyn Journal) {
    assert!(journal.ready().await.expect("ready"), "ready after migrate");
}

/// Telemetry rows read back exactly, by provider then model (a provider's own row
/// has an empty model); a row replaces the stored one only when it is not older,
/// and of two rows for one key in a commit the newer wins.
pub async fn telemetry_reads_back_and_an_older_state_never_replaces_a_newer_one(
    journal: &dyn Journal,
) {
    // Arrange
    let model = telemetry_record("openai", "gpt-4o", 0.5, at(10));
    let provider = telemetry_record("openai", "", 1.0, at(10));
    let other = telemetry_record("anthropic", "claude-sonnet-4-5", 0.125, at(10));
    journal
        .commit(&Commit {
            telemetry: vec![model.clone(), provider.clone(), other.clone()],
            ..Commit::default()
        })
        .await
        .expect("commit");
    assert_eq!(
        load_telemetry(journal).await,
        vec![other.clone(), provider.clone(), model.clone()],
        "read back exactly, ordered by provider then model"
    );

    // Act: an older state, then a newer one and an older one in the same commit.
    journal
        .commit(&Commit {
            telemetry: vec![telemetry_record("openai", "gpt-4o", 0.0, at(5))],
            ..Commit::default()
        })
        .await
        .expect("commit an older state");
    let after_older = load_telemetry(journal).await;
    let newer = telemetry_record("openai", "gpt-4o", 0.875, at(20));
    journal
        .commit(&Commit {
            telemetry: vec![
                newer.clone(),
                telemetry_record("openai", "gpt-4o", 0.25, at(15)),
            ],
            ..Commit::default()
        })
        .await
        .expect("commit a newer and an older state");

    // Assert
    assert_eq!(
        after_older,
        vec![other.clone(), provider.clone(), model],
        "an older state is ignored"
    );
    assert_eq!(
        load_telemetry(journal).await,
        vec![other, provider, newer],
        "the newest state of the commit replaced the stored one"
    );
}

/// `stats` counts runs and tasks by status, sums calls, tokens, cost and latency
/// per provider (tasks by the provider of their last call), and averages the
/// duration of the tasks that ran and ended.
pub async fn stats_sum_runs_tasks_and_calls_per_provider(journal: &dyn Journal) {
    // Arrange: an empty journal first.
    let empty = journal.stats().await.expect("stats of an empty journal");
    assert_eq!(empty, JournalStats::default());
    let finished = new_run(None, None);
    let running = new_run(None, None);
    for run in [&finished, &running] {
        journal
            .create_run(run, &[run_created(run)])
            .await
            .expect("create_run");
    }
    let mut done = running_state(&finished);
    done.status = RunStatus::Succeeded;
    done.finished_at = Some(at(30));
    let mut first = task_record(finished.id, "first", 0, TaskStatus::Succeeded);
    first.provider = Some("openai".to_owned());
    first.started_at = Some(at(1));
    first.finished_at = Some(at(3));
    let mut second = task_record(finished.id, "second", 1, TaskStatus::Failed);
    second.provider = Some("anthropic".to_owned());
    second.started_at = Some(at(1));
    second.finished_at = Some(at(2) + Duration::milliseconds(500));
    let mut skipped = task_record(finished.id, "skipped", 2, TaskStatus::Skipped);
    skipped.finished_at = Some(at(4));
    let waiting = task_record(running.id, "waiting", 0, TaskStatus::Pending);
    let call = |run_id, task: &str, provider: &str, status, tokens: (u64, u64), cost, ms| {
        let mut attempt = in_flight_attempt(run_id, Some(task), 1, at(1));
        attempt.provider = provider.to_owned();
        attempt.status = status;
        attempt.usage = Some(Usage {
            input_tokens: tokens.0,
            output_tokens: tokens.1,
            ..Usage::default()
        });
        attempt.cost_usd = cost;
        attempt.latency_ms = Some(ms);
        attempt
    };
    let attempts = [
        call(
            finished.id,
            "first",
            "openai",
            AttemptStatus::Failed,
            (100, 0),
            0.001,
            200,
        ),
        call(
            finished.id,
            "first",
            "openai",
            AttemptStatus::Succeeded,
            (100, 50),
            0.25,
            800,
        ),
        call(
            finished.id,
            "second",
            "anthropic",
            AttemptStatus::Failed,
            (40, 10),
            0.5,
            1000,
        ),
        in_flight_attempt(running.id, Some("waiting"), 1, at(5)),
    ];
    journal
        .commit(&Commit {
            run: Some(Box::new(done)),
            tasks: vec![first, second, skipped],
            attempts: attempts[..3].to_vec(),
            ..Commit::default()
        })
        .await
        .expect("commit the finished run");
    journal
        .commit(&Commit {
            tasks: vec![waiting],
            attempts: attempts[3..].to_vec(),
            ..Commit::default()
        })
        .await
        .expect("commit the running run");

    // Act
    let stats = journal.stats().await.expect("stats");

    // Assert
    assert_eq!(
        stats.runs,
        vec![(RunStatus::Queued, 1), (RunStatus::Succeeded, 1)]
    );
    assert_eq!(
        stats.tasks,
        vec![
            (TaskStatus::Pending, 1),
            (TaskStatus::Succeeded, 1),
            (TaskStatus::Failed, 1),
            (TaskStatus::Skipped, 1),
        ]
    );
    assert_eq!(stats.task_latency.count, 2, "two tasks ran and ended");
    assert_close(stats.task_latency.total_ms, 3_500.0, "task durations");
    let providers: Vec<&str> = stats
        .providers
        .iter()
        .map(|p| p.provider.as_str())
        .collect();
    assert_eq!(providers, ["anthropic", "openai", "sim"]);
    let anthropic = &stats.providers[0];
    assert_eq!(
        (
            anthropic.calls,
            anthropic.failed_calls,
            anthropic.tokens_in,
            anthropic.tokens_out
        ),
        (1, 1, 40, 10)
    );
    assert_eq!(
        (
            anthropic.tasks,
            anthropic.tasks_succeeded,
            anthropic.tasks_failed
        ),
        (1, 0, 1)
    );
    assert_close(anthropic.cost_usd, 0.5, "anthropic cost");
    assert_close(anthropic.task_latency.total_ms, 1_500.0, "anthropic task");
    let openai = &stats.providers[1];
    assert_eq!(
        (
            openai.calls,
            openai.failed_calls,
            openai.tokens_in,
            openai.tokens_out
        ),
        (2, 1, 200, 50)
    );
    assert_eq!(
        (openai.tasks, openai.tasks_succeeded, openai.tasks_failed),
        (1, 1, 0)
    );
    assert_close(openai.cost_usd, 0.251, "openai cost");
    assert_eq!(openai.call_latency.count, 2);
    assert_close(openai.call_latency.total_ms, 1_000.0, "openai call latency");
    assert_eq!(openai.task_latency.count, 1);
    assert_close(openai.task_latency.total_ms, 2_000.0, "openai task");
    let sim = &stats.providers[2];
    assert_eq!(
        (
            sim.calls,
            sim.failed_calls,
            sim.tokens_in,
            sim.call_latency.count,
            sim.tasks
        ),
        (1, 0, 0, 0, 0),
        "an in-flight call counts, with no usage or latency yet"
    );
}

// ---------------------------------------------------------------------------
// Stories on a store's life: each gets the URL of an empty, unmigrated database.
// ---------------------------------------------------------------------------

/// A store is not ready before its migrations run and is ready after; running them
/// again changes nothing.
pub async fn ready_is_false_before_migrate_and_true_after(config: &JournalConfig) {
    let store = Store::connect(config).await.expect("connect");

    let before = store.ready().await.expect("ready before migrate");
    store.migrate().await.expect("migrate");
    let after = store.ready().await.expect("ready after migrate");
    store.migrate().await.expect("migrate again");
    let after_again = store.ready().await.expect("ready after migrating again");

    assert!(!before, "not ready before migrate");
    assert!(after, "ready after migrate");
    assert!(after_again, "still ready after migrating again");
    store.close().await;
}

/// A burst of writes far larger than the connection pool queues and lands, rather
/// than failing on the pool's acquire timeout (10,000 concurrent runs found this).
pub async fn a_burst_of_writes_larger_than_the_pool_queues_instead_of_timing_out(
    config: &JournalConfig,
) {
    const RUNS: usize = 40;
    const COMMITS: u64 = 300;
    let config = JournalConfig {
        max_connections: 2,
        acquire_timeout_ms: 100,
        ..config.clone()
    };
    let (store, target) = migrated_store_with_a_run(&config).await;

    let runs: Vec<NewRun> = (0..RUNS).map(|_| new_run(None, None)).collect();
    let created: Vec<Vec<Event>> = runs.iter().map(|run| vec![run_created(run)]).collect();
    let commits: Vec<Commit> = (0..COMMITS)
        .map(|index| Commit {
            events: vec![event(target.id, index + 2, delta("a", "burst"))],
            ..Commit::default()
        })
        .collect();
    let journal: &dyn Journal = &store;
    let (creates, writes) = futures_util::future::join(
        join_all(
            runs.iter()
                .zip(&created)
                .map(|(run, events)| journal.create_run(run, events)),
        ),
        join_all(commits.iter().map(|commit| journal.commit(commit))),
    )
    .await;

    for result in creates.iter().chain(&writes) {
        assert!(result.is_ok(), "a queued write failed: {result:?}");
    }
    let events = events_of(journal, target.id).await;
    assert_eq!(events.len(), usize::try_from(COMMITS).expect("small") + 1);
    store.close().await;
}

/// Everything committed survives closing the store and opening it again (a
/// restart): runs, tasks, attempts and events, the unfinished runs to resume, and
/// the router's telemetry.
pub async fn data_survives_reopening_the_store(config: &JournalConfig) {
    // Arrange
    let store = Store::connect(config).await.expect("connect");
    store.migrate().await.expect("migrate");
    let run = new_run(Some("acme"), Some("restart"));
    let created = run_created(&run);
    store
        .create_run(&run, std::slice::from_ref(&created))
        .await
        .expect("create_run");
    let commit = Commit {
        run: Some(Box::new(running_state(&run))),
        tasks: vec![task_record(run.id, "a", 0, TaskStatus::Running)],
        attempts: vec![in_flight_attempt(run.id, Some("a"), 1, at(1))],
        events: vec![event(run.id, 2, task_start("a", 1))],
        telemetry: vec![
            telemetry_record("sim", "", 1.0, at(2)),
            telemetry_record("sim", "sim-large", 0.25, at(2)),
        ],
    };
    store.commit(&commit).await.expect("commit");
    let before = snapshot(&store, run.id).await;

    // Act
    store.close().await;
    let reopened = Store::connect(config).await.expect("reconnect");

    // Assert
    assert!(reopened.ready().await.expect("ready"), "still migrated");
    let after = snapshot(&reopened, run.id).await;
    assert_eq!(after.run, before.run);
    assert_eq!(after.tasks, before.tasks);
    assert_eq!(after.attempts, before.attempts);
    assert_eq!(after.events, vec![created, commit.events[0].clone()]);
    let unfinished = reopened.unfinished_runs().await.expect("unfinished_runs");
    assert_eq!(unfinished, vec![before.run]);
    assert_eq!(load_telemetry(&reopened).await, commit.telemetry);
    reopened.close().await;
}

/// Closing a store right after a write does not wait for its writer to give back
/// the connection it keeps between batches (it would after `KEEP_IDLE`): the store
/// tells the writers to give theirs back first.
pub async fn closing_right_after_a_write_does_not_wait_for_the_idle_writer(config: &JournalConfig) {
    let (store, _) = migrated_store_with_a_run(config).await;

    // A bound, not a measurement: closing takes milliseconds, and waiting for the
    // idle writer would take at least `KEEP_IDLE`.
    let closed = tokio::time::timeout(crate::queue::KEEP_IDLE / 2, store.close()).await;

    assert!(closed.is_ok(), "close waited for the idle writer");
}

/// A store with one connection in all reads right after a write, without waiting for
/// the writer to give that connection back (it keeps none when there is only one).
pub async fn a_one_connection_store_reads_right_after_a_write(config: &JournalConfig) {
    let config = JournalConfig {
        max_connections: 1,
        ..config.clone()
    };
    let (store, run) = migrated_store_with_a_run(&config).await;

    // A bound, not a measurement: the read takes milliseconds, and waiting for the
    // idle writer would take at least `KEEP_IDLE`.
    let read = tokio::time::timeout(crate::queue::KEEP_IDLE / 2, store.get_run(run.id, None)).await;

    let stored = read
        .expect("the read waited for the writer")
        .expect("get_run");
    assert_eq!(stored.map(|stored| stored.id), Some(run.id));
    store.close().await;
}

/// A closed store answers every call with `Unavailable`, and never panics.
pub async fn a_closed_store_is_unavailable(config: &JournalConfig) {
    let store = Store::connect(config).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.close().await;

    let run = new_run(None, None);
    let created = store.create_run(&run, &[run_created(&run)]).await;
    let read = store.get_run(run.id, None).await;
    let ready = store.ready().await;

    assert!(
        matches!(created, Err(JournalError::Unavailable(_))),
        "{created:?}"
    );
    assert!(
        matches!(read, Err(JournalError::Unavailable(_))),
        "{read:?}"
    );
    assert!(
        matches!(ready, Err(JournalError::Unavailable(_))),
        "{ready:?}"
    );
}

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

/// A fixed base time, in whole microseconds (what the stores keep).
fn base_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("a valid timestamp")
        + Duration::microseconds(123_456)
}

/// The base time plus some seconds.
fn at(seconds: i64) -> OffsetDateTime {
    base_time() + Duration::seconds(seconds)
}

fn task_id(id: &str) -> TaskId {
    TaskId::parse(id).expect("a valid task id")
}

/// A connected, migrated store on `config` with one run created in it.
async fn migrated_store_with_a_run(config: &JournalConfig) -> (Store, NewRun) {
    let store = Store::connect(config).await.expect("connect");
    store.migrate().await.expect("migrate");
    let run = new_run(None, None);
    store
        .create_run(&run, &[run_created(&run)])
        .await
        .expect("create_run");
    (store, run)
}

/// A new run without tenant or key, stored with its `run_created` event.
async fn stored_run(journal: &dyn Journal) -> NewRun {
    let run = new_run(None, None);
    journal
        .create_run(&run, &[run_created(&run)])
        .await
        .expect("create_run");
    run
}

fn new_run(tenant: Option<&str>, key: Option<&str>) -> NewRun {
    NewRun {
        id: RunId::new(),
        tenant: tenant.map(str::to_owned),
        request: json!({
            "prompt": "Write a 3-section blog post about AI — «naïve» 🚀",
            "options": {"strategy": "parallel", "budget_usd": 0.5, "verify": true},
            "metadata": {}
        })
        .into(),
        idempotency_key: key.map(str::to_owned),
        request_hash: key.map(|key| format!("sha256:{key}")),
        status: RunStatus::Queued,
        created_at: base_time(),
    }
}

fn running_state(run: &NewRun) -> RunState {
    RunState {
        started_at: Some(at(1)),
        ..RunState::new(run.id, RunStatus::Running, at(1))
    }
}

fn task_record(run_id: RunId, id: &str, position: u32, status: TaskStatus) -> TaskRecord {
    let mut spec = TaskSpec::new(task_id(id), format!("Carry out `{id}`."));
    spec.title = Some(format!("Task {id}"));
    spec.success_criteria = vec!["Cites a source".to_owned()];
    spec.output_schema = Some(json!({"type": "object", "required": ["answer"]}));
    spec.timeout_s = Some(12.5);
    TaskRecord {
        status,
        ..TaskRecord::pending(run_id, position, spec.into())
    }
}

fn in_flight_attempt(
    run_id: RunId,
    task: Option<&str>,
    number: u32,
    started_at: OffsetDateTime,
) -> AttemptRecord {
    AttemptRecord {
        id: AttemptId::new(),
        run_id,
        task_id: task.map(task_id),
        kind: CallKind::Task,
        number,
        provider: "sim".to_owned(),
        model: "sim-large".to_owned(),
        status: AttemptStatus::InFlight,
        reserved_cost_usd: 0.02,
        usage: None,
        cost_usd: 0.0,
        latency_ms: None,
        error: None,
        started_at,
        finished_at: None,
    }
}

/// An event at a time with nanoseconds and an offset, which the event log keeps
/// exactly (unlike the record columns).
fn event(run_id: RunId, seq: u64, payload: EventPayload) -> Event {
    let offset = UtcOffset::from_hms(5, 30, 0).expect("a valid offset");
    let seq_i64 = i64::try_from(seq).expect("a small seq");
    Event {
        run_id,
        seq,
        ts: (base_time() + Duration::nanoseconds(987 + seq_i64)).to_offset(offset),
        payload,
    }
}

fn run_created(run: &NewRun) -> Event {
    event(
        run.id,
        1,
        EventPayload::RunCreated {
            request: run.request.clone(),
        },
    )
}

fn plan_completed() -> EventPayload {
    EventPayload::Plan {
        phase: PlanPhase::Completed,
        tasks: Some(vec![
            task_record(RunId::new(), "research", 0, TaskStatus::Pending).spec,
        ]),
        fallback: false,
        source: Some("planner".to_owned()),
    }
}

fn task_start(task: &str, attempt: u32) -> EventPayload {
    EventPayload::TaskStart {
        task_id: task_id(task),
        attempt,
        provider: "sim".to_owned(),
        model: "sim-large".to_owned(),
    }
}

fn delta(task: &str, text: &str) -> EventPayload {
    EventPayload::TaskDelta {
        task_id: task_id(task),
        text: text.to_owned(),
    }
}

/// Payloads with the values a log must keep exactly: floats that print long, tiny
/// and huge numbers, escapes, non-ASCII text and nested JSON.
fn varied_payloads() -> Vec<EventPayload> {
    let parts = ScoreParts {
        price: 0.1 + 0.2,
        latency: -0.25,
        quality: 1e-300,
        ..ScoreParts::default()
    };
    vec![
        plan_completed(),
        EventPayload::Decision {
            task_id: task_id("research"),
            provider: "openai".to_owned(),
            model: "gpt-4o-mini".to_owned(),
            score: 0.1 + 0.2,
            candidates: vec![
                Candidate {
                    provider: "openai".to_owned(),
                    model: "gpt-4o-mini".to_owned(),
                    score: Some(1.0 / 3.0),
                    parts: Some(parts),
                    skipped: None,
                },
                Candidate {
                    provider: "anthropic".to_owned(),
                    model: "claude".to_owned(),
                    score: None,
                    parts: None,
                    skipped: Some("circuit open".to_owned()),
                },
            ],
        },
        delta(
            "research",
            "naïve «quotes» \"escaped\" \\ back\nslash\ttab \u{2028} 🚀 </script> {{x}}",
        ),
        EventPayload::TaskRetry {
            task_id: task_id("research"),
            attempt: 1,
            delay_ms: u64::from(u32::MAX) * 4,
            error: "HTTP 429: rate limited".to_owned(),
        },
        EventPayload::TaskArtifact {
            task_id: task_id("research"),
            output: "{\"answer\": 42}".to_owned(),
            usage: Usage {
                input_tokens: 1_000_000_007,
                output_tokens: 3,
                cached_input_tokens: 5,
                reasoning_tokens: 1,
                estimated: true,
            },
            cost_usd: 1.0e-7,
            latency_ms: 1_234,
        },
        EventPayload::TaskVerified {
            task_id: task_id("research"),
            passed: false,
            score: 0.666_666_666_666_666_6,
            checks: vec![Check {
                name: "output_schema".to_owned(),
                passed: false,
                detail: Some("missing `answer`".to_owned()),
            }],
        },
        EventPayload::TaskFailed {
            task_id: task_id("research"),
            error: "judge rejected".to_owned(),
            fallback: None,
        },
        EventPayload::Final {
            status: RunStatus::Failed,
            output: None,
            error: Some(RunError::new(
                ErrorCode::BudgetExceeded,
                "the budget ran out",
            )),
        },
        EventPayload::Stats {
            tasks_total: 1,
            tasks_succeeded: 0,
            tasks_failed: 1,
            llm_calls: 2,
            tokens_in: 1_000_000_007,
            tokens_out: 3,
            cost_usd: 12_345.678_901_234_5,
            duration_ms: 9_007_199_254_740_993,
        },
    ]
}

fn events_commit(events: Vec<Event>) -> Commit {
    Commit {
        events,
        ..Commit::default()
    }
}

fn state_commit(state: RunState) -> Commit {
    Commit {
        run: Some(Box::new(state)),
        ..Commit::default()
    }
}

/// A telemetry row whose state is nested JSON with a float, an array and text.
fn telemetry_record(
    provider: &str,
    model: &str,
    success_rate: f64,
    updated_at: OffsetDateTime,
) -> TelemetryRecord {
    TelemetryRecord {
        provider: provider.to_owned(),
        model: model.to_owned(),
        state: json!({
            "telemetry": {
                "success_weight": success_rate,
                "latency_buckets": [0.0, 1.5, 2.25],
                "totals": {"calls": 3, "last_error": {"message": "«naïve» 🚀 error"}}
            },
            "breaker": {"state": "open", "open_for_s": 29.5, "window": [[1.25, true]]}
        }),
        updated_at,
    }
}

/// Sums of floats from the database are equal up to rounding.
fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-6,
        "{what}: {actual} is not {expected}"
    );
}

async fn load_telemetry(journal: &dyn Journal) -> Vec<TelemetryRecord> {
    journal.load_telemetry().await.expect("load_telemetry")
}

/// Everything stored about one run.
struct Snapshot {
    run: RunRecord,
    tasks: Vec<TaskRecord>,
    attempts: Vec<AttemptRecord>,
    events: Vec<Event>,
}

async fn snapshot(journal: &dyn Journal, run_id: RunId) -> Snapshot {
    Snapshot {
        run: journal
            .get_run(run_id, None)
            .await
            .expect("get_run")
            .expect("the run exists"),
        tasks: list_tasks(journal, run_id).await,
        attempts: list_attempts(journal, run_id).await,
        events: events_of(journal, run_id).await,
    }
}

/// Submits a commit; `then` runs when it is answered, before the answer is sent.
fn submit_answered(
    journal: &dyn Journal,
    chain: &CommitChain,
    commit: Commit,
    then: impl FnOnce() + Send + 'static,
) -> tokio::sync::oneshot::Receiver<Result<(), JournalError>> {
    let (done, outcome) = tokio::sync::oneshot::channel();
    journal.submit(
        chain,
        commit,
        Urgency::Now,
        Box::new(move |result, _| {
            then();
            let _ = done.send(result);
        }),
    );
    outcome
}

async fn seqs_of(journal: &dyn Journal, run_id: RunId) -> Vec<u64> {
    events_of(journal, run_id)
        .await
        .iter()
        .map(|e| e.seq)
        .collect()
}

async fn events_of(journal: &dyn Journal, run_id: RunId) -> Vec<Event> {
    journal
        .events_after(run_id, 0, 10_000)
        .await
        .expect("events_after")
}

async fn list_tasks(journal: &dyn Journal, run_id: RunId) -> Vec<TaskRecord> {
    journal.list_tasks(run_id).await.expect("list_tasks")
}

async fn list_attempts(journal: &dyn Journal, run_id: RunId) -> Vec<AttemptRecord> {
    journal
        .list_attempts(run_id, None)
        .await
        .expect("list_attempts")
}

async fn all_runs(journal: &dyn Journal) -> Vec<RunRecord> {
    journal
        .list_runs(&RunQuery {
            limit: 1_000,
            ..RunQuery::default()
        })
        .await
        .expect("list_runs")
}

async fn list_ids(journal: &dyn Journal, query: RunQuery) -> Vec<RunId> {
    journal
        .list_runs(&query)
        .await
        .expect("list_runs")
        .iter()
        .map(|run| run.id)
        .collect()
}
