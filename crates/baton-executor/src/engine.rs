//! The engine's public face: submit a run, watch it, wait for it, cancel it, resume
//! the runs a previous process left unfinished.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_core::encoded::EncodedJson;
use baton_core::error::{ErrorCode, HasCode, RunError};
use baton_core::event::{Event, EventPayload};
use baton_core::graph::{TaskGraph, Workflow};
use baton_core::ids::RunId;
use baton_core::journal::{
    Commit, CommitChain, CommittedRun, Journal, JournalError, NewRun, RunRecord, RunState,
    StoredRun, Urgency,
};
use baton_core::request::{RequestError, RequestLimits, RunOptions, RunRequest, ValidRunRequest};
use baton_core::status::{AttemptStatus, RunStatus, TaskStatus};
use baton_planner::PlannerConfig;
use baton_router::Router;
use baton_verifier::VerifyConfig;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, broadcast, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ctx::{RunCtx, dropped};
use crate::hub::EventHub;
use crate::retry::RetryPolicy;
use crate::run::{RunStart, StopReason, execute, stats_event};

/// The engine's configuration.
#[derive(Clone, Debug, Default)]
pub struct EngineConfig {
    /// Option values used when a request leaves them out.
    pub defaults: RunOptions,
    /// What a request may ask for.
    pub limits: RequestLimits,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// The planner's settings (repair limit, output size).
    pub planner: PlannerConfig,
    /// The verifier's settings (length bounds, judge threshold).
    pub verify: VerifyConfig,
    /// The output allowance of a task call, in tokens.
    pub task_max_output_tokens: u32,
    /// The output allowance of a synthesis call, in tokens.
    pub synthesis_max_output_tokens: u32,
    /// The most model calls in flight at once over every run of the engine
    /// (`None`: no engine-wide cap; runs still keep their own `max_concurrency`).
    pub max_calls_in_flight: Option<u32>,
}

impl EngineConfig {
    /// The shipped defaults with the given output allowances.
    pub fn with_defaults() -> Self {
        Self {
            task_max_output_tokens: 2048,
            synthesis_max_output_tokens: 4096,
            ..Self::default()
        }
    }
}

/// A request to start a run.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The body as the client sent it (validated by the engine).
    pub request: RunRequest,
    /// The tenant that owns the run (`None` when auth is off).
    pub tenant: Option<String>,
    /// The client's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// Whether model tokens are streamed as `task_delta` events when the request's
    /// `options.stream` is left out (true for `POST /stream/run`).
    pub stream_by_default: bool,
    /// Whether the engine keeps the run as its commits leave it, for [`Engine::wait`]
    /// to give back once it ends, so that whoever answers with the finished run (`POST
    /// /run`) need not read it back from the journal. It costs a copy of every task
    /// and attempt row until the run ends.
    pub keep_committed: bool,
}

/// What `submit` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// A new run was stored and started.
    New(RunId),
    /// The idempotency key named an existing run with the same body; nothing new started.
    Existing(RunId),
}

impl Started {
    /// The run's id either way.
    pub fn run_id(self) -> RunId {
        match self {
            Started::New(id) | Started::Existing(id) => id,
        }
    }
}

