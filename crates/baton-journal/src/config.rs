//! How to reach the database: the URL, pool sizes and timeouts, and SQLite's
//! durability; plus reading the backend from the URL and redacting it for display.

use std::fmt;
use std::time::Duration;

use baton_core::journal::JournalError;
use serde::Deserialize;

use crate::error::SetupError;

/// The journal's configuration. The binary fills it from `baton.toml` and the
/// `BATON_DATABASE_*` environment variables; tests use [`JournalConfig::for_tests`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    /// The database (`BATON_DATABASE_URL`): `sqlite://baton.db` (the default; the
    /// file is created if missing), `sqlite::memory:`, or
    /// `postgres://user:password@host:5432/baton`. It may hold a password, so it is
    /// never logged as is: see [`JournalConfig`]'s `Debug` and `Store::display_url`.
    pub url: String,
    /// The most connections open at once. On PostgreSQL this is the pool size, of
    /// which the writers (see `writers`) take one each and the rest are left for
    /// reads (with one in all, the writer gives it back after every batch); on
    /// SQLite it is the number of readers, beside the one connection that writes.
    pub max_connections: u32,
    /// PostgreSQL only: how many writers the journal writes through, each one
    /// transaction at a time over the commits queued behind each other (group
    /// commit). `None` (the default): half the pool (at least one), at most the
    /// machine's cores ([`JournalConfig::postgres_writers`]). SQLite always has one.
    pub writers: Option<u32>,
    /// How long to wait for a connection (including the first connect) before a
    /// call fails as unavailable, in milliseconds.
    pub acquire_timeout_ms: u64,
    /// SQLite only: how long a write waits for a lock that another process holds
    /// before it fails, in milliseconds. Writes from this process never wait on
    /// each other's locks: they go through one connection, in turn.
    pub sqlite_busy_timeout_ms: u64,
    /// SQLite only: how hard a commit pushes its data to disk.
    pub sqlite_synchronous: SqliteSynchronous,
}

/// How hard an SQLite commit pushes its data to disk (SQLite's `synchronous`
/// pragma, in WAL mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSynchronous {
    /// Every commit is on disk before it returns, even across a power loss (the
    /// default: a committed task result is never paid for twice).
    #[default]
    Full,
    /// Commits survive a crash of the process but the last ones may be lost on a
    /// power loss; faster.
    Normal,
}

impl JournalConfig {
    /// The defaults with another URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// A configuration for tests: small pools, so many tests can share one
    /// PostgreSQL server, and a generous acquire timeout for slow CI machines.
    pub fn for_tests(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 4,
            writers: None,
            acquire_timeout_ms: 30_000,
            sqlite_busy_timeout_ms: 30_000,
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }

    /// How many writers PostgreSQL's journal has: `writers` if set, otherwise half
    /// the pool (at least one) and at most the machine's cores. More writers than
    /// cores only make the transactions contend: on the 2-core host of
    /// BENCHMARKS.md, with PostgreSQL beside Baton, `POST /run` ran about a quarter
    /// faster with 2 writers than with 5, and W3 a tenth.
    pub fn postgres_writers(&self) -> u32 {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        self.writers.unwrap_or_else(|| {
            (self.max_connections / 2)
                .max(1)
                .min(u32::try_from(cores).unwrap_or(u32::MAX))
        })
    }

    pub(crate) fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }

    pub(crate) fn sqlite_busy_timeout(&self) -> Duration {
        Duration::from_millis(self.sqlite_busy_timeout_ms)
    }
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://baton.db".to_owned(),
            max_connections: 10,
            writers: None,
            acquire_timeout_ms: 5_000,
            sqlite_busy_timeout_ms: 5_000,
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

impl fmt::Debug for JournalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        f.debug_struct("JournalConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("writers", &self.writers)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("sqlite_busy_timeout_ms", &self.sqlite_busy_timeout_ms)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .finish()
    }
}

/// The database kinds a URL can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Which backend a database URL names, or an error that names the setting to fix.
pub(crate) fn backend_of(url: &str) -> Result<Backend, JournalError> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        _ => {
            // Show the scheme only when it looks like one, so a secret pasted into
            // the setting by mistake is not echoed.
            let looks_like_scheme = !scheme.is_empty()
                && scheme.len() <= 16
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+');
            let given = if looks_like_scheme {
                format!("`{scheme}:`")
            } else {
                "a value without a URL scheme".to_owned()
            };
            Err(JournalError::Unavailable(Box::new(
                SetupError::UnsupportedUrl { given },
            )))
        }
    }
}

/// The URL with its password (in the user-info part or a `password` query
/// parameter) replaced by `***`. A URL that cannot be parsed is not shown at all.
pub(crate) fn redact_url(raw: &str) -> String {
    const MASK: &str = "***";
    let Ok(mut parsed) = url::Url::parse(raw) else {
        return "<unreadable database url>".to_owned();
    };
    let mut changed = false;
    if parsed.password().is_some() {
        if parsed.set_password(Some(MASK)).is_err() {
            return "<unreadable database url>".to_owned();
        }
        changed = true;
    }
    let has_password_param = parsed
        .query_pairs()
        .any(|(key, _)| key.eq_ignore_ascii_case("password"));
    if has_password_param {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                if key.eq_ignore_ascii_case("password") {
                    (key.into_owned(), MASK.to_owned())
                } else {
                    (key.into_owned(), value.into_owned())
                }
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        parsed.to_string()
    } else {
        raw.to_owned()
    }
}

#[cfg(test)]
mod tests;
