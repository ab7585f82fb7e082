//! The journal's integration tests, in one binary: the conformance suite on SQLite
//! (always) and PostgreSQL (when `BATON_TEST_DATABASE_URL` is set), connecting and
//! configuration, and the migration files' conventions.

mod connect;
mod errors;
mod event_rows;
mod migrations;
mod stories;
mod support;
mod test_db;
mod upgrade;
