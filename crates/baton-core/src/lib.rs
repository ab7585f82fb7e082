//! The domain of Baton: what a run is, made of values and rules, with no I/O.
//!
//! Everything here can be tested without a runtime, a database or a network.
//! Modules in reading order: ids name things; a request asks for a run; a graph
//! is the validated plan; statuses and events describe what happened; usage and
//! cost count it; errors carry stable codes; the journal trait is the port through
//! which the engine and the server read and write the store.

pub mod encoded;
pub mod error;
pub mod event;
pub mod graph;
pub mod ids;
pub mod journal;
pub mod json_text;
pub mod request;
pub mod status;
pub mod usage;