/// Why the engine refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request is invalid; the message says what to fix.
    #[error(transparent)]
    Invalid(#[from] RequestError),
    /// The idempotency key was used before with a different body.
    #[error(
        "this Idempotency-Key was used for a different request: use a new key, or resend the same body"
    )]
    IdempotencyConflict,
    /// No such run (for this tenant).
    #[error("no run with id {0}")]
    RunNotFound(RunId),
    /// The store failed.
    #[error("the journal is unavailable")]
    Journal(#[from] JournalError),
    /// The server is shutting down and takes no new runs.
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl HasCode for EngineError {
    fn code(&self) -> ErrorCode {
        match self {
            EngineError::Invalid(err) => err.code(),
            EngineError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            EngineError::RunNotFound(_) => ErrorCode::RunNotFound,
            EngineError::Journal(_) => ErrorCode::StorageUnavailable,
            EngineError::ShuttingDown => ErrorCode::Unavailable,
        }
    }
}

/// How often, at most, a model's router state is saved after successful calls.
const TELEMETRY_SAVE_INTERVAL: Duration = Duration::from_secs(1);

impl Inner {
    /// Whether a call's outcome should save its model's router state now: always
    /// after a failure, else once per `TELEMETRY_SAVE_INTERVAL`. Marks it saved.
    pub(crate) fn telemetry_save_due(&self, provider: &str, model: &str, failed: bool) -> bool {
        let now = tokio::time::Instant::now();
        let mut saved = self
            .telemetry_saved
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (provider.to_owned(), model.to_owned());
        let due = failed
            || saved
                .get(&key)
                .is_none_or(|at| now.saturating_duration_since(*at) >= TELEMETRY_SAVE_INTERVAL);
        if due {
            saved.insert(key, now);
        }
        due
    }
}

/// The run engine. Cheap to clone: clones share one engine.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// What every run of the engine shares.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) journal: Arc<dyn Journal>,
    pub(crate) router: Arc<Router>,
    pub(crate) hub: EventHub,
    /// The engine-wide cap on calls in flight, when there is one. Never closed.
    pub(crate) call_slots: Option<Arc<Semaphore>>,
    /// When each model's router state was last saved, by `(provider, model)`.
    telemetry_saved: Mutex<HashMap<(String, String), tokio::time::Instant>>,
    /// The runs executing in this process. Inserted by `start` before the run's task
    /// is spawned, removed by that task when the run ends.
    live: Mutex<HashMap<RunId, LiveRun>>,
    /// Owns every run task, so shutdown can wait for them.
    tracker: TaskTracker,
    /// Cancelled at shutdown: no new runs are accepted after it.
    shutdown: CancellationToken,
}

#[derive(Debug)]
struct LiveRun {
    /// Cancels the run's calls.
    cancel: CancellationToken,
    /// Why the run was stopped, set before `cancel` fires.
    stop: Arc<Mutex<Option<StopReason>>>,
    /// Becomes true when the run's task has ended.
    done: watch::Receiver<bool>,
    /// Filled before `done`, when the run was submitted with `keep_committed` and
    /// every commit landed: the run as its commits left it. The first waiter takes
    /// it (whoever waits too reads the journal), so it is handed over, not copied.
    committed: Arc<Mutex<Option<StoredRun>>>,
}

