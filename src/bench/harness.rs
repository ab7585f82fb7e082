//! The engine a workload drives: the real `Engine` over the real journal (a fresh
//! database per workload), the shipped router and model catalogue, and the `sim`
//! provider behind a thin wrapper that gives each task its latency (`WORKLOADS.md`'s
//! `llm(latency, tag)`) and times the workers. Also the task graphs the workloads use,
//! as the JSON bodies a client would send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use baton_core::ids::RunId;
use baton_core::journal::Journal;
use baton_core::request::RunRequest;
use baton_core::status::RunStatus;
use baton_executor::engine::{Engine, EngineError, Submission};
use baton_journal::{Store, TestDb};
use baton_providers::provider::{
    Completion, CompletionRequest, DeltaSender, Provider, ProviderError,
};
use baton_providers::sim::{SimConfig, SimGauge, SimProvider};
use baton_router::{Catalogue, Router};
use serde_json::{Value, json};

use crate::bench::{Backend, Setup};
use crate::config::{Config, Environment, Sources};

/// How long each kind of task's one call takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Latencies {
    /// Every task that is not a worker.
    pub(crate) default_ms: u64,
    /// Tasks whose id starts with `w` (the fan-out workers).
    pub(crate) worker_ms: u64,
}

impl Latencies {
    /// The same latency for every task.
    pub(crate) fn all(ms: u64) -> Latencies {
        Latencies {
            default_ms: ms,
            worker_ms: ms,
        }
    }
}

/// The engine of one workload, with its fresh database and its instruments.
#[derive(Debug)]
pub(crate) struct Harness {
    /// The real engine.
    pub(crate) engine: Engine,
    /// Calls in flight, their peak, and how many were made.
    pub(crate) gauge: Arc<SimGauge>,
    /// When the workers started and returned, and what the assembler received.
    pub(crate) probe: Arc<Probe>,
    store: Arc<Store>,
    db: TestDb,
}

impl Harness {
    /// A fresh database on the setup's backend, migrated, and an engine over it that
    /// accepts graphs of up to `max_tasks` tasks.
    pub(crate) async fn open(
        setup: &Setup,
        latencies: Latencies,
        max_tasks: usize,
    ) -> anyhow::Result<Harness> {
        let sources = Sources {
            file: setup.config_file.clone(),
            ..Sources::default()
        };
        // The shipped configuration (and a --config file), never the environment, so
        // that figures from different shells compare.
        let config = Config::load_from(&sources, &Environment::default())?;
        let db = fresh_database(setup).await?;
        let mut journal_config = config.database.clone();
        journal_config.url = db.url().to_owned();
        let store = Store::connect(&journal_config)
            .await
            .context("could not open the bench database")?;
        store
            .migrate()
            .await
            .context("could not migrate the bench database")?;
        let store = Arc::new(store);

        let gauge = Arc::new(SimGauge::default());
        let probe = Arc::new(Probe::new());
        let sim = |latency_ms| {
            SimProvider::with_gauge(
                SimConfig {
                    latency_ms,
                    latency_jitter_ms: 0,
                    error_rate: 0.0,
                    malformed_rate: 0.0,
                    ..SimConfig::default()
                },
                gauge.clone(),
            )
        };
        let model = BenchModel {
            default: sim(latencies.default_ms),
            worker: sim(latencies.worker_ms),
            probe: probe.clone(),
        };
        let catalogue = Catalogue::from_toml(&config.models_toml()?)?;
        let router = Router::new(config.router.clone(), catalogue, vec![Arc::new(model)])?;
        let mut engine_config = config.engine_config();
        let graph = &mut engine_config.limits.graph;
        graph.max_tasks = graph.max_tasks.max(max_tasks);
        graph.max_dependencies = graph.max_dependencies.max(max_tasks);
        // The workloads' limits must not bind (W4runs has 10,000 calls in flight), but
        // the engine-wide cap is still taken, so its cost is measured.
        engine_config.max_calls_in_flight = Some(1_000_000);
        let journal: Arc<dyn Journal> = store.clone();
        let engine = Engine::new(engine_config, journal, Arc::new(router));
        Ok(Harness {
            engine,
            gauge,
            probe,
            store,
            db,
        })
    }

    /// Submits a run and waits until it has ended, its last events committed.
    /// Returns its id and how long that took. The request is handed over, as a
    /// client's is: the bench keeps no copy of it while the run is in flight (a
    /// 10,000-task request is megabytes of W4's peak), and a caller that runs it
    /// again clones it before the clock starts.
    pub(crate) async fn run(&self, request: RunRequest) -> anyhow::Result<(RunId, Duration)> {
        let began = Instant::now();
        let run_id = submit_and_wait(&self.engine, request).await?;
        Ok((run_id, began.elapsed()))
    }

    /// How a run ended, read back from the journal.
    pub(crate) async fn status(&self, run_id: RunId) -> anyhow::Result<RunStatus> {
        let run = self
            .engine
            .journal()
            .get_run(run_id, None)
            .await?
            .with_context(|| format!("run {run_id} is not in the journal"))?;
        Ok(run.state.status)
    }

