//! `GET /runs/{id}/events`: replay after a cursor, then live (here: polled) events,
//! keepalives, the end of the stream, and shutdown.

use axum::http::StatusCode;
use baton_core::status::RunStatus;
use baton_server::ServerConfig;

use crate::support::{SseReader, TestApp, delta, final_event, stats_event, types};

#[tokio::test]
async fn a_finished_run_is_replayed_from_seq_1_and_the_stream_ends_after_stats() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("hello").await;

    let response = app.open_events(run_id, "", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let frames = SseReader::new(response).read_to_end().await;

    assert_eq!(
        types(&frames),
        [
            "run_created",
            "plan",
            "plan",
            "task_start",
            "task_artifact",
            "task_start",
            "task_artifact",
            "final",
            "stats"
        ]
    );
    for (index, frame) in frames.iter().enumerate() {
        let seq = index as u64 + 1;
        let data = frame.json();
        assert_eq!(
            frame.id.as_deref(),
            Some(seq.to_string().as_str()),
            "ids are the seqs, from 1, no gaps"
        );
        assert_eq!(data["seq"], seq);
        assert_eq!(data["type"].as_str(), frame.event.as_deref());
        assert_eq!(data["run_id"], run_id.to_string());
        assert!(data["ts"].is_string());
    }
    // Output that looks like SSE stays inside its JSON string.
    assert_eq!(
        frames[4].json()["output"],
        "line one\n\nevent: final\ndata: {}\n\n"
    );
}

#[tokio::test]
async fn last_event_id_resumes_after_that_event() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("hello").await;

    let frames = app.events(run_id, "", Some("5")).await;

    let ids: Vec<_> = frames.iter().map(|f| f.id.clone().unwrap()).collect();
    assert_eq!(ids, ["6", "7", "8", "9"]);
}

#[tokio::test]
async fn after_resumes_and_the_header_wins_over_it() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("hello").await;

    assert_eq!(
        types(&app.events(run_id, "?after=7", None).await),
        ["final", "stats"]
    );
    assert_eq!(
        types(&app.events(run_id, "?after=2", Some("8")).await),
        ["stats"]
    );
    assert_eq!(
        app.events(run_id, "?after=0", Some("")).await.len(),
        9,
        "an empty Last-Event-ID means the start"
    );
}

#[tokio::test]
async fn a_cursor_at_or_past_the_end_of_a_finished_run_gives_an_empty_stream() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("hello").await;

    assert!(app.events(run_id, "?after=9", None).await.is_empty());
    assert!(app.events(run_id, "", Some("1000")).await.is_empty());
}

#[tokio::test]
async fn a_finished_run_without_stats_ends_once_replayed() {
    let app = TestApp::new().await;
    let run_id = app.seed_run("cancelled early", RunStatus::Cancelled).await;

    assert_eq!(types(&app.events(run_id, "", None).await), ["run_created"]);
}

#[tokio::test]
async fn long_logs_are_replayed_page_by_page_in_order() {
    let app = TestApp::with_config(ServerConfig {
        event_page_size: 2,
        ..ServerConfig::default()
    })
    .await;
    let run_id = app.seed_finished_run("hello").await;

    let frames = app.events(run_id, "?after=1", None).await;

    let ids: Vec<u64> = frames
        .iter()
        .map(|f| f.id.as_ref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids, (2..=9).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_run_not_live_here_is_followed_by_polling_the_journal_until_its_last_event() {
    let app = TestApp::in_memory();
    let run_id = app.seed_run("elsewhere", RunStatus::Running).await;
    let mut reader = SseReader::new(app.open_events(run_id, "", None).await);
    assert_eq!(
        reader.next_event().await.unwrap().event.as_deref(),
        Some("run_created")
    );

    // Another process commits events: the stream finds them in the journal.
    app.append_events(run_id, vec![delta("a", "Hel"), delta("a", "lo")])
        .await;
    let texts = [
        reader.next_event().await.unwrap(),
        reader.next_event().await.unwrap(),
    ]
    .map(|frame| frame.json()["text"].as_str().unwrap().to_owned());
    assert_eq!(texts, ["Hel", "lo"]);

    app.append_events(run_id, vec![final_event(), stats_event()])
        .await;
    app.set_status(run_id, RunStatus::Succeeded, Some("Hello"))
        .await;
    let rest: Vec<_> = [
        reader.next_event().await.unwrap(),
        reader.next_event().await.unwrap(),
    ]
    .iter()
    .map(|f| (f.id.clone().unwrap(), f.event.clone().unwrap()))
    .collect();
    assert_eq!(
        rest,
        [
            ("4".to_owned(), "final".to_owned()),
            ("5".to_owned(), "stats".to_owned())
        ]
    );
    assert!(
        reader.next_frame().await.is_none(),
        "the stream ends after stats"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_that_ends_without_stats_ends_the_followed_stream() {
    let app = TestApp::in_memory();
    let run_id = app.seed_run("elsewhere", RunStatus::Running).await;
    let mut reader = SseReader::new(app.open_events(run_id, "", None).await);
    assert!(reader.next_event().await.is_some());

    app.append_events(run_id, vec![delta("a", "last words")])
        .await;
    app.set_status(run_id, RunStatus::Failed, None).await;

    assert_eq!(
        reader.next_event().await.unwrap().json()["text"],
        "last words"
    );
    assert!(reader.next_frame().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_idle_stream_carries_keepalive_comments() {
    let app = TestApp::in_memory();
    let run_id = app.seed_run("quiet", RunStatus::Running).await;
    let mut reader = SseReader::new(app.open_events(run_id, "", None).await);
    assert!(reader.next_event().await.is_some());

    let started = tokio::time::Instant::now();
    let frame = reader.next_frame().await.unwrap();

    assert_eq!(frame.comment.as_deref(), Some("keepalive"), "{frame:?}");
    assert!(frame.is_comment());
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(14)
            && waited <= std::time::Duration::from_secs(16),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_open_streams() {
    let app = TestApp::in_memory();
    let run_id = app.seed_run("forever", RunStatus::Running).await;
    let mut reader = SseReader::new(app.open_events(run_id, "", None).await);
    assert!(reader.next_event().await.is_some());

    app.state.begin_shutdown();

    assert!(reader.next_frame().await.is_none(), "the stream ended");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_disconnects_does_not_cancel_the_run() {
    let app = TestApp::in_memory();
    let run_id = app.seed_run("keep going", RunStatus::Running).await;
    let mut reader = SseReader::new(app.open_events(run_id, "", None).await);
    assert!(reader.next_event().await.is_some());

    drop(reader);

    assert_eq!(app.get_run(run_id).await.ok(200)["status"], "running");
    assert_eq!(app.last_seq(run_id).await, 1);
}
