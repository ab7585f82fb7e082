//! The server's configuration: body limit, event-stream timings and page sizes.
//!
//! The binary loads it (as the `[server]` table of its configuration) and passes it to
//! [`crate::AppState::new`]; this crate never reads the environment.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// How the HTTP surface behaves. Every field has a default, so an empty table is valid;
/// an unknown key is refused, so a misspelt setting is not silently ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The largest request body accepted, in bytes (default 1 MiB). A larger body gets
    /// 413 `body_too_large`.
    pub body_limit_bytes: usize,
    /// How long an event stream may stay silent before a `: keepalive` comment is sent
    /// (default 15 s). Written as seconds (`15`, `0.5`) or with a unit (`"15s"`, `"500ms"`);
    /// `sse_keepalive_s`, the key of the shipped `config/baton.toml`, is read too.
    #[serde(deserialize_with = "deserialize_duration", alias = "sse_keepalive_s")]
    pub sse_keepalive: Duration,
    /// How often an event stream, or a `POST /run` waiting for its run, re-reads the
    /// journal when the run is not running in this process (default 500 ms).
    #[serde(deserialize_with = "deserialize_duration")]
    pub journal_poll_interval: Duration,
    /// The page size of `GET /runs` when `limit` is left out (default 20).
    pub default_page_size: u32,
    /// The largest `limit` that `GET /runs` accepts (default 100).
    pub max_page_size: u32,
    /// How many events an event stream reads from the journal per query while it
    /// replays a run (default 256).
    pub event_page_size: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            sse_keepalive: Duration::from_secs(15),
            journal_poll_interval: Duration::from_millis(500),
            default_page_size: 20,
            max_page_size: 100,
            event_page_size: 256,
        }
    }
}

/// A configuration value that cannot work; the message names the key and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("server.{key}: {rule}")]
pub struct ConfigError {
    /// The key, relative to the `[server]` table.
    pub key: &'static str,
    /// What the value must be.
    pub rule: &'static str,
}

impl ServerConfig {
    /// Checks the values that would make the server misbehave; call it right after loading.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let error = |key, rule| Err(ConfigError { key, rule });
        if self.body_limit_bytes == 0 {
            return error("body_limit_bytes", "must be at least 1 byte");
        }
        if self.sse_keepalive.is_zero() {
            return error("sse_keepalive", "must be longer than 0 seconds");
        }
        if self.journal_poll_interval.is_zero() {
            return error("journal_poll_interval", "must be longer than 0 seconds");
        }
        if self.max_page_size == 0 {
            return error("max_page_size", "must be at least 1");
        }
        if self.default_page_size == 0 || self.default_page_size > self.max_page_size {
            return error(
                "default_page_size",
                "must be at least 1 and at most max_page_size",
            );
        }
        if self.event_page_size == 0 {
            return error("event_page_size", "must be at least 1");
        }
        Ok(())
    }
}

/// Reads a duration written as seconds (`15`, `0.5`, `"15"`) or with a unit
/// (`"500ms"`, `"15s"`, `"2m"`, `"1h"`).
fn deserialize_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    let seconds = match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => seconds,
        Raw::Text(text) => parse_duration_text(&text).map_err(serde::de::Error::custom)?,
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        serde::de::Error::custom(format!(
            "`{seconds}` is not a duration: write a number of seconds of 0 or more"
        ))
    })
}

/// The number of seconds in `"500ms"`, `"15s"`, `"2m"`, `"1h"` or `"15"`.
fn parse_duration_text(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, scale) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else if let Some(number) = text.strip_suffix('h') {
        (number, 3600.0)
    } else {
        (text, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(value) => Ok(value * scale),
        Err(_) => Err(format!(
            "`{text}` is not a duration: write seconds (`15`) or a number with a unit (`500ms`, `15s`, `2m`, `1h`)"
        )),
    }
}

#[cfg(test)]
mod tests;
