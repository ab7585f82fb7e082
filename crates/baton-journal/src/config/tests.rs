//! Tests of reading the backend from a URL and of redacting URLs.

use baton_core::journal::JournalError;

use super::{Backend, JournalConfig, backend_of, redact_url};

#[test]
fn sqlite_and_postgres_urls_pick_their_backend() {
    for (url, expected) in [
        ("sqlite://baton.db", Backend::Sqlite),
        ("sqlite::memory:", Backend::Sqlite),
        ("SQLite:baton.db", Backend::Sqlite),
        ("postgres://postgres@127.0.0.1/baton", Backend::Postgres),
        ("postgresql://postgres@127.0.0.1/baton", Backend::Postgres),
    ] {
        assert_eq!(backend_of(url).unwrap(), expected, "{url}");
    }
}

#[test]
fn an_unknown_scheme_is_refused_naming_the_setting() {
    let error = backend_of("mysql://root:hunter2@db/baton").unwrap_err();
    let JournalError::Unavailable(source) = error else {
        panic!("expected Unavailable, got {error:?}");
    };
    let message = source.to_string();
    assert!(message.contains("BATON_DATABASE_URL"), "{message}");
    assert!(message.contains("`mysql:`"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn a_url_without_a_scheme_is_refused_without_echoing_it() {
    let error = backend_of("hunter2-looks-like-a-secret").unwrap_err();
    let JournalError::Unavailable(source) = error else {
        panic!("expected Unavailable, got {error:?}");
    };
    let message = source.to_string();
    assert!(message.contains("BATON_DATABASE_URL"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn redacting_masks_the_password_and_keeps_the_rest() {
    assert_eq!(
        redact_url("postgres://baton:hunter2@db.internal:5432/baton"),
        "postgres://baton:***@db.internal:5432/baton"
    );
    assert_eq!(
        redact_url("postgres://db.internal/baton?user=baton&password=hunter2&sslmode=require"),
        "postgres://db.internal/baton?user=baton&password=***&sslmode=require"
    );
}

#[test]
fn redacting_leaves_urls_without_a_password_as_they_are() {
    for url in [
        "sqlite://baton.db",
        "sqlite::memory:",
        "sqlite:///var/lib/baton/baton.db?mode=rwc",
        "postgres://postgres@127.0.0.1:5432/postgres",
    ] {
        assert_eq!(redact_url(url), url);
    }
}

#[test]
fn debug_of_the_config_never_shows_the_password() {
    let config = JournalConfig::new("postgres://baton:hunter2@db/baton");
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("postgres://baton:***@db/baton"), "{debug}");
}

#[test]
fn the_default_is_a_durable_sqlite_file() {
    let config = JournalConfig::default();
    assert_eq!(config.url, "sqlite://baton.db");
    assert_eq!(config.sqlite_synchronous, super::SqliteSynchronous::Full);
}
