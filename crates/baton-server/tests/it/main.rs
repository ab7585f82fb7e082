//! The HTTP surface, through `router(state).oneshot(…)` with the real engine and an
//! in-memory journal: bad input, reads, event streams, health, the OpenAPI document
//! and the docs page.

// `cfg(test)` marks these modules as test code for clippy, so helpers may unwrap.
#[cfg(test)]
mod support;

#[cfg(test)]
mod errors;
#[cfg(test)]
mod events;
#[cfg(test)]
mod flows;
#[cfg(test)]
mod openapi;
#[cfg(test)]
mod registry;
#[cfg(test)]
mod runs;
#[cfg(test)]
mod system;