impl Engine {
    /// An engine writing to `journal` and routing with `router`.
    pub fn new(config: EngineConfig, journal: Arc<dyn Journal>, router: Arc<Router>) -> Engine {
        let call_slots = config
            .max_calls_in_flight
            .map(|cap| Arc::new(Semaphore::new(cap.max(1) as usize)));
        Engine {
            inner: Arc::new(Inner {
                config,
                journal,
                router,
                hub: EventHub::default(),
                call_slots,
                telemetry_saved: Mutex::new(HashMap::new()),
                live: Mutex::new(HashMap::new()),
                tracker: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// The store the engine writes to (the server reads runs through it).
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.inner.journal
    }

    /// The router the engine routes with.
    pub fn router(&self) -> &Arc<Router> {
        &self.inner.router
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Validates a request, stores the run with its `run_created` event and starts it
    /// in the background. Returns once the run is committed (a run without an
    /// idempotency key may have begun by then: its creation shares the transaction
    /// of its first waited-for write).
    #[tracing::instrument(skip_all, fields(run.id))]
    pub async fn submit(&self, submission: Submission) -> Result<Started, EngineError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(EngineError::ShuttingDown);
        }
        if submission.idempotency_key.is_some() {
            // Boxed: a keyed submission reads and writes the journal with the whole
            // run in hand, and that state would otherwise take room in every
            // submission's future, which a caller holds while the run is created
            // (W4runs, see BENCHMARKS.md).
            return Box::pin(self.submit_keyed(submission)).await;
        }
        // Nothing can refuse a run without a key, so it starts at once: its creation
        // is the first write of its chain and waits to share the transaction of the
        // run's first waited-for write (a call's attempt row), instead of taking one
        // of its own before it. The caller is answered once the run is stored.
        let valid = self.validate(&submission)?;
        let run = Self::make_run(&submission, valid, None)?;
        // What the client sent is encoded in the run now: it goes before the wait for
        // the run's creation, not after it (a wide workflow is megabytes).
        drop(submission);
        let run_id = run.new_run.id;
        let chain = CommitChain::for_run(run_id);
        let (done, stored) = oneshot::channel();
        self.inner.journal.submit_run(
            &chain,
            run.new_run,
            vec![run.created],
            Urgency::Later,
            Box::new(move |result, _| drop(done.send(result))),
        );
        let cancel = self.start(run.launch, chain);
        match stored.await.unwrap_or_else(|_| Err(dropped())) {
            Ok(()) => Ok(Started::New(run_id)),
            Err(err) => {
                // Its chain is broken, so none of its writes lands and no call is made.
                cancel.cancel();
                Err(err.into())
            }
        }
    }

    /// [`Engine::submit`] of a request with an idempotency key: the run is stored
    /// first and started after, since the key may be taken.
    async fn submit_keyed(&self, submission: Submission) -> Result<Started, EngineError> {
        let valid = self.validate(&submission)?;
        let tenant = submission.tenant.as_deref();
        let request_hash = request_hash(&submission);
        if let Some(key) = &submission.idempotency_key
            && let Some(existing) = self
                .inner
                .journal
                .find_by_idempotency_key(tenant, key)
                .await?
        {
            return same_request(&existing, Some(&request_hash));
        }
        let run = Self::make_run(&submission, valid, Some(request_hash))?;
        let run_id = run.new_run.id;
        match self
            .inner
            .journal
            .create_run(&run.new_run, std::slice::from_ref(&run.created))
            .await
        {
            Ok(()) => {}
            Err(JournalError::IdempotencyKeyTaken { existing }) => {
                // Another submission with the same key won the race.
                let Some(stored) = self.inner.journal.get_run(existing, tenant).await? else {
                    return Err(EngineError::IdempotencyConflict);
                };
                return same_request(&stored, run.new_run.request_hash.as_deref());
            }
            Err(err) => return Err(err.into()),
        }
        self.start(run.launch, CommitChain::for_run(run_id));
        Ok(Started::New(run_id))
    }

    /// A submission's request, validated over the engine's defaults and limits.
    fn validate(&self, submission: &Submission) -> Result<ValidRunRequest, EngineError> {
        let config = &self.inner.config;
        let mut defaults = config.defaults.clone();
        defaults.stream = submission.stream_by_default;
        Ok(submission.request.validate(&defaults, &config.limits)?)
    }

    /// The run a validated submission asks for: the run to store (its request encoded
    /// once, shared with its `run_created` event) and what starting it takes.
    fn make_run(
        submission: &Submission,
        valid: ValidRunRequest,
        request_hash: Option<String>,
    ) -> Result<PreparedRun, EngineError> {
        let run_id = RunId::new();
        tracing::Span::current().record("run.id", tracing::field::display(run_id));
        let stored = StoredRequest {
            metadata: &valid.metadata,
            options: &valid.options,
            prompt: valid.prompt.as_deref(),
            workflow: submission.request.workflow.as_ref(),
        }
        .encode()?;
        let now = OffsetDateTime::now_utc();
        let created = Event {
            run_id,
            seq: 1,
            ts: now,
            payload: EventPayload::RunCreated {
                request: stored.clone(),
            },
        };
        let new_run = NewRun {
            id: run_id,
            tenant: submission.tenant.clone(),
            request: stored,
            idempotency_key: submission.idempotency_key.clone(),
            request_hash,
            status: RunStatus::Queued,
            created_at: now,
        };
        let kept = submission
            .keep_committed
            .then(|| CommittedRun::new(&new_run));
        Ok(PreparedRun {
            new_run,
            created,
            launch: Launch {
                state: RunState::new(run_id, RunStatus::Queued, now),
                // After its `run_created`.
                next_seq: 2,
                options: valid.options,
                prompt: valid.prompt,
                start: RunStart {
                    graph: valid.workflow,
                    graph_is_workflow: true,
                    tasks: Vec::new(),
                },
                kept,
            },
        })
    }

    /// Live events of a run running in this process, or `None` (read the journal).
    /// Subscribe *before* reading the journal, then skip live events already read.
    pub fn subscribe(&self, run_id: RunId) -> Option<broadcast::Receiver<Arc<Event>>> {
        self.inner.hub.subscribe(run_id)
    }

    /// Returns when the run's task has ended (at once if it is not running in this
    /// process): it ended, paused for answers, or stopped for shutdown. Gives the run
    /// as its commits left it (what the journal holds for it now) when it was
    /// submitted with [`Submission::keep_committed`] and every commit landed, to the
    /// first caller that waits for it; otherwise `None`, and the journal has the run.
    pub async fn wait(&self, run_id: RunId) -> Option<StoredRun> {
        let (mut done, committed) = {
            let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            live.get(&run_id)
                .map(|run| (run.done.clone(), run.committed.clone()))?
        };
        // An error means the sender is gone, i.e. the run's task ended.
        let _ = done.wait_for(|ended| *ended).await;
        committed.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Cancels a run: idempotent; a run that already ended is left as it is. Returns
    /// once the cancellation is requested (the run's calls stop promptly after).
    #[tracing::instrument(skip_all, fields(run.id = %run_id))]
    pub async fn cancel(&self, run_id: RunId, tenant: Option<&str>) -> Result<(), EngineError> {
        let Some(run) = self.inner.journal.get_run(run_id, tenant).await? else {
            return Err(EngineError::RunNotFound(run_id));
        };
        if run.state.status.is_terminal() {
            return Ok(());
        }
        let stopped = {
            let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            live.get(&run_id).map(|run| {
                let mut stop = run.stop.lock().unwrap_or_else(|p| p.into_inner());
                stop.get_or_insert(StopReason::Cancelled);
                run.cancel.cancel();
            })
        };
        if stopped.is_none() {
            // Not running here (e.g. it never started): close it in the journal.
            self.close_unfinished(
                &run,
                RunStatus::Cancelled,
                RunError::new(ErrorCode::Cancelled, "the run was cancelled"),
            )
            .await?;
        }
        Ok(())
    }

    /// Picks up the runs a previous process left unfinished: interrupted calls are
    /// recorded as such, and each run goes on from its journaled state (finished tasks
    /// are not run again). Returns how many runs were resumed.
    pub async fn resume_unfinished(&self) -> Result<usize, EngineError> {
        let journal = &self.inner.journal;
        let runs = journal.unfinished_runs().await?;
        let mut resumed = 0;
        for run in runs {
            if run.state.status == RunStatus::AwaitingInput {
                continue;
            }
            let attempts = journal.list_attempts(run.id, None).await?;
            let now = OffsetDateTime::now_utc();
            let interrupted: Vec<_> = attempts
                .into_iter()
                .filter(|a| a.status == AttemptStatus::InFlight)
                .map(|mut a| {
                    a.status = AttemptStatus::Interrupted;
                    a.error = Some("the server stopped while this call was in flight".to_owned());
                    a.finished_at = Some(now);
                    a
                })
                .collect();
            if !interrupted.is_empty() {
                journal
                    .commit(&Commit {
                        attempts: interrupted,
                        ..Commit::default()
                    })
                    .await?;
            }
            match self.prepare_resume(&run).await {
                Ok(Some(launch)) => {
                    tracing::info!(run.id = %run.id, "resuming an interrupted run");
                    self.start(launch, CommitChain::for_run(run.id));
                    resumed += 1;
                }
                Ok(None) | Err(_) => {
                    let error = RunError::new(
                        ErrorCode::Interrupted,
                        "the server stopped during this run and its stored request could not be resumed",
                    );
                    self.close_unfinished(&run, RunStatus::Failed, error)
                        .await?;
                }
            }
        }
        Ok(resumed)
    }

    /// Stops taking new runs and stops the running ones at their next safe point; they
    /// stay unfinished in the journal and are resumed at the next start.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        {
            let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            for run in live.values() {
                let mut stop = run.stop.lock().unwrap_or_else(|p| p.into_inner());
                stop.get_or_insert(StopReason::Shutdown);
                run.cancel.cancel();
            }
        }
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }

    /// Spawns a run's task, which writes on `chain` (and applies what lands to the
    /// launch's `kept`, if given); returns the token that cancels it.
    fn start(&self, launch: Launch, chain: CommitChain) -> CancellationToken {
        let Launch {
            state,
            next_seq,
            options,
            prompt,
            start,
            kept,
        } = launch;
        let run_id = state.id;
        let cancel = CancellationToken::new();
        let stop = Arc::new(Mutex::new(None));
        let (done_sender, done) = watch::channel(false);
        let committed = Arc::new(Mutex::new(None));
        self.inner.hub.open(run_id);
        {
            let mut live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            live.insert(
                run_id,
                LiveRun {
                    cancel: cancel.clone(),
                    stop: stop.clone(),
                    done,
                    committed: committed.clone(),
                },
            );
        }
        let timeout = options.timeout_s.map(Duration::from_secs_f64);
        let ctx = Arc::new(
            RunCtx::new(
                self.inner.clone(),
                state,
                next_seq,
                options,
                prompt,
                cancel.clone(),
                chain,
            )
            .keeping(kept),
        );
        let inner = self.inner.clone();
        let handle = cancel.clone();
        self.inner.tracker.spawn(async move {
            let timer = async {
                match timeout {
                    Some(timeout) => tokio::time::sleep(timeout).await,
                    None => std::future::pending().await,
                }
            };
            let run = execute(ctx.clone(), start, stop.clone());
            tokio::pin!(run);
            let result = tokio::select! {
                result = &mut run => result,
                () = timer => {
                    stop.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(StopReason::Timeout);
                    cancel.cancel();
                    run.await
                }
            };
            if let Err(err) = result {
                tracing::error!(run.id = %run_id, error = %err, "the run stopped: the journal failed; a stored run is resumed at the next start");
            }
            *committed.lock().unwrap_or_else(|p| p.into_inner()) = ctx.take_committed();
            drop(ctx);
            inner.hub.close(run_id);
            inner.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&run_id);
            let _ = done_sender.send(true);
        });
        handle
    }

