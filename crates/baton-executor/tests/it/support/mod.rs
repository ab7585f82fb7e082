//! A test engine: the in-memory journal, a router over scripted providers, helpers to
//! submit a run and read what happened.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use baton_core::event::{Event, EventPayload};
use baton_core::ids::RunId;
use baton_core::journal::{AttemptRecord, Commit, Journal, RunRecord, TaskRecord};
use baton_core::request::RunRequest;
use baton_core::status::{CallKind, RunStatus, TaskStatus};
use baton_core::usage::Usage;
use baton_executor::engine::{Engine, EngineConfig, Submission};
use baton_executor::retry::RetryPolicy;
use baton_providers::provider::{
    Completion, CompletionRequest, DeltaSender, ErrorKind, FinishReason, Provider, ProviderError,
    VendorLimits,
};
use baton_router::{Catalogue, Router, RouterConfig};
use baton_testkit::MemoryJournal;
use serde_json::Value;

/// What a scripted call does.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Answer with this text after this long.
    Answer(&'static str, Duration),
    /// Fail with a transient 500 after this long.
    ServerError(Duration),
    /// Fail with a permanent 400.
    BadRequest,
    /// Fail with a permanent context-too-long error.
    ContextTooLong,
    /// Fail with a transient 429 asking to wait this long.
    RateLimited(Duration),
    /// Answer "ok", saying the vendor's request window is spent for this long.
    AnswerWindowSpent(Duration),
    /// Never answer.
    Hang,
}

/// A provider that plays a script per call (then answers "ok" at once), counting
/// calls and the peak number in flight.
#[derive(Debug, Default)]
pub(crate) struct Scripted {
    pub(crate) script: Mutex<VecDeque<Step>>,
    pub(crate) calls: AtomicUsize,
    in_flight: AtomicUsize,
    pub(crate) peak: AtomicUsize,
    pub(crate) dropped_in_flight: AtomicUsize,
    /// The default latency of unscripted calls.
    pub(crate) latency: Mutex<Duration>,
    /// The prompt of each call, in call order.
    pub(crate) order: Mutex<Vec<String>>,
    /// The model and the output-token cap of each call's request, in call order.
    pub(crate) sent: Mutex<Vec<(String, u32)>>,
    /// Notified each time a call begins.
    pub(crate) entered: tokio::sync::Notify,
    /// Scripts for the calls of one task, by task id (used before `script`).
    pub(crate) per_task: Mutex<HashMap<String, VecDeque<Step>>>,
}

impl Scripted {
    pub(crate) fn with(steps: impl IntoIterator<Item = Step>) -> Arc<Scripted> {
        let scripted = Scripted::default();
        scripted.script.lock().unwrap().extend(steps);
        Arc::new(scripted)
    }

    /// Scripts for the calls of each named task.
    pub(crate) fn per_task(
        scripts: impl IntoIterator<Item = (&'static str, Vec<Step>)>,
    ) -> Arc<Scripted> {
        let scripted = Scripted::default();
        scripted.per_task.lock().unwrap().extend(
            scripts
                .into_iter()
                .map(|(task, steps)| (task.to_owned(), steps.into())),
        );
        Arc::new(scripted)
    }

    fn next_step(&self, prompt: &str) -> Option<Step> {
        let mut per_task = self.per_task.lock().unwrap();
        let task_step = per_task
            .iter_mut()
            .find(|(task, _)| prompt.contains(&format!("Your task ({task})")))
            .and_then(|(_, steps)| steps.pop_front());
        task_step.or_else(|| self.script.lock().unwrap().pop_front())
    }
}

/// Counts a call that was dropped before it finished.
struct InFlight<'a>(&'a Scripted, bool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.1 {
            self.0.dropped_in_flight.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn complete(
        &self,
        request: &CompletionRequest,
        _deltas: Option<&DeltaSender>,
    ) -> Result<Completion, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let mut guard = InFlight(self, false);
        let task = request
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let step = self.next_step(&task);
        self.order.lock().unwrap().push(task);
        self.sent
            .lock()
            .unwrap()
            .push((request.model.clone(), request.max_output_tokens));
        self.entered.notify_one();
        let default_latency = *self.latency.lock().unwrap();
        let result = match step.unwrap_or(Step::Answer("ok", default_latency)) {
            Step::Answer(text, latency) => {
                tokio::time::sleep(latency).await;
                Ok(answer(text))
            }
            Step::ServerError(latency) => {
                tokio::time::sleep(latency).await;
                let mut err = ProviderError::transient(ErrorKind::Server, "500 from the script");
                err.status = Some(500);
                Err(err)
            }
            Step::BadRequest => Err(ProviderError::permanent(
                ErrorKind::BadRequest,
                "400 from the script",
            )),
            Step::ContextTooLong => Err(ProviderError::permanent(
                ErrorKind::ContextTooLong,
                "the prompt is longer than the model's context window",
            )),
            Step::AnswerWindowSpent(reset) => Ok(Completion {
                limits: Some(VendorLimits {
                    remaining_requests: Some(0),
                    reset_requests: Some(reset),
                    ..VendorLimits::default()
                }),
                ..answer("ok")
            }),
            Step::RateLimited(wait) => {
                let mut err =
                    ProviderError::transient(ErrorKind::RateLimited, "429 from the script");
                err.status = Some(429);
                err.retry_after = Some(wait);
                Err(err)
            }
            Step::Hang => std::future::pending().await,
        };
        guard.1 = true;
        result
    }
}

