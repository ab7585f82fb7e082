//! Access to the recorded vendor transcripts in `shared/fixtures` (see its README):
//! where they are, and how a recorded stream is cut into SSE events.

use std::path::PathBuf;

/// The `shared/fixtures` folder: beside the repository, as CI clones it
/// (`<repo>/../shared/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// The text of a fixture, by its path under `shared/fixtures`
/// (e.g. `openai/chat/nonstream-text.json`).
///
/// # Panics
/// If the file cannot be read: a test kit's missing fixture is a broken test.
pub fn read_fixture(path: &str) -> String {
    let full = fixtures_dir().join(path);
    match std::fs::read_to_string(&full) {
        Ok(text) => text,
        Err(err) => panic!("cannot read fixture {}: {err}", full.display()),
    }
}

/// A JSON fixture, parsed.
///
/// # Panics
/// If the file cannot be read or is not JSON.
pub fn read_fixture_json(path: &str) -> serde_json::Value {
    match serde_json::from_str(&read_fixture(path)) {
        Ok(value) => value,
        Err(err) => panic!("fixture {path} is not JSON: {err}"),
    }
}

/// The SSE events of a recorded stream, each as its lines joined by `\n`, without the
/// blank line that ends it.
///
/// `.sse` files are cut at blank lines. `.jsonl` files hold one event per line without
/// framing (as vercel/ai records them) and are framed as the vendor frames them:
/// Gemini `alt=sse` as `data: <json>`; Anthropic and the OpenAI Responses API as
/// `event: <type>` then `data: <json>`.
///
/// # Panics
/// If the file cannot be read or has another extension.
pub fn fixture_events(path: &str) -> Vec<String> {
    let text = read_fixture(path);
    if path.ends_with(".sse") {
        return split_sse(&text);
    }
    if path.ends_with(".jsonl") {
        let named = !path.starts_with("gemini/");
        return text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| {
                let event_type = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
                match event_type {
                    Some(event_type) if named => format!("event: {event_type}\ndata: {line}"),
                    _ => format!("data: {line}"),
                }
            })
            .collect();
    }
    panic!("fixture {path} is not a stream (.sse or .jsonl)");
}

/// Cuts SSE text into events at blank lines (LF or CRLF).
pub fn split_sse(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(|event| event.trim_matches('\n'))
        .filter(|event| !event.is_empty())
        .map(str::to_owned)
        .collect()
}
