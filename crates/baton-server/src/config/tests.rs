//! Tests of the server configuration: defaults, duration forms and validation.

use std::time::Duration;

use super::{ConfigError, ServerConfig};

fn from_json(json: &str) -> Result<ServerConfig, serde_json::Error> {
    serde_json::from_str(json)
}

#[test]
fn an_empty_table_gives_the_documented_defaults() {
    let config = from_json("{}").unwrap();
    assert_eq!(config, ServerConfig::default());
    assert_eq!(config.body_limit_bytes, 1024 * 1024);
    assert_eq!(config.sse_keepalive, Duration::from_secs(15));
    assert_eq!(config.default_page_size, 20);
    assert!(config.validate().is_ok());
}

#[test]
fn durations_accept_seconds_and_units() {
    for (written, expected) in [
        ("15", Duration::from_secs(15)),
        ("0.25", Duration::from_millis(250)),
        ("\"15\"", Duration::from_secs(15)),
        ("\"500ms\"", Duration::from_millis(500)),
        ("\"2s\"", Duration::from_secs(2)),
        ("\"2m\"", Duration::from_secs(120)),
        ("\"1h\"", Duration::from_secs(3600)),
    ] {
        let config = from_json(&format!(r#"{{"sse_keepalive": {written}}}"#)).unwrap();
        assert_eq!(config.sse_keepalive, expected, "for {written}");
    }
}

#[test]
fn a_malformed_duration_names_the_accepted_forms() {
    let error = from_json(r#"{"sse_keepalive": "soon"}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("500ms"), "{error}");
    let error = from_json(r#"{"sse_keepalive": -1}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("0 or more"), "{error}");
}

#[test]
fn validate_names_the_key_that_cannot_work() {
    type BreakIt = fn(&mut ServerConfig);
    let cases: [(BreakIt, &str); 5] = [
        (|c| c.body_limit_bytes = 0, "body_limit_bytes"),
        (|c| c.sse_keepalive = Duration::ZERO, "sse_keepalive"),
        (|c| c.max_page_size = 0, "max_page_size"),
        (
            |c| c.default_page_size = c.max_page_size + 1,
            "default_page_size",
        ),
        (|c| c.event_page_size = 0, "event_page_size"),
    ];
    for (break_it, key) in cases {
        let mut config = ServerConfig::default();
        break_it(&mut config);
        let error: ConfigError = config.validate().unwrap_err();
        assert_eq!(error.key, key);
        assert!(error.to_string().starts_with(&format!("server.{key}: ")));
    }
}

#[test]
fn the_shipped_key_sse_keepalive_s_is_read_too() {
    let config = from_json(r#"{"sse_keepalive_s": 20}"#).unwrap();
    assert_eq!(config.sse_keepalive, Duration::from_secs(20));
}

#[test]
fn a_misspelt_key_is_refused_with_the_known_ones() {
    let error = from_json(r#"{"body_limit_byte": 10}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`body_limit_byte`"), "{error}");
    assert!(error.contains("`body_limit_bytes`"), "{error}");
}