fn answer(text: &str) -> Completion {
    Completion {
        text: text.to_owned(),
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Stop,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 50,
            ..Usage::default()
        },
        model: None,
        limits: None,
    }
}

const CATALOGUE: &str = r#"
[[models]]
provider = "scripted"
model = "first"
capabilities = { general = 5, reasoning = 5, writing = 5 }
context_window = 100000
max_output_tokens = 4096
price = { input_per_mtok = 1.0, output_per_mtok = 2.0 }

[[models]]
provider = "scripted"
model = "second"
capabilities = { general = 2, reasoning = 2, writing = 2 }
context_window = 100000
max_output_tokens = 4096
price = { input_per_mtok = 1.0, output_per_mtok = 2.0 }
"#;

/// A third model, the worst and dearest, with a window ten times the others'.
pub(crate) const ROOMY_MODEL: &str = r#"
[[models]]
provider = "scripted"
model = "roomy"
capabilities = { general = 1, reasoning = 1, writing = 1 }
context_window = 1000000
max_output_tokens = 4096
price = { input_per_mtok = 50.0, output_per_mtok = 100.0 }
"#;

/// A fourth model, as able as the first and cheaper, that writes at most 64 tokens.
pub(crate) const TERSE_MODEL: &str = r#"
[[models]]
provider = "scripted"
model = "terse"
capabilities = { general = 5, reasoning = 5, writing = 5 }
context_window = 100000
max_output_tokens = 64
price = { input_per_mtok = 0.5, output_per_mtok = 1.0 }
"#;

/// An engine over the in-memory journal and a scripted provider.
pub(crate) struct TestEngine {
    pub(crate) engine: Engine,
    pub(crate) journal: Arc<MemoryJournal>,
    pub(crate) provider: Arc<Scripted>,
}

impl TestEngine {
    pub(crate) fn new(provider: Arc<Scripted>) -> TestEngine {
        TestEngine::with_journal(provider, Arc::new(MemoryJournal::default()))
    }

    /// An engine over an existing journal, as a restarted process would have.
    pub(crate) fn with_journal(provider: Arc<Scripted>, journal: Arc<MemoryJournal>) -> TestEngine {
        TestEngine::build(provider, journal, RouterConfig::default(), None, CATALOGUE)
    }

    /// An engine whose catalogue has these models beside the two usual ones.
    pub(crate) fn with_models(provider: Arc<Scripted>, models: &str) -> TestEngine {
        TestEngine::build(
            provider,
            Arc::new(MemoryJournal::default()),
            RouterConfig::default(),
            None,
            &format!("{CATALOGUE}{models}"),
        )
    }

    /// An engine with this router configuration and engine-wide call cap.
    pub(crate) fn with_router(
        provider: Arc<Scripted>,
        router: RouterConfig,
        max_calls_in_flight: Option<u32>,
    ) -> TestEngine {
        TestEngine::build(
            provider,
            Arc::new(MemoryJournal::default()),
            router,
            max_calls_in_flight,
            CATALOGUE,
        )
    }

    fn build(
        provider: Arc<Scripted>,
        journal: Arc<MemoryJournal>,
        router_config: RouterConfig,
        max_calls_in_flight: Option<u32>,
        catalogue: &str,
    ) -> TestEngine {
        let catalogue = Catalogue::from_toml(catalogue).unwrap();
        let providers: Vec<Arc<dyn Provider>> = vec![provider.clone()];
        let router = Router::new(router_config, catalogue, providers).unwrap();
        let config = EngineConfig {
            retry: RetryPolicy {
                base_delay_ms: 1_000,
                max_delay_ms: 8_000,
                max_retry_after_ms: 30_000,
            },
            max_calls_in_flight,
            ..EngineConfig::with_defaults()
        };
        let dyn_journal: Arc<dyn Journal> = journal.clone();
        let engine = Engine::new(config, dyn_journal, Arc::new(router));
        TestEngine {
            engine,
            journal,
            provider,
        }
    }

