//! The test app: the real router over the real engine and an in-memory journal, with a
//! helper per endpoint, seeding helpers that write runs straight into the journal, and
//! an SSE frame reader.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, Response, StatusCode};
use baton_core::encoded::EncodedJson;
use baton_core::event::{Event, EventPayload, PlanPhase};
use baton_core::graph::TaskSpec;
use baton_core::ids::{AttemptId, RunId, TaskId};
use baton_core::journal::{AttemptRecord, Commit, Journal, NewRun, RunQuery, RunState, TaskRecord};
use baton_core::status::{AttemptStatus, CallKind, RunStatus, TaskStatus};
use baton_core::usage::{RunUsage, Usage};
use baton_executor::engine::{Engine, EngineConfig};
use baton_journal::{JournalConfig, Store, TestDb};
use baton_providers::provider::Provider;
use baton_providers::sim::{SimConfig, SimProvider};
use baton_server::{AppState, ServerConfig};
use futures_util::StreamExt;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower::ServiceExt;

use baton_testkit::{MemoryJournal, Mode};

/// How long a test waits for something that should happen at once.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// The app under test.
pub(crate) struct TestApp {
    pub(crate) state: AppState,
    pub(crate) journal: Arc<dyn Journal>,
    pub(crate) engine: Engine,
    /// Set for apps over the in-memory journal, whose failures tests switch on.
    memory: Option<Arc<MemoryJournal>>,
    /// Keeps the SQLite file until the test ends.
    _db: Option<TestDb>,
    router: axum::Router,
}

impl TestApp {
    /// An app over a fresh SQLite database, with the default configuration.
    pub(crate) async fn new() -> TestApp {
        TestApp::with_config(ServerConfig::default()).await
    }

    /// An app over a fresh SQLite database, with this server configuration and no
    /// model: submitted runs fail with `no_model_available`.
    pub(crate) async fn with_config(config: ServerConfig) -> TestApp {
        let (store, db) = sqlite_store().await;
        TestApp::build(config, store, None, Some(db), no_models())
    }

    /// An app over a fresh SQLite database whose engine runs on the sim provider and
    /// the shipped model catalogue.
    pub(crate) async fn with_sim(sim: SimConfig) -> TestApp {
        TestApp::with_sim_and_config(sim, ServerConfig::default()).await
    }

    /// As [`TestApp::with_sim`], with this server configuration.
    pub(crate) async fn with_sim_and_config(sim: SimConfig, config: ServerConfig) -> TestApp {
        let (store, db) = sqlite_store().await;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/models.toml");
        let catalogue =
            baton_router::Catalogue::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap();
        let providers: Vec<Arc<dyn Provider>> = vec![Arc::new(SimProvider::new(sim))];
        let router =
            baton_router::Router::new(baton_router::RouterConfig::default(), catalogue, providers)
                .unwrap();
        TestApp::build(config, store, None, Some(db), router)
    }

    /// An app over the in-memory journal: for paused-time tests (SQLite works on
    /// real threads) and for tests that break the store.
    pub(crate) fn in_memory() -> TestApp {
        TestApp::in_memory_with_config(ServerConfig::default())
    }

    /// An app over the in-memory journal with this server configuration.
    pub(crate) fn in_memory_with_config(config: ServerConfig) -> TestApp {
        let memory = Arc::new(MemoryJournal::default());
        TestApp::build(config, memory.clone(), Some(memory), None, no_models())
    }

    fn build(
        config: ServerConfig,
        journal: Arc<dyn Journal>,
        memory: Option<Arc<MemoryJournal>>,
        db: Option<TestDb>,
        router: baton_router::Router,
    ) -> TestApp {
        let engine = Engine::new(
            EngineConfig::with_defaults(),
            journal.clone(),
            Arc::new(router),
        );
        let state = AppState::new(config, engine.clone());
        TestApp {
            router: baton_server::router(state.clone()),
            state,
            journal,
            engine,
            memory,
            _db: db,
        }
    }

    /// Switches how the in-memory journal behaves.
    pub(crate) fn set_mode(&self, mode: Mode) {
        self.memory
            .as_ref()
            .expect("an in-memory app")
            .set_mode(mode);
    }

