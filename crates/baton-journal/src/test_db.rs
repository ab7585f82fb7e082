//! A fresh, empty database for one test: an SQLite file in a temporary folder, or
//! a uniquely named PostgreSQL database that is dropped afterwards. It only hands
//! out a URL, so any test (of this crate or of the binary) can use it.

use std::error::Error as StdError;
use std::path::PathBuf;

use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

/// A fresh, empty database for one test. Call [`TestDb::cleanup`] at the end of
/// the test; dropping it without doing so still removes the database, on a best
/// effort basis.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Sqlite {
        /// Removed (with the database file) by `cleanup`, or when dropped.
        dir: Option<TempDir>,
        path: PathBuf,
    },
    Postgres {
        /// The server's admin URL, to drop the database with.
        admin_url: String,
        /// The database's name, `baton_test_<uuid>`.
        name: String,
        /// Whether it is dropped already.
        dropped: bool,
    },
}

/// Why a test database could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum TestDbError {
    /// The temporary folder for an SQLite file could not be made or removed.
    #[error("cannot make or remove the temporary folder")]
    TempDir(#[source] std::io::Error),
    /// The admin URL is not a valid URL.
    #[error("the PostgreSQL admin URL is not a valid URL")]
    AdminUrl(#[source] url::ParseError),
    /// PostgreSQL refused a connection, `create database` or `drop database`.
    #[error("PostgreSQL failed to {action} the test database")]
    Postgres {
        /// What was being done: `create` or `drop`.
        action: &'static str,
        /// What PostgreSQL said.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl TestDb {
    /// A URL for an SQLite file that does not exist yet, in a new temporary folder
    /// (so it also shows that the store creates a missing file).
    pub fn sqlite() -> Result<TestDb, TestDbError> {
        let dir = tempfile::Builder::new()
            .prefix("baton-test-")
            .tempdir()
            .map_err(TestDbError::TempDir)?;
        let path = dir.path().join("baton.db");
        let url = format!("sqlite://{}", path.display());
        Ok(TestDb {
            url,
            kind: Kind::Sqlite {
                dir: Some(dir),
                path,
            },
        })
    }

    /// Creates a database named `baton_test_<uuid>` on the server that `admin_url`
    /// reaches (its user needs `CREATEDB`), and returns it with its URL. Fails,
    /// rather than skipping, when the server cannot be reached.
    pub async fn postgres(admin_url: &str) -> Result<TestDb, TestDbError> {
        let name = format!("baton_test_{}", uuid::Uuid::now_v7().simple());
        let mut url = url::Url::parse(admin_url).map_err(TestDbError::AdminUrl)?;
        url.set_path(&name);
        let mut admin = PgConnection::connect(admin_url)
            .await
            .map_err(|error| postgres_error("create", error))?;
        // The name is made of `baton_test_` and hex digits only, so it needs no quoting.
        let created = sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await;
        // Closing is best effort; the create's outcome is what matters.
        let _closed = admin.close().await;
        created.map_err(|error| postgres_error("create", error))?;
        Ok(TestDb {
            url: url.to_string(),
            kind: Kind::Postgres {
                admin_url: admin_url.to_owned(),
                name,
                dropped: false,
            },
        })
    }

    /// The database's URL, for `BATON_DATABASE_URL` or a `JournalConfig`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite { .. } => "sqlite",
            Kind::Postgres { .. } => "postgres",
        }
    }

    /// The SQLite file's path (`None` on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.kind {
            Kind::Sqlite { path, .. } => Some(path),
            Kind::Postgres { .. } => None,
        }
    }

    /// The PostgreSQL database's name (`None` on SQLite).
    pub fn postgres_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Sqlite { .. } => None,
            Kind::Postgres { name, .. } => Some(name),
        }
    }

    /// Removes the database: deletes the temporary folder, or drops the PostgreSQL
    /// database (ending any connection still open to it).
    pub async fn cleanup(mut self) -> Result<(), TestDbError> {
        match &mut self.kind {
            Kind::Sqlite { dir, .. } => match dir.take() {
                Some(dir) => dir.close().map_err(TestDbError::TempDir),
                None => Ok(()),
            },
            Kind::Postgres {
                admin_url,
                name,
                dropped,
            } => {
                drop_database(admin_url, name).await?;
                *dropped = true;
                Ok(())
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Kind::Postgres {
            admin_url,
            name,
            dropped: false,
        } = &self.kind
        else {
            return;
        };
        // Best effort, on a thread of its own: `drop` cannot await, and may run
        // inside (or outside) a runtime.
        let admin_url = admin_url.clone();
        let name = name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            // A failure leaves a stray `baton_test_*` database, which is harmless.
            let _dropped = runtime.block_on(drop_database(&admin_url, &name));
        });
        let _joined = dropper.join();
    }
}

/// Drops a test database, ending the connections still open to it.
async fn drop_database(admin_url: &str, name: &str) -> Result<(), TestDbError> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(|error| postgres_error("drop", error))?;
    let dropped = sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await;
    let _closed = admin.close().await;
    dropped.map_err(|error| postgres_error("drop", error))?;
    Ok(())
}

fn postgres_error(action: &'static str, error: sqlx::Error) -> TestDbError {
    TestDbError::Postgres {
        action,
        source: Box::new(error),
    }
}
