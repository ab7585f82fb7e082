//! Tests for base URL validation.

use super::*;

fn reason(value: &str) -> String {
    match BaseUrl::parse(value, "OPENAI_BASE_URL") {
        Ok(url) => panic!("{value} was accepted as {url}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn base_url_keeps_its_path_prefix_without_trailing_slash() {
    let url = BaseUrl::parse(
        "https://proxy.example.com/team/openai/v1/",
        "OPENAI_BASE_URL",
    )
    .unwrap();
    assert_eq!(url.as_str(), "https://proxy.example.com/team/openai/v1");
    assert_eq!(
        url.join(&["chat", "completions"]).as_str(),
        "https://proxy.example.com/team/openai/v1/chat/completions"
    );
}

#[test]
fn base_url_at_host_root_joins_the_vendor_path() {
    let url = BaseUrl::parse("https://api.anthropic.com", "ANTHROPIC_BASE_URL").unwrap();
    assert_eq!(
        url.join(&["v1", "messages"]).as_str(),
        "https://api.anthropic.com/v1/messages"
    );
}

#[test]
fn joined_segments_are_percent_encoded() {
    let url = BaseUrl::parse("http://localhost:8080", "GEMINI_BASE_URL").unwrap();
    let joined = url.join(&["v1beta", "models", "a/b?c:generateContent"]);
    assert_eq!(joined.path(), "/v1beta/models/a%2Fb%3Fc:generateContent");
    assert_eq!(joined.query(), None);
}

#[test]
fn base_url_error_names_the_setting() {
    let message = reason("ftp://example.com");
    assert!(message.starts_with("OPENAI_BASE_URL "), "{message}");
    assert!(message.contains("http or https"), "{message}");
}

#[test]
fn base_url_with_credentials_is_refused_without_echoing_them() {
    let message = reason("https://user:hunter2@example.com/v1");
    assert!(message.contains("credentials"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn base_url_rejects_garbage_queries_and_fragments() {
    assert!(reason("not a url").contains("not a URL"));
    assert!(reason("https://example.com/v1?key=abc").contains("query"));
    assert!(reason("https://example.com/v1#x").contains("fragment"));
}

#[test]
fn base_url_debug_shows_the_url() {
    let url = BaseUrl::parse("http://localhost:11434/v1", "OPENAI_BASE_URL").unwrap();
    assert_eq!(format!("{url:?}"), "BaseUrl(\"http://localhost:11434/v1\")");
}

#[test]
fn provider_names_are_checked() {
    assert!(check_name("ollama").is_ok());
    assert!(check_name("my_proxy-2").is_ok());
    assert!(check_name("").is_err());
    assert!(check_name("a b").is_err());
}
