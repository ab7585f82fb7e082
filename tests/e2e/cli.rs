//! The CLI as a user runs it: `baton run`, `baton runs`, `baton migrate`, and start-up
//! errors that name the setting to fix.

use std::process::Output;

use serde_json::Value;

use crate::support::{Backend, Baton, Database, both_backends, scrub_env, sim_env};

/// A prompt the sim planner splits into two tasks, the second after the first.
const TWO_PART_PROMPT: &str = "Name three rivers. Then describe the longest one.";

async fn baton(database: &Database, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton"));
    scrub_env(&mut command);
    command
        .args(args)
        .env("BATON_DATABASE_URL", database.url())
        .env("BATON_PROVIDERS__SIM__LATENCY_MS", "0")
        .env("BATON_PROVIDERS__SIM__LATENCY_JITTER_MS", "0")
        .env("RUST_LOG", "error")
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("baton finished within a minute")
        .expect("baton ran")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn baton_run_prints_progress_and_the_answer_and_runs_shows_it(backend: Backend) {
    let db = Database::new(backend).await;

    let run = baton(&db, &["run", TWO_PART_PROMPT, "--stream"], &[]).await;

    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    assert!(
        stdout.contains("plan: 2 task(s) from the planner"),
        "{stdout}"
    );
    assert!(stdout.contains("[step_2] routed to sim/"), "{stdout}");
    assert!(stdout.contains("run succeeded"), "{stdout}");
    assert!(stdout.contains("[simulated] A combined answer"), "{stdout}");
    let run_id = printed_run_id(&stdout);

    let list = baton(&db, &["runs", "list"], &[]).await;
    assert!(
        text(&list.stdout).contains(&run_id),
        "{}",
        text(&list.stdout)
    );
    let show = baton(&db, &["runs", "show", &run_id], &[]).await;
    let shown = text(&show.stdout);
    assert!(
        shown.contains("succeeded") && shown.contains("step_1") && shown.contains("step_2"),
        "{shown}"
    );

    let missing = baton(
        &db,
        &["runs", "show", "0190c7a8-0000-7000-8000-000000000001"],
        &[],
    )
    .await;
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no run with id"),
        "{}",
        text(&missing.stderr)
    );
}
both_backends!(baton_run_prints_progress_and_the_answer_and_runs_shows_it);

/// The id that `baton run` prints on its `run <id>` line.
fn printed_run_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .unwrap_or_else(|| panic!("no `run <id>` line: {stdout}"))
        .trim()
        .to_owned()
}

/// Checks what `baton run` prints for a two-part prompt that succeeded.
fn check_progress_and_answer(stdout: &str) {
    for expected in [
        "planning…",
        "plan: 2 task(s) from the planner",
        "  - step_2: ",
        " after step_1",
        "[step_1] routed to sim/",
        "[step_2] routed to sim/",
        "[step_1] output in ",
        "[step_2] verification passed",
        "assembling (synthesize)…",
        "run succeeded",
        "[simulated] A combined answer",
        "2 task(s), ",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    let answer_at = stdout.find("[simulated] A combined answer").unwrap();
    assert!(
        stdout.find("run succeeded").unwrap() < answer_at,
        "the answer follows the progress: {stdout}"
    );
}

async fn baton_run_with_server_runs_on_that_server_and_prints_progress_and_the_answer(
    backend: Backend,
) {
    // Arrange: a running server, and a CLI whose own database cannot be reached, so
    // a run it made locally could not succeed.
    let db = Database::new(backend).await;
    let server = Baton::start(&db, sim_env()).await;

    // Act
    let run = baton(
        &db,
        &["run", TWO_PART_PROMPT, "--server", &server.base],
        &[(
            "BATON_DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/nowhere",
        )],
    )
    .await;

    // Assert
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    check_progress_and_answer(&stdout);
    let run_id = printed_run_id(&stdout);
    let listed: Value = server.get_json("/runs").await;
    let on_server: Vec<_> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["status"].clone()))
        .collect();
    assert_eq!(
        on_server,
        [(run_id, Value::from("succeeded"))],
        "the run is the server's"
    );
}
both_backends!(baton_run_with_server_runs_on_that_server_and_prints_progress_and_the_answer);

async fn baton_run_without_stream_prints_progress_and_the_answer_but_no_tokens(backend: Backend) {
    let db = Database::new(backend).await;

    let run = baton(&db, &["run", TWO_PART_PROMPT], &[]).await;

    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    check_progress_and_answer(&stdout);
    // Without --stream, each task's output is reported by size only: the one
    // simulated text printed is the assembled answer.
    assert_eq!(
        stdout.matches("[simulated]").count(),
        1,
        "no task tokens without --stream: {stdout}"
    );
    let run_id = printed_run_id(&stdout);
    let list = baton(&db, &["runs", "list"], &[]).await;
    assert!(
        text(&list.stdout).contains(&run_id),
        "{}",
        text(&list.stdout)
    );
}
both_backends!(baton_run_without_stream_prints_progress_and_the_answer_but_no_tokens);

