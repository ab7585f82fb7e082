//! The run engine: takes a validated request, stores the run, plans it, routes and
//! runs its tasks in parallel under limits, retries and verifies, assembles one
//! answer, and journals every step before it is published.
//!
//! Invariants: an event reaches subscribers only after the journal committed it, in
//! `seq` order; every model call has an attempt row before it is made; a task whose
//! result is committed is never called again.

pub mod engine;
pub mod hub;
pub mod retry;

mod call;
mod ctx;
mod run;
mod schedule;
mod task;
