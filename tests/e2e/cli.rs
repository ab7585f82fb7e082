//! The CLI as a user runs it: `baton run`, `baton runs`, `baton migrate`, and start-up
//! errors that name the setting to fix.

use std::process::Output;

use crate::support::{Backend, Database, both_backends, scrub_env};

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

    let run = baton(
        &db,
        &[
            "run",
            "Name three rivers. Then describe the longest one.",
            "--stream",
        ],
        &[],
    )
    .await;

    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    assert!(
        stdout.contains("plan: 2 task(s) from the planner"),
        "{stdout}"
    );
    assert!(stdout.contains("[step_2] routed to sim/"), "{stdout}");
    assert!(stdout.contains("run succeeded"), "{stdout}");
    assert!(stdout.contains("[simulated] A combined answer"), "{stdout}");
    let run_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .unwrap()
        .trim()
        .to_owned();

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
