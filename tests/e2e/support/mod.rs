//! Starting the binary and talking to it.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: SQLite always, PostgreSQL when
/// `BATON_TEST_DATABASE_URL` is set (CI sets it, so there the PostgreSQL half always runs).
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::support::postgres_admin_url().is_none() {
                    eprintln!("BATON_TEST_DATABASE_URL is not set: skipping the PostgreSQL half");
                    return;
                }
                super::$name($crate::support::Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use both_backends;

/// The PostgreSQL server to create test databases on, if any.
pub(crate) fn postgres_admin_url() -> Option<String> {
    std::env::var("BATON_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A fresh database for one test.
pub(crate) struct Database {
    test_db: baton_journal::TestDb,
}

impl Database {
    pub(crate) async fn new(backend: Backend) -> Database {
        let test_db = match backend {
            Backend::Sqlite => baton_journal::TestDb::sqlite().expect("a temporary SQLite file"),
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("BATON_TEST_DATABASE_URL");
                baton_journal::TestDb::postgres(&admin).await.expect(
                    "a fresh PostgreSQL database (is PostgreSQL up at BATON_TEST_DATABASE_URL?)",
                )
            }
        };
        Database { test_db }
    }

    pub(crate) fn url(&self) -> String {
        self.test_db.url().to_owned()
    }
}

/// A running `baton serve`.
pub(crate) struct Baton {
    child: Child,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    database_url: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// Whether a variable of the test's own environment must not reach the binary: the
/// vendors' variables (a developer's real `OPENAI_API_KEY` would send tests to the real
/// vendor, and spend money) and Baton's own (`BATON_CONFIG`, `BATON_PROFILE`, any
/// `BATON_*` setting), so each test's configuration is exactly what it sets.
pub(crate) fn leaks_into_tests(name: &str) -> bool {
    ["OPENAI_", "ANTHROPIC_", "GEMINI_", "BATON_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// Removes every variable that [`leaks_into_tests`] from what `command` inherits;
/// variables the test sets afterwards still reach the binary.
pub(crate) fn scrub_env(command: &mut Command) {
    scrub_inherited(command, std::env::vars_os().map(|(name, _)| name));
}

fn scrub_inherited(command: &mut Command, inherited: impl IntoIterator<Item = OsString>) {
    for name in inherited {
        if name.to_str().is_some_and(leaks_into_tests) {
            command.env_remove(&name);
        }
    }
}

/// Settings for a test server: the sim at zero latency unless a test says otherwise.
pub(crate) fn sim_env() -> Vec<(String, String)> {
    [
        ("BATON_PROVIDERS__SIM__LATENCY_MS", "0"),
        ("BATON_PROVIDERS__SIM__LATENCY_JITTER_MS", "0"),
        ("BATON_SERVER__SSE_KEEPALIVE", "1s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Baton {
    /// Starts the binary on a free port against `database`, with extra environment.
    pub(crate) async fn start(database: &Database, env: Vec<(String, String)>) -> Baton {
        Self::start_url(database.url(), Vec::new(), env).await
    }

    /// Starts the binary with extra arguments after `serve` (e.g. `--config FILE`).
    pub(crate) async fn start_with_args(
        database: &Database,
        args: &[&str],
        env: Vec<(String, String)>,
    ) -> Baton {
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        Self::start_url(database.url(), args, env).await
    }

    /// Starts the binary on a free port against the database at `database_url`, with
    /// `RUST_LOG=info` and its standard error captured, so a test can read its log.
    pub(crate) async fn start_with_log(
        database_url: &str,
        env: Vec<(String, String)>,
    ) -> (Baton, LogLines) {
        let (baton, log) =
            Self::launch(database_url.to_owned(), Vec::new(), env, Logging::Captured).await;
        (baton, log.expect("the log is captured"))
    }

    async fn start_url(
        database_url: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Baton {
        Self::launch(database_url, args, env, Logging::Quiet)
            .await
            .0
    }

    async fn launch(
        database_url: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        logging: Logging,
    ) -> (Baton, Option<LogLines>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
        scrub_env(&mut command);
        let (rust_log, stderr) = match logging {
            Logging::Captured => ("info".to_owned(), Stdio::piped()),
            Logging::Quiet if std::env::var("TEST_LOG").is_ok() => {
                ("info".to_owned(), Stdio::inherit())
            }
            Logging::Quiet => ("error".to_owned(), Stdio::null()),
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .env("BATON_DATABASE_URL", &database_url)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        for (key, value) in &env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the baton binary");
        let mut log = child.stderr.take().map(LogLines::read);
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let printed = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(address) = line.strip_prefix("listening on ") {
                    return Some(address.trim().to_owned());
                }
            }
            None
        })
        .await
        .expect("baton printed its address within a minute");
        let Some(base) = printed else {
            let said = match log.as_mut() {
                Some(log) => log.until_closed().await.join("\n"),
                None => "(set TEST_LOG=1 to see its log)".to_owned(),
            };
            panic!("baton exited before it printed its address: {said}");
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = reqwest::Client::builder().build().expect("client");
        let baton = Baton {
            child,
            base,
            client,
            database_url,
            args,
            env,
        };
        (baton, log)
    }

    /// Stops the server gracefully (SIGTERM) and starts it again on the same database.
    pub(crate) async fn restart(mut self) -> Baton {
        self.stop().await;
        Self::start_url(
            self.database_url.clone(),
            self.args.clone(),
            self.env.clone(),
        )
        .await
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub(crate) async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = self.child.kill().await;
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn post_raw(
        &self,
        path: &str,
        body: &str,
        content_type: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    /// `POST /run` and the finished run, checked against `GET /runs/{id}`: the server
    /// answers `POST /run` with the run as its engine kept it from its own commits,
    /// which must be exactly what the journal holds.
    pub(crate) async fn run(&self, body: &Value) -> Value {
        let response = self.post_json("/run", body).await;
        let status = response.status();
        let json: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "POST /run: {json}");
        let run_id = json["id"].as_str().expect("the run's id");
        let stored = self.get_json(&format!("/runs/{run_id}")).await;
        assert_eq!(
            json, stored,
            "POST /run answered what GET /runs/{{id}} reads"
        );
        json
    }

    /// Reads an SSE response to its end and returns the events' `data` objects.
    pub(crate) async fn read_events(response: reqwest::Response) -> Vec<SseEvent> {
        let SseReader { response, .. } = SseReader::new(response);
        let text = tokio::time::timeout(Duration::from_secs(60), response.text())
            .await
            .expect("the stream ended within a minute")
            .expect("stream body");
        parse_sse(&text)
    }

    /// `GET /runs/{id}/events` (optionally after a seq) to its end.
    pub(crate) async fn events(&self, run_id: &str, after: Option<u64>) -> Vec<SseEvent> {
        let path = match after {
            Some(after) => format!("/runs/{run_id}/events?after={after}"),
            None => format!("/runs/{run_id}/events"),
        };
        Self::read_events(self.get(&path).await).await
    }

    /// `GET /runs/{id}/events`, read live, with `Last-Event-ID` when given (as a
    /// reconnecting `EventSource` sends it).
    pub(crate) async fn follow_events(
        &self,
        run_id: &str,
        last_event_id: Option<u64>,
    ) -> SseReader {
        let mut request = self.client.get(self.url(&format!("/runs/{run_id}/events")));
        if let Some(seq) = last_event_id {
            request = request.header("last-event-id", seq.to_string());
        }
        SseReader::new(request.send().await.expect("request"))
    }
}

/// Where a started binary's log goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Logging {
    /// Errors only, dropped (or, with `TEST_LOG`, everything, to the test's stderr).
    Quiet,
    /// `RUST_LOG=info`, captured for the test as [`LogLines`].
    Captured,
}

/// A running binary's standard error, line by line, without terminal colours. The
/// pipe is drained as lines arrive, so the binary never blocks on it.
pub(crate) struct LogLines {
    /// Sent by the task that reads the pipe; closed when the binary closes its stderr.
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl LogLines {
    fn read(stderr: tokio::process::ChildStderr) -> LogLines {
        let (sender, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                // A test that stopped listening still lets the binary write.
                let _ = sender.send(strip_ansi(&line));
            }
        });
        LogLines { lines }
    }

    /// The first line (from here on) that `wanted` accepts; fails if the log ends
    /// first or no such line comes within a minute.
    pub(crate) async fn find(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = self.lines.recv().await {
                if wanted(&line) {
                    return Some(line);
                }
                seen.push(line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the log ended without the line; it said: {seen:#?}"),
            Err(_) => panic!("no such line within a minute; the log said: {seen:#?}"),
        }
    }

    /// Every line until the binary closes its standard error (within a minute).
    async fn until_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = self.lines.recv().await {
                lines.push(line);
            }
        })
        .await;
        lines
    }
}

/// `text` without ANSI escape sequences (the log's colours).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequences end at their first letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Reads an SSE response event by event, as a live client does, so a test can act
/// in the middle of a stream (and drop it there).
pub(crate) struct SseReader {
    response: reqwest::Response,
    /// Text received but not yet parsed into whole frames.
    buffer: String,
}

impl SseReader {
    pub(crate) fn new(response: reqwest::Response) -> SseReader {
        assert!(
            response.status().is_success(),
            "SSE status {}",
            response.status()
        );
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments are skipped), or `None` when the stream has ended;
    /// fails if nothing arrives within a minute.
    pub(crate) async fn next(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_sse(&frame).pop() {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.response.chunk())
                .await
                .expect("the stream sent something within a minute")
                .expect("stream body")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Every event up to and including the first that `last` accepts.
    pub(crate) async fn until(&mut self, last: impl Fn(&SseEvent) -> bool) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            let done = last(&event);
            events.push(event);
            if done {
                return events;
            }
        }
        panic!("the stream ended before the awaited event: {events:#?}");
    }

    /// Every remaining event, to the end of the stream.
    pub(crate) async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// One SSE frame.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SseEvent {
    pub(crate) event: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) data: Value,
}

/// Parses a whole SSE body; comment lines are kept out.
pub(crate) fn parse_sse(text: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    for frame in text.split("\n\n") {
        let mut event = None;
        let mut id = None;
        let mut data = String::new();
        for line in frame.lines() {
            if let Some(value) = line.strip_prefix("event:") {
                event = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("id:") {
                id = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim_start());
            }
        }
        if !data.is_empty() {
            events.push(SseEvent {
                event,
                id,
                data: serde_json::from_str(&data).expect("data is JSON"),
            });
        }
    }
    events
}

/// The event types in order.
pub(crate) fn types(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.data["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A diamond workflow: a → {b, c} → d.
pub(crate) fn diamond() -> Value {
    serde_json::json!({
        "workflow": {"tasks": [
            {"id": "a", "instructions": "List three facts about bicycles."},
            {"id": "b", "instructions": "Expand on the first fact: {{a}}", "depends_on": ["a"]},
            {"id": "c", "instructions": "Expand on the second fact: {{a}}", "depends_on": ["a"]},
            {"id": "d", "instructions": "Combine {{b}} and {{c}}.", "depends_on": ["b", "c"]}
        ]},
        "options": {"assemble": "concat"}
    })
}

#[test]
fn vendor_and_baton_variables_of_the_test_never_reach_the_binary() {
    let mut command = Command::new("baton");
    let inherited = [
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY",
        "BATON_PROFILE",
        "BATON_PROVIDERS__SIM__ENABLED",
        "PATH",
        "TEST_LOG",
    ];
    scrub_inherited(&mut command, inherited.map(OsString::from));
    command.env("OPENAI_BASE_URL", "http://127.0.0.1:1/v1");

    let mut envs: Vec<(String, Option<String>)> = command
        .as_std()
        .get_envs()
        .map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.map(|v| v.to_string_lossy().into_owned()),
            )
        })
        .collect();
    envs.sort();
    assert_eq!(
        envs,
        vec![
            ("ANTHROPIC_BASE_URL".to_owned(), None),
            ("BATON_PROFILE".to_owned(), None),
            ("BATON_PROVIDERS__SIM__ENABLED".to_owned(), None),
            ("GEMINI_API_KEY".to_owned(), None),
            ("OPENAI_API_KEY".to_owned(), None),
            (
                "OPENAI_BASE_URL".to_owned(),
                Some("http://127.0.0.1:1/v1".to_owned())
            ),
        ],
        "removed: the vendors' and Baton's variables; kept: the rest; set: what the test sets"
    );
}