    /// Reads back what is needed to resume a run.
    async fn prepare_resume(&self, run: &RunRecord) -> Result<Option<Launch>, EngineError> {
        let Ok(request) = run.request.decode::<RunRequest>() else {
            return Ok(None);
        };
        let config = &self.inner.config;
        let Ok(valid) = request.validate(&config.defaults, &config.limits) else {
            return Ok(None);
        };
        let mut tasks = self.inner.journal.list_tasks(run.id).await?;
        // A task that a shutdown stopped goes on (a cancelled run is finished, so it
        // is never resumed); one whose output was committed keeps it, to be verified
        // rather than called again.
        for task in &mut tasks {
            if task.status == TaskStatus::Cancelled {
                task.status = TaskStatus::Pending;
                task.finished_at = None;
            }
        }
        let graph = match &run.state.plan {
            Some(plan) => {
                let Ok(workflow) = plan.decode::<Workflow>() else {
                    return Ok(None);
                };
                TaskGraph::new(workflow, &config.limits.graph).ok()
            }
            None => valid.workflow,
        };
        let tasks = if graph.is_some() && tasks.len() == graph.as_ref().map_or(0, TaskGraph::len) {
            tasks
        } else {
            Vec::new()
        };
        let next_seq = self.inner.journal.last_seq(run.id).await? + 1;
        let graph_is_workflow = run.state.plan.is_none();
        Ok(Some(Launch {
            state: run.state.clone(),
            next_seq,
            options: valid.options,
            prompt: valid.prompt,
            start: RunStart {
                graph,
                graph_is_workflow,
                tasks,
            },
            kept: None,
        }))
    }