    /// Stops the engine, closes the pools and removes the database.
    pub(crate) async fn close(self) -> anyhow::Result<()> {
        self.engine.shutdown().await;
        self.store.close().await;
        self.db
            .cleanup()
            .await
            .context("could not remove the bench database")
    }
}

/// A fresh, empty database: an SQLite file in a new temporary folder, or a new
/// database on the PostgreSQL server that `setup.database_url` reaches.
pub(crate) async fn fresh_database(setup: &Setup) -> anyhow::Result<TestDb> {
    match setup.backend {
        Backend::Sqlite => Ok(TestDb::sqlite()?),
        Backend::Postgres => {
            let url = setup
                .database_url
                .as_deref()
                .context("the postgres backend needs --database-url postgres://… (a server where the user may create databases)")?;
            Ok(TestDb::postgres(url).await?)
        }
    }
}

/// Starts a run the way `POST /runs` does and waits for its end.
pub(crate) async fn submit_and_wait(
    engine: &Engine,
    request: RunRequest,
) -> Result<RunId, EngineError> {
    let started = engine
        .submit(Submission {
            request,
            tenant: None,
            idempotency_key: None,
            stream_by_default: false,
            keep_committed: false,
        })
        .await?;
    let run_id = started.run_id();
    engine.wait(run_id).await;
    Ok(run_id)
}

/// The worker timings of one run, since the probe was last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct WorkerTimes {
    /// How many worker calls began.
    pub(crate) workers: u64,
    /// When the last worker call began (all were in flight then, if none had returned).
    pub(crate) last_started: Option<Duration>,
    /// When the first worker call returned.
    pub(crate) first_returned: Option<Duration>,
    /// When the last worker call returned.
    pub(crate) last_returned: Option<Duration>,
    /// How many dependency outputs the assembler's call carried.
    pub(crate) assembler_inputs: u64,
    /// When the planner's call began and returned.
    pub(crate) planner: Span,
    /// When the assembler's call began and returned.
    pub(crate) assembler: Span,
}

/// When one task's call began and returned, since the probe's reset.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Span {
    pub(crate) started: Option<Duration>,
    pub(crate) returned: Option<Duration>,
}

/// Times the workers' calls relative to a reset, lock-free (nanoseconds since the
/// probe was made, in atomics).
#[derive(Debug)]
pub(crate) struct Probe {
    epoch: Instant,
    reset_at: AtomicU64,
    workers: AtomicU64,
    last_started: AtomicU64,
    first_returned: AtomicU64,
    last_returned: AtomicU64,
    assembler_inputs: AtomicU64,
    planner: CallClock,
    assembler: CallClock,
}

/// When one call began and returned (nanoseconds since the probe was made; 0 for
/// not yet).
#[derive(Debug, Default)]
struct CallClock {
    started: AtomicU64,
    returned: AtomicU64,
}

impl CallClock {
    fn reset(&self) {
        self.started.store(0, Ordering::SeqCst);
        self.returned.store(0, Ordering::SeqCst);
    }

    fn read(&self, since: impl Fn(u64) -> Option<Duration>) -> Span {
        Span {
            started: since(self.started.load(Ordering::SeqCst)),
            returned: since(self.returned.load(Ordering::SeqCst)),
        }
    }
}

