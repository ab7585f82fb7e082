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

    async fn start_url(
        database_url: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Baton {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
        scrub_env(&mut command);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .env("BATON_DATABASE_URL", &database_url)
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").map_or("error".to_owned(), |_| "info".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var("TEST_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        for (key, value) in &env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the baton binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(address) = line.strip_prefix("listening on ") {
                    return address.trim().to_owned();
                }
            }
            panic!("baton exited before it printed its address");
        })
        .await
        .expect("baton printed its address within a minute");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = reqwest::Client::builder().build().expect("client");
        Baton {
            child,
            base,
            client,
            database_url,
            args,
            env,
        }
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

    /// `POST /run` and the finished run.
    pub(crate) async fn run(&self, body: &Value) -> Value {
        let response = self.post_json("/run", body).await;
        let status = response.status();
        let json: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "POST /run: {json}");
        json
    }

    /// Reads an SSE response to its end and returns the events' `data` objects.
    pub(crate) async fn read_events(response: reqwest::Response) -> Vec<SseEvent> {
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