    /// Ends a run that is not executing here, writing its final events.
    async fn close_unfinished(
        &self,
        run: &RunRecord,
        status: RunStatus,
        error: RunError,
    ) -> Result<(), EngineError> {
        let tasks = self.inner.journal.list_tasks(run.id).await?;
        let next_seq = self.inner.journal.last_seq(run.id).await? + 1;
        let now = OffsetDateTime::now_utc();
        let mut state = run.state.clone();
        state.status = status;
        state.error = Some(error.clone());
        state.finished_at = Some(now);
        state.updated_at = now;
        let elapsed = (now - run.created_at).unsigned_abs();
        let events = Event::numbered(
            run.id,
            next_seq,
            now,
            [
                EventPayload::Final {
                    status,
                    output: None,
                    error: Some(error),
                },
                stats_event(&state.usage, &tasks, elapsed),
            ],
        );
        self.inner
            .journal
            .commit(&Commit {
                run: Some(Box::new(state)),
                events,
                ..Commit::default()
            })
            .await?;
        Ok(())
    }
}

/// A submission made into a run ([`Engine::make_run`]): the run to store with its
/// `run_created` event, and what starting it takes.
struct PreparedRun {
    new_run: NewRun,
    created: Event,
    launch: Launch,
}

/// What a run's task starts from ([`Engine::start`]): a new run, or one resumed.
struct Launch {
    /// The run's state as stored.
    state: RunState,
    /// The `seq` of its next event.
    next_seq: u64,
    options: RunOptions,
    prompt: Option<String>,
    start: RunStart,
    /// The run as created, for a submission that keeps it as its commits leave it.
    kept: Option<CommittedRun>,
}

