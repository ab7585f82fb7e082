//! Every recorded fixture in `shared/fixtures` is exercised: each file is named, as a
//! string literal, by a test of this crate (a decode test, an HTTP-layer test or a
//! fake-vendor test), so a fixture cannot be added without a test that reads it.

use std::path::{Path, PathBuf};

use baton_testkit::fixtures::fixtures_dir;

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The recorded transcripts, as paths under `shared/fixtures` with `/` separators:
/// everything but the README and the licences.
fn recorded_fixtures() -> Vec<String> {
    let root = fixtures_dir();
    files_under(&root)
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&root).unwrap();
            relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .filter(|path| path != "README.md" && !path.starts_with("LICENSES/"))
        .collect()
}

/// The text of this crate's tests: the unit tests (`src/**/tests.rs`) and these
/// integration tests, this file excepted.
fn test_sources() -> String {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let this_file = crate_dir.join("tests/it/fixtures.rs");
    let unit_tests = files_under(&crate_dir.join("src"))
        .into_iter()
        .filter(|path| path.ends_with("tests.rs"));
    let integration_tests = files_under(&crate_dir.join("tests"))
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs") && *path != this_file);
    unit_tests
        .chain(integration_tests)
        .map(|path| std::fs::read_to_string(&path).unwrap())
        .collect()
}

#[test]
fn every_recorded_fixture_is_named_by_a_test() {
    let fixtures = recorded_fixtures();
    for folder in [
        "openai/chat/",
        "openai/responses/",
        "openai-compatible/",
        "anthropic/",
        "gemini/",
    ] {
        assert!(
            fixtures.iter().any(|path| path.starts_with(folder)),
            "no fixtures in {folder} under {}: {fixtures:?}",
            fixtures_dir().display()
        );
    }
    let sources = test_sources();
    let untested: Vec<&String> = fixtures
        .iter()
        .filter(|path| !sources.contains(&format!("\"{path}\"")))
        .collect();
    assert!(
        untested.is_empty(),
        "these fixtures are read by no test of baton-providers; add a decode test: {untested:?}"
    );
}