    /// Submits a request (JSON) and returns its id.
    pub(crate) async fn submit(&self, request: Value) -> RunId {
        self.submit_with(request, false).await
    }

    /// Submits a request (JSON) whose run the engine keeps as its commits leave it
    /// (`Submission::keep_committed`), and returns its id.
    pub(crate) async fn submit_kept(&self, request: Value) -> RunId {
        self.submit_with(request, true).await
    }

    async fn submit_with(&self, request: Value, keep_committed: bool) -> RunId {
        let request: RunRequest = serde_json::from_value(request).unwrap();
        let submission = Submission {
            request,
            tenant: None,
            idempotency_key: None,
            stream_by_default: false,
            keep_committed,
        };
        self.engine.submit(submission).await.unwrap().run_id()
    }

    /// Submits and waits for the end.
    pub(crate) async fn run(&self, request: Value) -> RunId {
        let id = self.submit(request).await;
        self.engine.wait(id).await;
        id
    }

    /// The run's record, which must have succeeded (its error is the message if not).
    pub(crate) async fn succeeded(&self, id: RunId) -> RunRecord {
        let run = self.record(id).await;
        assert_eq!(
            run.state.status,
            RunStatus::Succeeded,
            "{:?}",
            run.state.error
        );
        run
    }

    pub(crate) async fn record(&self, id: RunId) -> RunRecord {
        self.journal.get_run(id, None).await.unwrap().unwrap()
    }

    pub(crate) async fn events(&self, id: RunId) -> Vec<Event> {
        self.journal.events_after(id, 0, u32::MAX).await.unwrap()
    }

    pub(crate) async fn tasks(&self, id: RunId) -> Vec<TaskRecord> {
        self.journal.list_tasks(id).await.unwrap()
    }

    /// Each task's id and status, in plan order.
    pub(crate) async fn task_statuses(&self, id: RunId) -> Vec<(String, TaskStatus)> {
        self.tasks(id)
            .await
            .into_iter()
            .map(|task| (task.task_id.to_string(), task.status))
            .collect()
    }

    pub(crate) async fn attempts(&self, id: RunId) -> Vec<AttemptRecord> {
        self.journal.list_attempts(id, None).await.unwrap()
    }

    /// The model of each task call, in order.
    pub(crate) async fn task_models(&self, id: RunId) -> Vec<String> {
        task_attempts(&self.attempts(id).await)
            .iter()
            .map(|a| a.model.clone())
            .collect()
    }

    /// A new engine over this one's journal (a restart) that resumed `id`, its one
    /// unfinished run, and ran it to the end.
    pub(crate) async fn resumed(&self, provider: Arc<Scripted>, id: RunId) -> TestEngine {
        let after = TestEngine::with_journal(provider, Arc::clone(&self.journal));
        assert_eq!(after.engine.resume_unfinished().await.unwrap(), 1);
        after.engine.wait(id).await;
        after
    }

    /// Lets the held commits through and holds the next ones (see
    /// `MemoryJournal::hold_commits`).
    pub(crate) fn let_commits_through(&self) {
        self.journal.release_held();
        self.journal.hold_commits();
    }

    /// Lets held commits through, holding the next ones each time, until the held
    /// ones satisfy `done`.
    pub(crate) async fn let_commits_through_until(&self, done: impl Fn(&[Commit]) -> bool) {
        while !done(&self.journal.until_held(1).await) {
            self.let_commits_through();
        }
    }

    /// Waits until the provider has been called `count` times in all.
    pub(crate) async fn until_called(&self, count: usize) {
        while self.calls() < count {
            self.provider.entered.notified().await;
        }
    }

    pub(crate) fn calls(&self) -> usize {
        self.provider.calls.load(Ordering::SeqCst)
    }
}

/// The names of events, in order.
pub(crate) fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::name).collect()
}

/// The payloads of one kind.
pub(crate) fn of<'a>(events: &'a [Event], name: &str) -> Vec<&'a EventPayload> {
    events
        .iter()
        .filter(|e| e.name() == name)
        .map(|e| &e.payload)
        .collect()
}

/// Task calls only (the tests use concat assembly and no judge, so these are all).
pub(crate) fn task_attempts(attempts: &[AttemptRecord]) -> Vec<&AttemptRecord> {
    attempts
        .iter()
        .filter(|a| a.kind == CallKind::Task)
        .collect()
}
