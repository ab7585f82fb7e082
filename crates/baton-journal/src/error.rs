//! How database failures become `JournalError`s: what the caller may retry
//! (`Unavailable`), what is a bug or a manual edit (`Corrupt`), and why a store
//! could not be set up.

use baton_core::journal::JournalError;
use sqlx::error::ErrorKind;
use sqlx::migrate::MigrateError;

/// Why the store could not be set up. It travels as the source of
/// [`JournalError::Unavailable`] from `Store::connect` and `Store::migrate`, so the
/// binary can print what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The database URL names no supported backend.
    #[error(
        "BATON_DATABASE_URL must start with `sqlite:`, `postgres:` or `postgresql:`, not {given}"
    )]
    UnsupportedUrl {
        /// What was given: its scheme in backticks, or a description when it did
        /// not look like a URL (so a secret pasted there is not echoed).
        given: String,
    },
    /// A migration that the database applied was changed afterwards.
    #[error("migration {version} was changed after it was applied: restore the original file")]
    MigrationChanged {
        /// Its version.
        version: i64,
    },
    /// A migration failed half-way on a database without transactional DDL.
    #[error(
        "migration {version} is partly applied: repair the database and its `_sqlx_migrations` row"
    )]
    MigrationDirty {
        /// Its version.
        version: i64,
    },
    /// Migrating failed for another reason.
    #[error("migrating the database failed")]
    Migrate(#[source] MigrateError),
}

/// The primary key of `events`, `(run_id, seq)`.
const EVENTS_KEY: &str = "events_pkey";

/// A failed query. Data that cannot be decoded is `Corrupt`, and so is a write the
/// database refuses as invalid (a broken constraint, such as an event of a run that
/// does not exist, or a value it cannot hold, such as a NUL character in PostgreSQL
/// text): retrying those cannot help, as they are bugs. Anything else is the
/// database being `Unavailable`, which a retry may cure; so is a taken key of
/// `events` (`events_pkey`): two transactions wrote the same events at once (each
/// checks that they are not stored, before either had committed), and written again,
/// the later one finds them stored.
pub(crate) fn db_error(error: sqlx::Error) -> JournalError {
    let invalid_write = match &error {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => true,
        sqlx::Error::Database(database) => {
            // SQLSTATE class 22 is PostgreSQL's "data exception".
            let data_exception = database.code().is_some_and(|code| code.starts_with("22"));
            let violation = matches!(
                database.kind(),
                ErrorKind::UniqueViolation
                    | ErrorKind::ForeignKeyViolation
                    | ErrorKind::NotNullViolation
                    | ErrorKind::CheckViolation
            );
            let raced = database.constraint() == Some(EVENTS_KEY);
            data_exception || (violation && !raced)
        }
        _ => false,
    };
    if invalid_write {
        JournalError::Corrupt(error.to_string())
    } else {
        JournalError::Unavailable(Box::new(error))
    }
}

/// A failed migration run.
pub(crate) fn migrate_error(error: MigrateError) -> JournalError {
    let setup = match error {
        MigrateError::Execute(error) => return JournalError::Unavailable(Box::new(error)),
        MigrateError::VersionMismatch(version) => SetupError::MigrationChanged { version },
        MigrateError::Dirty(version) => SetupError::MigrationDirty { version },
        other => SetupError::Migrate(other),
    };
    JournalError::Unavailable(Box::new(setup))
}

/// Stored data that cannot be read back.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> JournalError {
    JournalError::Corrupt(format!("{what}: {detail}"))
}