async fn baton_run_serves_its_embedded_server_with_the_configured_server_settings(
    backend: Backend,
) {
    let db = Database::new(backend).await;

    // The request body `baton run` sends is larger than this limit.
    let run = baton(
        &db,
        &["run", TWO_PART_PROMPT],
        &[("BATON_SERVER__BODY_LIMIT_BYTES", "32")],
    )
    .await;

    assert!(!run.status.success(), "{}", text(&run.stdout));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("413") && stderr.contains("limit of 32 bytes"),
        "the configured body limit applies: {stderr}"
    );
}
both_backends!(baton_run_serves_its_embedded_server_with_the_configured_server_settings);

/// A copy of a PostgreSQL URL with a password in it, and that password: the URL's own
/// one if it has one, or a made-up one (which a server that trusts local connections
/// ignores).
fn with_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user_info, host) = rest.split_once('@').unwrap_or(("postgres", rest));
    match user_info.split_once(':') {
        Some((_, password)) if !password.is_empty() => (url.to_owned(), password.to_owned()),
        _ => {
            let user = user_info.trim_end_matches(':');
            let password = "pw-that-must-not-be-logged";
            (
                format!("{scheme}://{user}:{password}@{host}"),
                password.to_owned(),
            )
        }
    }
}

async fn the_start_up_log_line_names_the_database_providers_and_auth_mode_but_no_secret(
    backend: Backend,
) {
    let db = Database::new(backend).await;
    let (url, secret) = match backend {
        Backend::Sqlite => (db.url(), None),
        Backend::Postgres => {
            let (url, secret) = with_password(&db.url());
            (url, Some(secret))
        }
    };

    let (_baton, mut log) = Baton::start_with_log(&url, sim_env()).await;
    let line = log.find(|line| line.contains("baton starting")).await;

    let shown_url = match &secret {
        Some(secret) => url.replacen(&format!(":{secret}@"), ":***@", 1),
        None => url.clone(),
    };
    for expected in [
        format!("database {shown_url},").as_str(),
        "providers [sim]",
        "auth off (loopback)",
        " INFO ",
    ] {
        assert!(line.contains(expected), "{expected:?} in {line:?}");
    }
    if let Some(secret) = secret {
        assert!(!line.contains(&secret), "the password is hidden: {line:?}");
    }
}
both_backends!(the_start_up_log_line_names_the_database_providers_and_auth_mode_but_no_secret);

async fn migrate_applies_the_migrations_and_bad_settings_stop_start_up_by_name(backend: Backend) {
    let db = Database::new(backend).await;

    let migrate = baton(&db, &["migrate"], &[]).await;
    assert!(migrate.status.success(), "{}", text(&migrate.stderr));
    assert!(text(&migrate.stdout).contains("migrations applied"));

    let bad_url = baton(
        &db,
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("OPENAI_BASE_URL", "ftp://user:pw@example.com/v1"),
            ("OPENAI_API_KEY", "sk-x"),
        ],
    )
    .await;
    assert!(!bad_url.status.success());
    let stderr = text(&bad_url.stderr);
    assert!(stderr.contains("OPENAI_BASE_URL"), "{stderr}");
    assert!(
        !stderr.contains("pw@"),
        "the credentials are not repeated: {stderr}"
    );

    // A well-formed https URL with credentials in it is refused by name too, for each
    // vendor's variable and for a compatible server's setting in a file.
    for (setting, key) in [
        ("OPENAI_BASE_URL", "OPENAI_API_KEY"),
        ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"),
        ("GEMINI_BASE_URL", "GEMINI_API_KEY"),
    ] {
        let with_credentials = baton(
            &db,
            &["serve", "--listen", "127.0.0.1:0"],
            &[
                (setting, "https://user:hunter2@proxy.example.com/v1"),
                (key, "sk-x"),
            ],
        )
        .await;
        assert!(!with_credentials.status.success(), "{setting}");
        let stderr = text(&with_credentials.stderr);
        assert!(
            stderr.contains(&format!("{setting} is not a usable base URL"))
                && stderr.contains("credentials"),
            "{setting}: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "the password is not repeated: {stderr}"
        );
    }
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(
        file.path(),
        "[providers.compatible.proxy]\n\
         base_url = \"https://user:hunter2@proxy.example.com/v1\"\n\
         models = [\"m\"]\n",
    )
    .unwrap();
    let config = file.path().to_str().unwrap();
    let in_file = baton(
        &db,
        &["serve", "--listen", "127.0.0.1:0", "--config", config],
        &[],
    )
    .await;
    assert!(!in_file.status.success());
    let stderr = text(&in_file.stderr);
    assert!(
        stderr.contains("providers.compatible.proxy.base_url is not a usable base URL")
            && stderr.contains("credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let bad_key = baton(
        &db,
        &["serve", "--listen", "127.0.0.1:0"],
        &[("BATON_ENGINE__DEFAULTS__MAX_CONCURRENCY", "many")],
    )
    .await;
    assert!(!bad_key.status.success());
    assert!(
        text(&bad_key.stderr).contains("engine.defaults.max_concurrency"),
        "{}",
        text(&bad_key.stderr)
    );

    let remote = baton(&db, &["serve", "--listen", "0.0.0.0:0"], &[]).await;
    assert!(!remote.status.success());
    assert!(
        text(&remote.stderr).contains("allow_unauthenticated"),
        "{}",
        text(&remote.stderr)
    );
}
both_backends!(migrate_applies_the_migrations_and_bad_settings_stop_start_up_by_name);
