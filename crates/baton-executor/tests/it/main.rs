//! The engine without a database or a network: an in-memory journal, scripted
//! providers and tokio's paused clock, so scheduling, retries, timeouts, budgets and
//! cancellation are tested deterministically and without sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod support;

mod committed;
mod limits;
mod planning;
mod planning_journal;
mod resume;
mod retries;
mod routing;