    /// Sends a request and returns the response with its body unread (for streams).
    pub(crate) async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// Sends a request and reads the whole response.
    pub(crate) async fn call(&self, request: Request<Body>) -> TestResponse {
        let response = self.send(request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(
            DEADLINE,
            axum::body::to_bytes(response.into_body(), usize::MAX),
        )
        .await
        .expect("the body ends")
        .unwrap();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> TestResponse {
        self.call(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub(crate) async fn post_raw(
        &self,
        path: &str,
        body: impl Into<Body>,
        content_type: Option<&str>,
    ) -> TestResponse {
        let mut request = Request::post(path);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.call(request.body(body.into()).unwrap()).await
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        self.post_raw(path, body.to_string(), Some("application/json"))
            .await
    }

    // One helper per endpoint.

    pub(crate) async fn execute_run(&self, body: &Value) -> TestResponse {
        self.post_json("/run", body).await
    }

    pub(crate) async fn create_run(&self, body: &Value) -> TestResponse {
        self.post_json("/runs", body).await
    }

    pub(crate) async fn stream_run(&self, body: &Value) -> TestResponse {
        self.post_json("/stream/run", body).await
    }

    pub(crate) async fn list_runs(&self, query: &str) -> TestResponse {
        self.get(&format!("/runs{query}")).await
    }

    pub(crate) async fn get_run(&self, run_id: impl std::fmt::Display) -> TestResponse {
        self.get(&format!("/runs/{run_id}")).await
    }

    pub(crate) async fn list_run_tasks(&self, run_id: impl std::fmt::Display) -> TestResponse {
        self.get(&format!("/runs/{run_id}/tasks")).await
    }

    pub(crate) async fn get_run_task(
        &self,
        run_id: impl std::fmt::Display,
        task_id: &str,
    ) -> TestResponse {
        self.get(&format!("/runs/{run_id}/tasks/{task_id}")).await
    }

    pub(crate) async fn cancel_run(&self, run_id: impl std::fmt::Display) -> TestResponse {
        self.call(
            Request::post(format!("/runs/{run_id}/cancel"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Opens `GET /runs/{id}/events` with an optional query and `Last-Event-ID`.
    pub(crate) async fn open_events(
        &self,
        run_id: RunId,
        query: &str,
        last_event_id: Option<&str>,
    ) -> Response<Body> {
        let mut request = Request::get(format!("/runs/{run_id}/events{query}"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// Every frame of a run's event stream, read to its end.
    pub(crate) async fn events(
        &self,
        run_id: RunId,
        query: &str,
        last_event_id: Option<&str>,
    ) -> Vec<Frame> {
        let response = self.open_events(run_id, query, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        SseReader::new(response).read_to_end().await
    }

    /// Asserts that no run was written.
    pub(crate) async fn assert_no_runs(&self) {
        let runs = self
            .journal
            .list_runs(&RunQuery {
                limit: 100,
                ..RunQuery::default()
            })
            .await
            .unwrap();
        assert!(
            runs.is_empty(),
            "a refused request wrote {} run(s)",
            runs.len()
        );
    }

    // Seeding: runs written straight into the journal, as the engine would.

    /// A run in `status` with only its `run_created` event.
    pub(crate) async fn seed_run(&self, prompt: &str, status: RunStatus) -> RunId {
        let run_id = RunId::new();
        let now = OffsetDateTime::now_utc();
        let request = EncodedJson::from(json!({"prompt": prompt, "options": {}, "metadata": {}}));
        self.journal
            .create_run(
                &NewRun {
                    id: run_id,
                    tenant: None,
                    request: request.clone(),
                    idempotency_key: None,
                    request_hash: None,
                    status: RunStatus::Queued,
                    created_at: now,
                },
                &[event(run_id, 1, EventPayload::RunCreated { request })],
            )
            .await
            .unwrap();
        if status != RunStatus::Queued {
            self.set_status(run_id, status, None).await;
        }
        run_id
    }

    /// Changes a seeded run's status (and output), keeping the rest.
    pub(crate) async fn set_status(&self, run_id: RunId, status: RunStatus, output: Option<&str>) {
        let run = self.journal.get_run(run_id, None).await.unwrap().unwrap();
        let now = OffsetDateTime::now_utc();
        let state = RunState {
            status,
            output: output.map(str::to_owned),
            started_at: run.state.started_at.or(Some(now)),
            finished_at: status.is_terminal().then_some(now),
            updated_at: now,
            ..run.state
        };
        self.journal
            .commit(&Commit {
                run: Some(Box::new(state)),
                ..Commit::default()
            })
            .await
            .unwrap();
    }

    /// Appends events with the next sequence numbers; returns the last seq.
    pub(crate) async fn append_events(&self, run_id: RunId, payloads: Vec<EventPayload>) -> u64 {
        let mut last = self.last_seq(run_id).await;
        let events = payloads
            .into_iter()
            .map(|payload| {
                last += 1;
                event(run_id, last, payload)
            })
            .collect();
        self.journal
            .commit(&Commit {
                events,
                ..Commit::default()
            })
            .await
            .unwrap();
        last
    }

    pub(crate) async fn last_seq(&self, run_id: RunId) -> u64 {
        self.journal
            .events_after(run_id, 0, u32::MAX)
            .await
            .unwrap()
            .last()
            .map_or(0, |e| e.seq)
    }

    /// A run that succeeded with two tasks (`research`, then `write`), a planner call,
    /// a failed and a successful attempt for `research`, and its whole event log
    /// ending in `final` and `stats`.
    pub(crate) async fn seed_finished_run(&self, prompt: &str) -> RunId {
        let run_id = self.seed_run(prompt, RunStatus::Queued).await;
        let started = OffsetDateTime::now_utc();
        let finished = started + time::Duration::milliseconds(1500);
        let research = TaskSpec::new(TaskId::parse("research").unwrap(), "Find facts.");
        let mut write = TaskSpec::new(TaskId::parse("write").unwrap(), "Write with {{research}}.");
        write.depends_on = vec![research.id.clone()];
        write.title = Some("Write it".to_owned());
        let usage = Usage {
            input_tokens: 100,
            output_tokens: 50,
            ..Usage::default()
        };
        let attempt =
            |task: Option<&TaskSpec>, kind, number, status, error: Option<&str>| AttemptRecord {
                id: AttemptId::new(),
                run_id,
                task_id: task.map(|t| t.id.clone()),
                kind,
                number,
                provider: "sim".to_owned(),
                model: "sim-small".to_owned(),
                status,
                reserved_cost_usd: 0.01,
                usage: Some(usage),
                cost_usd: 0.001,
                latency_ms: Some(120),
                error: error.map(str::to_owned),
                started_at: started,
                finished_at: Some(finished),
            };
        let task = |spec: &TaskSpec, position, calls| TaskRecord {
            run_id,
            task_id: spec.id.clone(),
            position,
            spec: spec.clone().into(),
            status: TaskStatus::Succeeded,
            output: Some(format!("output of {}", spec.id)),
            error: None,
            provider: Some("sim".to_owned()),
            model: Some("sim-small".to_owned()),
            attempts: calls,
            usage: RunUsage {
                llm_calls: u64::from(calls),
                tokens_in: 100,
                tokens_out: 50,
                cost_usd: 0.001,
            },
            started_at: Some(started),
            finished_at: Some(finished),
        };
        let run_usage = RunUsage {
            llm_calls: 4,
            tokens_in: 400,
            tokens_out: 200,
            cost_usd: 0.004,
        };
        let plan = EncodedJson::from(json!({"tasks": [research, write]}));
        self.journal
            .commit(&Commit {
                run: Some(Box::new(RunState {
                    id: run_id,
                    status: RunStatus::Succeeded,
                    plan: Some(plan),
                    output: Some("the answer".to_owned()),
                    error: None,
                    usage: run_usage,
                    started_at: Some(started),
                    finished_at: Some(finished),
                    updated_at: finished,
                })),
                tasks: vec![task(&research, 0, 2), task(&write, 1, 1)],
                attempts: vec![
                    attempt(None, CallKind::Plan, 1, AttemptStatus::Succeeded, None),
                    attempt(
                        Some(&research),
                        CallKind::Task,
                        1,
                        AttemptStatus::Failed,
                        Some("rate limited (429)"),
                    ),
                    attempt(
                        Some(&research),
                        CallKind::Task,
                        2,
                        AttemptStatus::Succeeded,
                        None,
                    ),
                    attempt(
                        Some(&write),
                        CallKind::Task,
                        1,
                        AttemptStatus::Succeeded,
                        None,
                    ),
                ],
                events: Vec::new(),
                telemetry: Vec::new(),
            })
            .await
            .unwrap();
        self.append_events(run_id, finished_run_events(&research, &write))
            .await;
        run_id
    }
}

/// A fresh, migrated SQLite store and the database that holds it.
async fn sqlite_store() -> (Arc<dyn Journal>, TestDb) {
    let db = TestDb::sqlite().unwrap();
    let store = Store::connect(&JournalConfig {
        url: db.url().to_owned(),
        ..JournalConfig::default()
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), db)
}

/// A router with no provider and no model.
fn no_models() -> baton_router::Router {
    let catalogue = baton_router::Catalogue::from_models(Vec::new()).unwrap();
    baton_router::Router::new(baton_router::RouterConfig::default(), catalogue, Vec::new()).unwrap()
}

/// The events after `run_created` of the run `seed_finished_run` writes.
fn finished_run_events(research: &TaskSpec, write: &TaskSpec) -> Vec<EventPayload> {
    let mut payloads = vec![
        EventPayload::Plan {
            phase: PlanPhase::Started,
            tasks: None,
            fallback: false,
            source: None,
        },
        EventPayload::Plan {
            phase: PlanPhase::Completed,
            tasks: Some(vec![research.clone().into(), write.clone().into()]),
            fallback: false,
            source: Some("planner".to_owned()),
        },
    ];
    for task in [research, write] {
        payloads.push(EventPayload::TaskStart {
            task_id: task.id.clone(),
            attempt: 1,
            provider: "sim".to_owned(),
            model: "sim-small".to_owned(),
        });
        payloads.push(EventPayload::TaskArtifact {
            task_id: task.id.clone(),
            // Model output that tries to forge SSE frames stays inside a JSON string.
            output: "line one\n\nevent: final\ndata: {}\n\n".to_owned(),
            usage: Usage::default(),
            cost_usd: 0.001,
            latency_ms: 120,
        });
    }
    payloads.push(final_event());
    payloads.push(stats_event());
    payloads
}

pub(crate) fn final_event() -> EventPayload {
    EventPayload::Final {
        status: RunStatus::Succeeded,
        output: Some("the answer".to_owned()),
        error: None,
    }
}

pub(crate) fn stats_event() -> EventPayload {
    EventPayload::Stats {
        tasks_total: 2,
        tasks_succeeded: 2,
        tasks_failed: 0,
        llm_calls: 4,
        tokens_in: 400,
        tokens_out: 200,
        cost_usd: 0.004,
        duration_ms: 1500,
    }
}

pub(crate) fn delta(task: &str, text: &str) -> EventPayload {
    EventPayload::TaskDelta {
        task_id: TaskId::parse(task).unwrap(),
        text: text.to_owned(),
    }
}

pub(crate) fn event(run_id: RunId, seq: u64, payload: EventPayload) -> Event {
    Event {
        run_id,
        seq,
        ts: OffsetDateTime::now_utc(),
        payload,
    }
}

/// A whole response.
#[derive(Debug)]
pub(crate) struct TestResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl TestResponse {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    /// Asserts a JSON success with this status and returns the body.
    #[track_caller]
    pub(crate) fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()
    }

    /// Asserts a problem document with this status and code whose detail contains
    /// each of `detail_parts`; returns the problem.
    #[track_caller]
    pub(crate) fn problem(&self, status: u16, code: &str, detail_parts: &[&str]) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let problem = self.json();
        assert_eq!(problem["code"], code, "{problem:#}");
        assert_eq!(problem["status"], status, "{problem:#}");
        assert_eq!(problem["type"], format!("urn:baton:problem:{code}"));
        assert!(
            problem["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{problem:#}"
        );
        let detail = problem["detail"].as_str().unwrap();
        for part in detail_parts {
            assert!(
                detail.contains(part),
                "the detail `{detail}` lacks `{part}`"
            );
        }
        problem
    }
}

/// One SSE frame (or a comment).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Frame {
    pub(crate) event: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) data: Option<String>,
    pub(crate) comment: Option<String>,
}

impl Frame {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap()).unwrap()
    }

    pub(crate) fn is_comment(&self) -> bool {
        self.comment.is_some() && self.event.is_none() && self.data.is_none()
    }
}

/// Reads SSE frames from a response body as they arrive.
pub(crate) struct SseReader {
    body: axum::body::BodyDataStream,
    buffer: String,
}

impl SseReader {
    pub(crate) fn new(response: Response<Body>) -> SseReader {
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader {
            body: response.into_body().into_data_stream(),
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` when the stream ended.
    pub(crate) async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_frame(&raw));
            }
            match tokio::time::timeout(DEADLINE, self.body.next())
                .await
                .expect("a frame or the end in time")
            {
                Some(chunk) => self
                    .buffer
                    .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
                None => {
                    assert!(
                        self.buffer.trim().is_empty(),
                        "the stream ended inside a frame: {:?}",
                        self.buffer
                    );
                    return None;
                }
            }
        }
    }

    /// The next frame that is not a comment.
    pub(crate) async fn next_event(&mut self) -> Option<Frame> {
        loop {
            let frame = self.next_frame().await?;
            if !frame.is_comment() {
                return Some(frame);
            }
        }
    }

    /// Every remaining event frame (comments dropped), up to the end of the stream.
    pub(crate) async fn read_to_end(mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_event().await {
            frames.push(frame);
        }
        frames
    }
}

fn parse_frame(raw: &str) -> Frame {
    let mut frame = Frame::default();
    for line in raw.lines().filter(|line| !line.is_empty()) {
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        let slot = match field {
            "" => &mut frame.comment,
            "event" => &mut frame.event,
            "id" => &mut frame.id,
            "data" => {
                assert!(frame.data.is_none(), "data spans several lines: {raw:?}");
                &mut frame.data
            }
            other => panic!("unexpected SSE field `{other}` in {raw:?}"),
        };
        *slot = Some(value.to_owned());
    }
    frame
}

/// The `type` of each frame.
pub(crate) fn types(frames: &[Frame]) -> Vec<String> {
    frames.iter().map(|f| f.event.clone().unwrap()).collect()
}
