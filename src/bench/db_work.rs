//! What PostgreSQL itself counted of a workload's writes: its database's
//! transactions and rows (`pg_stat_database`) and the server's WAL (`pg_stat_wal`).
//! They are counts, not times, so they do not drift with the host's speed as the
//! timings do: a change to the journal shows in them in a single run.
//!
//! A backend hands its counts to the statistics when it ends (and now and then
//! before), so they are read once every connection to the database has ended.

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use sqlx::{Connection, PgConnection};

use crate::bench::stats::round;

/// How long PostgreSQL may take to end each connection still open (in ms).
const END_TIMEOUT_MS: i64 = 10_000;

/// PostgreSQL's counts at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct DbCounts {
    /// The database's transactions, committed or rolled back (reads included).
    pub(crate) transactions: i64,
    /// Rows the database's transactions inserted.
    pub(crate) rows_inserted: i64,
    /// Rows they updated.
    pub(crate) rows_updated: i64,
    /// WAL records the whole server wrote.
    pub(crate) wal_records: i64,
    /// WAL bytes the whole server wrote.
    pub(crate) wal_bytes: f64,
}

impl DbCounts {
    /// The counts of `database` (and the server's WAL) now, through a connection of
    /// its own to the server `admin_url` reaches.
    pub(crate) async fn read(admin_url: &str, database: &str) -> anyhow::Result<DbCounts> {
        let mut conn = connect(admin_url).await?;
        let counts = read_on(&mut conn, database).await;
        let _closed = conn.close().await;
        counts
    }

    /// The counts of `database` once no connection to it is left: those still open
    /// (a stopped server's, on their way out) are ended, and PostgreSQL waits for
    /// each to exit (`pg_terminate_backend` with a timeout), by which time it has
    /// reported its counts.
    pub(crate) async fn read_once_ended(
        admin_url: &str,
        database: &str,
    ) -> anyhow::Result<DbCounts> {
        let mut conn = connect(admin_url).await?;
        let counts = async {
            end_connections(&mut conn, database).await?;
            read_on(&mut conn, database).await
        }
        .await;
        let _closed = conn.close().await;
        counts
    }

    /// What was counted between `before` and `self`.
    pub(crate) fn since(self, before: DbCounts) -> DbCounts {
        DbCounts {
            transactions: self.transactions - before.transactions,
            rows_inserted: self.rows_inserted - before.rows_inserted,
            rows_updated: self.rows_updated - before.rows_updated,
            wal_records: self.wal_records - before.wal_records,
            wal_bytes: self.wal_bytes - before.wal_bytes,
        }
    }

    /// Adds the counts per run to a workload's figures (`runs` being every run the
    /// counts cover, warm-up included).
    pub(crate) fn insert_per_run(self, runs: usize, figures: &mut Map<String, Value>) {
        figures.insert("db_runs_counted".into(), json!(runs));
        let runs = runs.max(1) as f64;
        for (name, count) in [
            ("db_transactions_per_run", self.transactions as f64),
            ("db_rows_inserted_per_run", self.rows_inserted as f64),
            ("db_rows_updated_per_run", self.rows_updated as f64),
            ("wal_records_per_run", self.wal_records as f64),
            ("wal_kib_per_run", self.wal_bytes / 1024.0),
        ] {
            figures.insert(name.into(), json!(round(count / runs, 2)));
        }
    }
}

async fn connect(admin_url: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect(admin_url)
        .await
        .context("cannot connect to PostgreSQL to read its statistics")
}

/// Ends every connection to `database`, waiting for each to exit.
async fn end_connections(conn: &mut PgConnection, database: &str) -> anyhow::Result<()> {
    // A connection that exits meanwhile makes `pg_terminate_backend` say false (and
    // warn), so what is left is counted afterwards, in a statement of its own.
    sqlx::query("select pg_terminate_backend(pid, $2) from pg_stat_activity where datname = $1")
        .bind(database)
        .bind(END_TIMEOUT_MS)
        .execute(&mut *conn)
        .await?;
    let open: i64 = sqlx::query_scalar("select count(*) from pg_stat_activity where datname = $1")
        .bind(database)
        .fetch_one(&mut *conn)
        .await?;
    if open > 0 {
        bail!("{open} connections to {database} did not end in {END_TIMEOUT_MS} ms");
    }
    Ok(())
}

async fn read_on(conn: &mut PgConnection, database: &str) -> anyhow::Result<DbCounts> {
    let (transactions, rows_inserted, rows_updated): (i64, i64, i64) = sqlx::query_as(
        "select xact_commit + xact_rollback, tup_inserted, tup_updated \
         from pg_stat_database where datname = $1",
    )
    .bind(database)
    .fetch_optional(&mut *conn)
    .await?
    .with_context(|| format!("PostgreSQL has no statistics for database {database}"))?;
    let (wal_records, wal_bytes): (i64, f64) =
        sqlx::query_as("select wal_records, wal_bytes::float8 from pg_stat_wal")
            .fetch_one(&mut *conn)
            .await?;
    Ok(DbCounts {
        transactions,
        rows_inserted,
        rows_updated,
        wal_records,
        wal_bytes,
    })
}
