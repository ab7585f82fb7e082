//! End-to-end tests: the real `baton` binary on a free port, against a real database
//! (SQLite always; PostgreSQL when `BATON_TEST_DATABASE_URL` is set, as CI does), with
//! the sim provider or local fake vendors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "test code: a failed expectation is a failed test, and tests read their own environment"
)]

mod support;

mod cancel;
mod cli;
mod errors;
mod restart;
mod routing;
mod runs;
mod stream;
mod vendors;
