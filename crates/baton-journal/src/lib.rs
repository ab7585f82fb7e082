//! Baton's store: runs, tasks, attempts and the append-only event log, kept in
//! SQLite (the embedded default) or PostgreSQL (production, shared by replicas),
//! behind the `Journal` port that `baton-core` defines.
//!
//! Invariant: both backends behave the same, and one conformance suite
//! (`conformance`, behind the `testing` feature) proves it on each. Every write is
//! one transaction and is idempotent, so a retried commit is harmless.
//!
//! Modules in reading order: the configuration; the two backends; the codec they
//! share (ids, times, numbers and JSON to and from columns); the migrations check;
//! the `GET /stats` aggregates; then, with `testing`, the test database helper and
//! the conformance suite.

mod config;
mod postgres;
mod sqlite;

mod codec;
mod error;
mod migrations;
mod queue;
mod stats;

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
mod test_db;

use async_trait::async_trait;
use baton_core::event::Event;
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{
    AttemptRecord, Commit, CommitChain, Journal, JournalError, JournalStats, NewRun, OnCommitted,
    RunQuery, RunRecord, StoredRun, TaskRecord, TelemetryRecord, Urgency,
};
use sqlx::migrate::Migrator;

pub use config::{JournalConfig, SqliteSynchronous};
pub use error::SetupError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
#[cfg(feature = "testing")]
pub use test_db::{TestDb, TestDbError};

/// The PostgreSQL migrations (`migrations/postgres`), embedded in the binary.
///
/// A database that has migrations this binary does not know is accepted (the
/// migrator ignores them): during a rolling deploy an older replica keeps working
/// against a schema that a newer one already expanded.
pub static POSTGRES_MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("../../migrations/postgres")
};

/// The SQLite migrations (`migrations/sqlite`), embedded in the binary; the same
/// versions and names as [`POSTGRES_MIGRATOR`].
pub static SQLITE_MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("../../migrations/sqlite")
};

/// The journal store: one of the two backends, chosen by the database URL.
///
/// It implements [`Journal`] by delegating to the backend. Cloning is cheap and
/// shares the connection pools.
#[derive(Clone, Debug)]
pub enum Store {
    /// An SQLite file (or in-memory database).
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PgStore),
}

impl Store {
    /// Connects to the database that `config.url` names: `sqlite:` URLs open (and
    /// create, if missing) an SQLite file, `postgres:` and `postgresql:` URLs a
    /// PostgreSQL pool. Any other URL is refused with an error naming
    /// `BATON_DATABASE_URL`. It does not run migrations: call [`Store::migrate`].
    pub async fn connect(config: &JournalConfig) -> Result<Store, JournalError> {
        match config::backend_of(&config.url)? {
            config::Backend::Sqlite => Ok(Store::Sqlite(SqliteStore::connect(config).await?)),
            config::Backend::Postgres => Ok(Store::Postgres(PgStore::connect(config).await?)),
        }
    }