impl Probe {
    fn new() -> Probe {
        Probe {
            epoch: Instant::now(),
            reset_at: AtomicU64::new(0),
            workers: AtomicU64::new(0),
            last_started: AtomicU64::new(0),
            first_returned: AtomicU64::new(u64::MAX),
            last_returned: AtomicU64::new(0),
            assembler_inputs: AtomicU64::new(0),
            planner: CallClock::default(),
            assembler: CallClock::default(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Starts timing from now.
    pub(crate) fn reset(&self) {
        self.workers.store(0, Ordering::SeqCst);
        self.last_started.store(0, Ordering::SeqCst);
        self.first_returned.store(u64::MAX, Ordering::SeqCst);
        self.last_returned.store(0, Ordering::SeqCst);
        self.assembler_inputs.store(0, Ordering::SeqCst);
        self.planner.reset();
        self.assembler.reset();
        self.reset_at.store(self.now(), Ordering::SeqCst);
    }

    /// What happened since the reset.
    pub(crate) fn read(&self) -> WorkerTimes {
        let reset_at = self.reset_at.load(Ordering::SeqCst);
        let since = |at: u64| {
            (at != 0 && at != u64::MAX).then(|| Duration::from_nanos(at.saturating_sub(reset_at)))
        };
        WorkerTimes {
            workers: self.workers.load(Ordering::SeqCst),
            last_started: since(self.last_started.load(Ordering::SeqCst)),
            first_returned: since(self.first_returned.load(Ordering::SeqCst)),
            last_returned: since(self.last_returned.load(Ordering::SeqCst)),
            assembler_inputs: self.assembler_inputs.load(Ordering::SeqCst),
            planner: self.planner.read(since),
            assembler: self.assembler.read(since),
        }
    }

    fn worker_started(&self) {
        self.workers.fetch_add(1, Ordering::SeqCst);
        self.last_started.fetch_max(self.now(), Ordering::SeqCst);
    }

    fn worker_returned(&self) {
        let now = self.now();
        self.first_returned.fetch_min(now, Ordering::SeqCst);
        self.last_returned.fetch_max(now, Ordering::SeqCst);
    }
}

/// The simulated model as the bench sees it: named `sim`, so the shipped catalogue's
/// sim models route to it; workers wait `worker_ms`, every other task `default_ms`.
#[derive(Debug)]
struct BenchModel {
    default: SimProvider,
    worker: SimProvider,
    probe: Arc<Probe>,
}

#[async_trait]
impl Provider for BenchModel {
    fn name(&self) -> &str {
        "sim"
    }

    async fn complete(
        &self,
        request: &CompletionRequest,
        deltas: Option<&DeltaSender>,
    ) -> Result<Completion, ProviderError> {
        let tag = task_tag(request);
        if tag == Some("assembler") {
            let inputs = request
                .messages
                .iter()
                .map(|m| m.content.matches("<output task=\"").count() as u64)
                .sum();
            self.probe.assembler_inputs.store(inputs, Ordering::SeqCst);
        }
        if !tag.is_some_and(|tag| tag.starts_with('w')) {
            let span = match tag {
                Some("planner") => Some(&self.probe.planner),
                Some("assembler") => Some(&self.probe.assembler),
                _ => None,
            };
            if let Some(clock) = span {
                clock.started.store(self.probe.now(), Ordering::SeqCst);
            }
            let result = self.default.complete(request, deltas).await;
            if let Some(clock) = span {
                clock.returned.store(self.probe.now(), Ordering::SeqCst);
            }
            return result;
        }
        self.probe.worker_started();
        let result = self.worker.complete(request, deltas).await;
        self.probe.worker_returned();
        result
    }
}

/// The task id of a task call (its prompt ends with "Your task (`<id>`):"), if any.
pub(crate) fn task_tag(request: &CompletionRequest) -> Option<&str> {
    let prompt = &request.messages.last()?.content;
    let start = prompt.rfind("Your task (")? + "Your task (".len();
    let end = start + prompt[start..].find("):")?;
    Some(&prompt[start..end])
}

/// One task of a workflow, as JSON: a short instruction and its dependencies.
pub(crate) fn task(id: &str, depends_on: &[String]) -> Value {
    json!({ "id": id, "instructions": format!("Do step {id}."), "depends_on": depends_on })
}

/// A run request body for a workflow: no planning call, no judge (verify off and no
/// success criteria), outputs joined with no synthesis call, so each task makes
/// exactly one call. Concurrency limits are set to `concurrency`, so they do not bind.
pub(crate) fn body(tasks: Vec<Value>, concurrency: usize) -> Value {
    let concurrency = concurrency.max(1);
    json!({
        "workflow": { "tasks": tasks },
        "options": {
            "verify": false,
            "assemble": "concat",
            "max_concurrency": concurrency,
            "max_concurrency_per_provider": concurrency,
        },
    })
}

/// A chain `t000 → t001 → …` of `length` tasks.
pub(crate) fn chain(length: usize) -> Value {
    let width = digits(length.saturating_sub(1)).max(3);
    let ids: Vec<String> = (0..length).map(|i| format!("t{i:0width$}")).collect();
    let tasks = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let previous: Vec<String> = i
                .checked_sub(1)
                .map(|p| ids[p].clone())
                .into_iter()
                .collect();
            task(id, &previous)
        })
        .collect();
    body(tasks, 1)
}

/// `planner` → `workers` parallel tasks `w…` → `assembler`.
pub(crate) fn fan_out(workers: usize) -> Value {
    let width = digits(workers.saturating_sub(1)).max(5);
    let planner = vec!["planner".to_owned()];
    let ids: Vec<String> = (0..workers).map(|i| format!("w{i:0width$}")).collect();
    let mut tasks = vec![task("planner", &[])];
    tasks.extend(ids.iter().map(|id| task(id, &planner)));
    tasks.push(task("assembler", &ids));
    body(tasks, workers)
}

/// The diamond `a → {b, c, d} → e`.
pub(crate) fn diamond() -> Value {
    let a = vec!["a".to_owned()];
    let middle: Vec<String> = ["b", "c", "d"].map(str::to_owned).to_vec();
    let mut tasks = vec![task("a", &[])];
    tasks.extend(middle.iter().map(|id| task(id, &a)));
    tasks.push(task("e", &middle));
    body(tasks, 3)
}

/// A one-task run whose task is a worker (`w0`), for W4runs.
pub(crate) fn one_worker() -> Value {
    body(vec![task("w0", &[])], 1)
}

/// The request a body describes. The body is taken apart, not copied: W4's body
/// of 10,000 tasks as a JSON tree is tens of megabytes, and what the allocator keeps
/// of a copy would count in its RSS.
pub(crate) fn request(body: Value) -> anyhow::Result<RunRequest> {
    serde_json::from_value(body).context("a bench workflow is not a valid run request")
}

fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}
