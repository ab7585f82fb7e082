//! Health, readiness, request ids, storage failures, panics, the docs page and a
//! graceful shutdown of `serve`.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use baton_core::status::RunStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{DEADLINE, TestApp};
use baton_testkit::Mode;

#[tokio::test]
async fn healthz_is_200_while_the_process_is_up_even_if_the_database_is_not() {
    let app = TestApp::in_memory();
    assert_eq!(
        app.get("/healthz").await.ok(200),
        serde_json::json!({"status": "ok"})
    );
    app.set_mode(Mode::Unavailable);
    assert_eq!(app.get("/healthz").await.ok(200)["status"], "ok");
}

#[tokio::test]
async fn readyz_follows_the_journal_and_shutdown() {
    let app = TestApp::in_memory();
    assert_eq!(
        app.get("/readyz").await.ok(200),
        serde_json::json!({"status": "ready"})
    );

    app.set_mode(Mode::NotReady);
    app.get("/readyz").await.problem(503, "unavailable", &[]);

    app.set_mode(Mode::Unavailable);
    let problem = app
        .get("/readyz")
        .await
        .problem(503, "storage_unavailable", &[]);
    assert!(!problem.to_string().contains("s3cret"));

    app.set_mode(Mode::Healthy);
    app.state.begin_shutdown();
    app.get("/readyz").await.problem(503, "unavailable", &[]);
}

#[tokio::test]
async fn a_storage_failure_is_a_503_problem_with_no_internal_text() {
    let app = TestApp::in_memory();
    let run_id = app.seed_finished_run("hello").await;
    app.set_mode(Mode::Unavailable);

    for response in [
        app.list_runs("").await,
        app.get_run(run_id).await,
        app.get_run_task(run_id, "research").await,
        app.get(&format!("/runs/{run_id}/events")).await,
        app.cancel_run(run_id).await,
    ] {
        let problem = response.problem(503, "storage_unavailable", &["x-request-id"]);
        let text = problem.to_string();
        for secret in ["s3cret", "db.internal", "postgres://", "connection refused"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[tokio::test]
async fn a_panic_is_a_500_problem_with_no_panic_text() {
    let app = TestApp::in_memory();
    app.set_mode(Mode::Panicking);

    let response = app.get("/runs").await;

    let problem = response.problem(500, "internal", &["x-request-id"]);
    assert!(!problem.to_string().contains("told to panic"));
}

#[tokio::test]
async fn every_response_has_a_request_id_and_keeps_the_clients() {
    let app = TestApp::new().await;
    let generated = app.get("/healthz").await;
    let id = generated.header("x-request-id").unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert!(app.get("/nowhere").await.header("x-request-id").is_some());

    let request = Request::get("/healthz")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.call(request).await.header("x-request-id"),
        Some("abc-123")
    );
}

#[tokio::test]
async fn the_docs_page_is_served_with_no_external_urls() {
    let app = TestApp::new().await;

    let redirect = app.get("/docs").await;
    assert!(redirect.status.is_redirection(), "{:?}", redirect.status);
    assert_eq!(redirect.header("location"), Some("/docs/"));

    let index = app.get("/docs/").await;
    assert_eq!(index.status, 200);
    assert!(
        index
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = index.text();
    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status, 200);
    let script = initializer.text();
    assert!(script.contains("/openapi.json"), "{script}");
    assert!(script.contains("\"validatorUrl\": \"none\""), "{script}");
    for (name, text) in [("index.html", &html), ("swagger-initializer.js", &script)] {
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{name} names an external URL:\n{text}"
        );
    }

    // Every file the page loads is served from here.
    let mut references = 0;
    for attribute in ["src=\"", "href=\""] {
        for part in html.split(attribute).skip(1) {
            let reference = part.split('"').next().unwrap();
            let file = reference.strip_prefix("./").unwrap_or(reference);
            assert!(
                !file.starts_with('/') && !file.contains("//"),
                "{reference} is not relative"
            );
            let response = app.get(&format!("/docs/{file}")).await;
            assert_eq!(response.status, 200, "{reference}");
            references += 1;
        }
    }
    assert!(
        references >= 3,
        "the page loads its scripts and styles: {html}"
    );

    app.get("/docs/nope.js")
        .await
        .problem(404, "not_found", &["nope.js"]);
}

#[tokio::test]
async fn serve_shuts_down_gracefully_while_an_event_stream_is_open() {
    let app = TestApp::new().await;
    let run_id = app.seed_run("forever", RunStatus::Running).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(baton_server::serve(
        listener,
        app.state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET /runs/{run_id}/events HTTP/1.1\r\nhost: {address}\r\naccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("event: run_created") {
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the connection closed early");
        received.extend_from_slice(&buffer[..n]);
    }
    let head = String::from_utf8_lossy(&received).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");

    stop.send(()).unwrap();

    let result = tokio::time::timeout(DEADLINE, server)
        .await
        .expect("serve returned in time");
    result.unwrap().unwrap();
    // The stream was ended, so the connection reaches its end.
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the connection was closed");
}