    /// Applies every embedded migration that the database does not have yet. It is
    /// safe to run at every start, and on PostgreSQL by several replicas at once
    /// (sqlx holds an advisory lock while it migrates).
    pub async fn migrate(&self) -> Result<(), JournalError> {
        match self {
            Store::Sqlite(store) => store.migrate().await,
            Store::Postgres(store) => store.migrate().await,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// The database URL with any password replaced by `***`, for logs and the
    /// start-up banner.
    pub fn display_url(&self) -> &str {
        match self {
            Store::Sqlite(store) => store.display_url(),
            Store::Postgres(store) => store.display_url(),
        }
    }

    /// The write queue every new run and commit goes through, whichever the backend.
    fn queue(&self) -> &queue::WriteQueue {
        match self {
            Store::Sqlite(store) => store.queue(),
            Store::Postgres(store) => store.queue(),
        }
    }

    /// Closes the connection pools, waiting for connections in use to be returned.
    /// Later calls fail with [`JournalError::Unavailable`].
    pub async fn close(&self) {
        match self {
            Store::Sqlite(store) => store.close().await,
            Store::Postgres(store) => store.close().await,
        }
    }
}

#[async_trait]
impl Journal for Store {
    #[tracing::instrument(level = "debug", skip_all, fields(run.id = %run.id))]
    async fn create_run(&self, run: &NewRun, events: &[Event]) -> Result<(), JournalError> {
        self.queue().create_run(run, events).await
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(
            run.id = ?commit.run.as_ref().map(|run| run.id),
            tasks = commit.tasks.len(),
            attempts = commit.attempts.len(),
            events = commit.events.len(),
            telemetry = commit.telemetry.len(),
        )
    )]
    async fn commit(&self, commit: &Commit) -> Result<(), JournalError> {
        self.queue().commit(commit).await
    }

    fn submit(&self, chain: &CommitChain, commit: Commit, urgency: Urgency, done: OnCommitted) {
        self.queue().submit(chain, commit, urgency, done);
    }

    fn submit_run(
        &self,
        chain: &CommitChain,
        run: NewRun,
        events: Vec<Event>,
        urgency: Urgency,
        done: OnCommitted,
    ) {
        self.queue().submit_run(chain, &run, &events, urgency, done);
    }

    async fn get_run(
        &self,
        id: RunId,
        tenant: Option<&str>,
    ) -> Result<Option<RunRecord>, JournalError> {
        match self {
            Store::Sqlite(store) => store.get_run(id, tenant).await,
            Store::Postgres(store) => store.get_run(id, tenant).await,
        }
    }

    async fn find_by_idempotency_key(
        &self,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Option<RunRecord>, JournalError> {
        match self {
            Store::Sqlite(store) => store.find_by_idempotency_key(tenant, key).await,
            Store::Postgres(store) => store.find_by_idempotency_key(tenant, key).await,
        }
    }

    async fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, JournalError> {
        match self {
            Store::Sqlite(store) => store.list_runs(query).await,
            Store::Postgres(store) => store.list_runs(query).await,
        }
    }

    async fn get_run_with_rows(
        &self,
        id: RunId,
        tenant: Option<&str>,
    ) -> Result<Option<StoredRun>, JournalError> {
        match self {
            Store::Sqlite(store) => store.get_run_with_rows(id, tenant).await,
            Store::Postgres(store) => store.get_run_with_rows(id, tenant).await,
        }
    }

    async fn list_tasks(&self, run_id: RunId) -> Result<Vec<TaskRecord>, JournalError> {
        match self {
            Store::Sqlite(store) => store.list_tasks(run_id).await,
            Store::Postgres(store) => store.list_tasks(run_id).await,
        }
    }

    async fn list_attempts(
        &self,
        run_id: RunId,
        task_id: Option<&TaskId>,
    ) -> Result<Vec<AttemptRecord>, JournalError> {
        match self {
            Store::Sqlite(store) => store.list_attempts(run_id, task_id).await,
            Store::Postgres(store) => store.list_attempts(run_id, task_id).await,
        }
    }

    async fn events_after(
        &self,
        run_id: RunId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, JournalError> {
        match self {
            Store::Sqlite(store) => store.events_after(run_id, after, limit).await,
            Store::Postgres(store) => store.events_after(run_id, after, limit).await,
        }
    }

    async fn last_seq(&self, run_id: RunId) -> Result<u64, JournalError> {
        match self {
            Store::Sqlite(store) => store.last_seq(run_id).await,
            Store::Postgres(store) => store.last_seq(run_id).await,
        }
    }

    async fn unfinished_runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        match self {
            Store::Sqlite(store) => store.unfinished_runs().await,
            Store::Postgres(store) => store.unfinished_runs().await,
        }
    }

    async fn ready(&self) -> Result<bool, JournalError> {
        match self {
            Store::Sqlite(store) => store.ready().await,
            Store::Postgres(store) => store.ready().await,
        }
    }

    async fn load_telemetry(&self) -> Result<Vec<TelemetryRecord>, JournalError> {
        match self {
            Store::Sqlite(store) => store.load_telemetry().await,
            Store::Postgres(store) => store.load_telemetry().await,
        }
    }

    async fn stats(&self) -> Result<JournalStats, JournalError> {
        match self {
            Store::Sqlite(store) => store.stats().await,
            Store::Postgres(store) => store.stats().await,
        }
    }
}