/// A run's request as it is stored and sent in its `run_created` event: the client's
/// prompt and workflow with every option resolved. It is encoded once, straight from
/// the request, and the text is shared by the run's row and the event (a
/// 10,000-task workflow as a JSON tree is several times its text; W4, see
/// BENCHMARKS.md). Its keys come in alphabetical order, as they always have; the
/// objects inside keep their fields' order.
#[derive(serde::Serialize)]
struct StoredRequest<'a> {
    metadata: &'a serde_json::Map<String, serde_json::Value>,
    options: &'a RunOptions,
    prompt: Option<&'a str>,
    workflow: Option<&'a Workflow>,
}

impl StoredRequest<'_> {
    fn encode(&self) -> Result<EncodedJson, EngineError> {
        EncodedJson::encode(self).map_err(|error| {
            JournalError::Corrupt(format!("the run's request cannot be encoded: {error}")).into()
        })
    }
}

/// Whether a stored run was created from the same body as a retried submission.
fn same_request(existing: &RunRecord, request_hash: Option<&str>) -> Result<Started, EngineError> {
    if existing.request_hash.as_deref() == request_hash {
        Ok(Started::Existing(existing.id))
    } else {
        Err(EngineError::IdempotencyConflict)
    }
}

/// A stable fingerprint of what a client asked for (FNV-1a over the canonical JSON
/// of the body and the endpoint's streaming default), to tell a retried submission
/// from a different one under the same idempotency key.
fn request_hash(submission: &Submission) -> String {
    let canonical = serde_json::to_string(&submission.request).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in canonical
        .bytes()
        .chain([u8::from(submission.stream_by_default)])
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}
