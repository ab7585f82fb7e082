use super::*;

fn load(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
    Config::load_from(&Sources::default(), &Environment::of(vars))
}

#[test]
fn the_shipped_configuration_loads_with_zero_setup() {
    let config = load(&[]).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database.url, "sqlite://baton.db");
    assert_eq!(config.server.body_limit_bytes, 1024 * 1024);
    assert_eq!(config.engine.defaults.max_concurrency, 5);
}

#[test]
fn precedence_is_shipped_then_file_then_profile_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baton.toml");
    std::fs::write(
        &file,
        "[engine.defaults]\nmax_concurrency = 7\nrepair_limit = 3\n",
    )
    .unwrap();
    let sources = Sources {
        file: Some(file),
        ..Sources::default()
    };

    let from_file = Config::load_from(&sources, &Environment::of(&[])).unwrap();
    assert_eq!(from_file.engine.defaults.max_concurrency, 7);

    let with_profile =
        Config::load_from(&sources, &Environment::of(&[("BATON_PROFILE", "accurate")])).unwrap();
    assert_eq!(
        with_profile.engine.defaults.repair_limit, 2,
        "the profile beats the file"
    );
    assert_eq!(with_profile.engine.defaults.max_concurrency, 7);

    let env = Environment::of(&[
        ("BATON_PROFILE", "accurate"),
        ("BATON_ENGINE__DEFAULTS__REPAIR_LIMIT", "4"),
        ("BATON_DATABASE_URL", "postgres://postgres@127.0.0.1/x"),
    ]);
    let with_env = Config::load_from(&sources, &env).unwrap();
    assert_eq!(
        with_env.engine.defaults.repair_limit, 4,
        "the environment beats the profile"
    );
    assert_eq!(with_env.database.url, "postgres://postgres@127.0.0.1/x");

    let flags = Sources {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        database_url: Some("sqlite://other.db".into()),
        ..sources
    };
    let with_flags = Config::load_from(&flags, &env).unwrap();
    assert_eq!(with_flags.listen.port(), 0);
    assert_eq!(with_flags.database.url, "sqlite://other.db");
}

#[test]
fn test_variables_are_not_configuration() {
    assert!(
        load(&[
            ("BATON_TEST_BINARY", "/bin/baton"),
            ("BATON_TEST_DATABASE_URL", "postgres://x")
        ])
        .is_ok()
    );
}

#[test]
fn mistakes_name_the_key() {
    let err = load(&[("BATON_SERVER__BODY_LIMIT_BYTES", "lots")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.body_limit_bytes"), "{err}");
    let err = load(&[("BATON_AUTH__COLOUR", "red")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
    let err = load(&[("BATON_PROFILE", "turbo")]).unwrap_err().to_string();
    assert!(err.contains("BATON_PROFILE=turbo"), "{err}");
}

#[test]
fn the_writers_must_leave_reads_a_connection() {
    let config = load(&[("BATON_DATABASE__WRITERS", "3")]).unwrap();
    assert_eq!(config.database.postgres_writers(), 3);
    let err = load(&[("BATON_DATABASE__WRITERS", "0")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("database.writers must be at least 1"), "{err}");
    let err = load(&[
        ("BATON_DATABASE__WRITERS", "4"),
        ("BATON_DATABASE__MAX_CONNECTIONS", "4"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("database.writers (4) must be below database.max_connections (4)"),
        "{err}"
    );
}

#[test]
fn by_default_the_writers_are_half_the_pool_and_at_most_the_cores() {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let cores = u32::try_from(cores).unwrap();
    let config = load(&[("BATON_DATABASE__MAX_CONNECTIONS", "10")]).unwrap();
    assert_eq!(config.database.postgres_writers(), 5.min(cores));
    let config = load(&[("BATON_DATABASE__MAX_CONNECTIONS", "1")]).unwrap();
    assert_eq!(config.database.postgres_writers(), 1);
}
