//! The migration files keep their conventions: the same versions and names for
//! both backends, up-only, lowercase SQL, a comment above each table, named unique
//! constraints.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};

use baton_journal::{POSTGRES_MIGRATOR, SQLITE_MIGRATOR};

fn migrations_dir(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend)
}

fn file_names(backend: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(migrations_dir(backend))
        .expect("the migrations folder")
        .map(|entry| {
            entry
                .expect("a folder entry")
                .file_name()
                .into_string()
                .expect("a UTF-8 file name")
        })
        .collect();
    names.sort();
    names
}

fn all_sql() -> Vec<(String, String)> {
    ["postgres", "sqlite"]
        .iter()
        .flat_map(|backend| {
            file_names(backend).into_iter().map(move |name| {
                let text = std::fs::read_to_string(migrations_dir(backend).join(&name))
                    .expect("a migration file");
                (format!("{backend}/{name}"), text)
            })
        })
        .collect()
}

#[test]
fn postgres_and_sqlite_have_the_same_migration_versions_and_names() {
    let postgres = file_names("postgres");
    let sqlite = file_names("sqlite");
    assert!(!postgres.is_empty(), "there are migrations");
    assert_eq!(postgres, sqlite);
}

#[test]
fn migration_names_are_a_timestamp_and_a_verb_phrase() {
    for name in file_names("postgres") {
        let (version, rest) = name.split_at(14);
        assert!(version.chars().all(|c| c.is_ascii_digit()), "{name}");
        let description = rest
            .strip_prefix('_')
            .and_then(|rest| rest.strip_suffix(".sql"))
            .unwrap_or_else(|| panic!("{name} is not <timestamp>_<verb>_<noun>.sql"));
        assert!(
            description.contains('_')
                && description
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name} is not <timestamp>_<verb>_<noun>.sql"
        );
        assert!(!name.contains(".down."), "{name}: migrations are up-only");
    }
}

#[test]
fn the_embedded_migrators_agree_with_each_other() {
    let describe = |migrator: &sqlx::migrate::Migrator| -> Vec<(i64, String)> {
        migrator
            .iter()
            .map(|migration| (migration.version, migration.description.to_string()))
            .collect()
    };
    assert_eq!(describe(&POSTGRES_MIGRATOR), describe(&SQLITE_MIGRATOR));
    assert_eq!(
        POSTGRES_MIGRATOR.iter().count(),
        file_names("postgres").len()
    );
}

#[test]
fn migration_sql_is_lowercase_outside_comments() {
    for (name, text) in all_sql() {
        for line in text.lines() {
            let code = line.split("--").next().unwrap_or_default();
            assert_eq!(code, code.to_lowercase(), "{name}: `{line}`");
        }
    }
}

#[test]
fn every_table_has_a_comment_above_it() {
    for (name, text) in all_sql() {
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if line.starts_with("create table") {
                let above = index.checked_sub(1).map(|above| lines[above].trim_start());
                assert!(
                    above.is_some_and(|above| above.starts_with("--")),
                    "{name}: `{line}` needs a comment saying what a row is"
                );
            }
        }
    }
}

#[test]
fn every_unique_constraint_is_named() {
    for (name, text) in all_sql() {
        for line in text.lines() {
            let code = line.split("--").next().unwrap_or_default();
            if code.contains("unique") || code.contains("primary key") {
                assert!(
                    code.trim_start().starts_with("constraint "),
                    "{name}: `{line}` should be `constraint <name> …`"
                );
            }
        }
    }
}
